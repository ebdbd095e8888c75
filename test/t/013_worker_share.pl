# More databases with the extension than stategraph.max_workers: every
# database still gets its runs done. A database keeps one idle worker for
# its sweeps and delayed runs, so without sharing, the databases that came
# first held every slot and a later database's runs stayed pending forever.
#   1. max_workers = 2, three databases: a run submitted in each finishes.
#   2. two databases kept busy with runs, a third one's run still finishes.
#   3. a delayed run of a database whose idle worker gave its slot away
#      starts when due.
#   4. the retention sweep of such a database still happens.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('share', qq{
stategraph.max_workers = 2
stategraph.sweep_interval = 4
});

my @dbs = qw(da db dc);

# submit (committed), then wait for the run in another transaction: its status
sub submit_and_wait
{
	my ($db, $submit) = @_;
	my $run = $node->safe_psql($db, "SELECT $submit");
	return $node->safe_psql($db, "SELECT status FROM sg_wait('$run', interval '60 s')");
}
for my $db (@dbs)
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, q{
	    CREATE EXTENSION stategraph;
	    CREATE TABLE done (db text, run int, at timestamptz DEFAULT clock_timestamp());
	    CREATE FUNCTION share_node(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
	        INSERT INTO done (db, run) VALUES (current_database(), (state->>'n')::int);
	        SELECT '{}'::jsonb $$;
	    SELECT sg_create_graph('g', '{"n": "replace"}');
	    SELECT sg_add_node('g', 'a', 'share_node(jsonb)');
	    SELECT sg_add_edge('g', '__start__', 'a');
	    SELECT sg_add_edge('g', 'a', '__end__');
	    SELECT sg_compile('g');
	});
}

# a worker of each of the first databases settles as its database's last one
$node->poll_query_until('postgres', q{
	SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'stategraph worker'});

# 1. a run in every database finishes
for my $db (@dbs)
{
	my $status = submit_and_wait($db, q{sg_submit('g', '{"n": 1}', thread_id => 'one')});
	is($status, 'success', "$db: a run finishes although every slot was taken by idle workers");
}

# 2. da and db kept busy (a stream of runs), dc's run still finishes
for my $db (qw(da db))
{
	$node->safe_psql($db, q{
	    SELECT count(sg_submit('g', jsonb_build_object('n', i), thread_id => 'busy' || i))
	    FROM generate_series(3, 400) i});
}
my $status = submit_and_wait('dc', q{sg_submit('g', '{"n": 2}', thread_id => 'two')});
is($status, 'success', 'dc: a run finishes while two other databases keep both slots busy');
for my $db (qw(da db))
{
	ok($node->poll_query_until($db, q{
		SELECT count(*) = 0 FROM stategraph.runs WHERE status IN ('pending', 'running')}),
		"$db: its 398 other runs all finish too");
	is($node->safe_psql($db, q{SELECT count(*) FROM done WHERE run >= 3 AND run <= 400}), '398',
		"$db: each of its runs' node ran once");
}

# 3. a delayed run in da, then work elsewhere takes the slots; da's run starts when due
$node->safe_psql('da', q{
    SELECT sg_submit('g', '{"n": 1000}', thread_id => 'later', after => interval '3 seconds')});
for my $db (qw(db dc))
{
	$node->safe_psql($db, q{
	    SELECT count(sg_submit('g', jsonb_build_object('n', i), thread_id => 'x' || i))
	    FROM generate_series(10, 40) i});
}
$status = $node->safe_psql('da', q{
    SELECT status FROM sg_wait((SELECT run_id FROM stategraph.runs WHERE thread_id = 'later'), interval '60 s')});
is($status, 'success', 'da: a delayed run starts when due although its worker gave its slot away');
is($node->safe_psql('da', q{
    SELECT (SELECT at FROM done WHERE run = 1000) >= (SELECT created_at + interval '3 seconds'
        FROM stategraph.runs WHERE thread_id = 'later')}), 't',
	'da: not before it was due');

# 4. retention in every database, while the slots are shared
for my $db (@dbs)
{
	is($node->safe_psql($db, q{SELECT count(*) FROM stategraph.threads WHERE thread_id = 'one'}), '1',
		"$db: thread one is there before the sweep");
	$node->safe_psql($db, q{
	    SELECT sg_set_retention('g', '1 hour');
	    UPDATE stategraph.threads SET updated_at = now() - interval '2 hours' WHERE thread_id = 'one'});
}
for my $db (@dbs)
{
	ok($node->poll_query_until($db, q{
		SELECT count(*) = 0 FROM stategraph.threads WHERE thread_id = 'one'}),
		"$db: the retention sweep removes an expired thread");
}
cmp_ok($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'stategraph worker'}), '<=', 2,
	'at the end, no more workers than max_workers (the cap while runs execute: 002_background, 025_max_workers_reload)');

$node->stop;
done_testing();
