-- A worker whose task's lease lapsed with its attempts spent (the sweep
-- recorded the failure: a lost failure) is told to go on by its heartbeat,
-- since its result is still taken; so is its question. sg_interrupt_task
-- of a lost failure was refused (SG012, "is failed already") where
-- sg_complete takes the failure back: the reference worker dropped the
-- question, and the thread kept the lease's failure. It now takes the
-- failure back as a completion does, and the thread is interrupted with
-- the question; a resume queues the task again with the answer.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA ext_interrupt_lost_task;
SET search_path = ext_interrupt_lost_task;
CREATE EXTENSION stategraph;
RESET client_min_messages;
SELECT sg_create_graph('g', jsonb_build_object('out', 'append'));
SELECT sg_add_external_node('g', 'ask', 'q', '{"max_attempts": 1, "backoff_ms": 0}', '1 min');
SELECT sg_add_edge('g', '__start__', 'ask');
SELECT sg_add_edge('g', 'ask', '__end__');
SELECT sg_compile('g');
SELECT sg_invoke('g', '{"out": [0]}', 't') - '__waiting__' AS waits;
CREATE TABLE c AS SELECT task_id, token FROM sg_claim('q', 'w', lease => '1 millisecond');
SELECT pg_sleep(0.05);
SELECT stategraph.sweep_leases() >= 0 AS swept;
SELECT status, lost, error->>'name' AS error FROM stategraph.tasks;
SELECT status FROM stategraph.threads WHERE thread_id = 't';
-- the worker is told to go on, and asks a human
SELECT sg_heartbeat(task_id, token) AS go_on FROM c;
SELECT sg_interrupt_task(task_id, token, '"may I?"') FROM c;
SELECT status, lost FROM stategraph.tasks;
SELECT status FROM stategraph.threads WHERE thread_id = 't';
SELECT (sg_get_state('t')).tasks -> 0 -> 'error' ->> 'name' AS error,
       (sg_get_state('t')).tasks -> 0 -> 'interrupts' -> 0 -> 'value' AS question;
-- asked again: refused, the first question stands
\set VERBOSITY sqlstate
SELECT sg_interrupt_task(task_id, token, '"again?"') FROM c;
\set VERBOSITY default
-- the answer queues the task again, with it
SELECT sg_invoke('g', NULL, 't', resume => '"yes"') - '__waiting__' AS waits;
SELECT resume, attempt FROM sg_claim('q', 'w');
SET client_min_messages = warning;
DROP SCHEMA ext_interrupt_lost_task CASCADE;
