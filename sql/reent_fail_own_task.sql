--
-- A node must not change the thread of its own run (session_threads.c):
-- sg_update_state, sg_invoke, sg_complete, sg_delete_thread... of it are
-- refused (55000). sg_fail was not: a node that claimed the external task
-- of its own step (a sibling external node's) and failed it for good
-- recorded the failure on the thread, under the running step, which then
-- wrote its own checkpoint status over it: the task 'failed', the thread
-- 'waiting' for it for ever (a resume waits again), the failure lost.
-- (sg_interrupt_task goes through the same record_on_thread.)
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA reent_fail_own_task;
SET search_path = reent_fail_own_task;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE TABLE notes (n serial, msg text);
CREATE TABLE claimed (task_id text, token uuid);
-- node n claims the task of its sibling external node e, and fails it for good
CREATE FUNCTION nn(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE t record;
BEGIN
    FOR t IN SELECT * FROM reent_fail_own_task.sg_claim('q', 'me') LOOP
        INSERT INTO reent_fail_own_task.claimed VALUES (t.task_id, t.token);
        BEGIN
            PERFORM reent_fail_own_task.sg_fail(t.task_id, t.token, '{"m": "no"}', false);
            INSERT INTO reent_fail_own_task.notes(msg) VALUES ('sg_fail done');
        EXCEPTION WHEN others THEN
            INSERT INTO reent_fail_own_task.notes(msg) VALUES ('sg_fail refused: ' || SQLSTATE);
        END;
    END LOOP;
    RETURN '{"out": ["n"]}';
END $$;
SELECT sg_create_graph('g', '{"out": "append"}');
SELECT sg_add_external_node('g', 'e', 'q');
SELECT sg_add_node('g', 'n', 'nn(jsonb)');
SELECT sg_add_edge('g', '__start__', 'e');
SELECT sg_add_edge('g', '__start__', 'n');
SELECT sg_add_edge('g', 'e', '__end__');
SELECT sg_add_edge('g', 'n', '__end__');
SELECT sg_compile('g');

SELECT sg_invoke('g', '{"out": []}', 't1') -> '__waiting__' -> 0 ->> 'node' AS waits_on;
SELECT msg FROM notes ORDER BY n;
-- the task and the thread agree: refused, the task is still out and the
-- thread waits for it (before: the task 'failed', the thread 'waiting')
SELECT t.status AS task, th.status AS thread
FROM sg_tasks('q') t JOIN sg_threads() th USING (thread_id);
-- failed from outside the run, the failure is the thread's
SELECT sg_fail(task_id, token, '{"m": "no"}', false) FROM claimed;
SELECT t.status AS task, th.status AS thread
FROM sg_tasks('q') t JOIN sg_threads() th USING (thread_id);

SET client_min_messages = warning;
DROP SCHEMA reent_fail_own_task CASCADE;
