/* stategraph_router--0.2.0.sql: the stategraph functions, routed to shards with PL/Proxy */

\echo Use "CREATE EXTENSION stategraph_router" to load this file. \quit

/*
 * A router database has no stategraph storage: it holds the sg_* functions
 * of API.md under the same names, and each one runs on the shard(s) that
 * hold its threads. The shards are the partitions of the PL/Proxy cluster
 * "stategraph", configured the standard way on the router:
 *
 *   CREATE SERVER stategraph FOREIGN DATA WRAPPER plproxy
 *       OPTIONS (partition_0 'dbname=sg0 host=...', partition_1 'dbname=sg1 host=...');
 *   CREATE USER MAPPING FOR PUBLIC SERVER stategraph;
 *
 * The number of partitions is a power of 2 (PL/Proxy's rule); several
 * partitions may name the same server, which is how threads are moved
 * server by server later (stategraph_router.move_partition).
 *
 *   - thread-scoped calls run on the partition hashtext(thread_id) picks
 *     (a call without a thread_id, such as sg_invoke without persistence,
 *     on any partition);
 *   - definitions (sg_create_graph, sg_add_*, sg_compile, sg_drop_graph)
 *     run on every server, and stategraph_router.check_definitions() lists
 *     every graph whose definition is not the same on all of them;
 *   - sg_threads runs on every server and keeps, from each, the threads of
 *     the partitions it serves (a thread left behind by an unfinished move
 *     is never listed twice); sg_prune without a thread runs on every server
 *     and adds up;
 *   - sg_fork and sg_update_state from a checkpoint of a thread on another
 *     server export that thread there and import it, for the call only,
 *     where the new thread lives;
 *   - background runs (RUNTIME.md): sg_submit runs on the thread's
 *     partition (without a thread_id the router names the new thread, so
 *     that it lives where its name hashes to); sg_runs on every server,
 *     merged; sg_wait and sg_cancel, which name a run, on every server at
 *     once, where only the server holding the run answers; sg_set_retention
 *     on every server, as a definition;
 *   - external tasks: sg_add_external_node on every server, sg_tasks merged,
 *     sg_claim from the servers in turn, and the calls naming a task on
 *     the server of the task's thread.
 *
 * What cannot be routed as is: procedures (PL/Proxy calls functions, which
 * cannot commit on the server). CALL sg_run on the router submits the run
 * to the thread's server and waits for it (that server's workers commit
 * every step); CALL sg_work refuses (0A000), since each server does its own
 * work (stategraph_router.shard_of tells which server holds a thread, for
 * a CALL there). sg_interrupt only means something inside a node, on the
 * shard that runs it: on the router it is the error of a call outside a
 * node. Every function and procedure of API.md and RUNTIME.md exists here
 * with its signature (test/pgtap/00_contract.sql).
 *
 * Node and router functions live on the shards; the router cannot resolve
 * them, so sg_add_node and sg_add_conditional_edges also take their names as
 * text here ('step_one(jsonb)'), the form every call written with a string
 * literal resolves to; the regprocedure forms of API.md send the name.
 */

CREATE SCHEMA stategraph_router;
COMMENT ON SCHEMA stategraph_router IS 'stategraph router: partitions, routing helpers, definition checks, partition moves';
/*
 * Every role calls the sg_* functions, which call the routing helpers of
 * this schema as that role (all SECURITY INVOKER; only the lock of moves,
 * not for PUBLIC, is SECURITY DEFINER): the schema is usable by
 * PUBLIC, as schema stategraph is on a server. The helpers that connect to
 * a connection string given as an argument (PL/Proxy CONNECT, used by
 * move_partition only) are revoked from PUBLIC at the end of this script:
 * their string may name any role (user=postgres), which the shards would
 * take for the router's own connection.
 */
GRANT USAGE ON SCHEMA stategraph_router TO PUBLIC;

/* What the state functions return, as on the shards. */
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

CREATE TYPE @extschema@.sg_thread AS (
    thread_id   text,
    graph       text,
    status      text,
    next        text[],
    checkpoints bigint,
    created_at  timestamptz,
    updated_at  timestamptz
);

-- ===========================================================================
-- Partitions
-- ===========================================================================

/*
 * The partitions of cluster "stategraph" and their connection strings, in
 * order. The options are read as PL/Proxy reads them (cluster.c): a
 * partition is named partition_N or pN, and modular_mapping is on for any
 * value but 0 (an integer, its validator's rule), its name in any case.
 * Reading only partition_N and the values '1' and 'on' made the router
 * list nothing of a cluster of p0, p1, ... (sg_threads, sg_runs and
 * check_definitions returned no rows, sg_prune of every thread pruned
 * nothing, all silently, while calls of one thread worked), and take a
 * modular_mapping of '2' for a bit mask, so that listings kept a third of
 * the threads and a move copied and deleted other threads than those
 * PL/Proxy routes to the partition (TAP 171).
 */
CREATE FUNCTION stategraph_router.partition_options(OUT partition integer, OUT connstr text, OUT option text)
    RETURNS SETOF record LANGUAGE sql STABLE AS $$
    SELECT pg_catalog.substring(o.opt, '^(?:p|partition_)([0-9]+)=')::integer,
           pg_catalog.substr(o.opt, pg_catalog.strpos(o.opt, '=') OPERATOR(pg_catalog.+) 1),
           pg_catalog.split_part(o.opt, '=', 1)
    FROM pg_catalog.pg_foreign_server s, pg_catalog.unnest(s.srvoptions) AS o(opt)
    WHERE s.srvname OPERATOR(pg_catalog.=) 'stategraph' AND o.opt OPERATOR(pg_catalog.~) '^(p|partition_)[0-9]+='
    ORDER BY 1
$$;

CREATE FUNCTION stategraph_router.partitions(OUT partition integer, OUT connstr text)
    RETURNS SETOF record LANGUAGE sql STABLE AS $$
    SELECT p.partition, p.connstr FROM stategraph_router.partition_options() p ORDER BY 1
$$;

/* The option of server stategraph that names a partition's connection string (partition_N or pN), for ALTER SERVER. */
CREATE FUNCTION stategraph_router.partition_option(part integer) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT p.option FROM stategraph_router.partition_options() p WHERE p.partition OPERATOR(pg_catalog.=) part
$$;

/* Does cluster "stategraph" map hashes with modulus (modular_mapping not 0) rather than a bit mask? */
CREATE FUNCTION stategraph_router.modular() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT COALESCE(pg_catalog.bool_or(pg_catalog.ltrim(pg_catalog.substr(o.opt, pg_catalog.strpos(o.opt, '=') OPERATOR(pg_catalog.+) 1), '0')
                                       OPERATOR(pg_catalog.<>) ''), false)
    FROM pg_catalog.pg_foreign_server s, pg_catalog.unnest(s.srvoptions) AS o(opt)
    WHERE s.srvname OPERATOR(pg_catalog.=) 'stategraph'
      AND pg_catalog.lower(pg_catalog.split_part(o.opt, '=', 1)) OPERATOR(pg_catalog.=) 'modular_mapping'
$$;

/* The partition a hash goes to, as PL/Proxy maps it. */
CREATE FUNCTION stategraph_router.partition_of_hash(h integer, n integer, modular boolean) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN modular THEN pg_catalog.abs(h OPERATOR(pg_catalog.%) n) ELSE h OPERATOR(pg_catalog.&) (n OPERATOR(pg_catalog.-) 1) END;

/* The partition that holds a thread. */
CREATE FUNCTION stategraph_router.partition_of(thread_id text) RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT stategraph_router.partition_of_hash(pg_catalog.hashtext(thread_id),
                                               (SELECT pg_catalog.count(*)::integer FROM stategraph_router.partitions()),
                                               stategraph_router.modular())
$$;

/* The connection string of the server that holds a thread (to CALL sg_run there). */
CREATE FUNCTION stategraph_router.shard_of(thread_id text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT p.connstr FROM stategraph_router.partitions() p
    WHERE p.partition OPERATOR(pg_catalog.=) stategraph_router.partition_of(thread_id)
$$;

/*
 * The hash PL/Proxy routes a thread-scoped call by: the thread id's, or a
 * random one when there is no thread (a run without persistence, or a
 * missing argument that the shard then reports).
 */
CREATE FUNCTION stategraph_router.thread_hash(thread_id text) RETURNS integer LANGUAGE sql VOLATILE
    RETURN COALESCE(pg_catalog.hashtext(thread_id), (pg_catalog.random() OPERATOR(pg_catalog.*) 2147483647)::integer);

/*
 * The hash of the thread an import creates: thread_id, or the one in the
 * export, read as the server reads it, by the export's format: a
 * LangGraph.js thread's at the top, a stategraph thread's under "thread".
 * Read from "thread" first whatever the format, a LangGraph.js export that
 * also had a "thread" member (its digest does not cover one) went to the
 * server of that other id, where the router never finds it (TAP 274).
 */
CREATE FUNCTION stategraph_router.import_hash(data jsonb, thread_id text) RETURNS integer LANGUAGE sql VOLATILE
    RETURN stategraph_router.thread_hash(COALESCE(thread_id,
        CASE WHEN (data OPERATOR(pg_catalog.->>) 'format') OPERATOR(pg_catalog.=) 'stategraph.lg_thread'
             THEN data OPERATOR(pg_catalog.->>) 'thread_id'
             ELSE data OPERATOR(pg_catalog.->) 'thread' OPERATOR(pg_catalog.->>) 'thread_id' END));

/* A connection string that reaches the same server with writes refused: a partition being moved. */
CREATE FUNCTION stategraph_router.frozen(connstr text) RETURNS text LANGUAGE sql IMMUTABLE
    RETURN connstr OPERATOR(pg_catalog.||) ' options=''-c default_transaction_read_only=on''';

/*
 * The inverse of frozen(): the connection string without frozen()'s suffix
 * (matched exactly, at the end only); unchanged when it has none.
 */
CREATE FUNCTION stategraph_router.unfrozen(connstr text) RETURNS text LANGUAGE sql IMMUTABLE
    RETURN CASE WHEN pg_catalog.right(connstr, pg_catalog.length(stategraph_router.frozen('')))
                     OPERATOR(pg_catalog.=) stategraph_router.frozen('')
                THEN pg_catalog.left(connstr, pg_catalog.length(connstr) OPERATOR(pg_catalog.-)
                                              pg_catalog.length(stategraph_router.frozen('')))
                ELSE connstr END;

/*
 * One partition of each server: where a call for "every server" goes once.
 * A partition being moved (stategraph_router.move_partition) reaches its
 * old server through a connection string of its own that refuses writes:
 * it is the same server, and another of its partitions is taken if there
 * is one (else the call reads only, or fails with 25006).
 */
CREATE FUNCTION stategraph_router.server_partitions() RETURNS integer[] LANGUAGE sql STABLE AS $$
    SELECT pg_catalog.array_agg(m ORDER BY m) FROM
        (SELECT (pg_catalog.array_agg(p.partition ORDER BY stategraph_router.unfrozen(p.connstr) OPERATOR(pg_catalog.<>) p.connstr,
                                      p.partition))[1] AS m
         FROM stategraph_router.partitions() p
         GROUP BY stategraph_router.unfrozen(p.connstr)) s
$$;

/*
 * The partition of the server asked for its own error about a run that no
 * server holds (sg_wait, sg_cancel): one not being moved if there is one.
 * sg_cancel locks the run's row first, which a frozen partition's
 * read-only connection refuses: the 25006 said nothing of the run.
 */
CREATE FUNCTION stategraph_router.asked_partition() RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT p.partition FROM stategraph_router.partitions() p
    WHERE p.partition OPERATOR(pg_catalog.=) ANY (stategraph_router.server_partitions())
    ORDER BY stategraph_router.unfrozen(p.connstr) OPERATOR(pg_catalog.<>) p.connstr, p.partition
    LIMIT 1
$$;

/* Every partition. */
CREATE FUNCTION stategraph_router.all_partitions() RETURNS integer[] LANGUAGE sql STABLE AS $$
    SELECT pg_catalog.array_agg(p.partition ORDER BY p.partition) FROM stategraph_router.partitions() p
$$;

-- ===========================================================================
-- Definitions: on every server
-- ===========================================================================

/*
 * Each definition call runs once on each server, through one of its
 * partitions (stategraph_router.server_partitions: one not being moved if
 * the server has one). RUN ON ALL ran it on every connection string, and a
 * partition being moved has a read-only one of its own to its server: the
 * call failed there with 25006 after the server's other connection had
 * made it, so that a definition made on every server was reported as an
 * error, and calling it again failed with 42710 everywhere (TAP 171).
 */

CREATE FUNCTION stategraph_router.all_create_graph(parts integer[], graph text, channels jsonb) RETURNS SETOF integer
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; SPLIT parts; RUN ON parts;
    SELECT 1 FROM sg_create_graph(graph, channels); $$;
CREATE FUNCTION @extschema@.sg_create_graph(graph text, channels jsonb) RETURNS void LANGUAGE sql
    BEGIN ATOMIC SELECT pg_catalog.count(*) FROM stategraph_router.all_create_graph(stategraph_router.server_partitions(), graph, channels); END;

CREATE FUNCTION stategraph_router.all_add_node(parts integer[], graph text, node text, fn text, retry jsonb) RETURNS SETOF integer
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; SPLIT parts; RUN ON parts;
    SELECT 1 FROM sg_add_node(graph, node, fn::pg_catalog.regprocedure, retry); $$;
CREATE FUNCTION @extschema@.sg_add_node(graph text, node text, fn text, retry jsonb DEFAULT NULL) RETURNS void LANGUAGE sql
    BEGIN ATOMIC SELECT pg_catalog.count(*) FROM stategraph_router.all_add_node(stategraph_router.server_partitions(), graph, node, fn, retry); END;

CREATE FUNCTION stategraph_router.all_add_edge(parts integer[], graph text, source text, target text) RETURNS SETOF integer
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; SPLIT parts; RUN ON parts;
    SELECT 1 FROM sg_add_edge(graph, source, target); $$;
CREATE FUNCTION @extschema@.sg_add_edge(graph text, source text, target text) RETURNS void LANGUAGE sql
    BEGIN ATOMIC SELECT pg_catalog.count(*) FROM stategraph_router.all_add_edge(stategraph_router.server_partitions(), graph, source, target); END;

CREATE FUNCTION stategraph_router.all_add_join_edge(parts integer[], graph text, sources text[], target text) RETURNS SETOF integer
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; SPLIT parts; RUN ON parts;
    SELECT 1 FROM sg_add_edge(graph, sources, target); $$;
CREATE FUNCTION @extschema@.sg_add_edge(graph text, sources text[], target text) RETURNS void LANGUAGE sql
    BEGIN ATOMIC SELECT pg_catalog.count(*) FROM stategraph_router.all_add_join_edge(stategraph_router.server_partitions(), graph, sources, target); END;

CREATE FUNCTION stategraph_router.all_add_conditional_edges(parts integer[], graph text, source text, router text, path_map jsonb)
    RETURNS SETOF integer
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; SPLIT parts; RUN ON parts;
    SELECT 1 FROM sg_add_conditional_edges(graph, source, router::pg_catalog.regprocedure, path_map); $$;
CREATE FUNCTION @extschema@.sg_add_conditional_edges(graph text, source text, router text, path_map jsonb DEFAULT NULL)
    RETURNS void LANGUAGE sql
    BEGIN ATOMIC SELECT pg_catalog.count(*) FROM stategraph_router.all_add_conditional_edges(stategraph_router.server_partitions(), graph, source, router, path_map); END;

CREATE FUNCTION stategraph_router.all_compile(parts integer[], graph text, interrupt_before text[], interrupt_after text[])
    RETURNS SETOF integer
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; SPLIT parts; RUN ON parts;
    SELECT 1 FROM sg_compile(graph, interrupt_before, interrupt_after); $$;
CREATE FUNCTION @extschema@.sg_compile(graph text, interrupt_before text[] DEFAULT NULL, interrupt_after text[] DEFAULT NULL)
    RETURNS void LANGUAGE sql
    BEGIN ATOMIC SELECT pg_catalog.count(*) FROM stategraph_router.all_compile(stategraph_router.server_partitions(), graph, interrupt_before, interrupt_after); END;

CREATE FUNCTION stategraph_router.all_drop_graph(parts integer[], graph text) RETURNS SETOF integer
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; SPLIT parts; RUN ON parts;
    SELECT 1 FROM sg_drop_graph(graph); $$;
CREATE FUNCTION @extschema@.sg_drop_graph(graph text) RETURNS void LANGUAGE sql
    BEGIN ATOMIC SELECT pg_catalog.count(*) FROM stategraph_router.all_drop_graph(stategraph_router.server_partitions(), graph); END;

/* Definitions are the same everywhere: any server draws them. */
CREATE FUNCTION @extschema@.sg_draw(graph text, format text DEFAULT 'mermaid') RETURNS text
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; RUN ON ANY; $$;

/*
 * Each server's digest of each graph's definition (stategraph.graph_digest
 * on the server: channels, nodes, edges, branches, compiled spec, the code
 * of their functions, the retention that applies), with the partitions it
 * serves; a server with no graph gives one row with a NULL graph, whose
 * digest is the server's encoding (stategraph_router.check_definitions).
 */
CREATE FUNCTION stategraph_router.definitions(parts integer[], OUT server integer[], OUT graph text, OUT digest text)
    RETURNS SETOF record
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; SPLIT parts; RUN ON parts;
    SELECT parts AS server, g.graph AS graph, stategraph.graph_digest(g.graph) AS digest
    FROM stategraph.graphs g
    UNION ALL SELECT parts, NULL, pg_catalog.getdatabaseencoding(); $$;

/*
 * Does a server of this encoding store a thread id in the bytes the router
 * hashes? PL/Proxy sets its connections' client_encoding to the router's:
 * the same encoding, or SQL_ASCII on either side (no conversion), keeps
 * the bytes.
 */
CREATE FUNCTION stategraph_router.same_bytes(encoding text) RETURNS boolean LANGUAGE sql STABLE
    RETURN encoding OPERATOR(pg_catalog.=) ANY (ARRAY[pg_catalog.getdatabaseencoding(), 'SQL_ASCII'])
           OR pg_catalog.getdatabaseencoding() OPERATOR(pg_catalog.=) 'SQL_ASCII';

/*
 * Every graph whose definition is not the same on all servers: one row per
 * server (its connection string and partitions) that differs from the most
 * common definition, or lacks the graph; when no definition is on more
 * servers than every other (two servers that differ), every server that
 * has the graph is listed, as none can be told to be the odd one (one
 * of them was picked by its digest's sort order). No rows: all servers agree.
 * And every server whose database encoding is not the router's (a row of
 * no graph): PL/Proxy routes by hashtext of the thread id in the router's
 * encoding, a server keeps the threads of its partitions (listings, moves)
 * by hashtext in its own, and the bytes of a thread id that is not ASCII
 * differ: a LATIN1 router over UTF8 servers listed 3 of 10 threads named
 * 'é1' ... 'é10', and a move would delete threads it never copied.
 * Each server is asked once (server_partitions) and listed with all its
 * partitions, under its connection string unfrozen: asked through every
 * connection string, a server one of whose partitions was being moved
 * (frozen: a string of its own) counted twice, which made its definition
 * the most common one and hid the server that differed (TAP 328).
 */
CREATE FUNCTION stategraph_router.check_definitions(OUT graph text, OUT server text, OUT partitions integer[],
                                                    OUT problem text)
    RETURNS SETOF record LANGUAGE sql AS $$
    WITH d AS (SELECT x.server[1] AS server, x.graph, x.digest
               FROM stategraph_router.definitions(stategraph_router.server_partitions()) x),
         -- each server once, by its connection string unfrozen, with all its partitions
         servers AS (SELECT q.partition AS server, stategraph_router.unfrozen(q.connstr) AS connstr,
                            (SELECT pg_catalog.array_agg(r.partition ORDER BY r.partition) FROM stategraph_router.partitions() r
                             WHERE stategraph_router.unfrozen(r.connstr) OPERATOR(pg_catalog.=) stategraph_router.unfrozen(q.connstr)) AS parts
                     FROM stategraph_router.partitions() q
                     WHERE q.partition OPERATOR(pg_catalog.=) ANY (stategraph_router.server_partitions())),
         graphs AS (SELECT DISTINCT d.graph FROM d WHERE d.graph IS NOT NULL),
         counts AS (SELECT d.graph, d.digest, pg_catalog.count(*) AS n FROM d WHERE d.graph IS NOT NULL
                    GROUP BY d.graph, d.digest),
         -- the definition on the most servers, NULL when another is on as many
         common AS (SELECT c.graph, CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.=) 1 THEN pg_catalog.min(c.digest) END AS digest
                    FROM counts c
                    WHERE c.n OPERATOR(pg_catalog.=) (SELECT pg_catalog.max(x.n) FROM counts x WHERE x.graph OPERATOR(pg_catalog.=) c.graph)
                    GROUP BY c.graph)
    SELECT g.graph, s.connstr, s.parts,
           CASE WHEN d.digest IS NULL THEN 'missing'
                WHEN c.digest IS NULL THEN 'different definition (no definition is on most servers)'
                ELSE 'different definition' END
    FROM graphs g CROSS JOIN servers s
    LEFT JOIN d ON d.graph OPERATOR(pg_catalog.=) g.graph AND d.server OPERATOR(pg_catalog.=) s.server
    JOIN common c ON c.graph OPERATOR(pg_catalog.=) g.graph
    WHERE c.digest IS NULL OR NOT COALESCE(d.digest OPERATOR(pg_catalog.=) c.digest, false)   -- (IS DISTINCT FROM: = by search_path)
    UNION ALL
    SELECT NULL, s.connstr, s.parts,
           pg_catalog.format('encoding %s, not the router''s %s', d.digest, pg_catalog.getdatabaseencoding())
    FROM d JOIN servers s ON s.server OPERATOR(pg_catalog.=) d.server
    WHERE d.graph IS NULL AND NOT stategraph_router.same_bytes(d.digest)
    ORDER BY 1, 2
