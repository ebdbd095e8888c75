--
-- sg_compile of large graphs: linear in the nodes and edges, and cancelled
-- by statement_timeout. Its reachability check took passes over all edges
-- until none reached a new node, each looking names up by a scan of the
-- nodes, and checked no interrupt: a chain whose names sort against its
-- order took O(N^3) (3,000 nodes: minutes), past any statement_timeout.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA compile_large;
SET search_path = compile_large;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY terse

CREATE FUNCTION noop(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
CREATE FUNCTION to_c(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'c' $$;

-- reachability keeps its rules: a join waits for all its sources, a
-- conditional edge reaches its path_map (or every node without one)
SELECT sg_create_graph('j1', '{"x": "replace"}');
SELECT sg_add_node('j1', n, 'noop(jsonb)') FROM unnest(ARRAY['a', 'b', 'c', 'd', 'e']) n;
SELECT sg_add_edge('j1', '__start__', 'e');
SELECT sg_add_edge('j1', 'e', 'd');
SELECT sg_add_conditional_edges('j1', 'd', 'to_c(jsonb)', '["c"]');
SELECT sg_add_edge('j1', ARRAY['e', 'c'], 'b');
SELECT sg_add_edge('j1', 'b', 'a');
SELECT sg_add_edge('j1', 'a', '__end__');
SELECT sg_add_edge('j1', 'c', '__end__');
SELECT sg_compile('j1');
-- a join one of whose sources is never reached leads nowhere
SELECT sg_create_graph('j2', '{"x": "replace"}');
SELECT sg_add_node('j2', n, 'noop(jsonb)') FROM unnest(ARRAY['a', 'b', 'c', 'island']) n;
SELECT sg_add_edge('j2', '__start__', 'c');
SELECT sg_add_edge('j2', ARRAY['c', 'island'], 'b');
SELECT sg_add_edge('j2', 'island', 'b');
SELECT sg_add_edge('j2', 'b', 'a');
SELECT sg_add_edge('j2', 'a', '__end__');
SELECT sg_add_edge('j2', 'c', '__end__');
SELECT sg_compile('j2');
-- a conditional edge without a path_map reaches every node
SELECT sg_create_graph('j3', '{"x": "replace"}');
SELECT sg_add_node('j3', n, 'noop(jsonb)') FROM unnest(ARRAY['a', 'b', 'z']) n;
SELECT sg_add_edge('j3', '__start__', 'z');
SELECT sg_add_conditional_edges('j3', 'z', 'to_c(jsonb)');
SELECT sg_add_edge('j3', 'a', '__end__');
SELECT sg_add_edge('j3', 'b', '__end__');
SELECT sg_compile('j3');

-- a chain of 3,000 nodes whose names sort against its order: well under a
-- second now (minutes before, past the statement_timeout)
SELECT sg_create_graph('r3000', '{"x": "replace"}');
SELECT count(sg_add_node('r3000', 'n' || lpad((3000 - i)::text, 6, '0'), 'noop(jsonb)'))
FROM generate_series(1, 3000) i;
SELECT sg_add_edge('r3000', '__start__', 'n002999');
SELECT count(sg_add_edge('r3000', 'n' || lpad((3000 - i)::text, 6, '0'), 'n' || lpad((3000 - i - 1)::text, 6, '0')))
FROM generate_series(1, 2999) i;
SELECT sg_add_edge('r3000', 'n000000', '__end__');
SET statement_timeout = '20s';
SELECT sg_compile('r3000');
RESET statement_timeout;
SELECT jsonb_array_length(spec->'nodes') AS nodes, jsonb_array_length(spec->'edges') AS edges
FROM stategraph.graphs WHERE graph = 'r3000';

-- the compile of a graph of 50,000 nodes (a second or more) stops at its
-- statement_timeout (it could not be cancelled before, nor even ended)
SELECT sg_create_graph('big', '{"x": "replace"}');
INSERT INTO stategraph.nodes (graph, node, fn, fn_owner)
SELECT 'big', 'n' || lpad((50000 - i)::text, 6, '0'), 'compile_large.noop(pg_catalog.jsonb)', current_user
FROM generate_series(1, 50000) i;
INSERT INTO stategraph.edges (graph, sources, target)
SELECT 'big', ARRAY[CASE WHEN i = 0 THEN '__start__' ELSE 'n' || lpad((50000 - i)::text, 6, '0') END],
       CASE WHEN i = 50000 THEN '__end__' ELSE 'n' || lpad((50000 - i - 1)::text, 6, '0') END
FROM generate_series(0, 50000) i;
SET statement_timeout = '100ms';
DO $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    PERFORM sg_compile('big');
    RAISE NOTICE 'compiled';
EXCEPTION WHEN query_canceled THEN
    RAISE NOTICE 'cancelled within 5 s: %', clock_timestamp() - t0 < interval '5 s';
END $$;
RESET statement_timeout;

SET client_min_messages = warning;
DROP SCHEMA compile_large CASCADE;
