-- Defects a newcomer met using 0.2.0 end to end (rev9newcomer): each call
-- below used to answer with the wrong SQLSTATE or to change stored rows.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION stategraph;
SELECT plan(12);

CREATE ROLE nc_alice; CREATE ROLE nc_bob;
SET ROLE nc_alice;
SELECT sg_lg_put('nc-lg-a', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "x", "channel_values": {"a": 1},
      "channel_versions": {"a": 1}, "versions_seen": {}}', '{"source": "input", "step": -1}', '{"a": 1}');
SET ROLE nc_bob;
-- a loop checkpoint on another role's LangGraph.js thread said 40001 "was deleted
-- by another writer" (a retryable error) instead of 42501, as every other call does
SELECT throws_ok($$ SELECT sg_lg_put('nc-lg-a', '', '1ef00000-0000-6000-8000-000000000001',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000002", "ts": "x", "channel_values": {"a": 2},
      "channel_versions": {"a": 2}, "versions_seen": {}}', '{"source": "loop", "step": 0}', '{"a": 2}') $$,
    '42501', 'thread "nc-lg-a" belongs to another role', 'lg_put: a loop checkpoint on another role''s thread is 42501');
RESET ROLE;
SELECT is((SELECT count(*) FROM stategraph.lg_checkpoints WHERE thread_id = 'nc-lg-a'), 1::bigint,
          'lg_put: nothing stored on the other role''s thread');
-- and on a stategraph thread's id, 42710 (one namespace), not 40001
CREATE FUNCTION pg_temp.nc_noop(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
SELECT sg_create_graph('nc_g', '{"a": "replace"}');
SELECT sg_add_node('nc_g', 'n', 'pg_temp.nc_noop(jsonb)');
SELECT sg_add_edge('nc_g', '__start__', 'n');
SELECT sg_add_edge('nc_g', 'n', '__end__');
SELECT sg_compile('nc_g');
SELECT sg_invoke('nc_g', '{"a": 1}', 'nc-sg-1');
SELECT throws_ok($$ SELECT sg_lg_put('nc-sg-1', '', '1ef00000-0000-6000-8000-000000000001',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000002", "ts": "x", "channel_values": {"a": 2},
      "channel_versions": {"a": 2}, "versions_seen": {}}', '{"source": "loop", "step": 0}', '{"a": 2}') $$,
    '42710', NULL, 'lg_put: a loop checkpoint under a stategraph thread''s id is 42710');

-- A worker's sg_fail (retried) queued the task again with its token still
-- current: that worker's heartbeat claimed it back for a whole lease (the
-- reference worker beats until its sg_fail returns), and its sg_complete or
-- sg_interrupt_task after the failure was taken; README: SG012
SELECT sg_create_graph('nc_ext', '{"messages": "append"}');
SELECT sg_add_external_node('nc_ext', 'agent', queue => 'nc-q', retry => '{"max_attempts": 3, "backoff_ms": 0}');
SELECT sg_add_edge('nc_ext', '__start__', 'agent');
SELECT sg_add_edge('nc_ext', 'agent', '__end__');
SELECT sg_compile('nc_ext');
SELECT sg_invoke('nc_ext', '{"messages": ["hi"]}', 'nc-ext-1');
CREATE TEMP TABLE nc_claim AS SELECT task_id, token FROM sg_claim('nc-q', 'w1');
SELECT sg_fail(task_id, token, '{"message": "model down"}') FROM nc_claim;
SELECT is((SELECT sg_heartbeat(task_id, token) FROM nc_claim), false,
          'fail: the failed claim''s heartbeat is false');
SELECT throws_ok($$ SELECT sg_complete(task_id, token, '{"messages": ["late"]}') FROM nc_claim $$,
                 'SG012', NULL, 'fail: a completion under the failed claim''s token is SG012');
SELECT throws_ok($$ SELECT sg_interrupt_task(task_id, token, '"ask"') FROM nc_claim $$,
                 'SG012', NULL, 'fail: an interrupt under the failed claim''s token is SG012');
-- the same failure reported again is nothing new; another is SG012 (the first stands)
SELECT lives_ok($$ SELECT sg_fail(task_id, token, '{"message": "model down"}') FROM nc_claim $$,
                'fail: the same failure again under the failed claim''s token is taken as the first');
SELECT throws_ok($$ SELECT sg_fail(task_id, token, '{"message": "again"}') FROM nc_claim $$,
                 'SG012', NULL, 'fail: another failure under the failed claim''s token is SG012');
SELECT is((SELECT status || ' ' || attempt || ' ' || (error->>'message') FROM sg_tasks('nc-q')), 'queued 1 model down',
          'fail: the task stays queued for its retry, its failure as first reported');
SELECT is((SELECT count(*) FROM sg_claim('nc-q', 'w2') c, LATERAL sg_complete(c.task_id, c.token, '{"messages": ["ok"]}')), 1::bigint,
          'fail: the retry''s claim completes');
SELECT is((SELECT "values" FROM sg_get_state('nc-ext-1')), '{"messages": ["hi", "ok"]}'::jsonb,
          'fail: the thread has the retry''s update only');

-- A made-up token for a task nobody claimed was said to be a claim whose
-- lease expired, "claimed again (attempt 0)", "another worker has it"
CREATE FUNCTION pg_temp.nc_detail(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE d text; s text;
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, s = RETURNED_SQLSTATE;
    RETURN s || ': ' || d;
END $$;
SELECT sg_invoke('nc_ext', '{"messages": ["again"]}', 'nc-ext-2');
SELECT is(pg_temp.nc_detail(format('SELECT sg_complete(%L, gen_random_uuid(), ''{}'')',
                                   (SELECT task_id FROM sg_tasks('nc-q') WHERE thread_id = 'nc-ext-2'))),
          'SG010: The task is not claimed: it waits for a worker (0 attempts so far); the update was not taken.',
          'complete: a token for a task nobody claimed is SG010, saying so');

SELECT * FROM finish();
ROLLBACK;
