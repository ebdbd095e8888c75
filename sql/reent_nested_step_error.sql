--
-- A router or a reducer that runs another graph (sg_invoke of another
-- thread) whose router fails. The failure of the outer step, recorded on
-- the outer thread (on_error => 'return'), named the inner graph's node,
-- left behind as the router running: it names the outer router's node
-- (as a router failing by itself does), and no node for a reducer.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA reent_nested_step_error;
SET search_path = reent_nested_step_error;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION one(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
CREATE FUNCTION failing_router(state jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'inner router fails';
END $$;
SELECT sg_create_graph('inner_g', '{"n": "replace"}');
SELECT sg_add_node('inner_g', 'inner_node', 'one(jsonb)');
SELECT sg_add_edge('inner_g', '__start__', 'inner_node');
SELECT sg_add_conditional_edges('inner_g', 'inner_node', 'failing_router(jsonb)');
SELECT sg_compile('inner_g');
CREATE FUNCTION nesting_router(state jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sg_invoke('inner_g', '{}', 'inner_of_router');
    RETURN '__end__';
END $$;
CREATE FUNCTION nesting_reducer(cur jsonb, upd jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sg_invoke('inner_g', '{}', 'inner_of_reducer');
    RETURN upd;
END $$;
SELECT sg_create_graph('outer_g', '{"n": {"reducer": "nesting_reducer(jsonb,jsonb)"}}');
SELECT sg_add_node('outer_g', 'outer_node', 'one(jsonb)');
SELECT sg_add_edge('outer_g', '__start__', 'outer_node');
SELECT sg_add_conditional_edges('outer_g', 'outer_node', 'nesting_router(jsonb)');
SELECT sg_compile('outer_g');

-- the router fails (n has no value yet: the reducer is not called)
SELECT (sg_invoke('outer_g', '{}', 'by_router', on_error => 'return') -> '__error__') - 'checkpoint_id' AS error;
-- the reducer fails (n has a value)
SELECT (sg_invoke('outer_g', '{"n": 0}', 'by_reducer', on_error => 'return') -> '__error__') - 'checkpoint_id' AS error;
-- what the outer threads keep
SELECT t.thread_id, t.status, s.next, jsonb_path_query_array(s.tasks, '$[*].error.node') AS nodes
    FROM sg_threads('outer_g') t, sg_get_state(t.thread_id) s ORDER BY t.thread_id;

SET client_min_messages = warning;
DROP SCHEMA reent_nested_step_error CASCADE;
