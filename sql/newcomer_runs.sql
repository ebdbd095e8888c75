--
-- A queued run whose graph is dropped and created again before the run
-- starts (here by another role, with its own node function) ends with
-- status error (42704) instead of running the new definition's nodes as
-- its submitter. A recompiled graph is the same graph: its runs run.
-- Likewise an external task queued before its graph was dropped and made
-- again (with an external node of that name) is stale: its completion is
-- refused (SG011) instead of going on with the new definition's nodes.
-- Background workers may execute these runs too; every check waits for the
-- run first, so the outcome is the same whoever executes it.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP SCHEMA IF EXISTS nc_runs CASCADE;
DROP ROLE IF EXISTS regress_sg_nc_alice;
DROP ROLE IF EXISTS regress_sg_nc_bob;
DROP ROLE IF EXISTS regress_sg_nc_carol;
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
-- (the runs are made due by hand once he has: they must not start before)
SELECT sg_submit('nc_shared', '{}', 'nc-alice-3', after => '1 hour') AS queued \gset
SET ROLE regress_sg_nc_alice;
SELECT sg_submit('nc_shared', '{}', 'nc-alice-4', after => '1 hour') AS replaced \gset
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
UPDATE stategraph.runs SET not_before = now() WHERE run_id IN (:'queued', :'replaced');
SET client_min_messages = error;  -- the runs' failure WARNINGs show only if this session runs them
CALL sg_work();
RESET client_min_messages;
SET ROLE regress_sg_nc_alice;
SELECT status, error->>'sqlstate' AS sqlstate, error->>'message' AS message FROM sg_wait(:'replaced', '30 s');
SELECT count(*) AS threads FROM sg_threads() WHERE thread_id = 'nc-alice-4';
-- a run submitted now takes bob's graph, as sg_invoke does
SELECT sg_submit('nc_shared', '{}', 'nc-alice-5') AS now_run \gset
SELECT status FROM sg_wait(:'now_run', '30 s');
SELECT "values" FROM sg_get_state('nc-alice-5');
RESET ROLE;
SELECT thread_id, status, error->>'sqlstate' AS sqlstate FROM sg_wait(:'queued', '30 s');

-- carol's graph with an external node; alice's thread waits on its task
CREATE ROLE regress_sg_nc_carol;
GRANT USAGE ON SCHEMA nc_runs TO regress_sg_nc_carol;
SET ROLE regress_sg_nc_carol;
SELECT sg_create_graph('nc_ext', '{"log": "append"}');
SELECT sg_add_external_node('nc_ext', 'agent', queue => 'nc-q');
SELECT sg_add_edge('nc_ext', '__start__', 'agent');
SELECT sg_add_edge('nc_ext', 'agent', '__end__');
SELECT sg_compile('nc_ext');
SET ROLE regress_sg_nc_alice;
SELECT sg_invoke('nc_ext', '{}', 'nc-ext-1') ? '__waiting__' AS waiting;
SELECT task_id, token FROM sg_claim('nc-q', 'alice-worker') \gset
-- carol drops it (her sg_drop_graph cannot see alice's task); bob makes it again
SET ROLE regress_sg_nc_carol;
SELECT sg_drop_graph('nc_ext');
SET ROLE regress_sg_nc_bob;
SELECT sg_create_graph('nc_ext', '{"log": "append"}');
SELECT sg_add_external_node('nc_ext', 'agent', queue => 'nc-q');
SELECT sg_add_node('nc_ext', 'n', 'bob_node(jsonb)');
SELECT sg_add_edge('nc_ext', '__start__', 'agent');
SELECT sg_add_edge('nc_ext', 'agent', 'n');
SELECT sg_add_edge('nc_ext', 'n', '__end__');
SELECT sg_compile('nc_ext');
SET ROLE regress_sg_nc_alice;
\set VERBOSITY sqlstate
SELECT sg_complete(:'task_id', :'token', '{"log": ["model"]}');
\set VERBOSITY default
SELECT "values" FROM sg_get_state('nc-ext-1');
SELECT sg_heartbeat(:'task_id', :'token');
SELECT status FROM sg_tasks('nc-q');
RESET ROLE;

-- A graph is told from the graphs made earlier under its name by its
-- generation (graphs.gen), which the server gives: a recompile keeps it, a
-- drop and create changes it, and bob, making a graph again under a name,
-- can neither give it the generation of the graph he took the name from
-- (whose queued runs would then take his nodes) nor change it afterwards
SELECT sg_create_graph('nc_gen', '{"log": "append"}');
SELECT sg_add_node('nc_gen', 'n', 'owner_node(jsonb)');
SELECT sg_add_edge('nc_gen', '__start__', 'n');
SELECT sg_add_edge('nc_gen', 'n', '__end__');
SELECT sg_compile('nc_gen');
SELECT gen AS old_gen, channels AS old_channels FROM stategraph.graphs WHERE graph = 'nc_gen' \gset
SET ROLE regress_sg_nc_alice;
SELECT sg_submit('nc_gen', '{}', 'nc-alice-6', after => '1 hour') AS forged \gset
RESET ROLE;
SELECT sg_compile('nc_gen');
SELECT gen = :old_gen AS recompiled_keeps_gen FROM stategraph.graphs WHERE graph = 'nc_gen';
SELECT sg_drop_graph('nc_gen');
SET ROLE regress_sg_nc_bob;
INSERT INTO stategraph.graphs (graph, channels, gen) OVERRIDING SYSTEM VALUE
    VALUES ('nc_gen', :'old_channels', :old_gen);
SELECT gen = :old_gen AS bob_took_its_gen, gen > :old_gen AS new_gen FROM stategraph.graphs WHERE graph = 'nc_gen';
UPDATE stategraph.graphs SET gen = :old_gen WHERE graph = 'nc_gen';
SELECT sg_add_node('nc_gen', 'n', 'bob_node(jsonb)');
SELECT sg_add_edge('nc_gen', '__start__', 'n');
SELECT sg_add_edge('nc_gen', 'n', '__end__');
SELECT sg_compile('nc_gen');
RESET ROLE;
UPDATE stategraph.runs SET not_before = now() WHERE run_id = :'forged';
SET client_min_messages = error;  -- (as above: no worker is woken by the UPDATE)
CALL sg_work();
RESET client_min_messages;
SET ROLE regress_sg_nc_alice;
SELECT status, error->>'sqlstate' AS sqlstate FROM sg_wait(:'forged', '30 s');
SELECT count(*) AS threads FROM sg_threads() WHERE thread_id = 'nc-alice-6';
RESET ROLE;

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA nc_runs CASCADE;
DROP ROLE regress_sg_nc_alice;
DROP ROLE regress_sg_nc_bob;
DROP ROLE regress_sg_nc_carol;
