# Started test clusters with or without stategraph preloaded, with the
# settings a TAP test adds, and the graphs and checks the tests share.
package SGNode;

use strict;
use warnings;

use Exporter 'import';
our @EXPORT = qw(preloaded_node plain_node one_node_graph_sql extension_and_roles_sql sleepy_loop_graph nap_graph
  nap_step_executes nap_run_untouched flaky_graph go_graphs batch_node claim_scan_buffers stop_graph
  kill_executor_in_step wait_in_last_step planned_node lg_chain_put
  worker_and_plain wait_then_fail_graph true_within ext_graph_sql llm_next_graph_sql llm_complete_sql
  other_role_thread_sql note_graph_sql
  nap_done_graph_sql cpu_ticks no_advisory_lock_left sweep_graph_sql broken_threads_sql
  role_nap_graphs_sql role_loop_graph_sql waiter_memory_flat back_after_kill agent_loop_graph_sql
  held_graph_sql held_step_executes held_run_untouched sleep_to_next_minute workers_took_reload
  running_and_queued wait_in_transaction one_step_graph_sql reassign_waits_on_row
  gated_graph_sql hold_gates open_gate);

use PostgreSQL::Test::Cluster;
use Test::More;
use IPC::Run;
use PostgreSQL::Test::Utils qw(slurp_file);
use Time::HiRes qw(usleep);

# A new cluster named $name with shared_preload_libraries = 'stategraph'
# and the lines of $conf in postgresql.conf, started.
sub preloaded_node
{
	my ($name, $conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'stategraph'\n" . ($conf // ''));
	$node->start;
	return $node;
}

# A new cluster named $name without the preload (test/stategraph.conf, which
# every test cluster appends, preloads stategraph): no background workers,
# so runs stay pending until CALL sg_work takes them, as on a managed
# server. The lines of $conf are added to postgresql.conf; started.
sub plain_node
{
	my ($name, $conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n" . ($conf // ''));
	$node->start;
	return $node;
}

# The SQL of graph $graph: START -> node $node (SQL function $function,
# e.g. 'public.f(jsonb)') -> END, channels $channels (a JSON object of
# reducers), compiled.
sub one_step_graph_sql
{
	my ($graph, $channels, $node, $function) = @_;
	return qq{
    SELECT sg_create_graph('$graph', '$channels');
    SELECT sg_add_node('$graph', '$node', '$function');
    SELECT sg_add_edge('$graph', '__start__', '$node');
    SELECT sg_add_edge('$graph', '$node', '__end__');
    SELECT sg_compile('$graph');
};
}

# SQL that makes graph $graph: one SQL node, 'one', that sets n to 1.
sub one_node_graph_sql
{
	my ($graph) = @_;
	return q{
    CREATE FUNCTION one(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;}
	  . one_step_graph_sql($graph, '{"n": "replace"}', 'one', 'one(jsonb)');
}

# In $node's postgres database: the extension and graph 'loop', whose node
# 'work' records (thread, i) in table effects, sleeps state.sleep seconds
# and counts i up, until i reaches state.steps.
sub sleepy_loop_graph
{
	my ($node) = @_;
	$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE effects (run text, i int);
    CREATE FUNCTION work(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO effects VALUES (config->>'thread_id', (state->>'i')::int);
        PERFORM pg_sleep((state->>'sleep')::float8);
        RETURN jsonb_build_object('i', (state->>'i')::int + 1);
    END $$;
    CREATE FUNCTION more(state jsonb) RETURNS text LANGUAGE sql
        AS $$ SELECT CASE WHEN (state->>'i')::int < (state->>'steps')::int THEN 'work' ELSE '__end__' END $$;
    SELECT sg_create_graph('loop', '{"i": "replace", "steps": "replace", "sleep": "replace"}');
    SELECT sg_add_node('loop', 'work', 'work(jsonb,jsonb)');
    SELECT sg_add_edge('loop', '__start__', 'work');
    SELECT sg_add_conditional_edges('loop', 'work', 'more(jsonb)', '["work", "__end__"]');
    SELECT sg_compile('loop');
});
}

# In $node's database $db (default postgres): the extension and graph
# $graph, whose one node 'nap' sleeps state.secs seconds and adds 1 to n.
# For the tests of timeouts and settings a worker's step runs under, and of
# statements that must leave a worker's step alone (nap_step_executes).
sub nap_graph
{
	my ($node, $graph, $db) = @_;
	$node->safe_psql($db // 'postgres', qq{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION public.nap(state jsonb) RETURNS jsonb LANGUAGE sql
        AS \$\$ SELECT pg_catalog.pg_sleep((state->>'secs')::float8); SELECT '{"n": 1}'::jsonb \$\$;}
		. one_step_graph_sql($graph, '{"n": "add", "secs": "replace"}', 'nap', 'public.nap(jsonb)'));
}

# A run of nap_graph's graph 'nap' submitted in $db on thread $thread,
# its step sleeping $secs seconds: checks ($label names it) that a
# background worker of $db executes the step; returns the run's id and
# that worker's pid.
sub nap_step_executes
{
	my ($node, $db, $thread, $secs, $label) = @_;
	my $rid = $node->safe_psql($db, qq{SELECT sg_submit('nap', '{"secs": $secs}', '$thread')});
	my $busy = qq{FROM pg_stat_activity
        WHERE backend_type = 'stategraph worker' AND datname = '$db' AND wait_event = 'PgSleep'};
	ok($node->poll_query_until('postgres', "SELECT count(*) = 1 $busy"), $label);
	return ($rid, $node->safe_psql('postgres', "SELECT pid $busy"));
}

# After a statement that must leave the worker $pid executing run $rid's
# step (nap_step_executes) alone: checks ($what names them) that the
# worker is still there, that the run ends in its first attempt, and that
# no death of its worker was counted (stategraph.max_run_recoveries).
sub nap_run_untouched
{
	my ($node, $db, $rid, $pid, $what) = @_;
	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid"), '1',
		"$what: the worker executing a step was left alone");
	is($node->safe_psql($db, "SELECT status || ' ' || attempt FROM sg_wait('$rid', '30 s')"), 'success 1',
		"$what: the run ends in its first attempt");
	is($node->safe_psql($db, "SELECT recoveries FROM stategraph.runs WHERE run_id = '$rid'"), '0',
		"$what: no death of its worker counted");
	return;
}

