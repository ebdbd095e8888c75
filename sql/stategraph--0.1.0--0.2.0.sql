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



-- ===========================================================================
-- Comments and privileges of every function
-- ===========================================================================

