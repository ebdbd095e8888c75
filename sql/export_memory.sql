--
-- Memory of sg_export_thread does not grow with the checkpoints beyond the
-- export's own size: the checkpoint rows are read through a cursor and each
-- one's object is copied into the export and let go (src/exportbuild.c).
-- The export was one statement (jsonb_agg of the rows, md5 of the members'
-- text), which held 55 kB a checkpoint of a few hundred bytes until the call
-- returned: the 4,500 checkpoints below (a 1.7 MB export) took the backend's
-- peak memory (VmHWM, read from /proc in a new session) up by 194 MB, the
-- LangGraph.js thread's 1,500 (1.1 MB) by 209 MB; now by 10 and 8 MB (the
-- export's blocks and the value, the shared buffers read, the LangGraph.js
-- rows' sort within work_mem). The bound, 48 MB, is far from both.
--
-- And the export is the same, byte for byte, as the one statement made: the
-- statements of before (reference_export, reference_lg_export, copied from
-- portable.c and lgmaint.c) give the same bytes (jsonb cast to bytea as it
-- is) and the same text, over more than 32 checkpoints (jsonb's
-- JB_OFFSET_STRIDE), forks of an input checkpoint, a thread without
-- checkpoints' values.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA export_memory;
SET search_path = export_memory;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION peak_kb() RETURNS bigint LANGUAGE sql AS
$$ SELECT substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\s*(\d+)')::bigint $$;
CREATE FUNCTION cid(i int) RETURNS uuid LANGUAGE sql AS
$$ SELECT ('1ef00000-0000-6000-8000-' || lpad(to_hex(i), 12, '0'))::uuid $$;
CREATE TABLE seen (what text, checkpoints int, text_bytes int, growth_kb bigint);
CREATE CAST (jsonb AS bytea) WITHOUT FUNCTION;

-- sg_export_thread's statement before, with fork_rows' images, writes and inputs
CREATE FUNCTION reference_export(thread text, images jsonb = NULL, writes jsonb = NULL, inputs jsonb = NULL)
RETURNS jsonb LANGUAGE sql AS $$
WITH e AS (SELECT jsonb_build_object(
  'thread', jsonb_build_object(
     'thread_id', t.thread_id, 'graph', t.graph, 'channels', t.channels,
     'head', t.head, 'status', t.status, 'forked_from', t.forked_from,
     'created_at', t.created_at, 'updated_at', t.updated_at, 'owner', t.owner),
  'checkpoints', (SELECT jsonb_agg(jsonb_build_object(
     'checkpoint_id', c.checkpoint_id, 'parent_id', c.parent_id,
     'parent_thread', c.parent_thread, 'step', c.step, 'source', c.source,
     'next', c.next, 'writes', c.writes,
     'image', CASE WHEN c.parent_thread IS NULL THEN c.image
                   ELSE images -> (c.checkpoint_id::text) END,
     'image_complete', c.image_complete OR c.parent_thread IS NOT NULL,
     'refs', CASE WHEN c.parent_thread IS NULL THEN c.refs END,
     'barriers', c.barriers, 'sends', c.sends, 'pending', c.pending,
     'meta', CASE WHEN inputs ? (c.checkpoint_id::text)
                  THEN COALESCE(c.meta, '{}') || jsonb_build_object('input_writes', inputs -> (c.checkpoint_id::text))
                  ELSE c.meta END,
     'created_at', c.created_at) ORDER BY c.checkpoint_id)
     FROM stategraph.checkpoints c WHERE c.thread_id = thread),
  'fork_writes', writes) AS d
  FROM stategraph.threads t WHERE t.thread_id = thread)
SELECT jsonb_build_object('format', 'stategraph.thread', 'version', 1) || e.d
  || jsonb_build_object('digest', md5(COALESCE(e.d -> 'thread', 'null')::text || COALESCE(e.d -> 'checkpoints', 'null')::text
                                      || COALESCE(e.d -> 'fork_writes', 'null')::text))
