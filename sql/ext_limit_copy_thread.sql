-- A copy of a waiting thread in the same database (sg_import_thread) names
-- its source's external tasks (a task's id is that of its checkpoint): an
-- sg_invoke of the copy waits on the source's task. That run's recursion
-- limit is not the source's: the completion that continues the source
-- counts the limit of the call that left the source waiting. The copy's
-- sg_invoke wrote its own limit on the source's task row, so the source's
-- loop, invoked with recursion_limit 3, went on to the copy's 1000 (or
-- stopped at a copy's 1).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA ext_limit_copy_thread;
SET search_path = ext_limit_copy_thread;
CREATE EXTENSION stategraph;
RESET client_min_messages;
CREATE FUNCTION tool_msg(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"messages": [{"role": "tool"}]}'::jsonb $$;
SELECT sg_create_graph('loop', '{"messages": "append"}');
SELECT sg_add_external_node('loop', 'agent', 'q');
SELECT sg_add_node('loop', 'tools', 'tool_msg(jsonb)');
SELECT sg_add_edge('loop', '__start__', 'agent');
SELECT sg_add_edge('loop', 'agent', 'tools');
SELECT sg_add_edge('loop', 'tools', 'agent');
SELECT sg_compile('loop');
-- a worker: claims and completes (each completion goes on with the loop) up to max times
CREATE FUNCTION answer_all(max int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int := 0;
    t record;
BEGIN
    FOR i IN 1 .. max LOOP
        SELECT task_id, token INTO t FROM sg_claim('q', 'w');
        EXIT WHEN NOT FOUND;
        PERFORM sg_complete(t.task_id, t.token, '{"messages": [{"role": "assistant"}]}');
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
CREATE FUNCTION loop_end(thread text) RETURNS TABLE (step int, status text, error text) LANGUAGE sql AS $$
    SELECT s.step, (SELECT h.status FROM sg_threads() h WHERE h.thread_id = thread),
           s.tasks->0->'error'->>'message'
    FROM sg_get_state(thread) s
$$;
SET client_min_messages = error;    -- (the WARNING of the limit reached)
-- the source with limit 3, its copy invoked with 1000: the source still
-- stops after step 3 (2 model calls)
SELECT sg_invoke('loop', '{"messages": []}', 'src', recursion_limit => 3) ? '__waiting__' AS waiting;
SELECT sg_import_thread(sg_export_thread('src'), 'copy');
SELECT sg_invoke('loop', NULL, 'copy', recursion_limit => 1000) ? '__waiting__' AS waiting;
SELECT thread_id, step, recursion_limit, last_step FROM stategraph.tasks ORDER BY step;
SELECT answer_all(10) AS answered;
SELECT * FROM loop_end('src');
SELECT sg_delete_thread('src'), sg_delete_thread('copy');   -- (a task still out: cancelled)
-- the other way: the source with 30, a copy invoked with 1: the source
-- goes on to step 30 (15 calls)
SELECT sg_invoke('loop', '{"messages": []}', 'src2', recursion_limit => 30) ? '__waiting__' AS waiting;
SELECT sg_import_thread(sg_export_thread('src2'), 'copy2');
SELECT sg_invoke('loop', NULL, 'copy2', recursion_limit => 1) ? '__waiting__' AS waiting;
SELECT answer_all(40) AS answered;
SELECT * FROM loop_end('src2');
RESET client_min_messages;
DROP SCHEMA ext_limit_copy_thread CASCADE;