$$;

-- ===========================================================================
-- Thread-scoped calls: on the thread's partition
-- ===========================================================================

CREATE FUNCTION @extschema@.sg_invoke(graph text, input jsonb, thread_id text DEFAULT NULL,
                                      checkpoint_id uuid DEFAULT NULL, resume jsonb DEFAULT NULL,
                                      recursion_limit integer DEFAULT 25, on_error text DEFAULT 'raise')
    RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; RUN ON stategraph_router.thread_hash(thread_id); $$;

CREATE FUNCTION @extschema@.sg_stream(graph text, input jsonb, thread_id text DEFAULT NULL,
                                      checkpoint_id uuid DEFAULT NULL, resume jsonb DEFAULT NULL,
                                      recursion_limit integer DEFAULT 25, on_error text DEFAULT 'raise',
                                      mode text DEFAULT 'updates',
                                      OUT step integer, OUT node text, OUT payload jsonb)
    RETURNS SETOF record LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; RUN ON stategraph_router.thread_hash(thread_id); $$;

CREATE FUNCTION @extschema@.sg_get_state(thread_id text, checkpoint_id uuid DEFAULT NULL)
    RETURNS @extschema@.sg_snapshot LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; RUN ON stategraph_router.thread_hash(thread_id); $$;

CREATE FUNCTION @extschema@.sg_get_state_history(thread_id text, "limit" integer DEFAULT NULL,
                                                 before uuid DEFAULT NULL, filter jsonb DEFAULT NULL)
    RETURNS SETOF @extschema@.sg_snapshot LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; RUN ON stategraph_router.thread_hash(thread_id); $$;

CREATE FUNCTION @extschema@.sg_draw_history(thread_id text, format text DEFAULT 'mermaid', "limit" integer DEFAULT NULL)
    RETURNS text LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; RUN ON stategraph_router.thread_hash(thread_id); $$;

CREATE FUNCTION @extschema@.sg_delete_thread(thread_id text) RETURNS void LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; RUN ON stategraph_router.thread_hash(thread_id); $$;

CREATE FUNCTION @extschema@.sg_export_thread(thread_id text) RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; RUN ON stategraph_router.thread_hash(thread_id); $$;

CREATE FUNCTION @extschema@.sg_import_thread(data jsonb, thread_id text DEFAULT NULL) RETURNS text LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; RUN ON stategraph_router.import_hash(data, thread_id); $$;

/*
 * Which threads hold a checkpoint id, asked of every server. The checkpoints
 * table has no index on checkpoint_id alone: as a server's own
 * sg_update_state does, owners_near looks among the threads written around
 * the time the id (UUID version 7) was made, each probed by its primary
 * key; owners reads every checkpoint, for when that finds nothing on any
 * server (a clock set back), LangGraph.js checkpoints too (brought over,
 * the server refuses one as it does on its own: 42809).
 */
CREATE FUNCTION stategraph_router.owners_near(cp uuid, OUT owner text, OUT role text) RETURNS SETOF record
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; RUN ON ALL;
    SELECT t.thread_id AS owner, t.owner::pg_catalog.text AS role FROM stategraph.threads t
    WHERE t.created_at OPERATOR(pg_catalog.<=) (pg_catalog.to_timestamp(('x' OPERATOR(pg_catalog.||) pg_catalog.substr(pg_catalog.replace(cp::pg_catalog.text, '-', ''), 1, 12))::bit(48)::bigint OPERATOR(pg_catalog./) 1000.0) OPERATOR(pg_catalog.+) interval '1 second')
      AND t.updated_at OPERATOR(pg_catalog.>=) (pg_catalog.to_timestamp(('x' OPERATOR(pg_catalog.||) pg_catalog.substr(pg_catalog.replace(cp::pg_catalog.text, '-', ''), 1, 12))::bit(48)::bigint OPERATOR(pg_catalog./) 1000.0) OPERATOR(pg_catalog.-) interval '1 second')
      AND EXISTS (SELECT 1 FROM stategraph.checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) t.thread_id AND c.checkpoint_id OPERATOR(pg_catalog.=) cp); $$;

CREATE FUNCTION stategraph_router.owners(cp uuid, OUT owner text, OUT role text) RETURNS SETOF record
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; RUN ON ALL;
    SELECT c.thread_id AS owner, t.owner::pg_catalog.text AS role
    FROM stategraph.checkpoints c JOIN stategraph.threads t ON t.thread_id OPERATOR(pg_catalog.=) c.thread_id
    WHERE c.checkpoint_id OPERATOR(pg_catalog.=) cp
    UNION ALL SELECT l.thread_id, l.owner FROM stategraph.lg_checkpoints l WHERE l.checkpoint_id OPERATOR(pg_catalog.=) cp; $$;

/* Whether a thread holds a checkpoint, on the thread's server (a primary key lookup). */
CREATE FUNCTION stategraph_router.holds(thread_id text, checkpoint_id uuid) RETURNS boolean
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; RUN ON stategraph_router.thread_hash(thread_id);
    SELECT EXISTS (SELECT 1 FROM stategraph.checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) thread_id AND c.checkpoint_id OPERATOR(pg_catalog.=) checkpoint_id) AS holds; $$;

/*
 * owners_near and owners on one server (a partition of it), for when a
 * server does not answer (stategraph_router.owners_by_server).
 */
CREATE FUNCTION stategraph_router.owners_near_on(part integer, cp uuid, OUT owner text, OUT role text) RETURNS SETOF record
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; RUN ON part;
    SELECT t.thread_id AS owner, t.owner::pg_catalog.text AS role FROM stategraph.threads t
    WHERE t.created_at OPERATOR(pg_catalog.<=) (pg_catalog.to_timestamp(('x' OPERATOR(pg_catalog.||) pg_catalog.substr(pg_catalog.replace(cp::pg_catalog.text, '-', ''), 1, 12))::bit(48)::bigint OPERATOR(pg_catalog./) 1000.0) OPERATOR(pg_catalog.+) interval '1 second')
      AND t.updated_at OPERATOR(pg_catalog.>=) (pg_catalog.to_timestamp(('x' OPERATOR(pg_catalog.||) pg_catalog.substr(pg_catalog.replace(cp::pg_catalog.text, '-', ''), 1, 12))::bit(48)::bigint OPERATOR(pg_catalog./) 1000.0) OPERATOR(pg_catalog.-) interval '1 second')
      AND EXISTS (SELECT 1 FROM stategraph.checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) t.thread_id AND c.checkpoint_id OPERATOR(pg_catalog.=) cp); $$;

CREATE FUNCTION stategraph_router.owners_on(part integer, cp uuid, OUT owner text, OUT role text) RETURNS SETOF record
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; RUN ON part;
    SELECT c.thread_id AS owner, t.owner::pg_catalog.text AS role
    FROM stategraph.checkpoints c JOIN stategraph.threads t ON t.thread_id OPERATOR(pg_catalog.=) c.thread_id
    WHERE c.checkpoint_id OPERATOR(pg_catalog.=) cp
    UNION ALL SELECT l.thread_id, l.owner FROM stategraph.lg_checkpoints l WHERE l.checkpoint_id OPERATOR(pg_catalog.=) cp; $$;

/*
 * The threads that hold a checkpoint id (and their roles), asked of the servers one by one
 * (owners_near on each, then owners on each if that found nothing), past
 * any that does not answer: owners_near and owners ask every server in
 * one call, which a server down fails. When none of those that answered
 * holds it, the error of one that did not is raised (it may be there).
 */
CREATE FUNCTION stategraph_router.owners_by_server(cp uuid, OUT owner text, OUT role text) RETURNS SETOF record
    LANGUAGE plpgsql AS $$
DECLARE
    p integer;
    full_scan boolean;
    found_one boolean := false;
    down pg_catalog.text;   -- (pg_catalog's: the caller's search path parses the body, TAP 316)
BEGIN
    FOREACH full_scan IN ARRAY ARRAY[false, true] LOOP
        FOREACH p IN ARRAY stategraph_router.server_partitions() LOOP
            BEGIN
                FOR owner, role IN SELECT o.owner, o.role FROM stategraph_router.owners_near_on(p, cp) o WHERE NOT full_scan
                                   UNION ALL SELECT o.owner, o.role FROM stategraph_router.owners_on(p, cp) o WHERE full_scan LOOP
                    found_one := true;
                    RETURN NEXT;
                END LOOP;
            EXCEPTION WHEN internal_error THEN
                down := SQLERRM;
            END;
        END LOOP;
        IF found_one THEN
            RETURN;
        END IF;
    END LOOP;
    IF down IS NOT NULL THEN
        RAISE EXCEPTION '%', down USING ERRCODE = 'internal_error',
            HINT = 'The checkpoint is on none of the servers that answered.';
    END IF;
END $$;

/*
 * The threads that hold a checkpoint id, with their roles: owners_near's, else (none found
 * near its time on any server) owners'; asked of the servers one by one
 * (owners_by_server) when one did not answer. Each call is read whole
 * before anything is returned, so that a server failing a call returns
 * nothing of it.
 */
CREATE FUNCTION stategraph_router.checkpoint_owners(cp uuid, OUT owner text, OUT role text) RETURNS SETOF record
    LANGUAGE plpgsql AS $$
DECLARE
    found pg_catalog.jsonb;     -- [[thread_id, role], ...]
BEGIN
    BEGIN
        found := (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(n.owner, n.role))
                  FROM stategraph_router.owners_near(cp) n);
        IF found IS NULL THEN
            found := (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(a.owner, a.role))
                      FROM stategraph_router.owners(cp) a);
        END IF;
    EXCEPTION WHEN internal_error THEN
        found := (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(b.owner, b.role))
                  FROM stategraph_router.owners_by_server(cp) b);   -- a server did not answer
    END;
    RETURN QUERY SELECT o OPERATOR(pg_catalog.->>) 0, o OPERATOR(pg_catalog.->>) 1
                 FROM pg_catalog.jsonb_array_elements(COALESCE(found, '[]')) o;
END $$;

/*
 * The thread a checkpoint belongs to, when it is another thread than
 * thread_id, on another server; else NULL (the call is then a plain one).
 * A server that does not answer fails only a look-up that the others
 * cannot answer (checkpoint_owners, owners_by_server): an update between
 * threads of servers that are up failed while any server was down (TAP 273).
 *
 * As on one server (branch.c, checkpoint_owner): the holders of threads of
 * more than one role (an imported copy keeps its checkpoint ids) are
 * refused with that server's 42P08, and of one role's, the first by
 * thread_id is taken, wherever it is (on thread_id's own server: the plain
 * call, whose server takes the same one). Any holder on another server
 * was taken (LIMIT 1, in no order, whatever its role): a superuser's update
 * from another role's checkpoint forked a copy a third role had planted on
 * another server, with that checkpoint id, by an import (TAP 328).
 */
CREATE FUNCTION stategraph_router.remote_owner(thread_id text, checkpoint_id uuid) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    holder pg_catalog.text;
    other pg_catalog.text;
BEGIN
    WITH h AS (SELECT c.owner, c.role FROM stategraph_router.checkpoint_owners(checkpoint_id) c),
         f AS (SELECT h.owner, h.role FROM h ORDER BY h.owner LIMIT 1)
    SELECT f.owner, (SELECT pg_catalog.min(h.owner) FROM h WHERE h.role OPERATOR(pg_catalog.<>) f.role)
    INTO holder, other FROM f;
    IF other IS NOT NULL THEN
        RAISE EXCEPTION 'checkpoint % is held by threads of more than one role', checkpoint_id
            USING ERRCODE = 'ambiguous_parameter',
                  DETAIL = pg_catalog.format('Threads "%s" and "%s" hold it (an imported copy keeps its checkpoint ids).',
                                             holder, other),
                  HINT = 'Name the thread: sg_fork(thread_id, checkpoint_id, new_thread_id).';
    END IF;
    IF holder IS NULL OR holder OPERATOR(pg_catalog.=) thread_id
       OR stategraph_router.shard_of(holder) OPERATOR(pg_catalog.=) stategraph_router.shard_of(thread_id) THEN
        RETURN NULL;
    END IF;
    RETURN holder;
END $$;

CREATE FUNCTION stategraph_router.update_state(thread_id text, "values" jsonb, as_node text, checkpoint_id uuid)
    RETURNS uuid LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; RUN ON stategraph_router.thread_hash(thread_id); TARGET sg_update_state; $$;

CREATE FUNCTION stategraph_router.import_then_update_state(data jsonb, thread_id text, "values" jsonb,
                                                           as_node text, checkpoint_id uuid)
    RETURNS uuid LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; RUN ON stategraph_router.thread_hash(thread_id); TARGET stategraph.import_then_update_state; $$;

/* sg_update_state; a checkpoint of a thread on another server is brought over for the call. */
CREATE FUNCTION @extschema@.sg_update_state(thread_id text, "values" jsonb, as_node text DEFAULT NULL,
                                            checkpoint_id uuid DEFAULT NULL) RETURNS uuid
    LANGUAGE plpgsql AS $$
DECLARE
    owner pg_catalog.text;
BEGIN
    -- a checkpoint of the thread itself (time travel) needs no search
    IF checkpoint_id IS NOT NULL AND thread_id IS NOT NULL
       AND NOT stategraph_router.holds(thread_id, checkpoint_id) THEN
        owner := stategraph_router.remote_owner(thread_id, checkpoint_id);
    END IF;
    IF owner IS NULL THEN
        RETURN stategraph_router.update_state(thread_id, "values", as_node, checkpoint_id);
    END IF;
    RETURN stategraph_router.import_then_update_state(@extschema@.sg_export_thread(owner), thread_id,
                                                      "values", as_node, checkpoint_id);
