-- A graph that fails to load (a function of it dropped) frees what its
-- load built: each failed load left a "stategraph graph" memory context of
-- about 40 kB in the backend's cache memory for the backend's life (a
-- pooled connection, or a worker completing tasks of such a graph, grew
-- without end).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA ext_graph_load_leak;
SET search_path = ext_graph_load_leak;
CREATE EXTENSION stategraph;
RESET client_min_messages;
CREATE FUNCTION step(s jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('g', '{"n": "replace"}');
SELECT sg_add_node('g', 'a', 'step(jsonb)');
SELECT sg_add_edge('g', '__start__', 'a');
SELECT sg_add_edge('g', 'a', '__end__');
SELECT sg_compile('g');
SELECT sg_invoke('g', '{"n": 0}', 't');
DROP FUNCTION step(jsonb);
CREATE TEMP TABLE before AS
SELECT count(*) AS n FROM pg_backend_memory_contexts WHERE name = 'stategraph graph';
DO $$
BEGIN
    FOR i IN 1..50 LOOP
        BEGIN
            PERFORM sg_invoke('g', '{"n": 0}', 't');
        EXCEPTION WHEN undefined_function THEN
            NULL;
        END;
    END LOOP;
END $$;
SELECT count(*) - (SELECT n FROM before) AS contexts_left
FROM pg_backend_memory_contexts WHERE name = 'stategraph graph';
SET client_min_messages = warning;
DROP SCHEMA ext_graph_load_leak CASCADE;
