/* stategraph--0.1.0--0.2.0.sql: the durable agent runtime (0.2.0) */

\echo Use "ALTER EXTENSION stategraph UPDATE TO '0.2.0'" to load this file. \quit

/*
 * Like pg_cron, stategraph ships one full install script (0.1.0) and upgrade
 * scripts: CREATE EXTENSION stategraph runs stategraph--0.1.0.sql and then
 * this file, so a fresh install and an upgraded one are the same by
 * construction, and every test run exercises the upgrade path.
 *
 * Each part of this round has its own section below; keep them in this order.
 */

-- ===========================================================================
-- Ownership and security
-- ===========================================================================

/*
 * Threads, runs and tasks belong to the role that created them, stored by
 * name (a role OID would point at another role after a restore into another
 * cluster, and reg* columns block pg_upgrade). A row is visible and writable
 * to its owner and the owner's members; superusers and BYPASSRLS roles see
 * all. Every row-level security policy of the extension uses this one test.
 * A dropped owner's rows are visible to superusers only.
 */
CREATE FUNCTION stategraph.owned(owner name) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN owner OPERATOR(pg_catalog.=) CURRENT_USER
        OR pg_catalog.pg_has_role(CURRENT_USER,
                                  (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) owner),
                                  'MEMBER') IS TRUE;


-- ===========================================================================
-- Background runs and retention
-- ===========================================================================

/*
 * The run queue. A run is a request to run a graph on a thread, executed by
 * the background workers (src/worker.c) or by CALL sg_work() through the one
 * code path of src/runs.c. seq orders the runs of a thread (FIFO); run_id is
 * a UUID v7 from the checkpoint id generator. The columns after error are the
 * executor's bookkeeping: how far the run got (stepped), what the thread was
 * before it (for multitask rollback) and a stop request.
 */
CREATE TABLE stategraph.runs (
    run_id          uuid PRIMARY KEY,
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    thread_id       text NOT NULL,
    graph           text NOT NULL,
    input           jsonb,
    checkpoint_id   uuid,
    resume          jsonb,
    recursion_limit integer NOT NULL,
    multitask       text NOT NULL
                    CHECK (multitask OPERATOR(pg_catalog.=) ANY (ARRAY['reject', 'enqueue', 'interrupt', 'rollback'])),
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running', 'waiting', 'interrupted',
                                                                    'success', 'error', 'cancelled'])),
    attempt         integer NOT NULL DEFAULT 0,
    error           jsonb,
    idempotency_key text,
    owner           name NOT NULL DEFAULT CURRENT_USER,
    not_before      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    stepped         boolean NOT NULL DEFAULT false,   -- a step of this run has committed
    stop_request    text CHECK (stop_request OPERATOR(pg_catalog.=) ANY (ARRAY['interrupt', 'rollback'])),
    start_head      uuid,                             -- the thread's head before the run
    start_status    text,                             -- and its status; NULL: no thread yet
    CHECK (thread_id OPERATOR(pg_catalog.<>) '')
);
CREATE INDEX runs_active ON stategraph.runs (thread_id, seq)
    WHERE status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running', 'waiting']);
CREATE INDEX runs_todo ON stategraph.runs (seq)
    WHERE status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running']);
