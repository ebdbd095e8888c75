-- A worker completes an external task while a function of its graph is
-- dropped (a router, a node after it, a custom reducer): the update is
-- still checked against the channels, the result is kept (the task
-- completed, the thread waiting with nothing out), and the step goes on
-- once the function is back. sg_complete used to fail with 42883 from
-- loading the graph, sending a paid result back as the task's failure
-- (the reference worker's sg_fail, retried with a new model call per
-- attempt, until the failure was recorded as the external node's).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA ext_complete_broken_graph;
SET search_path = ext_complete_broken_graph;
CREATE EXTENSION stategraph;
RESET client_min_messages;
CREATE FUNCTION route(s jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'after' $$;
CREATE FUNCTION mark(s jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT jsonb_build_object('out', jsonb_build_array('after')) $$;
CREATE FUNCTION longest(a jsonb, b jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT CASE WHEN length(a #>> '{}') >= length(b #>> '{}') THEN a ELSE b END $$;
SELECT sg_create_graph('g', jsonb_build_object('out', 'append', 'best', jsonb_build_object('reducer', 'longest(jsonb,jsonb)')));
SELECT sg_add_external_node('g', 'work', 'q', '{}', '1 min');
SELECT sg_add_node('g', 'after', 'mark(jsonb)');
SELECT sg_add_edge('g', '__start__', 'work');
SELECT sg_add_conditional_edges('g', 'work', 'route(jsonb)', '["after", "__end__"]');
SELECT sg_add_edge('g', 'after', '__end__');
SELECT sg_compile('g');

SELECT sg_invoke('g', '{"out":[0], "best": "a"}', 't1') - '__waiting__' AS waits;
SELECT sg_invoke('g', '{"out":[0], "best": "a"}', 't2') - '__waiting__' AS waits;
CREATE TABLE c AS SELECT task_id, token, thread_id FROM sg_claim('q', 'w', 2);

-- the router is dropped; all in one transaction, so that no background
-- worker takes the step meanwhile
BEGIN;
DROP FUNCTION route(jsonb);
-- an update the channels refuse is refused as ever
SELECT sg_complete(task_id, token, '{"nope": 1}') FROM c WHERE thread_id = 't1';
ROLLBACK;
BEGIN;
DROP FUNCTION route(jsonb);
SELECT sg_complete(task_id, token, '{"out": [1], "best": "abc"}') FROM c WHERE thread_id = 't1';
SELECT thread_id, status FROM sg_tasks('q') ORDER BY 1;
SELECT status FROM stategraph.threads WHERE thread_id = 't1';
-- the same completion again is a no-op; another update is SG012
SELECT sg_complete(task_id, token, '{"out": [1], "best": "abc"}') FROM c WHERE thread_id = 't1';
\set VERBOSITY sqlstate
SELECT sg_complete(task_id, token, '{"out": [2]}') FROM c WHERE thread_id = 't1';
\set VERBOSITY default
ROLLBACK;
BEGIN;
DROP FUNCTION route(jsonb);
SELECT sg_complete(task_id, token, '{"out": [1], "best": "abc"}') FROM c WHERE thread_id = 't1';
CREATE FUNCTION route(s jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'after' $$;
-- repaired: the step goes on with the kept result
SELECT sg_invoke('g', NULL, 't1');
COMMIT;

-- a custom reducer dropped: the update is checked, the result kept
BEGIN;
DROP FUNCTION longest(jsonb, jsonb);
SELECT sg_complete(task_id, token, '{"out": [2], "best": "abcd"}') FROM c WHERE thread_id = 't2';
SELECT status FROM stategraph.tasks WHERE thread_id = 't2';
CREATE FUNCTION longest(a jsonb, b jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT CASE WHEN length(a #>> '{}') >= length(b #>> '{}') THEN a ELSE b END $$;
SELECT sg_invoke('g', NULL, 't2');
COMMIT;

SET client_min_messages = warning;
DROP SCHEMA ext_complete_broken_graph CASCADE;
