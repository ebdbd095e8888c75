-- The retention sweep over many threads: it reads the threads a window at a
-- time (1,000 by thread_id) from where the last sweep stopped, so a pass
-- reads each thread once and the next sweep goes on where a full one stopped.
CREATE EXTENSION IF NOT EXISTS stategraph;
CREATE FUNCTION sweep_node(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{}'::jsonb $$;
SELECT sg_create_graph('sweepg', '{"n": "replace"}');
SELECT sg_add_node('sweepg', 'a', 'sweep_node(jsonb)');
SELECT sg_add_edge('sweepg', '__start__', 'a');
SELECT sg_add_edge('sweepg', 'a', '__end__');
SELECT sg_compile('sweepg');
-- 2,500 threads, two and a half windows; every other one expired
SELECT count(sg_invoke('sweepg', jsonb_build_object('n', i), thread_id => 'sw-' || i))
FROM generate_series(1, 2500) i;
SELECT sg_set_retention('sweepg', '1 hour');
UPDATE stategraph.threads SET updated_at = now() - interval '2 hours'
WHERE graph = 'sweepg' AND substr(thread_id, 4)::int % 2 = 0;
-- a sweep removes sweep_limit threads at most (max_time 0: one batch, then
-- the call returns; without it sg_work sweeps batch after batch), and
-- never more than 30 (SG_SWEEP_BATCH_THREADS, TAP 105_sweep_batch_subxacts)
SET stategraph.sweep_limit = 20;
CALL sg_work(0, interval '0 s');
SELECT count(*) AS left_after_one_sweep FROM stategraph.threads WHERE graph = 'sweepg';
-- the next sweep goes on from there, through the next windows to the end
SET stategraph.sweep_limit = 100000;
CALL sg_work(0);
SELECT count(*) AS threads, count(*) FILTER (WHERE updated_at < now() - interval '1 hour') AS expired
FROM stategraph.threads WHERE graph = 'sweepg';
-- a pass that ended starts again from the first thread
UPDATE stategraph.threads SET updated_at = now() - interval '2 hours' WHERE graph = 'sweepg';
CALL sg_work(0);
SELECT count(*) AS left_after_new_pass FROM stategraph.threads WHERE graph = 'sweepg';
-- finished runs and tasks past stategraph.run_retention: one CALL sg_work()
-- expires them all, batch after batch of sweep_limit (each committed), not
-- one batch per call
SET stategraph.sweep_limit = 100;
INSERT INTO stategraph.runs (run_id, thread_id, graph, recursion_limit, multitask, status, finished_at)
SELECT gen_random_uuid(), 'gone-' || i, 'sweepg', 25, 'reject', 'success', now() - interval '30 days'
FROM generate_series(1, 350) i;
INSERT INTO stategraph.tasks (task_id, queue, graph, thread_id, checkpoint_id, node, step, status,
                              max_attempts, backoff_ms, lease, config, finished_at)
SELECT 'gone-' || i, 'q', 'sweepg', 'gone-' || i, gen_random_uuid(), 'a', 1, 'completed', 1, 0, '1 min', '{}',
       now() - interval '30 days' FROM generate_series(1, 250) i;
CALL sg_work(0);
SELECT (SELECT count(*) FROM stategraph.runs WHERE thread_id LIKE 'gone-%') AS runs_left,
       (SELECT count(*) FROM stategraph.tasks WHERE task_id LIKE 'gone-%') AS tasks_left;
RESET stategraph.sweep_limit;
SELECT sg_set_retention('sweepg', NULL);
SELECT sg_drop_graph('sweepg');

-- a step whose node interrupted while a sibling node failed leaves the
-- thread 'error' with the interrupt still pending (a resume answers it):
-- the sweep spares it, as it spares an 'interrupted' thread; an expired
-- thread that failed without one goes
CREATE FUNCTION sweep_ask(s jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('log', jsonb_build_array(sg_interrupt('"ok?"'))) $$;
CREATE FUNCTION sweep_boom(s jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$;
SELECT sg_create_graph('sweep_pi', '{"log": "append"}');
SELECT sg_add_node('sweep_pi', 'ask', 'sweep_ask(jsonb)');
SELECT sg_add_node('sweep_pi', 'boom', 'sweep_boom(jsonb)');
SELECT sg_add_edge('sweep_pi', '__start__', 'ask');
SELECT sg_add_edge('sweep_pi', '__start__', 'boom');
SELECT sg_add_edge('sweep_pi', 'ask', '__end__');
SELECT sg_add_edge('sweep_pi', 'boom', '__end__');
SELECT sg_compile('sweep_pi');
SELECT sg_create_graph('sweep_err', '{"log": "append"}');
SELECT sg_add_node('sweep_err', 'boom', 'sweep_boom(jsonb)');
SELECT sg_add_edge('sweep_err', '__start__', 'boom');
SELECT sg_add_edge('sweep_err', 'boom', '__end__');
SELECT sg_compile('sweep_err');
SELECT sg_invoke('sweep_pi', '{}', 'pi-1', on_error => 'return') IS NOT NULL AS asked;
SELECT sg_invoke('sweep_err', '{}', 'err-1', on_error => 'return') IS NOT NULL AS failed;
SELECT thread_id, status FROM stategraph.threads WHERE thread_id IN ('pi-1', 'err-1') ORDER BY 1;
SELECT sg_set_retention('sweep_pi', '1 hour'), sg_set_retention('sweep_err', '1 hour');
UPDATE stategraph.threads SET updated_at = now() - interval '2 hours' WHERE thread_id IN ('pi-1', 'err-1');
-- (pending writes that are no object, as its owner may write them, do not stop the sweep)
UPDATE stategraph.checkpoints c SET pending = '[]' FROM stategraph.threads t
 WHERE t.thread_id = 'err-1' AND c.thread_id = t.thread_id AND c.checkpoint_id = t.head;
CALL sg_work(0);
SELECT thread_id, status FROM stategraph.threads WHERE thread_id IN ('pi-1', 'err-1') ORDER BY 1;
SELECT jsonb_path_query_array(interrupts, '$[*].value') AS pending_interrupts FROM sg_get_state('pi-1');
SELECT sg_set_retention('sweep_pi', NULL), sg_set_retention('sweep_err', NULL);
SELECT sg_delete_thread('pi-1');
SELECT sg_drop_graph('sweep_pi'), sg_drop_graph('sweep_err');
DROP FUNCTION sweep_ask(jsonb), sweep_boom(jsonb);
