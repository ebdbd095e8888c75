--
-- Conditional edges (both ways, lists, path_map, Send), fan-out and join.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA routing;
SET search_path = routing;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- a router that reads the state: route on "kind"
CREATE FUNCTION classify(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"log": ["classify"]}'::jsonb $$;
CREATE FUNCTION handle_big(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"log": ["big"]}'::jsonb $$;
CREATE FUNCTION handle_small(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"log": ["small"]}'::jsonb $$;
CREATE FUNCTION route_size(state jsonb) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN (state->>'n')::int > 10 THEN 'big' ELSE 'small' END $$;

SELECT sg_create_graph('sizes', '{"n": "replace", "log": "append"}');
SELECT sg_add_node('sizes', 'classify', 'classify(jsonb)');
SELECT sg_add_node('sizes', 'handle_big', 'handle_big(jsonb)');
SELECT sg_add_node('sizes', 'handle_small', 'handle_small(jsonb)');
SELECT sg_add_edge('sizes', '__start__', 'classify');
SELECT sg_add_conditional_edges('sizes', 'classify', 'route_size(jsonb)',
                                '{"big": "handle_big", "small": "handle_small"}');
SELECT sg_add_edge('sizes', 'handle_big', '__end__');
SELECT sg_add_edge('sizes', 'handle_small', '__end__');
SELECT sg_compile('sizes');

-- both ways
SELECT sg_invoke('sizes', '{"n": 42}', thread_id => 'size-42');
SELECT sg_invoke('sizes', '{"n": 7}', thread_id => 'size-7');
SELECT step, next FROM sg_get_state_history('size-42');

