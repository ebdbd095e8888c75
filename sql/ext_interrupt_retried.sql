-- sg_interrupt_task retried under the same token with the same value (a
-- worker whose connection was lost after the commit, before the reply,
-- asks again on a new connection, as the reference worker does) is a
-- no-op, as the same completion is: it was refused with SG012 ("is
-- interrupted already") though the question had been taken. Another
-- question under that token is still refused (SG012), and a retry once
-- the human answered (the task queued again, with no token) is SG010.
-- Nothing of the thread changes: one interrupt, and the resume's answer.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA ext_interrupt_retried;
SET search_path = ext_interrupt_retried;
CREATE EXTENSION stategraph;
RESET client_min_messages;
SELECT sg_create_graph('g', jsonb_build_object('out', 'append'));
SELECT sg_add_external_node('g', 'ask', 'q');
SELECT sg_add_edge('g', '__start__', 'ask');
SELECT sg_add_edge('g', 'ask', '__end__');
SELECT sg_compile('g');
SELECT sg_invoke('g', '{"out": [0]}', 't') - '__waiting__' AS waits;
CREATE TABLE c AS SELECT task_id, token FROM sg_claim('q', 'w');
SELECT sg_interrupt_task(task_id, token, '{"question": "go ahead?"}') FROM c;
CREATE TABLE before AS SELECT updated_at FROM stategraph.tasks;
-- the reply was lost: the same question again
SELECT sg_interrupt_task(task_id, token, '{"question": "go ahead?"}') FROM c;
SELECT status, interrupt, updated_at = (SELECT updated_at FROM before) AS row_untouched FROM stategraph.tasks;
SELECT status FROM sg_threads('g') WHERE thread_id = 't';
SELECT jsonb_array_length(interrupts) AS interrupts, interrupts->0->'value' AS value FROM sg_get_state('t');
\set VERBOSITY sqlstate
-- another question under that token: refused
SELECT sg_interrupt_task(task_id, token, '{"question": "something else?"}') FROM c;
SELECT sg_interrupt_task(task_id, token, NULL) FROM c;
\set VERBOSITY default
-- a question of SQL NULL, asked twice, on a second thread
SELECT sg_invoke('g', '{"out": [1]}', 't2') - '__waiting__' AS waits;
CREATE TABLE c2 AS SELECT task_id, token FROM sg_claim('q', 'w');
SELECT sg_interrupt_task(task_id, token, NULL) FROM c2;
SELECT sg_interrupt_task(task_id, token, NULL) FROM c2;
\set VERBOSITY sqlstate
SELECT sg_interrupt_task(task_id, token, 'null') FROM c2;
\set VERBOSITY default
SELECT jsonb_array_length(interrupts) AS interrupts FROM sg_get_state('t2');
-- the human answers: the task is queued again, and the old token's retry is fenced
SELECT sg_invoke('g', NULL, 't', resume => '"yes"') - '__waiting__' AS waits;
\set VERBOSITY sqlstate
SELECT sg_interrupt_task(task_id, token, '{"question": "go ahead?"}') FROM c;
\set VERBOSITY default
SELECT status, resume, attempt FROM stategraph.tasks WHERE thread_id = 't';
DROP SCHEMA ext_interrupt_retried CASCADE;
