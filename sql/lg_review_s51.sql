--
-- Three defects of the LangGraph.js checkpointer's SQL side a review found
-- (2026-12-07):
-- 1. a versions_seen that is not an object of objects was stored by
--    sg_lg_put (and by sg_import_thread of a re-digested export), and every
--    read of the thread's next nodes (sg_get_state, sg_threads, and
--    stategraph.lg_next, which any role may call) looked keys up in an
--    array: the server crashed (SIGSEGV). Put refuses it (22023), import
--    too (SGX01), and the read looks keys up in objects only.
-- 2. a value equal to a pending write of a parent id that was never stored
--    (an update's) referred to that stray write: sg_lg_copy_thread, which
--    copies the writes of the checkpoints it copies, made a thread whose
--    value no read could find. Only a stored parent's writes are referred to.
-- 3. a metadata step that is no int4 (1e10) made sg_get_state and
--    sg_get_state_history fail with 22003: it reads as no step, as a step
--    that is no number.
-- (And a checkpoint that names itself as its parent is refused, 22023.)
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA lg_review_s51;
SET search_path = lg_review_s51;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY default

-- 1. versions_seen: refused at put, nothing stored
CREATE FUNCTION pg_temp.put_seen(t text, seen jsonb) RETURNS uuid LANGUAGE sql AS $$
    SELECT sg_lg_put(t, '', NULL,
        jsonb_build_object('v', 4, 'id', '1f000000-0000-6000-8000-0000000000a1',
                           'channel_versions', '{"branch:to:X": 1}'::jsonb, 'versions_seen', seen),
        '{"source": "input", "step": -1}', '{"branch:to:X": 1}', channel_values => '{"branch:to:X": null}') $$;
SELECT pg_temp.put_seen('vs', '{"X": ["zzzzaaa\u0010", "11111111111", "Xbranch:to:X"]}');
\set VERBOSITY sqlstate
SELECT pg_temp.put_seen('vs', '[1]');
SELECT pg_temp.put_seen('vs', '"X"');
\set VERBOSITY default
SELECT count(*) FROM stategraph.lg_checkpoints WHERE thread_id = 'vs';
-- objects, empty ones and null are LangGraph's (and were stored before)
SELECT pg_temp.put_seen('vs', '{"X": {"branch:to:X": 1}, "__input__": {}}');
SELECT thread_id, next FROM sg_get_state('vs');
SELECT pg_temp.put_seen('vs-null', 'null') IS NOT NULL AS stored_null;
SELECT thread_id, next FROM sg_get_state('vs-null');
-- the read takes what put no longer stores (rows of an earlier build, or
-- any role's call of lg_next) without reading past an array
SELECT stategraph.lg_next('vs', '{"v": 4, "channel_versions": {"branch:to:X": 1},
    "versions_seen": {"X": ["zzzzaaa\u0010", "11111111111", "Xbranch:to:X"]}}', '{"branch:to:X": ["x"]}');
SELECT stategraph.lg_next('vs', '{"v": 4, "channel_versions": {"branch:to:X": 1}, "versions_seen": [1, 2, 3]}',
    '{"branch:to:X": ["x"]}');
SELECT stategraph.lg_next('vs', '{"v": 4, "channel_versions": {"branch:to:X": 2},
    "versions_seen": {"X": {"branch:to:X": 1}}}', '{"branch:to:X": ["x"]}');
-- an export re-digested with such a versions_seen: refused, nothing stored
CREATE FUNCTION pg_temp.redigest(d jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT d || jsonb_build_object('digest', md5((d->'version')::text || COALESCE(d->'thread_id', 'null')::text
        || COALESCE(d->'checkpoints', 'null')::text || COALESCE(d->'blobs', 'null')::text || COALESCE(d->'writes', 'null')::text)) $$;
SELECT sg_import_thread(pg_temp.redigest(jsonb_set(sg_export_thread('vs'), '{checkpoints,0,checkpoint,versions_seen}',
    '{"X": ["zzzzaaa", "1", "Xbranch:to:X"]}')), 'vs-imported');
SELECT sg_import_thread(pg_temp.redigest(jsonb_set(sg_export_thread('vs'), '{checkpoints,0,checkpoint,versions_seen}',
    '[1]')), 'vs-imported');
SELECT count(*) FROM stategraph.lg_checkpoints WHERE thread_id = 'vs-imported';
-- the same export unchanged, and with a null versions_seen, are imported
SELECT sg_import_thread(pg_temp.redigest(sg_export_thread('vs')), 'vs-imported');
SELECT sg_import_thread(pg_temp.redigest(jsonb_set(sg_export_thread('vs'), '{checkpoints,0,checkpoint,versions_seen}',
    'null')), 'vs-imported-null');
SELECT thread_id, next FROM sg_get_state('vs-imported');

-- 2. a value equal to a stray write of a parent id that was never stored
SELECT sg_lg_put('ph', '', NULL, '{"v": 4, "id": "1f000000-0000-6000-8000-0000000000d9", "channel_versions": {}, "versions_seen": {}}',
    '{"source": "input", "step": -1}', '{}') IS NOT NULL AS first;
SELECT sg_lg_put_writes('ph', '', '1f000000-0000-6000-8000-0000000000e0', 'tk', '[["big", null]]',
    "values" => ('[{"k": "' || repeat('c', 72) || '"}]')::json);
SELECT sg_lg_put('ph', '', '1f000000-0000-6000-8000-0000000000e0',
    '{"v": 4, "id": "1f000000-0000-6000-8000-0000000000e1", "channel_versions": {"big": 2}, "versions_seen": {}}',
    '{"source": "update", "step": 0}', '{"big": 2}',
    channel_values => json_build_object('big', json_build_object('k', repeat('c', 72)))) IS NOT NULL AS update_put;
-- the value is stored whole, referring to no write
SELECT channel, wcheckpoint IS NULL AS no_reference, value IS NOT NULL AS stored FROM stategraph.lg_blobs WHERE thread_id = 'ph';
SELECT sg_lg_copy_thread('ph', 'ph_cp');
SELECT length(sg_lg_get_tuple('ph_cp')->'channel_values'->'big'->>'k') AS copied_value_length;
SELECT (sg_lg_get_tuple('ph_cp')->'channel_values')::jsonb = (sg_lg_get_tuple('ph')->'channel_values')::jsonb AS copy_reads_as_original;
SELECT sg_lg_prune(ARRAY['ph_cp'], 'keep_latest');
SELECT length(values->'big'->>'k') AS pruned_copy_value_length FROM sg_get_state('ph_cp');

-- 3. a step that is no int4
SELECT sg_lg_put('st', '', NULL, '{"v": 4, "id": "1f000000-0000-6000-8000-0000000000b1", "channel_versions": {}, "versions_seen": {}}',
    '{"source": "input", "step": 1e10}', '{}') IS NOT NULL AS stored_big_step;
SELECT sg_lg_put('st', '', '1f000000-0000-6000-8000-0000000000b1',
    '{"v": 1e10, "id": "1f000000-0000-6000-8000-0000000000b2", "channel_versions": {}, "versions_seen": {}}',
    '{"source": "loop", "step": 2}', '{}') IS NOT NULL AS stored_big_v;
SELECT thread_id, step, source FROM sg_get_state('st');
SELECT step, source FROM sg_get_state_history('st') ORDER BY checkpoint_id;
SELECT sg_lg_get_tuple('st', checkpoint_id => '1f000000-0000-6000-8000-0000000000b2')->'checkpoint'->'v' AS v;

-- a checkpoint that names itself as its parent (a client walking parents
-- would loop): refused, nothing stored
SELECT sg_lg_put('self', '', '1f000000-0000-6000-8000-0000000000c1',
    '{"v": 4, "id": "1f000000-0000-6000-8000-0000000000c1", "channel_versions": {}, "versions_seen": {}}',
    '{"source": "update", "step": 0}', '{}');
SELECT count(*) FROM stategraph.lg_checkpoints WHERE thread_id = 'self';

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA lg_review_s51 CASCADE;