# SQL for graph 'held' (the extension already created), whose one step
# waits for advisory lock 1 (held_step_executes): a step that executes for
# as long as a test's checks need however slow the machine, and no longer.
sub held_graph_sql
{
	return q{
    CREATE FUNCTION public.held(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT pg_catalog.pg_advisory_xact_lock(1); SELECT '{"n": 1}'::jsonb $$;}
	  . one_step_graph_sql('held', '{"n": "add"}', 'held', 'public.held(jsonb)');
}

# A run of graph 'held' (held_graph_sql) submitted in $db on thread
# $thread, once the client session $session (a background_psql) has taken
# advisory lock 1: checks that a background worker of $db executes the
# step (waits for the lock); returns the run's id and that worker's pid.
sub held_step_executes
{
	my ($node, $session, $db, $thread) = @_;
	$session->query_safe('SELECT pg_advisory_lock(1)');
	my $rid = $node->safe_psql($db, qq{SELECT sg_submit('held', '{}', '$thread')});
	my $busy = qq{FROM pg_stat_activity
        WHERE backend_type = 'stategraph worker' AND datname = '$db' AND wait_event = 'advisory'};
	ok($node->poll_query_until('postgres', "SELECT count(*) = 1 $busy"), "the step of run $thread executes");
	return ($rid, $node->safe_psql('postgres', "SELECT pid $busy"));
}

# After a statement that must leave the worker $pid executing run $rid's
# step (held_step_executes) alone: checks ($what names them) that the
# worker is still in that step, then lets $session's lock go and checks
# that the run ends in its first attempt with no death of its worker counted.
sub held_run_untouched
{
	my ($node, $session, $db, $rid, $pid, $what) = @_;
	is($node->safe_psql('postgres', qq{SELECT count(*) FROM pg_stat_activity
        WHERE pid = $pid AND backend_type = 'stategraph worker' AND wait_event = 'advisory'}), '1',
		"$what: the worker executing a step was left alone, and its step still executes");
	$session->query_safe('SELECT pg_advisory_unlock(1)');
	is($node->safe_psql($db, "SELECT status || ' ' || attempt FROM sg_wait('$rid', '60 s')"), 'success 1',
		"$what: the run ends in its first attempt");
	is($node->safe_psql($db, "SELECT recoveries FROM stategraph.runs WHERE run_id = '$rid'"), '0',
		"$what: no death of its worker counted");
	return;
}

# pg_cron 1.4 fires a '* * * * *' job as a minute starts: sleep until the
# next one starts, as polling before then (a psql process and a connection
# ten times a second) cannot find what it waits for and takes CPU from the
# test running beside.
sub sleep_to_next_minute
{
	my ($node) = @_;
	usleep(int(1_000_000 * $node->safe_psql('postgres',
		q{SELECT 60 - extract(epoch FROM clock_timestamp())::numeric % 60})));
	return;
}

# In $node's postgres database: the extension, table fault and graph 'g'
# (first -> second), whose node 'second' is cancelled (57014, a transient
# error: the run is tried again after a backoff) while its thread is in
# fault. For the tests of runs in a retry's backoff.
sub flaky_graph
{
	my ($node) = @_;
	$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE fault (thread text);
    CREATE FUNCTION ok_step(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT jsonb_build_object('n', (state->>'n')::int + 1) $$;
    -- cancelled (a transient error: the run is tried again after a backoff) while its thread is in fault
    CREATE FUNCTION flaky(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT FROM fault WHERE thread = config->>'thread_id') THEN
            RAISE EXCEPTION 'canceling statement due to user request' USING ERRCODE = 'query_canceled';
        END IF;
        RETURN jsonb_build_object('n', (state->>'n')::int + 1);
    END $$;
    SELECT sg_create_graph('g', '{"n": "replace"}');
    SELECT sg_add_node('g', 'first', 'ok_step(jsonb)');
    SELECT sg_add_node('g', 'second', 'flaky(jsonb,jsonb)');
    SELECT sg_add_edge('g', f, t) FROM (VALUES ('__start__', 'first'), ('first', 'second'),
                                            ('second', '__end__')) e(f, t);
    SELECT sg_compile('g');
});
}

