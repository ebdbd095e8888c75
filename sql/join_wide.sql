--
-- Joins of many sources, and graphs of many joins: their checks and the
-- load of the graph take n log n time, not n^2. A join's sources were
-- checked for a repeat against every earlier source (sg_add_edge, and the
-- check of a compiled spec at each load: 77 s for a join of 5,000
-- sources, not cancellable), and each join's key against every earlier
-- join's key (6 s at each load of a graph of 20,000 joins). The checks
-- report what they reported, and keys are renamed as they were.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA join_wide;
SET search_path = join_wide;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY terse

CREATE FUNCTION noop(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
CREATE FUNCTION note(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('log', jsonb_build_array(config->>'node')) $$;

-- sg_add_edge: the first source that repeats an earlier one, after the
-- checks of the sources before it
SELECT sg_create_graph('small', '{"log": "append"}');
SELECT sg_add_node('small', n, 'note(jsonb,jsonb)') FROM unnest(ARRAY['a', 'b', 'c', 'd']) n;
SELECT sg_add_edge('small', ARRAY['a', 'b', 'b', 'a'], 'd');
SELECT sg_add_edge('small', ARRAY['b', 'a', 'c', 'a', 'b'], 'd');
SELECT sg_add_edge('small', ARRAY['a', NULL, 'a'], 'd');
SELECT sg_add_edge('small', ARRAY['a', 'a', NULL], 'd');
SELECT sg_add_edge('small', ARRAY['a', '', 'a'], 'd');
SELECT sg_add_edge('small', ARRAY['a', '__end__', 'a'], 'd');
SELECT sg_add_edge('small', ARRAY['a', 'a', '__end__'], 'd');
-- a compiled spec's join: the same
SELECT sg_add_edge('small', '__start__', 'a');
SELECT sg_add_edge('small', 'a', 'b');
SELECT sg_add_edge('small', 'b', 'c');
SELECT sg_add_edge('small', ARRAY['b', 'c'], 'd');
SELECT sg_add_edge('small', 'd', '__end__');
SELECT sg_compile('small');
\set VERBOSITY default
UPDATE stategraph.graphs SET spec = jsonb_set(spec, '{edges,0,sources}', '["b", "c", "x", "c"]') WHERE graph = 'small';
SELECT spec->'edges'->0 FROM stategraph.graphs WHERE graph = 'small';
SELECT sg_draw('small') IS NOT NULL;
UPDATE stategraph.graphs SET spec = jsonb_set(spec, '{edges,0,sources}', '["b", "c", "b", "x"]') WHERE graph = 'small';
SELECT sg_draw('small') IS NOT NULL;
UPDATE stategraph.graphs SET spec = jsonb_set(spec, '{edges,0,sources}', '["c", "b", "a", "b", "c"]') WHERE graph = 'small';
SELECT sg_draw('small') IS NOT NULL;
\set VERBOSITY terse
SELECT sg_compile('small');
SELECT (sg_invoke('small', '{}'))->'log' AS log;

-- sg_add_edge of 20,000 sources, the last one the first again (its check
-- took 12 s, and no cancel stopped it)
DO $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    PERFORM sg_add_edge('small', (SELECT array_agg('s' || lpad((CASE WHEN i = 20000 THEN 1 ELSE i END)::text, 6, '0') ORDER BY i)
                                  FROM generate_series(1, 20000) i), 'd');
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE NOTICE '%, within 3 s: %', SQLERRM, clock_timestamp() - t0 < interval '3 s';
END $$;

-- a join of 5,000 sources (the draft's index holds no such edge: the
-- compiled spec written as its owner may): loaded within the timeout
SELECT sg_create_graph('wide', '{"x": "replace"}');
INSERT INTO stategraph.nodes (graph, node, fn, fn_owner)
SELECT 'wide', 's' || lpad(i::text, 6, '0'), 'join_wide.noop(pg_catalog.jsonb)', current_user FROM generate_series(1, 5000) i;
SELECT sg_add_node('wide', 'z', 'noop(jsonb)');
INSERT INTO stategraph.edges (graph, sources, target)
SELECT 'wide', ARRAY['__start__'], 's' || lpad(i::text, 6, '0') FROM generate_series(1, 5000) i;
INSERT INTO stategraph.edges (graph, sources, target)
SELECT 'wide', ARRAY['s' || lpad(i::text, 6, '0')], 'z' FROM generate_series(1, 5000) i;
SELECT sg_add_edge('wide', 'z', '__end__');
SELECT sg_compile('wide');
UPDATE stategraph.graphs SET spec = jsonb_set(spec, '{edges}',
    (SELECT jsonb_agg(e) FROM jsonb_array_elements(spec->'edges') e WHERE e->>'target' <> 'z')
    || jsonb_build_array(jsonb_build_object('target', 'z', 'sources',
           (SELECT jsonb_agg('s' || lpad(i::text, 6, '0') ORDER BY i) FROM generate_series(1, 5000) i)))
    || '[{"sources": ["z"], "target": "__end__"}]')
WHERE graph = 'wide';
SET statement_timeout = '2s';
SELECT sg_draw('wide') LIKE '%s005000 --> z;%' AS drawn;
RESET statement_timeout;
-- the same join with its first source again at its end: refused as before
UPDATE stategraph.graphs SET spec = jsonb_set(spec, '{edges,-2,sources}', spec->'edges'->-2->'sources' || '["s000001"]')
WHERE graph = 'wide';
\set VERBOSITY default
SET statement_timeout = '2s';
SELECT sg_draw('wide') IS NOT NULL;
RESET statement_timeout;
\set VERBOSITY terse

-- 25,000 joins of two sources each into one node: loaded within the timeout
SELECT sg_create_graph('many', '{"x": "replace"}');
INSERT INTO stategraph.nodes (graph, node, fn, fn_owner)
SELECT 'many', 's' || lpad(i::text, 6, '0'), 'join_wide.noop(pg_catalog.jsonb)', current_user FROM generate_series(1, 25000) i;
SELECT sg_add_node('many', 'z', 'noop(jsonb)');
INSERT INTO stategraph.edges (graph, sources, target)
SELECT 'many', ARRAY['__start__'], 's' || lpad(i::text, 6, '0') FROM generate_series(1, 25000) i;
INSERT INTO stategraph.edges (graph, sources, target)
SELECT 'many', ARRAY['s' || lpad(i::text, 6, '0'), 's' || lpad((i % 25000 + 1)::text, 6, '0')], 'z'
FROM generate_series(1, 25000) i;
SELECT sg_add_edge('many', 'z', '__end__');
SELECT sg_compile('many');
SET statement_timeout = '4s';
SELECT length(sg_draw('many')) > 0 AS drawn;
RESET statement_timeout;

-- joins whose keys collide, a renamed key colliding with another join's
-- own: ["a", "b+c"] -> d keeps "join:a+b+c:d", ["a", "b+c"] -> "d+" keeps
-- "join:a+b+c:d+", ["a+b", "c"] -> d takes "join:a+b+c:d++" and
-- ["a+b", "c"] -> "d+" "join:a+b+c:d+++" (the spec's order: the draft's
-- sources, then targets)
SELECT sg_create_graph('plus', '{"log": "append"}');
SELECT sg_add_node('plus', n, 'note(jsonb,jsonb)') FROM unnest(ARRAY['s', 'a', 'a+b', 'y', 'b+c', 'c', 'd', 'd+']) n;
SELECT sg_add_edge('plus', '__start__', 's');
SELECT sg_add_edge('plus', 's', 'a');
SELECT sg_add_edge('plus', 's', 'a+b');
SELECT sg_add_edge('plus', 'a', 'y');
SELECT sg_add_edge('plus', 'y', 'c');
SELECT sg_add_edge('plus', 'y', 'b+c');
SELECT sg_add_edge('plus', ARRAY['a+b', 'c'], 'd');
SELECT sg_add_edge('plus', ARRAY['a', 'b+c'], 'd+');
SELECT sg_add_edge('plus', ARRAY['a+b', 'c'], 'd+');
SELECT sg_add_edge('plus', ARRAY['a', 'b+c'], 'd');
SELECT sg_add_edge('plus', n, '__end__') FROM unnest(ARRAY['a+b', 'b+c', 'c', 'd', 'd+']) n;
SELECT sg_compile('plus');
SELECT e FROM stategraph.graphs, jsonb_array_elements(spec->'edges') e
WHERE graph = 'plus' AND jsonb_array_length(e->'sources') > 1;
SELECT (sg_invoke('plus', '{}', 't-plus'))->'log' AS log;
SELECT step, next, barriers FROM stategraph.checkpoints WHERE thread_id = 't-plus' ORDER BY step;

SET client_min_messages = warning;
DROP SCHEMA join_wide CASCADE;