FROM e
$$;
-- and of a LangGraph.js thread (sg_lg_export_thread)
CREATE FUNCTION reference_lg_export(thread text) RETURNS jsonb LANGUAGE sql AS $$
WITH e AS (SELECT jsonb_build_object('thread_id', thread,
  'checkpoints', (SELECT jsonb_agg(to_jsonb(r) - 'thread_id' ORDER BY r.checkpoint_ns, r.checkpoint_id)
                  FROM stategraph.lg_checkpoints r WHERE r.thread_id = thread),
  'blobs', (SELECT jsonb_agg(to_jsonb(r) - 'thread_id' || jsonb_build_object('value', CASE WHEN r.value IS NOT NULL
                  THEN jsonb_build_array(r.value::text) END) ORDER BY r.checkpoint_ns, r.channel, r.writer)
            FROM stategraph.lg_blobs r WHERE r.thread_id = thread),
  'writes', (SELECT jsonb_agg(to_jsonb(r) - 'thread_id' || jsonb_build_object('value', CASE WHEN r.value IS NOT NULL
                  THEN jsonb_build_array(r.value::text) END) ORDER BY r.checkpoint_ns, r.checkpoint_id, r.task_id, r.idx)
             FROM stategraph.lg_writes r WHERE r.thread_id = thread)) AS d)
SELECT jsonb_build_object('format', 'stategraph.lg_thread', 'version', 2) || e.d
  || jsonb_build_object('digest', md5('2' || COALESCE(e.d -> 'thread_id', 'null')::text || COALESCE(e.d -> 'checkpoints', 'null')::text
                                      || COALESCE(e.d -> 'blobs', 'null')::text || COALESCE(e.d -> 'writes', 'null')::text))
