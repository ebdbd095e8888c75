--
-- Background runs waiting for external tasks, and the thread operations
-- that a waiting run leaves free to happen meanwhile (the thread's lock is
-- not held while workers work): a fork of a checkpoint of the run, then a
-- rollback of the run; sg_update_state, a new input and sg_delete_thread,
-- which cancel the tasks the run waits for; a rollback of a run that is
-- pending again once its tasks are done; finished tasks expiring; sg_prune
-- of a waiting run's thread; a rollback back onto a waiting step;
-- retention set by a role that may not.
-- Background workers may execute these runs too; every check first waits
-- for the status it expects, so the outcome is the same whoever executes it.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_sg_rw_other;
CREATE SCHEMA runs_waiting;
SET search_path = runs_waiting;
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
SELECT sg_create_graph('xw', '{"log": "append", "q": "replace"}');
SELECT sg_add_node('xw', 'a', 'a(jsonb)');
SELECT sg_add_external_node('xw', 'ext', queue => 'xwq');
SELECT sg_add_edge('xw', '__start__', 'a');
SELECT sg_add_edge('xw', 'a', 'ext');
SELECT sg_add_edge('xw', 'ext', '__end__');
SELECT sg_compile('xw');

-- 1. a fork of a checkpoint written by a run that is then rolled back keeps its state
SELECT sg_invoke('xw', '{"q": "first"}', 'f1') ? '__waiting__' AS waiting;
SELECT sg_complete(task_id, token, '{"log": ["e1"]}') FROM sg_claim('xwq', 'w');
SELECT sg_submit('xw', '{"q": "second"}', 'f1') AS run \gset
CALL sg_work();
SELECT status_once(:'run', 'waiting');
SELECT sg_fork('f1', (SELECT checkpoint_id FROM sg_get_state('f1')), 'f1-fork') IS NOT NULL AS forked;
SELECT sg_cancel(:'run', 'rollback');
CALL sg_work();
SELECT status_once(:'run', 'cancelled');
SELECT "values" FROM sg_get_state('f1');                 -- as before the run
SELECT next, "values" FROM sg_get_state('f1-fork');      -- the fork reads as it did
SELECT step, "values" FROM sg_get_state_history('f1-fork');
SELECT sg_invoke('xw', NULL, 'f1-fork') ? '__waiting__' AS fork_goes_on;
SELECT sg_complete(task_id, token, '{"log": ["fork"]}') FROM sg_claim('xwq', 'w');
SELECT "values" FROM sg_get_state('f1-fork');

-- a run that created its thread: rolled back, the thread is gone, a fork of it stays whole
SELECT sg_submit('xw', '{"q": "new"}', 'f2') AS run \gset
CALL sg_work();
SELECT status_once(:'run', 'waiting');
SELECT sg_fork('f2', (SELECT checkpoint_id FROM sg_get_state('f2')), 'f2-fork') IS NOT NULL AS forked;
SELECT sg_submit('xw', '{"q": "other"}', 'f2', multitask => 'rollback') AS run2 \gset
CALL sg_work();
SELECT status_once(:'run', 'cancelled');
SELECT status_once(:'run2', 'waiting');
SELECT "values" FROM sg_get_state('f2');                 -- only the second run's
SELECT next, "values" FROM sg_get_state('f2-fork');
SELECT sg_cancel(:'run2');
CALL sg_work();
SELECT status_once(:'run2', 'cancelled');

