--
-- A rollback whose run started from a checkpoint that is no longer in the
-- thread does not put the head back there. Fuzzing (test/fuzz/RESULTS.md,
-- Roles, item 4) left threads whose head named a checkpoint that did not
-- exist, so that every read and every later run failed with 42704: run B
-- was claimed from a checkpoint of run A, whose rollback then removed it
-- with the checkpoints after it, and B's rollback put the head back to its
-- start, gone. Here the run row names such a start itself (any role may
-- write a run row under its own name, with the start a rollback puts
-- back): the stop keeps the thread as it is, as an 'interrupt' does, and
-- the run ends cancelled with an error that says why. Before: the head
-- named the missing checkpoint and sg_get_state failed with 42704.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_rsg_alice;
CREATE SCHEMA rollback_start_gone;
GRANT USAGE ON SCHEMA rollback_start_gone TO PUBLIC;
SET search_path = rollback_start_gone;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY terse

CREATE ROLE regress_rsg_alice;
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
SELECT sg_create_graph('rsg', '{"log": "append"}');
SELECT sg_add_node('rsg', 'a', 'a(jsonb)');
SELECT sg_add_edge('rsg', '__start__', 'a');
SELECT sg_add_edge('rsg', 'a', '__end__');
SELECT sg_compile('rsg');

SET ROLE regress_rsg_alice;
SELECT sg_invoke('rsg', '{"log": ["in"]}', 'rsg1') IS NOT NULL AS invoked;
SELECT head AS head_before FROM stategraph.threads WHERE thread_id = 'rsg1' \gset
-- a run that has taken steps, to be rolled back to a checkpoint the thread does not have
INSERT INTO stategraph.runs (run_id, thread_id, graph, recursion_limit, multitask, status, stepped,
                             stop_request, start_head, start_status)
VALUES ('00000000-0000-0000-0000-0000000005a0', 'rsg1', 'rsg', 25, 'rollback', 'pending', true,
        'rollback', 'ffffffff-ffff-7fff-bfff-ffffffffffff', 'idle');
CALL sg_work();
SELECT status_once('00000000-0000-0000-0000-0000000005a0', 'cancelled');
SELECT error->>'sqlstate' AS sqlstate, error->>'message' AS message
FROM sg_runs('rsg1') WHERE run_id = '00000000-0000-0000-0000-0000000005a0';
-- the head stays where it was, and the thread reads
SELECT head = :'head_before' AS head_kept FROM stategraph.threads WHERE thread_id = 'rsg1';
SELECT "values" FROM sg_get_state('rsg1');
SELECT count(*) AS checkpoints FROM sg_get_state_history('rsg1');

RESET ROLE;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA rollback_start_gone CASCADE;
DROP ROLE regress_rsg_alice;