CREATE INDEX runs_finished ON stategraph.runs (finished_at) WHERE finished_at IS NOT NULL;
CREATE UNIQUE INDEX runs_idempotency ON stategraph.runs (owner, graph, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
ALTER TABLE stategraph.runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY runs_owner ON stategraph.runs
    USING (stategraph.owned(owner)) WITH CHECK (stategraph.owned(owner));
SELECT pg_catalog.pg_extension_config_dump('stategraph.runs', '');

/* Retention per graph; the row with graph NULL is the default of every graph. */
CREATE TABLE stategraph.retention (
    graph     text UNIQUE NULLS NOT DISTINCT,
    ttl       interval,
    strategy  text NOT NULL DEFAULT 'delete'
              CHECK (strategy OPERATOR(pg_catalog.=) ANY (ARRAY['delete', 'keep_latest'])),
    keep_last integer CHECK (keep_last OPERATOR(pg_catalog.>=) 1)
);
SELECT pg_catalog.pg_extension_config_dump('stategraph.retention', '');

/* What sg_runs and sg_wait return. */
CREATE TYPE @extschema@.sg_run AS (
    run_id      uuid,
    thread_id   text,
    graph       text,
    status      text,       -- pending | running | waiting | interrupted | success | error | cancelled
    multitask   text,
    attempt     integer,
    error       jsonb,
    created_at  timestamptz,
    started_at  timestamptz,
    finished_at timestamptz
);

CREATE FUNCTION @extschema@.sg_submit(graph text, input jsonb, thread_id text DEFAULT NULL,
                                      checkpoint_id uuid DEFAULT NULL, resume jsonb DEFAULT NULL,
                                      recursion_limit integer DEFAULT 25, multitask text DEFAULT 'reject',
                                      after interval DEFAULT NULL, idempotency_key text DEFAULT NULL)
    RETURNS uuid
    AS 'MODULE_PATHNAME', 'sg_submit' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_runs(thread_id text DEFAULT NULL, status text DEFAULT NULL)
    RETURNS SETOF @extschema@.sg_run
    LANGUAGE sql STABLE
    BEGIN ATOMIC
        SELECT r.run_id, r.thread_id, r.graph, r.status, r.multitask, r.attempt, r.error,
               r.created_at, r.started_at, r.finished_at
          FROM stategraph.runs r
         WHERE (sg_runs.thread_id IS NULL OR r.thread_id OPERATOR(pg_catalog.=) sg_runs.thread_id)
           AND (sg_runs.status IS NULL OR r.status OPERATOR(pg_catalog.=) sg_runs.status)
         ORDER BY r.seq;
    END;
CREATE FUNCTION @extschema@.sg_wait(run_id uuid, timeout interval DEFAULT NULL)
    RETURNS @extschema@.sg_run
    AS 'MODULE_PATHNAME', 'sg_wait' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_cancel(run_id uuid, action text DEFAULT 'interrupt') RETURNS boolean
    AS 'MODULE_PATHNAME', 'sg_cancel' LANGUAGE C;
CREATE PROCEDURE @extschema@.sg_work(max_runs integer DEFAULT NULL, max_time interval DEFAULT NULL)
    AS 'MODULE_PATHNAME', 'sg_work' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_set_retention(graph text, ttl interval, strategy text DEFAULT 'delete',
                                             keep_last integer DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'sg_set_retention' LANGUAGE C;

COMMENT ON FUNCTION @extschema@.sg_submit(text, jsonb, text, uuid, jsonb, integer, text, interval, text) IS
    'queue a background run of a graph on a thread; returns its run_id (multitask: reject | enqueue | interrupt | rollback)';
COMMENT ON FUNCTION @extschema@.sg_runs(text, text) IS
    'background runs visible to the caller, oldest first, optionally of one thread or status';
COMMENT ON FUNCTION @extschema@.sg_wait(uuid, interval) IS
    'sleep until a run is no longer pending, running or waiting (or the timeout passes); returns its row';
COMMENT ON FUNCTION @extschema@.sg_cancel(uuid, text) IS
    'stop a run at its next step boundary (interrupt: keep its checkpoints; rollback: remove them); false if it already finished';
COMMENT ON PROCEDURE @extschema@.sg_work(integer, interval) IS
    'do the background workers'' job in this session: execute due runs (a commit per step) and sweep retention';
COMMENT ON FUNCTION @extschema@.sg_set_retention(text, interval, text, integer) IS
    'expire threads of a graph (graph NULL: of every graph) not updated for ttl: delete them or keep their newest checkpoints';

/*
 * CREATE EXTENSION tells the background launcher at commit that this
 * database now has work to look after (nothing happens without the preload).
 */
CREATE FUNCTION stategraph.wake_launcher() RETURNS void
    AS 'MODULE_PATHNAME', 'sg_wake_launcher' LANGUAGE C;
SELECT stategraph.wake_launcher();




-- ===========================================================================
-- External nodes
-- ===========================================================================



-- ===========================================================================
-- LangGraph.js checkpoint storage
-- ===========================================================================



-- ===========================================================================
-- Portable threads
-- ===========================================================================



-- ===========================================================================
-- Drawing
-- ===========================================================================



-- ===========================================================================
-- Comments and privileges of every function
-- ===========================================================================