-- 2. an operation that cancels the tasks a run waits for lets the run go on
-- sg_update_state: the run goes on from the updated thread
SELECT sg_submit('xw', '{"q": "u"}', 'u1') AS run \gset
CALL sg_work();
SELECT status_once(:'run', 'waiting');
SELECT sg_update_state('u1', '{"log": ["by hand"]}', as_node => 'ext') IS NOT NULL AS updated;
SELECT status FROM sg_tasks('xwq') WHERE thread_id = 'u1';
CALL sg_work();
SELECT status_once(:'run', 'success');
SELECT "values" FROM sg_get_state('u1');
-- a new input from a client: the run goes on with the new step (waiting for its task)
SELECT sg_submit('xw', '{"q": "i"}', 'i1') AS run \gset
CALL sg_work();
SELECT status_once(:'run', 'waiting');
SELECT sg_invoke('xw', '{"q": "client"}', 'i1') ? '__waiting__' AS waiting;
CALL sg_work();
SELECT status_once(:'run', 'waiting');
SELECT sg_complete(task_id, token, '{"log": ["e"]}') FROM sg_claim('xwq', 'w');
CALL sg_work();
SELECT status_once(:'run', 'success');
SELECT "values" FROM sg_get_state('i1');
-- sg_delete_thread: the run is cancelled with it (not made pending to go on,
-- which a new thread of the id took up: isolation delete_waiting_run_reused_id),
-- and the thread id is free again
SELECT sg_submit('xw', '{"q": "d"}', 'd1') AS run \gset
CALL sg_work();
SELECT status_once(:'run', 'waiting');
SELECT sg_delete_thread('d1');
CALL sg_work();
SELECT status_once(:'run', 'cancelled');
SELECT error->>'message' AS error FROM sg_runs('d1') WHERE run_id = :'run';
SELECT sg_submit('xw', '{"q": "d again"}', 'd1') AS run \gset
CALL sg_work();
SELECT status_once(:'run', 'waiting');
SELECT "values" FROM sg_get_state('d1');

-- 3. a run whose external tasks are done is pending again, with steps taken:
-- a rollback (sg_cancel, or a submit) removes them, as for a running run
-- (a graph of its own, so that its queue has only these tasks)
SELECT sg_create_graph('xw3', '{"log": "append", "q": "replace"}');
SELECT sg_add_node('xw3', 'a', 'a(jsonb)');
SELECT sg_add_external_node('xw3', 'ext', queue => 'xwq3');
SELECT sg_add_edge('xw3', '__start__', 'a');
SELECT sg_add_edge('xw3', 'a', 'ext');
SELECT sg_add_edge('xw3', 'ext', '__end__');
SELECT sg_compile('xw3');
SELECT sg_invoke('xw3', '{"q": "base"}', 'p1') ? '__waiting__' AS waiting;
SELECT sg_complete(task_id, token, '{"log": ["e0"]}') FROM sg_claim('xwq3', 'w');
SELECT sg_submit('xw3', '{"q": "bg"}', 'p1') AS run \gset
CALL sg_work();
SELECT status_once(:'run', 'waiting');
BEGIN;
SELECT sg_complete(task_id, token, '{"log": ["e1"]}') FROM sg_claim('xwq3', 'w');
SELECT status FROM sg_runs('p1') WHERE run_id = :'run';    -- pending (until a worker takes it)
SELECT sg_cancel(:'run', 'rollback');
COMMIT;
CALL sg_work();
SELECT status_once(:'run', 'cancelled');
SELECT "values", next FROM sg_get_state('p1');            -- as before the run
SELECT sg_submit('xw3', '{"q": "bg2"}', 'p1', multitask => 'enqueue') AS run \gset
CALL sg_work();
SELECT status_once(:'run', 'waiting');
BEGIN;
SELECT sg_complete(task_id, token, '{"log": ["e2"]}') FROM sg_claim('xwq3', 'w');
SELECT sg_submit('xw3', '{"q": "other"}', 'p1', multitask => 'rollback') AS run2 \gset
COMMIT;
CALL sg_work();
SELECT status_once(:'run', 'cancelled');
SELECT status_once(:'run2', 'waiting');
SELECT "values", next FROM sg_get_state('p1');            -- the first run's steps are gone
SELECT sg_cancel(:'run2');
CALL sg_work();
SELECT status_once(:'run2', 'cancelled');

