--
-- The seed chapter, "Persistence and Checkpointing", in SQL.
-- Every example of the chapter has its counterpart here, in the chapter's order.
-- (This file is both the demo of `make demo` and a pg_regress test.)
--
CREATE EXTENSION stategraph;

--
-- build_checkpointed_graph(): WorkflowState has messages (Annotated[list,
-- operator.add] = append), step and data (replace). Nodes are SQL functions
-- that take the state and return a partial update.
--
CREATE FUNCTION step_one(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"step": 1, "messages": ["Step 1 complete"]}'::jsonb $$;
CREATE FUNCTION step_two(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"step": 2, "messages": ["Step 2 complete"]}'::jsonb $$;
CREATE FUNCTION step_three(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"step": 3, "messages": ["Step 3 complete"]}'::jsonb $$;

SELECT sg_create_graph('workflow', '{"messages": "append", "step": "replace", "data": "replace"}');
SELECT sg_add_node('workflow', 'step1', 'step_one(jsonb)');
SELECT sg_add_node('workflow', 'step2', 'step_two(jsonb)');
SELECT sg_add_node('workflow', 'step3', 'step_three(jsonb)');
SELECT sg_add_edge('workflow', '__start__', 'step1');
SELECT sg_add_edge('workflow', 'step1', 'step2');
SELECT sg_add_edge('workflow', 'step2', 'step3');
SELECT sg_add_edge('workflow', 'step3', '__end__');
-- compile(checkpointer=...): every thread's checkpoints are stored in the database
SELECT sg_compile('workflow');

--
-- demonstrate_checkpointing()
--
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {"user": "alice"}}',
                 thread_id => 'workflow-123') AS "Final result";
-- state is checkpointed after each step; get_state returns the latest
SELECT "values" AS "Checkpointed state" FROM sg_get_state('workflow-123');
SELECT thread_id, checkpoint_ns, checkpoint_id IS NOT NULL AS has_checkpoint_id
FROM sg_get_state('workflow-123');

--
-- manage_threads(): each thread is independent
--
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {"user": "alice"}}', thread_id => 'thread-a')
       IS NOT NULL AS ran_a;
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {"user": "bob"}}', thread_id => 'thread-b')
       IS NOT NULL AS ran_b;
SELECT "values"->'data'->>'user' AS "Thread A user" FROM sg_get_state('thread-a');
SELECT "values"->'data'->>'user' AS "Thread B user" FROM sg_get_state('thread-b');

--
-- resume_from_checkpoint(): NULL input continues from the last checkpoint;
-- on a finished thread it returns the final values and writes nothing
--
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {}}', thread_id => 'resumable-workflow')
       IS NOT NULL AS started;
SELECT sg_invoke('workflow', NULL, thread_id => 'resumable-workflow') AS "Resumed result";
SELECT count(*) AS checkpoints FROM sg_get_state_history('resumable-workflow');

--
-- Checkpoint backends: MemorySaver, SqliteSaver and PostgresSaver all become
-- the database itself. Without a thread_id a run keeps nothing (like running
-- without a checkpointer).
--
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {}}') AS "No persistence";
-- the async savers: a background run returns at once, and is waited for when wanted
SELECT sg_submit('workflow', '{"messages": [], "step": 0, "data": {"user": "carol"}}',
                 thread_id => 'async-workflow') AS run_id \gset
SELECT status FROM sg_wait(:'run_id', timeout => '30 s');
SELECT "values" AS "Async result" FROM sg_get_state('async-workflow');

--
-- explore_state_history(): newest first, each checkpoint's parent is the one before it
--
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {}}', thread_id => 'history-demo')
       IS NOT NULL AS ran;
SELECT count(*) AS "Total checkpoints" FROM sg_get_state_history('history-demo');
SELECT row_number() OVER () - 1 AS "Checkpoint",
       "values"->'step' AS "Step",
       "values"->'messages' AS "Messages",
       metadata->>'source' AS source,
       next,
       created_at <= clock_timestamp() AS "Created",
       parent_checkpoint_id = lead(checkpoint_id) OVER () AS "Parent is the next row"
FROM sg_get_state_history('history-demo');
-- a task listed in a snapshot carries the result it later wrote
SELECT step, t->>'name' AS task, t->'result' AS result
FROM sg_get_state_history('history-demo'), jsonb_array_elements(tasks) t
ORDER BY step;

