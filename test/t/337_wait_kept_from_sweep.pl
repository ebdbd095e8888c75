# With stategraph.run_retention = 0 a finished run expires at the next
# sweep. A sweep that came between the run's end and the next look of an
# sg_wait that was waiting for it deleted its row, and that wait, begun
# while the run was running, ended with 42704 "run ... does not exist"
# (a review saw it 2 times in 6). The sweep now keeps the rows of runs a
# backend sleeps for in sg_wait (registered before its first look) until
# the waiter has looked; the next sweep removes them. Here the waiter is
# stopped (SIGSTOP) while the run ends and a sweep passes, so that the
# sweep certainly comes before its look.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGNode;

my $node = preloaded_node('wait_sweep', "stategraph.run_retention = 0\n");
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION nap(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT pg_catalog.pg_sleep(2); SELECT '{"n": 1}'::jsonb $$;
    SELECT sg_create_graph('one', '{"n": "add"}');
    SELECT sg_add_node('one', 'a', 'nap(jsonb)');
    SELECT sg_add_edge('one', '__start__', 'a');
    SELECT sg_add_edge('one', 'a', '__end__');
    SELECT sg_compile('one');
});
my $run = $node->safe_psql('postgres', q{SELECT sg_submit('one', '{}', 'w1')});
ok(true_within($node, 60, qq{SELECT EXISTS (SELECT 1 FROM pg_stat_activity
    WHERE application_name = 'stategraph run $run' AND wait_event = 'PgSleep')}), 'a worker executes the run');

my ($wait_out, $wait_err) = ('', '');
my $waiter = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
	"SELECT status FROM sg_wait('$run', '5 min')" ], '>', \$wait_out, '2>', \$wait_err);
ok(true_within($node, 60, q{SELECT EXISTS (SELECT 1 FROM pg_stat_activity
    WHERE query LIKE 'SELECT status FROM sg_wait%' AND wait_event = 'Extension')}), 'a session waits for it');
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT status FROM sg_wait%'});
kill 'STOP', $pid;

ok(true_within($node, 60, qq{SELECT status = 'success' FROM stategraph.runs WHERE run_id = '$run'}), 'the run ends');
# a sweep (run_retention 0: every finished run is expired)
$node->safe_psql('postgres', q{CALL sg_work(max_time => '1 s')});
is($node->safe_psql('postgres', qq{SELECT count(*) FROM stategraph.runs WHERE run_id = '$run'}), '1',
	'the sweep keeps the row of a run a session sleeps for in sg_wait');

kill 'CONT', $pid;
$waiter->finish;
is($wait_out, "success\n", 'the waiter returns the run\'s row') or diag("stderr: $wait_err");
is($wait_err, '', 'and no error');

$node->safe_psql('postgres', q{CALL sg_work(max_time => '1 s')});
is($node->safe_psql('postgres', qq{SELECT count(*) FROM stategraph.runs WHERE run_id = '$run'}), '0',
	'the next sweep removes it');

$node->stop;
done_testing();
