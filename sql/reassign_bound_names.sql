--
-- A graph is bound, by name, to the role that owned each of its functions
-- when it was added. When that role is renamed (or dropped after REASSIGN
-- OWNED gave its functions away), sg_reassign_owned moves the bindings to
-- the new name too: another role's graph that calls its functions (a node,
-- a router, a custom reducer) runs on, where it failed with 42501 ("belongs
-- to role new, not to role old"; found by concurrent_calls.py ROLES=1). A
-- role that still exists keeps its bindings: its functions are still its own.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP SCHEMA IF EXISTS reassign_bound CASCADE;
DROP ROLE IF EXISTS regress_rb_alice;
DROP ROLE IF EXISTS regress_rb_alice2;
DROP ROLE IF EXISTS regress_rb_bob;
DROP ROLE IF EXISTS regress_rb_carol;
CREATE SCHEMA reassign_bound;
GRANT USAGE, CREATE ON SCHEMA reassign_bound TO PUBLIC;
SET search_path = reassign_bound;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY terse

CREATE ROLE regress_rb_alice;
CREATE ROLE regress_rb_bob;
CREATE ROLE regress_rb_carol;
SET ROLE regress_rb_alice;
CREATE FUNCTION rb_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1, "best": "ab"}'::jsonb $$;
CREATE FUNCTION rb_route(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'done' $$;
CREATE FUNCTION rb_longest(a jsonb, b jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT CASE WHEN length(a::text) >= length(b::text) THEN a ELSE b END $$;
GRANT EXECUTE ON FUNCTION rb_step(jsonb), rb_route(jsonb), rb_longest(jsonb, jsonb) TO PUBLIC;
-- alice's own graph, too
SELECT sg_create_graph('rb_alice', '{"n": "add", "best": "replace"}');
SELECT sg_add_node('rb_alice', 'a', 'rb_step(jsonb)');
SELECT sg_add_edge('rb_alice', '__start__', 'a');
SELECT sg_add_edge('rb_alice', 'a', '__end__');
SELECT sg_compile('rb_alice');
-- bob's graph calls alice's node, router and reducer functions
SET ROLE regress_rb_bob;
SELECT sg_create_graph('rb_bob', '{"n": "add", "best": "rb_longest"}');
SELECT sg_add_node('rb_bob', 'a', 'rb_step(jsonb)');
SELECT sg_add_edge('rb_bob', '__start__', 'a');
SELECT sg_add_conditional_edges('rb_bob', 'a', 'rb_route(jsonb)', '{"done": "__end__"}');
SELECT sg_compile('rb_bob');
SELECT sg_invoke('rb_bob', '{"n": 0}', 'rb-bob-1');
RESET ROLE;

-- a reassign of a role that still exists leaves the bindings to it
SELECT sg_reassign_owned('regress_rb_alice', 'regress_rb_carol') AS to_carol;
SELECT sg_reassign_owned('regress_rb_carol', 'regress_rb_alice') AS back;
SELECT graph, node, fn_owner FROM stategraph.nodes WHERE graph LIKE 'rb_%' ORDER BY 1, 2;
SET ROLE regress_rb_bob;
SELECT sg_invoke('rb_bob', '{"n": 0}', 'rb-bob-2');
RESET ROLE;

-- renamed: bob's graph runs on, bound to the new name everywhere
BEGIN;
ALTER ROLE regress_rb_alice RENAME TO regress_rb_alice2;
SELECT sg_reassign_owned('regress_rb_alice', 'regress_rb_alice2') AS renamed;
COMMIT;
SELECT graph, node, fn_owner FROM stategraph.nodes WHERE graph LIKE 'rb_%' ORDER BY 1, 2;
SELECT graph, router_owner FROM stategraph.branches WHERE graph LIKE 'rb_%' ORDER BY 1;
SELECT graph, channels->'best'->>'fn_owner' AS channel_fn_owner,
       spec->'channels'->'best'->>'fn_owner' AS spec_channel_fn_owner,
       (SELECT string_agg(coalesce(x->>'fn_owner', '-'), ',' ORDER BY x->>'name') FROM jsonb_array_elements(spec->'nodes') x) AS spec_nodes,
       (SELECT string_agg(coalesce(x->>'router_owner', '-'), ',') FROM jsonb_array_elements(spec->'branches') x) AS spec_branches
FROM stategraph.graphs WHERE graph LIKE 'rb_%' ORDER BY 1;
SET ROLE regress_rb_bob;
SELECT sg_invoke('rb_bob', '{"n": 0}', 'rb-bob-3');
SELECT sg_invoke('rb_bob', NULL, 'rb-bob-1');
SET ROLE regress_rb_alice2;
SELECT sg_invoke('rb_alice', '{"n": 0}', 'rb-alice-1');
RESET ROLE;

SET client_min_messages = warning;
DROP SCHEMA reassign_bound CASCADE;
DROP OWNED BY regress_rb_alice2, regress_rb_bob, regress_rb_carol;
DROP ROLE regress_rb_alice2;
DROP ROLE regress_rb_bob;
DROP ROLE regress_rb_carol;
