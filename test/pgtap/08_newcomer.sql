-- Defects a newcomer met using 0.2.0 end to end (rev9newcomer): each call
-- below used to answer with the wrong SQLSTATE or to change stored rows.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION stategraph;
SELECT plan(3);

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

SELECT * FROM finish();
ROLLBACK;
