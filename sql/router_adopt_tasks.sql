--
-- stategraph.adopt_tasks(data): the finished external tasks of a server
-- leaving a router's cluster, stored here as they are (stategraph_router's
-- move_partition of that server's last partition; TAP 289): ids, tokens,
-- results and owners kept (graph_gen, a generation of that server, not),
-- so that a worker's retried sg_complete of such a task is answered as it
-- was there. A task not finished is not taken (this server would hand it
-- out again), a task this server has is passed over, and a caller that is
-- not a superuser takes only the tasks of roles it is a member of. Not for
-- PUBLIC.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_adoptt_mover;
DROP ROLE IF EXISTS regress_adoptt_other;
CREATE SCHEMA router_adopt_tasks;
SET search_path = router_adopt_tasks;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
CREATE ROLE regress_adoptt_mover;
CREATE ROLE regress_adoptt_other;
GRANT USAGE ON SCHEMA router_adopt_tasks TO PUBLIC;

CREATE FUNCTION task_row(id text, owner name, status text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('task_id', id, 'seq', 7, 'queue', 'q', 'graph', 'g', 'graph_gen', 3,
        'thread_id', 'at-1', 'checkpoint_id', '01a24949-0000-7000-8000-0000000000aa', 'node', 'call', 'step', 1,
        'status', status, 'attempt', 1, 'max_attempts', 3, 'backoff_ms', 1000, 'lease', '00:05:00',
        'claim_lease', NULL, 'token', '01a24949-0000-7000-8000-0000000000bb', 'worker', 'w1',
        'visible_at', '2026-12-01 10:00:00+00', 'lease_expires_at', NULL, 'input', '{"x": 0}'::jsonb,
        'config', '{}'::jsonb, 'resume', NULL, 'resume_values', NULL,
        'result', CASE WHEN status = 'completed' THEN '{"x": 1}'::jsonb END, 'error', NULL, 'interrupt', NULL,
        'lost', false, 'owner', owner, 'created_at', '2026-12-01 10:00:00+00', 'updated_at', '2026-12-01 10:00:02+00',
        'finished_at', CASE WHEN status IN ('completed', 'cancelled') THEN '2026-12-01 10:00:02+00' END)
$$;

-- finished tasks are stored as they are; tasks not finished are not
SELECT stategraph.adopt_tasks(jsonb_build_array(
    task_row('at-done', 'regress_adoptt_mover', 'completed'),
    task_row('at-other', 'regress_adoptt_other', 'completed'),
    task_row('at-cancelled', 'regress_adoptt_mover', 'cancelled'),
    task_row('at-queued', 'regress_adoptt_mover', 'queued'),
    task_row('at-claimed', 'regress_adoptt_mover', 'claimed'),
    task_row('at-failed', 'regress_adoptt_mover', 'failed'),
    task_row('at-interrupted', 'regress_adoptt_mover', 'interrupted'))) AS adopted;
SELECT task_id, owner, status, token, result, graph_gen, created_at, finished_at
FROM stategraph.tasks ORDER BY task_id;
-- again: passed over
SELECT stategraph.adopt_tasks(jsonb_build_array(task_row('at-done', 'regress_adoptt_mover', 'completed'))) AS adopted;
-- a worker's retry of its completion: taken as the same completion again; another update, a cancelled task: refused
SET ROLE regress_adoptt_mover;
SELECT sg_complete('at-done', '01a24949-0000-7000-8000-0000000000bb', '{"x": 1}') AS retried;
SELECT sg_complete('at-done', '01a24949-0000-7000-8000-0000000000bb', '{"x": 2}');
SELECT sg_heartbeat('at-done', '01a24949-0000-7000-8000-0000000000bb') AS alive;
SELECT sg_complete('at-cancelled', '01a24949-0000-7000-8000-0000000000bb', '{"x": 1}');
RESET ROLE;
-- not an array, an empty one, NULL: nothing
SELECT stategraph.adopt_tasks('{"task_id": "x"}') AS adopted, stategraph.adopt_tasks('[]') AS none,
       stategraph.adopt_tasks(NULL) AS null_data;
-- not for PUBLIC
SET ROLE regress_adoptt_other;
SELECT stategraph.adopt_tasks('[]');
RESET ROLE;
-- a role given it takes only the tasks of the roles it is a member of
GRANT EXECUTE ON FUNCTION stategraph.adopt_tasks(jsonb) TO regress_adoptt_mover;
SET ROLE regress_adoptt_mover;
SELECT stategraph.adopt_tasks(jsonb_build_array(
    task_row('at-mine', 'regress_adoptt_mover', 'completed'),
    task_row('at-theirs', 'regress_adoptt_other', 'completed'))) AS adopted;
RESET ROLE;
SELECT task_id, owner FROM stategraph.tasks WHERE task_id IN ('at-mine', 'at-theirs') ORDER BY task_id;

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA router_adopt_tasks CASCADE;
DROP ROLE regress_adoptt_mover;
DROP ROLE regress_adoptt_other;
