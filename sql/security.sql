--
-- Security: threads and graph definitions belong to the role that created
-- them, row-level security keeps roles apart, users need no GRANT on the
-- storage tables; and the defects of 0.1.0 listed in issue 8.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_sg_alice;
DROP ROLE IF EXISTS regress_sg_bob;
DROP ROLE IF EXISTS regress_sg_carol;
DROP ROLE IF EXISTS regress_sg_team;
CREATE SCHEMA security;
GRANT USAGE, CREATE ON SCHEMA security TO PUBLIC;
SET search_path = security;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- no GRANT on the storage tables: the extension grants what is needed
CREATE ROLE regress_sg_alice;
CREATE ROLE regress_sg_bob;
CREATE ROLE regress_sg_carol;
CREATE ROLE regress_sg_team;
GRANT regress_sg_team TO regress_sg_carol;
CREATE TABLE calls (fn text, who text);
GRANT INSERT, SELECT ON calls TO PUBLIC;

SET ROLE regress_sg_alice;
CREATE FUNCTION alice_step(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO security.calls VALUES ('alice_step', current_user);
    RETURN '{"n": 1, "log": ["alice"]}';
END $$;
SELECT sg_create_graph('alice_graph', '{"n": "add", "log": "append"}');
SELECT sg_add_node('alice_graph', 'step', 'alice_step(jsonb)');
SELECT sg_add_edge('alice_graph', '__start__', 'step');
SELECT sg_add_edge('alice_graph', 'step', '__end__');
SELECT sg_compile('alice_graph');
SELECT sg_invoke('alice_graph', '{"n": 1}', thread_id => 'alice-1');
SELECT thread_id, graph, status FROM sg_threads();
-- every function works on her own threads, with no GRANT on the storage tables
CALL sg_run('alice_graph', '{"n": 10}', 'alice-run');
SELECT step, node, payload FROM sg_stream('alice_graph', '{"n": 20}', thread_id => 'alice-stream');
SELECT sg_update_state('alice-run', '{"n": 5}') IS NOT NULL AS updated;
SELECT sg_fork('alice-run', (SELECT checkpoint_id FROM sg_get_state('alice-run')), 'alice-fork') IS NOT NULL AS forked;
SELECT count(*) AS history FROM sg_get_state_history('alice-fork');
SELECT sg_prune(keep_last => 1, thread_id => 'alice-run') AS pruned;
SELECT sg_delete_thread('alice-stream');
SELECT sg_delete_thread('alice-fork');
SELECT thread_id, status, checkpoints FROM sg_threads() ORDER BY thread_id;
SELECT sg_draw_history('alice-run') IS NOT NULL AS drawn;
SELECT sg_import_thread(sg_export_thread('alice-run'), 'alice-copy') AS imported;
SELECT thread_id, checkpoints FROM sg_threads() WHERE thread_id = 'alice-copy';
SELECT sg_delete_thread('alice-copy');
SELECT sg_delete_thread('alice-run');
RESET ROLE;
SELECT graph, owner FROM stategraph.graphs;
SELECT thread_id, owner FROM stategraph.threads;

-- bob sees none of alice's threads and cannot change them
SET ROLE regress_sg_bob;
SELECT thread_id FROM sg_threads();
SELECT count(*) FROM stategraph.threads;
SELECT count(*) FROM stategraph.checkpoints;
SELECT "values" FROM sg_get_state('alice-1');
SELECT count(*) FROM sg_get_state_history('alice-1');
SELECT sg_draw_history('alice-1');
SELECT sg_export_thread('alice-1');
SELECT sg_update_state('alice-1', '{"n": 100}');
SELECT sg_delete_thread('alice-1');
SELECT sg_prune(keep_last => 1, thread_id => 'alice-1');
SELECT sg_prune(keep_last => 1);
-- a thread id taken by another role
SELECT sg_invoke('alice_graph', '{"n": 1}', thread_id => 'alice-1');
-- the storage tables directly: rows of others are out of reach
UPDATE stategraph.threads SET status = 'error';
DELETE FROM stategraph.checkpoints;
INSERT INTO stategraph.threads (thread_id, graph, channels, owner) VALUES ('fake', 'alice_graph', '{}', 'regress_sg_alice');
INSERT INTO stategraph.checkpoints (thread_id, checkpoint_id, step, source, next, created_at)
VALUES ('alice-1', '00000000-0000-7000-8000-000000000000', 9, 'input', '{}', now());

-- the hijack of 0.1.0: bob cannot change, recompile or drop alice's graph
CREATE FUNCTION bob_step(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO security.calls VALUES ('bob_step', current_user);
    RETURN '{"n": 1000}';
END $$;
UPDATE stategraph.nodes SET fn = 'security.bob_step(pg_catalog.jsonb)';
UPDATE stategraph.graphs SET spec = NULL;
DELETE FROM stategraph.graphs;
INSERT INTO stategraph.nodes (graph, node, fn) VALUES ('alice_graph', 'evil', 'security.bob_step(pg_catalog.jsonb)');
SELECT sg_add_node('alice_graph', 'step2', 'bob_step(jsonb)');
SELECT sg_add_edge('alice_graph', 'step', '__end__');
SELECT sg_add_conditional_edges('alice_graph', 'step', 'bob_step(jsonb)');
SELECT sg_compile('alice_graph');
SELECT sg_drop_graph('alice_graph');
SELECT sg_create_graph('alice_graph', '{"n": "add"}');
-- nor leave rows of his own behind for a future graph or thread of another
-- role to take over: graphs and threads cannot be renamed, and deleting a
-- thread's row deletes its checkpoints
SELECT sg_create_graph('bob_graph', '{"n": "add"}');
SELECT sg_add_node('bob_graph', 'evil', 'bob_step(jsonb)');
UPDATE stategraph.graphs SET graph = 'bob_graph2' WHERE graph = 'bob_graph';
SELECT sg_add_edge('bob_graph', '__start__', 'evil');
SELECT sg_add_edge('bob_graph', 'evil', '__end__');
SELECT sg_compile('bob_graph');
SELECT sg_invoke('bob_graph', '{"n": 1}', thread_id => 'bob-0') ->> 'n' AS n;
UPDATE stategraph.threads SET thread_id = 'later-alice' WHERE thread_id = 'bob-0';
DELETE FROM stategraph.threads WHERE thread_id = 'bob-0';
RESET ROLE;
SELECT count(*) AS left_behind FROM stategraph.checkpoints WHERE thread_id = 'bob-0';
SET ROLE regress_sg_bob;
-- bob may run alice's graph on threads of his own (he holds EXECUTE on its function)
SELECT sg_invoke('alice_graph', '{"n": 5}', thread_id => 'bob-1');
SELECT thread_id, status FROM sg_threads();
RESET ROLE;
-- alice's graph still runs alice's function
SET ROLE regress_sg_alice;
SELECT sg_invoke('alice_graph', '{"n": 1}', thread_id => 'alice-2');
RESET ROLE;
SELECT fn, who FROM calls ORDER BY who, fn;
SELECT thread_id, owner, status FROM stategraph.threads ORDER BY thread_id;
-- rows left without their graph (restored from an inconsistent dump, say)
-- never become part of a new graph of that name
INSERT INTO stategraph.nodes (graph, node, fn) VALUES ('planted', 'evil', 'security.bob_step(pg_catalog.jsonb)');
INSERT INTO stategraph.edges (graph, sources, target) VALUES ('planted', '{__start__}', 'evil');
SET ROLE regress_sg_alice;
SELECT sg_create_graph('planted', '{"n": "add"}');
SELECT count(*) AS planted_nodes FROM stategraph.nodes WHERE graph = 'planted';
SELECT sg_drop_graph('planted');
RESET ROLE;
-- without EXECUTE on the graph's function, bob runs nothing
REVOKE EXECUTE ON FUNCTION alice_step(jsonb) FROM PUBLIC;
SET ROLE regress_sg_bob;
SELECT sg_invoke('alice_graph', '{"n": 5}', thread_id => 'bob-2');
RESET ROLE;

-- members of the owner's role see its threads and may change its graphs
SET ROLE regress_sg_team;
CREATE FUNCTION team_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('team_graph', '{"n": "add"}');
SELECT sg_add_node('team_graph', 'step', 'team_step(jsonb)');
SELECT sg_add_edge('team_graph', '__start__', 'step');
SELECT sg_add_edge('team_graph', 'step', '__end__');
SELECT sg_compile('team_graph');
SELECT sg_invoke('team_graph', '{"n": 1}', thread_id => 'team-1');
SET ROLE regress_sg_carol;
SELECT thread_id, status FROM sg_threads();
SELECT sg_invoke('team_graph', '{"n": 1}', thread_id => 'team-1');
SELECT sg_compile('team_graph');
-- a fork belongs to the owner of the thread it starts from
SELECT sg_fork('team-1', (SELECT checkpoint_id FROM sg_get_state('team-1')), 'team-fork') IS NOT NULL AS forked;
SELECT sg_update_state('team-branch', '{"n": 10}', checkpoint_id => (SELECT checkpoint_id FROM sg_get_state('team-1'))) IS NOT NULL AS branched;
SELECT thread_id, owner FROM stategraph.threads WHERE thread_id LIKE 'team-%' ORDER BY thread_id;
SET ROLE regress_sg_bob;
SELECT thread_id FROM sg_threads();
SELECT sg_compile('team_graph');
RESET ROLE;
-- superusers see every thread
SELECT thread_id FROM sg_threads() ORDER BY thread_id;

-- external nodes: no GRANT needed either, and a worker claims only the tasks
-- of roles it is a member of
SET ROLE regress_sg_alice;
SELECT sg_create_graph('alice_ext', '{"n": "add"}');
SELECT sg_add_external_node('alice_ext', 'model', 'alice_q');
SELECT sg_add_edge('alice_ext', '__start__', 'model');
SELECT sg_add_edge('alice_ext', 'model', '__end__');
SELECT sg_compile('alice_ext');
SELECT sg_invoke('alice_ext', '{"n": 1}', thread_id => 'alice-ext') -> '__waiting__' -> 0 ->> 'node' AS waiting_for;
SET ROLE regress_sg_bob;
SELECT count(*) AS bob_claims FROM sg_claim('alice_q', 'bob-worker');
SELECT count(*) AS bob_sees FROM sg_tasks();
SELECT sg_add_external_node('alice_ext', 'bob_model', 'bob_q');
SET ROLE regress_sg_alice;
SELECT node, thread_id FROM sg_claim('alice_q', 'alice-worker');
RESET ROLE;

-- a cached graph checks USAGE on schema stategraph after SET ROLE, as a fresh session would
REVOKE USAGE ON SCHEMA stategraph FROM PUBLIC;
GRANT EXECUTE ON FUNCTION alice_step(jsonb) TO PUBLIC;
SELECT sg_invoke('alice_graph', '{"n": 1}') ->> 'n' AS n;		-- caches the graph
SELECT sg_draw('alice_graph') IS NOT NULL AS drawn;
SET ROLE regress_sg_bob;
SELECT sg_invoke('alice_graph', '{"n": 1}');
SELECT sg_draw('alice_graph');
RESET ROLE;
GRANT USAGE ON SCHEMA stategraph TO PUBLIC;

-- a node cannot change its own thread (55000); nothing is lost or left behind
CREATE FUNCTION self_call(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    CASE state->>'call'
    WHEN 'update' THEN PERFORM sg_update_state(config->>'thread_id', '{"n": 100}');
    WHEN 'delete' THEN PERFORM sg_delete_thread(config->>'thread_id');
    WHEN 'fork' THEN PERFORM sg_fork('self-src', (SELECT checkpoint_id FROM sg_get_state('self-src')), config->>'thread_id');
    WHEN 'prune' THEN PERFORM sg_prune(keep_last => 1, thread_id => config->>'thread_id');
    WHEN 'prune all' THEN PERFORM sg_prune(keep_last => 1);
    ELSE NULL;
    END CASE;
    RETURN '{"n": 1}';
END $$;
SELECT sg_create_graph('self', '{"n": "add", "call": "replace"}');
SELECT sg_add_node('self', 'act', 'self_call(jsonb,jsonb)');
SELECT sg_add_edge('self', '__start__', 'act');
SELECT sg_add_edge('self', 'act', '__end__');
SELECT sg_compile('self');
SELECT sg_invoke('self', '{"n": 0}', thread_id => 'self-src') ->> 'n' AS n;
SELECT sg_invoke('self', '{"n": 0}', thread_id => 'self-1') ->> 'n' AS n;
SELECT sg_invoke('self', '{"call": "update"}', thread_id => 'self-1');
SELECT sg_invoke('self', '{"call": "delete"}', thread_id => 'self-1');
SELECT sg_invoke('self', '{"call": "fork"}', thread_id => 'self-1');
SELECT sg_invoke('self', '{"call": "prune"}', thread_id => 'self-1');
SELECT sg_invoke('self', '{"call": "update"}', thread_id => 'self-new');
SELECT sg_invoke('self', '{"call": "prune all"}', thread_id => 'self-1') ->> 'n' AS n;
SELECT count(*) AS checkpoints, max(step) AS step FROM sg_get_state_history('self-1');
SELECT count(*) AS threads FROM sg_threads() WHERE thread_id = 'self-new';

-- a node function dropped during the run is 42883 (0.1.0: XX000 cache lookup failed)
CREATE FUNCTION first_step(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    DROP FUNCTION security.second_step(jsonb);
    RETURN '{"n": 1}';
END $$;
CREATE FUNCTION second_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 2}'::jsonb $$;
SELECT sg_create_graph('dropping', '{"n": "add"}');
SELECT sg_add_node('dropping', 'first', 'first_step(jsonb)');
SELECT sg_add_node('dropping', 'second', 'second_step(jsonb)');
SELECT sg_add_edge('dropping', '__start__', 'first');
SELECT sg_add_edge('dropping', 'first', 'second');
SELECT sg_add_edge('dropping', 'second', '__end__');
SELECT sg_compile('dropping');
\set VERBOSITY sqlstate
SELECT sg_invoke('dropping', '{"n": 0}');
\set VERBOSITY default
SELECT sg_invoke('dropping', '{"n": 0}');
-- a router dropped during the run too
CREATE FUNCTION drop_router(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    DROP FUNCTION security.go_end(jsonb);
    RETURN '{"n": 1}';
END $$;
CREATE FUNCTION go_end(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT '__end__' $$;
SELECT sg_create_graph('dropping2', '{"n": "add"}');
SELECT sg_add_node('dropping2', 'first', 'drop_router(jsonb)');
SELECT sg_add_edge('dropping2', '__start__', 'first');
SELECT sg_add_conditional_edges('dropping2', 'first', 'go_end(jsonb)');
SELECT sg_compile('dropping2');
SELECT sg_invoke('dropping2', '{"n": 0}');

-- functions are kept by qualified signature, never by OID: a dropped
-- function leaves its name, which a function created later under another
-- name (and perhaps the same OID, after a restore) never matches
CREATE FUNCTION kept(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('kept_graph', '{"n": "add"}');
SELECT sg_add_node('kept_graph', 'k', 'kept(jsonb)');
SELECT sg_add_edge('kept_graph', '__start__', 'k');
SELECT sg_add_edge('kept_graph', 'k', '__end__');
DROP FUNCTION kept(jsonb);
CREATE FUNCTION other(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 666}'::jsonb $$;
SELECT node, fn FROM stategraph.nodes WHERE graph = 'kept_graph';
SELECT sg_compile('kept_graph');
SELECT pg_typeof(fn) AS fn_type FROM stategraph.nodes LIMIT 1;
SELECT pg_typeof(router) AS router_type FROM stategraph.branches LIMIT 1;

-- routers of one source run in the order they were added, not in OID order
CREATE FUNCTION route_b(state jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN INSERT INTO security.calls VALUES ('route_b', 'router'); RETURN '__end__'; END $$;
CREATE FUNCTION route_a(state jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN INSERT INTO security.calls VALUES ('route_a', 'router'); RETURN '__end__'; END $$;
CREATE FUNCTION route_c(state jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN INSERT INTO security.calls VALUES ('route_c', 'router'); RETURN '__end__'; END $$;
SELECT sg_create_graph('ordered', '{"n": "add"}');
SELECT sg_add_node('ordered', 'k', 'team_step(jsonb)');
SELECT sg_add_edge('ordered', '__start__', 'k');
SELECT sg_add_conditional_edges('ordered', 'k', 'route_c(jsonb)');
SELECT sg_add_conditional_edges('ordered', 'k', 'route_a(jsonb)');
SELECT sg_add_conditional_edges('ordered', 'k', 'route_b(jsonb)');
SELECT sg_compile('ordered');
TRUNCATE calls;
SELECT sg_invoke('ordered', '{"n": 0}') ->> 'n' AS n;
SELECT string_agg(fn, ' ') AS order_run FROM (SELECT fn FROM calls WHERE who = 'router') r;
SELECT source, router, ordinal FROM stategraph.branches WHERE graph = 'ordered' ORDER BY ordinal;

-- the definition tables have no foreign keys (pg_restore -j loads them in any order)
SELECT count(*) AS foreign_keys FROM pg_constraint
WHERE contype = 'f' AND connamespace = 'stategraph'::regnamespace;
-- and dropping a graph still removes its whole definition
SELECT sg_drop_graph('ordered');
SELECT (SELECT count(*) FROM stategraph.nodes WHERE graph = 'ordered') AS nodes,
       (SELECT count(*) FROM stategraph.edges WHERE graph = 'ordered') AS edges,
       (SELECT count(*) FROM stategraph.branches WHERE graph = 'ordered') AS branches;

-- a state that could not be read back (over jsonb's 256 MB) is refused
-- with 54000 before anything is stored
SELECT sg_create_graph('huge', '{"n": "add", "a": "replace", "b": "replace"}');
SELECT sg_add_node('huge', 'k', 'team_step(jsonb)');
SELECT sg_add_edge('huge', '__start__', 'k');
SELECT sg_add_edge('huge', 'k', '__end__');
SELECT sg_compile('huge');
SELECT sg_invoke('huge', '{"a": "small"}', thread_id => 'huge-1') ->> 'a' AS a;
SELECT sg_update_state('huge-1', jsonb_build_object('a', repeat('x', 135000000)), as_node => 'k') IS NOT NULL AS stored;
SELECT checkpoints FROM sg_threads() WHERE thread_id = 'huge-1';
SELECT sg_update_state('huge-1', jsonb_build_object('b', repeat('y', 135000000)), as_node => 'k');
SELECT checkpoints FROM sg_threads() WHERE thread_id = 'huge-1';
SELECT sg_delete_thread('huge-1');

-- every function is SECURITY INVOKER; trigger functions are not executable by PUBLIC
SELECT p.proname FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'stategraph'
WHERE p.prosecdef;
-- (rules rather than lists, so that they hold as functions and tables are added)
SELECT p.oid::regprocedure AS not_for_public
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'stategraph'
WHERE NOT has_function_privilege('regress_sg_bob', p.oid, 'EXECUTE') ORDER BY p.proname;
SELECT count(*) AS functions_of_public_without_execute
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'stategraph'
WHERE p.pronamespace <> 'stategraph'::regnamespace AND NOT has_function_privilege('regress_sg_bob', p.oid, 'EXECUTE');
SELECT c.relname AS without_row_security FROM pg_class c
WHERE c.relnamespace = 'stategraph'::regnamespace AND c.relkind = 'r' AND NOT c.relrowsecurity;
SELECT c.relname AS not_usable_by_public FROM pg_class c
WHERE c.relnamespace = 'stategraph'::regnamespace AND c.relkind = 'r'
  AND NOT (has_table_privilege('regress_sg_bob', c.oid, 'SELECT') AND has_any_column_privilege('regress_sg_bob', c.oid, 'INSERT')
           AND has_any_column_privilege('regress_sg_bob', c.oid, 'UPDATE') AND has_table_privilege('regress_sg_bob', c.oid, 'DELETE'));
-- (some columns only where the server sets the others: steps_left's left_at, the order its notes are read in)
SELECT c.relname AS table_name, a.attname AS server_set FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
WHERE c.relnamespace = 'stategraph'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
  AND NOT has_column_privilege('regress_sg_bob', c.oid, a.attnum, 'INSERT') ORDER BY 1, 2;

SET client_min_messages = warning;
DROP SCHEMA security CASCADE;
DROP OWNED BY regress_sg_alice, regress_sg_bob, regress_sg_carol, regress_sg_team;
DROP ROLE regress_sg_alice;
DROP ROLE regress_sg_bob;
DROP ROLE regress_sg_carol;
DROP ROLE regress_sg_team;
