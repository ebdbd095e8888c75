--
-- sg_draw's Mermaid chart and two rules of Mermaid's flowchart lexer (checked
-- with mermaid.parse of mermaid 11.17): a line that begins with "click" and
-- white space is a click directive (a node named click lost its edges, or
-- the chart did not parse), and a line holding "direction", white space and
-- TB/TD/BT/RL/LR anywhere is a direction statement (a node label or an
-- edge's path_map key saying so lost its node's label, or its edge).
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA draw_mermaid_lexer;
SET search_path = draw_mermaid_lexer;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION note(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('log', jsonb_build_array(config->>'node')) $$;
CREATE FUNCTION pick(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'go direction TB' $$;
SELECT sg_create_graph('lexer', '{"log": "append"}');
SELECT sg_add_node('lexer', n, 'note(jsonb,jsonb)')
  FROM unnest(ARRAY['click', 'turn direction LR', 'clicks', 'direction', 'b']) n;
SELECT sg_add_edge('lexer', '__start__', 'click');
SELECT sg_add_edge('lexer', 'click', 'clicks');
SELECT sg_add_conditional_edges('lexer', 'clicks', 'pick(jsonb)',
                                '{"go direction TB": "turn direction LR", "direction": "direction"}');
SELECT sg_add_edge('lexer', 'turn direction LR', 'b');
SELECT sg_add_edge('lexer', 'direction', 'b');
SELECT sg_add_edge('lexer', 'b', '__end__');
SELECT sg_compile('lexer');
SELECT sg_invoke('lexer', '{}');
-- click gets an escaped id; no line holds the word direction followed by white space
SELECT sg_draw('lexer');
SELECT count(*) AS direction_lines FROM regexp_split_to_table(sg_draw('lexer'), E'\n') l
 WHERE l ~ 'direction\s+(TB|TD|BT|RL|LR)';
SELECT count(*) AS click_lines FROM regexp_split_to_table(sg_draw('lexer'), E'\n') l
 WHERE l ~ '^\s*click\s';
-- the dot picture keeps every name as it is
SELECT sg_draw('lexer', 'dot');
