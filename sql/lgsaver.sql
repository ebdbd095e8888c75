--
-- LangGraph checkpoint storage (sg_lg_ functions, src/lgsaver.c), called as
-- clients/langgraph-js's StategraphSaver calls them, and LangGraph.js threads
-- read with sg_threads / sg_get_state / sg_get_state_history.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA lgsaver;
SET search_path = lgsaver;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- a thread as LangGraph.js writes the seed's graph: input, then steps 0..2
SELECT sg_lg_put('lgs-1', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "2026-01-01T00:00:00.000Z",
      "channel_values": {"__start__": {"messages": [], "step": 0}},
      "channel_versions": {"__start__": 1}, "versions_seen": {"__input__": {}}}',
    '{"source": "input", "step": -1, "parents": {}}', '{"__start__": 1}');
SELECT sg_lg_put_writes('lgs-1', '', '1ef00000-0000-6000-8000-000000000001', 'task-start',
    '[["messages", []], ["step", 0], ["branch:to:step1", null]]');
SELECT sg_lg_put('lgs-1', '', '1ef00000-0000-6000-8000-000000000001',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000002", "ts": "2026-01-01T00:00:01.000Z",
      "channel_values": {"messages": [], "step": 0, "branch:to:step1": null},
      "channel_versions": {"__start__": 2, "messages": 2, "step": 2, "branch:to:step1": 2},
      "versions_seen": {"__input__": {}, "__start__": {"__start__": 1}}}',
    '{"source": "loop", "step": 0, "parents": {}}', '{"__start__": 2, "messages": 2, "step": 2, "branch:to:step1": 2}');
SELECT sg_lg_put_writes('lgs-1', '', '1ef00000-0000-6000-8000-000000000002', 'task-1',
    '[["messages", ["Step 1 complete"]], ["step", 1], ["branch:to:step2", null]]');
SELECT sg_lg_put('lgs-1', '', '1ef00000-0000-6000-8000-000000000002',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000003", "ts": "2026-01-01T00:00:02.000Z",
      "channel_values": {"messages": ["Step 1 complete"], "step": 1, "branch:to:step2": null},
      "channel_versions": {"__start__": 2, "messages": 3, "step": 3, "branch:to:step1": 3, "branch:to:step2": 3},
      "versions_seen": {"__input__": {}, "__start__": {"__start__": 1}, "step1": {"branch:to:step1": 2}}}',
    '{"source": "loop", "step": 1, "parents": {}}', '{"messages": 3, "step": 3, "branch:to:step1": 3, "branch:to:step2": 3}');
-- step2 fails: its error is a special write (index -1); a retry stores nothing twice
SELECT sg_lg_put_writes('lgs-1', '', '1ef00000-0000-6000-8000-000000000003', 'task-2',
    '[["__error__", {"name": "Error", "message": "step2 failed"}]]');
SELECT sg_lg_put_writes('lgs-1', '', '1ef00000-0000-6000-8000-000000000003', 'task-2',
    '[["__error__", {"name": "Error", "message": "step2 failed"}]]');
SELECT idx, channel FROM stategraph.lg_writes WHERE thread_id = 'lgs-1' AND task_id = 'task-2';

-- get_tuple: the newest checkpoint with its values and pending writes
SELECT t->'checkpoint'->'channel_versions' AS versions, t->'channel_values' AS "values",
       t->'pending_writes' AS writes, t->>'parent_checkpoint_id' AS parent
  FROM sg_lg_get_tuple('lgs-1') t;
-- list: newest first, filter on metadata, before, limit
SELECT t->>'checkpoint_id' AS id, t->'metadata'->>'step' AS step FROM sg_lg_list('lgs-1', '') t;
SELECT t->>'checkpoint_id' AS id FROM sg_lg_list('lgs-1', '', '{"source": "loop"}', "limit" => 1) t;
SELECT t->>'checkpoint_id' AS id FROM sg_lg_list('lgs-1', '', before => '1ef00000-0000-6000-8000-000000000003') t;

-- the same thread in SQL, as stategraph's own threads are read
SELECT thread_id, graph, status, next, checkpoints FROM sg_threads() WHERE thread_id LIKE 'lgs-%';
SELECT step, source, next, "values", tasks->0->'error' AS error FROM sg_get_state('lgs-1');
SELECT step, source, next, "values" FROM sg_get_state_history('lgs-1');
SELECT step, next FROM sg_get_state_history('lgs-1', "limit" => 1, filter => '{"step": 0}');

-- a second writer extending a stale checkpoint is refused; a fork (time travel, updateState) is not
SELECT sg_lg_put('lgs-1', '', '1ef00000-0000-6000-8000-000000000002',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000009", "ts": "x", "channel_values": {}, "channel_versions": {}, "versions_seen": {}}',
    '{"source": "loop", "step": 1}', '{}');
