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
-- a sweep removes sweep_limit threads at most
SET stategraph.sweep_limit = 100;
CALL sg_work(0);
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
RESET stategraph.sweep_limit;
SELECT sg_set_retention('sweepg', NULL);
SELECT sg_drop_graph('sweepg');
