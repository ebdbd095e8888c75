--
-- Ids that LangGraph.js rows are stored under (thread_id, checkpoint_ns, a
-- write's task_id) are at most 512 bytes, as stategraph's own names and ids
-- (a LangGraph.js thread shares their namespace, and a longer id could be
-- read by no sg_ function). Longer, a put failed with 54000 "index row size
-- ... exceeds btree version 4 maximum" and a hint to index an MD5 of the
-- value; now 22023 naming the argument, and nothing stored.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA lg_long_ids;
SET search_path = lg_long_ids;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY default

CREATE FUNCTION pg_temp.put(thread_id text, ns text) RETURNS uuid LANGUAGE sql AS $$
    SELECT sg_lg_put(thread_id, ns, NULL,
        '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "channel_versions": {"m": 1}, "versions_seen": {}}',
        '{"source": "input", "step": -1}', '{"m": 1}', channel_values => '{"m": [1]}') $$;
-- 512 bytes: stored; 513 (or 3000) bytes: refused
SELECT pg_temp.put(repeat('t', 512), '') IS NOT NULL AS stored_512;
SELECT pg_temp.put(repeat('t', 513), '');
SELECT pg_temp.put((SELECT string_agg(md5(i::text), '') FROM generate_series(1, 94) i), '');
SELECT pg_temp.put('short', repeat('n', 512)) IS NOT NULL AS ns_512;
SELECT pg_temp.put('short2', (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 94) i));
SELECT sg_lg_put_writes('short', repeat('n', 512), '1ef00000-0000-6000-8000-000000000001',
                        (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 94) i), '[["m", 2]]', '');
SELECT sg_lg_put_writes('short', repeat('n', 512), '1ef00000-0000-6000-8000-000000000001',
                        repeat('k', 512), '[["m", 2]]', '') AS writes_512;
-- a copy into a longer id is refused the same way
SELECT sg_lg_copy_thread(repeat('t', 512), repeat('u', 600));
SELECT thread_id IS NOT NULL, length(thread_id), length(checkpoint_ns) FROM stategraph.lg_checkpoints ORDER BY 2, 3;
SELECT length(task_id) FROM stategraph.lg_writes;

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA lg_long_ids CASCADE;