-- and a first checkpoint from a writer that saw the thread empty, now that another started it
SELECT sg_lg_put('lgs-1', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-00000000000a", "ts": "x", "channel_values": {}, "channel_versions": {}, "versions_seen": {}}',
    '{"source": "input", "step": -1}', '{}', expect_new => true);
-- so is one that extends the head but would sort before it (its host's clock behind the parent's, or an id of the same instant), said so
SELECT sg_lg_put('lgs-1', '', '1ef00000-0000-6000-8000-000000000003',
    '{"v": 4, "id": "1ef00000-0000-6000-7000-000000000009", "ts": "x", "channel_values": {}, "channel_versions": {}, "versions_seen": {}}',
    '{"source": "loop", "step": 1}', '{}');
-- a run from an older checkpoint read by its id (parent_by_id: time travel) may extend it, but must become the newest
SELECT sg_lg_put('lgs-1', '', '1ef00000-0000-6000-8000-000000000002',
    '{"v": 4, "id": "1ef00000-0000-6000-7000-00000000000b", "ts": "x", "channel_values": {}, "channel_versions": {}, "versions_seen": {}}',
    '{"source": "input", "step": 1}', '{}', parent_by_id => true);
SELECT sg_lg_put('lgs-1', '', '1ef00000-0000-6000-8000-000000000003',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000004", "ts": "x",
      "channel_values": {"messages": ["Step 1 complete", "forked"]},
      "channel_versions": {"messages": 4, "step": 2}, "versions_seen": {}}',
    '{"source": "fork", "step": 1}', '{"messages": 4}');
SELECT t->'channel_values' FROM sg_lg_get_tuple('lgs-1', '', '1ef00000-0000-6000-8000-000000000004') t;
-- the fork's messages extend its parent's: only the new element is stored
SELECT channel, base IS NOT NULL AS extends, n, value FROM stategraph.lg_blobs
 WHERE thread_id = 'lgs-1' AND channel = 'messages' ORDER BY writer;

-- copy, prune (keep_latest rewrites the kept values whole), delete
SELECT sg_lg_copy_thread('lgs-1', 'lgs-2');
SELECT sg_lg_copy_thread('lgs-1', 'lgs-2');
SELECT sg_lg_prune(ARRAY['lgs-2']);
SELECT t->'channel_values' FROM sg_lg_get_tuple('lgs-2') t;
SELECT count(*) AS blobs, count(base) AS extending FROM stategraph.lg_blobs WHERE thread_id = 'lgs-2';
SELECT sg_lg_delete_thread('lgs-2');
SELECT count(*) FROM sg_lg_list('lgs-2');
-- a run that goes on after its thread was deleted: its next checkpoint would lose the
-- values it does not send (those of its deleted parent), so it is refused, nothing stored
SELECT sg_lg_put('lgs-2', '', '1ef00000-0000-6000-8000-000000000003',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-00000000000b", "ts": "x", "channel_values": {"step": 3},
      "channel_versions": {"messages": 3, "step": 3}, "versions_seen": {}}',
    '{"source": "loop", "step": 2}', '{"step": 3}');
SELECT count(*) FROM sg_lg_list('lgs-2');

-- runs: the first run's checkpoints go; the fork extended a value of theirs, rewritten whole
UPDATE stategraph.lg_checkpoints SET metadata = metadata || '{"run_id": "run-a"}'
 WHERE thread_id = 'lgs-1' AND checkpoint_id < '1ef00000-0000-6000-8000-000000000004';
SELECT sg_lg_delete_for_runs(ARRAY['run-a']);
SELECT t->'channel_values'->'messages' FROM sg_lg_get_tuple('lgs-1', '', '1ef00000-0000-6000-8000-000000000004') t;
SELECT channel, base IS NOT NULL AS extends, n FROM stategraph.lg_blobs WHERE thread_id = 'lgs-1' ORDER BY writer, channel;

-- typed bytes (values LangGraph's serializer does not write as JSON)
SELECT sg_lg_put('lgs-3', 'sub:1', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000005", "ts": "x", "channel_values": {},
      "channel_versions": {"blob": 1}, "versions_seen": {}}',
    '{"source": "input", "step": -1}', '{"blob": 1}', ARRAY['blob'], ARRAY['bytes'], ARRAY['\x00ff'::bytea]);
SELECT sg_lg_put_writes('lgs-3', 'sub:1', '1ef00000-0000-6000-8000-000000000005', 't', '[["blob", null]]',
    bytes_index => ARRAY[0], bytes_types => ARRAY['bytes'], bytes_values => ARRAY['\x01'::bytea]);
SELECT t->'channel_bytes' AS bytes, t->'pending_writes' AS writes FROM sg_lg_get_tuple('lgs-3', 'sub:1') t;
SELECT sg_lg_get_tuple('lgs-3') IS NULL AS root_namespace_is_empty;

