--
-- Human in the loop: interrupt_before / interrupt_after, and sg_interrupt()
-- inside a node with resume values.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA interrupts;
SET search_path = interrupts;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE TABLE side_effects (node text, at timestamptz DEFAULT clock_timestamp());
CREATE FUNCTION step_n(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO side_effects (node) VALUES (config->>'node');
    SELECT jsonb_build_object('step', (state->>'step')::int + 1,
                              'messages', jsonb_build_array((config->>'node') || ' complete'));
$$;
SELECT sg_create_graph('review', '{"messages": "append", "step": "replace"}');
SELECT sg_add_node('review', 'step1', 'step_n(jsonb,jsonb)');
SELECT sg_add_node('review', 'step2', 'step_n(jsonb,jsonb)');
SELECT sg_add_node('review', 'step3', 'step_n(jsonb,jsonb)');
SELECT sg_add_edge('review', '__start__', 'step1');
SELECT sg_add_edge('review', 'step1', 'step2');
SELECT sg_add_edge('review', 'step2', 'step3');
SELECT sg_add_edge('review', 'step3', '__end__');

-- interrupt_before: the run stops with next [step2]; the snapshot says why
SELECT sg_compile('review', interrupt_before => ARRAY['step2']);
SELECT sg_invoke('review', '{"step": 0}', thread_id => 'before-1');
SELECT step, next, interrupts, tasks->0->>'name' AS task FROM sg_get_state('before-1');
SELECT thread_id, status, next FROM sg_threads('review');
-- resume (input NULL) finishes it, step2 is not interrupted again
SELECT sg_invoke('review', NULL, thread_id => 'before-1');
SELECT node FROM side_effects ORDER BY at;
TRUNCATE side_effects;

-- interrupt_after
SELECT sg_compile('review', interrupt_after => ARRAY['step1']);
SELECT sg_invoke('review', '{"step": 0}', thread_id => 'after-1');
SELECT step, next, interrupts FROM sg_get_state('after-1');
SELECT sg_invoke('review', NULL, thread_id => 'after-1');
-- interrupt_after a node that ends the run: nothing is left to pause before,
-- so the thread is done
SELECT sg_compile('review', interrupt_after => ARRAY['step3']);
SELECT sg_invoke('review', '{"step": 0}', thread_id => 'after-2') ->> 'step' AS step;
SELECT s.next, s.interrupts, t.status FROM sg_get_state('after-2') s JOIN sg_threads('review') t USING (thread_id);
-- a thread paused by a static interrupt takes a resume value too (LangGraph's Command(resume))
SELECT sg_compile('review', interrupt_before => ARRAY['step2']);
SELECT sg_invoke('review', '{"step": 0}', thread_id => 'before-2') ->> 'step' AS step;
SELECT sg_invoke('review', NULL, thread_id => 'before-2', resume => '"go on"') ->> 'step' AS step;
SELECT sg_compile('review', interrupt_before => ARRAY['*']);
SELECT sg_invoke('review', '{"step": 0}', thread_id => 'star-1') ->> 'step' AS step;
SELECT sg_invoke('review', NULL, thread_id => 'star-1') ->> 'step' AS step;
SELECT sg_invoke('review', NULL, thread_id => 'star-1') ->> 'step' AS step;
SELECT sg_invoke('review', NULL, thread_id => 'star-1') ->> 'step' AS step;
SELECT next FROM sg_get_state('star-1');
-- an unknown node is an error
SELECT sg_compile('review', interrupt_before => ARRAY['nope']);

-- sg_interrupt(): the node pauses with a payload; resuming re-runs it from
-- the start and sg_interrupt() returns the resume value this time
TRUNCATE side_effects;
CREATE FUNCTION approve(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    answer jsonb;
BEGIN
    INSERT INTO side_effects (node) VALUES ('approve: before interrupt');
    answer := sg_interrupt(jsonb_build_object('question', 'ship order ' || (state->>'order') || '?'));
    INSERT INTO side_effects (node) VALUES ('approve: got ' || answer::text);
    RETURN jsonb_build_object('approved', answer = '"yes"');
END $$;
CREATE FUNCTION ship(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('shipped', (state->>'approved')::boolean) $$;
SELECT sg_create_graph('approval', '{"order": "replace", "approved": "replace", "shipped": "replace"}');
SELECT sg_add_node('approval', 'approve', 'approve(jsonb)');
SELECT sg_add_node('approval', 'ship', 'ship(jsonb)');
SELECT sg_add_edge('approval', '__start__', 'approve');
SELECT sg_add_edge('approval', 'approve', 'ship');
SELECT sg_add_edge('approval', 'ship', '__end__');
SELECT sg_compile('approval');

SELECT sg_invoke('approval', '{"order": 7}', thread_id => 'approval-1')
       #- '{__interrupt__,0,id}' AS paused;
SELECT step, next, interrupts #- '{0,id}' AS interrupts,
       tasks->0->'interrupts'->0->'value' AS task_interrupt
FROM sg_get_state('approval-1');
SELECT thread_id, status, next FROM sg_threads('approval');
-- the node's own writes were rolled back with the interrupt
SELECT node FROM side_effects ORDER BY at;
SELECT sg_invoke('approval', NULL, thread_id => 'approval-1', resume => '"yes"');
SELECT node FROM side_effects ORDER BY at;
SELECT thread_id, status FROM sg_threads('approval');
-- nothing is pending any more
SELECT sg_invoke('approval', NULL, thread_id => 'approval-1', resume => '"yes"');

-- resuming without a value runs the node again and it pauses again
SELECT sg_invoke('approval', '{"order": 8}', thread_id => 'approval-2') ? '__interrupt__' AS paused;
SELECT sg_invoke('approval', NULL, thread_id => 'approval-2') ? '__interrupt__' AS paused_again;
SELECT sg_invoke('approval', NULL, thread_id => 'approval-2', resume => '"no"');

-- two interrupts in one node: each resume answers the next one
CREATE FUNCTION two_questions(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    name jsonb := sg_interrupt('"name?"');
    age jsonb := sg_interrupt('"age?"');
BEGIN
    RETURN jsonb_build_object('name', name, 'age', age);
END $$;
SELECT sg_create_graph('form', '{"name": "replace", "age": "replace"}');
SELECT sg_add_node('form', 'ask', 'two_questions(jsonb)');
SELECT sg_add_edge('form', '__start__', 'ask');
SELECT sg_add_edge('form', 'ask', '__end__');
SELECT sg_compile('form');
SELECT sg_invoke('form', '{}', thread_id => 'form-1') -> '__interrupt__' -> 0 -> 'value' AS asks;
SELECT sg_invoke('form', NULL, thread_id => 'form-1', resume => '"Ada"') -> '__interrupt__' -> 0 -> 'value' AS asks;
SELECT sg_invoke('form', NULL, thread_id => 'form-1', resume => '36');

-- two interrupts in one step answered by id: a map answers only the
-- interrupts it names; the other task asks its question again (same id)
CREATE FUNCTION ask_left(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('answers', jsonb_build_array(jsonb_build_object('left', sg_interrupt('"left?"')))) $$;
CREATE FUNCTION ask_right(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('answers', jsonb_build_array(jsonb_build_object('right', sg_interrupt('"right?"')))) $$;
SELECT sg_create_graph('pair', '{"answers": "append"}');
SELECT sg_add_node('pair', 'left', 'ask_left(jsonb)');
SELECT sg_add_node('pair', 'right', 'ask_right(jsonb)');
SELECT sg_add_edge('pair', '__start__', 'left');
SELECT sg_add_edge('pair', '__start__', 'right');
SELECT sg_add_edge('pair', 'left', '__end__');
SELECT sg_add_edge('pair', 'right', '__end__');
SELECT sg_compile('pair');
SELECT jsonb_path_query_array(sg_invoke('pair', '{}', thread_id => 'pair-1'), '$.__interrupt__[*].value') AS asks;
SELECT interrupts->0->>'id' AS left_id, interrupts->1->>'id' AS right_id FROM sg_get_state('pair-1') \gset
SELECT jsonb_path_query_array(sg_invoke('pair', NULL, thread_id => 'pair-1', resume => jsonb_build_object(:'left_id', 'L')),
                              '$.__interrupt__[*].value') AS still_asks;
SELECT jsonb_array_length(interrupts) AS pending, interrupts->0->>'id' = :'right_id' AS same_id,
       tasks->0->'result' AS left_result, tasks->1->'result' AS right_result
FROM sg_get_state('pair-1');
-- a map naming no pending interrupt (the answered one) is refused, nothing stored
SELECT count(*) AS checkpoints FROM sg_get_state_history('pair-1');
SELECT sg_invoke('pair', NULL, thread_id => 'pair-1', resume => jsonb_build_object(:'left_id', 'again'));
SELECT count(*) AS checkpoints FROM sg_get_state_history('pair-1');
SELECT sg_invoke('pair', NULL, thread_id => 'pair-1', resume => jsonb_build_object(:'right_id', 'R'));
-- an object whose keys are not interrupt ids is one value for every interrupt
SELECT sg_invoke('pair', '{}', thread_id => 'pair-2') ? '__interrupt__' AS paused;
SELECT sg_invoke('pair', NULL, thread_id => 'pair-2', resume => '{"ok": true}');

-- an interrupted run returns, as LangGraph's invoke does, the values with the
-- writes of the step's tasks that finished applied; the checkpoint keeps them
-- as pending writes (found by test/fuzz/difflg.mjs)
CREATE FUNCTION note_done(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"answers": ["done"]}'::jsonb $$;
SELECT sg_create_graph('half', '{"answers": "append"}');
SELECT sg_add_node('half', 'ask', 'ask_left(jsonb)');
SELECT sg_add_node('half', 'note', 'note_done(jsonb)');
SELECT sg_add_edge('half', '__start__', 'ask');
SELECT sg_add_edge('half', '__start__', 'note');
SELECT sg_add_edge('half', 'ask', '__end__');
SELECT sg_add_edge('half', 'note', '__end__');
SELECT sg_compile('half');
SELECT sg_invoke('half', '{}', thread_id => 'half-1') - '__interrupt__' AS returned;
SELECT "values" AS stored, next FROM sg_get_state('half-1');
SELECT sg_invoke('half', NULL, thread_id => 'half-1', resume => '"L"');
-- and sg_stream in mode values ends with those values, as LangGraph's stream
-- does (one last values event with the pending writes applied, after the
-- interrupt); in mode updates the finished task's update comes first
SELECT step, node, CASE node WHEN '__interrupt__' THEN payload->0->'value' ELSE payload END AS payload
FROM sg_stream('half', '{}', thread_id => 'half-2', mode => 'values');
SELECT step, node, CASE node WHEN '__interrupt__' THEN payload->0->'value' ELSE payload END AS payload
FROM sg_stream('half', '{}', thread_id => 'half-3');

-- sg_interrupt() needs a running node, and a thread to pause
SELECT sg_interrupt('"hello"');
SELECT sg_invoke('approval', '{"order": 9}');
-- the failure of a run without a thread leaves nothing behind
SELECT count(*) FROM stategraph.threads WHERE graph = 'approval';

SET client_min_messages = warning;
DROP SCHEMA interrupts CASCADE;
