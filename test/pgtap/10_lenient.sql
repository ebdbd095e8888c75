-- Inputs 0.2.0 used to take leniently (rev10lenient): a NULL for a required
-- argument read as a default, an empty thread id stored under, a wait with
-- no bound, a resume with nothing to answer queued to fail later. Each is
-- now an ERROR with its SQLSTATE, and nothing stored changes.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION stategraph;
SELECT plan(41);

CREATE TEMP VIEW le_rows AS
    SELECT (SELECT count(*) FROM stategraph.lg_checkpoints) AS checkpoints,
           (SELECT count(*) FROM stategraph.lg_writes) AS writes,
           (SELECT count(*) FROM stategraph.lg_blobs) AS blobs,
           (SELECT count(*) FROM stategraph.runs) AS runs,
           (SELECT count(*) FROM stategraph.threads) AS threads;

-- A LangGraph.js thread of two checkpoints
SELECT sg_lg_put('le-lg', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-00000000e001", "ts": "x", "channel_values": {"a": 1},
      "channel_versions": {"a": 1}, "versions_seen": {}}', '{"source": "input", "step": -1}', '{"a": 1}');
SELECT sg_lg_put('le-lg', '', '1ef00000-0000-6000-8000-00000000e001',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-00000000e002", "ts": "x", "channel_values": {"a": 2},
      "channel_versions": {"a": 2}, "versions_seen": {}}', '{"source": "loop", "step": 0}', '{"a": 2}');
CREATE TEMP TABLE le_before AS SELECT * FROM le_rows;

-- sg_lg_put: metadata and new_versions have no default; NULL was taken as {}
SELECT throws_ok($$ SELECT sg_lg_put('le-lg', '', '1ef00000-0000-6000-8000-00000000e002',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-00000000e003", "ts": "x", "channel_values": {"a": 3},
      "channel_versions": {"a": 3}, "versions_seen": {}}', NULL, '{"a": 3}') $$,
    '22004', 'metadata must not be null', 'lg_put: NULL metadata is 22004');
SELECT throws_ok($$ SELECT sg_lg_put('le-lg', '', '1ef00000-0000-6000-8000-00000000e002',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-00000000e003", "ts": "x", "channel_values": {"a": 3},
      "channel_versions": {"a": 3}, "versions_seen": {}}', '{"source": "loop", "step": 1}', NULL) $$,
    '22004', 'new_versions must not be null', 'lg_put: NULL new_versions is 22004');
-- checkpoint_ns has no default (NULL was the root namespace), expect_new defaults to false (NULL was false)
SELECT throws_ok($$ SELECT sg_lg_put('le-lg', NULL, '1ef00000-0000-6000-8000-00000000e002',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-00000000e003", "ts": "x", "channel_values": {"a": 3},
      "channel_versions": {"a": 3}, "versions_seen": {}}', '{"source": "loop", "step": 1}', '{"a": 3}') $$,
    '22004', 'checkpoint_ns must not be null', 'lg_put: NULL checkpoint_ns is 22004');
SELECT throws_ok($$ SELECT sg_lg_put('le-lg', '', '1ef00000-0000-6000-8000-00000000e002',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-00000000e003", "ts": "x", "channel_values": {"a": 3},
      "channel_versions": {"a": 3}, "versions_seen": {}}', '{"source": "loop", "step": 1}', '{"a": 3}',
    expect_new => NULL) $$,
    '22004', 'expect_new must not be null', 'lg_put: NULL expect_new is 22004');
SELECT throws_ok($$ SELECT sg_lg_put('le-lg', '', '1ef00000-0000-6000-8000-00000000e002',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-00000000e003", "ts": "x", "channel_values": {"a": 3},
      "channel_versions": {"a": 3}, "versions_seen": {}}', '{"source": "loop", "step": 1}', '{"a": 3}',
    parent_by_id => NULL) $$,
    '22004', 'parent_by_id must not be null', 'lg_put: NULL parent_by_id is 22004');
-- a thread '' was stored, and no sg_ function could read or delete it
SELECT throws_ok($$ SELECT sg_lg_put('', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-00000000e009", "ts": "x", "channel_values": {"a": 1},
      "channel_versions": {"a": 1}, "versions_seen": {}}', '{"source": "input", "step": -1}', '{"a": 1}') $$,
    '22023', 'thread_id must not be empty', 'lg_put: an empty thread_id is 22023');
-- typed bytes without the channels they belong to were dropped silently
SELECT throws_ok($$ SELECT sg_lg_put('le-lg', '', '1ef00000-0000-6000-8000-00000000e002',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-00000000e003", "ts": "x", "channel_values": {},
      "channel_versions": {"b": 3}, "versions_seen": {}}', '{"source": "loop", "step": 1}', '{"b": 3}',
    NULL, '{bytes}', '{"\\x01"}') $$,
    '22023', 'bytes_types and bytes_values need bytes_channels', 'lg_put: bytes without bytes_channels is 22023');