END $$;

/*
 * Where fork runs: the source's server, which must be the new thread's too
 * (sg_fork sends it there only then; otherwise import_then_fork on the new
 * thread's server). Any role may call fork itself: with a new thread of
 * another server it started that thread where the router never routes it,
 * and the next move of its partition stopped (as stategraph_router.submit
 * did, submit_route). A call the server refuses for its arguments (names
 * it does not take, no checkpoint) goes on, for the server's own error.
 */
CREATE FUNCTION stategraph_router.fork_route(thread_id text, checkpoint_id uuid, new_thread_id text)
    RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF stategraph_router.takes_name(thread_id) AND stategraph_router.takes_name(new_thread_id)
       AND checkpoint_id IS NOT NULL
       AND stategraph_router.shard_of(thread_id) OPERATOR(pg_catalog.<>) stategraph_router.shard_of(new_thread_id) THEN
        RAISE EXCEPTION 'thread "%" is not on the server of thread "%"', new_thread_id, thread_id
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A fork made there would start the new thread where the router never finds it.',
                  HINT = 'Call sg_fork, which forks across servers.';
    END IF;
    RETURN stategraph_router.thread_hash(thread_id);
END $$;

CREATE FUNCTION stategraph_router.fork(thread_id text, checkpoint_id uuid, new_thread_id text)
    RETURNS uuid LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; RUN ON stategraph_router.fork_route(thread_id, checkpoint_id, new_thread_id); TARGET sg_fork; $$;

CREATE FUNCTION stategraph_router.import_then_fork(data jsonb, checkpoint_id uuid, new_thread_id text)
    RETURNS uuid LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; RUN ON stategraph_router.thread_hash(new_thread_id); TARGET stategraph.import_then_fork; $$;

/*
 * Whether a server takes a text argument as a name or id at all (not NULL,
 * not empty, at most 512 bytes), before it looks anything up.
 */
CREATE FUNCTION stategraph_router.takes_name(name text) RETURNS boolean LANGUAGE sql IMMUTABLE
    RETURN name IS NOT NULL AND name OPERATOR(pg_catalog.<>) '' AND pg_catalog.octet_length(name) OPERATOR(pg_catalog.<=) 512;

/*
 * sg_fork; into a thread of another server, the source is brought over for
 * the call. Arguments a server refuses before looking anything up (a NULL,
 * empty or too long name, a NULL checkpoint_id) go to the source's server
 * as they are, for its own error: exported first, the source would fail
 * with another one (not found, another role's) than the call on one server.
 */
CREATE FUNCTION @extschema@.sg_fork(thread_id text, checkpoint_id uuid, new_thread_id text) RETURNS uuid
    LANGUAGE plpgsql AS $$
BEGIN
    IF NOT stategraph_router.takes_name(thread_id) OR NOT stategraph_router.takes_name(new_thread_id)
       OR checkpoint_id IS NULL
       OR stategraph_router.shard_of(thread_id) OPERATOR(pg_catalog.=) stategraph_router.shard_of(new_thread_id) THEN
        RETURN stategraph_router.fork(thread_id, checkpoint_id, new_thread_id);
    END IF;
    RETURN stategraph_router.import_then_fork(@extschema@.sg_export_thread(thread_id), checkpoint_id, new_thread_id);
END $$;

-- ===========================================================================
-- Listings and sg_prune: on every server, merged
-- ===========================================================================

/* The threads of the given partitions (of n), on the server that serves them. */
CREATE FUNCTION stategraph_router.threads_of(parts integer[], n integer, modular boolean, graph text)
    RETURNS SETOF @extschema@.sg_thread LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; SPLIT parts; RUN ON parts;
    SELECT t.thread_id, t.graph, t.status, t.next, t.checkpoints, t.created_at, t.updated_at
    FROM sg_threads(graph) t
    WHERE stategraph.thread_partition(t.thread_id, n, modular) OPERATOR(pg_catalog.=) ANY (parts); $$;

CREATE FUNCTION @extschema@.sg_threads(graph text DEFAULT NULL) RETURNS SETOF @extschema@.sg_thread
    LANGUAGE sql AS $$
    SELECT t.* FROM stategraph_router.threads_of(stategraph_router.all_partitions(),
                                                 pg_catalog.array_length(stategraph_router.all_partitions(), 1),
                                                 stategraph_router.modular(), graph) t
    ORDER BY t.thread_id COLLATE pg_catalog."C"
$$;

CREATE FUNCTION stategraph_router.prune_all(parts integer[], older_than interval, keep_last integer)
    RETURNS SETOF bigint LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; SPLIT parts; RUN ON parts;
    SELECT sg_prune(older_than, keep_last, NULL); $$;

CREATE FUNCTION stategraph_router.prune_thread(older_than interval, keep_last integer, thread_id text)
    RETURNS bigint LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; RUN ON stategraph_router.thread_hash(thread_id); TARGET sg_prune; $$;

/*
 * An sg_prune of every thread while a partition is being moved (frozen)
 * would prune its threads on their old server, through another partition
 * of that server, after the move checked its copies against them: refused
 * as a write to the partition is (25006, retry it), for the time of the
 * move. So is an sg_reassign_owned: it changed the owner of the
 * partition's threads on the old server (or failed with 25006 there, if
 * that partition was its only one, after the other servers had made it),
 * while the copies made before, on a server not yet in the cluster, kept
 * the old owner, which the switch then gave them (the move compares
 * checkpoints, not owners; TAP 172). Returns the partitions of each server
 * otherwise. what names the call.
 */
CREATE FUNCTION stategraph_router.refuse_while_moving(what text) RETURNS integer[] LANGUAGE plpgsql AS $$
DECLARE
    part integer;
BEGIN
    SELECT p.partition INTO part FROM stategraph_router.partitions() p
    WHERE stategraph_router.unfrozen(p.connstr) OPERATOR(pg_catalog.<>) p.connstr ORDER BY 1 LIMIT 1;
    IF part IS NOT NULL THEN
        RAISE EXCEPTION 'partition % is being moved', part
            USING ERRCODE = 'read_only_sql_transaction',
                  DETAIL = pg_catalog.format('%s would change its threads on the server the move is copying them from.', what),
                  HINT = CASE WHEN what OPERATOR(pg_catalog.~) '^An sg_prune'
                              THEN 'Retry when the move ends (stategraph_router.move_partition), or prune one thread at a time.'
                              ELSE 'Retry when the move ends (stategraph_router.move_partition).' END;
    END IF;
    RETURN stategraph_router.server_partitions();
END $$;

/* sg_prune: one thread on its server, or every thread on every server (the counts added up). */
CREATE FUNCTION @extschema@.sg_prune(older_than interval DEFAULT NULL, keep_last integer DEFAULT NULL,
                                     thread_id text DEFAULT NULL) RETURNS bigint LANGUAGE sql AS $$
    SELECT CASE WHEN thread_id IS NOT NULL THEN stategraph_router.prune_thread(older_than, keep_last, thread_id)
           ELSE (SELECT COALESCE(pg_catalog.sum(n), 0)::bigint
                 FROM stategraph_router.prune_all(stategraph_router.refuse_while_moving('An sg_prune of every thread'), older_than, keep_last) n) END
$$;

CREATE FUNCTION stategraph_router.reassign_owned_all(parts integer[], old_role name, new_role name)
    RETURNS SETOF bigint LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; SPLIT parts; RUN ON parts;
    SELECT sg_reassign_owned(old_role, new_role); $$;

/* sg_reassign_owned: on every server (the counts added up), as the role the user mapping names; refused (25006) while a partition is moved. */
CREATE FUNCTION @extschema@.sg_reassign_owned(old_role name, new_role name) RETURNS bigint LANGUAGE sql AS $$
    SELECT COALESCE(pg_catalog.sum(n), 0)::bigint
    FROM stategraph_router.reassign_owned_all(stategraph_router.refuse_while_moving('sg_reassign_owned'), old_role, new_role) n
$$;

-- ===========================================================================
-- Background runs and retention (RUNTIME.md)
-- ===========================================================================

/* What sg_runs, sg_wait return, as on the shards. */
CREATE TYPE @extschema@.sg_run AS (
    run_id      uuid,
    thread_id   text,
    graph       text,
    status      text,
    multitask   text,
    attempt     integer,
    error       jsonb,
    created_at  timestamptz,
    started_at  timestamptz,
    finished_at timestamptz
);

/*
 * The thread a submit without thread_id starts. On one server the run's
 * own id names it, but that id is made on the shard, after the router has
 * chosen the shard: the router names the thread instead, so that the
 * thread lives where its name hashes to. With an idempotency key the name
 * comes from the role, graph and key, so that a retry reaches the same
 * server (where the key is known) and gets the same run back.
 */
CREATE FUNCTION stategraph_router.new_thread_id(graph text, idempotency_key text) RETURNS text
    LANGUAGE sql VOLATILE
    RETURN CASE WHEN idempotency_key IS NULL THEN pg_catalog.gen_random_uuid()::pg_catalog.text
           ELSE pg_catalog.md5(pg_catalog.jsonb_build_array(CURRENT_USER, graph, idempotency_key)::pg_catalog.text)::pg_catalog.uuid::pg_catalog.text END;

/*
 * The partition (server_partitions' one) of each server that holds a run
 * of this role (the shard's CURRENT_USER, as its sg_submit looks keys up)
 * with an idempotency key for graph.
 */
CREATE FUNCTION stategraph_router.key_holders(parts integer[], graph text, key text, OUT part integer)
    RETURNS SETOF integer LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; SPLIT parts; RUN ON parts;
    SELECT (parts)[1] AS part WHERE EXISTS (SELECT 1 FROM stategraph.runs r
        WHERE r.owner OPERATOR(pg_catalog.=) CURRENT_USER AND r.graph OPERATOR(pg_catalog.=) graph
          AND r.idempotency_key OPERATOR(pg_catalog.=) key); $$;

/*
 * Where a submit goes: the thread's server, unless the idempotency key
 * already has a run on another server, which then gets the submit (and
 * returns that run, as one server does: its sg_submit looks the key up
 * before the thread). A key is per role and graph, not per thread, and a
 * run stays on the server it was submitted to: after its thread's
 * partition moved (move_partition), or for a retry naming another thread,
 * the thread's server did not know the key and queued the run again, so
 * a retried submit ran twice (TAP 215). Every server is asked, in one
 * round; one that is down fails the submit (PL/Proxy's XX000, naming it):
 * the key may be there. A partition number is a hash PL/Proxy maps to
 * that very partition (bit mask or modulus). Computed before the call of
 * submit, not in its RUN ON: PL/Proxy refuses a call to the cluster
 * nested in the routing of another. key_server returns that partition, or
 * NULL (no key, or no server has it); the submit then goes there through
 * submit_keyed (the key's run, if it has not expired meanwhile), else to
 * the thread's server.
 *
 * The key's look-up holds a transaction advisory lock of (role, graph,
 * key) on this router database to the end of sg_submit's transaction. Two
 * submits of one key at once that named threads of two servers both found
 * the key nowhere and both queued a run (one server serializes them: its
 * sg_submit looks the key up under a lock). The servers commit each call
 * at once (PL/Proxy), so the second submit, let in when the first one's
 * transaction ends, finds its run (TAP 217). Routers in other databases do
 * not share the lock. Any role may take any advisory lock: a role that
 * knows another's name, graph and key can delay (not take over) that
 * role's submits of the key while it holds the lock in an open transaction.
 */
CREATE FUNCTION stategraph_router.key_server(graph text, idempotency_key text) RETURNS integer
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF idempotency_key IS NULL OR graph IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(1397181783,
        pg_catalog.hashtext(pg_catalog.jsonb_build_array(CURRENT_USER, graph, idempotency_key)::pg_catalog.text));
    RETURN (SELECT k.part
            FROM stategraph_router.key_holders(stategraph_router.server_partitions(), graph, idempotency_key) k
            ORDER BY k.part LIMIT 1);
END $$;

/*
 * Where stategraph_router.submit goes: h, once it is seen to be the
 * partition of the thread the run is for. submit is any role's (sg_submit
 * calls it as the caller), and its h was taken as given: a role submitted
 * a run for a new thread to a server that does not serve the thread's
 * partition, where the router never finds it, and a later move of that
 * partition to that server stopped at it (42710), leaving the partition
 * frozen until the move was called off (TAP 328). Refused (22023): an h
 * of another partition than thread_id's, and a NULL thread_id with input
 * and neither checkpoint_id nor resume (the server would name a new thread
 * itself, wherever h sends it; sg_submit names it first). A NULL
 * thread_id with no input, or with a checkpoint_id or resume, starts no
 * thread: the server refuses it (22023), wherever it goes.
 */
CREATE FUNCTION stategraph_router.submit_route(h integer, thread_id text, input jsonb, checkpoint_id uuid, resume jsonb)
    RETURNS integer LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF thread_id IS NULL THEN
        IF input IS NOT NULL AND checkpoint_id IS NULL AND resume IS NULL THEN
            RAISE EXCEPTION 'a submit of a new thread needs its thread_id here'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'The server would name the thread itself, on a partition the name does not hash to.',
                      HINT = 'Call sg_submit, which names the thread where it hashes to.';
        END IF;
    ELSIF h IS NULL OR stategraph_router.partition_of_hash(h, (SELECT pg_catalog.count(*)::integer FROM stategraph_router.partitions()),
                                                          stategraph_router.modular())
                       OPERATOR(pg_catalog.<>) stategraph_router.partition_of(thread_id) THEN
        RAISE EXCEPTION 'thread "%" is not on partition %', thread_id,
                        stategraph_router.partition_of_hash(h, (SELECT pg_catalog.count(*)::integer FROM stategraph_router.partitions()),
                                                            stategraph_router.modular())
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('Its partition is %s: a run submitted elsewhere would start it where the router never finds it.',
                                             stategraph_router.partition_of(thread_id)),
                  HINT = 'Call sg_submit, which submits to the thread''s partition.';
    END IF;
    RETURN h;
END $$;

CREATE FUNCTION stategraph_router.submit(h integer, graph text, input jsonb, thread_id text, checkpoint_id uuid, resume jsonb,
                                         recursion_limit integer, multitask text, after interval,
                                         idempotency_key text)
    RETURNS uuid LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; RUN ON stategraph_router.submit_route(h, thread_id, input, checkpoint_id, resume);
    SELECT sg_submit(graph, input, thread_id, checkpoint_id, resume, recursion_limit, multitask, after, idempotency_key); $$;

/*
 * sg_submit on the server key_server found the key on, only if the key's
 * run is still there: its row is share-locked first (FOR KEY SHARE, which
 * the retention sweep's FOR UPDATE SKIP LOCKED passes over), so that
 * sg_submit there finds it and returns it; no row if the run expired
 * (stategraph.run_retention) since the look-up. sg_submit alone, finding
 * the key gone, queued a new run there, for a thread whose partition that
 * server may not serve: a thread was started where the router never
 * routes it, and its run wrote there (TAP 236). Only for a key on another
 * server than the thread's: the row lock gives the call a transaction id,
 * with which sg_submit does not wait for an sg_reassign_owned of the role
 * in flight (reassign.c) but fails at once (55P03, try again).
 */
CREATE FUNCTION stategraph_router.submit_keyed(h integer, graph text, input jsonb, thread_id text, checkpoint_id uuid,
                                               resume jsonb, recursion_limit integer, multitask text, after interval,
                                               ikey text)
    RETURNS SETOF uuid LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; RUN ON h;
    SELECT sg_submit(graph, input, thread_id, checkpoint_id, resume, recursion_limit, multitask, after, ikey)
    FROM (SELECT FROM stategraph.runs r
          WHERE r.owner OPERATOR(pg_catalog.=) CURRENT_USER AND r.graph OPERATOR(pg_catalog.=) graph
            AND r.idempotency_key OPERATOR(pg_catalog.=) ikey
          FOR KEY SHARE) k; $$;

/*
 * Whether partition part is being moved (frozen: its connection string
 * refuses writes, stategraph_router.frozen).
 */
CREATE FUNCTION stategraph_router.is_frozen(part integer) RETURNS boolean LANGUAGE sql STABLE
    RETURN (SELECT stategraph_router.unfrozen(p.connstr) OPERATOR(pg_catalog.<>) p.connstr
            FROM stategraph_router.partitions() p WHERE p.partition OPERATOR(pg_catalog.=) part);

/* The run of this role's idempotency key for graph on the server of partition part (a read only). */
CREATE FUNCTION stategraph_router.key_run_on(part integer, graph text, ikey text, OUT run_id uuid)
    RETURNS SETOF uuid LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; RUN ON part;
    SELECT r.run_id FROM stategraph.runs r
    WHERE r.owner OPERATOR(pg_catalog.=) CURRENT_USER AND r.graph OPERATOR(pg_catalog.=) graph
      AND r.idempotency_key OPERATOR(pg_catalog.=) ikey; $$;

/*
 * A keyed submit on partition part: submit_keyed (keyed: only if the key's
 * run is still there; run NULL if not) or submit. While the partition is
 * being moved its server refuses writes, and sg_submit there, which takes
 * the key's lock (a row) before it looks the key up, failed with 25006
 * even when the key had its run: that run is then read there (run NULL if
 * the key has none), frozen true. The shard checks the arguments before
 * its first write, so a bad one is still its own error. Nothing is written
 * to a frozen partition: the key's run is returned or nothing is done.
 */
CREATE FUNCTION stategraph_router.submit_to_partition(part integer, keyed boolean, graph text, input jsonb, thread_id text,
                                            checkpoint_id uuid, resume jsonb, recursion_limit integer, multitask text,
                                            after interval, ikey text, OUT run uuid, OUT frozen boolean)
    LANGUAGE plpgsql AS $$
