--
-- Background runs through CALL sg_work (the background workers' code path,
-- in this session): queueing, per-thread FIFO, multitask, idempotency,
-- delays, cancel, errors and resume, the submitting role, retention.
-- Background workers may execute these runs too; every check waits for the
-- run first, so the outcome is the same whoever executes it.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_sg_submitter;
CREATE SCHEMA runs;
SET search_path = runs;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE TABLE effects (seq serial, thread text, node text, who name, value int);
CREATE FUNCTION work(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO runs.effects (thread, node, who, value)
    VALUES (config->>'thread_id', config->>'node', current_user, (state->>'n')::int);
    IF (state->>'n')::int < 0 THEN
        RAISE EXCEPTION 'n must not be negative';
    END IF;
    RETURN jsonb_build_object('log', jsonb_build_array(config->>'node'));
END $$;
SELECT sg_create_graph('jobs', '{"n": "replace", "log": "append"}');
SELECT sg_add_node('jobs', 'a', 'work(jsonb, jsonb)');
SELECT sg_add_node('jobs', 'b', 'work(jsonb, jsonb)');
SELECT sg_add_edge('jobs', '__start__', 'a');
SELECT sg_add_edge('jobs', 'a', 'b');
SELECT sg_add_edge('jobs', 'b', '__end__');
SELECT sg_compile('jobs');

-- three runs queued on one thread run in order, each from where the last left the thread
SELECT sg_submit('jobs', '{"n": 1}', 'fifo') AS r1 \gset
SELECT sg_submit('jobs', '{"n": 2}', 'fifo', multitask => 'enqueue') AS r2 \gset
SELECT sg_submit('jobs', '{"n": 3}', 'fifo', multitask => 'enqueue') AS r3 \gset
CALL sg_work();
SELECT status, attempt, error FROM sg_wait(:'r3', '30 s');
SELECT status FROM sg_runs('fifo');
SELECT node, value FROM effects WHERE thread = 'fifo' ORDER BY seq;
SELECT "values" FROM sg_get_state('fifo');
SELECT count(*) AS runs_listed FROM sg_runs(status => 'success');

-- reject (the default) on a thread with an active run; a delayed run stays pending
SELECT sg_submit('jobs', '{"n": 4}', 'later', after => '1 hour') AS later \gset
\set VERBOSITY terse
SELECT sg_submit('jobs', '{"n": 5}', 'later');
\set VERBOSITY default
CALL sg_work();
SELECT status FROM sg_wait(:'later', '0 s');
SELECT count(*) AS nothing_ran FROM effects WHERE thread = 'later';

-- interrupt: the pending run is cancelled and the new one runs
SELECT sg_submit('jobs', '{"n": 6}', 'later', multitask => 'interrupt') AS r6 \gset
CALL sg_work();
SELECT status FROM sg_wait(:'r6', '30 s');
SELECT status FROM sg_runs('later');
SELECT sg_cancel(:'later') AS cancel_finished_run;

-- the same idempotency key and graph: the same run, nothing new
SELECT sg_submit('jobs', '{"n": 7}', 'idem', idempotency_key => 'order-7') AS i1 \gset
SELECT sg_submit('jobs', '{"n": 7}', 'idem', idempotency_key => 'order-7', multitask => 'enqueue') = :'i1' AS same_run;
CALL sg_work();
SELECT count(*) AS one_run FROM sg_runs('idem');

-- a run without a thread gets a thread of its own, named by its run_id
SELECT sg_submit('jobs', '{"n": 8}') AS own \gset
CALL sg_work();
SELECT status, thread_id = :'own' AS thread_is_run_id FROM sg_wait(:'own', '30 s');
SELECT "values" FROM sg_get_state(:'own');

-- a failing node: the run is error with its error; the thread keeps its checkpoints and resumes
SELECT sg_submit('jobs', '{"n": -1}', 'fails') AS bad \gset
SET client_min_messages = error;  -- the node's failure WARNING shows only if this session runs it
CALL sg_work();
RESET client_min_messages;
SELECT status, error->>'message' AS message, error->>'node' AS node, error->>'sqlstate' AS sqlstate
  FROM sg_wait(:'bad', '30 s');
SELECT status, next FROM sg_threads('jobs') WHERE thread_id = 'fails';
SELECT sg_update_state('fails', '{"n": 9}') IS NOT NULL AS fixed;
SELECT sg_submit('jobs', NULL, 'fails') AS again \gset
CALL sg_work();
SELECT status FROM sg_wait(:'again', '30 s');
SELECT "values" FROM sg_get_state('fails');

-- a run executes as the role that submitted it, with the same EXECUTE checks as sg_invoke
CREATE ROLE regress_sg_submitter;
GRANT USAGE ON SCHEMA runs, stategraph TO regress_sg_submitter;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA stategraph TO regress_sg_submitter;
GRANT INSERT ON effects TO regress_sg_submitter;
GRANT USAGE ON SEQUENCE effects_seq_seq TO regress_sg_submitter;
SET ROLE regress_sg_submitter;
SELECT sg_submit('jobs', '{"n": 10}', 'role') AS as_role \gset
RESET ROLE;
CALL sg_work();
SELECT status FROM sg_wait(:'as_role', '30 s');
SELECT DISTINCT who FROM effects WHERE thread = 'role';
REVOKE EXECUTE ON FUNCTION work(jsonb, jsonb) FROM PUBLIC;
SET ROLE regress_sg_submitter;
SELECT sg_submit('jobs', '{"n": 11}', 'role', multitask => 'enqueue');
RESET ROLE;
GRANT EXECUTE ON FUNCTION work(jsonb, jsonb) TO regress_sg_submitter;
-- the right is taken back before the run can start (in the submitting transaction)
BEGIN;
SET LOCAL ROLE regress_sg_submitter;
SELECT sg_submit('jobs', '{"n": 11}', 'role', multitask => 'enqueue') AS as_role2 \gset
SELECT count(*) AS own_runs_only FROM sg_runs();
RESET ROLE;
REVOKE EXECUTE ON FUNCTION work(jsonb, jsonb) FROM regress_sg_submitter;
COMMIT;
CALL sg_work();
SELECT status, error->>'sqlstate' AS sqlstate FROM sg_wait(:'as_role2', '30 s');
GRANT EXECUTE ON FUNCTION work(jsonb, jsonb) TO PUBLIC;

-- a step with an external task: the run waits, and goes on when the task completes
SELECT sg_create_graph('ext_jobs', '{"n": "replace", "log": "append", "answer": "replace"}');
SELECT sg_add_node('ext_jobs', 'a', 'work(jsonb, jsonb)');
SELECT sg_add_external_node('ext_jobs', 'ask_model', 'runs_q');
SELECT sg_add_node('ext_jobs', 'b', 'work(jsonb, jsonb)');
SELECT sg_add_edge('ext_jobs', '__start__', 'a');
SELECT sg_add_edge('ext_jobs', 'a', 'ask_model');
SELECT sg_add_edge('ext_jobs', 'ask_model', 'b');
SELECT sg_add_edge('ext_jobs', 'b', '__end__');
SELECT sg_compile('ext_jobs');
SELECT sg_submit('ext_jobs', '{"n": 20}', 'ext') AS ext_run \gset
CALL sg_work();
DO $$ BEGIN
    FOR i IN 1 .. 3000 LOOP
        EXIT WHEN (SELECT status FROM sg_runs('ext')) = 'waiting';
        PERFORM pg_sleep(0.01);
    END LOOP;
END $$;
SELECT status, finished_at IS NULL AS not_finished FROM sg_runs('ext');
SELECT status FROM sg_wait(:'ext_run', '0 s');
SELECT task_id, token, node FROM sg_claim('runs_q', 'w1') \gset
\echo :node
SELECT sg_complete(:'task_id', :'token', '{"answer": 42}');
CALL sg_work();
SELECT status FROM sg_wait(:'ext_run', '30 s');
SELECT "values" FROM sg_get_state('ext');

-- retention: expired threads go, except those with an active run or a pending interrupt;
-- keep_latest leaves the newest checkpoint readable
CREATE FUNCTION ask(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT jsonb_build_object('n', sg_interrupt('"ok?"')) $$;
SELECT sg_create_graph('chat', '{"n": "replace"}');
SELECT sg_add_node('chat', 'ask', 'ask(jsonb)');
SELECT sg_add_edge('chat', '__start__', 'ask');
SELECT sg_add_edge('chat', 'ask', '__end__');
SELECT sg_compile('chat');
SELECT sg_invoke('chat', '{"n": 1}', 'paused')->'__interrupt__'->0->'value' AS asks;
SELECT sg_submit('jobs', '{"n": 12}', 'fifo', after => '1 hour') AS pending_fifo \gset
SELECT sg_set_retention(NULL, '1 day');
SELECT sg_set_retention('jobs', '1 day', 'keep_latest');
SELECT sg_set_retention('chat', '1 day');
UPDATE stategraph.threads SET updated_at = now() - interval '2 days';
SELECT sg_invoke('chat', '{"n": 1}', 'old_chat')->'__interrupt__'->0->'value' AS asks;
UPDATE stategraph.threads SET updated_at = now() - interval '2 days', status = 'done' WHERE thread_id = 'old_chat';
UPDATE stategraph.threads SET updated_at = now() - interval '2 days' WHERE thread_id = 'paused';
CALL sg_work();
SELECT CASE WHEN thread_id = :'own' THEN '(run_id)' ELSE thread_id END AS thread_id, graph, status, checkpoints
  FROM sg_threads() ORDER BY 1;
SELECT "values" FROM sg_get_state('idem');
SELECT * FROM stategraph.retention ORDER BY graph NULLS FIRST;

-- sg_wait on a run this transaction submitted (or changed) fails at once: no worker can
-- start it before the commit; nothing is queued, and a zero timeout still reads the row
\set VERBOSITY terse
SELECT status FROM sg_wait(sg_submit('jobs', '{"n": 13}', 'same_xact'), '5 s');
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT sg_submit('jobs', '{"n": 14}', 'same_xact') AS same_xact \gset
SELECT status FROM sg_wait(:'same_xact', '0 s');
SELECT status FROM sg_wait(:'same_xact', '5 s');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
\set VERBOSITY default
SELECT count(*) AS queued FROM sg_runs('same_xact');
SELECT sg_submit('jobs', '{"n": 15}', 'same_xact') AS same_xact \gset
CALL sg_work();
SELECT status FROM sg_wait(:'same_xact', '30 s');

-- FIFO behind a run that is not due yet: the run enqueued after it waits
-- for it (it is due, but not the oldest active run of its thread)
SELECT sg_submit('jobs', '{"n": 16}', 'fifo_delay', after => '1 hour') AS delayed \gset
SELECT sg_submit('jobs', '{"n": 17}', 'fifo_delay', multitask => 'enqueue') AS behind \gset
CALL sg_work();
SELECT status FROM sg_wait(:'behind', '0 s');
SELECT count(*) AS nothing_ran FROM effects WHERE thread = 'fifo_delay';
SELECT sg_cancel(:'delayed');
CALL sg_work();
SELECT status FROM sg_wait(:'behind', '30 s');
SELECT value FROM effects WHERE thread = 'fifo_delay' ORDER BY seq;

-- finished runs expire after stategraph.run_retention
SET stategraph.run_retention = 0;
CALL sg_work();
SELECT status, count(*) FROM sg_runs() GROUP BY status;
SELECT sg_cancel(:'pending_fifo');

DROP OWNED BY regress_sg_submitter;
DROP ROLE regress_sg_submitter;

SET client_min_messages = warning;
DROP SCHEMA runs CASCADE;
