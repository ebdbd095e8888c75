--
-- Graph definitions under attack (helper-175): what a rejected or repeated
-- definition call leaves stored.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA rev41f_definition;
SET search_path = rev41f_definition;
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