BEGIN
    frozen := false;
    IF keyed THEN
        SELECT s INTO run FROM stategraph_router.submit_keyed(part, graph, input, thread_id, checkpoint_id, resume,
                                                              recursion_limit, multitask, after, ikey) s;
    ELSE
        run := stategraph_router.submit(part, graph, input, thread_id, checkpoint_id, resume, recursion_limit,
                                        multitask, after, ikey);
    END IF;
EXCEPTION WHEN read_only_sql_transaction THEN
    IF NOT COALESCE(stategraph_router.is_frozen(part), false) THEN
        RAISE;      -- a server that refuses writes of its own (a standby): its error
    END IF;
    frozen := true;
    SELECT k.run_id INTO run FROM stategraph_router.key_run_on(part, graph, ikey) k;
END $$;

/*
 * sg_submit: on the thread's server; without a thread, on the server of
 * the thread the router names. Only a run that would start a new thread
 * on one server gets a name: a run without input, from a checkpoint_id or
 * with resume needs an existing thread, and one server refuses it without
 * a thread_id (22023); a name made up here sent it to a shard that said
 * the made-up thread did not exist (42704). Such a call goes to a shard
 * with thread_id NULL, for the shard's own error.
 *
 * With an idempotency key, while the thread's partition (or the only
 * partition of the key's server) is being moved (stategraph_router.
 * move_partition), the submit failed with 25006, "cannot execute INSERT in
 * a read-only transaction", even a client's retry whose key had its run
 * (TAP 288). A key that has its run gets it (submit_to_partition); one that has
 * none is refused with SG016 and a hint to retry after the move, with the
 * same key. Not a wait for the move inside the call: a move lasts the copy
 * of a whole partition, and a call waiting for it would hold the caller's
 * transaction and the key's lock that long (and, in a REPEATABLE READ
 * transaction, never see the switch). The key's server is reached through
 * the thread's partition when it is the thread's: through another of its
 * partitions, not frozen, a key whose run expired meanwhile queued a run
 * on the old server of a thread being moved, bypassing the freeze.
 */
CREATE FUNCTION @extschema@.sg_submit(graph text, input jsonb, thread_id text DEFAULT NULL,
                                      checkpoint_id uuid DEFAULT NULL, resume jsonb DEFAULT NULL,
                                      recursion_limit integer DEFAULT 25, multitask text DEFAULT 'reject',
                                      after interval DEFAULT NULL, idempotency_key text DEFAULT NULL)
    RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    th pg_catalog.text := COALESCE(thread_id, CASE WHEN input IS NOT NULL AND checkpoint_id IS NULL AND resume IS NULL
                                        THEN stategraph_router.new_thread_id(graph, idempotency_key) END);
    p integer := stategraph_router.key_server(graph, idempotency_key);
    s record;
BEGIN
    -- the key's run, on its server if that is not the thread's; if it expired meanwhile, a new run on the thread's server
    IF p IS NOT NULL AND (th IS NULL OR
       stategraph_router.unfrozen((SELECT x.connstr FROM stategraph_router.partitions() x WHERE x.partition OPERATOR(pg_catalog.=) p))
           OPERATOR(pg_catalog.<>) stategraph_router.unfrozen(stategraph_router.shard_of(th))) THEN
        s := stategraph_router.submit_to_partition(p, true, graph, input, th, checkpoint_id, resume, recursion_limit, multitask,
                                         after, idempotency_key);
        IF s.run IS NOT NULL THEN
            RETURN s.run;
        END IF;
    END IF;
    IF idempotency_key IS NULL OR th IS NULL THEN
        RETURN stategraph_router.submit(stategraph_router.thread_hash(th), graph, input, th,
                                        checkpoint_id, resume, recursion_limit, multitask, after, idempotency_key);
    END IF;
    -- the thread's server (as on one server, where the key is looked up first), through the thread's partition
    s := stategraph_router.submit_to_partition(stategraph_router.partition_of(th), false, graph, input, th, checkpoint_id, resume,
                                     recursion_limit, multitask, after, idempotency_key);
    IF s.frozen AND s.run IS NULL THEN
        RAISE EXCEPTION 'thread "%" cannot take a run now: its partition % is being moved', th, stategraph_router.partition_of(th)
            USING ERRCODE = 'SG016',
                  DETAIL = 'The partition''s server refuses writes until stategraph_router.move_partition has moved its threads; nothing was queued.',
                  HINT = 'Retry the submit once the move is done, with the same idempotency_key: its run is queued once.';
    END IF;
    RETURN s.run;
END $$;

/*
 * The runs of every server, once each: a run stays on the server it was
 * submitted to (moving a partition moves threads, not their runs), so no
 * server's runs are filtered out, not even for one thread_id. A server
 * that leaves the cluster gives its finished runs to another
 * (stategraph_router.adopt_runs), which has them as well until the switch:
 * a run listed by two servers is listed once.
 */
CREATE FUNCTION stategraph_router.runs_of(parts integer[], thread text, st text)
    RETURNS SETOF @extschema@.sg_run LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; SPLIT parts; RUN ON parts;
    SELECT r.* FROM sg_runs(thread, st) r; $$;

CREATE FUNCTION @extschema@.sg_runs(thread_id text DEFAULT NULL, status text DEFAULT NULL)
    RETURNS SETOF @extschema@.sg_run LANGUAGE sql AS $$
    SELECT DISTINCT ON (r.created_at, r.run_id) r.*
    FROM stategraph_router.runs_of(stategraph_router.server_partitions(), thread_id, status) r
    ORDER BY r.created_at, r.run_id
$$;

/*
 * sg_wait and sg_cancel name a run, not a thread: a run id does not say
 * where it lives. Every server is asked once, in one parallel round, and
 * only the one that holds the run (a primary key lookup) makes the call;
 * the others answer at once with no row. A NULL run_id goes to every server as is, to
 * get sg_wait's own error.
 */
CREATE FUNCTION stategraph_router.wait_all(parts integer[], id uuid, tmo interval) RETURNS SETOF @extschema@.sg_run
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; SPLIT parts; RUN ON parts;
    SELECT w.* FROM (SELECT id AS run_id WHERE id IS NULL
                     OR EXISTS (SELECT 1 FROM stategraph.runs r WHERE r.run_id OPERATOR(pg_catalog.=) id)) x,
                    LATERAL sg_wait(x.run_id, tmo) w; $$;

CREATE FUNCTION stategraph_router.cancel_all(parts integer[], id uuid, act text, OUT cancelled boolean) RETURNS SETOF boolean
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; SPLIT parts; RUN ON parts;
    SELECT sg_cancel(x.run_id, act) AS cancelled
    FROM (SELECT id AS run_id WHERE id IS NULL
          OR EXISTS (SELECT 1 FROM stategraph.runs r WHERE r.run_id OPERATOR(pg_catalog.=) id)) x; $$;

/* The error of a run that no server holds (as a shard words it). */
CREATE FUNCTION stategraph_router.no_such_run(run_id uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'run % does not exist', run_id
        USING ERRCODE = 'undefined_object',
              HINT = 'sg_runs() lists the runs you can see; finished runs expire after stategraph.run_retention.';
END $$;

/*
 * A server that does not answer fails a PL/Proxy call to every server
 * (SQLSTATE XX000, naming it). The calls that name a run or a task ask
 * every server only to find the one that holds it: when that round fails,
 * each server is asked alone, and the error of one that did not answer is
 * raised only if no other server holds the run or task, so that runs and
 * tasks of the other servers' threads go on while one server is down.
 */
CREATE FUNCTION stategraph_router.run_on(part integer, id uuid) RETURNS boolean
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; RUN ON part;
    SELECT EXISTS (SELECT 1 FROM stategraph.runs r WHERE r.run_id OPERATOR(pg_catalog.=) id) AS run_on; $$;

/* The partition (as an array, for SPLIT) of the server that holds a run, asking the servers one by one; NULL: none holds it. */
CREATE FUNCTION stategraph_router.run_holder(run_id uuid) RETURNS integer[] LANGUAGE plpgsql AS $$
DECLARE
    p integer;
    down pg_catalog.text;
BEGIN
    FOREACH p IN ARRAY stategraph_router.server_partitions() LOOP
        BEGIN
            IF stategraph_router.run_on(p, run_id) THEN
                RETURN ARRAY[p];
            END IF;
        EXCEPTION WHEN internal_error THEN
            down := SQLERRM;
        END;
    END LOOP;
    IF down IS NULL THEN
        RETURN NULL;        -- on no server: the caller asks one for its own error
    END IF;
    RAISE EXCEPTION '%', down USING ERRCODE = 'internal_error',
        HINT = 'The run is on none of the servers that answered.';
END $$;

/*
 * sg_wait and sg_cancel of a run that no server holds: made on one server
 * anyway (where it is not either), for that server's own error. It checks
 * the other arguments first (a negative timeout, an unknown action: 22023,
 * as on one server); when it only says the run does not exist (42704), the
 * router says so in its own words (stategraph_router.no_such_run).
 */
CREATE FUNCTION stategraph_router.wait_on(part integer, id uuid, tmo interval) RETURNS SETOF @extschema@.sg_run
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; RUN ON part;
    SELECT w.* FROM sg_wait(id, tmo) w; $$;

CREATE FUNCTION stategraph_router.cancel_on(part integer, id uuid, act text, OUT cancelled boolean) RETURNS SETOF boolean
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; RUN ON part;
    SELECT sg_cancel(id, act) AS cancelled; $$;

CREATE FUNCTION @extschema@.sg_wait(run_id uuid, timeout interval DEFAULT NULL) RETURNS @extschema@.sg_run
    LANGUAGE plpgsql AS $$
DECLARE
    r @extschema@.sg_run;
    holder integer[];
BEGIN
    BEGIN
        SELECT * INTO r FROM stategraph_router.wait_all(stategraph_router.server_partitions(), run_id, timeout) LIMIT 1;
        IF FOUND THEN
            RETURN r;
        END IF;
    EXCEPTION WHEN internal_error THEN
        NULL;       -- a server did not answer
    END;
    -- on none of them, or a server did not answer: ask them one by one
    holder := stategraph_router.run_holder(run_id);
    IF holder IS NULL THEN
        BEGIN
            SELECT * INTO r FROM stategraph_router.wait_on(stategraph_router.asked_partition(), run_id, timeout) LIMIT 1;
            IF FOUND THEN
                RETURN r;       -- submitted there since
            END IF;
        EXCEPTION WHEN undefined_object THEN
            NULL;               -- the run is not there either: the router's own words below
        END;
        PERFORM stategraph_router.no_such_run(run_id);
    END IF;
    SELECT * INTO r FROM stategraph_router.wait_all(holder, run_id, timeout) LIMIT 1;
    RETURN r;
END $$;

CREATE FUNCTION @extschema@.sg_cancel(run_id uuid, action text DEFAULT 'interrupt') RETURNS boolean
    LANGUAGE plpgsql AS $$
DECLARE
    c boolean;
    holder integer[];
BEGIN
    BEGIN
        SELECT x.cancelled INTO c FROM stategraph_router.cancel_all(stategraph_router.server_partitions(), run_id, action) x LIMIT 1;
        IF FOUND THEN
            RETURN c;
        END IF;
    EXCEPTION WHEN internal_error THEN
        NULL;       -- a server did not answer
    END;
    -- on none of them, or a server did not answer: ask them one by one
    holder := stategraph_router.run_holder(run_id);
    IF holder IS NULL THEN
        BEGIN
            SELECT x.cancelled INTO c FROM stategraph_router.cancel_on(stategraph_router.asked_partition(), run_id, action) x LIMIT 1;
            IF FOUND THEN
                RETURN c;       -- submitted there since
            END IF;
        EXCEPTION WHEN undefined_object THEN
            NULL;               -- the run is not there either: the router's own words below
        END;
        PERFORM stategraph_router.no_such_run(run_id);
    END IF;
    SELECT x.cancelled INTO c FROM stategraph_router.cancel_all(holder, run_id, action) x LIMIT 1;
    RETURN c;
END $$;

/* Retention is part of a graph's definition: on every server (stategraph_router.check_definitions compares it). */
CREATE FUNCTION stategraph_router.all_set_retention(parts integer[], graph text, ttl interval, strategy text, keep_last integer)
    RETURNS SETOF integer
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; SPLIT parts; RUN ON parts;
    SELECT 1 FROM sg_set_retention(graph, ttl, strategy, keep_last); $$;
CREATE FUNCTION @extschema@.sg_set_retention(graph text, ttl interval, strategy text DEFAULT 'delete',
                                             keep_last integer DEFAULT NULL) RETURNS void LANGUAGE sql
    BEGIN ATOMIC SELECT pg_catalog.count(*) FROM stategraph_router.all_set_retention(stategraph_router.server_partitions(), graph, ttl, strategy, keep_last); END;

-- ===========================================================================
-- External tasks (RUNTIME.md): a queue spans every server
-- ===========================================================================

CREATE TYPE @extschema@.sg_task AS (
    task_id          text,
    token            uuid,
    queue            text,
    graph            text,
    thread_id        text,
    node             text,
    step             integer,
    attempt          integer,
    input            jsonb,
    config           jsonb,
    resume           jsonb,
    lease_expires_at timestamptz
);

CREATE TYPE @extschema@.sg_task_status AS (
    task_id          text,
    queue            text,
    graph            text,
    thread_id        text,
    node             text,
    step             integer,
    status           text,
    attempt          integer,
    max_attempts     integer,
    worker           text,
    visible_at       timestamptz,
    lease_expires_at timestamptz,
    result           jsonb,
    error            jsonb,
    created_at       timestamptz,
    updated_at       timestamptz,
    finished_at      timestamptz
);

CREATE FUNCTION stategraph_router.all_add_external_node(parts integer[], graph text, node text, queue text, retry jsonb, lease interval)
    RETURNS SETOF integer
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; SPLIT parts; RUN ON parts;
    SELECT 1 FROM sg_add_external_node(graph, node, queue, retry, lease); $$;
CREATE FUNCTION @extschema@.sg_add_external_node(graph text, node text, queue text DEFAULT 'default',
                                                 retry jsonb DEFAULT NULL, lease interval DEFAULT '60 seconds')
    RETURNS void LANGUAGE sql
    BEGIN ATOMIC SELECT pg_catalog.count(*) FROM stategraph_router.all_add_external_node(stategraph_router.server_partitions(), graph, node, queue, retry, lease); END;

/*
 * The tasks of every server, once each, as runs_of: a task stays on the
 * server its thread was on when it was made (moving a partition moves
 * threads, not their tasks, and refuses a partition with a task still
 * out). Kept only where its thread's partition is served, a finished task
 * of a moved thread vanished from sg_tasks with the move, though it stays
 * until stategraph.run_retention, as its run does in sg_runs (TAP 216).
 * A server leaving the cluster gives its finished tasks to another
 * (stategraph_router.adopt_tasks), which has them as well until the
 * switch: a task listed by two servers is listed once (TAP 289).
 */
CREATE FUNCTION stategraph_router.tasks_of(parts integer[], queue text, status text)
    RETURNS SETOF @extschema@.sg_task_status LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; SPLIT parts; RUN ON parts;
    SELECT t.* FROM sg_tasks(queue, status) t; $$;

CREATE FUNCTION @extschema@.sg_tasks(queue text DEFAULT NULL, status text DEFAULT NULL)
    RETURNS SETOF @extschema@.sg_task_status LANGUAGE sql AS $$
    SELECT DISTINCT ON (t.created_at, t.task_id) t.*
    FROM stategraph_router.tasks_of(stategraph_router.server_partitions(), queue, status) t
    ORDER BY t.created_at, t.task_id
$$;

CREATE FUNCTION stategraph_router.claim_on(part integer, queue text, worker text, n integer, lease interval)
    RETURNS SETOF @extschema@.sg_task LANGUAGE plproxy AS $$
    CLUSTER 'stategraph'; RUN ON part; SELECT * FROM sg_claim(queue, worker, n, lease, '0'::pg_catalog.interval); $$;

/*
 * sg_claim: up to n tasks of a queue, taken from the servers in turn
 * (starting at a random one, so that workers spread). With wait, polls the
 * servers every 50 ms until work is there or the time is up (a shard's own
 * wake-up on commit does not reach the router).
 */
CREATE FUNCTION @extschema@.sg_claim(queue text, worker text, n integer DEFAULT 1,
                                     lease interval DEFAULT NULL, wait interval DEFAULT '0')
    RETURNS SETOF @extschema@.sg_task LANGUAGE plpgsql AS $$
DECLARE
    -- (not a server reached only through a partition being moved: below)
    parts integer[] := ARRAY(SELECT p.partition FROM stategraph_router.partitions() p
                             WHERE p.partition OPERATOR(pg_catalog.=) ANY (stategraph_router.server_partitions())
                               AND stategraph_router.unfrozen(p.connstr) OPERATOR(pg_catalog.=) p.connstr
                             ORDER BY 1);
    k integer := COALESCE(pg_catalog.array_length(parts, 1), 0);   -- 0: every server is being moved
    first integer := pg_catalog.floor(pg_catalog.random() OPERATOR(pg_catalog.*) k)::integer;
    deadline pg_catalog.timestamptz;
    got integer := 0;
    i integer;
    t @extschema@.sg_task;
    down pg_catalog.text;
BEGIN
    -- what the servers check of n and wait, which the loop below reads first (lease and NULLs: the servers)
    IF n OPERATOR(pg_catalog.<=) 0 THEN
        RAISE EXCEPTION 'n must be positive, not %', n
            USING ERRCODE = 'invalid_parameter_value', HINT = 'n is how many tasks a worker takes at most.';
    END IF;
    IF wait IS NULL THEN
        RAISE EXCEPTION 'wait must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF wait OPERATOR(pg_catalog.<) interval '0' THEN
        RAISE EXCEPTION 'wait must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF wait OPERATOR(pg_catalog.>) interval '2147483.647 seconds' THEN     -- 2^31 - 1 ms, as the servers
        RAISE EXCEPTION 'wait must be at most 24 days' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A worker that waits longer calls sg_claim again.';
    END IF;
    deadline := pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) wait;
    LOOP
        FOR i IN 0 .. k OPERATOR(pg_catalog.-) 1 LOOP
            EXIT WHEN got OPERATOR(pg_catalog.>=) n;
            BEGIN
                FOR t IN SELECT * FROM stategraph_router.claim_on(parts[1 OPERATOR(pg_catalog.+) ((first OPERATOR(pg_catalog.+) i) OPERATOR(pg_catalog.%) k)],
                                                                  queue, worker, n OPERATOR(pg_catalog.-) got, lease) LOOP
                    got := got OPERATOR(pg_catalog.+) 1;
                    RETURN NEXT t;
                END LOOP;
            EXCEPTION WHEN internal_error THEN
                down := SQLERRM;    -- a server that does not answer: the others' tasks still go out
            WHEN read_only_sql_transaction THEN
                /*
                 * A server reached through the frozen string of a partition
                 * being moved, its only one (server_partitions), which is
                 * left out of parts above, or frozen since. A move refuses a
                 * partition with tasks out, so it has none to claim; the
                 * 25006 failed every claim of every worker for the time of
                 * the move, the tasks already claimed from the servers
                 * before it left claimed and handed to no one until their
                 * lease ran out (TAP 172). Left out, it is not connected to
                 * again at every poll of a claim that waits (PL/Proxy drops
                 * a connection after an error).
                 */
                NULL;
            END;
        END LOOP;
        EXIT WHEN got OPERATOR(pg_catalog.>) 0 OR pg_catalog.clock_timestamp() OPERATOR(pg_catalog.>=) deadline;
        PERFORM pg_catalog.pg_sleep(0.05);
    END LOOP;
    IF got OPERATOR(pg_catalog.=) 0 AND down IS NOT NULL THEN
        RAISE EXCEPTION '%', down USING ERRCODE = 'internal_error',
            HINT = 'The servers that answered have no task to claim.';
    END IF;
