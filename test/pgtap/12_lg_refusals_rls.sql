-- stategraph's writers refuse a LangGraph.js thread with 42809 naming it
-- (sg_refuse_lg_thread, sg_refuse_lg_checkpoint): only to a role that may see
-- the thread. Another role is told what it is told of any id it cannot see
-- (42704), so the refusal does not tell it that the thread exists; nor does
-- parent_by_id let it write into the thread (42501).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION stategraph;
SELECT plan(14);

CREATE ROLE lr_alice; CREATE ROLE lr_bob; CREATE ROLE lr_carol IN ROLE lr_alice;
SET ROLE lr_alice;
SELECT sg_lg_put('lr-lg', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "x", "channel_values": {"a": 1},
      "channel_versions": {"a": 1}, "versions_seen": {}}', '{"source": "input", "step": -1}', '{"a": 1}');
SELECT sg_lg_put('lr-lg', '', '1ef00000-0000-6000-8000-000000000001',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000002", "ts": "x", "channel_values": {"a": 2},
      "channel_versions": {"a": 2}, "versions_seen": {}}', '{"source": "loop", "step": 0}', '{"a": 2}');
RESET ROLE;
CREATE TEMP VIEW lr_rows AS
    SELECT (SELECT count(*) FROM stategraph.lg_checkpoints) AS lg, (SELECT count(*) FROM stategraph.threads) AS sg;
GRANT SELECT ON lr_rows TO PUBLIC;
CREATE TEMP TABLE lr_before AS SELECT * FROM lr_rows;
GRANT SELECT ON lr_before TO PUBLIC;

SET ROLE lr_bob;
SELECT throws_ok($$ SELECT sg_update_state('lr-lg', '{"a": 3}') $$,
    '42704', 'thread "lr-lg" does not exist', 'another role: sg_update_state of the thread is 42704, not 42809');
SELECT throws_ok($$ SELECT sg_update_state('lr-bob', '{"a": 3}', checkpoint_id => '1ef00000-0000-6000-8000-000000000002') $$,
    '42704', 'checkpoint 1ef00000-0000-6000-8000-000000000002 does not exist',
    'another role: sg_update_state from one of its checkpoints is 42704, not 42809 naming the thread');
SELECT throws_ok($$ SELECT sg_fork('lr-lg', '1ef00000-0000-6000-8000-000000000002', 'lr-bob') $$,
    '42704', 'thread "lr-lg" does not exist', 'another role: sg_fork of the thread is 42704');
SELECT throws_ok($$ SELECT sg_draw_history('lr-lg') $$,
    '42704', 'thread "lr-lg" does not exist', 'another role: sg_draw_history of the thread is 42704');
-- parent_by_id relaxes the one-writer guard for the thread's owner only
SELECT throws_ok($$ SELECT sg_lg_put('lr-lg', '', '1ef00000-0000-6000-8000-000000000001',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000003", "ts": "x", "channel_values": {"a": 9},
      "channel_versions": {"a": 3}, "versions_seen": {}}', '{"source": "input", "step": 0}', '{"a": 3}',
    parent_by_id => true) $$,
    '42501', 'thread "lr-lg" belongs to another role', 'another role: a put with parent_by_id is 42501');
SELECT results_eq('SELECT * FROM lr_rows', 'SELECT * FROM lr_before', 'another role''s calls stored nothing');

-- a member of the owner sees the thread, and is told what it is
SET ROLE lr_carol;
SELECT throws_ok($$ SELECT sg_update_state('lr-lg', '{"a": 3}') $$,
    '42809', 'thread "lr-lg" is a LangGraph.js thread', 'a member of the owner: sg_update_state is 42809');
SELECT throws_ok($$ SELECT sg_update_state('lr-carol', '{"a": 3}', checkpoint_id => '1ef00000-0000-6000-8000-000000000002') $$,
    '42809', 'checkpoint 1ef00000-0000-6000-8000-000000000002 belongs to LangGraph.js thread "lr-lg"',
    'a member of the owner: sg_update_state from one of its checkpoints is 42809');
SELECT throws_ok($$ SELECT sg_fork('lr-lg', '1ef00000-0000-6000-8000-000000000002', 'lr-carol') $$,
    '42809', 'thread "lr-lg" is a LangGraph.js thread', 'a member of the owner: sg_fork is 42809');
SELECT results_eq('SELECT * FROM lr_rows', 'SELECT * FROM lr_before', 'the refusals stored nothing');
RESET ROLE;

-- Writes of another role under an id without a checkpoint (strays) are not
-- the caller's to remove: an import or a copy into the id is refused as for
-- another role's thread, not failed on their key as if the export had it
-- twice (SGX01), nor stored beside them (they stayed in the thread for good)
SET ROLE lr_bob;
SELECT sg_lg_put_writes('lr-taken', '', '1ef00000-0000-6000-8000-000000000001', 'task-1', '[["a", 5]]');
SET ROLE lr_alice;
SELECT throws_ok($$ SELECT sg_import_thread(sg_export_thread('lr-lg'), 'lr-taken') $$,
    '42501', 'thread "lr-taken" belongs to another role', 'an import into an id with another role''s writes is 42501');
SELECT throws_ok($$ SELECT sg_lg_copy_thread('lr-lg', 'lr-taken') $$,
    '42501', 'thread "lr-taken" belongs to another role', 'a copy into an id with another role''s writes is 42501');
SELECT results_eq('SELECT * FROM lr_rows', 'SELECT * FROM lr_before', 'the refused import and copy stored nothing');
-- the caller's own strays go as before
SELECT sg_lg_put_writes('lr-mine', '', '1ef00000-0000-6000-8000-000000000001', 'task-1', '[["a", 5]]');
SELECT is(sg_import_thread(sg_export_thread('lr-lg'), 'lr-mine'), 'lr-mine', 'an import into an id with the caller''s own strays takes it');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
