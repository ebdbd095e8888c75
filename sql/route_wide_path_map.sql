-- A router answering k names through an array path_map of P names took
-- k x P time and memory: each name scanned the whole path_map, building a
-- Jsonb of about 1 kB per entry (P = 4,000 and k = 2,000: about 10 GB and
-- over 25 s). The names are now read once per router call and searched.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA route_wide_path_map;
SET search_path = route_wide_path_map;
CREATE EXTENSION stategraph;
RESET client_min_messages;
CREATE FUNCTION step(s jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
-- 2,000 names, each "b"
CREATE FUNCTION many(s jsonb) RETURNS jsonb LANGUAGE sql AS
$$ SELECT jsonb_agg('b'::text) FROM generate_series(1, 2000) $$;
CREATE FUNCTION many_text(s jsonb) RETURNS text[] LANGUAGE sql AS
$$ SELECT array_agg(CASE WHEN i = 1000 THEN '__end__' ELSE 'b' END) FROM generate_series(1, 2000) i $$;
CREATE FUNCTION stray(s jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '["b", "c", "zz"]'::jsonb $$;
-- a path_map of 4,000 names: "b" 3,998 times (duplicates are allowed), "c", "__end__"
CREATE FUNCTION wide_map() RETURNS jsonb LANGUAGE sql AS
$$ SELECT jsonb_agg('b'::text) || '["c", "__end__"]' FROM generate_series(1, 3998) $$;
SELECT jsonb_array_length(wide_map()) AS path_map_names;
CREATE FUNCTION build(graph text, router regprocedure, path_map jsonb) RETURNS void LANGUAGE sql AS $$
    SELECT sg_create_graph(graph, '{"n": "add"}');
    SELECT sg_add_node(graph, 'a', 'step(jsonb)');
    SELECT sg_add_node(graph, 'b', 'step(jsonb)');
    SELECT sg_add_node(graph, 'c', 'step(jsonb)');
    SELECT sg_add_edge(graph, '__start__', 'a');
    SELECT sg_add_conditional_edges(graph, 'a', router, path_map);
    SELECT sg_add_edge(graph, 'b', '__end__');
    SELECT sg_add_edge(graph, 'c', '__end__');
    SELECT sg_compile(graph);
$$;
SELECT build('wide', 'many(jsonb)', wide_map());
SELECT build('wide_text', 'many_text(jsonb)', wide_map());
SELECT build('strays', 'stray(jsonb)', wide_map());
SET statement_timeout = '5s';
-- a and then b ran once each
SELECT sg_invoke('wide', '{"n": 0}', 'w1');
SELECT sg_invoke('wide_text', '{"n": 0}', 'w2');
-- a name not in the path_map is refused, as before
SELECT sg_invoke('strays', '{"n": 0}', 'w3');
RESET statement_timeout;
SELECT step, next, "values" FROM sg_get_state_history('w1') ORDER BY step;
SET client_min_messages = warning;
DROP SCHEMA route_wide_path_map CASCADE;
