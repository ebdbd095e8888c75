# A database whose worker gave its slot to another database (slots are
# shared: stategraph.max_workers = 1 here) has no worker until its next
# delayed run or sweep is due. A commit there that lets a run go on
# without submitting one must still get it a worker at once: sg_cancel of
# the run a thread's next run waits behind, and sg_cancel of a run waiting
# for an external task (which a worker must end). Both stayed pending until the
# sweep interval (an hour here) brought a worker back.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('nudge', qq{
stategraph.max_workers = 1
stategraph.sweep_interval = 3600
});

for my $db (qw(da db))
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, q{
	    CREATE EXTENSION stategraph;
	    CREATE FUNCTION n1(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
	    SELECT sg_create_graph('g', '{"n": "replace"}');
	    SELECT sg_add_node('g', 'a', 'n1(jsonb)');
	    SELECT sg_add_edge('g', '__start__', 'a');
	    SELECT sg_add_edge('g', 'a', '__end__');
	    SELECT sg_compile('g');
	    SELECT sg_create_graph('h', '{"n": "replace"}');
	    SELECT sg_add_external_node('h', 'a', 'q');
	    SELECT sg_add_edge('h', '__start__', 'a');
	    SELECT sg_add_edge('h', 'a', '__end__');
	    SELECT sg_compile('h');
	});
}

# da's worker holds the slot until db wants it; then da has none
sub give_slot_to_db
{
	my ($n) = @_;
	my $run = $node->safe_psql('db', "SELECT sg_submit('g', '{}', thread_id => 'db-$n')");
	is($node->safe_psql('db', "SELECT status FROM sg_wait('$run', interval '30 s')"), 'success',
		"db: run $n finishes");
	ok($node->poll_query_until('postgres', q{
		SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND datname = 'da'}),
		'da has no worker now');
}

# 1. in da: a delayed run, and another run of its thread queued behind it
my $later = $node->safe_psql('da', q{SELECT sg_submit('g', '{}', thread_id => 't', after => interval '1 hour')});
my $next = $node->safe_psql('da', q{SELECT sg_submit('g', '{}', thread_id => 't', multitask => 'enqueue')});
is($node->safe_psql('da', "SELECT status FROM sg_wait('$next', interval '3 s')"), 'pending',
	'da: the second run of thread t waits behind the delayed one');
give_slot_to_db(1);
is($node->safe_psql('da', "SELECT sg_cancel('$later')"), 't', 'da: the delayed run is cancelled');
is($node->safe_psql('da', "SELECT status FROM sg_wait('$next', interval '20 s')"), 'success',
	'da: the run that waited behind it finishes');

# 2. in da: a run waiting for its external task; cancelled while da has no worker
my $human = $node->safe_psql('da', q{SELECT sg_submit('h', '{}', thread_id => 'u')});
ok($node->poll_query_until('da', "SELECT status = 'waiting' FROM sg_runs() WHERE run_id = '$human'"),
	'da: a run waits for its external task');
give_slot_to_db(2);
is($node->safe_psql('da', "SELECT sg_cancel('$human')"), 't', 'da: the waiting run is cancelled');
is($node->safe_psql('da', "SELECT status FROM sg_wait('$human', interval '20 s')"), 'cancelled',
	'da: and a worker ends it');

$node->stop;
done_testing();
