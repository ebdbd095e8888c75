--
-- sg_delete_thread of a thread with runs that have not started (delayed by
-- after, queued behind another run with multitask 'enqueue'): they end
-- cancelled with the delete, sg_wait returns them, and no worker starts
-- the thread anew from their input once they are due. Their rows stay; a
-- later submit with the idempotency key of one returns it. A first run on
-- a thread id not stored yet: sg_delete_thread does not know the id. A
-- member role's run on its parent role's thread: the parent's delete is
-- refused (and its retention sweep passes the thread over), the member's
-- cancels it.
-- Background workers may execute these runs too; the outcome is the same.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_delruns_member;
DROP ROLE IF EXISTS regress_delruns_owner;
CREATE SCHEMA delruns;
SET search_path = delruns;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE TABLE effects (seq serial, thread text, n int);
GRANT ALL ON effects, effects_seq_seq TO PUBLIC;
GRANT USAGE ON SCHEMA delruns TO PUBLIC;
CREATE FUNCTION work(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO delruns.effects (thread, n) VALUES (config->>'thread_id', (state->>'n')::int);
    RETURN jsonb_build_object('log', jsonb_build_array(state->>'n'));
END $$;
SELECT sg_create_graph('jobs', '{"n": "replace", "log": "append"}');
SELECT sg_add_node('jobs', 'a', 'work(jsonb, jsonb)');
SELECT sg_add_edge('jobs', '__start__', 'a');
SELECT sg_add_edge('jobs', 'a', '__end__');
SELECT sg_compile('jobs');

-- a delayed run and one queued behind it: cancelled with the thread (an hour
-- later: the delete must come before it starts, however slow the machine is)
SELECT sg_invoke('jobs', '{"n": 1}', 'd1')->'log' AS log;
SELECT sg_submit('jobs', '{"n": 2}', 'd1', after => '1 hour', idempotency_key => 'k-d1') AS later \gset
SELECT sg_submit('jobs', '{"n": 3}', 'd1', multitask => 'enqueue') AS queued \gset
SELECT sg_delete_thread('d1');
SELECT status, error, finished_at IS NOT NULL AS finished FROM sg_runs('d1') ORDER BY created_at, run_id = :'queued';
SELECT status, error->>'message' AS error FROM sg_wait(:'later', '30 s');
SELECT status, error->>'message' AS error FROM sg_wait(:'queued');
-- past their due time (made due by hand), and after CALL sg_work: the thread stays deleted, nothing ran
UPDATE stategraph.runs SET not_before = now() - interval '1 second' WHERE run_id IN (:'later', :'queued');
CALL sg_work();
SELECT count(*) AS threads FROM sg_threads() WHERE thread_id = 'd1';
SELECT thread, n FROM effects ORDER BY seq;
SELECT status FROM sg_runs('d1');
-- the same idempotency key: the cancelled run again, nothing queued
SELECT sg_submit('jobs', '{"n": 4}', 'd1', idempotency_key => 'k-d1') = :'later' AS same_run;
SELECT count(*) AS runs FROM sg_runs('d1');
-- the id is free: a new submit starts a new thread
SELECT sg_submit('jobs', '{"n": 5}', 'd1') AS fresh \gset
CALL sg_work();
SELECT status FROM sg_wait(:'fresh', '30 s');
SELECT "values" FROM sg_get_state('d1');

-- a run waiting for external tasks is not cancelled (it ends with an error, runs_waiting); one
-- pending again after a failure, or left by an executor that died, is (TAP 123_delete_stepped_runs)

-- a first run with after, on a thread id not stored yet: sg_delete_thread does not know it
SELECT sg_submit('jobs', '{"n": 6}', 'n1', after => '1 hour') AS first \gset
\set VERBOSITY terse
SELECT sg_delete_thread('n1');
\set VERBOSITY default
SELECT status FROM sg_runs('n1');
SELECT sg_cancel(:'first');
SELECT status, error FROM sg_wait(:'first');

-- a member role's run on its parent role's thread
CREATE ROLE regress_delruns_owner;
CREATE ROLE regress_delruns_member IN ROLE regress_delruns_owner;
GRANT EXECUTE ON FUNCTION work(jsonb, jsonb) TO PUBLIC;
SET ROLE regress_delruns_owner;
SELECT sg_create_graph('ojobs', '{"n": "replace", "log": "append"}');
SELECT sg_add_node('ojobs', 'a', 'work(jsonb, jsonb)');
SELECT sg_add_edge('ojobs', '__start__', 'a');
SELECT sg_add_edge('ojobs', 'a', '__end__');
SELECT sg_compile('ojobs');
SELECT sg_invoke('ojobs', '{"n": 7}', 'o1')->'log' AS log;
SET ROLE regress_delruns_member;
SELECT sg_submit('ojobs', '{"n": 8}', 'o1', after => '1 hour') AS member_run \gset
SET ROLE regress_delruns_owner;
-- the owner cannot see or cancel it: refused, the thread stays
SELECT sg_delete_thread('o1');
SELECT count(*) AS threads FROM sg_threads() WHERE thread_id = 'o1';
-- nor does the owner's retention sweep (CALL sg_work) delete it, or fail: it passes it over
SELECT sg_set_retention('ojobs', '1 day');
RESET ROLE;
UPDATE stategraph.threads SET updated_at = now() - interval '2 days' WHERE thread_id = 'o1';
SET ROLE regress_delruns_owner;
CALL sg_work();
SELECT count(*) AS threads FROM sg_threads() WHERE thread_id = 'o1';
SELECT sg_set_retention('ojobs', NULL);
-- the member can: its run is cancelled with the thread
SET ROLE regress_delruns_member;
SELECT sg_delete_thread('o1');
SELECT status, error->>'message' AS error FROM sg_runs('o1');
RESET ROLE;

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA delruns CASCADE;
DROP ROLE regress_delruns_member;
DROP ROLE regress_delruns_owner;
