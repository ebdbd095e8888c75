# Issue 9's literal requirements that the other tests checked less closely
# than the issue states them (audit rev9audit):
#
#  1. CALL sg_work(max_runs, max_time): max_runs executes at most that many
#     whole runs (a run of several steps counts once) and max_time stops
#     taking runs once it is used up; the runs left stay pending, and the
#     next call takes them. No test called sg_work with max_runs > 0, and
#     none checked that max_time stops it.
#  2. 'rollback' (sg_cancel, and a submit's multitask) "afterwards the
#     thread reads exactly as before the stopped run": here the run resumed
#     an interrupted thread and committed a step before it was stopped, and
#     the whole history (checkpoint ids, parents, metadata, tasks, the
#     pending interrupt), the stored checkpoint rows and the thread's row
#     (but its updated_at) read as before; the interrupt is then answered as
#     if the run had never been. The isolation specs compare the values,
#     next and the number of checkpoints only.
#  3. Retention never touches a thread with a queued or a claimed external
#     task: sql/external.sql checks a queued one only.
#  4. README: "a node of a background run cannot create temporary tables,
#     LISTEN, PREPARE or SET ROLE (42501)": TAP 015 checks the temporary
#     table only. Each such node fails its run with 42501 and leaves the
#     executing session as it was.
#
# Without the preload: CALL sg_work is the one executor, so what it does is
# known.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use IPC::Run;

my $node = plain_node('audit_runs');

