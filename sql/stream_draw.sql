--
-- sg_stream (modes updates and values) and sg_draw.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA stream_draw;
SET search_path = stream_draw;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION step_n(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('step', (state->>'step')::int + 1,
                              'messages', jsonb_build_array((config->>'node') || ' complete'))
$$;
CREATE FUNCTION route(state jsonb) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN (state->>'step')::int < 3 THEN 'again' ELSE 'done' END $$;
SELECT sg_create_graph('wf', '{"messages": "append", "step": "replace"}');
SELECT sg_add_node('wf', 'step1', 'step_n(jsonb,jsonb)');
SELECT sg_add_node('wf', 'step2', 'step_n(jsonb,jsonb)');
SELECT sg_add_edge('wf', '__start__', 'step1');
SELECT sg_add_edge('wf', 'step1', 'step2');
SELECT sg_add_conditional_edges('wf', 'step2', 'route(jsonb)', '{"again": "step1", "done": "__end__"}');
SELECT sg_compile('wf');

-- updates: one row per node write, as the steps complete
SELECT * FROM sg_stream('wf', '{"step": 0}', thread_id => 's-1');
-- values: one row per super-step
SELECT * FROM sg_stream('wf', '{"step": 0}', thread_id => 's-2', mode => 'values');
-- streaming persists like sg_invoke
SELECT step, next FROM sg_get_state('s-2');
-- in the select list, rows are produced as the run goes
SELECT (sg_stream('wf', '{"step": 1}')).node;
-- a resume streams from where the thread stopped
SELECT sg_compile('wf', interrupt_before => ARRAY['step2']);
SELECT * FROM sg_stream('wf', '{"step": 0}', thread_id => 's-3');
SELECT * FROM sg_stream('wf', NULL, thread_id => 's-3', mode => 'values');
SELECT sg_stream('wf', '{}', mode => 'everything');

-- sg_draw: Mermaid (as LangGraph's draw_mermaid) and Graphviz dot;
-- conditional edges are dashed and labelled
SELECT sg_draw('wf');
SELECT sg_draw('wf', 'dot');
CREATE FUNCTION anywhere(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT '__end__' $$;
SELECT sg_create_graph('join', '{"log": "append"}');
SELECT sg_add_node('join', 'a', 'step_n(jsonb,jsonb)');
SELECT sg_add_node('join', 'b', 'step_n(jsonb,jsonb)');
SELECT sg_add_node('join', 'c', 'step_n(jsonb,jsonb)');
SELECT sg_add_edge('join', '__start__', 'a');
SELECT sg_add_edge('join', '__start__', 'b');
SELECT sg_add_edge('join', ARRAY['a', 'b'], 'c');
SELECT sg_add_conditional_edges('join', 'c', 'anywhere(jsonb)');
SELECT sg_compile('join');
SELECT sg_draw('join');
SELECT sg_draw('join', 'png');
-- names that are not plain identifiers: one Mermaid id each, labels escaped
SELECT sg_create_graph('names', '{"log": "append"}');
SELECT sg_add_node('names', 'a b', 'step_n(jsonb,jsonb)');
SELECT sg_add_node('names', 'a_b', 'step_n(jsonb,jsonb)');
SELECT sg_add_node('names', 'say "hi"; -->', 'step_n(jsonb,jsonb)');
SELECT sg_add_edge('names', '__start__', 'a b');
SELECT sg_add_edge('names', 'a b', 'a_b');
SELECT sg_add_edge('names', 'a_b', 'say "hi"; -->');
SELECT sg_add_edge('names', 'say "hi"; -->', '__end__');
SELECT sg_compile('names');
SELECT sg_draw('names');
-- names that are words of Mermaid's syntax ("end" would close a subgraph,
-- "class" start a class statement): escaped ids too, so the chart parses
SELECT sg_create_graph('keywords', '{"log": "append"}');
SELECT sg_add_node('keywords', n, 'step_n(jsonb,jsonb)') FROM unnest(ARRAY['end', 'class', 'End']) n;
SELECT sg_add_edge('keywords', '__start__', 'end');
SELECT sg_add_edge('keywords', 'end', 'class');
SELECT sg_add_edge('keywords', 'class', 'End');
SELECT sg_add_edge('keywords', 'End', '__end__');
SELECT sg_compile('keywords');
SELECT sg_draw('keywords');
SELECT sg_draw('nope');

-- an sg_stream left open as a cursor (in the select list, so that rows come
-- as the run goes; in FROM the whole run is done at the first FETCH) holds
-- its thread until the cursor is closed: sg_invoke of that thread in the
-- same session is refused, and the error says why
BEGIN;
DECLARE held CURSOR FOR SELECT sg_stream('wf', '{"step": 0}', thread_id => 's-held');
FETCH 1 FROM held;
SELECT sg_invoke('wf', NULL, thread_id => 's-held');
ROLLBACK;
BEGIN;
DECLARE held CURSOR FOR SELECT sg_stream('wf', '{"step": 0}', thread_id => 's-held');
FETCH 1 FROM held;
CLOSE held;
SELECT sg_invoke('wf', NULL, thread_id => 's-held') ->> 'step' AS step_after_close;
COMMIT;

SET client_min_messages = warning;
DROP SCHEMA stream_draw CASCADE;
