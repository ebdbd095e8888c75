--
-- After ALTER EXTENSION stategraph UPDATE from 0.1.0, the README gives
-- 0.1.0's rows (the extension owner's) to their roles with UPDATE
-- stategraph.graphs SET owner = ... A graph whose reducer, node or router
-- function belongs to the extension's owner (0.1.0's usual case) then
-- refused to run (42501 "belongs to role ..., not to role ..."), and one
-- with a custom reducer could not even be compiled again: the update
-- bound a function to its owner only where that owner differed from the
-- graph's, which was the extension's owner then, and a binding left out
-- reads as whoever owns the graph. The update binds every function (a
-- review found it).
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_give_alice;
CREATE SCHEMA update_010_give_graphs;
SET search_path = update_010_give_graphs;
CREATE EXTENSION stategraph VERSION '0.1.0';
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION keep(c jsonb, u jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT u $$;
CREATE FUNCTION step(s jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT jsonb_build_object('x', COALESCE((s->>'x')::int, 0) + 1) $$;
CREATE FUNCTION route(s jsonb) RETURNS text LANGUAGE sql AS $$ SELECT '__end__' $$;
SELECT sg_create_graph('g', '{"x": {"reducer": "keep(jsonb,jsonb)"}}');
SELECT sg_add_node('g', 'a', 'step(jsonb)');
SELECT sg_add_edge('g', '__start__', 'a');
SELECT sg_add_conditional_edges('g', 'a', 'route(jsonb)');
SELECT sg_compile('g');
SELECT sg_invoke('g', '{}', thread_id => 't1') AS before_update;

SET client_min_messages = warning;
ALTER EXTENSION stategraph UPDATE;
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'stategraph';
-- every function bound to its owner
SELECT channels -> 'x' ? 'fn_owner' AS reducer_bound, spec -> 'channels' -> 'x' ? 'fn_owner' AS compiled_reducer_bound
FROM stategraph.graphs WHERE graph = 'g';
SELECT node, fn_owner IS NOT NULL AS node_bound FROM stategraph.nodes WHERE graph = 'g';
SELECT router_owner IS NOT NULL AS router_bound FROM stategraph.branches WHERE graph = 'g';

-- given to a role, as the README says
CREATE ROLE regress_give_alice;
GRANT USAGE ON SCHEMA update_010_give_graphs TO regress_give_alice;
UPDATE stategraph.graphs SET owner = 'regress_give_alice' WHERE graph = 'g';
UPDATE stategraph.threads SET owner = 'regress_give_alice' WHERE thread_id = 't1';
SET ROLE regress_give_alice;
SELECT sg_invoke('g', '{}', thread_id => 't1') AS after_giving;
SELECT sg_compile('g');
SELECT sg_invoke('g', '{}', thread_id => 't2') AS new_thread;
RESET ROLE;

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA update_010_give_graphs CASCADE;
DROP ROLE regress_give_alice;
