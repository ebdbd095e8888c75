--
-- The memory a loaded graph keeps in the backend's cache (its "stategraph
-- graph" context, for the backend's life). Each node had room for all the
-- graph's edges, twice (out-edges and joins), and all its conditional
-- edges: memory of nodes x edges, 101 MB for a chain of 3,000 nodes. Each
-- node has room for its own now; and what the lookups of its functions
-- took (20 MB here), and the scalar jsonb made of each name read from the
-- spec (14 MB), are not kept: 3 MB.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA graph_load_memory;
SET search_path = graph_load_memory;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY terse

CREATE FUNCTION noop(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
CREATE FUNCTION to_b(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'b' $$;

-- a chain of 3,000 nodes
SELECT sg_create_graph('chain', '{"x": "replace"}');
SELECT count(sg_add_node('chain', 'n' || lpad(i::text, 6, '0'), 'noop(jsonb)')) FROM generate_series(1, 3000) i;
SELECT sg_add_edge('chain', '__start__', 'n000001');
SELECT count(sg_add_edge('chain', 'n' || lpad(i::text, 6, '0'), 'n' || lpad((i + 1)::text, 6, '0')))
FROM generate_series(1, 2999) i;
SELECT sg_add_edge('chain', 'n003000', '__end__');
SELECT sg_compile('chain');
SELECT length(sg_draw('chain')) > 0 AS loaded;
SELECT total_bytes < 8 * 1024 * 1024 AS under_8_mb
FROM pg_backend_memory_contexts WHERE name = 'stategraph graph' AND ident = 'chain';

-- 3,000 nodes joined in pairs (2,998 join edges): each edge's copies of the
-- spec's parts and each join key's StringInfo (1 kB at least) were kept,
-- 6.9 MB; 2.2 MB now
SELECT sg_create_graph('pairs', '{"x": "replace"}');
SELECT count(sg_add_node('pairs', 'n' || lpad(i::text, 6, '0'), 'noop(jsonb)')) FROM generate_series(1, 3000) i;
SELECT sg_add_edge('pairs', '__start__', 'n000001');
SELECT sg_add_edge('pairs', '__start__', 'n000002');
SELECT count(sg_add_edge('pairs', ARRAY['n' || lpad(i::text, 6, '0'), 'n' || lpad((i + 1)::text, 6, '0')],
                         'n' || lpad((i + 2)::text, 6, '0')))
FROM generate_series(1, 2998) i;
SELECT sg_add_edge('pairs', 'n002999', '__end__');
SELECT sg_add_edge('pairs', 'n003000', '__end__');
SELECT sg_compile('pairs');
SELECT length(sg_draw('pairs')) > 0 AS loaded;
SELECT total_bytes < 4 * 1024 * 1024 AS under_4_mb
FROM pg_backend_memory_contexts WHERE name = 'stategraph graph' AND ident = 'pairs';

-- each node's edges, joins and conditional edges are its own and in order
SELECT sg_create_graph('mix', '{"x": "replace"}');
SELECT sg_add_node('mix', n, 'noop(jsonb)') FROM unnest(ARRAY['a', 'b', 'c', 'd', 'e']) n;
SELECT sg_add_edge('mix', '__start__', 'a');
SELECT sg_add_edge('mix', '__start__', 'c');
SELECT sg_add_edge('mix', 'a', 'b');
SELECT sg_add_edge('mix', 'a', 'e');
SELECT sg_add_edge('mix', ARRAY['a', 'c'], 'd');
SELECT sg_add_edge('mix', ARRAY['b', 'c'], 'e');
SELECT sg_add_conditional_edges('mix', 'c', 'to_b(jsonb)', '["b"]');
SELECT sg_add_edge('mix', 'd', '__end__');
SELECT sg_add_edge('mix', 'e', '__end__');
SELECT sg_add_edge('mix', 'b', '__end__');
SELECT sg_compile('mix');
SELECT sg_draw('mix');
SELECT (sg_invoke('mix', '{}', 't-mix'))->'x' AS x;
SELECT step, next, barriers FROM stategraph.checkpoints WHERE thread_id = 't-mix' ORDER BY step;

SET client_min_messages = warning;
DROP SCHEMA graph_load_memory CASCADE;