END $$;

/*
 * The thread of a task and the server that holds the task (its partition
 * of server_partitions), asked of every server at once (a task id does not
 * say where it lives; a primary key lookup there).
 */
CREATE FUNCTION stategraph_router.task_threads(parts integer[], id text, OUT part integer, OUT thread_id text)
    RETURNS SETOF record LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; SPLIT parts; RUN ON parts;
    SELECT (parts)[1] AS part, t.thread_id AS thread_id FROM stategraph.tasks t WHERE t.task_id OPERATOR(pg_catalog.=) id; $$;

/*
 * The same of one server, for when a server is down.
 */
CREATE FUNCTION stategraph_router.task_thread_on(part integer, id text, OUT thread_id text) RETURNS SETOF text
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; RUN ON part;
    SELECT t.thread_id AS thread_id FROM stategraph.tasks t WHERE t.task_id OPERATOR(pg_catalog.=) id; $$;

/*
 * The hash a task-scoped call goes by, for a task of thread th found on the
 * server of partition part: its thread's, so that a partition being moved
 * refuses the call as any write to it (25006). A task stays on the server
 * it was made on when its thread's partition moves (a move refuses a
 * partition with a task still out, so such a task is finished): its
 * thread's hash then reaches the new server, which said the task did not
 * exist (42704) to a worker's retry of sg_complete, where the task's own
 * server returns as for a completed task (TAP 216). Such a call goes to
 * the task's server.
 */
CREATE FUNCTION stategraph_router.task_route(part integer, th text) RETURNS integer LANGUAGE sql VOLATILE
    RETURN CASE WHEN th IS NOT NULL AND part IS NOT NULL
                 AND (SELECT stategraph_router.unfrozen(p.connstr) FROM stategraph_router.partitions() p
                      WHERE p.partition OPERATOR(pg_catalog.=) stategraph_router.partition_of(th))
                     OPERATOR(pg_catalog.<>)
                     (SELECT stategraph_router.unfrozen(p.connstr) FROM stategraph_router.partitions() p
                      WHERE p.partition OPERATOR(pg_catalog.=) part)
                THEN part ELSE stategraph_router.thread_hash(th) END;

/*
 * The hash a task-scoped call is routed by (task_route; a random one for
 * an unknown task, which the shard then reports). Looked up before the
 * call: PL/Proxy does not nest calls to one cluster. (A server that does
 * not answer: each is asked alone, as sg_wait does.)
 */
CREATE FUNCTION stategraph_router.task_hash(task_id text) RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    th pg_catalog.text;
    p integer;
    down pg_catalog.text;
    hit record;
BEGIN
    BEGIN
        SELECT t.part, t.thread_id INTO hit
        FROM stategraph_router.task_threads(stategraph_router.server_partitions(), task_id) t LIMIT 1;
        RETURN stategraph_router.task_route(hit.part, hit.thread_id);
    EXCEPTION WHEN internal_error THEN
        down := SQLERRM;
    END;
    FOREACH p IN ARRAY stategraph_router.server_partitions() LOOP
        BEGIN
            SELECT t.thread_id INTO th FROM stategraph_router.task_thread_on(p, task_id) t LIMIT 1;
            IF th IS NOT NULL THEN
                RETURN stategraph_router.task_route(p, th);
            END IF;
        EXCEPTION WHEN internal_error THEN
            down := SQLERRM;
        END;
    END LOOP;
    RAISE EXCEPTION '%', down USING ERRCODE = 'internal_error',
        HINT = 'The task is on none of the servers that answered.';
END $$;

CREATE FUNCTION stategraph_router.heartbeat_on(h integer, task_id text, token uuid, extend interval) RETURNS boolean
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; RUN ON h; SELECT sg_heartbeat(task_id, token, extend); $$;
CREATE FUNCTION stategraph_router.complete_on(h integer, task_id text, token uuid, update jsonb) RETURNS integer
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; RUN ON h; SELECT 1 FROM sg_complete(task_id, token, update); $$;
CREATE FUNCTION stategraph_router.fail_on(h integer, task_id text, token uuid, error jsonb, retry boolean) RETURNS integer
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; RUN ON h; SELECT 1 FROM sg_fail(task_id, token, error, retry); $$;
CREATE FUNCTION stategraph_router.interrupt_task_on(h integer, task_id text, token uuid, value jsonb) RETURNS integer
    LANGUAGE plproxy AS $$ CLUSTER 'stategraph'; RUN ON h; SELECT 1 FROM sg_interrupt_task(task_id, token, value); $$;

CREATE FUNCTION @extschema@.sg_heartbeat(task_id text, token uuid, extend interval DEFAULT NULL) RETURNS boolean
    LANGUAGE sql
    RETURN stategraph_router.heartbeat_on(stategraph_router.task_hash(task_id), task_id, token, extend);
CREATE FUNCTION @extschema@.sg_complete(task_id text, token uuid, update jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stategraph_router.complete_on(stategraph_router.task_hash(task_id), task_id, token, update);
END $$;
CREATE FUNCTION @extschema@.sg_fail(task_id text, token uuid, error jsonb, retry boolean DEFAULT true) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stategraph_router.fail_on(stategraph_router.task_hash(task_id), task_id, token, error, retry);
END $$;
CREATE FUNCTION @extschema@.sg_interrupt_task(task_id text, token uuid, value jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stategraph_router.interrupt_task_on(stategraph_router.task_hash(task_id), task_id, token, value);
END $$;

-- ===========================================================================
-- Moving a partition to another server (rebalancing)
-- ===========================================================================

/* The threads of partition part (of n) on the server at connstr, LangGraph.js threads too, in thread_id order. */
CREATE FUNCTION stategraph_router.threads_at(connstr text, part integer, n integer, modular boolean)
    RETURNS SETOF text LANGUAGE plproxy AS $$
    CONNECT connstr;
    SELECT t.thread_id FROM (SELECT thread_id FROM stategraph.threads
                             UNION SELECT thread_id FROM stategraph.lg_checkpoints) t
    WHERE stategraph.thread_partition(t.thread_id, n, modular) OPERATOR(pg_catalog.=) part
    ORDER BY t.thread_id; $$;

CREATE FUNCTION stategraph_router.export_at(connstr text, thread_id text) RETURNS jsonb LANGUAGE plproxy AS $$
    CONNECT connstr; SELECT sg_export_thread(thread_id); $$;

CREATE FUNCTION stategraph_router.import_at(connstr text, data jsonb) RETURNS text LANGUAGE plproxy AS $$
    CONNECT connstr; SELECT sg_import_thread(data); $$;

/* The newest checkpoint of a thread on the server at connstr (of a LangGraph.js thread: of all its namespaces); NULL: none. */
CREATE FUNCTION stategraph_router.head_at(connstr text, thread_id text) RETURNS uuid LANGUAGE plproxy AS $$
    CONNECT connstr;
    SELECT COALESCE((SELECT t.head FROM stategraph.threads t WHERE t.thread_id OPERATOR(pg_catalog.=) thread_id),
                    (SELECT c.checkpoint_id FROM stategraph.lg_checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) thread_id
                     ORDER BY c.checkpoint_id DESC LIMIT 1)) AS head; $$;

/*
 * What a thread is on the server at connstr, to tell whether a copy is
 * still the original: its newest checkpoint, how many checkpoints it
 * has (a LangGraph.js thread's, of all its namespaces) and its role; NULL only when
 * there is no such thread. A retention sweep or an sg_prune changes the count (a prune
 * keeps the newest checkpoints) or removes the thread. Without the role, a
 * thread of another role on the target, made there by importing a doctored
 * export of the original (its thread id, head id and count), passed for the
 * copy, and step 5 deleted the original (TAP 328).
 */
CREATE FUNCTION stategraph_router.shape_at(connstr text, thread_id text) RETURNS text LANGUAGE plproxy AS $$
    CONNECT connstr;
    SELECT COALESCE((SELECT COALESCE(t.head::pg_catalog.text, '') OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) (SELECT pg_catalog.count(*) FROM stategraph.checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) t.thread_id)::pg_catalog.text
                            OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) t.owner::pg_catalog.text
                     FROM stategraph.threads t WHERE t.thread_id OPERATOR(pg_catalog.=) thread_id),
                    (SELECT c.checkpoint_id FROM stategraph.lg_checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) thread_id
                     ORDER BY c.checkpoint_id DESC LIMIT 1)::pg_catalog.text
                    OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) (SELECT pg_catalog.count(*) FROM stategraph.lg_checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) thread_id)::pg_catalog.text
                    OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) (SELECT pg_catalog.min(c.owner) FROM stategraph.lg_checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) thread_id)) AS shape; $$;

/* shape_at of every thread of partition part (of n) on the server at connstr, in one call. */
CREATE FUNCTION stategraph_router.shapes_at(connstr text, part integer, n integer, modular boolean,
                                            OUT thread_id text, OUT shape text)
    RETURNS SETOF record LANGUAGE plproxy AS $$
    CONNECT connstr;
    SELECT t.thread_id, COALESCE(t.head::pg_catalog.text, '') OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) (SELECT pg_catalog.count(*) FROM stategraph.checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) t.thread_id)::pg_catalog.text
                        OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) t.owner::pg_catalog.text AS shape
    FROM stategraph.threads t
    WHERE stategraph.thread_partition(t.thread_id, n, modular) OPERATOR(pg_catalog.=) part
    UNION ALL
    SELECT c.thread_id, (pg_catalog.array_agg(c.checkpoint_id ORDER BY c.checkpoint_id DESC))[1]::pg_catalog.text OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) pg_catalog.count(*)::pg_catalog.text
                        OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) pg_catalog.min(c.owner)
    FROM stategraph.lg_checkpoints c
    WHERE stategraph.thread_partition(c.thread_id, n, modular) OPERATOR(pg_catalog.=) part
      AND NOT EXISTS (SELECT 1 FROM stategraph.threads x WHERE x.thread_id OPERATOR(pg_catalog.=) c.thread_id)
    GROUP BY c.thread_id; $$;

/* Delete one thread on the server at connstr (sg_delete_thread: a LangGraph.js thread too); returns 1. */
CREATE FUNCTION stategraph_router.delete_thread_at(connstr text, thread_id text) RETURNS integer LANGUAGE plproxy AS $$
    CONNECT connstr; SELECT 1 AS deleted FROM sg_delete_thread(thread_id); $$;

/*
 * Background runs not finished and external tasks still out (queued,
 * claimed, interrupted or failed: a resume queues them again) of the
 * threads of partition part (of n) on the server at connstr. An export
 * carries a thread's checkpoints, not its runs or tasks: a thread with
 * either is not moved.
 */
CREATE FUNCTION stategraph_router.busy_at(connstr text, part integer, n integer, modular boolean,
                                          OUT runs bigint, OUT tasks bigint)
    RETURNS record LANGUAGE plproxy AS $$
    CONNECT connstr;
    SELECT (SELECT pg_catalog.count(*) FROM stategraph.runs r
            WHERE r.status::pg_catalog.text OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running', 'waiting']::pg_catalog.text[])
              AND stategraph.thread_partition(r.thread_id, n, modular) OPERATOR(pg_catalog.=) part) AS runs,
           (SELECT pg_catalog.count(*) FROM stategraph.tasks t
            WHERE t.status::pg_catalog.text OPERATOR(pg_catalog.=) ANY (ARRAY['queued', 'claimed', 'interrupted', 'failed']::pg_catalog.text[])
              AND stategraph.thread_partition(t.thread_id, n, modular) OPERATOR(pg_catalog.=) part) AS tasks; $$;

/* Delete the threads of partition part (of n) on the server at connstr; returns how many. */
CREATE FUNCTION stategraph_router.delete_at(connstr text, part integer, n integer, modular boolean)
    RETURNS bigint LANGUAGE plproxy AS $$
    CONNECT connstr;
    SELECT pg_catalog.count(*) FROM (SELECT thread_id FROM stategraph.threads
                                     UNION SELECT thread_id FROM stategraph.lg_checkpoints) t, LATERAL sg_delete_thread(t.thread_id) d
    WHERE stategraph.thread_partition(t.thread_id, n, modular) OPERATOR(pg_catalog.=) part; $$;

/*
 * The finished runs of the server at connstr, page_size of them after run
 * id after_id (NULL: from the first), as a jsonb array of their rows
 * (NULL: no more), and their adoption by another server
 * (stategraph.adopt_runs): the move of the last partition of a server
 * gives them to the server that takes it (stategraph_router.adopt_runs).
 */
CREATE FUNCTION stategraph_router.finished_runs_at(connstr text, after_id uuid, page_size integer) RETURNS jsonb
    LANGUAGE plproxy AS $$
    CONNECT connstr;
    SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(r) ORDER BY r.run_id) AS runs
    FROM (SELECT * FROM stategraph.runs x
          WHERE x.status::pg_catalog.text OPERATOR(pg_catalog.<>) ALL (ARRAY['pending', 'running', 'waiting']::pg_catalog.text[])
            AND x.run_id OPERATOR(pg_catalog.>) COALESCE(after_id, '00000000-0000-0000-0000-000000000000'::pg_catalog.uuid)
          ORDER BY x.run_id LIMIT page_size) r; $$;

CREATE FUNCTION stategraph_router.adopt_runs_at(connstr text, data jsonb) RETURNS bigint LANGUAGE plproxy AS $$
    CONNECT connstr; SELECT stategraph.adopt_runs(data) AS adopted; $$;

/*
 * The finished external tasks (completed, cancelled) of the server at
 * connstr, page_size of them after task id after_id, as finished_runs_at,
 * and their adoption by another server (stategraph.adopt_tasks).
 */
CREATE FUNCTION stategraph_router.finished_tasks_at(connstr text, after_id text, page_size integer) RETURNS jsonb
    LANGUAGE plproxy AS $$
    CONNECT connstr;
    SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t) ORDER BY t.task_id) AS tasks
    FROM (SELECT * FROM stategraph.tasks x
          WHERE x.status::pg_catalog.text OPERATOR(pg_catalog.=) ANY (ARRAY['completed', 'cancelled']::pg_catalog.text[])
            AND (after_id IS NULL OR x.task_id OPERATOR(pg_catalog.>) after_id)
          ORDER BY x.task_id LIMIT page_size) t; $$;

CREATE FUNCTION stategraph_router.adopt_tasks_at(connstr text, data jsonb) RETURNS bigint LANGUAGE plproxy AS $$
    CONNECT connstr; SELECT stategraph.adopt_tasks(data) AS adopted; $$;

/*
 * The paging of adopt_runs and adopt_tasks (below), one loop for both: the
 * finished runs (what = 'runs') or external tasks ('tasks') of the server
 * at old, a page of 1000 after the last one given (finished_runs_at,
 * finished_tasks_at), each page adopted by the server at connstr
 * (adopt_runs_at, adopt_tasks_at), until old has none left. Returns how
 * many were adopted.
 */
