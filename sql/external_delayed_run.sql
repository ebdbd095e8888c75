-- The last external task of a step completes while the thread's only run
-- is one submitted with a delay that has not started: sg_complete goes on
-- with the step itself, as without that run (which starts later from the
-- thread's head), rather than leaving the thread waiting with nothing out
-- until the delay ends. A run that has started, or is due, still goes on
-- with the step itself.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA external_delayed_run;
SET search_path = external_delayed_run;
CREATE EXTENSION stategraph;
RESET client_min_messages;
SELECT sg_create_graph('g', jsonb_build_object('out', 'append'));
SELECT sg_add_external_node('g', 'work', 'q', '{}', '1 min');
CREATE FUNCTION mark(s jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT jsonb_build_object('out', jsonb_build_array('after')) $$;
SELECT sg_add_node('g', 'after', 'mark(jsonb)');
SELECT sg_add_edge('g', '__start__', 'work');
SELECT sg_add_edge('g', 'work', 'after');
SELECT sg_add_edge('g', 'after', '__end__');
SELECT sg_compile('g');

SELECT sg_invoke('g', '{"out":[0]}', 't') - '__waiting__' AS waits;
SELECT sg_submit('g', '{"out":[9]}', 't', multitask => 'enqueue', after => '1 hour') IS NOT NULL AS submitted;
CREATE TEMP TABLE c AS SELECT task_id, token FROM sg_claim('q', 'w');
SELECT sg_complete(task_id, token, '{"out":[1]}') FROM c;
-- the step went on: done, the task's result and the next node's in the state
SELECT status FROM stategraph.threads WHERE thread_id = 't';
SELECT (sg_get_state('t')).values, (sg_get_state('t')).next;
-- the delayed run is still there, not started
SELECT status, stepped FROM stategraph.runs WHERE thread_id = 't';

-- a run due now (not delayed) goes on with the step itself: sg_complete leaves it
SELECT sg_cancel(run_id) FROM stategraph.runs WHERE thread_id = 't';
SELECT sg_invoke('g', '{"out":[2]}', 't2') - '__waiting__' AS waits;
BEGIN;
SELECT sg_submit('g', NULL, 't2', multitask => 'enqueue') IS NOT NULL AS submitted;
DROP TABLE c;
CREATE TEMP TABLE c AS SELECT task_id, token FROM sg_claim('q', 'w');
SELECT sg_complete(task_id, token, '{"out":[3]}') FROM c;
SELECT status FROM stategraph.threads WHERE thread_id = 't2';
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA external_delayed_run CASCADE;