FROM e
$$;
-- the same bytes and text as the reference
CREATE FUNCTION same_export(e jsonb, r jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN e::bytea = r::bytea AND e::text = r::text THEN 'same' ELSE 'DIFFERENT' END
$$;

-- a native thread of 4,500 checkpoints
CREATE FUNCTION bump(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('step', coalesce((state->>'step')::int, 0) + 1) $$;
SELECT sg_create_graph('mem', '{"step": "replace", "note": "replace"}') IS NOT NULL AS created;
SELECT sg_add_node('mem', 'bump', 'bump(jsonb)') IS NOT NULL AS added;
SELECT sg_add_edge('mem', '__start__', 'bump') IS NOT NULL AS edge1;
SELECT sg_add_edge('mem', 'bump', '__end__') IS NOT NULL AS edge2;
SELECT sg_compile('mem') IS NOT NULL AS compiled;
DO $$ BEGIN FOR i IN 1..1500 LOOP PERFORM sg_invoke('mem', jsonb_build_object('note', 'n' || i), thread_id => 'mem-native'); END LOOP; END $$;
SELECT sg_invoke('mem', '{"note": "small"}', thread_id => 'small') IS NOT NULL AS small;

-- a LangGraph.js thread of 1,500 checkpoints, each with one write
DO $$
BEGIN
  FOR i IN 1..1500 LOOP
    PERFORM sg_lg_put('mem-lg', '', CASE WHEN i > 1 THEN cid(i - 1) END,
      format('{"v": 4, "id": "%s", "ts": "2026-01-01T00:00:00.000Z", "channel_values": {"step": %s, "note": "a note", "branch:to:step1": null}, "channel_versions": {"step": %s, "note": 1, "branch:to:step1": %s}, "versions_seen": {"__input__": {}, "step1": {"branch:to:step1": %s}}}',
             cid(i), i, i, i, i - 1)::jsonb,
      format('{"source": "%s", "step": %s, "parents": {}}', CASE WHEN i % 3 = 1 THEN 'input' ELSE 'loop' END, i)::jsonb,
      CASE WHEN i = 1 THEN '{"step": 1, "note": 1, "branch:to:step1": 1}'::jsonb
           ELSE format('{"step": %s, "branch:to:step1": %s}', i, i)::jsonb END);
    PERFORM sg_lg_put_writes('mem-lg', '', cid(i), 'task-' || i, format('[["step", %s]]', i + 1)::jsonb);
  END LOOP;
END $$;

-- each measured in a new session, after a small export (its first call's caches)
\c -
SET search_path = export_memory;
SELECT pg_column_size(sg_export_thread('small')) > 0 AS warm;
SELECT peak_kb() AS before \gset
SELECT length(sg_export_thread('mem-native')::text) AS text_bytes \gset
INSERT INTO seen SELECT 'native', count(*), :text_bytes, peak_kb() - :before
FROM stategraph.checkpoints WHERE thread_id = 'mem-native';
\c -
SET search_path = export_memory;
SELECT pg_column_size(sg_export_thread('small')) > 0 AS warm;
SELECT peak_kb() AS before \gset
SELECT length(sg_export_thread('mem-lg')::text) AS text_bytes \gset
INSERT INTO seen SELECT 'LangGraph.js', count(*), :text_bytes, peak_kb() - :before
FROM stategraph.lg_checkpoints WHERE thread_id = 'mem-lg';
SELECT what, checkpoints, text_bytes > 1000000 AS over_1mb, growth_kb < 48 * 1024 AS under_48mb FROM seen ORDER BY what;

-- the same export as before
SELECT same_export(sg_export_thread('mem-native'), reference_export('mem-native')) AS native;
SELECT same_export(sg_export_thread('small'), reference_export('small')) AS small;
SELECT same_export(sg_export_thread('mem-lg'), reference_lg_export('mem-lg')) AS lg;
-- a LangGraph.js thread without blobs or writes (members null)
SELECT sg_lg_put('lg-bare', '', NULL,
  '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "2026-01-01T00:00:00.000Z", "channel_values": {}, "channel_versions": {}, "versions_seen": {}}',
  '{"source": "input", "step": -1, "parents": {}}', '{}') IS NOT NULL AS put;
SELECT same_export(e, reference_lg_export('lg-bare')) AS lg_bare, e->'blobs' AS blobs, e->'writes' AS writes
FROM sg_export_thread('lg-bare') e;
-- forks: of a checkpoint in the middle, and of an input checkpoint (fork_rows' images, writes, inputs)
SELECT sg_invoke('mem', '{"note": "x"}', thread_id => 'src') IS NOT NULL AND sg_invoke('mem', '{"note": "y"}', thread_id => 'src') IS NOT NULL AS src;
SELECT sg_fork('src', (SELECT checkpoint_id FROM sg_get_state_history('src') WHERE source = 'loop' ORDER BY checkpoint_id LIMIT 1), 'fk') IS NOT NULL AS forked;
SELECT sg_invoke('mem', '{"note": "z"}', thread_id => 'fk') IS NOT NULL AS ran;
SELECT sg_fork('src', (SELECT checkpoint_id FROM sg_get_state_history('src') WHERE source = 'input' ORDER BY checkpoint_id LIMIT 1), 'fk-in') IS NOT NULL AS forked;
SELECT t, same_export(e, reference_export(t,
         (SELECT jsonb_object_agg(c->>'checkpoint_id', c->'image') FROM jsonb_array_elements(e->'checkpoints') c WHERE c->>'parent_thread' IS NOT NULL),
         e->'fork_writes',
         (SELECT jsonb_object_agg(c->>'checkpoint_id', c->'meta'->'input_writes') FROM jsonb_array_elements(e->'checkpoints') c
          JOIN stategraph.checkpoints s ON s.thread_id = t AND s.checkpoint_id::text = c->>'checkpoint_id'
          WHERE c->>'parent_thread' IS NOT NULL AND c->'meta' ? 'input_writes' AND NOT coalesce(s.meta ? 'input_writes', false)))) AS same,
       e->'fork_writes' IS NOT NULL AND e->'fork_writes' <> 'null' AS has_fork_writes
FROM unnest(ARRAY['fk', 'fk-in']) t, sg_export_thread(t) e;
-- and each imports
SELECT sg_import_thread(sg_export_thread('mem-native'), 'mem-native-copy') IS NOT NULL AS native,
       sg_import_thread(sg_export_thread('mem-lg'), 'mem-lg-copy') IS NOT NULL AS lg,
       sg_import_thread(sg_export_thread('fk-in'), 'fk-in-copy') IS NOT NULL AS fork;

DROP CAST (jsonb AS bytea);
SET client_min_messages = warning;
DROP SCHEMA export_memory CASCADE;
