--
-- Owners are recorded by role name: after ALTER ROLE ... RENAME a role no
-- longer sees its rows until sg_reassign_owned gives them to its new name,
-- and before DROP ROLE sg_reassign_owned keeps a role created later under
-- the dropped name from seeing them.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP SCHEMA IF EXISTS role_rename CASCADE;
DROP ROLE IF EXISTS regress_rn_alice;
DROP ROLE IF EXISTS regress_rn_alice2;
DROP ROLE IF EXISTS regress_rn_bob;
CREATE SCHEMA role_rename;
GRANT USAGE, CREATE ON SCHEMA role_rename TO PUBLIC;
SET search_path = role_rename;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY terse

CREATE ROLE regress_rn_alice;
CREATE ROLE regress_rn_bob;
SET ROLE regress_rn_alice;
CREATE FUNCTION rn_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('rn_graph', '{"n": "add"}');
SELECT sg_add_node('rn_graph', 'step', 'rn_step(jsonb)');
SELECT sg_add_edge('rn_graph', '__start__', 'step');
SELECT sg_add_edge('rn_graph', 'step', '__end__');
SELECT sg_compile('rn_graph');
SELECT sg_invoke('rn_graph', '{"n": 1}', 'rn-alice-1');
SELECT sg_lg_put('rn-alice-lg', '', NULL,
                 '{"v": 4, "id": "1ef4f797-8335-6428-8001-8a1503f9b801", "ts": "2024-01-01T00:00:00Z",
                   "channel_values": {"x": [1, 2]}, "channel_versions": {"x": 1}, "versions_seen": {}}',
                 '{"source": "input", "step": -1}', '{"x": 1}') IS NOT NULL AS lg_put;
-- a run that waits an hour: still pending when its submitter is renamed
SELECT sg_submit('rn_graph', '{"n": 5}', 'rn-alice-1', after => '1 hour') AS run_id \gset
RESET ROLE;

ALTER ROLE regress_rn_alice RENAME TO regress_rn_alice2;
SET ROLE regress_rn_alice2;
-- her rows are still recorded as regress_rn_alice's: she sees none of them
SELECT count(*) AS threads_seen FROM sg_threads();
SELECT count(*) AS runs_seen FROM sg_runs();
SELECT sg_lg_get_tuple('rn-alice-lg') IS NULL AS lg_unseen;
-- nor can she take them back herself (row-level security keeps other roles' rows)
SELECT sg_reassign_owned('regress_rn_alice', 'regress_rn_alice2');
RESET ROLE;

-- bad arguments: a clear error, nothing changed
SELECT sg_reassign_owned('regress_rn_alice', 'regress_rn_nobody');
SELECT sg_reassign_owned(NULL, 'regress_rn_alice2');
-- her pending run would execute as a superuser, or above row-level security: refused
CREATE ROLE regress_rn_super SUPERUSER;
CREATE ROLE regress_rn_admin BYPASSRLS;
SELECT sg_reassign_owned('regress_rn_alice', 'regress_rn_super');
SELECT sg_reassign_owned('regress_rn_alice', 'regress_rn_admin');
DROP ROLE regress_rn_super, regress_rn_admin;
SELECT count(*) AS still_old FROM stategraph.threads WHERE owner = 'regress_rn_alice';
-- a superuser gives them to her new name: the graph, the thread, the run and the LangGraph.js thread
SELECT sg_reassign_owned('regress_rn_alice', 'regress_rn_alice2') AS reassigned;
SELECT sg_reassign_owned('regress_rn_alice', 'regress_rn_alice2') AS again;
SELECT sg_reassign_owned('regress_rn_alice2', 'regress_rn_alice2') AS same_role;
SELECT (SELECT count(*) FROM stategraph.lg_checkpoints WHERE owner = 'regress_rn_alice')
     + (SELECT count(*) FROM stategraph.lg_blobs WHERE owner = 'regress_rn_alice') AS lg_rows_left;

SET ROLE regress_rn_alice2;
SELECT thread_id, graph, status FROM sg_threads() ORDER BY thread_id;
SELECT status FROM sg_runs('rn-alice-1');
SELECT sg_lg_get_tuple('rn-alice-lg')::jsonb -> 'channel_values' AS lg_values;
-- and works on them as before: a step, a LangGraph.js put, a cancel
SELECT sg_invoke('rn_graph', '{"n": 1}', 'rn-alice-1') AS invoked;
SELECT sg_lg_put('rn-alice-lg', '', '1ef4f797-8335-6428-8001-8a1503f9b801',
                 '{"v": 4, "id": "1ef4f797-8335-6428-8001-8a1503f9b802", "ts": "2024-01-01T00:00:01Z",
                   "channel_values": {"x": [1, 2, 3]}, "channel_versions": {"x": 2}, "versions_seen": {}}',
                 '{"source": "loop", "step": 0}', '{"x": 2}') IS NOT NULL AS lg_put;