CREATE FUNCTION stategraph_router.adopt_finished(what text, old text, connstr text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    -- (every type and operator pg_catalog's: the body is parsed with the
    -- caller's search path, which the database's owner may set to
    -- public, pg_catalog: TAP 315)
    page pg_catalog.jsonb;
    last pg_catalog.text;  -- the id of the last row given (NULL: none yet)
    runs boolean := what OPERATOR(pg_catalog.=) 'runs';
    n bigint;
    adopted bigint := 0;
BEGIN
    IF NOT runs AND what OPERATOR(pg_catalog.<>) 'tasks' OR what IS NULL THEN
        RAISE EXCEPTION 'what must be ''runs'' or ''tasks'', not %', pg_catalog.quote_nullable(what)
            USING ERRCODE = 'invalid_parameter_value';  -- (an internal caller's mistake)
    END IF;
    LOOP
        IF runs THEN
            page := stategraph_router.finished_runs_at(old, last::pg_catalog.uuid, 1000);
        ELSE
            page := stategraph_router.finished_tasks_at(old, last, 1000);
        END IF;
        EXIT WHEN page IS NULL;
        IF runs THEN
            n := stategraph_router.adopt_runs_at(connstr, page);
            last := page OPERATOR(pg_catalog.->) -1 OPERATOR(pg_catalog.->>) 'run_id';
        ELSE
            n := stategraph_router.adopt_tasks_at(connstr, page);
            last := page OPERATOR(pg_catalog.->) -1 OPERATOR(pg_catalog.->>) 'task_id';
        END IF;
        adopted := adopted OPERATOR(pg_catalog.+) n;
    END LOOP;
    RETURN adopted;
END $$;

/*
 * A server that leaves the cluster (the last partition it served moves to
 * another) is asked no more: its finished runs, and the idempotency keys
 * they hold, were lost to the router, so that a client's retry of a
 * submit with such a key queued its run again on the thread's new server
 * (the thread ran twice), and sg_wait said the run did not exist (TAP 237,
 * 272). They go to the server the partition goes to, a page at a time;
 * runs it has already are passed over (a move called again). Runs not
 * finished of the partition stop the move before (busy_at); those of
 * other threads, which only a write to the server other than through the
 * router makes, stay there. Returns how many were adopted.
 */
CREATE FUNCTION stategraph_router.adopt_runs(old text, connstr text) RETURNS bigint LANGUAGE sql AS $$
    SELECT stategraph_router.adopt_finished('runs', old, connstr) $$;

/*
 * The same for the finished external tasks of the server leaving the
 * cluster: they stayed there, and a worker's retry of sg_complete of a
 * task it had completed (its reply lost) found no task anywhere (42704),
 * where the router answered it as the same completion again before the
 * server left (TAP 216, 289). Returns how many were adopted.
 */
CREATE FUNCTION stategraph_router.adopt_tasks(old text, connstr text) RETURNS bigint LANGUAGE sql AS $$
    SELECT stategraph_router.adopt_finished('tasks', old, connstr) $$;

/*
 * Bound the lock waits of this session's own connection to the server at
 * connstr (the move's: PL/Proxy keeps one per connection string, for the
 * session): a move's import or delete waits for a thread's lock there, and
 * a session that holds one for ever (a client left in a transaction, a
 * backend whose client is gone) would hold the move for ever too, the
 * partition frozen. Past a minute (stategraph_router.lock_timeout), the
 * wait is an error (55P03) naming the server's database; calling the move
 * again goes on.
 */
CREATE FUNCTION stategraph_router.bound_at(connstr text, wait_bound text) RETURNS text LANGUAGE plproxy AS $$
    CONNECT connstr; SELECT pg_catalog.set_config('lock_timeout', wait_bound, false) AS lock_timeout; $$;

/* The bound of bound_at: setting stategraph_router.lock_timeout of the session that moves (SET), or a minute. */
CREATE FUNCTION stategraph_router.move_lock_timeout() RETURNS text LANGUAGE sql STABLE
    RETURN COALESCE(NULLIF(pg_catalog.current_setting('stategraph_router.lock_timeout', true), ''), '1min');

/*
 * The hold of partition part (of n) on its old server at connstr, through
 * this session's own connection there (stategraph.hold_partition: a
 * session-level lock that the server's retention sweeps respect): taken
 * before the move's last check of its copies, checked just before the
 * switch, let go after it. A connection that ends lets go with it.
 */
CREATE FUNCTION stategraph_router.hold_at(connstr text, part integer, n integer, modular boolean) RETURNS bigint
    LANGUAGE plproxy AS $$
    CONNECT connstr; SELECT stategraph.hold_partition(part, n, modular) AS threads; $$;

CREATE FUNCTION stategraph_router.held_at(connstr text, part integer) RETURNS boolean LANGUAGE plproxy AS $$
    CONNECT connstr; SELECT stategraph.partition_held_here(part) AS held; $$;

CREATE FUNCTION stategraph_router.release_at(connstr text, part integer) RETURNS boolean LANGUAGE plproxy AS $$
    CONNECT connstr; SELECT stategraph.release_partition(part) AS held; $$;

/*
 * Which database the connection string reaches: its server's system
 * identifier and the database's oid. Two connection strings written
 * differently ('host=a dbname=x', 'dbname=x host=a port=5432') may reach
 * the same database, which a move must not copy onto itself and then delete.
 */
CREATE FUNCTION stategraph_router.identity_at(connstr text) RETURNS text LANGUAGE plproxy AS $$
    CONNECT connstr;
    SELECT (SELECT s.system_identifier FROM pg_catalog.pg_control_system() s)::pg_catalog.text OPERATOR(pg_catalog.||) '/'
           OPERATOR(pg_catalog.||) (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())::pg_catalog.text AS identity; $$;

/*
 * The partitions switched to a new server whose old server still holds
 * copies of their threads (step 5 of move_partition not done yet): the next
 * move_partition of the partition deletes them first.
 */
CREATE TABLE stategraph_router.pending_deletes (
    partition integer PRIMARY KEY,
    connstr   text NOT NULL         -- the old server
);
SELECT pg_catalog.pg_extension_config_dump('stategraph_router.pending_deletes', '');

/*
 * The partitions whose move stopped while copying (steps 2-3), and the server
 * it copied to: a later move of the partition to another server deletes
 * those partial copies first, which nothing routes to or lists.
 */
CREATE TABLE stategraph_router.pending_copies (
    partition integer PRIMARY KEY,
    connstr   text NOT NULL         -- the server copied to
);
SELECT pg_catalog.pg_extension_config_dump('stategraph_router.pending_copies', '');

/*
 * The digest of every graph definition on the server at connstr, each
 * graph's made by stategraph.graph_digest as stategraph_router.definitions
 * makes it, so that a move refuses a server that check_definitions would
 * list once it serves the partition (a move compared channels and compiled
 * specs only, and a server whose node function did something else, or
 * whose retention expired threads after a second, took the partition:
 * TAP 170).
 */
CREATE FUNCTION stategraph_router.definitions_at(connstr text) RETURNS text LANGUAGE plproxy AS $$
    CONNECT connstr;
    SELECT pg_catalog.md5(COALESCE(pg_catalog.string_agg(g.graph OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) stategraph.graph_digest(g.graph), ','
                                                         ORDER BY g.graph), '')) AS digest
    FROM stategraph.graphs g; $$;

/* The database encoding of the server at connstr. */
CREATE FUNCTION stategraph_router.encoding_at(connstr text) RETURNS text LANGUAGE plproxy AS $$
    CONNECT connstr; SELECT pg_catalog.getdatabaseencoding() AS encoding; $$;

/*
 * The other client transactions of this router database that began before
 * since (autovacuum makes no calls), as "process (state, since when): query".
 */
CREATE FUNCTION stategraph_router.calls_before(since timestamptz) RETURNS SETOF text LANGUAGE sql VOLATILE AS $$
    SELECT pg_catalog.format('%s (%s since %s): %s', a.pid, a.state, a.xact_start, pg_catalog.left(pg_catalog.btrim(pg_catalog.regexp_replace(a.query, '\s+', ' ', 'g')), 200))
    FROM pg_catalog.pg_stat_activity a
    WHERE a.datid OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                          WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
      AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
      AND a.backend_type OPERATOR(pg_catalog.=) 'client backend'   -- not autovacuum's
      AND a.xact_start OPERATOR(pg_catalog.<) since
    ORDER BY a.pid
$$;

/* Wait until every other client transaction of this router database that began before since has ended (at most timeout). */
CREATE FUNCTION stategraph_router.wait_for_calls(since timestamptz, timeout interval DEFAULT '5 minutes')
    RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    WHILE EXISTS (SELECT 1 FROM stategraph_router.calls_before(since)) LOOP
        IF pg_catalog.clock_timestamp() OPERATOR(pg_catalog.>) (since OPERATOR(pg_catalog.+) timeout) THEN
            RAISE EXCEPTION 'transactions of this router that began before % are still open', since
                USING ERRCODE = 'lock_not_available',
                      DETAIL = pg_catalog.format('Open: %s.', (SELECT pg_catalog.string_agg(c, '; ') FROM stategraph_router.calls_before(since) c)),
                      HINT = 'End them (see pg_stat_activity), then call stategraph_router.move_partition again.';
        END IF;
        PERFORM pg_catalog.pg_sleep(0.01);
        PERFORM pg_catalog.pg_stat_clear_snapshot();   -- pg_stat_activity is otherwise read once per transaction
    END LOOP;
END $$;

/*
 * Step 3b of move_partition, once every thread of partition part (of n) is
 * copied from the server at old (frozen) to the one at connstr: each copy
 * is checked against its original again (shapes_at: one call to each
 * server). The old server's own retention
 * sweep (or an sg_prune through the router, which reaches that server
 * through another partition) does not go through the frozen partition,
 * and may have deleted or pruned a thread since it was copied: a copy whose
 * original is gone is deleted, one whose original changed (pruned) is
 * copied again, so that the switch does not bring back what retention
 * removed. The copies checked are those of the threads this move listed
 * (listed), and, when it goes on with an earlier move to the same server
 * that stopped while copying (resumed), every thread of the partition
 * there. Returns the threads kept: the threads moved. The move holds the
 * partition on the old server before this check (stategraph_router.hold_at),
 * so the sweep does nothing more to its threads until the switch; an
 * sg_prune of every thread through the router is refused meanwhile
 * (stategraph_router.refuse_while_moving).
 */
CREATE FUNCTION stategraph_router.recheck_copies(old text, connstr text, part integer, n integer, modular boolean,
                                                 listed text[], resumed boolean) RETURNS bigint
    LANGUAGE plpgsql AS $$
DECLARE
    r record;
    kept bigint := 0;
BEGIN
    IF resumed THEN
        listed := ARRAY(SELECT w.thread_id FROM stategraph_router.shapes_at(connstr, part, n, modular) w);
    END IF;
    FOR r IN SELECT l.t, o.shape AS original, w.shape AS copy
             FROM pg_catalog.unnest(listed) l(t)
             LEFT JOIN stategraph_router.shapes_at(stategraph_router.frozen(old), part, n, modular) o
                    ON o.thread_id OPERATOR(pg_catalog.=) l.t
             LEFT JOIN stategraph_router.shapes_at(connstr, part, n, modular) w
                    ON w.thread_id OPERATOR(pg_catalog.=) l.t LOOP
        IF r.original IS NULL THEN
            PERFORM stategraph_router.delete_thread_at(connstr, r.t);
            CONTINUE;
        ELSIF r.original OPERATOR(pg_catalog.<>) r.copy THEN
            PERFORM stategraph_router.delete_thread_at(connstr, r.t);
            PERFORM stategraph_router.import_at(connstr, stategraph_router.export_at(stategraph_router.frozen(old), r.t));
        END IF;
        kept := kept OPERATOR(pg_catalog.+) 1;
    END LOOP;
    RETURN kept;
END $$;

/*
 * The lock of moves: one at a time per router database, held by the
 * session of a move from its start until it ends (a session-level advisory
 * lock: the move commits every step). A move that stopped keeps it for its
 * session, which goes on with its next call (a call refused for its
 * arguments, before anything is frozen, lets it go); another session is
 * refused at once (55P03) rather than racing it: two moves of one partition
 * both copied, both switched, and the last switch lost what was written
 * after the first one; two moves of different partitions waited for each
 * other's calls.
 *
 * Any role may take any advisory lock, and sees every lock held in
 * pg_locks: a fixed key (it was (1397181782, 0)) let a role that may
 * connect hold it and refuse every move until its session ended. The key
 * of a session's move is made of a secret and of that session (its process
 * and start, stategraph_router.move_key), and only the session whose own
 * key it is holds the lock of moves (stategraph_router.move_holder): a
 * role cannot make up the key without the secret (table
 * stategraph_router.move_secret, its owner's only), and one that took a key
 * seen in pg_locks (waiting for it, until the move let go or its session
 * ended) holds nothing of another session's. Such a role holding this
 * session's own key (seen during its earlier move) makes this session draw
 * a new secret, while no move holds the lock (if its transaction aborts,
 * before the move froze anything, the new secret is rolled back and its
 * session keeps no turn: TAP 111). Deciding and taking are one
 * session at a time: the table's lock (EXCLUSIVE, NOWAIT), held to the end
 * of the transaction that took the key, which no other role may take (a
 * weaker one that conflicts, any role may: that is waited for, bounded).
 * SECURITY DEFINER (its owner, the superuser that created the extension,
 * reads the secret and every session's start in pg_stat_activity).
 */
CREATE TABLE stategraph_router.move_secret (secret uuid NOT NULL);
INSERT INTO stategraph_router.move_secret (secret) VALUES (pg_catalog.gen_random_uuid());
REVOKE ALL ON TABLE stategraph_router.move_secret FROM PUBLIC;

/* The key of the lock of moves of the session of process pid started at started, under secret. */
CREATE FUNCTION stategraph_router.move_key(secret uuid, pid integer, started timestamptz, OUT key1 integer, OUT key2 integer)
    LANGUAGE sql STABLE AS $$
    SELECT ('x' OPERATOR(pg_catalog.||) pg_catalog.substr(h.h, 1, 8))::bit(32)::integer,
           ('x' OPERATOR(pg_catalog.||) pg_catalog.substr(h.h, 9, 8))::bit(32)::integer
    FROM pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
             pg_catalog.concat_ws('/', secret, pid, EXTRACT(epoch FROM started)), 'UTF8')), 'hex') h(h)
$$;

/* The process whose session holds the lock of moves of this database (its own key), this one first; NULL: none. */
CREATE FUNCTION stategraph_router.move_holder() RETURNS integer LANGUAGE sql VOLATILE AS $$
    SELECT l.pid FROM pg_catalog.pg_locks l
    JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid
    CROSS JOIN LATERAL stategraph_router.move_key((SELECT m.secret FROM stategraph_router.move_secret m),
                                                  a.pid, a.backend_start) k
    WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.objsubid OPERATOR(pg_catalog.=) 2 AND l.granted
      AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                             WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
      AND l.classid OPERATOR(pg_catalog.=) k.key1::pg_catalog.oid AND l.objid OPERATOR(pg_catalog.=) k.key2::pg_catalog.oid
    ORDER BY l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() DESC
    LIMIT 1
$$;

/* This session's key of the lock of moves. */
CREATE FUNCTION stategraph_router.my_move_key(OUT key1 integer, OUT key2 integer) LANGUAGE sql VOLATILE AS $$
    SELECT k.key1, k.key2
    FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid()) a,
         LATERAL stategraph_router.move_key((SELECT m.secret FROM stategraph_router.move_secret m), a.pid, a.backend_start) k
$$;

CREATE FUNCTION stategraph_router.move_lock() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    holder integer;
    k record;
    bound pg_catalog.text;
BEGIN
    BEGIN
        LOCK TABLE stategraph_router.move_secret IN EXCLUSIVE MODE NOWAIT;
    EXCEPTION WHEN lock_not_available THEN
        -- another session is taking the lock of moves (in the transaction that does; of this
        -- database: that of a copy, CREATE DATABASE ... TEMPLATE, has the table's oid too)
        SELECT l.pid INTO holder FROM pg_catalog.pg_locks l
        WHERE l.locktype OPERATOR(pg_catalog.=) 'relation'
          AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                                 WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
          AND l.relation OPERATOR(pg_catalog.=) 'stategraph_router.move_secret'::pg_catalog.regclass
          AND l.mode OPERATOR(pg_catalog.=) 'ExclusiveLock' AND l.granted;
        IF holder IS NULL THEN
            /*
             * Else no move: a weaker lock of the table (or one that just
             * ended). Any role may hold one for as long as its transaction
             * lasts (PREPARE of a statement naming the table locks it, the
             * privileges are checked when it runs; autovacuum too): wait
             * for it as the move's lock waits on the servers are bounded
             * (stategraph_router.lock_timeout), not in a loop trying again.
             */
            bound := pg_catalog.current_setting('lock_timeout');
            PERFORM pg_catalog.set_config('lock_timeout', stategraph_router.move_lock_timeout(), true);
            BEGIN
                LOCK TABLE stategraph_router.move_secret IN EXCLUSIVE MODE;
            EXCEPTION WHEN lock_not_available THEN
                RAISE EXCEPTION 'the lock of moves is held up by process %',
                    (SELECT pg_catalog.string_agg(DISTINCT l.pid::pg_catalog.text, ', ') FROM pg_catalog.pg_locks l
                     WHERE l.locktype OPERATOR(pg_catalog.=) 'relation'
                       AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                                              WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
                       AND l.relation OPERATOR(pg_catalog.=) 'stategraph_router.move_secret'::pg_catalog.regclass
                       AND l.mode OPERATOR(pg_catalog.<>) 'AccessShareLock' AND l.granted
                       AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid())
                    USING ERRCODE = 'lock_not_available',
                          DETAIL = pg_catalog.format('Its transaction holds a lock on table stategraph_router.move_secret (a statement prepared on it, for one); waited %s (stategraph_router.lock_timeout).',
                                                     stategraph_router.move_lock_timeout()),
                          HINT = 'End that transaction (see pg_stat_activity), then call stategraph_router.move_partition again.';
            END;
            PERFORM pg_catalog.set_config('lock_timeout', bound, true);
        END IF;
    END;
    IF holder IS NULL THEN
        /*
         * The secret as it is now: the snapshot of a REPEATABLE READ or
         * SERIALIZABLE transaction may be older than a new secret that
         * another session's move drew and committed before this one took
         * the table's lock, and under the old secret that move's key is not
         * its own (both would move): 40001 then, as for any concurrent update.
         */
        PERFORM 1 FROM stategraph_router.move_secret m FOR UPDATE;
        PERFORM pg_catalog.pg_stat_clear_snapshot();   -- the sessions as they are now
        holder := stategraph_router.move_holder();
        IF holder OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() THEN
            RETURN;     -- this session's move that stopped: go on
        END IF;
    END IF;
    IF holder IS NULL THEN
        LOOP
            SELECT * INTO k FROM stategraph_router.my_move_key();
            EXIT WHEN pg_catalog.pg_try_advisory_lock(k.key1, k.key2);
            -- another session holds this one's key, seen in pg_locks: no move's (none holds the lock)
            UPDATE stategraph_router.move_secret SET secret = pg_catalog.gen_random_uuid();
        END LOOP;
        RETURN;
    END IF;
    RAISE EXCEPTION 'another stategraph_router.move_partition is running (process %)', holder
        USING ERRCODE = 'lock_not_available',
              DETAIL = 'Partitions are moved one at a time; the session of a move that stopped keeps the lock until it calls again or ends.',
              HINT = 'Wait for it, or call stategraph_router.move_partition again in that session.';
END $$;

/* The end of a move: release the lock of moves (this session's key, if it holds it). */
CREATE FUNCTION stategraph_router.move_unlock() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k record;
BEGIN
    SELECT * INTO k FROM stategraph_router.my_move_key();
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
               WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
                 AND l.objsubid OPERATOR(pg_catalog.=) 2 AND l.granted
                 AND l.classid OPERATOR(pg_catalog.=) k.key1::pg_catalog.oid AND l.objid OPERATOR(pg_catalog.=) k.key2::pg_catalog.oid) THEN
        PERFORM pg_catalog.pg_advisory_unlock(k.key1, k.key2);
    END IF;
