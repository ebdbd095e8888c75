-- External nodes: the signatures of RUNTIME.md, and every bad call a worker
-- can make (unknown task, wrong token, bad update, negative lease, n <= 0,
-- calls after cancel or completion) is an ERROR with its own SQLSTATE that
-- leaves tasks, checkpoints and threads exactly as they were.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION stategraph;
SELECT plan(60);

-- signatures and types
SELECT has_function('sg_add_external_node', ARRAY['text', 'text', 'text', 'jsonb', 'interval']);
SELECT function_returns('sg_add_external_node', ARRAY['text', 'text', 'text', 'jsonb', 'interval'], 'void');
SELECT has_function('sg_claim', ARRAY['text', 'text', 'integer', 'interval', 'interval']);
SELECT function_returns('sg_claim', ARRAY['text', 'text', 'integer', 'interval', 'interval'], 'setof sg_task');
SELECT has_function('sg_heartbeat', ARRAY['text', 'uuid', 'interval']);
SELECT function_returns('sg_heartbeat', ARRAY['text', 'uuid', 'interval'], 'boolean');
SELECT has_function('sg_complete', ARRAY['text', 'uuid', 'jsonb']);
SELECT function_returns('sg_complete', ARRAY['text', 'uuid', 'jsonb'], 'void');
SELECT has_function('sg_fail', ARRAY['text', 'uuid', 'jsonb', 'boolean']);
SELECT function_returns('sg_fail', ARRAY['text', 'uuid', 'jsonb', 'boolean'], 'void');
SELECT has_function('sg_interrupt_task', ARRAY['text', 'uuid', 'jsonb']);
SELECT function_returns('sg_interrupt_task', ARRAY['text', 'uuid', 'jsonb'], 'void');
SELECT has_function('sg_tasks', ARRAY['text', 'text']);
SELECT function_returns('sg_tasks', ARRAY['text', 'text'], 'setof sg_task_status');
SELECT is((SELECT proargnames FROM pg_proc WHERE proname = 'sg_claim'),
          ARRAY['queue', 'worker', 'n', 'lease', 'wait'], 'sg_claim argument names');
SELECT is((SELECT proargnames FROM pg_proc WHERE proname = 'sg_add_external_node'),
          ARRAY['graph', 'node', 'queue', 'retry', 'lease'], 'sg_add_external_node argument names');
SELECT is((SELECT proargnames FROM pg_proc WHERE proname = 'sg_fail'),
          ARRAY['task_id', 'token', 'error', 'retry'], 'sg_fail argument names');
SELECT columns_are('public', 'sg_task',
       ARRAY['task_id', 'token', 'queue', 'graph', 'thread_id', 'node', 'step', 'attempt', 'input',
             'config', 'resume', 'lease_expires_at']);
SELECT has_type('sg_task_status');
SELECT col_type_is('public', 'sg_task', 'token', 'uuid', 'tokens are uuids');
SELECT has_column('stategraph', 'tasks', 'owner', 'tasks have an owner');
SELECT is((SELECT relrowsecurity FROM pg_class WHERE oid = 'stategraph.tasks'::regclass), true,
          'tasks have row-level security');
SELECT is((SELECT count(*)::int FROM pg_description d JOIN pg_proc p ON p.oid = d.objoid
           WHERE p.proname IN ('sg_add_external_node', 'sg_claim', 'sg_heartbeat', 'sg_complete', 'sg_fail',
                               'sg_interrupt_task', 'sg_tasks', 'sweep_leases')), 8,
          'every function of external nodes has a comment');