SELECT sg_lg_get_tuple('rn-alice-lg')::jsonb -> 'channel_values' AS lg_values;
SELECT sg_cancel(:'run_id') AS cancelled;
RESET ROLE;

-- before DROP ROLE: her rows go to bob, and a new role under her name sees none
SELECT sg_reassign_owned('regress_rn_alice2', 'regress_rn_bob') AS to_bob;
REASSIGN OWNED BY regress_rn_alice2 TO regress_rn_bob;
DROP ROLE regress_rn_alice2;
CREATE ROLE regress_rn_alice2;
SET ROLE regress_rn_alice2;
SELECT count(*) AS new_role_sees FROM sg_threads();
SELECT sg_lg_get_tuple('rn-alice-lg') IS NULL AS new_role_lg_unseen;
SET ROLE regress_rn_bob;
SELECT thread_id, status FROM sg_threads() ORDER BY thread_id;
SELECT "values" FROM sg_get_state('rn-alice-1');
RESET ROLE;

-- names that need quotes, a key both roles used, and the rename and the
-- reassignment in one transaction (no moment when the rows have no role)
CREATE ROLE "Regress Rn ""Carol""";
GRANT EXECUTE ON FUNCTION rn_step(jsonb) TO PUBLIC;
SET ROLE "Regress Rn ""Carol""";
SELECT sg_invoke('rn_graph', '{"n": 1}', 'rn-carol-1');
SELECT sg_submit('rn_graph', '{"n": 1}', 'rn-carol-1', after => '1 hour', idempotency_key => 'k1') AS carol_run \gset
SET ROLE regress_rn_bob;
SELECT sg_submit('rn_graph', '{"n": 1}', 'rn-alice-1', after => '1 hour', idempotency_key => 'k1') AS bob_run \gset
RESET ROLE;
BEGIN;
ALTER ROLE "Regress Rn ""Carol""" RENAME TO "Regress Rn Carol's";
SELECT sg_reassign_owned('Regress Rn "Carol"', 'Regress Rn Carol''s') AS renamed;
COMMIT;
SET ROLE "Regress Rn Carol's";
SELECT thread_id, status FROM sg_threads() ORDER BY thread_id;
SELECT count(*) AS runs_seen FROM sg_runs();
RESET ROLE;
-- to bob, who used the same key: bob's run keeps it, hers goes on without it
SELECT sg_reassign_owned('Regress Rn Carol''s', 'regress_rn_bob') AS to_bob;
SELECT run_id = :'bob_run' AS bobs_own, idempotency_key, status FROM stategraph.runs
WHERE run_id IN (:'carol_run', :'bob_run') ORDER BY run_id = :'bob_run';
SET ROLE regress_rn_bob;
SELECT sg_submit('rn_graph', '{"n": 1}', 'rn-alice-1', after => '1 hour', idempotency_key => 'k1') = :'bob_run' AS key_finds_bobs;
RESET ROLE;

SET client_min_messages = warning;
DROP SCHEMA role_rename CASCADE;
DROP OWNED BY regress_rn_alice2, regress_rn_bob, "Regress Rn Carol's";
DROP ROLE regress_rn_alice2;
DROP ROLE regress_rn_bob;
DROP ROLE "Regress Rn Carol's";
