-- Issue 11: sg_lg_put stores "checkpoint v4 JSON: v, id, ts, channel_values,
-- channel_versions, versions_seen, updated_channels; metadata source, step,
-- parents, run_id". LangGraph.js 1.7.3 writes no updated_channels (LangGraph
-- for Python does), so neither the saver suite nor the JS tests sent one, and
-- no test read one back (audit rev9audit). Here every field of a v4
-- checkpoint and its metadata reads back as put, through sg_lg_get_tuple and
-- sg_lg_list, and through sg_lg_copy_thread and sg_export_thread /
-- sg_import_thread; sg_lg_delete_for_runs finds the checkpoint by run_id.
-- And sg_lg_put_writes' special channels: LangGraph's indexes, replaced as
-- PostgresSaver replaces them.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION stategraph;
SELECT plan(19);

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

-- put_writes: LangGraph's indexes of the special channels (WRITES_IDX_MAP); a call
-- of special writes only replaces them, one that mixes them keeps the first
-- (PostgresSaver's upsert / insert); a retry stores nothing twice
SELECT is(sg_lg_put_writes('lg-v4', '', '1f0a0000-0000-6000-8000-000000000001', 't1',
          '[["__error__", {"m": 1}], ["__scheduled__", 1], ["__interrupt__", [{"value": "q"}]], ["__resume__", ["a"]], ["x", 5]]'),
          5, 'put_writes stores five writes');
SELECT is((SELECT string_agg(idx || ' ' || channel, ', ' ORDER BY idx) FROM stategraph.lg_writes WHERE thread_id = 'lg-v4'),
          '-4 __resume__, -3 __interrupt__, -2 __scheduled__, -1 __error__, 4 x', 'the special channels at indexes -1..-4');
SELECT is(sg_lg_put_writes('lg-v4', '', '1f0a0000-0000-6000-8000-000000000001', 't1', '[["__interrupt__", [{"value": "q2"}]], ["x", 6]]'),
          1, 'a call that mixes them stores the other write');
SELECT is((SELECT value #>> '{0,value}' FROM stategraph.lg_writes WHERE thread_id = 'lg-v4' AND idx = -3), 'q',
          'and keeps the interrupt');
SELECT is(sg_lg_put_writes('lg-v4', '', '1f0a0000-0000-6000-8000-000000000001', 't1', '[["__interrupt__", [{"value": "q3"}]]]'),
          1, 'a call of special writes only');
SELECT is((SELECT value #>> '{0,value}' FROM stategraph.lg_writes WHERE thread_id = 'lg-v4' AND idx = -3), 'q3',
          'replaces it');
SELECT is(sg_lg_put_writes('lg-v4', '', '1f0a0000-0000-6000-8000-000000000001', 't1', '[["__interrupt__", [{"value": "q2"}]], ["x", 6]]'),
          0, 'a retry stores nothing');

-- delete_for_runs finds it by metadata.run_id, in every thread
SELECT is(sg_lg_delete_for_runs(ARRAY['run-1']), 3::bigint, 'sg_lg_delete_for_runs removes the three threads'' checkpoints of run-1');

SELECT * FROM finish();
ROLLBACK;
