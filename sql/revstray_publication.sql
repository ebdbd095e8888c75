--
-- LangGraph.js threads in a database with a publication of all its tables
-- (logical replication, which README describes). stategraph.lg_stray_threads
-- had neither a primary key nor a replica identity, so every statement
-- that deletes from it failed (55000, "cannot delete from table
-- lg_stray_threads because it does not have a replica identity and
-- publishes deletes"): a thread's first put, a copy into a thread, and
-- the removal of stray writes. Nor could stategraph.retention be updated
-- (sg_set_retention) or deleted from (sg_drop_graph of any graph). Their
-- replica identity is FULL.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA revstray_publication;
SET search_path = revstray_publication;
CREATE EXTENSION stategraph;
SET client_min_messages = error;	-- (a warning when wal_level is not logical)
CREATE PUBLICATION revstray_all FOR ALL TABLES;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- a write sent ahead of its thread's first put notes the thread; the first put removes the note
SELECT sg_lg_put_writes('pub-1', '', '1ef00000-0000-6000-8000-000000000001', 'ahead', '[["m", 1]]') AS stored;
SELECT sg_lg_put('pub-1', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "x", "channel_values": {"m": 1},
      "channel_versions": {"m": 1}, "versions_seen": {}}', '{"source": "input", "step": -1}', '{"m": 1}') IS NOT NULL AS put;
SELECT count(*) AS notes FROM stategraph.lg_stray_threads;
-- a copy into a new thread id
SELECT sg_lg_copy_thread('pub-1', 'pub-2') AS copied;
-- a write after its thread's delete, removed with its note by sg_prune of every thread
SELECT sg_lg_delete_thread('pub-2') AS deleted;
SELECT sg_lg_put_writes('pub-2', '', '1ef00000-0000-6000-8000-000000000001', 'late', '[["m", 2]]') AS stored;
SELECT sg_prune(keep_last => 1) AS pruned;
SELECT thread_id, task_id FROM stategraph.lg_writes ORDER BY 1, 2;
SELECT count(*) AS notes FROM stategraph.lg_stray_threads;

-- the retention setting (stategraph.retention, a row per graph without a primary key)
SELECT sg_set_retention(NULL, '30 days');
SELECT sg_set_retention(NULL, '7 days', 'keep_latest', 2);
SELECT graph, ttl, strategy, keep_last FROM stategraph.retention;
-- and a graph's drop, which deletes its retention setting
SELECT sg_create_graph('revstray_pub', '{"n": "replace"}');
SELECT sg_drop_graph('revstray_pub');
SELECT count(*) AS graphs FROM stategraph.graphs;

DROP PUBLICATION revstray_all;
SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA revstray_publication;
