-- A second sg_fail under the same claim: the same report again is a retry
-- of the call (nothing to do); one that says something else (another
-- error, or no retry after a retry was queued) is refused with SG012, as a
-- second sg_complete or sg_interrupt_task that says something else is. It
-- was dropped without a word, and a worker that first reported a failure
-- worth a retry and then a fatal one thought the task failed for good.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
RESET client_min_messages;
CREATE EXTENSION stategraph;
SELECT sg_create_graph('ft', '{"answer": "replace"}');
SELECT sg_add_external_node('ft', 'llm', 'ftq', '{"max_attempts": 3, "backoff_ms": 0}');
SELECT sg_add_edge('ft', '__start__', 'llm');
SELECT sg_add_edge('ft', 'llm', '__end__');
SELECT sg_compile('ft');
SELECT sg_invoke('ft', '{}', thread_id => 'ft-1') ? '__waiting__' AS waits;

SELECT task_id, token FROM sg_claim('ftq', 'w1') \gset
SELECT sg_fail(:'task_id', :'token', '{"message": "overloaded"}');
-- the same report again: nothing to do
SELECT sg_fail(:'task_id', :'token', '{"message": "overloaded"}');
-- another error, or no retry now: refused, the first stands
\set VERBOSITY sqlstate
SELECT sg_fail(:'task_id', :'token', '{"message": "fatal"}');
SELECT sg_fail(:'task_id', :'token', '{"message": "overloaded"}', retry => false);
\set VERBOSITY terse
SELECT status, attempt, error->'error' AS error FROM sg_tasks('ftq') WHERE task_id = :'task_id';

-- a final failure (retry false), then a retry asked: refused too
\set VERBOSITY sqlstate
SELECT task_id, token FROM sg_claim('ftq', 'w2') \gset
SELECT sg_fail(:'task_id', :'token', '{"message": "bad input"}', retry => false);
SELECT sg_fail(:'task_id', :'token', '{"message": "bad input"}', retry => false);
SELECT sg_fail(:'task_id', :'token', '{"message": "bad input"}');
SELECT status, attempt, error->'error' AS error FROM sg_tasks('ftq') WHERE task_id = :'task_id';
DROP EXTENSION stategraph CASCADE;
