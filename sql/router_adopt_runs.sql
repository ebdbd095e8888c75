--
-- stategraph.adopt_runs(data): the finished runs of a server leaving a
-- router's cluster, stored here as they are (stategraph_router's
-- move_partition of that server's last partition; TAP 272): ids, owners
-- and idempotency keys kept, so that sg_submit with such a key returns
-- the run. A run not finished is not taken (it would run again here), a
-- row this server has is passed over, and a caller that is not a superuser
-- takes only the runs of roles it is a member of. Not for PUBLIC.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_adopt_mover;
DROP ROLE IF EXISTS regress_adopt_other;
CREATE SCHEMA router_adopt_runs;
SET search_path = router_adopt_runs;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
CREATE ROLE regress_adopt_mover;
CREATE ROLE regress_adopt_other;
GRANT USAGE ON SCHEMA router_adopt_runs TO PUBLIC;
GRANT CREATE ON SCHEMA router_adopt_runs TO regress_adopt_mover;
SET ROLE regress_adopt_mover;
CREATE FUNCTION step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
SELECT sg_create_graph('g', '{"x": "replace"}');
SELECT sg_add_node('g', 'step', 'step(jsonb)');
SELECT sg_add_edge('g', '__start__', 'step');
SELECT sg_add_edge('g', 'step', '__end__');
SELECT sg_compile('g');
RESET ROLE;

CREATE FUNCTION run_row(id uuid, owner name, status text, key text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('run_id', id, 'seq', 7, 'thread_id', 'ad-1', 'graph', 'g', 'graph_gen', 3,
        'input', '{"x": 1}'::jsonb, 'checkpoint_id', NULL, 'resume', NULL, 'recursion_limit', 25,
        'multitask', 'reject', 'status', status, 'attempt', 1, 'error', NULL, 'idempotency_key', key,
        'owner', owner, 'not_before', '2026-12-01 10:00:00+00', 'created_at', '2026-12-01 10:00:00+00',
        'started_at', '2026-12-01 10:00:01+00',
        'finished_at', CASE WHEN status IN ('pending', 'running', 'waiting') THEN NULL ELSE '2026-12-01 10:00:02+00' END,
        'stepped', true, 'stop_request', NULL, 'start_head', NULL, 'start_status', NULL,
        'failures', 0, 'recoveries', 0)
$$;

-- finished runs are stored as they are; runs not finished are not
SELECT stategraph.adopt_runs(jsonb_build_array(
    run_row('01a24949-0000-7000-8000-000000000001', 'regress_adopt_mover', 'success', 'bill-1'),
    run_row('01a24949-0000-7000-8000-000000000002', 'regress_adopt_other', 'error', 'bill-1'),
    run_row('01a24949-0000-7000-8000-000000000003', 'regress_adopt_mover', 'cancelled', NULL),
    run_row('01a24949-0000-7000-8000-000000000004', 'regress_adopt_mover', 'pending', 'bill-4'),
    run_row('01a24949-0000-7000-8000-000000000005', 'regress_adopt_mover', 'running', NULL),
    run_row('01a24949-0000-7000-8000-000000000006', 'regress_adopt_mover', 'waiting', NULL))) AS adopted;
SELECT run_id, owner, status, idempotency_key, created_at, finished_at, graph_gen, input
FROM stategraph.runs ORDER BY run_id;
-- again, and a row with the key of a run here under another id: passed over
SELECT stategraph.adopt_runs(jsonb_build_array(
    run_row('01a24949-0000-7000-8000-000000000001', 'regress_adopt_mover', 'success', 'bill-1'),
    run_row('01a24949-0000-7000-8000-000000000007', 'regress_adopt_mover', 'success', 'bill-1'))) AS adopted;
SELECT count(*) AS runs FROM stategraph.runs;
-- a submit with an adopted key returns its run, and queues nothing
SET ROLE regress_adopt_mover;
SELECT sg_submit('g', '{"x": 1}', 'ad-1', idempotency_key => 'bill-1') AS same_run;
RESET ROLE;
SELECT count(*) AS runs FROM stategraph.runs;
-- not an array, an empty one: nothing; NULL: refused
SELECT stategraph.adopt_runs('{"run_id": 1}') AS adopted, stategraph.adopt_runs('[]') AS none;
SELECT stategraph.adopt_runs(NULL);
-- not for PUBLIC
SET ROLE regress_adopt_other;
SELECT stategraph.adopt_runs('[]');
RESET ROLE;
-- a role given it takes only the runs of the roles it is a member of
GRANT EXECUTE ON FUNCTION stategraph.adopt_runs(jsonb) TO regress_adopt_mover;
SET ROLE regress_adopt_mover;
SELECT stategraph.adopt_runs(jsonb_build_array(
    run_row('01a24949-0000-7000-8000-000000000008', 'regress_adopt_mover', 'success', 'bill-8'),
    run_row('01a24949-0000-7000-8000-000000000009', 'regress_adopt_other', 'success', 'bill-9'))) AS adopted;
RESET ROLE;
SELECT run_id, owner, idempotency_key FROM stategraph.runs WHERE run_id > '01a24949-0000-7000-8000-000000000007' ORDER BY run_id;

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA router_adopt_runs CASCADE;
DROP ROLE regress_adopt_mover;
DROP ROLE regress_adopt_other;
