--
-- The new library on a schema still 0.1.0's (before ALTER EXTENSION
-- stategraph UPDATE), with threads stopped in the middle of a step (an
-- interrupt, a failure with on_error => 'return'): a run with a new input
-- or from an older checkpoint, sg_update_state and sg_delete_thread
-- cancelled the thread's external tasks first, in a table 0.1.0 has not:
-- 42P01 "relation stategraph.tasks does not exist" (a review found it).
-- They work as on 0.1.0.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA schema_010_stopped_threads;
SET search_path = schema_010_stopped_threads;
CREATE EXTENSION stategraph VERSION '0.1.0';
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION ask(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF state->>'fail' = 'yes' THEN
        RAISE EXCEPTION 'asked to fail' USING ERRCODE = 'division_by_zero';
    END IF;
    RETURN jsonb_build_object('a', sg_interrupt('"q?"'));
END $$;
SELECT sg_create_graph('g', '{"a": "replace", "fail": "replace"}');
SELECT sg_add_node('g', 'ask', 'ask(jsonb)');
SELECT sg_add_edge('g', '__start__', 'ask');
SELECT sg_add_edge('g', 'ask', '__end__');
SELECT sg_compile('g');
SELECT extversion FROM pg_extension WHERE extname = 'stategraph';

-- interrupted threads
SELECT sg_invoke('g', '{}', thread_id => 't1') ? '__interrupt__' AS interrupted;
SELECT status FROM sg_threads() WHERE thread_id = 't1';
SELECT sg_invoke('g', '{"a": 1}', thread_id => 't1') ? '__interrupt__' AS interrupted_again;
SELECT sg_invoke('g', '{}', thread_id => 't2') ? '__interrupt__' AS interrupted;
SELECT sg_update_state('t2', '{"a": 2}') IS NOT NULL AS updated;
SELECT "values", next FROM sg_get_state('t2');
SELECT sg_invoke('g', '{}', thread_id => 't3') ? '__interrupt__' AS interrupted;
SELECT checkpoint_id AS first FROM sg_get_state_history('t3') ORDER BY checkpoint_id LIMIT 1 \gset
SELECT sg_invoke('g', NULL, thread_id => 't3', checkpoint_id => :'first') ? '__interrupt__' AS from_older;
SELECT sg_delete_thread('t3');
-- a failed thread
SELECT sg_invoke('g', '{"fail": "yes"}', thread_id => 't4', on_error => 'return') ? '__error__' AS failed;
SELECT status FROM sg_threads() WHERE thread_id = 't4';
SELECT sg_invoke('g', '{"fail": "no"}', thread_id => 't4') ? '__interrupt__' AS interrupted;
SELECT sg_invoke('g', '{"fail": "yes"}', thread_id => 't5', on_error => 'return') ? '__error__' AS failed;
SELECT sg_update_state('t5', '{"fail": "no"}') IS NOT NULL AS updated;
SELECT sg_delete_thread('t5');
SELECT thread_id, status FROM sg_threads() ORDER BY 1;

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA schema_010_stopped_threads CASCADE;
