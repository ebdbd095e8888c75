--
-- A queued run whose graph is dropped and created again before the run
-- starts (here by another role, with its own node function) ends with
-- status error (42704) instead of running the new definition's nodes as
-- its submitter. A recompiled graph is the same graph: its runs run.
-- Background workers may execute these runs too; every check waits for the
-- run first, so the outcome is the same whoever executes it.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP SCHEMA IF EXISTS nc_runs CASCADE;
DROP ROLE IF EXISTS regress_sg_nc_alice;
DROP ROLE IF EXISTS regress_sg_nc_bob;
CREATE SCHEMA nc_runs;
SET search_path = nc_runs;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE regress_sg_nc_alice;
CREATE ROLE regress_sg_nc_bob;
GRANT USAGE, CREATE ON SCHEMA nc_runs TO regress_sg_nc_alice, regress_sg_nc_bob;
CREATE FUNCTION owner_node(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('log', jsonb_build_array('owner''s node as ' || current_user)) $$;
SELECT sg_create_graph('nc_shared', '{"log": "append"}');
SELECT sg_add_node('nc_shared', 'n', 'owner_node(jsonb)');
SELECT sg_add_edge('nc_shared', '__start__', 'n');
SELECT sg_add_edge('nc_shared', 'n', '__end__');
SELECT sg_compile('nc_shared');

-- alice queues two runs of it for later
SET ROLE regress_sg_nc_alice;
SELECT sg_submit('nc_shared', '{}', 'nc-alice-1', after => '2 s') AS replaced \gset
SELECT sg_submit('nc_shared', '{}', 'nc-alice-2', after => '2 s') AS recompiled \gset
RESET ROLE;

-- the owner recompiles: the same graph, the run runs it
SELECT sg_compile('nc_shared');
SELECT status, error FROM sg_wait(:'recompiled', '30 s');
SET ROLE regress_sg_nc_alice;
SELECT "values" FROM sg_get_state('nc-alice-2');
RESET ROLE;

-- the owner drops it and bob makes a graph of that name with his own node
SELECT sg_submit('nc_shared', '{}', 'nc-alice-3', after => '5 s') IS NOT NULL AS queued;
SET ROLE regress_sg_nc_alice;
SELECT sg_submit('nc_shared', '{}', 'nc-alice-4', after => '5 s') AS replaced \gset
RESET ROLE;
SELECT sg_drop_graph('nc_shared');
SET ROLE regress_sg_nc_bob;
CREATE FUNCTION bob_node(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('log', jsonb_build_array('bob''s node as ' || current_user)) $$;
SELECT sg_create_graph('nc_shared', '{"log": "append"}');
SELECT sg_add_node('nc_shared', 'n', 'bob_node(jsonb)');
SELECT sg_add_edge('nc_shared', '__start__', 'n');
SELECT sg_add_edge('nc_shared', 'n', '__end__');
SELECT sg_compile('nc_shared');
RESET ROLE;
SET ROLE regress_sg_nc_alice;
SELECT status, error->>'sqlstate' AS sqlstate, error->>'message' AS message FROM sg_wait(:'replaced', '30 s');
SELECT count(*) AS threads FROM sg_threads() WHERE thread_id = 'nc-alice-4';
-- a run submitted now takes bob's graph, as sg_invoke does
SELECT sg_submit('nc_shared', '{}', 'nc-alice-5') AS now_run \gset
SELECT status FROM sg_wait(:'now_run', '30 s');
SELECT "values" FROM sg_get_state('nc-alice-5');
RESET ROLE;
SELECT thread_id, status, error->>'sqlstate' AS sqlstate FROM sg_runs() WHERE thread_id = 'nc-alice-3';

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA nc_runs CASCADE;
DROP ROLE regress_sg_nc_alice;
DROP ROLE regress_sg_nc_bob;
