--
-- Found by fuzzing (test/fuzz/run.sh, fuzz_calls.sql): a LangGraph.js
-- delete or prune of a thread the caller cannot see, in a transaction that
-- took that thread's lock before (a copy into it), let go of the
-- transaction's lock and warned "you don't own a lock of type
-- ExclusiveLock". No warning now. (A copy lets go of its new thread's
-- lock once the thread is stored, its rows holding the thread until
-- commit: no lock is left for the delete to let go of wrongly, and none
-- is held after it.)
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_fz3_bob;
CREATE SCHEMA fuzz3_lg_locks;
GRANT USAGE ON SCHEMA fuzz3_lg_locks TO PUBLIC;
SET search_path = fuzz3_lg_locks;
CREATE EXTENSION stategraph;
CREATE ROLE regress_fz3_bob;
RESET client_min_messages;
\set SHOW_CONTEXT never

SELECT sg_lg_put('src', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-d00000000001", "ts": "2026-01-02T00:00:00.000Z",
      "channel_values": {"messages": [1]}, "channel_versions": {"messages": 1}, "versions_seen": {}}',
    '{}', '{"messages": 1}');

BEGIN;
SELECT sg_lg_copy_thread('src', 'copy');
SET LOCAL ROLE regress_fz3_bob;
SELECT sg_lg_delete_thread('copy');
SELECT sg_lg_prune(ARRAY['copy'], 'keep_latest');
RESET ROLE;
-- no lock left by the copy, the delete or the prune
SELECT count(*) AS held FROM pg_locks
 WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND mode = 'ExclusiveLock' AND granted;
ROLLBACK;

BEGIN;
SELECT sg_lg_copy_thread('src', 'copy');
SAVEPOINT a;
SET LOCAL ROLE regress_fz3_bob;
SELECT sg_lg_delete_thread('copy');
SELECT sg_lg_prune(ARRAY['copy'], 'delete');
ROLLBACK TO a;
RESET ROLE;
SELECT sg_lg_delete_thread('copy');
COMMIT;

SET client_min_messages = warning;
DROP SCHEMA fuzz3_lg_locks CASCADE;
DROP ROLE regress_fz3_bob;
