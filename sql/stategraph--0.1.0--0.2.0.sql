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

COMMENT ON TABLE stategraph.runs IS
    'background runs: the queue of sg_submit, executed by the background workers or CALL sg_work()';
COMMENT ON TABLE stategraph.retention IS
    'thread retention per graph (graph NULL: the default), set by sg_set_retention and swept by the workers';
COMMENT ON TYPE @extschema@.sg_run IS
    'a background run as sg_runs and sg_wait return it';
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
COMMENT ON FUNCTION stategraph.wake_launcher() IS
    'internal: ask the background launcher, at commit, for a worker in this database (CREATE EXTENSION calls it)';
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

/*
 * A thread's checkpoints as a tree (src/draw_history.c): one box per
 * checkpoint, an edge from each parent to its children, forks and updates
 * branching, the head marked. "limit" keeps the newest checkpoints, as
 * sg_get_state_history's does.
 */
CREATE FUNCTION @extschema@.sg_draw_history(thread_id text, format text DEFAULT 'mermaid',
                                            "limit" integer DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'sg_draw_history' LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.sg_draw_history(text, text, integer) IS
    'a thread''s checkpoints as a Mermaid flowchart or Graphviz dot digraph: step, source, nodes that ran, next, errors, interrupts and waiting tasks; edges parent -> child, forks and updates branching, the head marked; "limit" draws the newest checkpoints only';


-- ===========================================================================
-- Comments and privileges of every function
-- ===========================================================================


/*
 * Every function, procedure and type of the extension says what it is for
 * (psql's \df+ and \dT+ show it), as pgvector and pg_cron do. Descriptions
 * follow PostgreSQL's own: lower case, no period. test/pgtap/04_comments.sql
 * fails for any function of the extension left without one, so a function
 * added later needs its COMMENT here too (or next to its CREATE).
 */

-- types
COMMENT ON TYPE @extschema@.sg_snapshot IS
    'a checkpoint as the state functions return it (LangGraph''s StateSnapshot)';
COMMENT ON TYPE @extschema@.sg_thread IS
    'a thread as sg_threads returns it: its graph, status, next nodes and number of checkpoints';

-- storage
COMMENT ON TABLE stategraph.graphs IS
    'graph definitions: channels, and the frozen spec written by sg_compile';
COMMENT ON TABLE stategraph.nodes IS 'nodes of the graph definitions';
COMMENT ON TABLE stategraph.edges IS 'edges and join edges of the graph definitions';
COMMENT ON TABLE stategraph.branches IS 'conditional edges (routers) of the graph definitions';
COMMENT ON TABLE stategraph.threads IS 'one row per thread: its graph, newest checkpoint and status';
COMMENT ON TABLE stategraph.checkpoints IS
    'one row per checkpoint: the writes that produced it from its parent, and images of some channel values';
COMMENT ON FUNCTION stategraph.graphs_changed() IS
    'trigger: drops every backend''s cache of compiled graphs when a graph definition changes';

-- defining a graph
COMMENT ON FUNCTION @extschema@.sg_create_graph(text, jsonb) IS
    'create a graph definition with its channels and their reducers (StateGraph)';
COMMENT ON FUNCTION @extschema@.sg_add_node(text, text, regprocedure, jsonb) IS
    'add a node: a function (state jsonb[, config jsonb]) -> jsonb returning a partial update, with an optional retry policy';
COMMENT ON FUNCTION @extschema@.sg_add_edge(text, text, text) IS
    'add an edge: target runs in the step after source (__start__ and __end__ are START and END)';
COMMENT ON FUNCTION @extschema@.sg_add_edge(text, text[], text) IS
    'add a join edge: target runs once after every one of the sources has run';
COMMENT ON FUNCTION @extschema@.sg_add_conditional_edges(text, text, regprocedure, jsonb) IS
    'add a router after source: it returns the next node(s) or Send objects, optionally mapped through path_map';
COMMENT ON FUNCTION @extschema@.sg_compile(text, text[], text[]) IS
    'validate a graph definition and freeze it for runs, with optional static interrupts';
COMMENT ON FUNCTION @extschema@.sg_drop_graph(text) IS
    'remove a graph definition (its threads stay readable)';
COMMENT ON FUNCTION @extschema@.sg_draw(text, text) IS
    'draw a compiled graph as a Mermaid flowchart or a Graphviz digraph (format mermaid or dot)';

-- running
COMMENT ON FUNCTION @extschema@.sg_invoke(text, jsonb, text, uuid, jsonb, integer, text) IS
    'run a graph in the caller''s transaction and return the final state values (invoke); input NULL resumes the thread';
COMMENT ON FUNCTION @extschema@.sg_stream(text, jsonb, text, uuid, jsonb, integer, text, text) IS
    'run a graph like sg_invoke, returning one row per node write (mode updates) or per super-step (mode values)';
COMMENT ON PROCEDURE @extschema@.sg_run(text, jsonb, text, uuid, jsonb, integer, text) IS
    'durable run: like sg_invoke, committing after every super-step (call outside a transaction block)';
COMMENT ON FUNCTION @extschema@.sg_interrupt(jsonb) IS
    'inside a node: pause the thread with value as the interrupt payload; on resume, return the resume value';

-- threads, history, time travel, branching
COMMENT ON FUNCTION @extschema@.sg_get_state(text, uuid) IS
    'the state of a thread at its newest checkpoint, or at checkpoint_id';
COMMENT ON FUNCTION @extschema@.sg_get_state_history(text, integer, uuid, jsonb) IS
    'the checkpoints of a thread, newest first, by pages (limit, before) and metadata filter';
COMMENT ON FUNCTION @extschema@.sg_update_state(text, jsonb, text, uuid) IS
    'write values through the reducers as if as_node had returned them, and return the new checkpoint id';
COMMENT ON FUNCTION @extschema@.sg_fork(text, uuid, text) IS
    'start a new thread whose history begins at a checkpoint of another thread, and return its checkpoint id';
COMMENT ON FUNCTION @extschema@.sg_threads(text) IS
    'every thread (of one graph, or all) with its status, next nodes and number of checkpoints';
COMMENT ON FUNCTION @extschema@.sg_delete_thread(text) IS
    'remove a thread and its checkpoints (forks in other threads keep what they need)';
COMMENT ON FUNCTION @extschema@.sg_prune(interval, integer, text) IS
    'remove checkpoints older than older_than or beyond the newest keep_last of each thread (never its newest), and return how many';

-- ownership
COMMENT ON FUNCTION stategraph.owned(name) IS
    'whether the current role is owner, or a member of the owner, of a row (the test of every row-level security policy)';
