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

