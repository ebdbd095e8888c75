--
-- Running a join of many sources takes time linear in them, not n^2: each
-- finished source was looked for among all its join's sources, and each
-- name of a stored barrier compared with every source (a join of 20,000
-- sources, all but one run in one step: 4.6 s). Barriers are stored and
-- read as they were.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA join_wide_run;
SET search_path = join_wide_run;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY terse

CREATE FUNCTION noop(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
CREATE FUNCTION note(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('log', jsonb_build_array(config->>'node')) $$;

-- a join whose sources are not in name order, seen over three steps, and
-- a barrier stored before the run resumes (with a name of no node, one of
-- a node that is no source, and a number) read as before
SELECT sg_create_graph('three', '{"log": "append"}');
SELECT sg_add_node('three', n, 'note(jsonb,jsonb)') FROM unnest(ARRAY['b', 'c', 'd', 'e', 'x', 'y']) n;
SELECT sg_add_edge('three', '__start__', 'b');
SELECT sg_add_edge('three', '__start__', 'x');
SELECT sg_add_edge('three', 'x', 'c');
SELECT sg_add_edge('three', 'x', 'y');
SELECT sg_add_edge('three', 'y', 'd');
SELECT sg_add_edge('three', ARRAY['d', 'c', 'b'], 'e');
SELECT sg_add_edge('three', 'e', '__end__');
SELECT sg_compile('three', interrupt_before => ARRAY['d']);
SELECT (sg_invoke('three', '{}', 't-three'))->'log' AS log;
SELECT step, next, barriers FROM stategraph.checkpoints WHERE thread_id = 't-three' ORDER BY step;
UPDATE stategraph.checkpoints SET barriers = '{"join:d+c+b:e": ["c", "nope", 7, "e", "b"]}'
WHERE thread_id = 't-three' AND step = 2;
-- (a new session: this one keeps the thread's last checkpoint cached)
\c -
SET search_path = join_wide_run;
\set SHOW_CONTEXT never
\set VERBOSITY terse
SELECT (sg_invoke('three', NULL, 't-three'))->'log' AS log;
SELECT step, next, barriers FROM stategraph.checkpoints WHERE thread_id = 't-three' ORDER BY step;
-- the stored barrier without "b": the join waits for it
SELECT (sg_invoke('three', '{}', 't-three-2'))->'log' AS log;
UPDATE stategraph.checkpoints SET barriers = '{"join:d+c+b:e": ["c", "nope", 7, "e"]}'
WHERE thread_id = 't-three-2' AND step = 2;
\c -
SET search_path = join_wide_run;
\set SHOW_CONTEXT never
\set VERBOSITY terse
SELECT (sg_invoke('three', NULL, 't-three-2'))->'log' AS log;
SELECT step, next, barriers FROM stategraph.checkpoints WHERE thread_id = 't-three-2' ORDER BY step;

-- a join of 25,000 sources (written into the compiled spec, as in
-- join_wide): 24,999 run in the first step, the last one a step later
SELECT sg_create_graph('wide', '{"x": "replace"}');
INSERT INTO stategraph.nodes (graph, node, fn, fn_owner)
SELECT 'wide', 's' || lpad(i::text, 6, '0'), 'join_wide_run.noop(pg_catalog.jsonb)', current_user
FROM generate_series(1, 25000) i;
SELECT sg_add_node('wide', n, 'noop(jsonb)') FROM unnest(ARRAY['a', 'z']) n;
INSERT INTO stategraph.edges (graph, sources, target)
SELECT 'wide', ARRAY['__start__'], 's' || lpad(i::text, 6, '0') FROM generate_series(1, 24999) i;
SELECT sg_add_edge('wide', '__start__', 'a');
SELECT sg_add_edge('wide', 'a', 's025000');
INSERT INTO stategraph.edges (graph, sources, target)
SELECT 'wide', ARRAY['s' || lpad(i::text, 6, '0')], 'z' FROM generate_series(1, 25000) i;
SELECT sg_add_edge('wide', 'z', '__end__');
SELECT sg_compile('wide');
UPDATE stategraph.graphs SET spec = jsonb_set(spec, '{edges}',
    (SELECT jsonb_agg(e) FROM jsonb_array_elements(spec->'edges') e WHERE e->>'target' <> 'z')
    || jsonb_build_array(jsonb_build_object('target', 'z', 'sources',
           (SELECT jsonb_agg('s' || lpad(i::text, 6, '0') ORDER BY i) FROM generate_series(1, 25000) i)))
    || '[{"sources": ["z"], "target": "__end__"}]')
WHERE graph = 'wide';
SELECT length(sg_draw('wide')) > 0 AS loaded;
SET statement_timeout = '3s';
SELECT sg_invoke('wide', '{}', 't-wide');
RESET statement_timeout;
SELECT step, cardinality(next) AS next, next[1:2] AS first_next,
       (SELECT jsonb_array_length(value) FROM jsonb_each(barriers)) AS seen
FROM stategraph.checkpoints WHERE thread_id = 't-wide' ORDER BY step;
SELECT b.value = (SELECT jsonb_agg('s' || lpad(i::text, 6, '0') ORDER BY i) FROM generate_series(1, 24999) i) AS seen_in_order
FROM stategraph.checkpoints c, jsonb_each(c.barriers) b WHERE thread_id = 't-wide' AND step = 1;

SET client_min_messages = warning;
DROP SCHEMA join_wide_run CASCADE;