-- bad input
SELECT sg_lg_put(NULL, '', NULL, '{"id": "1ef00000-0000-6000-8000-000000000006"}', '{}', '{}');
SELECT sg_lg_put('lgs-4', '', NULL, '[]', '{}', '{}');
SELECT sg_lg_put('lgs-4', '', NULL, '{"v": 4}', '{}', '{}');
SELECT sg_lg_put('lgs-4', '', NULL, '{"id": "not-a-uuid"}', '{}', '{}');
SELECT sg_lg_put_writes('lgs-4', '', NULL, 't', '[]');
SELECT sg_lg_put_writes('lgs-4', '', '1ef00000-0000-6000-8000-000000000006', 't', '[["only-a-channel"]]');
SELECT sg_lg_put_writes('lgs-4', '', '1ef00000-0000-6000-8000-000000000006', 't', '{}');
SELECT sg_lg_prune(ARRAY['lgs-1'], 'keep_some');
SELECT sg_lg_list("limit" => -1);
SELECT count(*) FROM stategraph.lg_checkpoints WHERE thread_id = 'lgs-4';

-- storage: a value the next checkpoint stores that is exactly a pending write
-- of its parent (a node's new messages) is not copied: its value row refers to
-- that write; the checkpoint column does not repeat its id; reads give back both
\set long '"a reply long enough to be stored once, as the task''s write, not again as the checkpoint''s value"'
SELECT sg_lg_put('lgs-ref', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000101", "ts": "t1", "channel_values": {"messages": ["hi"]},
      "channel_versions": {"messages": 1}, "versions_seen": {}}',
    '{"source": "loop", "step": 0}', '{"messages": 1}');
SELECT sg_lg_put_writes('lgs-ref', '', '1ef00000-0000-6000-8000-000000000101', 'task-chat',
    format('[["messages", [%s]], ["small", [1]]]', :'long')::jsonb);
SELECT sg_lg_put('lgs-ref', '', '1ef00000-0000-6000-8000-000000000101',
    format('{"v": 4, "id": "1ef00000-0000-6000-8000-000000000102", "ts": "t2", "channel_values": {"messages": ["hi", %s], "small": [1]},
      "channel_versions": {"messages": 2, "small": 2}, "versions_seen": {}}', :'long')::jsonb,
    '{"source": "loop", "step": 1}', '{"messages": 2, "small": 2}');
SELECT channel, base IS NOT NULL AS extends, value IS NULL AS not_copied, wcheckpoint, wtask, widx
  FROM stategraph.lg_blobs WHERE thread_id = 'lgs-ref' ORDER BY writer, channel;
SELECT checkpoint::jsonb ? 'id' AS id_stored FROM stategraph.lg_checkpoints WHERE thread_id = 'lgs-ref' LIMIT 1;
SELECT t->'checkpoint'->>'id' AS id, (t->'channel_values')::jsonb = format('{"messages": ["hi", %s], "small": [1]}', :'long')::jsonb AS values_read
  FROM sg_lg_get_tuple('lgs-ref') t;
SELECT (t->'pending_writes')::jsonb = format('[["task-chat", "messages", [%s]], ["task-chat", "small", [1]]]', :'long')::jsonb AS writes_read
  FROM sg_lg_get_tuple('lgs-ref', '', '1ef00000-0000-6000-8000-000000000101') t;
-- the copy refers to its own rows; storing the checkpoint again with another value stores that value
SELECT sg_lg_copy_thread('lgs-ref', 'lgs-ref-copy');
SELECT channel, value IS NULL AS not_copied, wcheckpoint FROM stategraph.lg_blobs WHERE thread_id = 'lgs-ref-copy' ORDER BY writer, channel;
SELECT (t->'channel_values'->'messages'->1)::jsonb = :'long'::jsonb AS copy_reads FROM sg_lg_get_tuple('lgs-ref-copy') t;
SELECT sg_lg_put('lgs-ref', '', '1ef00000-0000-6000-8000-000000000101',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000102", "ts": "t2", "channel_values": {"messages": ["hi", "other"]},
      "channel_versions": {"messages": 3}, "versions_seen": {}}',
    '{"source": "loop", "step": 1}', '{"messages": 3}');