# Until a run's last step waits (pg_sleep) in its executor: with $path
# 'worker' a background worker's; else a CALL sg_work() started here
# (application_name 'stopper', its output in $$out and $$err), returned to
# be finished by the caller. $label names the check.
sub wait_in_last_step
{
	my ($node, $path, $label, $out, $err) = @_;
	my $work;
	if ($path eq 'worker')
	{
		ok($node->poll_query_until('postgres', q{
				SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND wait_event = 'PgSleep'}),
			"$label: the run waits in its last step");
	}
	else
	{
		$work = IPC::Run::start(
			[ 'psql', '-X', '-Atq', '-d', $node->connstr('postgres') . ' application_name=stopper', '-c', 'CALL sg_work()' ],
			'>', $out, '2>', $err);
		ok($node->poll_query_until('postgres', q{
				SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE application_name = 'stopper'}),
			"$label: the run waits in its last step");
	}
	return $work;
}

# In $node's postgres database: the extension, table go (readable by every
# role), graph 'g' (node 'a' returns {"done": true} at once) and graph
# 'long', whose node waits (up to 10 minutes) until its thread is in table
# go; with $first_step, 'long' takes a quick step first (which commits its
# thread) and then that one. For the tests that hold a run in a worker.
sub go_graphs
{
	my ($node, $first_step) = @_;
	my $long = $first_step
	  ? q{SELECT sg_add_node('long', 'a', 'note(jsonb)'), sg_add_node('long', 'b', 'wait_for_go(jsonb,jsonb)');
	      SELECT sg_add_edge('long', '__start__', 'a'), sg_add_edge('long', 'a', 'b'), sg_add_edge('long', 'b', '__end__');}
	  : q{SELECT sg_add_node('long', 'a', 'wait_for_go(jsonb,jsonb)');
	      SELECT sg_add_edge('long', '__start__', 'a'), sg_add_edge('long', 'a', '__end__');};
	$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE go (thread text);
    GRANT SELECT ON go TO PUBLIC;
    CREATE FUNCTION note(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"done": true}'::jsonb $$;
    CREATE FUNCTION wait_for_go(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        FOR i IN 1 .. 12000 LOOP
            EXIT WHEN EXISTS (SELECT FROM go WHERE thread = config->>'thread_id');
            PERFORM pg_sleep(0.05);
        END LOOP;
        RETURN '{"done": true}';
    END $$;
    SELECT sg_create_graph(g, '{"n": "replace", "done": "replace"}') FROM unnest(ARRAY['g', 'long']) g;
    SELECT sg_add_node('g', 'a', 'note(jsonb)'), sg_add_edge('g', '__start__', 'a'), sg_add_edge('g', 'a', '__end__');
} . $long . q{
    SELECT sg_compile('g'), sg_compile('long');
});
}

# A new cluster named $name (no preload) with the lines of $conf in
# postgresql.conf, started: the extension, graph 'batch' (node 'inc' counts
# state.n up by one) and table orders of ids 1..$rows, for the tests of
# statements that write many threads at once.
sub batch_node
{
	my ($name, $conf, $rows) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', $conf);
	$node->start;
	$node->safe_psql('postgres', qq{
	CREATE EXTENSION stategraph;
	CREATE FUNCTION inc(state jsonb) RETURNS jsonb LANGUAGE sql
		AS \$\$ SELECT jsonb_build_object('n', COALESCE((state->>'n')::int, 0) + 1) \$\$;
	SELECT sg_create_graph('batch', '{"n": "replace"}');
	SELECT sg_add_node('batch', 'inc', 'inc(jsonb)');
	SELECT sg_add_edge('batch', '__start__', 'inc');
	SELECT sg_add_edge('batch', 'inc', '__end__');
	SELECT sg_compile('batch');
	CREATE TABLE orders AS SELECT i AS id FROM generate_series(1, $rows) i;
	});
	return $node;
}

# The buffers per call of the claims' candidate scan (runs.c, open_candidates)
# since the last pg_stat_statements_reset() on $node (which has
# pg_stat_statements preloaded, track = all: workers' statements count).
sub claim_scan_buffers
{
	my ($node) = @_;
	my $b = $node->safe_psql('postgres', q{
		SELECT round(sum(shared_blks_hit + shared_blks_read)::numeric / sum(calls), 1)
		FROM pg_stat_statements WHERE query LIKE '%FROM stategraph.runs r%ORDER BY r.not_before, r.seq%'});
	die 'no candidate scan in pg_stat_statements' unless $b =~ /^\d/;
	return $b;
}

