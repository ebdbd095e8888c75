# sg_threads() in two sessions at once: each called idle threads "running".
# sg_threads asks whether another session holds a thread's lock (a run, a
# change) by trying to take it for a moment; it took it exclusively, so the
# other listing, probing the same thread in that moment, saw it taken. The
# regression suite showed it (CI of 2026-12-02: runs and revlife_prune_waiting,
# listing the same database at once, each read a finished thread as
# "running"). A probe now takes the lock in share mode, which probes do not
# conflict on and a writer's exclusive lock still does.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGNode;

my $node = preloaded_node('listing');
$node->safe_psql('postgres', q{
	CREATE EXTENSION stategraph;
	CREATE FUNCTION inc(state jsonb) RETURNS jsonb LANGUAGE sql
		AS $$ SELECT jsonb_build_object('n', COALESCE((state->>'n')::int, 0) + 1) $$;
	CREATE FUNCTION nap(state jsonb) RETURNS jsonb LANGUAGE sql
		AS $$ SELECT pg_sleep(3); SELECT '{}'::jsonb $$;
	SELECT sg_create_graph('g', '{"n": "replace"}');
	SELECT sg_add_node('g', 'inc', 'inc(jsonb)');
	SELECT sg_add_edge('g', '__start__', 'inc');
	SELECT sg_add_edge('g', 'inc', '__end__');
	SELECT sg_compile('g');
	SELECT sg_create_graph('slow', '{"n": "replace"}');
	SELECT sg_add_node('slow', 'nap', 'nap(jsonb)');
	SELECT sg_add_edge('slow', '__start__', 'nap');
	SELECT sg_add_edge('slow', 'nap', '__end__');
	SELECT sg_compile('slow');
	SELECT count(sg_invoke('g', '{}', thread_id => 't' || i)) FROM generate_series(1, 500) i;
	-- how many times n listings called a thread running
	CREATE FUNCTION running_seen(n int) RETURNS bigint LANGUAGE plpgsql AS $$
	DECLARE seen bigint := 0;
	BEGIN
		FOR i IN 1..n LOOP
			seen := seen + (SELECT count(*) FROM sg_threads() WHERE status = 'running');
		END LOOP;
		RETURN seen;
	END $$;
});
is($node->safe_psql('postgres', q{SELECT running_seen(5)}), '0', 'alone, a listing calls no idle thread running');

# two sessions listing the 500 idle threads at the same time, 200 times each
my @out = ('', '');
my @err = ('', '');
my @h = map {
	my $i = $_;
	IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', 'SELECT running_seen(200)' ],
		'>', \$out[$i], '2>', \$err[$i]);
} 0, 1;
$_->finish for @h;
is("$out[0]|$err[0]", "0\n|", 'listing beside another listing: no idle thread called running (first session)');
is("$out[1]|$err[1]", "0\n|", 'the same for the second session');

# a thread that a run holds is still listed running, whoever else lists
my ($rout, $rerr) = ('', '');
my $run = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
		q{CALL sg_run('slow', '{}', thread_id => 'held')} ], '>', \$rout, '2>', \$rerr);
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'CALL sg_run%' AND wait_event = 'PgSleep'}),
	'a durable run sleeps in its node');
is($node->safe_psql('postgres', q{SELECT status FROM sg_threads() WHERE thread_id = 'held'}), 'running',
	'the thread it holds is listed running');
$run->finish;
is($node->safe_psql('postgres', q{SELECT status FROM sg_threads() WHERE thread_id = 'held'}), 'done',
	'and done once the run ended');

done_testing();
