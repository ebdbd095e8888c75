# Background runs under failure and misuse (the runtime review of 0.2.0):
#
#  - statement_timeout bounds every step of a background run: a node that
#    never returns used to hold its worker for ever (the worker took its
#    steps outside any statement, so no statement timer ran), and nothing
#    but a superuser's pg_cancel_backend, three times, could stop it. Now
#    the step is cancelled with 57014 at the timeout, retried like any
#    failure outside the graph's nodes, and the run ends with status error;
#    the worker serves other runs afterwards;
#  - sg_drop_graph of a graph whose background run waits for external
#    tasks: the tasks were cancelled, but the run stayed 'waiting' for ever
#    (sg_wait never returned, and the thread's later runs queued behind
#    it). It now goes on and ends with status error;
#  - a run submitted by the transaction that (re)defined its graph (or a
#    waiting run woken by sg_drop_graph): the commit woke a worker before
#    its invalidation messages went out, and the worker could execute the
#    run with the graph definition it had cached;
#  - the retention sweep waited for an expired thread's row that an open
#    transaction held, the worker's runs with it: it passes it over; so
#    did the lease sweep recording a task's last failure;
#  - sg_wait in a transaction that changed the run's thread (sg_invoke,
#    sg_update_state...): the thread's row stays locked until that
#    transaction ends, so the run could not go on while it waited (for
#    ever without a timeout, its worker blocked too). It is an error at
#    once (25001), as for a run the transaction submitted.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use Time::HiRes qw(time);

my $node = preloaded_node('runtime_review', q{
stategraph.max_workers = 1
});

$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION spin(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        LOOP PERFORM pg_sleep(0.01); END LOOP;
    END $$;
    SELECT sg_create_graph('spin', '{"x": "replace"}');
    SELECT sg_add_node('spin', 'a', 'spin(jsonb)');
    SELECT sg_add_edge('spin', '__start__', 'a');
    SELECT sg_add_edge('spin', 'a', '__end__');
    SELECT sg_compile('spin');
    CREATE FUNCTION inc(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
        SELECT jsonb_build_object('x', COALESCE((state->>'x')::int, 0) + 1) $$;
    SELECT sg_create_graph('quick', '{"x": "replace"}');
    SELECT sg_add_node('quick', 'a', 'inc(jsonb)');
    SELECT sg_add_edge('quick', '__start__', 'a');
    SELECT sg_add_edge('quick', 'a', '__end__');
    SELECT sg_compile('quick');
    CREATE ROLE app LOGIN;
    GRANT EXECUTE ON FUNCTION spin(jsonb), inc(jsonb) TO app;
});

# ---- statement_timeout bounds a background step ---------------------------
$node->safe_psql('postgres', q{ALTER SYSTEM SET statement_timeout = '1s'; SELECT pg_reload_conf();});
# the worker reads the reload at its next iteration: wake it with a run first
my $warm = $node->safe_psql('postgres', "SELECT sg_submit('quick', '{}', 'warm')");
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$warm', '60 s')"), 'success', 'a quick run finishes');

# (statement_timeout is every session's: a client's long sg_wait sets its own)
# the submitter is an ordinary role: it could not pg_cancel_backend a worker
my $spin = $node->safe_psql('postgres', "SET ROLE app; SELECT sg_submit('spin', '{}', 'spin-1')");
my $other = $node->safe_psql('postgres', "SET ROLE app; SELECT sg_submit('quick', '{}', 'after-spin')");
ok( $node->poll_query_until('postgres',
		"SELECT status = 'error' FROM stategraph.runs WHERE run_id = '$spin'"),
	'a node that never returns is stopped by statement_timeout');
is( $node->safe_psql('postgres',
		"SELECT error->>'sqlstate' || ' ' || failures FROM stategraph.runs WHERE run_id = '$spin'"),
	'57014 3', 'its error is the statement timeout, after the retries of a failure outside the nodes');
is($node->safe_psql('postgres', "SET statement_timeout = 0; SELECT status FROM sg_wait('$other', '60 s')"), 'success',
	'the one worker serves the next run afterwards');

# a run cancelled while its step never ends: the timeout ends the step, the cancel the run
$spin = $node->safe_psql('postgres', "SELECT sg_submit('spin', '{}', 'spin-2')");
ok($node->poll_query_until('postgres', "SELECT status = 'running' FROM stategraph.runs WHERE run_id = '$spin'"),
	'the second spinning run runs');
is($node->safe_psql('postgres', "SELECT sg_cancel('$spin')"), 't', 'sg_cancel of it says true');
is($node->safe_psql('postgres', "SET statement_timeout = 0; SELECT status FROM sg_wait('$spin', '60 s')"), 'cancelled',
	'it ends cancelled after the timeout stops its step');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET statement_timeout; SELECT pg_reload_conf();});

