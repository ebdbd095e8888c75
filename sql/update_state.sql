--
-- sg_update_state (LangGraph's update_state) and sg_fork.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA update_state;
SET search_path = update_state;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION step_n(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('step', (state->>'step')::int + 1,
                              'messages', jsonb_build_array((config->>'node') || ' complete'))
$$;
SELECT sg_create_graph('wf', '{"messages": "append", "step": "replace", "data": "replace"}');
SELECT sg_add_node('wf', 'step1', 'step_n(jsonb,jsonb)');
SELECT sg_add_node('wf', 'step2', 'step_n(jsonb,jsonb)');
SELECT sg_add_node('wf', 'step3', 'step_n(jsonb,jsonb)');
SELECT sg_add_edge('wf', '__start__', 'step1');
SELECT sg_add_edge('wf', 'step1', 'step2');
SELECT sg_add_edge('wf', 'step2', 'step3');
SELECT sg_add_edge('wf', 'step3', '__end__');
SELECT sg_compile('wf');
SELECT sg_invoke('wf', '{"step": 0, "data": {"v": 1}}', thread_id => 'u-1') ->> 'step' AS step;

-- without as_node: as the last node that ran (step3), so nothing is next
SELECT sg_update_state('u-1', '{"messages": ["note"], "data": {"v": 2}}') IS NOT NULL AS updated;
SELECT step, source, next, "values" FROM sg_get_state('u-1');
SELECT sg_invoke('wf', NULL, thread_id => 'u-1') -> 'messages' AS messages;

-- as_node => 'step1': the update goes through the reducers as step1 did,
-- next is [step2], and a resume re-runs step2 and step3
SELECT sg_update_state('u-1', '{"step": 1}', as_node => 'step1') IS NOT NULL AS updated;
SELECT step, source, next, "values"->'step' AS step_value FROM sg_get_state('u-1');
SELECT sg_invoke('wf', NULL, thread_id => 'u-1') -> 'messages' AS messages;
SELECT step, source, next FROM sg_get_state_history('u-1', "limit" => 4);

-- updating an older checkpoint of the same thread branches from it
SELECT checkpoint_id AS first_loop FROM sg_get_state_history('u-1', filter => '{"step": 0}') \gset
SELECT sg_update_state('u-1', '{"data": {"v": 9}}', checkpoint_id => :'first_loop', as_node => '__start__')
       IS NOT NULL AS updated;
SELECT step, source, next, "values", parent_checkpoint_id = :'first_loop' AS branched
FROM sg_get_state('u-1');

-- errors: unknown node, unknown channel, checkpoint that does not exist,
-- thread that does not exist, values that are not an object
SELECT sg_update_state('u-1', '{"step": 5}', as_node => 'nope');
SELECT sg_update_state('u-1', '{"nope": 5}');
SELECT sg_update_state('u-1', '{"step": 5}', checkpoint_id => '00000000-0000-7000-8000-000000000000');
SELECT sg_update_state('nobody', '{"step": 5}');
SELECT sg_update_state('u-1', '[1, 2]');
SELECT sg_update_state('u-1', '{"messages": "not a list"}');
-- none of them changed the thread
SELECT count(*) AS checkpoints FROM sg_get_state_history('u-1');

-- parallel writers make as_node ambiguous
CREATE FUNCTION note(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('messages', jsonb_build_array(config->>'node')) $$;
SELECT sg_create_graph('par', '{"messages": "append"}');
SELECT sg_add_node('par', 'a', 'note(jsonb,jsonb)');
SELECT sg_add_node('par', 'b', 'note(jsonb,jsonb)');
SELECT sg_add_edge('par', '__start__', 'a');
SELECT sg_add_edge('par', '__start__', 'b');
SELECT sg_add_edge('par', 'a', '__end__');
SELECT sg_add_edge('par', 'b', '__end__');
SELECT sg_compile('par');
SELECT sg_invoke('par', '{}', thread_id => 'par-1');
SELECT sg_update_state('par-1', '{"messages": ["x"]}');
SELECT sg_update_state('par-1', '{"messages": ["x"]}', as_node => 'a') IS NOT NULL AS updated;
SELECT "values" FROM sg_get_state('par-1');

-- sg_fork: a new thread whose history starts at the checkpoint, sharing its values
SELECT checkpoint_id AS at_step2 FROM sg_get_state_history('u-1', filter => '{"step": 2, "source": "loop"}', "limit" => 1) \gset
SELECT sg_fork('u-1', :'at_step2', 'u-2') IS NOT NULL AS forked;
SELECT step, source, next, "values" FROM sg_get_state_history('u-2');
-- no channel value was copied: the fork row holds no writes and no image
SELECT writes, image, refs FROM stategraph.checkpoints WHERE thread_id = 'u-2';
SELECT sg_invoke('wf', NULL, thread_id => 'u-2') -> 'messages' AS messages;
SELECT thread_id, status, checkpoints FROM sg_threads('wf');
-- errors: the new thread exists, the checkpoint is not in the thread
SELECT sg_fork('u-1', :'at_step2', 'u-2');
DO $$ BEGIN
    PERFORM sg_fork('par-1', (SELECT checkpoint_id FROM sg_get_state('u-1')), 'u-3');
EXCEPTION WHEN undefined_object THEN
    RAISE NOTICE 'the checkpoint is not in thread par-1: %', SQLSTATE;
END $$;
SELECT sg_fork('nobody', :'at_step2', 'u-3');

-- a fork whose source thread is deleted keeps its own history: an update
-- without as_node still acts as the node that ran last before the fork
SELECT sg_invoke('wf', '{"step": 0}', thread_id => 'src-1') ->> 'step' AS step;
SELECT checkpoint_id AS src_step1 FROM sg_get_state_history('src-1', filter => '{"step": 1}') \gset
SELECT sg_fork('src-1', :'src_step1', 'fork-1') IS NOT NULL AS forked;
SELECT sg_delete_thread('src-1');
SELECT sg_update_state('fork-1', '{"data": "x"}') IS NOT NULL AS updated;
SELECT step, source, next FROM sg_get_state('fork-1');
SELECT sg_invoke('wf', NULL, thread_id => 'fork-1') -> 'messages' AS messages;

-- an update of a thread stopped in the middle of a step (here: an interrupt)
-- first applies what the step's other tasks already wrote, as LangGraph
-- does: the join then sees both of its sources
CREATE FUNCTION ask(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('messages', jsonb_build_array(sg_interrupt('"ok?"')));
END $$;
SELECT sg_create_graph('hitl', '{"messages": "append"}');
SELECT sg_add_node('hitl', 'ask', 'ask(jsonb)');
SELECT sg_add_node('hitl', 'side', 'note(jsonb,jsonb)');
SELECT sg_add_node('hitl', 'fin', 'note(jsonb,jsonb)');
SELECT sg_add_edge('hitl', '__start__', 'ask');
SELECT sg_add_edge('hitl', '__start__', 'side');
SELECT sg_add_edge('hitl', ARRAY['ask', 'side'], 'fin');
SELECT sg_add_edge('hitl', 'fin', '__end__');
SELECT sg_compile('hitl');
SELECT sg_invoke('hitl', '{}', thread_id => 'hitl-1') ? '__interrupt__' AS paused;
SELECT sg_update_state('hitl-1', '{"messages": ["answered by hand"]}', as_node => 'ask') IS NOT NULL AS updated;
SELECT step, source, next, "values" FROM sg_get_state('hitl-1');
SELECT sg_invoke('hitl', NULL, thread_id => 'hitl-1');

-- without as_node, the update comes from the task whose writes it applied
-- first (LangGraph's default): that task is done and does not run again
SELECT sg_invoke('hitl', '{}', thread_id => 'hitl-2') ? '__interrupt__' AS paused;
SELECT sg_update_state('hitl-2', '{"messages": ["by hand"]}') IS NOT NULL AS updated;
SELECT step, source, next, "values" FROM sg_get_state('hitl-2');
SELECT sg_invoke('hitl', NULL, thread_id => 'hitl-2') -> 'messages' AS messages;
-- the tasks that already ran count as done for the joins waiting for them,
-- but their own edges and routers do not lead anywhere: next comes from the
-- update's node, as in LangGraph (found by test/fuzz/difflg.mjs)
SELECT sg_create_graph('hitl4', '{"messages": "append"}');
SELECT sg_add_node('hitl4', 'ask', 'ask(jsonb)');
SELECT sg_add_node('hitl4', 'side', 'note(jsonb,jsonb)');
SELECT sg_add_node('hitl4', 'later', 'note(jsonb,jsonb)');
SELECT sg_add_node('hitl4', 'fin', 'note(jsonb,jsonb)');
SELECT sg_add_edge('hitl4', '__start__', 'ask');
SELECT sg_add_edge('hitl4', '__start__', 'side');
SELECT sg_add_edge('hitl4', 'side', 'later');
SELECT sg_add_edge('hitl4', 'later', '__end__');
SELECT sg_add_edge('hitl4', ARRAY['ask', 'side'], 'fin');
SELECT sg_add_edge('hitl4', 'fin', '__end__');
SELECT sg_compile('hitl4');
SELECT sg_invoke('hitl4', '{}', thread_id => 'hitl-4') ? '__interrupt__' AS paused;
SELECT sg_update_state('hitl-4', '{"messages": ["by hand"]}', as_node => 'ask') IS NOT NULL AS updated;
SELECT step, source, next FROM sg_get_state('hitl-4');
SELECT sg_invoke('hitl4', NULL, thread_id => 'hitl-4') -> 'messages' AS messages;

-- the update's routers see the state with those writes applied, as LangGraph's do
CREATE FUNCTION bump(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
CREATE FUNCTION route_n(state jsonb) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN (state->>'n')::int >= 1 THEN 'fin' ELSE '__end__' END $$;
SELECT sg_create_graph('hitl5', '{"n": "add", "messages": "append"}');
SELECT sg_add_node('hitl5', 'ask', 'ask(jsonb)');
SELECT sg_add_node('hitl5', 'bump', 'bump(jsonb)');
SELECT sg_add_node('hitl5', 'fin', 'note(jsonb,jsonb)');
SELECT sg_add_edge('hitl5', '__start__', 'ask');
SELECT sg_add_edge('hitl5', '__start__', 'bump');
SELECT sg_add_edge('hitl5', 'bump', '__end__');
SELECT sg_add_conditional_edges('hitl5', 'ask', 'route_n(jsonb)');
SELECT sg_add_edge('hitl5', 'fin', '__end__');
SELECT sg_compile('hitl5');
SELECT sg_invoke('hitl5', '{}', thread_id => 'hitl-5') ? '__interrupt__' AS paused;
SELECT sg_update_state('hitl-5', '{}', as_node => 'ask') IS NOT NULL AS updated;
SELECT step, source, next, "values" FROM sg_get_state('hitl-5');

-- tasks of two nodes wrote: which one the update comes from is ambiguous
SELECT sg_create_graph('hitl3', '{"messages": "append"}');
SELECT sg_add_node('hitl3', 'ask', 'ask(jsonb)');
SELECT sg_add_node('hitl3', 'side', 'note(jsonb,jsonb)');
SELECT sg_add_node('hitl3', 'side2', 'note(jsonb,jsonb)');
SELECT sg_add_edge('hitl3', '__start__', 'ask');
SELECT sg_add_edge('hitl3', '__start__', 'side');
SELECT sg_add_edge('hitl3', '__start__', 'side2');
SELECT sg_add_edge('hitl3', 'ask', '__end__');
SELECT sg_add_edge('hitl3', 'side', '__end__');
SELECT sg_add_edge('hitl3', 'side2', '__end__');
SELECT sg_compile('hitl3');
SELECT sg_invoke('hitl3', '{}', thread_id => 'hitl-3') ? '__interrupt__' AS paused;
SELECT sg_update_state('hitl-3', '{"messages": ["by hand"]}');
SELECT count(*) AS checkpoints FROM sg_get_state_history('hitl-3');

-- a graph of one node is no exception: an update of a thread whose node has
-- not run (it waits for a human, or failed) is __start__'s, as in LangGraph,
-- and leaves the node next; once it ran, the update is the node's
SELECT sg_create_graph('solo', '{"messages": "append"}');
SELECT sg_add_node('solo', 'ask', 'ask(jsonb)');
SELECT sg_add_edge('solo', '__start__', 'ask');
SELECT sg_add_edge('solo', 'ask', '__end__');
SELECT sg_compile('solo');
SELECT sg_invoke('solo', '{"messages": ["hi"]}', thread_id => 'solo-1') -> '__interrupt__' -> 0 -> 'value' AS asked;
SELECT sg_update_state('solo-1', '{"messages": ["edited"]}') IS NOT NULL AS updated;
SELECT step, source, next, "values", (metadata -> 'writes') AS writes FROM sg_get_state('solo-1');
-- a resume after the update is kept for the node's question, as LangGraph
-- keeps it for the next interrupt(): one call answers it
SELECT sg_invoke('solo', NULL, thread_id => 'solo-1', resume => '"yes"') AS resumed;
SELECT sg_update_state('solo-1', '{"messages": ["after"]}') IS NOT NULL AS updated;
SELECT step, source, next FROM sg_get_state('solo-1');
CREATE FUNCTION fails_once(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF NOT (state ? 'fixed') THEN
        RAISE EXCEPTION 'not yet';
    END IF;
    RETURN '{"messages": ["worked"]}';
END $$;
SELECT sg_create_graph('solo2', '{"messages": "append", "fixed": "replace"}');
SELECT sg_add_node('solo2', 'work', 'fails_once(jsonb)');
SELECT sg_add_edge('solo2', '__start__', 'work');
SELECT sg_add_edge('solo2', 'work', '__end__');
SELECT sg_compile('solo2');
SELECT sg_invoke('solo2', '{"messages": ["in"]}', thread_id => 'solo-2', on_error => 'return') -> '__error__' ->> 'message' AS failed;
SELECT sg_update_state('solo-2', '{"fixed": true}') IS NOT NULL AS updated;
SELECT step, source, next FROM sg_get_state('solo-2');
SELECT sg_invoke('solo2', NULL, thread_id => 'solo-2') AS resumed;
-- time travel to the checkpoint before the answered question, with a new
-- answer: the copy's task takes it
SELECT sg_invoke('solo', NULL, thread_id => 'solo-1', resume => '"no"',
                 checkpoint_id => (SELECT checkpoint_id FROM sg_get_state_history('solo-1') WHERE step = 0)) AS travelled;
SELECT step, source, next FROM sg_get_state('solo-1');
-- a finished thread has nothing to answer
SELECT sg_invoke('solo', NULL, thread_id => 'solo-1', resume => '"again"');

SET client_min_messages = warning;
DROP SCHEMA update_state CASCADE;
