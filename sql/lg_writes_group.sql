--
-- A group role's LangGraph.js writes under a thread id without a checkpoint,
-- then a member's first checkpoint there: the checkpoint was the member's
-- and the writes the group's, a thread of two owners' rows whose export no
-- import took (SGX01), the member's own included. The thread is the
-- group's now, as a member's later rows of a group's thread are.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_lgw_member;
DROP ROLE IF EXISTS regress_lgw_team;
CREATE SCHEMA lg_writes_group;
SET search_path = lg_writes_group;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
CREATE ROLE regress_lgw_team;
CREATE ROLE regress_lgw_member IN ROLE regress_lgw_team;
GRANT USAGE ON SCHEMA lg_writes_group TO regress_lgw_team, regress_lgw_member;

SET ROLE regress_lgw_team;
SELECT sg_lg_put_writes('wg-1', '', '1ef00000-0000-6000-8000-000000000001', 'task-t', '[["m", [4]]]');
RESET ROLE;
SET ROLE regress_lgw_member;
SELECT sg_lg_put('wg-1', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "channel_versions": {"m": 1}, "versions_seen": {}}',
    '{"source": "input", "step": -1}', '{"m": 1}', channel_values => '{"m": [1, 2, 3]}');
SELECT sg_lg_put_writes('wg-1', '', '1ef00000-0000-6000-8000-000000000001', 'task-m', '[["m", [5]]]');
SELECT t -> 'pending_writes' AS writes FROM sg_lg_get_tuple('wg-1', '') t;
-- the member's export imports (it was SGX01: rows of more than one owner)
SELECT sg_import_thread(sg_export_thread('wg-1'), 'wg-1-copy');
RESET ROLE;
-- a caller above row-level security (a superuser here) sees every role's
-- writes: another role's stray write under the id does not make the
-- caller's new thread that role's (which could then read it)
SET ROLE regress_lgw_team;
SELECT sg_lg_put_writes('wg-2', '', '1ef00000-0000-6000-8000-000000000001', 'task-t', '[["m", [6]]]');
RESET ROLE;
SELECT sg_lg_put('wg-2', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "channel_versions": {"m": 1}, "versions_seen": {}}',
    '{"source": "input", "step": -1}', '{"m": 1}', channel_values => '{"m": [7]}');
SET ROLE regress_lgw_team;
SELECT sg_lg_get_tuple('wg-2', '') IS NULL AS superusers_thread_hidden;
RESET ROLE;
SELECT 'checkpoint' AS kind, thread_id, CASE WHEN owner = CURRENT_USER THEN '(superuser)' ELSE owner END AS owner
FROM stategraph.lg_checkpoints WHERE thread_id LIKE 'wg-%'
UNION ALL SELECT 'write', thread_id, owner FROM stategraph.lg_writes WHERE thread_id LIKE 'wg-%' ORDER BY 2, 1, 3;

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA lg_writes_group CASCADE;
DROP ROLE regress_lgw_member;
DROP ROLE regress_lgw_team;