# ---- sg_drop_graph while a run waits for external tasks --------------------
$node->safe_psql('postgres', q{
    SELECT sg_create_graph('ext', '{"m": "append"}');
    SELECT sg_add_external_node('ext', 'agent', queue => 'q');
    SELECT sg_add_edge('ext', '__start__', 'agent');
    SELECT sg_add_edge('ext', 'agent', '__end__');
    SELECT sg_compile('ext');
});
my $waiting = $node->safe_psql('postgres', "SELECT sg_submit('ext', '{\"m\": [1]}', 'ext-1')");
ok($node->poll_query_until('postgres', "SELECT status = 'waiting' FROM sg_runs('ext-1')"),
	'the run waits for its external task');
$node->safe_psql('postgres', "SELECT sg_drop_graph('ext')");
is($node->safe_psql('postgres', "SELECT status FROM sg_tasks('q')"), 'cancelled', 'dropping the graph cancels its task');
my $t0 = time;
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$waiting', '60 s')"), 'error',
	'the waiting run of the dropped graph ends with status error');
ok(time - $t0 < 30, 'and sg_wait returns without waiting out its timeout');
like($node->safe_psql('postgres', "SELECT error->>'message' FROM sg_runs('ext-1')"), qr/graph "ext" does not exist/,
	'its error says the graph is gone');

# ---- a run submitted by the transaction that redefined its graph -----------
# The commit woke a worker before its invalidation messages were sent: the
# worker could claim the run and execute it with the definition it had
# cached (about one round in six here before the fix).
$node->safe_psql('postgres', q{
    CREATE FUNCTION fa(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"v": "A"}'::jsonb $$;
    CREATE FUNCTION fb(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"v": "B"}'::jsonb $$;
    SELECT sg_create_graph('rc', '{"v": "replace"}');
    SELECT sg_add_node('rc', 'a', 'fa(jsonb)');
    SELECT sg_add_edge('rc', '__start__', 'a');
    SELECT sg_add_edge('rc', 'a', '__end__');
    SELECT sg_compile('rc');
});
my $stale = 0;
for my $round (1 .. 24)
{
	my $fn = $round % 2 ? 'fb' : 'fa';
	my $rid = $node->safe_psql('postgres', qq{
        BEGIN;
        SELECT sg_drop_graph('rc');
        SELECT sg_create_graph('rc', '{"v": "replace"}');
        SELECT sg_add_node('rc', 'a', '$fn(jsonb)');
        SELECT sg_add_edge('rc', '__start__', 'a');
        SELECT sg_add_edge('rc', 'a', '__end__');
        SELECT sg_compile('rc');
        SELECT sg_submit('rc', '{}', 'rc-$round');
        COMMIT;});
	$rid = (split /\n/, $rid)[-1];
	$node->safe_psql('postgres', "SELECT status FROM sg_wait('$rid', '60 s')");
	my $v = $node->safe_psql('postgres', "SELECT \"values\"->>'v' FROM sg_get_state('rc-$round')");
	$stale++ if $v ne ($round % 2 ? 'B' : 'A');
}
is($stale, 0, 'every run submitted with a new definition of its graph ran that definition');

# ---- sg_wait in a transaction that holds the run's thread -----------------
is($node->safe_psql('postgres', "SELECT sg_invoke('quick', '{\"x\": 1}', 'held')"), '{"x": 2}', 'a thread');
# (due in an hour, made due by hand after the transaction: due 1 s after the
# submit, a machine that slow had a worker run it first, and sg_wait returned
# the ended run instead of refusing)
my $queued = $node->safe_psql('postgres', "SELECT sg_submit('quick', '{\"x\": 10}', 'held', after => '1 hour')");
$t0 = time;
my ($rc, $out, $err) = $node->psql('postgres', qq{
    BEGIN;
    SELECT sg_update_state('held', '{"x": 5}') IS NOT NULL;
    SELECT status FROM sg_wait('$queued', '20 s');
    COMMIT;
});
like($err, qr/sg_wait cannot wait for a run whose thread this transaction changed/,
	'sg_wait on a run whose thread the transaction changed is an error');
ok(time - $t0 < 10, 'at once, not after the timeout');
$node->safe_psql('postgres', "UPDATE stategraph.runs SET not_before = clock_timestamp() WHERE run_id = '$queued'");
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$queued', '60 s')"), 'success',
	'the run goes on once that transaction ended');
is($node->safe_psql('postgres', "SELECT \"values\"->>'x' FROM sg_get_state('held')"), '11',
	'from the thread as it stood (the update was rolled back with the failed transaction)');

# the same wait in a transaction that only read the thread goes on
$queued = $node->safe_psql('postgres', "SELECT sg_submit('quick', NULL, 'held', after => '0.5 s')");
is($node->safe_psql('postgres', qq{
    BEGIN;
    SELECT count(*) > 0 FROM sg_get_state_history('held');
    SELECT status FROM sg_wait('$queued', '60 s');
    COMMIT;}), "t\nsuccess", 'a transaction that only read the thread waits for the run as before');

