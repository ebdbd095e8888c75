-- Interrupts stay part of a task's record once answered, as in LangGraph's
-- snapshots: a step whose tasks p, q and r each ask a question, answered one
-- at a time by interrupt id. p's answer lets p finish while q and r still
-- wait, and the step's pending writes are stored again: p's question was
-- dropped from its task (tasks[].interrupts empty, at the head and in the
-- history once the step completed), where LangGraph.js 1.7.3 shows it with
-- p's result. The snapshot's own interrupts list only the questions still
-- pending (the ids a resume map may name).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA sem_answered_interrupt_record;
SET search_path = sem_answered_interrupt_record;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION ask(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('log', jsonb_build_array(
        (config->>'node') || '=' || (sg_interrupt(to_jsonb((config->>'node') || '?')) #>> '{}')))
$$;
SELECT sg_create_graph('three', '{"log": "append"}');
SELECT sg_add_node('three', n, 'ask(jsonb,jsonb)') FROM unnest(ARRAY['p', 'q', 'r']) n;
SELECT sg_add_edge('three', '__start__', n) FROM unnest(ARRAY['p', 'q', 'r']) n;
SELECT sg_add_edge('three', n, '__end__') FROM unnest(ARRAY['p', 'q', 'r']) n;
SELECT sg_compile('three');

CREATE FUNCTION task_view(tasks jsonb) RETURNS TABLE (name text, questions jsonb, result jsonb)
LANGUAGE sql AS $$
    SELECT t->>'name', (SELECT coalesce(jsonb_agg(i->'value'), '[]') FROM jsonb_array_elements(t->'interrupts') i),
           t->'result'
    FROM jsonb_array_elements(tasks) t
$$;
CREATE FUNCTION interrupt_id(thread text, node text) RETURNS text LANGUAGE sql AS $$
    SELECT i->>'id' FROM jsonb_array_elements((sg_get_state(thread)).interrupts) i WHERE i->>'node' = node
$$;

SELECT sg_invoke('three', '{"log": ["in"]}', thread_id => 'three-1') -> 'log' AS log;
SELECT * FROM task_view((sg_get_state('three-1')).tasks);

-- p answered: p finishes, q and r ask again
SELECT sg_invoke('three', NULL, thread_id => 'three-1',
                 resume => jsonb_build_object(interrupt_id('three-1', 'p'), 'P')) -> 'log' AS log;
SELECT * FROM task_view((sg_get_state('three-1')).tasks);
-- pending: q's and r's questions only
SELECT jsonb_agg(i->'value') AS pending FROM jsonb_array_elements((sg_get_state('three-1')).interrupts) i;

-- q answered: p keeps its record through a second store of the step's writes
SELECT sg_invoke('three', NULL, thread_id => 'three-1',
                 resume => jsonb_build_object(interrupt_id('three-1', 'q'), 'Q')) -> 'log' AS log;
SELECT * FROM task_view((sg_get_state('three-1')).tasks);
SELECT jsonb_agg(i->'value') AS pending FROM jsonb_array_elements((sg_get_state('three-1')).interrupts) i;

-- r answered: the step completes; its snapshot in the history shows every
-- question with the result it led to
SELECT sg_invoke('three', NULL, thread_id => 'three-1', resume => '"R"') -> 'log' AS log;
SELECT step, next FROM sg_get_state('three-1');
SELECT v.* FROM sg_get_state_history('three-1') h, task_view(h.tasks) v WHERE h.step = 0;

DROP SCHEMA sem_answered_interrupt_record CASCADE;
