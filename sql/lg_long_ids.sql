--
-- Ids that LangGraph.js rows are stored under (thread_id, checkpoint_ns, a
-- write's task_id) are at most 512 bytes, as stategraph's own names and ids
-- (a LangGraph.js thread shares their namespace, and a longer id could be
-- read by no sg_ function). Longer, a put failed with 54000 "index row size
-- ... exceeds btree version 4 maximum" and a hint to index an MD5 of the
-- value; now 22023 naming the argument, and nothing stored. So is a
-- channel name in new_versions (lg_blobs' key holds it).
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
-- a stored value's channel name (part of lg_blobs' key) too: a typed-bytes
-- value of a 3000-byte channel failed 54000 naming lg_blobs_pkey
CREATE FUNCTION pg_temp.put_channel(thread_id text, channel text, as_bytes boolean) RETURNS uuid LANGUAGE sql AS $$
    SELECT sg_lg_put(thread_id, '', NULL,
        jsonb_build_object('v', 4, 'id', '1ef00000-0000-6000-8000-000000000002',
                           'channel_versions', jsonb_build_object(channel, 1), 'versions_seen', '{}'::jsonb),
        '{"source": "input", "step": -1}', jsonb_build_object(channel, 1),
        CASE WHEN as_bytes THEN ARRAY[channel] END, CASE WHEN as_bytes THEN ARRAY['bytes'] END,
        CASE WHEN as_bytes THEN ARRAY['\x01'::bytea] END,
        channel_values => CASE WHEN as_bytes THEN '{}' ELSE json_build_object(channel, json_build_array(1)) END) $$;
SELECT pg_temp.put_channel('chan-bytes', repeat('c', 3000), true);
SELECT pg_temp.put_channel('chan-json', repeat('c', 513), false);
SELECT pg_temp.put_channel('chan-512', repeat('c', 512), true) IS NOT NULL AS bytes_channel_512;
SELECT thread_id, length(channel) FROM stategraph.lg_blobs WHERE thread_id LIKE 'chan-%' ORDER BY 1;
-- an import takes no longer id from its data either: a 3000-byte thread id
-- (the export's own, or one in a row) was stored and read by no sg_
-- function, or failed 54000; an export whose digest is made again as
-- sg_export_thread makes it
CREATE FUNCTION pg_temp.redigest(d jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT d || jsonb_build_object('digest', md5((d->'version')::text || COALESCE(d->'thread_id', 'null')::text
        || COALESCE(d->'checkpoints', 'null')::text || COALESCE(d->'blobs', 'null')::text || COALESCE(d->'writes', 'null')::text)) $$;
CREATE TEMP TABLE long_id AS SELECT string_agg(md5(i::text), '') AS s FROM generate_series(1, 94) i;
SELECT sg_lg_put_writes('chan-512', '', '1ef00000-0000-6000-8000-000000000002', 'task-a', '[["m", 2]]', '') AS writes;
SELECT sg_import_thread(pg_temp.redigest(sg_export_thread('chan-512')), 'chan-copy') AS redigested_copy;
SELECT sg_import_thread(pg_temp.redigest(jsonb_set(sg_export_thread('chan-512'), '{thread_id}', to_jsonb((SELECT s FROM long_id)))));
SELECT sg_import_thread(sg_export_thread('chan-512'), (SELECT s FROM long_id));
SELECT sg_import_thread(pg_temp.redigest(replace(sg_export_thread('chan-512')::text, '"checkpoint_ns": ""',
                                                 '"checkpoint_ns": "' || (SELECT s FROM long_id) || '"')::jsonb), 'long-ns');
SELECT sg_import_thread(pg_temp.redigest(replace(sg_export_thread('chan-512')::text, '"task-a"',
                                                 '"' || (SELECT s FROM long_id) || '"')::jsonb), 'long-task');
SELECT sg_import_thread(pg_temp.redigest(replace(sg_export_thread('chan-512')::text, repeat('c', 512),
                                                 (SELECT s FROM long_id))::jsonb), 'long-channel');
SELECT thread_id, count(*) FROM stategraph.lg_checkpoints WHERE thread_id LIKE 'chan-%' OR thread_id LIKE 'long-%' GROUP BY 1 ORDER BY 1;
SELECT thread_id IS NOT NULL, length(thread_id), length(checkpoint_ns) FROM stategraph.lg_checkpoints ORDER BY 2, 3;
SELECT length(task_id) FROM stategraph.lg_writes;

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA lg_long_ids CASCADE;