SELECT channel, value, wcheckpoint FROM stategraph.lg_blobs WHERE thread_id = 'lgs-ref' AND channel = 'messages' ORDER BY writer;
SELECT t->'channel_values' AS "values" FROM sg_lg_get_tuple('lgs-ref') t;
-- a checkpoint put again with another value: the checkpoint after it, whose
-- value was stored as what it appends to the first one, still reads as put
SELECT sg_lg_put('lgs-again', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000e01", "ts": "x", "channel_values": {"m": ["a", "a2"]},
      "channel_versions": {"m": 1}, "versions_seen": {}}', '{"source": "input", "step": -1}', '{"m": 1}') IS NOT NULL AS put,
       sg_lg_put('lgs-again', '', '1ef00000-0000-6000-8000-000000000e01',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000e02", "ts": "x", "channel_values": {"m": ["a", "a2", "b"]},
      "channel_versions": {"m": 2}, "versions_seen": {}}', '{"source": "loop", "step": 0}', '{"m": 2}') IS NOT NULL AS extended;
SELECT sg_lg_put('lgs-again', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000e01", "ts": "x", "channel_values": {"m": ["x", "y"]},
      "channel_versions": {"m": 1}, "versions_seen": {}}', '{"source": "input", "step": -1}', '{"m": 1}') IS NOT NULL AS put_again;
SELECT t->>'checkpoint_id' AS checkpoint_id, t->'channel_values' AS "values"
  FROM sg_lg_list('lgs-again') t ORDER BY 1;
SELECT writer, base, n, value FROM stategraph.lg_blobs WHERE thread_id = 'lgs-again' ORDER BY writer;
SELECT sg_lg_delete_thread('lgs-again') AS deleted;
-- pruning the write's checkpoint copies the value into the row that refers to it
SELECT sg_lg_delete_for_runs('{none}');
UPDATE stategraph.lg_checkpoints SET metadata = metadata || '{"run_id": "r1"}'
 WHERE thread_id = 'lgs-ref-copy' AND checkpoint_id = '1ef00000-0000-6000-8000-000000000101';
SELECT sg_lg_delete_for_runs('{r1}');
SELECT channel, value IS NULL AS not_copied, wcheckpoint FROM stategraph.lg_blobs WHERE thread_id = 'lgs-ref-copy' ORDER BY writer, channel;
SELECT (t->'channel_values')::jsonb = format('{"messages": ["hi", %s], "small": [1]}', :'long')::jsonb AS kept_read,
       (SELECT count(*) FROM stategraph.lg_writes WHERE thread_id = 'lgs-ref-copy') AS writes_left
  FROM sg_lg_get_tuple('lgs-ref-copy') t;
-- large JSON values are stored compressed, and read back whole
SELECT sg_lg_put_writes('lgs-ref-copy', '', '1ef00000-0000-6000-8000-000000000102', 'task-big',
    format('[["doc", %s]]', to_jsonb(repeat('all work and no play ', 40)))::jsonb);
SELECT pg_column_size(value) < octet_length(value::text) AS compressed, value #>> '{}' = repeat('all work and no play ', 40) AS same
  FROM stategraph.lg_writes WHERE thread_id = 'lgs-ref-copy' AND task_id = 'task-big';
SELECT sg_lg_delete_thread('lgs-ref') + sg_lg_delete_thread('lgs-ref-copy') AS deleted;

-- appends: the value sent holds what is appended to the n-element value that base wrote;
-- the row extends base's digest chain (the same n and digest as the whole value sent)
SELECT sg_lg_put('lgs-app', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000a01", "ts": "x", "channel_values": {"m": [1, {"a": "b"}]},
      "channel_versions": {"m": 1}, "versions_seen": {}}', '{"source": "input", "step": -1}', '{"m": 1}');
SELECT sg_lg_put('lgs-app', '', '1ef00000-0000-6000-8000-000000000a01',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000a02", "ts": "x", "channel_values": {"m": ["c", null]},
      "channel_versions": {"m": 2}, "versions_seen": {}}', '{"source": "loop", "step": 0}', '{"m": 2}',
    appends => '{"m": {"base": "1ef00000-0000-6000-8000-000000000a01", "n": 2}}');
SELECT sg_lg_put('lgs-app-whole', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000a01", "ts": "x", "channel_values": {"m": [1, {"a": "b"}]},
      "channel_versions": {"m": 1}, "versions_seen": {}}', '{"source": "input", "step": -1}', '{"m": 1}');
SELECT sg_lg_put('lgs-app-whole', '', '1ef00000-0000-6000-8000-000000000a01',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000a02", "ts": "x", "channel_values": {"m": [1, {"a": "b"}, "c", null]},
      "channel_versions": {"m": 2}, "versions_seen": {}}', '{"source": "loop", "step": 0}', '{"m": 2}');
SELECT a.writer, a.base, a.n, a.value, a.digest = w.digest AS same_digest, w.base = a.base AS same_base
  FROM stategraph.lg_blobs a JOIN stategraph.lg_blobs w USING (checkpoint_ns, channel, writer)
 WHERE a.thread_id = 'lgs-app' AND w.thread_id = 'lgs-app-whole' ORDER BY writer;
