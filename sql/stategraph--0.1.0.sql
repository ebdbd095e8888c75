/* stategraph--0.1.0.sql: LangGraph state graphs and checkpointer inside PostgreSQL */

\echo Use "CREATE EXTENSION stategraph" to load this file. \quit

/*
 * Storage lives in its own schema, "stategraph"; the functions users call live
 * in the extension's schema (@extschema@, normally public) so that they work
 * with the default search_path.
 */
CREATE SCHEMA stategraph;
COMMENT ON SCHEMA stategraph IS 'stategraph storage: graph definitions, threads and checkpoints';

/* Graph definitions: what sg_create_graph / sg_add_* write, and the frozen spec of sg_compile. */
CREATE TABLE stategraph.graphs (
    graph       text PRIMARY KEY CHECK (graph OPERATOR(pg_catalog.<>) ''),
    channels    jsonb NOT NULL,            -- {"name": {"reducer": "append", "default": []}}
    spec        jsonb,                     -- compiled definition; NULL until sg_compile
    version     integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    compiled_at timestamptz
);

CREATE TABLE stategraph.nodes (
    graph  text NOT NULL REFERENCES stategraph.graphs ON DELETE CASCADE,
    node   text NOT NULL,
    fn     regprocedure NOT NULL,
    retry  jsonb,
    PRIMARY KEY (graph, node)
);

CREATE TABLE stategraph.edges (
    graph   text NOT NULL REFERENCES stategraph.graphs ON DELETE CASCADE,
    sources text[] NOT NULL,               -- one source, or the sources of a join
    target  text NOT NULL,
    PRIMARY KEY (graph, sources, target)
);

CREATE TABLE stategraph.branches (
    graph    text NOT NULL REFERENCES stategraph.graphs ON DELETE CASCADE,
    source   text NOT NULL,
    router   regprocedure NOT NULL,
    path_map jsonb,
    PRIMARY KEY (graph, source, router)
);

/* One row per thread: its graph, its newest checkpoint and its status. */
CREATE TABLE stategraph.threads (
    thread_id  text PRIMARY KEY,
    graph      text NOT NULL,
    channels   jsonb NOT NULL,             -- channel kinds its checkpoints were written with
    head       uuid,                       -- newest checkpoint
    forked_from text[],                    -- threads whose checkpoints forks in this one start from
    status     text NOT NULL DEFAULT 'idle'
               CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['idle', 'running', 'interrupted', 'error', 'done'])),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

/*
 * One row per checkpoint. Channel values are not copied into every row: a row
 * holds the writes that produced it from its parent, and now and then an image
 * of a channel's value (or of what was appended to it since the last image);
 * src/checkpoint.c explains the layout. Besides the primary key there is no
 * index to keep up at every insert.
 */
CREATE TABLE stategraph.checkpoints (
    thread_id      text NOT NULL,
    checkpoint_id  uuid NOT NULL,          -- time-ordered (UUID version 7)
    parent_id      uuid,
    parent_thread  text,                   -- set when the parent belongs to another thread (sg_fork)
    step           integer NOT NULL,
    source         text NOT NULL,
    next           text[] NOT NULL,
    writes         jsonb,                  -- [[task, update], ...] applied to the parent's state
    image          jsonb,                  -- full values of some channels at this checkpoint
    image_complete boolean NOT NULL DEFAULT false,  -- image holds every channel
    refs           jsonb,                  -- {"channel": "checkpoint id"}: where an old value is found
    barriers       jsonb,                  -- join edges waiting for more sources
    sends          jsonb,                  -- Send tasks of the next step
    pending        jsonb,                  -- writes, errors and interrupts of the next step's tasks
    meta           jsonb,                  -- extra metadata (static interrupts, as_node, ...)
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (thread_id, checkpoint_id)
);


SELECT pg_catalog.pg_extension_config_dump('stategraph.graphs', '');
SELECT pg_catalog.pg_extension_config_dump('stategraph.nodes', '');
SELECT pg_catalog.pg_extension_config_dump('stategraph.edges', '');
SELECT pg_catalog.pg_extension_config_dump('stategraph.branches', '');
SELECT pg_catalog.pg_extension_config_dump('stategraph.threads', '');
SELECT pg_catalog.pg_extension_config_dump('stategraph.checkpoints', '');

/* Compiled graphs are cached per backend; any change to a graph row drops the caches. */
CREATE FUNCTION stategraph.graphs_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'sg_graphs_changed' LANGUAGE C;
CREATE TRIGGER graphs_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON stategraph.graphs
    FOR EACH STATEMENT EXECUTE FUNCTION stategraph.graphs_changed();

