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



-- ===========================================================================
-- External nodes
-- ===========================================================================



-- ===========================================================================
-- LangGraph.js checkpoint storage
-- ===========================================================================



-- ===========================================================================
-- Portable threads
-- ===========================================================================

/*
 * A thread as one jsonb value (its row and every checkpoint row as stored),
 * and back: backups of one thread, copies under a new id (LangGraph's
 * copy_thread), moves between databases and shards (src/portable.c).
 */
CREATE FUNCTION @extschema@.sg_export_thread(thread_id text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'sg_export_thread' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.sg_export_thread(text) IS
    'The thread and all its checkpoints as one jsonb value (format stategraph.thread, version 1, with a digest), for sg_import_thread';

CREATE FUNCTION @extschema@.sg_import_thread(data jsonb, thread_id text DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'sg_import_thread' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.sg_import_thread(jsonb, text) IS
    'Store a thread exported by sg_export_thread, under its own id or thread_id; every checkpoint reads as before. Returns the thread id';

/*
 * For the router (stategraph_router): sg_update_state and sg_fork from a
 * checkpoint of a thread that lives on another server. The thread's export
 * is imported under a name of its own for the length of the call, used,
 * and deleted, all in one transaction; the fork detaches from it as from
 * any deleted source (src/portable.c).
 */
CREATE FUNCTION stategraph.import_then_update_state(data jsonb, thread_id text, "values" jsonb,
                                                    as_node text, checkpoint_id uuid) RETURNS uuid
    LANGUAGE plpgsql AS $$
DECLARE
    visitor text := @extschema@.sg_import_thread(data, '__sg_visitor_' || pg_catalog.gen_random_uuid()::text);
    result uuid := @extschema@.sg_update_state(thread_id, "values", as_node, checkpoint_id);
BEGIN
    PERFORM @extschema@.sg_delete_thread(visitor);
    RETURN result;
END $$;
COMMENT ON FUNCTION stategraph.import_then_update_state(jsonb, text, jsonb, text, uuid) IS
    'sg_update_state from a checkpoint of an exported thread (the router''s cross-shard update)';

CREATE FUNCTION stategraph.import_then_fork(data jsonb, checkpoint_id uuid, new_thread_id text) RETURNS uuid
    LANGUAGE plpgsql AS $$
DECLARE
    visitor text := @extschema@.sg_import_thread(data, '__sg_visitor_' || pg_catalog.gen_random_uuid()::text);
    result uuid := @extschema@.sg_fork(visitor, checkpoint_id, new_thread_id);
BEGIN
    PERFORM @extschema@.sg_delete_thread(visitor);
    RETURN result;
END $$;
COMMENT ON FUNCTION stategraph.import_then_fork(jsonb, uuid, text) IS
    'sg_fork from a checkpoint of an exported thread (the router''s cross-shard fork)';



-- ===========================================================================
-- Drawing
-- ===========================================================================



-- ===========================================================================
-- Comments and privileges of every function
-- ===========================================================================

