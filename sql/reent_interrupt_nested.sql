--
-- sg_interrupt() pauses the node that calls it. A node that runs another
-- thread (sg_invoke of another graph) runs that graph's routers and
-- reducers inside itself: they are not nodes, and their sg_interrupt() is
-- refused as it is at the top level (55000). It paused the outer node's
-- thread instead, and at its resume the inner router got the value meant
-- for the outer node. The inner graph's own nodes still pause the inner
-- thread, and the outer node, once its sg_invoke failed (and the failure
-- was caught), still pauses its own.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA reent_interrupt_nested;
SET search_path = reent_interrupt_nested;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION one(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
CREATE FUNCTION asking(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('n', sg_interrupt('"inner node asks"'));
END $$;
CREATE FUNCTION asking_router(state jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE v jsonb;
BEGIN
    v := sg_interrupt('"router asks"');
    RAISE NOTICE 'router got %', v;
    RETURN '__end__';
END $$;
CREATE FUNCTION asking_reducer(cur jsonb, upd jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE v jsonb;
BEGIN
    v := sg_interrupt('"reducer asks"');
    RAISE NOTICE 'reducer got %', v;
    RETURN upd;
END $$;
-- inner graphs: a router that asks, a reducer that asks, a node that asks
SELECT sg_create_graph('by_router', '{"n": "replace"}');
SELECT sg_add_node('by_router', 'a', 'one(jsonb)');
SELECT sg_add_edge('by_router', '__start__', 'a');
SELECT sg_add_conditional_edges('by_router', 'a', 'asking_router(jsonb)');
SELECT sg_compile('by_router');
SELECT sg_create_graph('by_reducer', '{"n": {"reducer": "asking_reducer(jsonb,jsonb)"}}');
SELECT sg_add_node('by_reducer', 'a', 'one(jsonb)');
SELECT sg_add_edge('by_reducer', '__start__', 'a');
SELECT sg_add_edge('by_reducer', 'a', '__end__');
SELECT sg_compile('by_reducer');
SELECT sg_create_graph('by_node', '{"n": "replace"}');
SELECT sg_add_node('by_node', 'a', 'asking(jsonb)');
SELECT sg_add_edge('by_node', '__start__', 'a');
SELECT sg_add_edge('by_node', 'a', '__end__');
SELECT sg_compile('by_node');
-- the outer graph: its node runs the inner graph the state names on thread inner_<id>
CREATE FUNCTION outer_node(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
    r := sg_invoke(state->>'inner', '{"n": 0}', 'inner_' || (config->>'thread_id'));
    RETURN jsonb_build_object('inner', r);
END $$;
-- the same, and when the inner run fails it asks itself
CREATE FUNCTION outer_catching(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM sg_invoke(state->>'inner', '{"n": 0}', 'inner_' || (config->>'thread_id'));
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        RAISE NOTICE 'inner run failed: %', SQLERRM;
    END;
    RETURN jsonb_build_object('inner', sg_interrupt('"outer node asks"'));
END $$;
SELECT sg_create_graph('outer', '{"inner": "replace"}');
SELECT sg_add_node('outer', 'o', 'outer_node(jsonb,jsonb)');
SELECT sg_add_edge('outer', '__start__', 'o');
SELECT sg_add_edge('outer', 'o', '__end__');
SELECT sg_compile('outer');
SELECT sg_create_graph('outer_c', '{"inner": "replace"}');
SELECT sg_add_node('outer_c', 'o', 'outer_catching(jsonb,jsonb)');
SELECT sg_add_edge('outer_c', '__start__', 'o');
SELECT sg_add_edge('outer_c', 'o', '__end__');
SELECT sg_compile('outer_c');

-- at the top level a router or a reducer cannot ask
SELECT sg_invoke('by_router', '{"n": 0}', 'top_router');
SELECT sg_invoke('by_reducer', '{"n": 0}', 'top_reducer');
-- nor inside another run's node: the outer thread is not paused
SELECT sg_invoke('outer', '{"inner": "by_router"}', 'o1');
SELECT sg_invoke('outer', '{"inner": "by_reducer"}', 'o2');
SELECT sg_invoke('outer', '{"inner": "by_router"}', 'o3', on_error => 'return') -> '__error__' ->> 'message' AS error;
SELECT thread_id, status, next FROM sg_threads() ORDER BY thread_id;
-- an inner node asks: the inner thread is paused, the outer node goes on
SELECT sg_invoke('outer', '{"inner": "by_node"}', 'o4') #- '{inner,__interrupt__,0,id}' AS "values";
SELECT thread_id, status, next FROM sg_threads() ORDER BY thread_id;
-- the outer node asks after its inner run failed: the outer thread is paused, and gets its answer
SELECT sg_invoke('outer_c', '{"inner": "by_router"}', 'o5') #- '{__interrupt__,0,id}' AS "values";
SELECT sg_invoke('outer_c', NULL, 'o5', resume => '"the answer"');
SELECT thread_id, status, next FROM sg_threads() ORDER BY thread_id;

SET client_min_messages = warning;
DROP SCHEMA reent_interrupt_nested CASCADE;
