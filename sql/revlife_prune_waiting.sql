--
-- sg_prune on the thread of a background run waiting for external tasks,
-- where the run started at a checkpoint with tasks to do (an interrupt
-- before a node): the results of that checkpoint's tasks are the writes of
-- its first loop child, a checkpoint of the run, which prune keeps with it,
-- so every checkpoint left reads as before, and a rollback of the run too.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA revlife_prune_waiting;
SET search_path = revlife_prune_waiting;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- the status of a run once it is want (CALL sg_work or a worker moves it), or after 30 s
CREATE FUNCTION status_once(run uuid, want text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s text;
BEGIN
    FOR i IN 1..3000 LOOP
        SELECT status INTO s FROM sg_runs() WHERE run_id = run;
        EXIT WHEN s = want;
        PERFORM pg_sleep(0.01);
    END LOOP;
    RETURN s;
END $$;
CREATE FUNCTION a(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"log": ["a"]}'::jsonb $$;
CREATE FUNCTION b(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"log": ["b"]}'::jsonb $$;
SELECT sg_create_graph('pw', '{"log": "append", "q": "replace"}');
SELECT sg_add_node('pw', 'a', 'a(jsonb)');
SELECT sg_add_node('pw', 'b', 'b(jsonb)');
SELECT sg_add_external_node('pw', 'ext', queue => 'pwq');
SELECT sg_add_edge('pw', '__start__', 'a');
SELECT sg_add_edge('pw', 'a', 'b');
SELECT sg_add_edge('pw', 'b', 'ext');
SELECT sg_add_edge('pw', 'ext', '__end__');
SELECT sg_compile('pw', interrupt_before => ARRAY['a']);

-- the thread stops before a; a background run resumes it: a, b, then it waits for ext
SELECT sg_invoke('pw', '{"q": "p0"}', 'pw1');
SELECT next FROM sg_get_state('pw1');
SELECT sg_submit('pw', NULL, 'pw1') AS run \gset
CALL sg_work();
SELECT status_once(:'run', 'waiting');
CREATE TABLE before AS SELECT h.checkpoint_id, h.step, to_jsonb(h) AS snap FROM sg_get_state_history('pw1') h;
SELECT step, source, next, tasks->0->>'name' AS task, tasks->0->'result' AS result
FROM sg_get_state_history('pw1') ORDER BY step;

-- prune keeps the newest, the run's start (step 0) and the checkpoint holding its task's result (step 1)
SELECT sg_prune(keep_last => 1, thread_id => 'pw1') AS pruned;
SELECT b.step, h.checkpoint_id IS NOT NULL AS kept,
       to_jsonb(h) = b.snap AS reads_alike,
       CASE WHEN h.checkpoint_id IS NOT NULL
            THEN to_jsonb(sg_get_state('pw1', b.checkpoint_id)) = b.snap END AS state_alike
FROM before b LEFT JOIN sg_get_state_history('pw1') h USING (checkpoint_id)
ORDER BY b.step;

-- rolled back, the thread is at the run's start again, its task's result gone with the run
SELECT sg_cancel(:'run', 'rollback');
CALL sg_work();
SELECT status_once(:'run', 'cancelled');
SELECT status, next, checkpoints FROM sg_threads() WHERE thread_id = 'pw1';
SELECT step, next, tasks->0->'result' AS result, "values" FROM sg_get_state('pw1');
SELECT (sg_get_state('pw1')).checkpoint_id = (SELECT checkpoint_id FROM before WHERE step = 0) AS at_the_start;

SET client_min_messages = warning;
DROP SCHEMA revlife_prune_waiting CASCADE;