$node->safe_psql('postgres', q{
CREATE EXTENSION stategraph;
CREATE TABLE effects (thread text, node text);
-- a: asks a human when state.ask; b: waits at the gate (advisory lock 4242)
-- when state.gate, sleeps state.sleep seconds
CREATE FUNCTION a(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO effects VALUES (config->>'thread_id', 'a');
    IF (state->>'ask')::bool THEN
        RETURN jsonb_build_object('log', jsonb_build_array('a:' || (sg_interrupt('"ok?"') #>> '{}')));
    END IF;
    RETURN '{"log": ["a"]}';
END $$;
CREATE FUNCTION b(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF (state->>'gate')::bool THEN
        PERFORM pg_advisory_xact_lock_shared(4242);
    END IF;
    PERFORM pg_sleep((state->>'sleep')::float8);
    INSERT INTO effects VALUES (config->>'thread_id', config->>'node');
    RETURN jsonb_build_object('log', jsonb_build_array(config->>'node'));
END $$;
SELECT sg_create_graph('g', '{"log": "append", "ask": "replace", "gate": "replace", "sleep": "replace"}');
SELECT sg_add_node('g', 'a', 'a(jsonb,jsonb)');
SELECT sg_add_node('g', 'b', 'b(jsonb,jsonb)');
SELECT sg_add_node('g', 'c', 'b(jsonb,jsonb)');
SELECT sg_add_edge('g', '__start__', 'a');
SELECT sg_add_edge('g', 'a', 'b');
SELECT sg_add_edge('g', 'b', 'c');
SELECT sg_add_edge('g', 'c', '__end__');
SELECT sg_compile('g');
});

sub runs_of
{
	my ($prefix) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT string_agg(status, ',' ORDER BY created_at) FROM sg_runs() WHERE thread_id LIKE '$prefix%'});
}

# --- 1. max_runs and max_time ------------------------------------------------------
$node->safe_psql('postgres', join('', map {
	"SELECT sg_submit('g', '{\"ask\": false, \"gate\": false, \"sleep\": 0}', 'mr-$_');\n" } 1 .. 3));
$node->safe_psql('postgres', 'CALL sg_work(max_runs => 2)');
is(runs_of('mr-'), 'success,success,pending', 'sg_work(max_runs => 2) executes two whole runs of three steps, the third stays pending');
is($node->safe_psql('postgres', q{SELECT count(*) FROM effects WHERE thread LIKE 'mr-%'}), '6',
	'each of the two ran its three nodes once');
$node->safe_psql('postgres', 'CALL sg_work(max_runs => 0)');
is(runs_of('mr-'), 'success,success,pending', 'max_runs => 0 executes none');
$node->safe_psql('postgres', 'CALL sg_work(max_runs => 5)');
is(runs_of('mr-'), 'success,success,success', 'the next call takes the run left');

# five runs of two 0.3 s steps (0.6 s each): a max_time of 1 s takes at most two
$node->safe_psql('postgres', join('', map {
	"SELECT sg_submit('g', '{\"ask\": false, \"gate\": false, \"sleep\": 0.3}', 'mt-$_');\n" } 1 .. 5));
$node->safe_psql('postgres', q{CALL sg_work(max_time => '1 s')});
my $done = $node->safe_psql('postgres', q{SELECT count(*) FROM sg_runs() WHERE thread_id LIKE 'mt-%' AND status = 'success'});
my $pending = $node->safe_psql('postgres', q{SELECT count(*) FROM sg_runs() WHERE thread_id LIKE 'mt-%' AND status = 'pending'});
ok($done >= 1 && $done <= 2 && $done + $pending == 5,
	"sg_work(max_time => '1 s') takes runs until the time is used ($done done, $pending pending; each takes 0.6 s)");
$node->safe_psql('postgres', 'CALL sg_work()');
is(runs_of('mt-'), 'success,success,success,success,success', 'and without limits the next call takes the rest');

# --- 2. rollback: the thread reads exactly as before the stopped run -------------------
$node->safe_psql('postgres', q{
	SELECT sg_invoke('g', '{"ask": true, "gate": true, "sleep": 0}', 'rb');
	CREATE TABLE before_history AS SELECT * FROM sg_get_state_history('rb');
	CREATE TABLE before_rows AS SELECT * FROM stategraph.checkpoints WHERE thread_id = 'rb';
	CREATE TABLE before_thread AS SELECT * FROM stategraph.threads WHERE thread_id = 'rb';
	CREATE TABLE before_listed AS SELECT * FROM sg_threads() WHERE thread_id = 'rb';
});
is($node->safe_psql('postgres', q{SELECT t.status || ' ' || s.next::text || ' ' || (s.interrupts->0->>'value')
	FROM sg_get_state('rb') s, sg_threads() t WHERE t.thread_id = 'rb'}),
	'interrupted {a} ok?', 'thread rb waits on its interrupt at node a');

sub same_as_before
{
	return $node->safe_psql('postgres', q{
	SELECT (SELECT jsonb_agg(to_jsonb(h) ORDER BY h.created_at, h.checkpoint_id) FROM before_history h)
	     = (SELECT jsonb_agg(to_jsonb(h) ORDER BY h.created_at, h.checkpoint_id) FROM sg_get_state_history('rb') h),
	       (SELECT jsonb_agg(to_jsonb(c) ORDER BY c.checkpoint_id) FROM before_rows c)
	     = (SELECT jsonb_agg(to_jsonb(c) ORDER BY c.checkpoint_id) FROM stategraph.checkpoints c WHERE thread_id = 'rb'),
	       (SELECT to_jsonb(t) - 'updated_at' FROM before_thread t)
	     = (SELECT to_jsonb(t) - 'updated_at' FROM stategraph.threads t WHERE thread_id = 'rb'),
	       (SELECT to_jsonb(t) - 'updated_at' FROM before_listed t)
	     = (SELECT to_jsonb(t) - 'updated_at' FROM sg_threads() t WHERE thread_id = 'rb')});
}

# a run that answers the interrupt: node a's resumed step commits, node b waits at the gate
for my $how ('cancel', 'submit')
{
	my $gate = $node->background_psql('postgres');
	$gate->query_safe('SELECT pg_advisory_lock(4242)');
	my $run = $node->safe_psql('postgres', q{SELECT sg_submit('g', NULL, 'rb', resume => '"yes"')});
	my ($wout, $werr) = ('', '');
	my $wh = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', 'CALL sg_work(max_runs => 1)' ],
		'>', \$wout, '2>', \$werr);
	ok($node->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted}),
		"$how: the run took a step and waits at the gate in node b");
	is($node->safe_psql('postgres', q{SELECT string_agg(step || ':' || source, ',' ORDER BY step) FROM sg_get_state_history('rb')}),
		'-1:input,0:loop,1:loop', "$how: the resumed step of node a is committed");
	my $second = '';
	if ($how eq 'cancel')
	{
		is($node->safe_psql('postgres', "SELECT sg_cancel('$run', 'rollback')"), 't', 'sg_cancel(run, rollback) while it runs');
	}
	else
	{
		$second = $node->safe_psql('postgres',
			q{SELECT sg_submit('g', NULL, 'rb', resume => '"no"', multitask => 'rollback', after => '1 hour')});
	}
	$gate->query_safe('SELECT pg_advisory_unlock(4242)');
	$gate->quit;
	$wh->finish;
	is($werr, '', "$how: sg_work ended without an error");
	is($node->safe_psql('postgres', "SELECT status FROM sg_runs() WHERE run_id = '$run'"), 'cancelled',
		"$how: the stopped run is cancelled");
	is(same_as_before(), "t|t|t|t",
		"$how: history, stored rows, the thread's row and its listing read exactly as before the run (updated_at aside)");
	$node->safe_psql('postgres', "SELECT sg_cancel('$second')") if $second;
}
is($node->safe_psql('postgres', q{SELECT sg_invoke('g', NULL, 'rb', resume => '"again"')->'log'}),
	'["a:again", "b", "c"]', 'the original interrupt is answered as if the stopped runs had never been');