# a transaction that cancelled the run ahead of it on its thread (helper-121): the
# cancelled run's row stays locked until the commit, and the run behind it cannot
# start before; sg_wait slept until its timeout (for good without one)
my $ahead = $node->safe_psql('postgres', "SELECT sg_submit('quick', NULL, 'held', after => '30 s')");
my $behind = $node->safe_psql('postgres', "SELECT sg_submit('quick', NULL, 'held', multitask => 'enqueue')");
$t0 = time;
($rc, $out, $err) = $node->psql('postgres', qq{
    BEGIN;
    SELECT sg_cancel('$ahead');
    SELECT status FROM sg_wait('$behind', '20 s');
    COMMIT;
});
like($err, qr/sg_wait cannot wait for a run whose thread this transaction changed/,
	'sg_wait on a run behind one the transaction cancelled is an error');
ok(time - $t0 < 10, '... at once, not after the timeout');
is($node->safe_psql('postgres', "SELECT sg_cancel('$ahead')"), 't', 'the cancel went with the failed transaction');
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$behind', '60 s')"), 'success',
	'and the run behind goes on once the one ahead is cancelled');

# ---- the retention sweep and a thread an open transaction holds -----------
# The sweep waited for the row of an expired thread that an open
# transaction had locked (an uncommitted sg_update_state, say): the worker
# did nothing else meanwhile, and a CALL sg_work() hung with it. It now
# passes such a thread over until the next pass.
$node->safe_psql('postgres', q{
    SELECT sg_create_graph('old', '{"x": "replace"}');
    SELECT sg_add_node('old', 'a', 'inc(jsonb)');
    SELECT sg_add_edge('old', '__start__', 'a');
    SELECT sg_add_edge('old', 'a', '__end__');
    SELECT sg_compile('old');
    SELECT sg_invoke('old', '{}', t) FROM unnest(ARRAY['old-held', 'old-free']) t;
    UPDATE stategraph.threads SET updated_at = now() - interval '2 days' WHERE graph = 'old';
    SELECT sg_set_retention('old', '1 day');
});
my $holder = $node->background_psql('postgres');
$holder->query_safe("BEGIN; SELECT 1 FROM stategraph.threads WHERE thread_id = 'old-held' FOR UPDATE");
$t0 = time;
($rc, $out, $err) = $node->psql('postgres', "SET statement_timeout = '20s'; CALL sg_work();");
is($rc, 0, 'CALL sg_work sweeps while a transaction holds an expired thread') or diag($err);
ok(time - $t0 < 15, 'without waiting for that transaction');
is($node->safe_psql('postgres', "SELECT string_agg(thread_id, ',') FROM stategraph.threads WHERE graph = 'old'"),
	'old-held', 'the free expired thread is deleted, the held one kept');
$holder->query_safe('COMMIT');
$holder->quit;
$node->safe_psql('postgres', 'CALL sg_work()');
is($node->safe_psql('postgres', "SELECT count(*) FROM stategraph.threads WHERE graph = 'old'"), '0',
	'the next pass deletes it once that transaction ended');

# ---- the lease sweep and a thread an open transaction holds --------------
# Recording the failure of a task whose attempts ran out waited for its
# thread's row in the same way (in sg_claim, stategraph.sweep_leases() and
# the workers' sweep); the task is now left to the next sweep.
$node->safe_psql('postgres', q{
    SELECT sg_create_graph('lx', '{"m": "append"}');
    SELECT sg_add_external_node('lx', 'agent', queue => 'lq', retry => '{"max_attempts": 1}');
    SELECT sg_add_edge('lx', '__start__', 'agent');
    SELECT sg_add_edge('lx', 'agent', '__end__');
    SELECT sg_compile('lx');
    SELECT sg_invoke('lx', '{"m": [1]}', 'lx-1') ? '__waiting__';
    SELECT count(*) FROM sg_claim('lq', 'w', lease => '0.2 s');
});
ok($node->poll_query_until('postgres', "SELECT lease_expires_at < now() FROM stategraph.tasks WHERE queue = 'lq'"),
	'the lease of the claimed task has expired');
$holder = $node->background_psql('postgres');
$holder->query_safe("BEGIN; SELECT 1 FROM stategraph.threads WHERE thread_id = 'lx-1' FOR UPDATE");
$t0 = time;
($rc, $out, $err) = $node->psql('postgres', "SET statement_timeout = '20s'; SELECT stategraph.sweep_leases()");
is("$rc|$out", '0|0', 'the lease sweep leaves the task whose thread an open transaction holds') or diag($err);
ok(time - $t0 < 15, 'without waiting for that transaction');
$holder->query_safe('COMMIT');
$holder->quit;
is($node->safe_psql('postgres', 'SELECT stategraph.sweep_leases()'), '1', 'the next sweep takes it');
is($node->safe_psql('postgres', "SELECT status FROM sg_threads('lx')"), 'error',
	'and records the failure on the thread');

$node->stop;
done_testing();