-- a boolean router picks from a path_map by "true" / "false", as LangGraph's
-- {True: ..., False: ...}; so does a JSON true, false or number
CREATE FUNCTION is_big(state jsonb) RETURNS boolean LANGUAGE sql AS $$ SELECT (state->>'n')::int > 10 $$;
CREATE FUNCTION is_big_json(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT to_jsonb((state->>'n')::int > 10) $$;
SELECT sg_create_graph('sizes2', '{"n": "replace", "log": "append"}');
SELECT sg_add_node('sizes2', 'classify', 'classify(jsonb)');
SELECT sg_add_node('sizes2', 'handle_big', 'handle_big(jsonb)');
SELECT sg_add_node('sizes2', 'handle_small', 'handle_small(jsonb)');
SELECT sg_add_edge('sizes2', '__start__', 'classify');
SELECT sg_add_conditional_edges('sizes2', 'classify', 'is_big(jsonb)');
SELECT sg_add_conditional_edges('sizes2', 'classify', 'is_big(jsonb)', '{"true": "handle_big", "false": "handle_small"}');
SELECT sg_add_edge('sizes2', 'handle_big', '__end__');
SELECT sg_add_edge('sizes2', 'handle_small', '__end__');
SELECT sg_compile('sizes2');
SELECT sg_invoke('sizes2', '{"n": 42}') -> 'log' AS big, sg_invoke('sizes2', '{"n": 7}') -> 'log' AS small;
DELETE FROM stategraph.branches WHERE graph = 'sizes2';
SELECT sg_add_conditional_edges('sizes2', 'classify', 'is_big_json(jsonb)', '{"true": "handle_big", "false": "handle_small"}');
SELECT sg_compile('sizes2');
SELECT sg_invoke('sizes2', '{"n": 42}') -> 'log' AS big, sg_invoke('sizes2', '{"n": 7}') -> 'log' AS small;

-- a router returning a list of names fans out; __end__ in a list ends that branch
CREATE FUNCTION route_many(state jsonb) RETURNS text[] LANGUAGE sql
    AS $$ SELECT ARRAY['handle_small', 'handle_big', '__end__'] $$;
SELECT sg_create_graph('many', '{"n": "replace", "log": "append"}');
SELECT sg_add_node('many', 'classify', 'classify(jsonb)');
SELECT sg_add_node('many', 'handle_big', 'handle_big(jsonb)');
SELECT sg_add_node('many', 'handle_small', 'handle_small(jsonb)');
SELECT sg_add_edge('many', '__start__', 'classify');
SELECT sg_add_conditional_edges('many', 'classify', 'route_many(jsonb)');
SELECT sg_add_edge('many', 'handle_big', '__end__');
SELECT sg_add_edge('many', 'handle_small', '__end__');
SELECT sg_compile('many');
-- both run in one step, their appends in node-name order
SELECT sg_invoke('many', '{"n": 1}', thread_id => 'many-1');
SELECT step, next FROM sg_get_state_history('many-1');

-- a router sees the state with its own node's update applied
CREATE FUNCTION bump(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('n', (state->>'n')::int + 1) $$;
CREATE FUNCTION until_three(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT to_jsonb(CASE WHEN (state->>'n')::int >= 3 THEN '__end__' ELSE 'bump' END) $$;
SELECT sg_create_graph('counter', '{"n": "replace"}');
SELECT sg_add_node('counter', 'bump', 'bump(jsonb)');
SELECT sg_add_edge('counter', '__start__', 'bump');
SELECT sg_add_conditional_edges('counter', 'bump', 'until_three(jsonb)', '["bump", "__end__"]');
SELECT sg_compile('counter');
SELECT sg_invoke('counter', '{"n": 0}', thread_id => 'count-1');
SELECT step, source, next, "values" FROM sg_get_state_history('count-1');

-- conditional edges from __start__
CREATE FUNCTION pick_start(state jsonb) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN state ? 'n' AND (state->>'n')::int > 10 THEN 'handle_big' ELSE 'handle_small' END $$;
SELECT sg_create_graph('entry', '{"n": "replace", "log": "append"}');
SELECT sg_add_node('entry', 'handle_big', 'handle_big(jsonb)');
SELECT sg_add_node('entry', 'handle_small', 'handle_small(jsonb)');
SELECT sg_add_conditional_edges('entry', '__start__', 'pick_start(jsonb)');
SELECT sg_add_edge('entry', 'handle_big', '__end__');
SELECT sg_add_edge('entry', 'handle_small', '__end__');
SELECT sg_compile('entry');
SELECT sg_invoke('entry', '{"n": 100}');
SELECT sg_invoke('entry', '{"n": 1}');

-- Send: map over items, one task per item, each with its own input; reduce after
CREATE FUNCTION split(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{}'::jsonb $$;
CREATE FUNCTION fan_out(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_agg(jsonb_build_object('node', 'square', 'arg', jsonb_build_object('x', x)))
          FROM jsonb_array_elements(state->'items') x $$;
CREATE FUNCTION square(arg jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('squares', jsonb_build_array((arg->>'x')::int * (arg->>'x')::int)) $$;
CREATE FUNCTION total(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('sum', (SELECT sum(v::int) FROM jsonb_array_elements_text(state->'squares') v)) $$;
SELECT sg_create_graph('mapreduce', '{"items": "replace", "squares": "append", "sum": "replace"}');
SELECT sg_add_node('mapreduce', 'split', 'split(jsonb)');
SELECT sg_add_node('mapreduce', 'square', 'square(jsonb)');
SELECT sg_add_node('mapreduce', 'total', 'total(jsonb)');
SELECT sg_add_edge('mapreduce', '__start__', 'split');
SELECT sg_add_conditional_edges('mapreduce', 'split', 'fan_out(jsonb)');
SELECT sg_add_edge('mapreduce', 'square', 'total');
SELECT sg_add_edge('mapreduce', 'total', '__end__');
SELECT sg_compile('mapreduce');
SELECT sg_invoke('mapreduce', '{"items": [1, 2, 3, 4]}', thread_id => 'mr-1');
SELECT step, next, jsonb_array_length(tasks) AS tasks FROM sg_get_state_history('mr-1');
SELECT t->>'name' AS task, t->'arg' AS arg, t->'result' AS result
FROM sg_get_state_history('mr-1', filter => '{"step": 1}'), jsonb_array_elements(tasks) t;

-- fan-out and join: a -> b, a -> c, [b, c] -> d; b and c run in one step and
-- their appends are applied in node-name order; d runs once, after both
CREATE FUNCTION say(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('log', jsonb_build_array(config->>'node')) $$;
SELECT sg_create_graph('diamond', '{"log": "append"}');
SELECT sg_add_node('diamond', 'a', 'say(jsonb,jsonb)');
SELECT sg_add_node('diamond', 'c', 'say(jsonb,jsonb)');
SELECT sg_add_node('diamond', 'b', 'say(jsonb,jsonb)');
SELECT sg_add_node('diamond', 'd', 'say(jsonb,jsonb)');
SELECT sg_add_edge('diamond', '__start__', 'a');
SELECT sg_add_edge('diamond', 'a', 'c');
SELECT sg_add_edge('diamond', 'a', 'b');
SELECT sg_add_edge('diamond', ARRAY['c', 'b'], 'd');
SELECT sg_add_edge('diamond', 'd', '__end__');
SELECT sg_compile('diamond');
SELECT sg_invoke('diamond', '{}', thread_id => 'diamond-1');
SELECT step, next, "values" FROM sg_get_state_history('diamond-1');

-- a join whose sources finish in different steps waits for the slower one
SELECT sg_create_graph('uneven', '{"log": "append"}');
SELECT sg_add_node('uneven', 'a', 'say(jsonb,jsonb)');
SELECT sg_add_node('uneven', 'b', 'say(jsonb,jsonb)');
SELECT sg_add_node('uneven', 'c1', 'say(jsonb,jsonb)');
SELECT sg_add_node('uneven', 'c2', 'say(jsonb,jsonb)');
SELECT sg_add_node('uneven', 'd', 'say(jsonb,jsonb)');
SELECT sg_add_edge('uneven', '__start__', 'a');
SELECT sg_add_edge('uneven', 'a', 'b');
SELECT sg_add_edge('uneven', 'a', 'c1');
SELECT sg_add_edge('uneven', 'c1', 'c2');
SELECT sg_add_edge('uneven', ARRAY['b', 'c2'], 'd');
SELECT sg_add_edge('uneven', 'd', '__end__');
SELECT sg_compile('uneven');
SELECT sg_invoke('uneven', '{}', thread_id => 'uneven-1');
SELECT step, next, "values" FROM sg_get_state_history('uneven-1');

-- a router that names an unknown node, or a value missing from its path_map
CREATE FUNCTION route_nowhere(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'nowhere' $$;
SELECT sg_create_graph('lost', '{"n": "replace"}');
SELECT sg_add_node('lost', 'bump', 'bump(jsonb)');
SELECT sg_add_edge('lost', '__start__', 'bump');
SELECT sg_add_conditional_edges('lost', 'bump', 'route_nowhere(jsonb)');
SELECT sg_compile('lost');
SELECT sg_invoke('lost', '{"n": 0}', thread_id => 'lost-1');
SELECT count(*) AS stored FROM stategraph.checkpoints WHERE thread_id = 'lost-1';
SELECT sg_invoke('lost', '{"n": 0}', thread_id => 'lost-3', on_error => 'return') -> '__error__' ->> 'message' AS error;
-- the recorded error names the node whose router failed
SELECT tasks->0->'error'->>'node' AS node, tasks->0->'error'->>'sqlstate' AS sqlstate FROM sg_get_state('lost-3');
SELECT step, next FROM sg_get_state('lost-3');

SET client_min_messages = warning;
DROP SCHEMA routing CASCADE;