# In $node's postgres database, for the tests of stops: the extension and
# graph 'g', whose node 'first' counts state.n up and node 'second' too,
# once state.wait is false or its thread is in table go (at most a
# minute, in pg_sleep); and a trigger on stategraph.checkpoints that makes
# every delete of checkpoints (a rollback) fail with lock_not_available
# while table fault has a row. Tables go and fault are readable by every role.
sub stop_graph
{
	my ($node) = @_;
	$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE go (thread text);
    CREATE TABLE fault ();
    GRANT SELECT ON go, fault TO PUBLIC;
    CREATE FUNCTION ok_step(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT jsonb_build_object('n', (state->>'n')::int + 1) $$;
    CREATE FUNCTION wait_for_go(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        FOR i IN 1 .. 1200 LOOP
            EXIT WHEN NOT (state->>'wait')::boolean OR EXISTS (SELECT FROM go WHERE thread = config->>'thread_id');
            PERFORM pg_sleep(0.05);
        END LOOP;
        RETURN jsonb_build_object('n', (state->>'n')::int + 1);
    END $$;
    CREATE FUNCTION fail_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT FROM fault) THEN
            RAISE EXCEPTION 'checkpoints are locked' USING ERRCODE = 'lock_not_available';
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER fail_delete BEFORE DELETE ON stategraph.checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION fail_delete();
    SELECT sg_create_graph('g', '{"n": "replace", "wait": "replace"}');
    SELECT sg_add_node('g', 'first', 'ok_step(jsonb)');
    SELECT sg_add_node('g', 'second', 'wait_for_go(jsonb,jsonb)');
    SELECT sg_add_edge('g', f, t) FROM (VALUES ('__start__', 'first'), ('first', 'second'),
                                            ('second', '__end__')) e(f, t);
    SELECT sg_compile('g');
});
}

# CALL sg_work() in a session of its own (application_name victim), which
# is terminated once the run it executes sleeps in a step: the run is left
# 'running' without its executor.
sub kill_executor_in_step
{
	my ($node) = @_;
	my ($out, $err) = ('', '');
	my $work = IPC::Run::start(
		[ 'psql', '-X', '-Atq', '-d', $node->connstr('postgres') . ' application_name=victim', '-c', 'CALL sg_work()' ],
		'>', \$out, '2>', \$err);
	ok($node->poll_query_until('postgres', q{
			SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE application_name = 'victim'}),
		'the run sleeps in a step');
	$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'victim'});
	$work->finish;
	ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'victim'}),
		'its executor is gone');
}

# A new cluster named $name, started, that counts every statement's calls
# and plans (pg_stat_statements, track = all, track_planning), with the
# extensions stategraph and pg_stat_statements in its postgres database:
# for the tests that a statement is planned once per session.
sub planned_node
{
	my ($name) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
pg_stat_statements.track_planning = on
});
	$node->start;
	$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE EXTENSION pg_stat_statements;
});
	return $node;
}

# In $node's database $db (default postgres), function lgput(thread text,
# k int): puts LangGraph.js checkpoint k of the thread (ids ...01, ...02,
# each the child of the one before), whose channel m holds k messages, each
# put appending one to its parent's.
sub lg_chain_put
{
	my ($node, $db) = @_;
	$node->safe_psql($db // 'postgres', q{
    CREATE FUNCTION lgput(thread text, k int) RETURNS boolean LANGUAGE sql AS $$
        SELECT sg_lg_put(thread, '', CASE WHEN k > 1 THEN ('1ef00000-0000-6000-8000-00000000000' || (k - 1))::uuid END,
            jsonb_build_object('v', 4, 'id', '1ef00000-0000-6000-8000-00000000000' || k, 'ts', 'x',
                               'channel_values', jsonb_build_object('m',
                                   (SELECT jsonb_agg('a message long enough to be a row of its own ' || j) FROM generate_series(1, k) j)),
                               'channel_versions', jsonb_build_object('m', k), 'versions_seen', jsonb_build_object()),
            jsonb_build_object('source', CASE WHEN k = 1 THEN 'input' ELSE 'loop' END, 'step', k),
            jsonb_build_object('m', k)) IS NOT NULL $$;
});
	return;
}

# Two started clusters for a test of both executors of runs: ${name}_worker,
# which preloads stategraph with one background worker, and ${name}_work,
# without the preload (CALL sg_work). Each is set up by @setup in turn: a
# string is SQL run in its postgres database, a code reference is called
# with the cluster (\&stop_graph, say). Returns both.
sub worker_and_plain
{
	my ($name, @setup) = @_;
	my $worker = preloaded_node("${name}_worker", "stategraph.max_workers = 1\n");
	my $plain = plain_node("${name}_work");
	foreach my $node ($worker, $plain)
	{
		ref($_) eq 'CODE' ? $_->($node) : $node->safe_psql('postgres', $_) foreach @setup;
	}
	return ($worker, $plain);
}