SELECT t->'channel_values' AS "values" FROM sg_lg_get_tuple('lgs-app') t;
-- a base of another length, not stored, or not older than the checkpoint: NULL, nothing stored
SELECT sg_lg_put('lgs-app', '', '1ef00000-0000-6000-8000-000000000a02',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000a03", "ts": "x", "channel_values": {"m": [5]},
      "channel_versions": {"m": 3}, "versions_seen": {}}', '{"source": "loop", "step": 1}', '{"m": 3}',
    appends => format('{"m": {"base": "%s", "n": %s}}', base, n)::jsonb) IS NULL AS refused
  FROM (VALUES ('1ef00000-0000-6000-8000-000000000a02', 3), ('1ef00000-0000-6000-8000-000000000a09', 4),
               ('1ef00000-0000-6000-8000-000000000a03', 4)) b(base, n);
SELECT count(*) AS checkpoints, (SELECT count(*) FROM stategraph.lg_blobs WHERE thread_id = 'lgs-app') AS "values"
  FROM stategraph.lg_checkpoints WHERE thread_id = 'lgs-app';
-- a malformed appends argument is an error
SELECT sg_lg_put('lgs-app', '', NULL, '{"id": "1ef00000-0000-6000-8000-000000000a04", "channel_values": {"m": [1]},
    "channel_versions": {"m": 1}}', '{}', '{"m": 1}', appends => '[]');
SELECT sg_lg_put('lgs-app', '', NULL, '{"id": "1ef00000-0000-6000-8000-000000000a04", "channel_values": {"m": [1]},
    "channel_versions": {"m": 1}}', '{}', '{"m": 1}', appends => '{"m": {"base": "1ef00000-0000-6000-8000-000000000a01"}}');
SELECT sg_lg_put('lgs-app', '', NULL, '{"id": "1ef00000-0000-6000-8000-000000000a04", "channel_values": {"m": 1},
    "channel_versions": {"m": 1}}', '{}', '{"m": 1}', appends => '{"m": {"base": "1ef00000-0000-6000-8000-000000000a01", "n": 2}}');
SELECT sg_lg_delete_thread('lgs-app') + sg_lg_delete_thread('lgs-app-whole') AS deleted;

