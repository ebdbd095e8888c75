--
-- Two writes to a replace channel in one step, and the recursion limit.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA conflict_recursion;
SET search_path = conflict_recursion;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION write_one(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"step": 1}'::jsonb $$;
CREATE FUNCTION write_two(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"step": 2}'::jsonb $$;
SELECT sg_create_graph('conflict', '{"step": "replace"}');
SELECT sg_add_node('conflict', 'x', 'write_one(jsonb)');
SELECT sg_add_node('conflict', 'y', 'write_two(jsonb)');
SELECT sg_add_edge('conflict', '__start__', 'x');
SELECT sg_add_edge('conflict', '__start__', 'y');
SELECT sg_add_edge('conflict', 'x', '__end__');
SELECT sg_add_edge('conflict', 'y', '__end__');
SELECT sg_compile('conflict');

-- LangGraph's InvalidUpdateError; the call fails as a whole
SELECT sg_invoke('conflict', '{"step": 0}', thread_id => 'conflict-1');
SELECT count(*) AS stored FROM stategraph.threads WHERE thread_id = 'conflict-1';

-- with on_error 'return' the failure is recorded, and the thread stays readable
SELECT (sg_invoke('conflict', '{"step": 0}', thread_id => 'conflict-2', on_error => 'return')
        -> '__error__') - 'checkpoint_id' AS error;
SELECT step, next, "values", tasks->0->'error'->>'message' AS error,
       jsonb_path_query_array(tasks, '$[*].result') AS pending_writes
FROM sg_get_state('conflict-2');
SELECT step, source FROM sg_get_state_history('conflict-2');
SELECT thread_id, status, next FROM sg_threads('conflict');
-- an update of the thread applies the step's pending writes first, as
-- LangGraph's update_state does, so they still conflict
SELECT sg_update_state('conflict-2', '{"step": 12}', as_node => 'x') IS NOT NULL AS repaired;
-- an update of its checkpoint, named by id, leaves them out: the state is
-- repaired by hand, and the thread goes on
SELECT sg_update_state('conflict-2', '{"step": 12}', as_node => 'x',
                       checkpoint_id => (SELECT checkpoint_id FROM sg_get_state('conflict-2'))) IS NOT NULL AS repaired;
SELECT sg_invoke('conflict', NULL, thread_id => 'conflict-2');
SELECT thread_id, status FROM sg_threads('conflict');

-- a reducer fixes it: both values are kept, in node-name order
SELECT sg_create_graph('no_conflict', '{"step": "append"}');
CREATE FUNCTION append_one(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"step": [1]}'::jsonb $$;
CREATE FUNCTION append_two(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"step": [2]}'::jsonb $$;
SELECT sg_add_node('no_conflict', 'y', 'append_two(jsonb)');
SELECT sg_add_node('no_conflict', 'x', 'append_one(jsonb)');
SELECT sg_add_edge('no_conflict', '__start__', 'y');
SELECT sg_add_edge('no_conflict', '__start__', 'x');
SELECT sg_add_edge('no_conflict', 'x', '__end__');
SELECT sg_add_edge('no_conflict', 'y', '__end__');
SELECT sg_compile('no_conflict');
SELECT sg_invoke('no_conflict', '{}');

-- a cycle with no exit
CREATE FUNCTION tick(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('n', COALESCE((state->>'n')::int, 0) + 1) $$;
SELECT sg_create_graph('forever', '{"n": "replace"}');
SELECT sg_add_node('forever', 'tick', 'tick(jsonb)');
SELECT sg_add_node('forever', 'tock', 'tick(jsonb)');
SELECT sg_add_edge('forever', '__start__', 'tick');
SELECT sg_add_edge('forever', 'tick', 'tock');
SELECT sg_add_edge('forever', 'tock', 'tick');
SELECT sg_compile('forever');

SELECT sg_invoke('forever', '{"n": 0}', thread_id => 'forever-1', recursion_limit => 10);
-- the checkpoints up to the limit are kept with on_error 'return':
-- the input checkpoint plus steps 0..10
SELECT sg_invoke('forever', '{"n": 0}', thread_id => 'forever-2', recursion_limit => 10,
                 on_error => 'return') -> '__error__' ->> 'message' AS error;
SELECT count(*) AS checkpoints, min(step), max(step), max(("values"->>'n')::int) AS n
FROM sg_get_state_history('forever-2');
SELECT thread_id, status, next FROM sg_threads('forever');
-- resuming gives the run a new budget
SELECT sg_invoke('forever', NULL, thread_id => 'forever-2', recursion_limit => 3,
                 on_error => 'return') -> '__error__' ->> 'message' AS error;
SELECT step, "values" FROM sg_get_state('forever-2');
-- a run that ends within the limit: START, step1..step3 take steps 0..3
CREATE FUNCTION s1(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('three', '{"n": "replace"}');
SELECT sg_add_node('three', 'step1', 's1(jsonb)');
SELECT sg_add_node('three', 'step2', 's1(jsonb)');
SELECT sg_add_node('three', 'step3', 's1(jsonb)');
SELECT sg_add_edge('three', '__start__', 'step1');
SELECT sg_add_edge('three', 'step1', 'step2');
SELECT sg_add_edge('three', 'step2', 'step3');
SELECT sg_add_edge('three', 'step3', '__end__');
SELECT sg_compile('three');
SELECT sg_invoke('three', '{}', recursion_limit => 3);
SELECT sg_invoke('three', '{}', recursion_limit => 2);
SELECT sg_invoke('three', '{}', recursion_limit => 0);
-- the largest limit is no limit, on a thread that has steps already too
-- (its last allowed step is capped, not wrapped around to a negative one)
SELECT sg_invoke('three', '{}', thread_id => 'three-1', recursion_limit => 2147483647);
SELECT sg_invoke('three', '{}', thread_id => 'three-1', recursion_limit => 2147483647);
SELECT sg_compile('three', interrupt_before => ARRAY['step2']);
SELECT sg_invoke('three', '{}', thread_id => 'three-1', recursion_limit => 2147483647);
SELECT sg_invoke('three', NULL, thread_id => 'three-1', recursion_limit => 2147483647);
SELECT step, source FROM sg_get_state('three-1');

SET client_min_messages = warning;
DROP SCHEMA conflict_recursion CASCADE;