-- sg_lg_put_writes: task_path NULL was taken as '', checkpoint_ns NULL as the root
SELECT throws_ok($$ SELECT sg_lg_put_writes('le-lg', '', '1ef00000-0000-6000-8000-00000000e002', 'task-1',
    '[["a", 5]]', NULL) $$,
    '22004', 'task_path must not be null', 'lg_put_writes: NULL task_path is 22004');
SELECT throws_ok($$ SELECT sg_lg_put_writes('le-lg', NULL, '1ef00000-0000-6000-8000-00000000e002', 'task-1',
    '[["a", 5]]') $$,
    '22004', 'checkpoint_ns must not be null', 'lg_put_writes: NULL checkpoint_ns is 22004');
SELECT throws_ok($$ SELECT sg_lg_put_writes('', '', '1ef00000-0000-6000-8000-00000000e002', 'task-1',
    '[["a", 5]]') $$,
    '22023', 'thread_id must not be empty', 'lg_put_writes: an empty thread_id is 22023');
SELECT throws_ok($$ SELECT sg_lg_put_writes('le-lg', '', '1ef00000-0000-6000-8000-00000000e002', 'task-1',
    '[["a", 5]]', '', NULL, '{bytes}', '{"\\x01"}') $$,
    '22023', 'bytes_types and bytes_values need bytes_index', 'lg_put_writes: bytes without bytes_index is 22023');

-- sg_lg_get_tuple: thread_id NULL answered NULL, checkpoint_ns NULL read the root
SELECT throws_ok($$ SELECT sg_lg_get_tuple(NULL) $$, '22004', 'thread_id must not be null',
    'lg_get_tuple: NULL thread_id is 22004');
SELECT throws_ok($$ SELECT sg_lg_get_tuple('le-lg', NULL) $$, '22004', 'checkpoint_ns must not be null',
    'lg_get_tuple: NULL checkpoint_ns is 22004');

-- sg_lg_prune: strategy NULL pruned as keep_latest; NULL ids were skipped
SELECT throws_ok($$ SELECT sg_lg_prune('{le-lg}', NULL) $$, '22004', 'strategy must not be null',
    'lg_prune: NULL strategy is 22004');
SELECT throws_ok($$ SELECT sg_lg_prune('{le-lg,NULL}') $$, '22004', 'thread_ids must not hold nulls',
    'lg_prune: a NULL thread id is 22004');
SELECT throws_ok($$ SELECT sg_lg_delete_for_runs('{NULL}') $$, '22004', 'run_ids must not hold nulls',
    'lg_delete_for_runs: a NULL run id is 22004');
-- sg_lg_copy_thread into '' made a thread no sg_ function reads
SELECT throws_ok($$ SELECT sg_lg_copy_thread('le-lg', '') $$, '22023', 'target_thread_id must not be empty',
    'lg_copy_thread: an empty target is 22023');

SELECT is((SELECT row(l.*)::text FROM le_rows l), (SELECT row(b.*)::text FROM le_before b),
          'lg: the rejected calls stored and removed nothing');