-- "ts" as LangGraph.js writes it is kept in created_at; any other "ts", or none, reads back as put
SELECT sg_lg_put('lgs-ts', '', NULL, format('{"v": 4, "id": "1ef00000-0000-6000-8000-000000000b0%s", %s
    "channel_values": {}, "channel_versions": {}, "versions_seen": {}}', i, ts)::jsonb, '{"source": "fork", "step": -1}', '{}') IS NOT NULL AS stored
  FROM (VALUES (1, '"ts": "2026-11-30T02:44:48.686Z",'), (2, '"ts": "2026-02-30T00:00:00.000Z",'), (3, '"ts": "x",'),
               (4, ''), (5, '"ts": ["2026-11-30T02:44:48.686Z"],'), (6, '"ts": [],'), (7, '"ts": null,'),
               (8, '"ts": "2026-11-30T02:44:48.686+00:00",'), (9, '"ts": "0001-01-01T00:00:00.000Z",')) t(i, ts);
SELECT right(checkpoint_id::text, 1) AS cp, checkpoint->'ts' AS stored, created_at = '2026-11-30T02:44:48.686Z' AS created_is_ts,
       (sg_lg_get_tuple(thread_id, '', checkpoint_id)::jsonb->'checkpoint') -> 'ts' AS read,
       (sg_lg_get_tuple(thread_id, '', checkpoint_id)::jsonb->'checkpoint') ? 'ts' AS has_ts
  FROM stategraph.lg_checkpoints WHERE thread_id = 'lgs-ts' ORDER BY checkpoint_id;
-- copies and exports keep it
SELECT sg_lg_copy_thread('lgs-ts', 'lgs-ts-copy'), sg_import_thread(sg_export_thread('lgs-ts'), 'lgs-ts-import');
SELECT t.thread_id, (t.doc->'checkpoint')->>'ts' AS ts
  FROM (SELECT thread_id, sg_lg_get_tuple(thread_id, '', '1ef00000-0000-6000-8000-000000000b01') AS doc
          FROM (VALUES ('lgs-ts-copy'), ('lgs-ts-import')) v(thread_id)) t;
SELECT sg_lg_delete_thread('lgs-ts') + sg_lg_delete_thread('lgs-ts-copy') + sg_lg_delete_thread('lgs-ts-import') AS deleted;

-- a thread whose subgraph namespace was written first (or whose root
-- checkpoints delete_for_runs removed) is still its owner's: its root
-- namespace starts
SELECT sg_lg_put('lgs-sub-first', 'sub', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000d01", "ts": "x", "channel_values": {}, "channel_versions": {}, "versions_seen": {}}',
    '{"source": "input", "step": -1}', '{}') IS NOT NULL AS sub_first;
SELECT sg_lg_put('lgs-sub-first', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000d02", "ts": "x", "channel_values": {}, "channel_versions": {}, "versions_seen": {}}',
    '{"source": "input", "step": -1}', '{}') IS NOT NULL AS root_next;
SELECT sg_lg_delete_thread('lgs-sub-first') AS deleted;
-- a thread with checkpoints in a subgraph namespace only: the thread-wide
-- sg_* functions (export, prune, delete) find it too
SELECT sg_lg_put('lgs-sub-only', 'sub', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000d11", "ts": "x", "channel_values": {}, "channel_versions": {}, "versions_seen": {}}',
    '{"source": "input", "step": -1}', '{}') IS NOT NULL AS sub_only;
SELECT sg_lg_put('lgs-sub-only', 'sub', '1ef00000-0000-6000-8000-000000000d11',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000d12", "ts": "x", "channel_values": {}, "channel_versions": {}, "versions_seen": {}}',
    '{"source": "loop", "step": 0}', '{}') IS NOT NULL AS sub_only_2;
SELECT pg_catalog.jsonb_array_length(sg_export_thread('lgs-sub-only')->'checkpoints') AS exported;
SELECT sg_prune(keep_last => 1, thread_id => 'lgs-sub-only') AS pruned;
-- sg_threads lists it, and its root state reads as LangGraph's getState reads
-- a thread without a checkpoint: empty, with no history
SELECT thread_id, graph, status, next, checkpoints FROM sg_threads() WHERE thread_id = 'lgs-sub-only';
SELECT checkpoint_ns, checkpoint_id, step, "values", next, tasks, interrupts, metadata
  FROM sg_get_state('lgs-sub-only');
SELECT count(*) AS root_history FROM sg_get_state_history('lgs-sub-only');
SELECT sg_delete_thread('lgs-sub-only');
SELECT count(*) AS left_after_delete FROM stategraph.lg_checkpoints WHERE thread_id = 'lgs-sub-only';

-- rows belong to the role that wrote them (row-level security, stategraph.owned)
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_lg_alice;
DROP ROLE IF EXISTS regress_lg_bob;
RESET client_min_messages;
CREATE ROLE regress_lg_alice;
CREATE ROLE regress_lg_bob;
GRANT USAGE ON SCHEMA lgsaver, stategraph TO regress_lg_alice, regress_lg_bob;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA stategraph TO regress_lg_alice, regress_lg_bob;
SET ROLE regress_lg_alice;
SELECT sg_lg_put('lgs-alice', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000007", "ts": "x", "channel_values": {"secret": "alice''s"},
      "channel_versions": {"secret": 1}, "versions_seen": {}}',
    '{"source": "input", "step": -1}', '{"secret": 1}');
SELECT t->'channel_values' FROM sg_lg_get_tuple('lgs-alice') t;
SET ROLE regress_lg_bob;
SELECT sg_lg_get_tuple('lgs-alice') IS NULL AS bob_sees_nothing, (SELECT count(*) FROM sg_lg_list()) AS bob_lists;
SELECT sg_lg_delete_thread('lgs-alice') AS bob_deletes, sg_lg_copy_thread('lgs-alice', 'lgs-bob') AS bob_copies;
-- and his deletes and prunes of her thread take none of its writers' locks (held until he commits, they would stall her puts)
BEGIN;
SELECT sg_lg_delete_thread('lgs-alice') AS bob_deletes, sg_lg_prune(ARRAY['lgs-alice'], 'keep_latest') AS bob_prunes;
SELECT count(*) AS bob_holds FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objsubid = 19527;
COMMIT;
-- nor can bob start a namespace (a subgraph's checkpoints) under alice's thread id
SELECT sg_lg_put('lgs-alice', 'sub', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000008", "ts": "x", "channel_values": {}, "channel_versions": {}, "versions_seen": {}}',
    '{"source": "input", "step": -1}', '{}');
-- or put a checkpoint there naming one of hers (which he cannot see) as its parent
SELECT sg_lg_put('lgs-alice', '', '1ef00000-0000-6000-8000-000000000007',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000009", "ts": "x", "channel_values": {"secret": "bob''s"},
      "channel_versions": {"secret": 2}, "versions_seen": {}}',
    '{"source": "fork", "step": 0}', '{"secret": 2}');