END $$;

/*
 * Move the threads of one partition to the server at connstr, while every
 * other partition keeps working:
 *   1. freeze: the partition's connection string gets
 *      default_transaction_read_only, so its threads read as before and
 *      writes fail with SQLSTATE 25006 (retry them) until step 4; calls
 *      that began before are waited for; a partition with background runs
 *      not finished or external tasks still out is unfrozen and refused
 *      (55006: they live on the old server, which would go on writing);
 *   2. copy: each thread of the partition is exported from the old server
 *      and imported into the new one (a thread already there with the same
 *      head, from an interrupted move, is kept; one there that no move of
 *      the partition to that server copied is refused, 42710);
 *   3. check: each thread's head is the same on both servers; then, once
 *      all are copied, the partition is held on the old server (its
 *      retention sweeps pass over its threads from then on) and each copy
 *      whose original that sweep removed since is deleted (one it pruned is
 *      copied again);
 *   4. switch: the partition points at the new server, and the hold ends;
 *   5. delete: the old server's copies are deleted (after calls that might
 *      still read them have ended).
 * Every step commits, and calling the procedure again after a failure goes
 * on from where it stopped: step 4 notes the old server in
 * stategraph_router.pending_deletes, and a call that finds the partition
 * there does step 5 first. A connection string that reaches a database of
 * the cluster written differently is refused (22023). Returns the number of
 * threads moved. Moves run one at a time (stategraph_router.move_lock); run
 * them from one router; with several routers, run
 * steps 1 and 4 on each.
 */
CREATE PROCEDURE stategraph_router.move_partition(part integer, connstr text, INOUT moved bigint DEFAULT NULL)
    LANGUAGE plpgsql AS $$
DECLARE
    old pg_catalog.text;
    n integer := (SELECT pg_catalog.count(*)::integer FROM stategraph_router.partitions());
    modular boolean := stategraph_router.modular();
    t pg_catalog.text;
    head pg_catalog.uuid;
    since pg_catalog.timestamptz;
    busy record;
    pending pg_catalog.text;
    same pg_catalog.text;
    server pg_catalog.text;
    target pg_catalog.text;
    copied pg_catalog.text;
    listed pg_catalog.text[] := '{}';
    resumed boolean := false;
    defs pg_catalog.text;
