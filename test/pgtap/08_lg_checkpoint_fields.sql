-- Issue 11: sg_lg_put stores "checkpoint v4 JSON: v, id, ts, channel_values,
-- channel_versions, versions_seen, updated_channels; metadata source, step,
-- parents, run_id". LangGraph.js 1.7.3 writes no updated_channels (LangGraph
-- for Python does), so neither the saver suite nor the JS tests sent one, and
-- no test read one back (audit rev9audit). Here every field of a v4
-- checkpoint and its metadata reads back as put, through sg_lg_get_tuple and
-- sg_lg_list, and through sg_lg_copy_thread and sg_export_thread /
-- sg_import_thread; sg_lg_delete_for_runs finds the checkpoint by run_id.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION stategraph;
SELECT plan(12);

CREATE TEMP TABLE put AS SELECT
    '{"v": 4, "id": "1f0a0000-0000-6000-8000-000000000001", "ts": "2026-11-30T00:00:00.000Z",
      "channel_values": {"messages": ["hi"], "n": 1},
      "channel_versions": {"messages": 1, "n": 1, "__start__": 1},
      "versions_seen": {"__input__": {}, "__start__": {"__start__": 1}},
      "updated_channels": ["messages", "n"]}'::jsonb AS checkpoint,
    '{"source": "input", "step": -1, "parents": {"": "1f0a0000-0000-6000-8000-0000000000aa"}, "run_id": "run-1", "user": "x"}'::jsonb AS metadata;
SELECT is(sg_lg_put('lg-v4', '', NULL, checkpoint, metadata, '{"messages": 1, "n": 1}'),
          '1f0a0000-0000-6000-8000-000000000001'::uuid, 'sg_lg_put stores a v4 checkpoint with updated_channels')
  FROM put;

-- the checkpoint as put: its channel values beside it, every other field in it
CREATE FUNCTION pg_temp.as_put(doc json) RETURNS jsonb LANGUAGE sql AS $$
    SELECT (doc::jsonb -> 'checkpoint') || jsonb_build_object('channel_values', doc::jsonb -> 'channel_values') $$;
SELECT is(pg_temp.as_put(sg_lg_get_tuple('lg-v4')), checkpoint, 'sg_lg_get_tuple: every field of the checkpoint as put')
  FROM put;
SELECT is(sg_lg_get_tuple('lg-v4')::jsonb -> 'checkpoint' -> 'updated_channels', '["messages", "n"]',
          'updated_channels among them');
SELECT is(sg_lg_get_tuple('lg-v4')::jsonb -> 'metadata', metadata, 'sg_lg_get_tuple: the metadata as put (source, step, parents, run_id)')
  FROM put;
SELECT is((SELECT pg_temp.as_put(t) FROM sg_lg_list('lg-v4') t), checkpoint, 'sg_lg_list: the same checkpoint')
  FROM put;
SELECT is((SELECT t::jsonb -> 'metadata' FROM sg_lg_list('lg-v4', filter => '{"run_id": "run-1"}') t), metadata,
          'sg_lg_list filters on run_id')
  FROM put;

-- copies keep them
SELECT is(sg_lg_copy_thread('lg-v4', 'lg-v4-copy'), 1::bigint, 'sg_lg_copy_thread copies the checkpoint');
SELECT is(pg_temp.as_put(sg_lg_get_tuple('lg-v4-copy')), checkpoint, 'and the copy reads as put') FROM put;
SELECT is(sg_import_thread(sg_export_thread('lg-v4'), 'lg-v4-imported'), 'lg-v4-imported', 'export and import under a new id');
SELECT is(pg_temp.as_put(sg_lg_get_tuple('lg-v4-imported')), checkpoint, 'and the import reads as put') FROM put;
SELECT is(sg_lg_get_tuple('lg-v4-imported')::jsonb -> 'metadata', metadata, 'its metadata too') FROM put;

-- delete_for_runs finds it by metadata.run_id, in every thread
SELECT is(sg_lg_delete_for_runs(ARRAY['run-1']), 3::bigint, 'sg_lg_delete_for_runs removes the three threads'' checkpoints of run-1');

SELECT * FROM finish();
ROLLBACK;