-- nor add rows there with plain SQL (the functions need INSERT granted): a
-- newer checkpoint of his own would be the newest a superuser's sg_prune keeps
INSERT INTO stategraph.lg_checkpoints (thread_id, checkpoint_id, checkpoint, metadata, blobs, created_at)
VALUES ('lgs-alice', 'ffffffff-ffff-6fff-bfff-ffffffffffff', '{}', '{}', '{}', '2000-01-01');
INSERT INTO stategraph.lg_blobs (thread_id, channel, writer, version, value)
VALUES ('lgs-alice', 'secret', 'ffffffff-ffff-6fff-bfff-ffffffffffff', '1', '"bob''s"');
INSERT INTO stategraph.lg_writes (thread_id, checkpoint_id, task_id, idx, channel, value)
VALUES ('lgs-alice', '1ef00000-0000-6000-8000-000000000007', 't', -3, '__interrupt__', '{}');
SELECT sg_lg_put_writes('lgs-alice', '', '1ef00000-0000-6000-8000-000000000007', 'task-b', '[["__interrupt__", {}]]');
-- his own rows cannot be moved there either, nor can he claim hers
INSERT INTO stategraph.lg_checkpoints (thread_id, checkpoint_id, checkpoint, metadata, blobs)
VALUES ('lgs-bob-own', 'ffffffff-ffff-6fff-bfff-ffffffffffff', '{}', '{}', '{}');
UPDATE stategraph.lg_checkpoints SET thread_id = 'lgs-alice' WHERE thread_id = 'lgs-bob-own';
SELECT stategraph.lg_thread_owner_is('lgs-alice', 'regress_lg_alice') AS asks_nothing_of_hers,
       stategraph.lg_thread_owner_is('lgs-alice', 'regress_lg_bob') AS not_his,
       stategraph.lg_thread_owner_is('lgs-bob-own', 'regress_lg_bob') AS his;
DELETE FROM stategraph.lg_checkpoints WHERE thread_id = 'lgs-bob-own';
RESET ROLE;
SELECT sg_prune(keep_last => 1, thread_id => 'lgs-alice') AS pruned;
SELECT owner, count(*) FROM stategraph.lg_checkpoints WHERE thread_id LIKE 'lgs-alice' GROUP BY owner;
SELECT count(*) AS strangers_rows FROM stategraph.lg_blobs WHERE thread_id = 'lgs-alice' AND owner <> 'regress_lg_alice';
SELECT count(*) AS strangers_writes FROM stategraph.lg_writes WHERE thread_id = 'lgs-alice';
DELETE FROM stategraph.lg_checkpoints WHERE owner = 'regress_lg_alice';
DELETE FROM stategraph.lg_blobs WHERE owner = 'regress_lg_alice';
-- a thread of a group role: a member's checkpoints, values and writes are the
-- group's (as in a stategraph thread), so every member reads the same head and
-- a stale parent is refused; a member's append onto the group's value checks out
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_lg_team;
RESET client_min_messages;
CREATE ROLE regress_lg_team;
GRANT regress_lg_team TO regress_lg_alice, regress_lg_bob;
GRANT USAGE ON SCHEMA lgsaver, stategraph TO regress_lg_team;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA stategraph TO regress_lg_team;
SET ROLE regress_lg_team;
SELECT sg_lg_put('lgs-team', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000c01", "ts": "x", "channel_values": {"m": [1, 2]},
      "channel_versions": {"m": 1}, "versions_seen": {}}', '{"source": "input", "step": -1}', '{"m": 1}') IS NOT NULL AS team_starts;
SET ROLE regress_lg_alice;
SELECT sg_lg_put('lgs-team', '', '1ef00000-0000-6000-8000-000000000c01',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000c02", "ts": "x", "channel_values": {"m": [3]},
      "channel_versions": {"m": 2}, "versions_seen": {}}', '{"source": "loop", "step": 0}', '{"m": 2}',
    appends => '{"m": {"base": "1ef00000-0000-6000-8000-000000000c01", "n": 2}}') IS NOT NULL AS alice_appends;
-- (as the client does when an append is refused: the whole value)
SELECT sg_lg_put('lgs-team', '', '1ef00000-0000-6000-8000-000000000c01',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000c02", "ts": "x", "channel_values": {"m": [1, 2, 3]},
      "channel_versions": {"m": 2}, "versions_seen": {}}', '{"source": "loop", "step": 0}', '{"m": 2}') AS alice_resends
 WHERE NOT EXISTS (SELECT FROM sg_lg_list('lgs-team', '', checkpoint_id => '1ef00000-0000-6000-8000-000000000c02'));
SELECT sg_lg_put_writes('lgs-team', '', '1ef00000-0000-6000-8000-000000000c02', 'task-a', '[["m", [4]]]') AS alice_writes;
SET ROLE regress_lg_bob;
SELECT t->>'checkpoint_id' AS bob_reads, t->'channel_values' AS "values", t->'pending_writes' AS writes
  FROM sg_lg_get_tuple('lgs-team') t;
SELECT sg_lg_put('lgs-team', '', '1ef00000-0000-6000-8000-000000000c01',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000c03", "ts": "x", "channel_values": {"m": [1, 2, 9]},
      "channel_versions": {"m": 2}, "versions_seen": {}}', '{"source": "loop", "step": 0}', '{"m": 2}');