/* What the state functions return (LangGraph's StateSnapshot). */
CREATE TYPE @extschema@.sg_snapshot AS (
    thread_id            text,
    checkpoint_ns        text,
    checkpoint_id        uuid,
    parent_checkpoint_id uuid,
    step                 integer,
    source               text,
    "values"             jsonb,
    next                 text[],
    tasks                jsonb,
    interrupts           jsonb,
    metadata             jsonb,
    created_at           timestamptz
);

/* What sg_threads returns. */
CREATE TYPE @extschema@.sg_thread AS (
    thread_id   text,
    graph       text,
    status      text,                      -- idle | running | interrupted | error | done
    next        text[],
    checkpoints bigint,
    created_at  timestamptz,
    updated_at  timestamptz
);

/* Defining a graph */
CREATE FUNCTION @extschema@.sg_create_graph(graph text, channels jsonb) RETURNS void
    AS 'MODULE_PATHNAME', 'sg_create_graph' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_add_node(graph text, node text, fn regprocedure, retry jsonb DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'sg_add_node' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_add_edge(graph text, source text, target text) RETURNS void
    AS 'MODULE_PATHNAME', 'sg_add_edge' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_add_edge(graph text, sources text[], target text) RETURNS void
    AS 'MODULE_PATHNAME', 'sg_add_join_edge' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_add_conditional_edges(graph text, source text, router regprocedure,
                                                     path_map jsonb DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'sg_add_conditional_edges' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_compile(graph text, interrupt_before text[] DEFAULT NULL,
                                       interrupt_after text[] DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'sg_compile' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_drop_graph(graph text) RETURNS void
    AS 'MODULE_PATHNAME', 'sg_drop_graph' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_draw(graph text, format text DEFAULT 'mermaid') RETURNS text
    AS 'MODULE_PATHNAME', 'sg_draw' LANGUAGE C STABLE;

/* Running */
CREATE FUNCTION @extschema@.sg_invoke(graph text, input jsonb, thread_id text DEFAULT NULL,
                                      checkpoint_id uuid DEFAULT NULL, resume jsonb DEFAULT NULL,
                                      recursion_limit integer DEFAULT 25, on_error text DEFAULT 'raise')
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'sg_invoke' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_stream(graph text, input jsonb, thread_id text DEFAULT NULL,
                                      checkpoint_id uuid DEFAULT NULL, resume jsonb DEFAULT NULL,
                                      recursion_limit integer DEFAULT 25, on_error text DEFAULT 'raise',
                                      mode text DEFAULT 'updates',
                                      OUT step integer, OUT node text, OUT payload jsonb)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'sg_stream' LANGUAGE C ROWS 10;
CREATE PROCEDURE @extschema@.sg_run(graph text, input jsonb, thread_id text,
                                    checkpoint_id uuid DEFAULT NULL, resume jsonb DEFAULT NULL,
                                    recursion_limit integer DEFAULT 25, on_error text DEFAULT 'raise')
    AS 'MODULE_PATHNAME', 'sg_run' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_interrupt(value jsonb) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'sg_interrupt' LANGUAGE C;

/* Threads, history, time travel, branching */
CREATE FUNCTION @extschema@.sg_get_state(thread_id text, checkpoint_id uuid DEFAULT NULL)
    RETURNS @extschema@.sg_snapshot
    AS 'MODULE_PATHNAME', 'sg_get_state' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_get_state_history(thread_id text, "limit" integer DEFAULT NULL,
                                                 before uuid DEFAULT NULL, filter jsonb DEFAULT NULL)
    RETURNS SETOF @extschema@.sg_snapshot
    AS 'MODULE_PATHNAME', 'sg_get_state_history' LANGUAGE C ROWS 20;
CREATE FUNCTION @extschema@.sg_update_state(thread_id text, "values" jsonb, as_node text DEFAULT NULL,
                                            checkpoint_id uuid DEFAULT NULL) RETURNS uuid
    AS 'MODULE_PATHNAME', 'sg_update_state' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_fork(thread_id text, checkpoint_id uuid, new_thread_id text) RETURNS uuid
    AS 'MODULE_PATHNAME', 'sg_fork' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_threads(graph text DEFAULT NULL) RETURNS SETOF @extschema@.sg_thread
    AS 'MODULE_PATHNAME', 'sg_threads' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_delete_thread(thread_id text) RETURNS void
    AS 'MODULE_PATHNAME', 'sg_delete_thread' LANGUAGE C;
CREATE FUNCTION @extschema@.sg_prune(older_than interval DEFAULT NULL, keep_last integer DEFAULT NULL,
                                     thread_id text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'sg_prune' LANGUAGE C;
