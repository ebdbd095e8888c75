# sg_wait took an AccessShareLock on stategraph.runs (and threads) at each
# look and kept it through its sleeps on the latch, till its transaction
# ended. DROP EXTENSION (or VACUUM FULL of runs) then waited for the
# waiter, the waiter for the run's worker, and the worker for the DROP's
# lock of the extension: a deadlock no detector saw, which only a cancel of
# the waiter ended (a review found it). Each look is now a subtransaction
# rolled back once the row is read: the DROP waits only for the step in
# progress, and the waiter returns the run's end, or its next look fails
# (the tables are gone).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGNode;

my $node = preloaded_node('wait_drop');
# two steps: the worker's next transaction, after the first step's commit,
# waits for the DROP's lock of the extension
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION nap(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT pg_catalog.pg_sleep(3); SELECT '{"n": 1}'::jsonb $$;
    CREATE FUNCTION quick(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
    SELECT sg_create_graph('two', '{"n": "add"}');
    SELECT sg_add_node('two', 'a', 'nap(jsonb)');
    SELECT sg_add_node('two', 'b', 'quick(jsonb)');
    SELECT sg_add_edge('two', '__start__', 'a');
    SELECT sg_add_edge('two', 'a', 'b');
    SELECT sg_add_edge('two', 'b', '__end__');
    SELECT sg_compile('two');
});
my $run = $node->safe_psql('postgres', q{SELECT sg_submit('two', '{}', 'w1')});
ok(true_within($node, 60, qq{SELECT EXISTS (SELECT 1 FROM pg_stat_activity
    WHERE application_name = 'stategraph run $run' AND wait_event = 'PgSleep')}), 'a worker executes the run');

# a session waits for the run, with no timeout
my ($wait_out, $wait_err) = ('', '');
my $waiter = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
	"SELECT status FROM sg_wait('$run')" ], '>', \$wait_out, '2>', \$wait_err);
ok(true_within($node, 60, q{SELECT EXISTS (SELECT 1 FROM pg_stat_activity
    WHERE query LIKE 'SELECT status FROM sg_wait%' AND wait_event = 'Extension')}), 'a session waits for it');

# the extension is dropped meanwhile
my ($drop_out, $drop_err) = ('', '');
my $dropper = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
	'DROP EXTENSION stategraph CASCADE' ], '>', \$drop_out, '2>', \$drop_err);
ok(true_within($node, 60, q{SELECT NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'stategraph')}),
	'DROP EXTENSION goes through while the session waits (within a minute; the run takes 3 s)')
  or diag($node->safe_psql('postgres', q{SELECT string_agg(format('%s %s %s %s', pid, left(query, 40), wait_event,
      pg_blocking_pids(pid)), E'\n') FROM pg_stat_activity WHERE datname = 'postgres' AND pid <> pg_backend_pid()}));
# (a stuck waiter is cancelled, or the test would hang on it)
$node->safe_psql('postgres', q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity
    WHERE query LIKE 'SELECT status FROM sg_wait%' OR query LIKE 'DROP EXTENSION%'});
$dropper->finish;
$waiter->finish;
is($drop_err, '', 'the DROP succeeded');
note("waiter: out '$wait_out', err '$wait_err'");
ok(($wait_out =~ /^\w+$/ || $wait_err =~ /extension "stategraph" was dropped while waiting for run/)
	  && $wait_err !~ /canceling statement/,
	'the waiter was not left waiting: it returned the run\'s status, or was told the extension is gone (TAP 332)');

$node->stop;
done_testing();