SELECT is((SELECT count(*) FROM sg_lg_list('le-lg')), 2::bigint, 'lg: the thread keeps both checkpoints');
-- what the JS saver passes still works
SELECT is(sg_lg_put_writes('le-lg', '', '1ef00000-0000-6000-8000-00000000e002', 'task-1', '[["a", 5]]', ''), 1,
          'lg_put_writes: task_path '''' stores the write');
SELECT is(sg_lg_prune('{le-lg}', 'keep_latest'), 1::bigint, 'lg_prune: keep_latest given prunes');

-- stategraph.sweep_leases(NULL) swept 100 leases; its default is 100, NULL is no default
SELECT throws_ok($$ SELECT stategraph.sweep_leases(NULL) $$, '22004', 'limit must not be null',
    'sweep_leases: NULL limit is 22004');

-- External nodes: a task claimed
CREATE FUNCTION pg_temp.le_ask(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('a', sg_interrupt('"which?"')) $$;
SELECT sg_create_graph('le_x', '{"m": "append"}');
SELECT sg_add_external_node('le_x', 'agent', queue => 'le-q');
SELECT sg_add_edge('le_x', '__start__', 'agent');
SELECT sg_add_edge('le_x', 'agent', '__end__');
SELECT sg_compile('le_x');
SELECT sg_invoke('le_x', '{"m": ["hi"]}', 'le-x1');
CREATE TEMP TABLE le_claim AS SELECT task_id, token FROM sg_claim('le-q', 'w1');

-- sg_claim: a wait had no bound while a node's lease has one (24 days)
SET LOCAL statement_timeout = '2s';
SELECT throws_ok($$ SELECT * FROM sg_claim('le-none', 'w', wait => '1000000 years') $$,
    '22023', 'wait must be at most 24 days', 'claim: a wait of a million years is 22023');
SELECT throws_ok($$ SELECT * FROM sg_claim('le-none', 'w', wait => '25 days') $$,
    '22023', 'wait must be at most 24 days', 'claim: a wait of 25 days is 22023, as a lease of 25 days');
SELECT throws_ok($$ SELECT sg_add_external_node('le_x', 'agent2', lease => '25 days') $$,
    '22023', NULL, 'the same 25 days as a node''s lease: 22023');
-- 24 days, as the messages say: not the 24.8 days of int4 milliseconds
SELECT throws_ok($$ SELECT * FROM sg_claim('le-none', 'w', wait => '24 days 20 hours') $$,
    '22023', 'wait must be at most 24 days', 'claim: a wait of 24 days 20 hours is 22023');
SELECT throws_ok($$ SELECT sg_add_external_node('le_x', 'agent3', lease => '24 days 20 hours') $$,
    '22023', 'lease of node "agent3" must be at most 24 days', 'a node''s lease of 24 days 20 hours: 22023');
SELECT lives_ok($$ SELECT sg_add_external_node('le_x', 'agent4', lease => '24 days') $$,
    'a node''s lease of 24 days');
RESET statement_timeout;

-- sg_fail: error has no default (NULL recorded "the worker failed"), retry's default is true (NULL retried)
SELECT throws_ok($$ SELECT sg_fail(task_id, token, NULL) FROM le_claim $$,
    '22004', 'error must not be null', 'fail: NULL error is 22004');
SELECT throws_ok($$ SELECT sg_fail(task_id, token, '{"message": "x"}', NULL) FROM le_claim $$,
    '22004', 'retry must not be null', 'fail: NULL retry is 22004');
SELECT is((SELECT status || ' ' || attempt || ' ' || coalesce(error::text, '-') FROM sg_tasks('le-q')), 'claimed 1 -',
          'fail: the rejected calls left the task claimed, its first attempt, no error');

-- sg_submit(resume) on a thread with nothing to resume: the run was queued and
-- ended with 55000; now refused at once as sg_invoke refuses it, nothing queued
SELECT sg_create_graph('le_h', '{"a": "replace"}');
SELECT sg_add_node('le_h', 'ask', 'pg_temp.le_ask(jsonb)');
SELECT sg_add_edge('le_h', '__start__', 'ask');
SELECT sg_add_edge('le_h', 'ask', '__end__');
SELECT sg_compile('le_h');
SELECT sg_invoke('le_h', '{"a": 1}', 'le-h1');           -- paused at sg_interrupt
SELECT sg_invoke('le_h', NULL, 'le-h1', resume => '"a"'); -- answered: done, nothing pending
SELECT throws_ok($$ SELECT sg_invoke('le_h', NULL, 'le-h1', resume => '"b"') $$,
    '55000', 'thread "le-h1" has no pending interrupt to resume', 'invoke: resume with nothing pending is 55000');
CREATE TEMP TABLE le_runs AS SELECT count(*) AS n FROM stategraph.runs;
SELECT throws_ok($$ SELECT sg_submit('le_h', NULL, 'le-h1', resume => '"b"') $$,
    '55000', 'thread "le-h1" has no pending interrupt to resume', 'submit: resume with nothing pending is 55000 at once');
SELECT throws_ok($$ SELECT sg_submit('le_h', NULL, 'le-h1', resume => '"b"', multitask => 'enqueue') $$,
    '55000', NULL, 'submit: so with enqueue when no run is active or queued');
SELECT is((SELECT count(*) FROM stategraph.runs), (SELECT n FROM le_runs), 'submit: the refused resumes queued no run');
-- a run queued before the resume may pause the thread: the resume is queued behind it
SELECT isnt(sg_submit('le_h', '{"a": 2}', 'le-h1'), NULL, 'submit: a new input on the done thread');
SELECT isnt(sg_submit('le_h', NULL, 'le-h1', resume => '"c"', multitask => 'enqueue'), NULL,
            'submit: a resume enqueued behind an active run is accepted');
-- a thread that is paused takes the resume (an sg_interrupt, and an external task's interrupt)
SELECT sg_invoke('le_h', '{"a": 3}', 'le-h2');
SELECT isnt(sg_submit('le_h', NULL, 'le-h2', resume => '"d"'), NULL, 'submit: a resume of a paused thread is accepted');
SELECT sg_interrupt_task(task_id, token, '"approve?"') FROM le_claim;
SELECT isnt(sg_submit('le_x', NULL, 'le-x1', resume => '"yes"'), NULL,
            'submit: a resume of a thread whose external task asks is accepted');
-- a checkpoint travelled back to with a node to run takes a resume (as
-- LangGraph keeps it for the next interrupt()), as sg_invoke does: queued
SELECT sg_invoke('le_h', '{"a": 4}', 'le-h3');
SELECT sg_invoke('le_h', NULL, 'le-h3', resume => '"e"');
SELECT throws_ok($$ SELECT sg_submit('le_h', NULL, 'le-h3', resume => '"f"') $$,
    '55000', NULL, 'submit: resume of the finished thread is 55000');
SELECT isnt(sg_submit('le_h', NULL, 'le-h3', resume => '"f"',
                      checkpoint_id => (SELECT checkpoint_id FROM sg_get_state_history('le-h3') WHERE step = 0)), NULL,
            'submit: a resume at an older checkpoint with a node to run is accepted');

SELECT * FROM finish();
ROLLBACK;
