-- sg_stream in mode 'values' of a resume starts with the values it resumes
-- from, as LangGraph's stream(null) does (its loop emits the channels' values
-- whenever it resumes): also when nothing is left to run, a finished thread
-- or a travel back to its last checkpoint, where sg_invoke returns those same
-- values and LangGraph streams them once. It returned no row there.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA sem_stream_values_resume;
SET search_path = sem_stream_values_resume;
CREATE EXTENSION stategraph;
RESET client_min_messages;

CREATE FUNCTION a(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"log": ["a"]}'::jsonb $$;
CREATE FUNCTION b(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"log": ["b"]}'::jsonb $$;
SELECT sg_create_graph('sv', '{"log": "append"}');
SELECT sg_add_node('sv', 'a', 'a(jsonb)');
SELECT sg_add_node('sv', 'b', 'b(jsonb)');
SELECT sg_add_edge('sv', '__start__', 'a');
SELECT sg_add_edge('sv', 'a', 'b');
SELECT sg_add_edge('sv', 'b', '__end__');
SELECT sg_compile('sv', interrupt_before => ARRAY['b']);

SELECT * FROM sg_stream('sv', '{}', thread_id => 'sv-1', mode => 'values');
-- a resume with work left: its values first, then each step
SELECT * FROM sg_stream('sv', NULL, thread_id => 'sv-1', mode => 'values');
-- the thread is done: its final values, once, as sg_invoke returns them
SELECT * FROM sg_stream('sv', NULL, thread_id => 'sv-1', mode => 'values');
SELECT sg_invoke('sv', NULL, thread_id => 'sv-1');
-- travelled back to its last checkpoint (not its newest now): the fork's values
SELECT sg_invoke('sv', NULL, thread_id => 'sv-1',
                 checkpoint_id => (SELECT checkpoint_id FROM sg_get_state_history('sv-1') WHERE step = 1 AND source = 'loop'));
SELECT checkpoint_id AS done FROM sg_get_state_history('sv-1') WHERE step = 2 AND source = 'loop' ORDER BY checkpoint_id LIMIT 1 \gset
SELECT * FROM sg_stream('sv', NULL, thread_id => 'sv-1', checkpoint_id => :'done', mode => 'values');
SELECT step, source, next FROM sg_get_state_history('sv-1', 1);
-- mode 'updates' has nothing to tell there
SELECT * FROM sg_stream('sv', NULL, thread_id => 'sv-1');

SET client_min_messages = warning;
DROP SCHEMA sem_stream_values_resume CASCADE;