BEGIN
    IF part IS NULL OR connstr IS NULL THEN
        RAISE EXCEPTION '% must not be null', CASE WHEN part IS NULL THEN 'part' ELSE 'connstr' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM stategraph_router.move_lock();
    SELECT p.connstr INTO old FROM stategraph_router.partitions() p WHERE p.partition OPERATOR(pg_catalog.=) part;
    IF old IS NULL THEN
        PERFORM stategraph_router.move_unlock();   -- a refusal keeps no turn (as a session's end)
        RAISE EXCEPTION 'partition % does not exist in cluster "stategraph"', part
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- 5. of an earlier move that stopped after its switch (unless the partition went back there since)
    SELECT d.connstr INTO pending FROM stategraph_router.pending_deletes d WHERE d.partition OPERATOR(pg_catalog.=) part;
    IF pending IS NOT NULL THEN
        -- IS DISTINCT FROM, whose = goes by search_path: arrays compare NULLs as equal
        IF ARRAY[stategraph_router.identity_at(pending)] OPERATOR(pg_catalog.<>) ARRAY[stategraph_router.identity_at(
               stategraph_router.unfrozen(old))] THEN
            since := pg_catalog.clock_timestamp();
            PERFORM stategraph_router.wait_for_calls(since);
            PERFORM stategraph_router.bound_at(pending, stategraph_router.move_lock_timeout());
            PERFORM stategraph_router.delete_at(pending, part, n, modular);
            PERFORM stategraph_router.release_at(pending, part);   -- if that move stopped before letting go
        END IF;
        DELETE FROM stategraph_router.pending_deletes d WHERE d.partition OPERATOR(pg_catalog.=) part;
        COMMIT;
    END IF;
    /*
     * To the partition's own server: nothing to move. A move of it that
     * stopped (frozen) is called off: the partial copies it left on the
     * server it copied to are deleted, and the partition is unfrozen and let
     * go of on its server. Such a call went on as a move onto itself (the
     * frozen string is not the plain one): it "copied" every thread onto
     * itself, switched, and its step 5 deleted them all (TAP 172).
     */
    IF stategraph_router.unfrozen(old) OPERATOR(pg_catalog.=) connstr THEN
        IF old OPERATOR(pg_catalog.<>) connstr THEN
            PERFORM stategraph_router.bound_at(connstr, stategraph_router.move_lock_timeout());
            SELECT c.connstr INTO copied FROM stategraph_router.pending_copies c WHERE c.partition OPERATOR(pg_catalog.=) part;
            IF copied IS NOT NULL
               AND stategraph_router.identity_at(copied) OPERATOR(pg_catalog.<>) stategraph_router.identity_at(connstr) THEN
                PERFORM stategraph_router.bound_at(copied, stategraph_router.move_lock_timeout());
                PERFORM stategraph_router.delete_at(copied, part, n, modular);
            END IF;
            DELETE FROM stategraph_router.pending_copies c WHERE c.partition OPERATOR(pg_catalog.=) part;
            EXECUTE pg_catalog.format('ALTER SERVER stategraph OPTIONS (SET %I %L)', stategraph_router.partition_option(part), connstr);
            COMMIT;
            PERFORM stategraph_router.release_at(connstr, part);   -- if it stopped holding the partition
        END IF;
        moved := 0;
        PERFORM stategraph_router.move_unlock();
        RETURN;
    END IF;
    /*
     * A database already in the cluster under another connection string:
     * the partition's own (a move onto itself would copy each thread onto
     * itself, then delete it) or another partition's (calls for every
     * server would reach it twice). PL/Proxy tells servers apart by their
     * connection strings only.
     */
    BEGIN
        target := stategraph_router.identity_at(connstr);
    EXCEPTION WHEN internal_error THEN     -- PL/Proxy's error of a connection that failed
        -- a server that does not answer: the move stops, its session keeps the turn (as after a freeze)
        RAISE EXCEPTION 'cannot connect to server %', connstr
            USING ERRCODE = 'sqlclient_unable_to_establish_sqlconnection', DETAIL = SQLERRM,
                  HINT = 'connstr is a libpq connection string of the server to move the partition to.';
    END;
    FOR server IN SELECT DISTINCT stategraph_router.unfrozen(q.connstr)
                  FROM stategraph_router.partitions() q LOOP
        CONTINUE WHEN server OPERATOR(pg_catalog.=) connstr;
        BEGIN
            IF stategraph_router.identity_at(server) OPERATOR(pg_catalog.=) target THEN
                same := server;
                EXIT;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            -- a server that is down: not the target, which answered
            IF server OPERATOR(pg_catalog.=) stategraph_router.unfrozen(old) THEN
                RAISE;
            END IF;
        END;
    END LOOP;
    IF same IS NOT NULL THEN
        PERFORM stategraph_router.move_unlock();
        RAISE EXCEPTION 'server % is in cluster "stategraph" already, as %', connstr, same
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Both connection strings reach the same database; PL/Proxy tells servers apart by their connection strings.',
                  HINT = pg_catalog.format('Pass it as the cluster has it: %L.', same);
    END IF;
    BEGIN
        defs := stategraph_router.definitions_at(connstr);
    EXCEPTION WHEN undefined_table OR invalid_schema_name THEN
        defs := NULL;       -- no stategraph there: its graphs differ
    END;
    IF defs IS NULL OR defs OPERATOR(pg_catalog.<>)
       stategraph_router.definitions_at(stategraph_router.unfrozen(old)) THEN
        PERFORM stategraph_router.move_unlock();
        RAISE EXCEPTION 'the graphs of server % are not those of partition %', connstr, part
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Every graph''s channels, nodes, edges, branches, compiled spec, retention and the code of its node and router functions are compared, as stategraph_router.check_definitions() does.',
                  HINT = 'Create the extension, the node functions and the same graphs there first.';
    END IF;
    /*
     * A server whose encoding is not the router's keeps other threads in a
     * partition than PL/Proxy routes there (stategraph_router.check_definitions):
     * the move would copy some, and delete others it never copied.
     */
    FOREACH server IN ARRAY ARRAY[connstr, stategraph_router.unfrozen(old)] LOOP
        IF NOT stategraph_router.same_bytes(stategraph_router.encoding_at(server)) THEN
            PERFORM stategraph_router.move_unlock();
            RAISE EXCEPTION 'server % has encoding %, not the router''s %', server, stategraph_router.encoding_at(server),
                                                                            pg_catalog.getdatabaseencoding()
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'PL/Proxy routes a thread by the hash of its id in the router''s encoding, a server finds the threads of a partition by the hash in its own: a thread id that is not ASCII hashes differently.',
                      HINT = 'Give the router database the encoding of the servers.';
        END IF;
    END LOOP;
    -- the lock waits of this move's connections to both servers are bounded
    PERFORM stategraph_router.bound_at(c, stategraph_router.move_lock_timeout())
    FROM pg_catalog.unnest(ARRAY[stategraph_router.unfrozen(old), stategraph_router.frozen(stategraph_router.unfrozen(old)),
                                 connstr]) c;
    -- 1. freeze (a partition already frozen by an interrupted move stays so)
    IF stategraph_router.unfrozen(old) OPERATOR(pg_catalog.<>) old THEN
        old := stategraph_router.unfrozen(old);
    ELSE
        EXECUTE pg_catalog.format('ALTER SERVER stategraph OPTIONS (SET %I %L)', stategraph_router.partition_option(part),
                                  stategraph_router.frozen(old));
        COMMIT;
    END IF;
    since := pg_catalog.clock_timestamp();
    PERFORM stategraph_router.wait_for_calls(since);
    SELECT * INTO busy FROM stategraph_router.busy_at(stategraph_router.frozen(old), part, n, modular);
    IF busy.runs OPERATOR(pg_catalog.>) 0 OR busy.tasks OPERATOR(pg_catalog.>) 0 THEN
        EXECUTE pg_catalog.format('ALTER SERVER stategraph OPTIONS (SET %I %L)', stategraph_router.partition_option(part), old);
        COMMIT;
        PERFORM stategraph_router.move_unlock();   -- nothing to go on with
        RAISE EXCEPTION 'partition % has % background runs not finished and % external tasks still out', part, busy.runs, busy.tasks
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'A move copies the checkpoints of threads, not their runs or tasks.',
                  HINT = 'Wait for them or cancel them (sg_runs, sg_cancel, sg_tasks), then call stategraph_router.move_partition again.';
    END IF;
    -- 2. and 3. copy and check; first, the partial copies of an earlier move
    -- to another server that stopped here (unless that server is this
    -- partition's own again, or the target under another string)
    SELECT c.connstr INTO copied FROM stategraph_router.pending_copies c WHERE c.partition OPERATOR(pg_catalog.=) part;
    IF copied OPERATOR(pg_catalog.=) connstr THEN
        resumed := true;    -- its copies are on this target: 3b checks them too
    ELSIF copied IS NOT NULL THEN
        resumed := stategraph_router.identity_at(copied) OPERATOR(pg_catalog.=) target;
        IF NOT resumed AND stategraph_router.identity_at(copied) OPERATOR(pg_catalog.<>) stategraph_router.identity_at(old) THEN
            PERFORM stategraph_router.bound_at(copied, stategraph_router.move_lock_timeout());
            PERFORM stategraph_router.delete_at(copied, part, n, modular);
        END IF;
    END IF;
    INSERT INTO stategraph_router.pending_copies (partition, connstr) VALUES (part, connstr)
        ON CONFLICT (partition) DO UPDATE SET connstr = EXCLUDED.connstr;
    COMMIT;
    FOR t IN SELECT s FROM stategraph_router.threads_at(stategraph_router.frozen(old), part, n, modular) s LOOP
        head := stategraph_router.head_at(stategraph_router.frozen(old), t);
        -- removed since it was listed (the old server's retention sweep)
        CONTINUE WHEN head IS NULL AND stategraph_router.shape_at(stategraph_router.frozen(old), t) IS NULL;
        listed := listed OPERATOR(pg_catalog.||) t;
        IF stategraph_router.head_at(connstr, t) IS NULL THEN
            PERFORM stategraph_router.import_at(connstr, stategraph_router.export_at(stategraph_router.frozen(old), t));
        ELSIF NOT resumed THEN
            /*
             * Not a copy of an earlier move of this partition to this
             * server (resumed: 3b checks those against their originals):
             * made there some other way, by any role that may connect to
             * it. Taken for the copy, it replaced the original at the
             * switch, and step 5 deleted the original (TAP 328).
             */
            RAISE EXCEPTION 'thread "%" is already on %', t, connstr
                USING ERRCODE = 'duplicate_object',
                      DETAIL = pg_catalog.format('No earlier move of partition %s copied it there: it is not a copy of the thread of server %s.', part, old),
                      HINT = 'Delete it there (it is not reachable through the router), then call stategraph_router.move_partition again.';
        END IF;
        IF ARRAY[stategraph_router.head_at(connstr, t)] OPERATOR(pg_catalog.<>) ARRAY[head] THEN   -- (IS DISTINCT FROM)
            RAISE EXCEPTION 'thread "%" is already on % with other checkpoints', t, connstr
                USING ERRCODE = 'duplicate_object',
                      HINT = 'Delete it there (it is not reachable through the router), then call stategraph_router.move_partition again.';
        END IF;
    END LOOP;
    -- 3b. hold the partition on the old server, whose retention sweep then
    -- leaves its threads alone until the switch; then each copy against its
    -- original again (what that sweep did before)
    PERFORM stategraph_router.hold_at(old, part, n, modular);
    moved := stategraph_router.recheck_copies(old, connstr, part, n, modular, listed, resumed);
    -- the old server leaves the cluster with this partition: its finished runs go along
    IF NOT EXISTS (SELECT 1 FROM stategraph_router.partitions() p
                   WHERE p.partition OPERATOR(pg_catalog.<>) part
                     AND stategraph_router.unfrozen(p.connstr) OPERATOR(pg_catalog.=) old) THEN
        PERFORM stategraph_router.adopt_runs(old, connstr);
        PERFORM stategraph_router.adopt_tasks(old, connstr);
    END IF;
    -- 4. switch, noting that the old server still holds copies; the hold must
    -- have lasted from before the check until now
    EXECUTE pg_catalog.format('ALTER SERVER stategraph OPTIONS (SET %I %L)', stategraph_router.partition_option(part), connstr);
    INSERT INTO stategraph_router.pending_deletes (partition, connstr) VALUES (part, old)
        ON CONFLICT (partition) DO UPDATE SET connstr = EXCLUDED.connstr;
    DELETE FROM stategraph_router.pending_copies c WHERE c.partition OPERATOR(pg_catalog.=) part;
    IF NOT stategraph_router.held_at(old, part) THEN
        RAISE EXCEPTION 'the move of partition % lost its hold on server %', part, old
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Its connection to that server ended after its last check: the retention sweep there may have acted on the partition since.',
                  HINT = 'Call stategraph_router.move_partition again: it checks the copies again.';
    END IF;
    COMMIT;
    PERFORM stategraph_router.release_at(old, part);
    -- 5. delete the old copies
    since := pg_catalog.clock_timestamp();
    PERFORM stategraph_router.wait_for_calls(since);
    PERFORM stategraph_router.delete_at(old, part, n, modular);
    DELETE FROM stategraph_router.pending_deletes d WHERE d.partition OPERATOR(pg_catalog.=) part;
    COMMIT;
    PERFORM stategraph_router.move_unlock();
END $$;

-- ===========================================================================
-- The rest of the contract: the same signatures, on the router's terms
-- ===========================================================================

/*
 * API.md's sg_add_node and sg_add_conditional_edges take a regprocedure.
 * The text forms above are what a call with a string literal resolves to
 * (PostgreSQL prefers the string category for an unknown literal); these
 * take a regprocedure value, which exists only if the router has the
 * function too, and send its name to the servers, where it is resolved
 * again (so the function must have the same signature there).
 */
CREATE FUNCTION @extschema@.sg_add_node(graph text, node text, fn regprocedure, retry jsonb DEFAULT NULL) RETURNS void
    LANGUAGE sql
    BEGIN ATOMIC SELECT pg_catalog.count(*) FROM stategraph_router.all_add_node(stategraph_router.server_partitions(), graph, node, fn::pg_catalog.text, retry); END;
CREATE FUNCTION @extschema@.sg_add_conditional_edges(graph text, source text, router regprocedure, path_map jsonb DEFAULT NULL)
    RETURNS void LANGUAGE sql
    BEGIN ATOMIC SELECT pg_catalog.count(*) FROM stategraph_router.all_add_conditional_edges(stategraph_router.server_partitions(), graph, source, router::pg_catalog.text, path_map); END;

/*
 * sg_interrupt is called by node functions, which run on the servers; on
 * the router no node is running, which is the error a server gives outside
 * a node too (55000).
 */
CREATE FUNCTION @extschema@.sg_interrupt(value jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'sg_interrupt() can only be called by a node of a running graph'
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = 'Nodes run on the shards: sg_interrupt belongs in a node function there, not in a call to the router.';
END $$;

/*
 * CALL sg_run: PL/Proxy calls functions, and a function cannot commit a
 * step on the server. The router submits the run to the thread's server
 * instead (multitask 'enqueue': after the thread's active run, as sg_run
 * waits for a busy thread) and waits for it: the server's background
 * workers run it with a commit per super-step, exactly as CALL sg_run
 * would there (the servers need shared_preload_libraries = 'stategraph').
 * A failed run is raised with its SQLSTATE (on_error 'raise') or reported
 * as a WARNING ('return': with that SQLSTATE and the node named, as the
 * server words it; it was 01000 and the node's message alone); a run that pauses or is cancelled ends the call,
 * as on one server.
 */
CREATE PROCEDURE @extschema@.sg_run(graph text, input jsonb, thread_id text,
                                    checkpoint_id uuid DEFAULT NULL, resume jsonb DEFAULT NULL,
                                    recursion_limit integer DEFAULT 25, on_error text DEFAULT 'raise')
    LANGUAGE plpgsql AS $$
DECLARE
    r @extschema@.sg_run;
    code pg_catalog.text;
BEGIN
    IF thread_id IS NULL THEN
        RAISE EXCEPTION 'thread_id must not be null'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'sg_run stores every step; use sg_invoke() to run without a thread.';
    END IF;
    IF on_error IS NULL OR on_error OPERATOR(pg_catalog.<>) ALL (ARRAY['raise', 'return']) THEN
        RAISE EXCEPTION 'on_error must be ''raise'' or ''return'', not %', COALESCE('''' OPERATOR(pg_catalog.||) on_error OPERATOR(pg_catalog.||) '''', 'NULL')
            USING ERRCODE = CASE WHEN on_error IS NULL THEN 'null_value_not_allowed' ELSE 'invalid_parameter_value' END;
    END IF;
    r := @extschema@.sg_wait(@extschema@.sg_submit(graph, input, thread_id, checkpoint_id, resume, recursion_limit, 'enqueue'));
    IF r.status OPERATOR(pg_catalog.=) 'error' THEN
        code := r.error OPERATOR(pg_catalog.->>) 'sqlstate';
        IF code IS NULL OR code OPERATOR(pg_catalog.!~) '^[0-9A-Z]{5}$' THEN
            code := '38000';    -- external_routine_exception: a node failed
        END IF;
        IF on_error OPERATOR(pg_catalog.=) 'raise' THEN
            RAISE EXCEPTION '%', COALESCE(r.error OPERATOR(pg_catalog.->>) 'message', r.error::pg_catalog.text)
                USING ERRCODE = code,
                      DETAIL = pg_catalog.format('Run %s on thread "%s" failed: %s', r.run_id, r.thread_id, r.error);
        END IF;
        -- as the server's CALL sg_run words it (executor.c): its SQLSTATE, and the node named
        RAISE WARNING '%', CASE WHEN r.error OPERATOR(pg_catalog.?) 'node' AND r.error OPERATOR(pg_catalog.?) 'message'
                                THEN pg_catalog.format('node "%s" of graph "%s" failed: %s', r.error OPERATOR(pg_catalog.->>) 'node',
                                                       r.graph, r.error OPERATOR(pg_catalog.->>) 'message')
                                ELSE COALESCE(r.error OPERATOR(pg_catalog.->>) 'message', r.error::pg_catalog.text) END
            USING ERRCODE = code,
                  DETAIL = pg_catalog.format('Run %s on thread "%s" failed: %s', r.run_id, r.thread_id, r.error);
    END IF;
END $$;

/*
 * CALL sg_work does a server's own work (its runs, sweeps and leases) in the
 * calling session, committing every step: there is no such work on the
 * router, and a routed function cannot commit. The call says where to run
 * it rather than doing nothing.
 */
CREATE PROCEDURE @extschema@.sg_work(max_runs integer DEFAULT NULL, max_time interval DEFAULT NULL) LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'CALL sg_work() cannot run through the router'
        USING ERRCODE = 'feature_not_supported',
              DETAIL = 'Each server executes its own runs and sweeps, committing every step; PL/Proxy calls functions, which cannot commit.',
              HINT = 'Preload stategraph on every server (shared_preload_libraries), or CALL sg_work() on each server: stategraph_router.partitions() lists them.';
END $$;

-- ===========================================================================
-- Privileges: moving partitions is the cluster administrator's
-- ===========================================================================
/*
 * A CONNECT function connects to whatever its argument says, as whatever
 * role the string names, with the router's network position and its
 * server's password file: as dblink_connect_u is, these are not for PUBLIC.
 * move_partition itself also needs ownership of server stategraph (ALTER
 * SERVER). A superuser (these functions' owner) may grant them on. They
 * are revoked from PUBLIC and from every role that default privileges gave
 * them to (ALTER DEFAULT PRIVILEGES ... GRANT EXECUTE ON FUNCTIONS TO app,
 * with EXECUTE revoked from PUBLIC by default, is a usual set-up): such a
 * role connected anywhere with them, and held every move up with
 * move_lock(). So are the tables of this schema (their owner's only):
 * default privileges gave a role (ALTER DEFAULT PRIVILEGES ... GRANT
 * SELECT ON TABLES TO a reporting role, say) the secret of the lock of
 * moves, with which it made up its own session's key and held every move
 * up; or the rows that tell the next move where to delete a partition's
 * threads (pending_copies, pending_deletes: any server, as any role).
 */
DO $$
DECLARE
    f pg_catalog.regprocedure;
    t pg_catalog.regclass;
    r pg_catalog.text;
BEGIN
    FOREACH t IN ARRAY ARRAY['stategraph_router.move_secret', 'stategraph_router.pending_deletes',
                             'stategraph_router.pending_copies']::pg_catalog.regclass[] LOOP
        FOR r IN SELECT DISTINCT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                                      ELSE a.grantee::pg_catalog.regrole::pg_catalog.text END
                 FROM pg_catalog.pg_class c,
                      pg_catalog.aclexplode(COALESCE(c.relacl, pg_catalog.acldefault('r', c.relowner))) a
                 WHERE c.oid OPERATOR(pg_catalog.=) t AND a.grantee OPERATOR(pg_catalog.<>) c.relowner LOOP
            EXECUTE pg_catalog.format('REVOKE ALL ON TABLE %s FROM %s', t, r);
        END LOOP;
    END LOOP;
    FOREACH f IN ARRAY ARRAY[
        'stategraph_router.threads_at(text, integer, integer, boolean)',
        'stategraph_router.export_at(text, text)', 'stategraph_router.import_at(text, jsonb)',
        'stategraph_router.head_at(text, text)', 'stategraph_router.busy_at(text, integer, integer, boolean)',
        'stategraph_router.delete_at(text, integer, integer, boolean)', 'stategraph_router.identity_at(text)',
        'stategraph_router.definitions_at(text)', 'stategraph_router.encoding_at(text)', 'stategraph_router.shape_at(text, text)',
        'stategraph_router.shapes_at(text, integer, integer, boolean)', 'stategraph_router.delete_thread_at(text, text)',
        'stategraph_router.recheck_copies(text, text, integer, integer, boolean, text[], boolean)',
        'stategraph_router.hold_at(text, integer, integer, boolean)', 'stategraph_router.held_at(text, integer)',
        'stategraph_router.release_at(text, integer)', 'stategraph_router.bound_at(text, text)',
        'stategraph_router.finished_runs_at(text, uuid, integer)', 'stategraph_router.adopt_runs_at(text, jsonb)',
        'stategraph_router.adopt_runs(text, text)',
        'stategraph_router.finished_tasks_at(text, text, integer)', 'stategraph_router.adopt_tasks_at(text, jsonb)',
        'stategraph_router.adopt_tasks(text, text)', 'stategraph_router.adopt_finished(text, text, text)',
        'stategraph_router.move_lock()', 'stategraph_router.move_unlock()',
        'stategraph_router.move_key(uuid, integer, timestamptz)', 'stategraph_router.move_holder()',
        'stategraph_router.my_move_key()',
        'stategraph_router.move_partition(integer, text, bigint)']::pg_catalog.regprocedure[] LOOP
        FOR r IN SELECT DISTINCT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                                      ELSE a.grantee::pg_catalog.regrole::pg_catalog.text END
                 FROM pg_catalog.pg_proc p,
                      pg_catalog.aclexplode(COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
                 WHERE p.oid OPERATOR(pg_catalog.=) f AND a.grantee OPERATOR(pg_catalog.<>) p.proowner LOOP
            EXECUTE pg_catalog.format('REVOKE EXECUTE ON ROUTINE %s FROM %s', f, r);
        END LOOP;
    END LOOP;
END $$;

-- ===========================================================================
-- Comments
-- ===========================================================================
COMMENT ON FUNCTION stategraph_router.partitions() IS 'the partitions of PL/Proxy cluster "stategraph" and their connection strings';
COMMENT ON FUNCTION stategraph_router.partition_of(text) IS 'the partition that holds a thread';
COMMENT ON FUNCTION stategraph_router.shard_of(text) IS 'the connection string of the server that holds a thread (to CALL sg_run there)';
COMMENT ON FUNCTION stategraph_router.check_definitions() IS 'every graph whose definition is not the same on all servers, and the servers that differ or lack it; no rows: they agree';
COMMENT ON FUNCTION stategraph_router.frozen(text) IS 'the connection string of a partition being moved: the same server, writes refused (default_transaction_read_only)';
COMMENT ON FUNCTION stategraph_router.unfrozen(text) IS 'the inverse of frozen(): the connection string without its suffix, unchanged when it has none';
COMMENT ON PROCEDURE stategraph_router.move_partition(integer, text, bigint) IS 'move the threads of a partition to another server (freeze, copy, check, switch, delete); returns the threads moved';
COMMENT ON FUNCTION @extschema@.sg_update_state(text, jsonb, text, uuid) IS 'sg_update_state on the thread''s server; a checkpoint of a thread on another server is exported there and imported for the call';
COMMENT ON FUNCTION @extschema@.sg_fork(text, uuid, text) IS 'sg_fork on the servers of both threads: the source is exported and imported for the call when they differ';
COMMENT ON FUNCTION @extschema@.sg_threads(text) IS 'sg_threads of every server, each keeping the threads of the partitions it serves, sorted by thread_id';
COMMENT ON FUNCTION @extschema@.sg_prune(interval, integer, text) IS 'sg_prune on the thread''s server, or on every server (the counts added up; refused, 25006, while a partition is being moved)';
COMMENT ON FUNCTION @extschema@.sg_reassign_owned(name, name) IS 'sg_reassign_owned on every server (the counts added up)';
COMMENT ON FUNCTION @extschema@.sg_submit(text, jsonb, text, uuid, jsonb, integer, text, interval, text) IS 'sg_submit on the thread''s server; without a thread_id the router names the new thread (from role, graph and idempotency_key when one is given)';
COMMENT ON FUNCTION @extschema@.sg_runs(text, text) IS 'sg_runs of every server, merged (a run two servers hold listed once), oldest first';
COMMENT ON FUNCTION @extschema@.sg_wait(uuid, interval) IS 'sg_wait on the server that holds the run (every server is asked at once)';
COMMENT ON FUNCTION @extschema@.sg_cancel(uuid, text) IS 'sg_cancel on the server that holds the run (every server is asked at once)';
COMMENT ON FUNCTION @extschema@.sg_set_retention(text, interval, text, integer) IS 'sg_set_retention on every server (check_definitions compares it)';
COMMENT ON FUNCTION @extschema@.sg_add_node(text, text, regprocedure, jsonb) IS 'sg_add_node on every server, the function given as a regprocedure of the router (sent by name)';
COMMENT ON FUNCTION @extschema@.sg_add_conditional_edges(text, text, regprocedure, jsonb) IS 'sg_add_conditional_edges on every server, the router function given as a regprocedure of the router (sent by name)';
COMMENT ON FUNCTION @extschema@.sg_interrupt(jsonb) IS 'called by node functions, on the shards: on the router always the error of a call outside a node (55000)';
COMMENT ON PROCEDURE @extschema@.sg_run(text, jsonb, text, uuid, jsonb, integer, text) IS 'a durable run through the router: sg_submit on the thread''s server (enqueued) and sg_wait for it; its error raised (on_error ''raise'') or a WARNING';
COMMENT ON PROCEDURE @extschema@.sg_work(integer, interval) IS 'not routable: each server does its own work (background workers, or CALL sg_work() there); the error says so (0A000)';
COMMENT ON FUNCTION @extschema@.sg_create_graph(text, jsonb) IS 'sg_create_graph on every server';
COMMENT ON FUNCTION @extschema@.sg_add_node(text, text, text, jsonb) IS 'sg_add_node on every server, the function given by its signature as text (as each server reads it)';
COMMENT ON FUNCTION @extschema@.sg_add_edge(text, text, text) IS 'sg_add_edge on every server';
COMMENT ON FUNCTION @extschema@.sg_add_edge(text, text[], text) IS 'sg_add_edge (a join) on every server';
COMMENT ON FUNCTION @extschema@.sg_add_conditional_edges(text, text, text, jsonb) IS 'sg_add_conditional_edges on every server, the router function given by its signature as text (as each server reads it)';
COMMENT ON FUNCTION @extschema@.sg_add_external_node(text, text, text, jsonb, interval) IS 'sg_add_external_node on every server';
COMMENT ON FUNCTION @extschema@.sg_compile(text, text[], text[]) IS 'sg_compile on every server';
COMMENT ON FUNCTION @extschema@.sg_drop_graph(text) IS 'sg_drop_graph on every server';
COMMENT ON FUNCTION @extschema@.sg_draw(text, text) IS 'sg_draw on any server (definitions are the same on all)';
COMMENT ON FUNCTION @extschema@.sg_invoke(text, jsonb, text, uuid, jsonb, integer, text) IS 'sg_invoke on the thread''s server';
COMMENT ON FUNCTION @extschema@.sg_stream(text, jsonb, text, uuid, jsonb, integer, text, text) IS 'sg_stream on the thread''s server';
COMMENT ON FUNCTION @extschema@.sg_get_state(text, uuid) IS 'sg_get_state on the thread''s server';
COMMENT ON FUNCTION @extschema@.sg_get_state_history(text, integer, uuid, jsonb) IS 'sg_get_state_history on the thread''s server';
COMMENT ON FUNCTION @extschema@.sg_draw_history(text, text, integer) IS 'sg_draw_history on the thread''s server';
COMMENT ON FUNCTION @extschema@.sg_delete_thread(text) IS 'sg_delete_thread on the thread''s server';
COMMENT ON FUNCTION @extschema@.sg_export_thread(text) IS 'sg_export_thread on the thread''s server';
COMMENT ON FUNCTION @extschema@.sg_import_thread(jsonb, text) IS 'sg_import_thread on the server of the thread it stores (thread_id, or the export''s own id)';
COMMENT ON FUNCTION @extschema@.sg_claim(text, text, integer, interval, interval) IS 'sg_claim of up to n tasks from the servers in turn; with wait, polls them until work is there or the time is up';
COMMENT ON FUNCTION @extschema@.sg_heartbeat(text, uuid, interval) IS 'sg_heartbeat on the server of the task''s thread';
COMMENT ON FUNCTION @extschema@.sg_complete(text, uuid, jsonb) IS 'sg_complete on the server of the task''s thread';
COMMENT ON FUNCTION @extschema@.sg_fail(text, uuid, jsonb, boolean) IS 'sg_fail on the server of the task''s thread';
COMMENT ON FUNCTION @extschema@.sg_interrupt_task(text, uuid, jsonb) IS 'sg_interrupt_task on the server of the task''s thread';
COMMENT ON FUNCTION @extschema@.sg_tasks(text, text) IS 'sg_tasks of every server, merged (a task stays on the server its thread was on when it was made), oldest first';
COMMENT ON TYPE @extschema@.sg_snapshot IS 'a checkpoint as the state functions return it (LangGraph''s StateSnapshot), as on the servers';
COMMENT ON TYPE @extschema@.sg_thread IS 'a thread as sg_threads returns it: its graph, status, next nodes and number of checkpoints, as on the servers';
COMMENT ON TYPE @extschema@.sg_run IS 'a background run as sg_runs and sg_wait return it, as on the servers';
COMMENT ON TYPE @extschema@.sg_task IS 'a claimed external task, as sg_claim hands it to a worker, as on the servers';
COMMENT ON TYPE @extschema@.sg_task_status IS 'an external task as sg_tasks lists it, as on the servers';