-- a thread waiting for two tasks: one claimed, one queued; another one cancelled
SELECT sg_create_graph('g', '{"answer": "replace", "n": "add"}');
SELECT sg_add_external_node('g', 'model', 'q', '{"max_attempts": 2, "backoff_ms": 0}', '1 hour');
SELECT sg_add_external_node('g', 'tool', 'q');
SELECT sg_add_edge('g', '__start__', 'model');
SELECT sg_add_edge('g', '__start__', 'tool');
SELECT sg_add_edge('g', 'model', '__end__');
SELECT sg_add_edge('g', 'tool', '__end__');
SELECT sg_compile('g');
SELECT sg_invoke('g', '{"n": 1}', 'gone');
SELECT count(*) FROM sg_claim('q', 'w', 2);
SELECT sg_update_state('gone', '{"n": 5}');
SELECT sg_invoke('g', '{"n": 1}', 't');
CREATE TEMP TABLE claimed AS SELECT task_id, token FROM sg_claim('q', 'w', 1);
CREATE TEMP TABLE queued AS SELECT task_id FROM stategraph.tasks WHERE status = 'queued';
CREATE TEMP TABLE cancelled AS SELECT task_id, token FROM stategraph.tasks WHERE status = 'cancelled' LIMIT 1;
SELECT is((SELECT count(*)::int FROM claimed), 1, 'one task claimed');
SELECT is((SELECT count(*)::int FROM queued), 1, 'one task queued');

-- what storage holds now; every rejected call below must leave it so
CREATE TEMP TABLE stored AS
SELECT (SELECT jsonb_agg(to_jsonb(c) ORDER BY thread_id, checkpoint_id) FROM stategraph.checkpoints c) AS checkpoints,
       (SELECT jsonb_agg(to_jsonb(t) - 'updated_at' ORDER BY thread_id) FROM stategraph.threads t) AS threads,
       (SELECT jsonb_agg(to_jsonb(k) ORDER BY task_id) FROM stategraph.tasks k) AS tasks;
CREATE FUNCTION pg_temp.unchanged() RETURNS boolean LANGUAGE sql AS $$
    SELECT (SELECT jsonb_agg(to_jsonb(c) ORDER BY thread_id, checkpoint_id) FROM stategraph.checkpoints c) = s.checkpoints
       AND (SELECT jsonb_agg(to_jsonb(t) - 'updated_at' ORDER BY thread_id) FROM stategraph.threads t) = s.threads
       AND (SELECT jsonb_agg(to_jsonb(k) ORDER BY task_id) FROM stategraph.tasks k) = s.tasks
    FROM stored s $$;

SELECT throws_ok($$ SELECT sg_complete('nope', gen_random_uuid(), '{}') $$, '42704', NULL, 'complete: unknown task');
SELECT throws_ok($$ SELECT sg_heartbeat('nope', gen_random_uuid()) $$, '42704', NULL, 'heartbeat: unknown task');
SELECT throws_ok($$ SELECT sg_fail('nope', gen_random_uuid(), '{}') $$, '42704', NULL, 'fail: unknown task');
SELECT throws_ok($$ SELECT sg_interrupt_task('nope', gen_random_uuid(), '1') $$, '42704', NULL, 'interrupt_task: unknown task');
SELECT throws_ok($$ SELECT sg_complete(task_id, gen_random_uuid(), '{"answer": 1}') FROM claimed $$, 'SG010', NULL,
                 'complete: wrong token');
SELECT throws_ok($$ SELECT sg_fail(task_id, gen_random_uuid(), '{}') FROM claimed $$, 'SG010', NULL, 'fail: wrong token');
SELECT throws_ok($$ SELECT sg_complete(task_id, gen_random_uuid(), '{"answer": 1}') FROM queued $$, 'SG010', NULL,
                 'complete: a task never claimed');
SELECT throws_ok($$ SELECT sg_complete(task_id, token, '{"wrong": 1}') FROM claimed $$, '42703', NULL,
                 'complete: an update of an unknown channel');
SELECT throws_ok($$ SELECT sg_complete(task_id, token, '"x"') FROM claimed $$, 'SG003', NULL, 'complete: a non-object update');
SELECT throws_ok($$ SELECT sg_complete(task_id, token, NULL) FROM claimed $$, 'SG003', NULL, 'complete: a null update');
SELECT throws_ok($$ SELECT sg_complete(task_id, NULL, '{}') FROM claimed $$, '22004', NULL, 'complete: token NULL');
SELECT throws_ok($$ SELECT sg_complete(task_id, token, '{"answer": 1}') FROM cancelled $$, 'SG011', NULL,
                 'complete: a cancelled task');