-- 4. finished tasks expire after stategraph.run_retention (RUNTIME.md
-- "Retention"), but not the results a step still waits to go on with
SELECT sg_create_graph('xw4', '{"log": "append"}');
SELECT sg_add_external_node('xw4', 'e1', queue => 'xwq4');
SELECT sg_add_external_node('xw4', 'e2', queue => 'xwq4');
SELECT sg_add_edge('xw4', '__start__', 'e1');
SELECT sg_add_edge('xw4', '__start__', 'e2');
SELECT sg_add_edge('xw4', 'e1', '__end__');
SELECT sg_add_edge('xw4', 'e2', '__end__');
SELECT sg_compile('xw4');
SELECT jsonb_array_length(sg_invoke('xw4', '{"log": []}', 'two')->'__waiting__') AS waiting;
SELECT node FROM sg_claim('xwq4', 'w') c, LATERAL sg_complete(c.task_id, c.token, jsonb_build_object('log', jsonb_build_array(c.node))) x;
SELECT status, count(*) FROM sg_tasks() GROUP BY status ORDER BY status;
SET stategraph.run_retention = 0;
CALL sg_work();
RESET stategraph.run_retention;
SELECT status, count(*) FROM sg_tasks() GROUP BY status ORDER BY status;
SELECT thread_id, node, status FROM sg_tasks() WHERE status <> 'queued' ORDER BY thread_id;  -- of a head checkpoint
SELECT node FROM sg_claim('xwq4', 'w') c, LATERAL sg_complete(c.task_id, c.token, jsonb_build_object('log', jsonb_build_array(c.node))) x;
SELECT "values", next FROM sg_get_state('two');          -- both results

-- 5. sg_prune on the thread of a run waiting for its tasks keeps the
-- checkpoint a rollback of the run goes back to
SELECT sg_invoke('xw3', '{"q": "p0"}', 'pr1') ? '__waiting__' AS waiting;
SELECT sg_complete(task_id, token, '{"log": ["e0"]}') FROM sg_claim('xwq3', 'w');
SELECT sg_submit('xw3', '{"q": "bg"}', 'pr1') AS run \gset
CALL sg_work();
SELECT status_once(:'run', 'waiting');
SELECT sg_prune(keep_last => 1, thread_id => 'pr1') AS pruned;
SELECT sg_cancel(:'run', 'rollback');
CALL sg_work();
SELECT status_once(:'run', 'cancelled');
SELECT status, next, checkpoints FROM sg_threads() WHERE thread_id = 'pr1';
SELECT "values", next FROM sg_get_state('pr1');           -- as before the run

-- 6. a rollback that puts the thread back on a step waiting for workers
-- queues that step's tasks again (the stopped run's new input cancelled them)
SELECT sg_invoke('xw3', '{"q": "w0"}', 'rw1') ? '__waiting__' AS waiting;
SELECT sg_submit('xw3', '{"q": "bg"}', 'rw1') AS run \gset
CALL sg_work();
SELECT status_once(:'run', 'waiting');
SELECT sg_cancel(:'run', 'rollback');
CALL sg_work();
SELECT status_once(:'run', 'cancelled');
SELECT status, next FROM sg_threads() WHERE thread_id = 'rw1';
SELECT t.status, t.checkpoint_id = s.checkpoint_id AS of_the_head
FROM stategraph.tasks t, sg_get_state('rw1') s WHERE t.thread_id = 'rw1' ORDER BY t.seq;
SELECT sg_complete(task_id, token, '{"log": ["e"]}') FROM sg_claim('xwq3', 'w');
SELECT "values", next FROM sg_get_state('rw1');

-- 7. sg_set_retention by a role that may not: said plainly (42501), nothing stored
CREATE ROLE regress_sg_rw_other;
GRANT USAGE ON SCHEMA runs_waiting TO regress_sg_rw_other;
SET ROLE regress_sg_rw_other;
\set VERBOSITY default
SELECT sg_set_retention('xw', '0 s');
SELECT sg_set_retention(NULL, '0 s');
\set VERBOSITY terse
SELECT sg_set_retention('xw', '0 s');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS settings FROM stategraph.retention;
DROP OWNED BY regress_sg_rw_other;
DROP ROLE regress_sg_rw_other;

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA runs_waiting CASCADE;
