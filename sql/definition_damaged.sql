--
-- Graph definitions under attack (helper-175): what a rejected or repeated
-- definition call leaves stored.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA definition_damaged;
SET search_path = definition_damaged;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY terse

CREATE FUNCTION note(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('log', jsonb_build_array(config->>'node')) $$;
SELECT sg_create_graph('j', '{"log": "append"}');
SELECT sg_add_node('j', n, 'note(jsonb,jsonb)') FROM unnest(ARRAY['a', 'b', 'c', 'd']) n;
SELECT sg_add_edge('j', '__start__', 'a');
SELECT sg_add_edge('j', 'a', 'b');
SELECT sg_add_edge('j', 'a', 'c');
-- a join given twice is one join, whatever the bounds of its array
SELECT sg_add_edge('j', ARRAY['b', 'c'], 'd');
SELECT sg_add_edge('j', '[0:1]={b,c}'::text[], 'd');
SELECT sg_add_edge('j', '[5:6]={b,c}'::text[], 'd');
SELECT sources, array_lower(sources, 1) AS lower, target FROM stategraph.edges
 WHERE graph = 'j' AND target = 'd';
SELECT sg_add_edge('j', 'd', '__end__');
SELECT sg_compile('j');
SELECT sg_invoke('j', '{}');
SELECT count(*) AS joins_drawn FROM regexp_split_to_table(sg_draw('j'), E'\n') l WHERE l ~ '--> d;';
-- names of a join and of a path_map are names: at most 512 bytes, as
-- sg_add_edge's source and target (a join's long name failed on the index
-- of stategraph.edges with 54000, a path_map's was stored)
SELECT sg_add_edge('j', ARRAY['b', repeat('x', 513)], 'd');
SELECT sg_add_edge('j', ARRAY[(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 100) i), 'b'], 'd');
CREATE FUNCTION to_b(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'b' $$;
SELECT sg_add_conditional_edges('j', 'a', 'to_b(jsonb)', jsonb_build_object('k', repeat('x', 513)));
SELECT sg_add_conditional_edges('j', 'a', 'to_b(jsonb)', jsonb_build_array(repeat('x', 513)));
SELECT count(*) AS stored FROM stategraph.branches WHERE graph = 'j';
SELECT count(*) AS stored FROM stategraph.edges WHERE graph = 'j';

-- A join naming one source twice, written into the draft by its owner's SQL
-- (stategraph.edges is the owner's to write) or forged into the compiled
-- spec: build_join gave the node one slot per edge for its joins, and the
-- repeats wrote past them (a segmentation fault at the graph's first run).
-- sg_compile and every load refuse such a definition as damaged (55000).
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_defdmg_owner;
RESET client_min_messages;
CREATE ROLE regress_defdmg_owner;
GRANT USAGE ON SCHEMA definition_damaged TO regress_defdmg_owner;
SET ROLE regress_defdmg_owner;
\set VERBOSITY default
SELECT sg_create_graph('dup', '{"log": "append"}');
SELECT sg_add_node('dup', n, 'note(jsonb,jsonb)') FROM unnest(ARRAY['a', 'b', 'd']) n;
SELECT sg_add_edge('dup', '__start__', 'a');
SELECT sg_add_edge('dup', 'a', 'b');
SELECT sg_add_edge('dup', 'b', 'd');
SELECT sg_add_edge('dup', 'd', '__end__');
SELECT sg_compile('dup');
-- the draft: refused by sg_compile, the compiled definition kept
INSERT INTO stategraph.edges VALUES ('dup', array_fill('b'::text, ARRAY[40]), 'd');
SELECT sg_compile('dup');
\echo :LAST_ERROR_SQLSTATE
SELECT version, jsonb_array_length(spec->'edges') AS edges FROM stategraph.graphs WHERE graph = 'dup';
SELECT sg_invoke('dup', '{}');
\echo :LAST_ERROR_SQLSTATE
DELETE FROM stategraph.edges WHERE graph = 'dup' AND cardinality(sources) > 1;
-- the compiled spec: refused when the graph is loaded
UPDATE stategraph.graphs
   SET spec = jsonb_set(spec, '{edges}', spec->'edges' || jsonb_build_array(
             jsonb_build_object('sources', to_jsonb(array_fill('b'::text, ARRAY[40])), 'target', 'd')))
 WHERE graph = 'dup';
SELECT sg_invoke('dup', '{}');
SELECT sg_draw('dup') IS NOT NULL AS drawn;
\echo :LAST_ERROR_SQLSTATE
SELECT sg_compile('dup');
SELECT sg_invoke('dup', '{}');
SELECT sg_drop_graph('dup');
RESET ROLE;
REVOKE USAGE ON SCHEMA definition_damaged FROM regress_defdmg_owner;
DROP ROLE regress_defdmg_owner;

-- Two joins into d whose sources read the same joined with "+" (["a+b", "c"]
-- and ["a", "b+c"]: LangGraph's channel name "join:a+b+c:d" for both) each
-- keep what they have seen: they shared one entry of a checkpoint's
-- barriers, the second overwriting the first.
SELECT sg_create_graph('plus', '{"log": "append"}');
SELECT sg_add_node('plus', n, 'note(jsonb,jsonb)') FROM unnest(ARRAY['s', 'a', 'a+b', 'y', 'b+c', 'c', 'd']) n;
SELECT sg_add_edge('plus', '__start__', 's');
SELECT sg_add_edge('plus', 's', 'a');
SELECT sg_add_edge('plus', 's', 'a+b');
SELECT sg_add_edge('plus', 'a', 'y');
SELECT sg_add_edge('plus', 'y', 'c');
SELECT sg_add_edge('plus', 'y', 'b+c');
SELECT sg_add_edge('plus', ARRAY['a+b', 'c'], 'd');
SELECT sg_add_edge('plus', ARRAY['a', 'b+c'], 'd');
SELECT sg_add_edge('plus', n, '__end__') FROM unnest(ARRAY['a+b', 'b+c', 'c', 'd']) n;
SELECT sg_compile('plus');
SELECT sg_invoke('plus', '{}', 't-plus');
SELECT step, next, barriers FROM stategraph.checkpoints WHERE thread_id = 't-plus' ORDER BY step;
SELECT sg_delete_thread('t-plus');

-- A custom reducer dropped and created again under its signature with
-- another return type was called all the same, its result read as jsonb
-- (an integer: a segmentation fault). Loading the graph checks the
-- reducer's signature, as it checks nodes' and routers', and sg_compile too.
\set VERBOSITY default
CREATE FUNCTION keep_new(cur jsonb, upd jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT upd $$;
CREATE FUNCTION set_m(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"m": {"a": [1, 2, 3]}}'::jsonb $$;
SELECT sg_create_graph('redef', '{"m": {"reducer": "keep_new", "default": {"z": 1}}}');
SELECT sg_add_node('redef', 'a', 'set_m(jsonb)');
SELECT sg_add_edge('redef', '__start__', 'a');
SELECT sg_add_edge('redef', 'a', '__end__');
SELECT sg_compile('redef');
SELECT sg_invoke('redef', '{}');
DROP FUNCTION keep_new(jsonb, jsonb);
CREATE FUNCTION keep_new(cur jsonb, upd jsonb) RETURNS int LANGUAGE sql AS $$ SELECT 42 $$;
SELECT sg_invoke('redef', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT sg_compile('redef');
\echo :LAST_ERROR_SQLSTATE
DROP FUNCTION keep_new(jsonb, jsonb);
CREATE FUNCTION keep_new(cur jsonb, upd jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT cur || upd $$;
SELECT sg_invoke('redef', '{}');
SELECT sg_drop_graph('redef');
