--
-- Found by fuzzing (test/fuzz/surfaces.py): a LangGraph.js value stored by
-- reference to the parent's pending write must not change when a later
-- put_writes replaces a special write (__error__, __interrupt__, ...: those
-- are upserted, the others never change once stored).
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA fuzz3_lg_writes;
SET search_path = fuzz3_lg_writes;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

SELECT sg_lg_put('w', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-c00000000001", "ts": "2026-01-02T00:00:00.000Z",
      "channel_values": {}, "channel_versions": {}, "versions_seen": {}}', '{}', '{}');
-- a special write on the parent, and a checkpoint holding exactly its value
SELECT sg_lg_put_writes('w', '', '1ef00000-0000-6000-8000-c00000000001', 't',
    jsonb_build_array(jsonb_build_array('__error__', jsonb_build_object('message', repeat('e', 1000)))));
SELECT sg_lg_put('w', '', '1ef00000-0000-6000-8000-c00000000001',
    jsonb_build_object('v', 4, 'id', '1ef00000-0000-6000-8000-c00000000002', 'ts', '2026-01-02T00:00:01.000Z',
                       'channel_values', jsonb_build_object('__error__', jsonb_build_object('message', repeat('e', 1000))),
                       'channel_versions', '{"__error__": 2}'::jsonb, 'versions_seen', '{}'::jsonb),
    '{}', '{"__error__": 2}');
SELECT length(sg_lg_get_tuple('w', '', '1ef00000-0000-6000-8000-c00000000002')::jsonb
              #>> '{channel_values,__error__,message}') AS stored;
-- the special write replaced: the checkpoint still reads what was put
SELECT sg_lg_put_writes('w', '', '1ef00000-0000-6000-8000-c00000000001', 't', '[["__error__", "changed"]]');
SELECT sg_lg_get_tuple('w', '', '1ef00000-0000-6000-8000-c00000000001')::jsonb -> 'pending_writes' AS parent_writes;
SELECT length(sg_lg_get_tuple('w', '', '1ef00000-0000-6000-8000-c00000000002')::jsonb
              #>> '{channel_values,__error__,message}') AS still_stored;
-- the same with __interrupt__, through the export and import of the thread
SELECT sg_lg_put_writes('w', '', '1ef00000-0000-6000-8000-c00000000002', 't',
    jsonb_build_array(jsonb_build_array('__interrupt__', jsonb_build_array(jsonb_build_object('value', repeat('i', 1000))))));
SELECT sg_lg_put('w', '', '1ef00000-0000-6000-8000-c00000000002',
    jsonb_build_object('v', 4, 'id', '1ef00000-0000-6000-8000-c00000000003', 'ts', '2026-01-02T00:00:02.000Z',
                       'channel_values', jsonb_build_object('__interrupt__', jsonb_build_array(jsonb_build_object('value', repeat('i', 1000)))),
                       'channel_versions', '{"__error__": 2, "__interrupt__": 3}'::jsonb, 'versions_seen', '{}'::jsonb),
    '{}', '{"__interrupt__": 3}');
SELECT sg_import_thread(sg_export_thread('w'), 'w2');
SELECT sg_lg_put_writes(t, '', '1ef00000-0000-6000-8000-c00000000002', 't', '[["__interrupt__", []]]')
  FROM unnest(ARRAY['w', 'w2']) t;
SELECT t, length(sg_lg_get_tuple(t, '', '1ef00000-0000-6000-8000-c00000000003')::jsonb
                 #>> '{channel_values,__interrupt__,0,value}') AS still_stored
  FROM unnest(ARRAY['w', 'w2']) t;
-- no value row refers to a special write
SELECT count(*) AS refers_to_special FROM stategraph.lg_blobs WHERE widx < 0;

DROP SCHEMA fuzz3_lg_writes CASCADE;