SELECT throws_ok($$ SELECT sg_interrupt_task(task_id, token, '1') FROM cancelled $$, 'SG011', NULL,
                 'interrupt_task: a cancelled task');
SELECT throws_ok($$ SELECT * FROM sg_claim('q', 'w', 0) $$, '22023', NULL, 'claim: n = 0');
SELECT throws_ok($$ SELECT * FROM sg_claim('q', 'w', -1) $$, '22023', NULL, 'claim: n < 0');
SELECT throws_ok($$ SELECT * FROM sg_claim('q', 'w', lease => '-1 minute') $$, '22023', NULL, 'claim: negative lease');
SELECT throws_ok($$ SELECT * FROM sg_claim('q', 'w', lease => '0') $$, '22023', NULL, 'claim: zero lease');
SELECT throws_ok($$ SELECT * FROM sg_claim('q', 'w', wait => '-1 s') $$, '22023', NULL, 'claim: negative wait');
SELECT throws_ok($$ SELECT * FROM sg_claim(NULL, 'w') $$, '22004', NULL, 'claim: queue NULL');
SELECT throws_ok($$ SELECT * FROM sg_claim('q', '') $$, '22023', NULL, 'claim: worker empty');
SELECT throws_ok($$ SELECT sg_heartbeat(task_id, token, '-1 s') FROM claimed $$, '22023', NULL, 'heartbeat: negative extend');
SELECT throws_ok($$ SELECT sg_add_external_node('g', 'x', 'q', lease => '-1 s') $$, '22023', NULL,
                 'add_external_node: negative lease');
SELECT throws_ok($$ SELECT sg_add_external_node('g', 'x', 'q', lease => '30 days') $$, '22023', NULL,
                 'add_external_node: a lease longer than the spec can hold');
SELECT throws_ok($$ SELECT sg_add_external_node('g', 'x', 'q', '{"max_attempts": "x"}') $$, '22023', NULL,
                 'add_external_node: bad retry');
SELECT throws_ok($$ SELECT sg_add_external_node('nope', 'x', 'q') $$, '42704', NULL, 'add_external_node: unknown graph');
SELECT throws_ok($$ SELECT * FROM sg_tasks(status => 'nope') $$, '22023', NULL, 'tasks: unknown status');
SELECT ok(pg_temp.unchanged(), 'nothing stored changed');
SELECT is((SELECT sg_heartbeat(task_id, gen_random_uuid()) FROM claimed), false, 'heartbeat with a wrong token: false');
SELECT is((SELECT sg_heartbeat(task_id, token) FROM cancelled), false, 'heartbeat of a cancelled task: false');
SELECT ok(pg_temp.unchanged(), 'still nothing changed');

-- completed: the same completion again is a no-op, another one is refused
SELECT lives_ok($$ SELECT sg_complete(task_id, token, '{"answer": 1}') FROM claimed $$, 'complete');
CREATE TEMP TABLE after_complete AS SELECT to_jsonb(k) AS row FROM stategraph.tasks k WHERE task_id = (SELECT task_id FROM claimed);
SELECT lives_ok($$ SELECT sg_complete(task_id, token, '{"answer": 1}') FROM claimed $$, 'complete again: no-op');
SELECT throws_ok($$ SELECT sg_complete(task_id, token, '{"answer": 2}') FROM claimed $$, 'SG012', NULL,
                 'complete again with another update');
SELECT throws_ok($$ SELECT sg_fail(task_id, token, '{}') FROM claimed $$, 'SG012', NULL, 'fail after complete');
SELECT is((SELECT to_jsonb(k) FROM stategraph.tasks k WHERE task_id = (SELECT task_id FROM claimed)),
          (SELECT row FROM after_complete), 'the completed task is as the first completion left it');

SELECT * FROM finish();
ROLLBACK;
