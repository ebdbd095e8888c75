--
-- A write entry point in a read-only transaction (SET TRANSACTION READ
-- ONLY, default_transaction_read_only) failed with 25006 naming one of
-- stategraph's internal statements ("cannot execute SELECT FOR UPDATE in
-- a read-only transaction", "cannot execute INSERT in a read-only
-- transaction"), its SQL in the error's context. Each one now refuses the
-- call first, naming itself, as PostgreSQL's own commands do
-- (PreventCommandIfReadOnly); the reads still work there. (On a hot
-- standby, "during recovery": TAP 346_standby_write_errors.)
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA read_only_writes;
SET search_path = read_only_writes;
CREATE EXTENSION stategraph;
RESET client_min_messages;

CREATE FUNCTION inc(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('g', '{"n": "add"}');
SELECT sg_add_node('g', 'a', 'inc(jsonb)');
SELECT sg_add_edge('g', '__start__', 'a');
SELECT sg_add_edge('g', 'a', '__end__');
SELECT sg_compile('g');
SELECT sg_invoke('g', '{"n": 1}', 't1') AS state;
SELECT sg_lg_put('lg1', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "x", "channel_values": {},
      "channel_versions": {}, "versions_seen": {}}', '{}', '{}') IS NOT NULL AS put;
CREATE TABLE ids AS SELECT (SELECT checkpoint_id FROM sg_get_state('t1')) AS checkpoint_id,
    sg_export_thread('t1') AS export;
-- a statement's SQLSTATE, message and context ('ok' if it succeeds)
CREATE FUNCTION outcome(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; ctx text;
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, ctx = PG_EXCEPTION_CONTEXT;
    RETURN st || ': ' || msg || E'\nCONTEXT: ' || ctx;
END $$;
CREATE TABLE writes (q text);
INSERT INTO writes VALUES
    ($$SELECT sg_submit('g', '{"n": 1}', 't3')$$),
    ($$SELECT sg_submit('g', '{"n": 1}')$$),
    ($$SELECT sg_invoke('g', '{"n": 1}', 't1')$$),
    ($$SELECT * FROM sg_stream('g', '{"n": 1}', 't1')$$),
    ($$SELECT sg_cancel('00000000-0000-4000-8000-000000000001')$$),
    ($$SELECT * FROM sg_claim('q', 'w1')$$),
    ($$SELECT sg_heartbeat('t', '00000000-0000-4000-8000-000000000001')$$),
    ($$SELECT sg_complete('t', '00000000-0000-4000-8000-000000000001', '{}')$$),
    ($$SELECT sg_fail('t', '00000000-0000-4000-8000-000000000001', '{}')$$),
    ($$SELECT sg_interrupt_task('t', '00000000-0000-4000-8000-000000000001', '1')$$),
    ($$SELECT sg_update_state('t1', '{"n": 5}')$$),
    ($$SELECT sg_fork('t1', checkpoint_id, 't1-copy') FROM ids$$),
    ($$SELECT sg_delete_thread('t1')$$),
    ($$SELECT sg_prune(keep_last => 1)$$),
    ($$SELECT sg_import_thread(export, 't1-imported') FROM ids$$),
    ($$SELECT sg_set_retention('g', '1 day')$$),
    ($$SELECT sg_create_graph('h', '{"n": "add"}')$$),
    ($$SELECT sg_add_node('g', 'b', 'inc(jsonb)')$$),
    ($$SELECT sg_add_external_node('g', 'b', 'q')$$),
    ($$SELECT sg_add_edge('g', 'a', '__end__')$$),
    ($$SELECT sg_add_edge('g', ARRAY['a'], '__end__')$$),
    ($$SELECT sg_add_conditional_edges('g', 'a', 'inc(jsonb)')$$),
    ($$SELECT sg_compile('g')$$),
    ($$SELECT sg_drop_graph('g')$$),
    ($$SELECT sg_lg_put('lg1', '', '1ef00000-0000-6000-8000-000000000001',
        '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000002", "ts": "x", "channel_values": {},
          "channel_versions": {}, "versions_seen": {}}', '{}', '{}')$$),
    ($$SELECT sg_lg_put_writes('lg1', '', '1ef00000-0000-6000-8000-000000000001', 'task', '[["m", 1]]')$$),
    ($$SELECT sg_lg_delete_thread('lg1')$$),
    ($$SELECT sg_lg_prune(ARRAY['lg1'])$$),
    ($$SELECT sg_lg_copy_thread('lg1', 'lg2')$$),
    ($$SELECT sg_lg_delete_for_runs(ARRAY['r1'])$$),
    ($$SELECT stategraph.sweep_leases()$$);

-- SET TRANSACTION READ ONLY: each write refused by name, before any
-- statement of its own (no SQL of stategraph's in the context)
BEGIN TRANSACTION READ ONLY;
SELECT outcome(q) FROM writes;
ROLLBACK;

-- the reads work in a read-only transaction
BEGIN TRANSACTION READ ONLY;
SELECT "values" FROM sg_get_state('t1');
SELECT count(*) FROM sg_get_state_history('t1');
SELECT thread_id, status FROM sg_threads() ORDER BY thread_id;
SELECT count(*) FROM sg_runs();
SELECT count(*) FROM sg_tasks();
SELECT sg_lg_get_tuple('lg1') -> 'checkpoint' ->> 'id' AS lg_tuple;
SELECT count(*) FROM sg_lg_list('lg1');
SELECT sg_export_thread('t1') ->> 'format' AS format;
SELECT sg_invoke('g', '{"n": 1}') AS without_thread;
SELECT node FROM sg_stream('g', '{"n": 1}');
SELECT sg_draw('g', 'dot') LIKE 'digraph%' AS drawn;
ROLLBACK;

-- default_transaction_read_only: the same
SET default_transaction_read_only = on;
SELECT outcome(q) FROM writes WHERE q LIKE '%sg_submit%' OR q LIKE '%sg_compile%';
-- the procedures, outside a transaction block (inside one they refuse to commit steps: 2D000)
CALL sg_work(max_runs => 1);
\echo :LAST_ERROR_SQLSTATE
CALL sg_run('g', '{"n": 1}', 't1');
\echo :LAST_ERROR_SQLSTATE
SELECT "values" FROM sg_get_state('t1');
RESET default_transaction_read_only;

-- nothing was changed
SELECT "values" FROM sg_get_state('t1');
SELECT count(*) FROM sg_runs();
SELECT count(*) FROM sg_threads();

SET client_min_messages = warning;
DROP SCHEMA read_only_writes CASCADE;
