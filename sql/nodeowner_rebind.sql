--
-- Node, router and reducer functions are bound to the role that owned them
-- when they were added: a function dropped and created again under the same
-- signature by another role (in a schema both may create in), or given to
-- another role, is refused (42501) when the graph is compiled or loaded,
-- and never called, until it is added again.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP SCHEMA IF EXISTS nodeowner CASCADE;
DROP ROLE IF EXISTS regress_no_alice;
DROP ROLE IF EXISTS regress_no_bob;
CREATE SCHEMA nodeowner;
GRANT USAGE, CREATE ON SCHEMA nodeowner TO PUBLIC;
SET search_path = nodeowner;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE regress_no_alice;
CREATE ROLE regress_no_bob;
CREATE TABLE calls (fn text, who text);
GRANT INSERT, SELECT, DELETE ON calls TO PUBLIC;

SET ROLE regress_no_alice;
CREATE FUNCTION no_step(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO nodeowner.calls VALUES ('alice_step', current_user);
    RETURN '{"n": 1}';
END $$;
CREATE FUNCTION no_route(state jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO nodeowner.calls VALUES ('alice_route', current_user);
    RETURN '__end__';
END $$;
CREATE FUNCTION no_keep(current jsonb, update jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO nodeowner.calls VALUES ('alice_keep', current_user);
    RETURN update;
END $$;
CREATE FUNCTION no_best(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"best": 1}'::jsonb $$;

-- g: a node and a router; r: a custom reducer
SELECT sg_create_graph('g', '{"n": "add"}');
SELECT sg_add_node('g', 'step', 'no_step(jsonb)');
SELECT sg_add_edge('g', '__start__', 'step');
SELECT sg_add_conditional_edges('g', 'step', 'no_route(jsonb)');
SELECT sg_compile('g');
SELECT sg_create_graph('r', '{"best": {"reducer": "no_keep"}}');
SELECT sg_add_node('r', 'pick', 'no_best(jsonb)');
SELECT sg_add_edge('r', '__start__', 'pick');
SELECT sg_add_edge('r', 'pick', '__end__');
SELECT sg_compile('r');
SELECT sg_invoke('g', '{"n": 1}', 'g-1');
SELECT sg_invoke('r', '{"best": 0}', 'r-1');
SELECT node, fn, fn_owner FROM stategraph.nodes ORDER BY graph, node;
SELECT source, router, router_owner FROM stategraph.branches;
SELECT * FROM calls ORDER BY fn;
DELETE FROM calls;

-- 1. the node's function: alice drops it, bob creates his own under its signature
DROP FUNCTION no_step(jsonb);
SET ROLE regress_no_bob;
CREATE FUNCTION no_step(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO nodeowner.calls VALUES ('bob_step', current_user);
    RETURN '{"n": 100}';
END $$;
SET ROLE regress_no_alice;
SELECT sg_invoke('g', '{"n": 1}', 'g-1');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
SELECT sg_compile('g');
\echo :LAST_ERROR_SQLSTATE
-- nor can a background run be submitted with it
SELECT sg_submit('g', '{"n": 1}', 'g-2');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS calls FROM calls;
-- adding the node again binds it to bob's function: alice means it now
SELECT sg_add_node('g', 'step', 'no_step(jsonb)');
SELECT fn_owner FROM stategraph.nodes WHERE graph = 'g' AND node = 'step';
SELECT sg_compile('g');
SELECT sg_invoke('g', '{"n": 1}', 'g-1') ->> 'n' AS n;
SELECT * FROM calls ORDER BY fn;
DELETE FROM calls;
-- a node whose function still serves is not replaced
SELECT sg_add_node('g', 'step', 'no_step(jsonb)');
-- a function that does not exist has no owner to bind to: the error of a dropped function
SELECT sg_add_node('g', 'nothing', '4000000000'::regprocedure);
\echo :LAST_ERROR_SQLSTATE

-- 2. the router: the same
DROP FUNCTION no_route(jsonb);
SET ROLE regress_no_bob;
CREATE FUNCTION no_route(state jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO nodeowner.calls VALUES ('bob_route', current_user);
    RETURN '__end__';
END $$;
SET ROLE regress_no_alice;
SELECT sg_invoke('g', '{"n": 1}', 'g-1');
\echo :LAST_ERROR_SQLSTATE
SELECT sg_compile('g');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM calls ORDER BY fn;
SELECT sg_add_conditional_edges('g', 'step', 'no_route(jsonb)');
SELECT source, router_owner FROM stategraph.branches WHERE graph = 'g';
SELECT sg_compile('g');
SELECT sg_invoke('g', '{"n": 1}', 'g-1') ->> 'n' AS n;
SELECT * FROM calls ORDER BY fn;
DELETE FROM calls;

-- 3. a custom reducer: refused until the graph is created again
DROP FUNCTION no_keep(jsonb, jsonb);
SET ROLE regress_no_bob;
CREATE FUNCTION no_keep(current jsonb, update jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO nodeowner.calls VALUES ('bob_keep', current_user);
    RETURN update;
END $$;
SET ROLE regress_no_alice;
SELECT sg_invoke('r', '{"best": 0}', 'r-1');
\echo :LAST_ERROR_SQLSTATE
SELECT sg_compile('r');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM calls ORDER BY fn;
SELECT sg_drop_graph('r');
SELECT sg_create_graph('r', '{"best": {"reducer": "no_keep"}}');
SELECT channels FROM stategraph.graphs WHERE graph = 'r';
SELECT sg_add_node('r', 'pick', 'no_best(jsonb)');
SELECT sg_add_edge('r', '__start__', 'pick');
SELECT sg_add_edge('r', 'pick', '__end__');
SELECT sg_compile('r');
SELECT sg_invoke('r', '{"best": 0}', 'r-2');
SELECT * FROM calls ORDER BY fn;
DELETE FROM calls;

-- 4. ALTER FUNCTION ... OWNER TO another role: the same case
SET ROLE regress_no_alice;
CREATE FUNCTION no_step2(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO nodeowner.calls VALUES ('step2', current_user);
    RETURN '{"n": 2}';
END $$;
SELECT sg_create_graph('o', '{"n": "add"}');
SELECT sg_add_node('o', 'step', 'no_step2(jsonb)');
SELECT sg_add_edge('o', '__start__', 'step');
SELECT sg_add_edge('o', 'step', '__end__');
SELECT sg_compile('o');
SELECT sg_invoke('o', '{"n": 1}', 'o-1') ->> 'n' AS n;
RESET ROLE;
ALTER FUNCTION no_step2(jsonb) OWNER TO regress_no_bob;
SET ROLE regress_no_alice;
SELECT sg_invoke('o', '{"n": 1}', 'o-1');
\echo :LAST_ERROR_SQLSTATE
SELECT sg_compile('o');
SELECT sg_add_node('o', 'step', 'no_step2(jsonb)');
SELECT sg_compile('o');
SELECT sg_invoke('o', '{"n": 1}', 'o-1') ->> 'n' AS n;
-- given back to alice, the graph's owner: hers, so it serves
RESET ROLE;
ALTER FUNCTION no_step2(jsonb) OWNER TO regress_no_alice;
SET ROLE regress_no_alice;
SELECT sg_invoke('o', '{"n": 1}', 'o-1') ->> 'n' AS n;
SELECT * FROM calls ORDER BY fn;
RESET ROLE;

-- a graph given to another role runs the functions it was bound to
CREATE ROLE regress_no_carol;
SET ROLE regress_no_alice;
CREATE FUNCTION p_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('p', '{"n": "add"}');
SELECT sg_add_node('p', 'step', 'p_step(jsonb)');
SELECT sg_add_edge('p', '__start__', 'step');
SELECT sg_add_edge('p', 'step', '__end__');
SELECT sg_compile('p');
RESET ROLE;
SELECT sg_reassign_owned('regress_no_alice', 'regress_no_carol') > 0 AS reassigned;
SET ROLE regress_no_carol;
SELECT sg_invoke('p', '{"n": 1}', 'p-1') ->> 'n' AS n;
RESET ROLE;
DROP ROLE regress_no_carol;

-- 5. a database of 0.1.0, updated: each function is bound to its owner at
-- the update (the graph's owner, here the extension's, if it is gone), and
-- the graphs go on working
SET client_min_messages = warning;
DROP SCHEMA nodeowner CASCADE;
CREATE SCHEMA nodeowner;
GRANT USAGE, CREATE ON SCHEMA nodeowner TO PUBLIC;
CREATE EXTENSION stategraph VERSION '0.1.0';
RESET client_min_messages;
SET ROLE regress_no_alice;
CREATE FUNCTION u_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
CREATE FUNCTION u_keep(current jsonb, update jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT update $$;
CREATE FUNCTION u_gone(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
RESET ROLE;
CREATE FUNCTION u_route(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT '__end__' $$;
SELECT sg_create_graph('u', '{"n": "add", "k": {"reducer": "u_keep"}}');
SELECT sg_add_node('u', 'step', 'u_step(jsonb)');
SELECT sg_add_edge('u', '__start__', 'step');
SELECT sg_add_conditional_edges('u', 'step', 'u_route(jsonb)');
SELECT sg_compile('u');
SELECT sg_create_graph('v', '{"n": "add"}');
SELECT sg_add_node('v', 'gone', 'u_gone(jsonb)');
SELECT sg_add_edge('v', '__start__', 'gone');
SELECT sg_add_edge('v', 'gone', '__end__');
SELECT sg_compile('v');
SELECT sg_invoke('u', '{"n": 1, "k": 1}', 'u-1') AS invoked;
SET ROLE regress_no_alice;
DROP FUNCTION u_gone(jsonb);
RESET ROLE;
SET client_min_messages = warning;
ALTER EXTENSION stategraph UPDATE;
RESET client_min_messages;
-- (NULLIF: the graph's owner, the extension's, is the role running the test)
SELECT graph, node, NULLIF(fn_owner, current_user) AS fn_owner FROM stategraph.nodes ORDER BY graph;
SELECT graph, NULLIF(router_owner, current_user) AS router_owner FROM stategraph.branches;
SELECT graph, channels -> 'k' ->> 'fn_owner' AS k_owner FROM stategraph.graphs ORDER BY graph;
-- the spec names the owners too
SELECT graph, spec -> 'channels' -> 'k' ->> 'fn_owner' AS k_owner,
       jsonb_path_query_array(spec, '$.nodes[*].fn_owner') AS node_owners,
       jsonb_path_query_array(spec, '$.branches[*].router_owner') <@ to_jsonb(ARRAY[current_user]) AS routers_graph_owners
FROM stategraph.graphs ORDER BY graph;
SELECT sg_invoke('u', '{"n": 1, "k": 2}', 'u-1') AS invoked;
SELECT sg_invoke('v', '{"n": 1}', 'v-1');
-- and refuses a function bob made under alice's signature
SET ROLE regress_no_alice;
DROP FUNCTION u_step(jsonb);
SET ROLE regress_no_bob;
CREATE FUNCTION u_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 100}'::jsonb $$;
RESET ROLE;
SELECT sg_invoke('u', '{"n": 1}', 'u-1');
\echo :LAST_ERROR_SQLSTATE

SET client_min_messages = warning;
DROP SCHEMA nodeowner CASCADE;
DROP OWNED BY regress_no_alice, regress_no_bob;
DROP ROLE regress_no_alice;
DROP ROLE regress_no_bob;
DROP EXTENSION IF EXISTS stategraph CASCADE;