RESET ROLE;
SELECT 'checkpoints' AS rows, owner, count(*) FROM stategraph.lg_checkpoints WHERE thread_id = 'lgs-team' GROUP BY owner
UNION ALL SELECT 'values', owner, count(*) FROM stategraph.lg_blobs WHERE thread_id = 'lgs-team' GROUP BY owner
UNION ALL SELECT 'writes', owner, count(*) FROM stategraph.lg_writes WHERE thread_id = 'lgs-team' GROUP BY owner;
SELECT sg_lg_delete_thread('lgs-team') AS deleted;
REVOKE ALL ON ALL TABLES IN SCHEMA stategraph FROM regress_lg_team;
REVOKE ALL ON SCHEMA lgsaver, stategraph FROM regress_lg_team;
DROP ROLE regress_lg_team;
REVOKE ALL ON ALL TABLES IN SCHEMA stategraph FROM regress_lg_alice, regress_lg_bob;
REVOKE ALL ON SCHEMA lgsaver, stategraph FROM regress_lg_alice, regress_lg_bob;
DROP ROLE regress_lg_alice;
DROP ROLE regress_lg_bob;

-- values as text (channel_values): LangGraph's undefined records read from
-- SQL as before, also when their text escapes a letter (jsonb printed none)
SELECT sg_lg_put('lgs-undef', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "2026-01-01T00:00:00.000Z",
      "channel_versions": {"u": 1, "w": 1}, "versions_seen": {}}',
    '{"source": "input", "step": -1}', '{"u": 1, "w": 1}',
    channel_values => '{"u": {"lc": 2, "type": "\u0075ndefined"}, "w": [1, {"lc": 2, "typ\u0065": "\u0075ndefined"}]}');
SELECT "values" FROM sg_get_state('lgs-undef');
SELECT sg_lg_delete_thread('lgs-undef') AS deleted;

-- a small value written with much white space is a value row: kept in the
-- map with its text, every checkpoint inheriting it copied that text
SELECT sg_lg_put('lgs-pad', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "2026-01-01T00:00:00.000Z",
      "channel_versions": {"s": 1}, "versions_seen": {}}',
    '{"source": "input", "step": -1}', '{"s": 1}',
    channel_values => ('{"s": {"b"' || pg_catalog.repeat(' ', 10000) || ': 1}}')::json);
SELECT sg_lg_put('lgs-pad', '', '1ef00000-0000-6000-8000-000000000001',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000002", "ts": "2026-01-01T00:00:01.000Z",
      "channel_versions": {"s": 1, "o": 2}, "versions_seen": {}}',
    '{"source": "loop", "step": 0}', '{"o": 2}', channel_values => '{"o": 1}');
SELECT checkpoint_id, pg_catalog.length(blobs::text) < 200 AS small_blobs
  FROM stategraph.lg_checkpoints WHERE thread_id = 'lgs-pad' ORDER BY checkpoint_id;
SELECT channel, pg_catalog.length(value::text) FROM stategraph.lg_blobs WHERE thread_id = 'lgs-pad';
SELECT pg_catalog.length(t->'channel_values'->>'s') AS text_read, t->'channel_values'->'o' AS o
  FROM sg_lg_get_tuple('lgs-pad') t;
SELECT sg_lg_delete_thread('lgs-pad') AS deleted;

-- two writes of one special channel in one call are one row (LangGraph's
-- index of the channel), the last as PostgresSaver keeps it when every write
-- is special, the first when the call mixes in others: counted once either way
SELECT sg_lg_put('lgs-dup', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "2026-01-01T00:00:00.000Z",
      "channel_versions": {}, "versions_seen": {}}', '{"source": "input", "step": -1}', '{}');
SELECT sg_lg_put_writes('lgs-dup', '', '1ef00000-0000-6000-8000-000000000001', 'task-a',
    '[["__interrupt__", {"value": "first"}], ["__interrupt__", {"value": "second"}]]') AS stored;
SELECT sg_lg_put_writes('lgs-dup', '', '1ef00000-0000-6000-8000-000000000001', 'task-a',
    '[["__interrupt__", {"value": "first"}], ["__interrupt__", {"value": "second"}]]') AS stored_again;
SELECT sg_lg_put_writes('lgs-dup', '', '1ef00000-0000-6000-8000-000000000001', 'task-b',
    '[["__interrupt__", {"value": "first"}], ["x", 1], ["__interrupt__", {"value": "second"}]]') AS stored_mixed;
SELECT task_id, idx, channel, value FROM stategraph.lg_writes WHERE thread_id = 'lgs-dup' ORDER BY task_id, idx;
SELECT sg_lg_delete_thread('lgs-dup') AS deleted;

DROP SCHEMA lgsaver CASCADE;
