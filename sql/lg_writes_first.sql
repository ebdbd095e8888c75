--
-- Another role's LangGraph.js writes under a thread id without a checkpoint
-- (sent ahead of a first put, or after a delete) made a first checkpoint of
-- the caller's there take them in: rows of its thread it can neither see
-- nor remove, which the sweep no longer removes (the id has a checkpoint),
-- and a superuser's export of the thread then failed to import (SGX01: rows
-- of more than one owner). The first put is refused as for an id of another
-- role's thread (42501), as an import or copy into the id is; the id's
-- writes of the caller's own are no obstacle.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_lgw_a;
DROP ROLE IF EXISTS regress_lgw_b;
CREATE SCHEMA lg_writes_first;
SET search_path = lg_writes_first;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
CREATE ROLE regress_lgw_a;
CREATE ROLE regress_lgw_b;
GRANT USAGE ON SCHEMA lg_writes_first TO regress_lgw_a, regress_lgw_b;
CREATE FUNCTION first_put(thread_id text) RETURNS uuid LANGUAGE sql AS $$
    SELECT sg_lg_put(thread_id, '', NULL,
        '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "channel_versions": {"m": 1}, "versions_seen": {}}',
        '{"source": "input", "step": -1}', '{"m": 1}', channel_values => '{"m": [1, 2, 3]}') $$;

-- b writes under 'wf-1' before any checkpoint of it (a write of a checkpoint to come)
SET ROLE regress_lgw_b;
SELECT sg_lg_put_writes('wf-1', '', '1ef00000-0000-6000-8000-0000000000ff', 'task-b', '[["m", [4]]]');
RESET ROLE;
-- a's first checkpoint there: refused, nothing stored
SET ROLE regress_lgw_a;
SELECT first_put('wf-1');
RESET ROLE;
SELECT count(*) AS checkpoints FROM stategraph.lg_checkpoints WHERE thread_id = 'wf-1';
-- as a's import and copy into the id are
SET ROLE regress_lgw_a;
SELECT first_put('wf-src');
SELECT sg_lg_copy_thread('wf-src', 'wf-1');
RESET ROLE;

-- writes of a's own under an id are a's to build on: the first put is stored
-- and reads them
SET ROLE regress_lgw_a;
SELECT sg_lg_put_writes('wf-2', '', '1ef00000-0000-6000-8000-000000000001', 'task-a', '[["m", [4]]]');
SELECT first_put('wf-2');
SELECT t -> 'pending_writes' AS writes FROM sg_lg_get_tuple('wf-2', '') t;
RESET ROLE;
SELECT thread_id, owner FROM stategraph.lg_writes WHERE thread_id LIKE 'wf-%' ORDER BY 1, 2;
SELECT thread_id, owner FROM stategraph.lg_checkpoints WHERE thread_id LIKE 'wf-%' ORDER BY 1, 2;

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA lg_writes_first CASCADE;
DROP ROLE regress_lgw_a;
DROP ROLE regress_lgw_b;