# The SQL of graph $name: START -> first -> second -> END, where 'first' is
# ok_step (which must exist: stop_graph makes it) and 'second' waits, with
# state.wait, (at most a minute) until its thread is in table go, then
# fails with state.fail ('the tool failed', 22000).
sub wait_then_fail_graph
{
	my ($name) = @_;
	return qq{
    CREATE OR REPLACE FUNCTION wait_then_fail(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS \$\$
    BEGIN
        FOR i IN 1 .. 1200 LOOP
            EXIT WHEN NOT (state->>'wait')::boolean OR EXISTS (SELECT FROM go WHERE thread = config->>'thread_id');
            PERFORM pg_sleep(0.05);
        END LOOP;
        IF (state->>'fail')::boolean THEN
            RAISE EXCEPTION 'the tool failed' USING ERRCODE = 'data_exception', DETAIL = 'It gave no answer.';
        END IF;
        RETURN jsonb_build_object('n', (state->>'n')::int + 1);
    END \$\$;
    SELECT sg_create_graph('$name', '{"n": "replace", "wait": "replace", "fail": "replace"}');
    SELECT sg_add_node('$name', 'first', 'ok_step(jsonb)');
    SELECT sg_add_node('$name', 'second', 'wait_then_fail(jsonb,jsonb)');
    SELECT sg_add_edge('$name', f, t) FROM (VALUES ('__start__', 'first'), ('first', 'second'),
                                            ('second', '__end__')) e(f, t);
    SELECT sg_compile('$name');
};
}

# Whether $query (a boolean) reads true on $node (in database $db, by
# default postgres) within $secs seconds, asked every 0.1 s.
# poll_query_until waits minutes; a test that a run is not left for the
# next sweep must fail sooner.
sub true_within
{
	my ($node, $secs, $query, $db) = @_;
	for (1 .. $secs * 10)
	{
		return 1 if $node->safe_psql($db // 'postgres', $query) eq 't';
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

# After a reload that set $setting to $value: whether every background
# worker of $node has taken it up, within a minute (a check named $label).
# A new session shows the value once the postmaster has read the files and
# signalled every process (it forks no session before), and its
# pg_conf_load_time() is when it read them. A worker takes the reload at
# the top of its loop, before its claim, and reports itself idle at the end
# of every loop: one idle since then has claimed under the new value or
# will next time. One executing a run takes it before its next claim, once
# the run ends (its application_name names the run). A sleep instead
# (TAP 108, 115) let a worker that was slow to loop claim under the old
# value.
sub workers_took_reload
{
	my ($node, $setting, $value, $label) = @_;
	return ok($node->poll_query_until('postgres', qq{
SELECT pg_catalog.current_setting('$setting') = '$value'
   AND NOT EXISTS (SELECT FROM pg_catalog.pg_stat_activity
                   WHERE backend_type = 'stategraph worker' AND application_name NOT LIKE 'stategraph run %'
                     AND (state IS DISTINCT FROM 'idle' OR state_change < pg_catalog.pg_conf_load_time()))}),
		$label);
}

# The SQL of graph 'ext': START -> external node 'ask' (queue 'q') -> END,
# a run of which waits for its task. $args: more arguments of
# sg_add_external_node after the queue (its retry policy, lease), if any.
sub ext_graph_sql
{
	my ($args) = @_;
	$args = defined $args ? ", $args" : '';
	return qq{
    SELECT sg_create_graph('ext', '{"answer": "replace"}');
    SELECT sg_add_external_node('ext', 'ask', 'q'$args);
    SELECT sg_add_edge('ext', '__start__', 'ask');
    SELECT sg_add_edge('ext', 'ask', '__end__');
    SELECT sg_compile('ext');
};
}

# For the tests of a completion's step, which goes on as the thread's
# owner (TAP 297, 302, 303, 304): the SQL of graph "${schema}_g", START ->
# external node 'agent' (queue 'llm') -> 'next' (function
# $schema.next(jsonb, jsonb), which the test makes) -> END, channel
# messages appended.
sub llm_next_graph_sql
{
	my ($schema) = @_;
	my $g = "${schema}_g";
	return qq{
    SELECT sg_create_graph('$g', '{"messages": "append"}');
    SELECT sg_add_external_node('$g', 'agent', queue => 'llm');
    SELECT sg_add_node('$g', 'next', '$schema.next(jsonb, jsonb)');
    SELECT sg_add_edge('$g', '__start__', 'agent');
    SELECT sg_add_edge('$g', 'agent', 'next');
    SELECT sg_add_edge('$g', 'next', '__end__');
    SELECT sg_compile('$g');
};
}

# The start of the SQL with which a worker claims (as w1) and completes,
# with the model's answer {"messages": ["model"]}, the task of a thread of
# llm_next_graph_sql's graphs: its thread id follows, as a quoted literal.
sub llm_complete_sql
{
	return q{SELECT sg_complete(task_id, token, '{"messages": ["model"]}') FROM sg_claim('llm', 'w1') WHERE thread_id = };
}

# The SQL of thread 'other-1' of role other (which must exist; graph
# other_g, one node, public.noop), done: what a worker role that is a
# member of other and of a thread's owner must not see from the owner's
# step (TAP 297, 302).
sub other_role_thread_sql
{
	return q{
    CREATE FUNCTION public.noop(state jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT ''{}''::jsonb';
    SET ROLE other;
    SELECT sg_create_graph('other_g', '{"n": "replace"}');
    SELECT sg_add_node('other_g', 'a', 'public.noop(jsonb)');
    SELECT sg_add_edge('other_g', '__start__', 'a');
    SELECT sg_add_edge('other_g', 'a', '__end__');
    SELECT sg_compile('other_g');
    SELECT sg_invoke('other_g', '{"n": 1}', 'other-1');
    RESET ROLE;
};
}

# The SQL of graph 'g': START -> 'a' (function note, which sets done) -> END.
sub note_graph_sql
{
	return q{
    CREATE FUNCTION note(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"done": true}'::jsonb $$;
    SELECT sg_create_graph('g', '{"done": "replace"}');
    SELECT sg_add_node('g', 'a', 'note(jsonb)');
    SELECT sg_add_edge('g', '__start__', 'a');
    SELECT sg_add_edge('g', 'a', '__end__');
    SELECT sg_compile('g');
};
}

# The SQL of graph 'nap': START -> 'nap' (sleeps state.secs seconds, then
# sets done) -> END.
sub nap_done_graph_sql
{
	return q{
    CREATE FUNCTION nap(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT pg_sleep((state->>'secs')::float8); SELECT '{"done": true}'::jsonb $$;
    SELECT sg_create_graph('nap', '{"done": "replace", "secs": "replace"}');
    SELECT sg_add_node('nap', 'nap', 'nap(jsonb)');
    SELECT sg_add_edge('nap', '__start__', 'nap');
    SELECT sg_add_edge('nap', 'nap', '__end__');
    SELECT sg_compile('nap');
};
}

# The CPU time (user and system, in clock ticks) process $pid has used so
# far, from /proc; -1 if it is gone. For the tests that a waiting process
# does not spin.
sub cpu_ticks
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return -1;
	my @f = split / /, <$fh>;
	close $fh;
	return $f[13] + $f[14];
}

# Whether no advisory lock is held on $node once the test's statements are
# over, waiting for one that is only passing: a worker's claim or sweep
# transaction holds the restore check's share lock (restore.c) while it
# lasts; a lock left behind stays, and fails it.
sub no_advisory_lock_left
{
	my ($node) = @_;
	return $node->poll_query_until('postgres', q{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'}, '0');
}

# SQL: the extension and a one-node graph 'sg' (channel n) whose node
# changes nothing, the retention sweep's tests' threads.
sub sweep_graph_sql
{
	return q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION sweep_node(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
    SELECT sg_create_graph('sg', '{"n": "replace"}');
    SELECT sg_add_node('sg', 'a', 'sweep_node(jsonb)');
    SELECT sg_add_edge('sg', '__start__', 'a');
    SELECT sg_add_edge('sg', 'a', '__end__');
    SELECT sg_compile('sg');
};
}

# SQL: the extension, a graph 'g' (channel log) and a thread of each id of
# @ids, each with a fork ('fork' and its id) whose row refers to a
# checkpoint that is not there. Removing the thread gives its forks an
# image of their own, which fails (XX001): the retention sweep passes the
# thread over with a WARNING. The forks are not expired; the threads are
# once their updated_at is set back.
sub broken_threads_sql
{
	my $ids = "ARRAY['" . join("', '", @_) . "']";
	return qq{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION one(state jsonb) RETURNS jsonb LANGUAGE sql
        AS \$\$ SELECT jsonb_build_object('log', jsonb_build_array(1)) \$\$;
    SELECT sg_create_graph('g', jsonb_build_object('log', 'append'));
    SELECT sg_add_node('g', 'one', 'one(jsonb)');
    SELECT sg_add_edge('g', '__start__', 'one');
    SELECT sg_add_edge('g', 'one', '__end__');
    SELECT sg_compile('g');
    SELECT count(sg_invoke('g', jsonb_build_object('log', jsonb_build_array()), t)) FROM unnest($ids) t;
    SELECT count(sg_fork(t, (SELECT head FROM stategraph.threads WHERE thread_id = t), 'fork' || t)) FROM unnest($ids) t;
    UPDATE stategraph.checkpoints SET image_complete = false,
        refs = jsonb_build_object('log', '00000000-0000-0000-0000-000000000000')
    WHERE thread_id LIKE 'fork%' AND parent_thread IS NOT NULL;
};
}


# The SQL that creates the extension and roles @roles, each allowed to
# create its functions in schema public: the start of the tests of
# stategraph.max_workers_per_role.
sub extension_and_roles_sql
{
	my (@roles) = @_;
	return "\nCREATE EXTENSION stategraph;\n"
	  . join('', map { "CREATE ROLE $_;\n" } @roles)
	  . 'GRANT USAGE, CREATE ON SCHEMA public TO ' . join(', ', @roles) . ";\n";
}

# The SQL, for a database with the extension, of function public.nap
# (sleeps state.secs seconds) and, for each role => graph of %graphs, a
# one-node graph of that role that runs it. For the tests of
# stategraph.max_workers_per_role.
sub role_nap_graphs_sql
{
	my (%graphs) = @_;
	my $sql = q{
CREATE FUNCTION public.nap(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT pg_catalog.pg_sleep((state->>'secs')::float8); SELECT '{"done": true}'::jsonb $$;
GRANT EXECUTE ON FUNCTION public.nap(jsonb) TO PUBLIC;
};
	for my $role (sort keys %graphs)
	{
		my $g = $graphs{$role};
		$sql .= qq{SET ROLE $role;
SELECT sg_create_graph('$g', '{"done": "replace", "secs": "replace"}'), sg_add_node('$g', 'nap', 'public.nap(jsonb)'),
       sg_add_edge('$g', '__start__', 'nap'), sg_add_edge('$g', 'nap', '__end__'), sg_compile('$g');
RESET ROLE;
};
	}
	return $sql;
}

# The SQL, for a database with the extension, of table public.ran (thread,
# i, started, ended: each step's) and graph 'loop' of $role, whose node
# 'slow' records its step there, sleeps state.secs seconds and counts i up
# until it reaches state.steps. For the tests of max_workers_per_role.
sub role_loop_graph_sql
{
	my ($role) = @_;
	return q{
CREATE TABLE public.ran (thread text, i int, started timestamptz, ended timestamptz);
GRANT INSERT, SELECT, UPDATE ON public.ran TO PUBLIC;
CREATE FUNCTION public.slow(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO public.ran SELECT config->>'thread_id', (state->>'i')::int, clock_timestamp(), NULL;
    SELECT pg_catalog.pg_sleep((state->>'secs')::float8);
    UPDATE public.ran SET ended = clock_timestamp() WHERE thread = config->>'thread_id' AND ended IS NULL;
    SELECT pg_catalog.jsonb_build_object('i', (state->>'i')::int + 1)
$$;
CREATE FUNCTION public.more(state jsonb) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN (state->>'i')::int < (state->>'steps')::int THEN 'slow' ELSE '__end__' END $$;
} . qq{SET ROLE $role;
SELECT sg_create_graph('loop', '{"i": "replace", "steps": "replace", "secs": "replace"}'),
       sg_add_node('loop', 'slow', 'public.slow(jsonb,jsonb)'), sg_add_edge('loop', '__start__', 'slow'),
       sg_add_conditional_edges('loop', 'slow', 'public.more(jsonb)', '["slow", "__end__"]'), sg_compile('loop');
RESET ROLE;
};
}


# The memory of a backend that waits inside stategraph (an sg_wait, a long
# poll) stays flat while it waits (TAP 277, 278): $sql runs on $node in a
# psql of its own (application_name waiter); the checks are that it sleeps
# ($sleeps names that check), then that its looks keep no SPI results and
# its memory does not grow ($looks names them), read from the memory
# contexts the backend logs (pg_log_backend_memory_contexts) six and
# twelve seconds in. Returns the psql's stdout and stderr once it ended.
sub waiter_memory_flat
{
	my ($node, $sql, $sleeps, $looks) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-At', '-d', $node->connstr('postgres') . ' application_name=waiter', '-c', $sql ],
		'>', \$out, '2>', \$err);
	ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
		WHERE application_name = 'waiter' AND wait_event_type = 'Extension'}), $sleeps);
	my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE application_name = 'waiter'});

	# the waiter's memory contexts, as it logs them: (SPI results kept, bytes used)
	my $dump_contexts = sub {
		my $offset = -s $node->logfile;
		$node->safe_psql('postgres', "SELECT pg_log_backend_memory_contexts($pid)");
		my $log = '';
		for (1 .. 100)
		{
			$log = slurp_file($node->logfile, $offset);
			last if $log =~ /\[$pid\].*Grand total/;
			usleep(100_000);
		}
		my @lines = grep { /\[$pid\]/ } split /\n/, $log;
		my $tuptables = grep { /SPI TupTable/ } @lines;
		my ($used) = map { /Grand total:.*; (\d+) used/ ? $1 : () } @lines;
		return ($tuptables, $used);
	};

	# (after its first looks: the fifth makes the statement's generic plan, once)
	usleep(6_000_000);
	my ($t1, $u1) = $dump_contexts->();
	usleep(6_000_000);
	my ($t2, $u2) = $dump_contexts->();
	note "SPI results kept: $t1, then $t2; bytes used: $u1, then $u2";
	cmp_ok($t2, '<=', 1, "the looks of $looks keep no SPI results");
	cmp_ok($u2 - $u1, '<', 16384, "the waiter's memory does not grow while it waits");
	$h->finish;
	return ($out, $err);
}



# The SQL of graph 'loop' (TAP 299, 317): an agent loop with no way out,
# external node 'agent' (queue 'llm') -> SQL node 'tools' (function
# tools(jsonb), made here, appending a tool message) -> 'agent' -> ...,
# channel messages appended: only the recursion limit stops it.
sub agent_loop_graph_sql
{
	return q{
    CREATE FUNCTION tools(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
        SELECT '{"messages": [{"role": "tool"}]}'::jsonb $$;
    SELECT sg_create_graph('loop', '{"messages": "append"}');
    SELECT sg_add_external_node('loop', 'agent', queue => 'llm');
    SELECT sg_add_node('loop', 'tools', 'tools(jsonb)');
    SELECT sg_add_edge('loop', '__start__', 'agent');
    SELECT sg_add_edge('loop', 'agent', 'tools');
    SELECT sg_add_edge('loop', 'tools', 'agent');
    SELECT sg_compile('loop');
};
}

# After kill -9 of the server process $pid: true once the server has been
# through its crash restart and takes queries (the dead process's
# pg_stat_activity entry is gone). Any query can succeed before the
# postmaster notices the death (the next statement then meets the restart),
# and poll_query_until itself dies of a broken pipe when a psql that the
# server, still in recovery, turns away exits before reading its query:
# that only means "not back yet".
sub back_after_kill
{
	my ($node, $pid) = @_;
	for (1 .. 100)
	{
		my $back = eval {
			$node->poll_query_until('postgres', "SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $pid)")
		};
		return 1 if $back;
		return 0 if defined $back;
		usleep(100_000);
	}
	return 0;
}

# A run on thread $thread of graph nap (nap_graph) whose step naps $secs
# seconds, running; and a run queued behind it (enqueue), whose step does
# not nap. Both committed. Returns their run ids.
sub running_and_queued
{
	my ($node, $thread, $secs) = @_;
	my $first = $node->safe_psql('postgres', qq{SELECT sg_submit('nap', '{"secs": $secs}', '$thread')});
	ok($node->poll_query_until('postgres',
			qq{SELECT status = 'running' FROM stategraph.runs WHERE run_id = '$first'}),
		"$thread: the first run executes");
	my $queued = $node->safe_psql('postgres',
		qq{SELECT sg_submit('nap', '{"secs": 0}', '$thread', multitask => 'enqueue')});
	return ($first, $queued);
}

# In one transaction of database postgres: $before, then sg_wait($rid,
# $timeout), then $after if given; rolled back. Returns what sg_wait
# returned (its status, followed by $after's output on a line of its own)
# or the error's SQLSTATE and message, and the seconds it took.
sub wait_in_transaction
{
	my ($node, $before, $rid, $timeout, $after) = @_;
	my $start = Time::HiRes::time();
	my $then = defined $after ? "$after;" : '';
	my ($ret, $out, $err) = $node->psql('postgres', qq{
        \\set VERBOSITY verbose
        BEGIN;
        $before;
        SELECT status FROM sg_wait('$rid', '$timeout');
        $then
        ROLLBACK;}, on_error_stop => 1, timeout => 60);
	my $took = Time::HiRes::time() - $start;
	# (the last lines: the locking statements print theirs first)
	my ($what) = defined $after ? $out =~ /([^\n]*\n[^\n]*)\z/ : $out =~ /([^\n]*)\z/;
	$what = "$1 $2" if $err =~ /ERROR:\s+(\w{5}): ([^\n]*)/;
	return ($what, $took);
}


# A second sg_reassign_owned($from, $to) (application_name reassign)
# stopped where only its hold on $from's name keeps others off: it holds
# that name (reassign.c) and waits for the row of thread $parked, which the
# session returned keeps locked FOR SHARE until it commits. Returns that
# session, the reassign's IPC::Run handle and a reference to its stderr;
# $label names the check.
sub reassign_waits_on_row
{
	my ($node, $from, $to, $parked, $label) = @_;
	my $row = $node->background_psql('postgres');
	$row->query_safe(qq{BEGIN; SELECT 1 FROM stategraph.threads WHERE thread_id = '$parked' FOR SHARE});
	my ($out, $err) = ('', '');
	my $reassign = IPC::Run::start(
		[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') . ' application_name=reassign',
		  '-c', qq{SELECT sg_reassign_owned('$from', '$to')} ],
		'>', \$out, '2>', \$err);
	ok($node->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
		WHERE a.application_name = 'reassign' AND a.wait_event_type = 'Lock' AND a.wait_event <> 'advisory'
		  AND l.locktype = 'advisory' AND l.objsubid = 21071 AND l.mode = 'ExclusiveLock' AND l.granted}),
		"$label: sg_reassign_owned($from, $to) holds ${from}'s name and waits for the row of thread $parked");
	return ($row, $reassign, \$err);
}

# Gates: a step that executes until the test lets it end, however slow the
# machine. A gate is advisory lock $lock, held by a session of the test
# (hold_gates) and taken shared by the step, which waits until the test
# opens it (open_gate).

# SQL for function public.gated (the extension created), a node that
# waits at gate $lock ($lock may also be an SQL expression of state), then
# returns {"done": true}, and the one-step graph $graph of it (channels
# done, and those of $channels), made by $role if given.
sub gated_graph_sql
{
	my ($lock, $graph, $role, $channels) = @_;
	my $sql = qq{
CREATE FUNCTION public.gated(state jsonb) RETURNS jsonb LANGUAGE sql
    AS \$\$ SELECT pg_catalog.pg_advisory_lock_shared($lock); SELECT pg_catalog.pg_advisory_unlock_shared($lock);
          SELECT '{"done": true}'::jsonb \$\$;
GRANT EXECUTE ON FUNCTION public.gated(jsonb) TO PUBLIC;};
	$channels = '{"done": "replace"' . (defined $channels ? ", $channels" : '') . '}';
	return $sql . (defined $role ? "\nSET ROLE $role;" : '')
	  . one_step_graph_sql($graph, $channels, 'gated', 'public.gated(jsonb)')
	  . (defined $role ? "RESET ROLE;\n" : '');
}

# A session of $node (a background_psql) holding gates @locks closed.
sub hold_gates
{
	my ($node, @locks) = @_;
	my $session = $node->background_psql('postgres');
	$session->query_safe('SELECT ' . join(', ', map { "pg_advisory_lock($_)" } @locks));
	return $session;
}

# Open gate $lock that $session holds (hold_gates): the steps waiting at it end.
sub open_gate
{
	my ($session, $lock) = @_;
	$session->query_safe("SELECT pg_advisory_unlock($lock)");
	return;
}

1;