--
-- time_travel_to_checkpoint(): invoke from the checkpoint after step 1; the
-- run first writes a copy of it (source fork), then steps 2 and 3 again
--
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {}}', thread_id => 'time-travel')
       IS NOT NULL AS ran;
SELECT checkpoint_id AS step1_checkpoint FROM sg_get_state_history('time-travel')
WHERE ("values"->>'step')::int = 1 \gset
SELECT sg_invoke('workflow', NULL, thread_id => 'time-travel', checkpoint_id => :'step1_checkpoint')
       AS "Resumed from step 1";
-- the history now has both branches; get_state shows the newest
SELECT step, source, next, "values"->'messages' AS messages,
       checkpoint_id = :'step1_checkpoint' AS is_step1_checkpoint,
       parent_checkpoint_id = :'step1_checkpoint' AS forked_from_step1
FROM sg_get_state_history('time-travel');
SELECT step, source FROM sg_get_state('time-travel');

--
-- branch_from_checkpoint(): update_state with another thread's checkpoint
-- forks it into the new thread first; the feature branch gets data.branch =
-- feature and runs step2 and step3 on top of step 1's state
--
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {"branch": "main"}}', thread_id => 'main-branch')
       IS NOT NULL AS ran;
SELECT checkpoint_id AS main_step1 FROM sg_get_state_history('main-branch')
WHERE ("values"->>'step')::int = 1 \gset
SELECT sg_update_state('feature-branch', '{"data": {"branch": "feature"}}', checkpoint_id => :'main_step1')
       IS NOT NULL AS updated;
SELECT sg_invoke('workflow', NULL, thread_id => 'feature-branch') AS "Feature branch result";
SELECT step, source, next, "values" FROM sg_get_state_history('feature-branch');
-- main-branch is untouched
SELECT "values" AS "Main branch" FROM sg_get_state('main-branch');

--
-- Production persistence. create_production_checkpointer() needs nothing:
-- the checkpointer is the database. ProductionWorkflow becomes three calls.
--
-- execute(thread_id, initial_state): with on_error => 'return', a failing
-- node is recorded on the thread and every checkpoint before it is kept
CREATE TABLE flaky_switch (broken boolean NOT NULL);
INSERT INTO flaky_switch VALUES (true);
CREATE FUNCTION check_step(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT broken FROM flaky_switch) THEN
        RAISE EXCEPTION 'downstream service unavailable';
    END IF;
    RETURN '{"step": 2, "messages": ["Step 2 complete"]}';
END $$;
SELECT sg_create_graph('production', '{"messages": "append", "step": "replace", "data": "replace"}');
SELECT sg_add_node('production', 'step1', 'step_one(jsonb)');
SELECT sg_add_node('production', 'step2', 'check_step(jsonb)');
SELECT sg_add_node('production', 'step3', 'step_three(jsonb)');
SELECT sg_add_edge('production', '__start__', 'step1');
SELECT sg_add_edge('production', 'step1', 'step2');
SELECT sg_add_edge('production', 'step2', 'step3');
SELECT sg_add_edge('production', 'step3', '__end__');
SELECT sg_compile('production');

SELECT sg_invoke('production', '{"messages": [], "step": 0, "data": {"order": 42}}',
                 thread_id => 'order-42', on_error => 'return') -> '__error__' ->> 'message' AS "Workflow failed";
-- "State is still checkpointed up to failure point"
SELECT step, next, "values"->'messages' AS messages, tasks->0->'error'->>'message' AS error
FROM sg_get_state('order-42');

-- resume(thread_id, updates): update the state, then continue from where it stopped
UPDATE flaky_switch SET broken = false;
SELECT sg_update_state('order-42', '{"data": {"order": 42, "retried": true}}', as_node => 'step1') IS NOT NULL AS updated;
SELECT sg_invoke('production', NULL, thread_id => 'order-42') AS "Resumed";

-- get_status(thread_id)
SELECT thread_id, "values", next AS next_nodes, created_at IS NOT NULL AS has_created_at
FROM sg_get_state('order-42');
SELECT thread_id, graph, status, next, checkpoints FROM sg_threads('production');

-- checkpoint_ttl_days = 30: cleanup is one call (docs/seed-chapter.md also shows a
-- one-second retention swept by CALL sg_work(), which TAP 002_router, running this
-- file through the router, cannot call there)
SELECT sg_prune(older_than => '30 days') AS removed;