# --- 3. retention spares threads with a queued or a claimed external task -----------
$node->safe_psql('postgres', q{
	SELECT sg_create_graph('x', '{"log": "append"}');
	SELECT sg_add_external_node('x', 'e', 'xq');
	SELECT sg_add_edge('x', '__start__', 'e');
	SELECT sg_add_edge('x', 'e', '__end__');
	SELECT sg_compile('x');
	SELECT sg_invoke('x', '{"log": []}', 'x-done');
	SELECT sg_complete(task_id, token, '{"log": ["done"]}') FROM sg_claim('xq', 'w');
	SELECT sg_invoke('x', NULL, 'x-done');
	SELECT sg_invoke('x', '{"log": []}', 'x-claimed');
	SELECT count(*) FROM sg_claim('xq', 'w', lease => '1 hour');
	SELECT sg_invoke('x', '{"log": []}', 'x-queued');
	SELECT sg_set_retention('x', '1 day');
	UPDATE stategraph.threads SET updated_at = now() - interval '2 days' WHERE graph = 'x';
});
is($node->safe_psql('postgres', q{SELECT string_agg(thread_id || ':' || status, ',' ORDER BY thread_id) FROM sg_tasks('xq')}),
	'x-claimed:claimed,x-done:completed,x-queued:queued', 'one task queued, one claimed, one completed');
$node->safe_psql('postgres', 'CALL sg_work()');
is($node->safe_psql('postgres', q{SELECT string_agg(thread_id, ',' ORDER BY thread_id) FROM stategraph.threads WHERE graph = 'x'}),
	'x-claimed,x-queued', 'the sweep removed the expired thread without tasks out and spared those with a queued or a claimed task');

# --- 4. what a node of a background run cannot do ---------------------------------
$node->safe_psql('postgres', q{
	CREATE FUNCTION try(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
	BEGIN
	    EXECUTE state->>'sql';
	    RETURN '{"log": ["done"]}';
	END $$;
	SELECT sg_create_graph('try', '{"log": "append", "sql": "replace"}');
	SELECT sg_add_node('try', 't', 'try(jsonb)');
	SELECT sg_add_edge('try', '__start__', 't');
	SELECT sg_add_edge('try', 't', '__end__');
	SELECT sg_compile('try');
});
my %cmd = (listen => 'LISTEN audit_channel', prepare => 'PREPARE audit_stmt AS SELECT 1',
	set_role => 'SET ROLE pg_monitor', temp => 'CREATE TEMP TABLE audit_box (x int)');
for my $k (sort keys %cmd)
{
	$node->safe_psql('postgres', "SELECT sg_submit('try', jsonb_build_object('sql', \$\$$cmd{$k}\$\$), 'try-$k')");
}
my $after = $node->safe_psql('postgres', q{
	CALL sg_work();
	SELECT string_agg(thread_id || ' ' || status || ' ' || coalesce(error->>'sqlstate', '-'), ',' ORDER BY thread_id)
	  FROM sg_runs() WHERE thread_id LIKE 'try-%';
	SELECT count(*) FROM pg_listening_channels();
	SELECT count(*) FROM pg_prepared_statements;
	SELECT current_user || ' ' || session_user;
	SELECT count(*) FROM pg_class WHERE relname = 'audit_box';
});
is($after, join("\n",
	'try-listen error 42501,try-prepare error 42501,try-set_role error 42501,try-temp error 42501',
	'0', '0', 'postgres postgres', '0'),
	'LISTEN, PREPARE, SET ROLE and a temporary table in a node of a background run: each run fails with 42501, and the session that executed them listens, prepared, changed role and created nothing');
$node->safe_psql('postgres', "SELECT sg_submit('try', '{\"sql\": \"SELECT 1\"}', 'try-ok')");
is($node->safe_psql('postgres', q{CALL sg_work(); SELECT status FROM sg_runs('try-ok')}), 'success',
	'the same node with a plain statement succeeds');

$node->stop;
done_testing();
