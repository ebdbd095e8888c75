-- Bad inputs found by review: each one an ERROR with its own SQLSTATE that
-- leaves everything stored as it was (no crash, no XX000).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION stategraph;
SELECT plan(42);

SELECT sg_lg_put('rv-1', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-0000000000a1", "ts": "x", "channel_values": {"a": 1},
      "channel_versions": {"a": 1}, "versions_seen": {}}', '{"source": "input", "step": -1}', '{"a": 1}');
CREATE TEMP TABLE before_writes AS SELECT count(*) AS n FROM stategraph.lg_writes;

-- a null among the typed bytes of writes was stored from a null pointer (segfault)
SELECT throws_ok($$ SELECT sg_lg_put_writes('rv-1', '', '1ef00000-0000-6000-8000-0000000000a1', 'task-a',
                        '[["a", 1]]', '', ARRAY[0], ARRAY[NULL]::text[], ARRAY['\x00'::bytea]) $$,
                 '22004', NULL, 'lg_put_writes: a null bytes type');
SELECT throws_ok($$ SELECT sg_lg_put_writes('rv-1', '', '1ef00000-0000-6000-8000-0000000000a1', 'task-b',
                        '[["a", 1]]', '', ARRAY[0], ARRAY['x'], ARRAY[NULL]::bytea[]) $$,
                 '22004', NULL, 'lg_put_writes: a null bytes value');
-- a value in writes and in values too: writes' value was dropped silently
SELECT throws_ok($$ SELECT sg_lg_put_writes('rv-1', '', '1ef00000-0000-6000-8000-0000000000a1', 'task-c',
                        '[["a", null], ["b", 5]]', "values" => '[1, 7]') $$,
                 '22023', NULL, 'lg_put_writes: a value given in writes and in values');
SELECT is((SELECT count(*) FROM stategraph.lg_writes), (SELECT n FROM before_writes), 'no write stored');
SELECT lives_ok($$ SELECT sg_lg_put_writes('rv-1', '', '1ef00000-0000-6000-8000-0000000000a1', 'task-c',
                       '[["a", null]]', '', ARRAY[0], ARRAY['x'], ARRAY['\x00'::bytea]) $$,
                'lg_put_writes: typed bytes without nulls');

-- put with metadata or versions of another type stored nothing of them, silently
SELECT throws_ok($$ SELECT sg_lg_put('rv-2', '', NULL, '{"id": "1ef00000-0000-6000-8000-0000000000b1",
                        "channel_values": {"a": 1}, "channel_versions": {"a": 1}}', '[]', '{"a": 1}') $$,
                 '22023', NULL, 'lg_put: metadata an array');
SELECT throws_ok($$ SELECT sg_lg_put('rv-2', '', NULL, '{"id": "1ef00000-0000-6000-8000-0000000000b1",
                        "channel_values": {"a": 1}, "channel_versions": {"a": 1}}', '{}', '"x"') $$,
                 '22023', NULL, 'lg_put: new_versions a string');
SELECT throws_ok($$ SELECT sg_lg_put('rv-2', '', NULL, '{"id": "1ef00000-0000-6000-8000-0000000000b1",
                        "channel_values": 5, "channel_versions": {"a": 1}}', '{}', '{"a": 1}') $$,
                 '22023', NULL, 'lg_put: channel_values a number');
-- a channel version that is an object or an array stored a value no child
-- checkpoint read (a child inherits a value by comparing scalar versions)
SELECT throws_ok($$ SELECT sg_lg_put('rv-2', '', NULL, '{"id": "1ef00000-0000-6000-8000-0000000000b1",
                        "channel_values": {"a": 1}, "channel_versions": {"a": {"x": 1}}}', '{}', '{"a": 1}') $$,
                 '22023', 'version of channel "a" must be a number or a string', 'lg_put: a channel version an object');
SELECT throws_ok($$ SELECT sg_lg_put('rv-2', '', NULL, '{"id": "1ef00000-0000-6000-8000-0000000000b1",
                        "channel_values": {"a": 1}, "channel_versions": {"a": 1}}', '{}', '{"a": [1]}') $$,
                 '22023', 'version of channel "a" must be a number or a string', 'lg_put: a new version an array');
SELECT lives_ok($$ SELECT sg_lg_put('rv-3', '', NULL, '{"id": "1ef00000-0000-6000-8000-0000000000b1",
                       "channel_values": {"a": 1, "b": 2}, "channel_versions": {"a": 1, "b": "00000000000000000000000000000001.0.5"}}',
                       '{}', '{"a": 1, "b": "00000000000000000000000000000001.0.5"}') $$,
                'lg_put: versions that are numbers and strings');
SELECT is((SELECT count(*) FROM stategraph.lg_checkpoints WHERE thread_id = 'rv-2'), 0::bigint, 'no checkpoint stored');

-- writes under the id of another role's thread or of a stategraph thread:
-- the first failed on row-level security with the insert as context, the
-- second was stored as rows no reader sees (sg_lg_put refuses both)
CREATE FUNCTION pg_temp.rv_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"a": 1}'::jsonb $$;
SELECT sg_create_graph('rv-g', '{"a": "replace"}');
SELECT sg_add_node('rv-g', 'n', 'pg_temp.rv_step(jsonb)');
SELECT sg_add_edge('rv-g', '__start__', 'n');
SELECT sg_add_edge('rv-g', 'n', '__end__');
SELECT sg_compile('rv-g');
SELECT sg_invoke('rv-g', '{}', thread_id => 'rv-sg') IS NOT NULL;
CREATE TEMP TABLE before_writes2 AS SELECT count(*) AS n FROM stategraph.lg_writes;
SELECT throws_ok($$ SELECT sg_lg_put_writes('rv-sg', '', '1ef00000-0000-6000-8000-0000000000a1', 'task-d', '[["a", 1]]') $$,
                 '42710', 'thread "rv-sg" already exists as a thread of graph "rv-g"',
                 'lg_put_writes: the id of a stategraph thread');
CREATE ROLE rv_other;
SET LOCAL ROLE rv_other;
SELECT throws_ok($$ SELECT sg_lg_put_writes('rv-1', '', '1ef00000-0000-6000-8000-0000000000a1', 'task-e', '[["a", 1]]') $$,
                 '42501', 'thread "rv-1" belongs to another role',
                 'lg_put_writes: another role''s thread');
SELECT lives_ok($$ SELECT sg_lg_put_writes('rv-other', '', '1ef00000-0000-6000-8000-0000000000c1', 'task-f', '[["a", 1]]') $$,
                'lg_put_writes: a thread id of no thread yet');
RESET ROLE;
SELECT is((SELECT count(*) FROM stategraph.lg_writes), (SELECT n + 1 FROM before_writes2),
          'only the write of the free thread id stored');

-- a LangGraph.js export whose checkpoint has no "ts" (put gave it as its
-- created_at) and a created_at that is no ts, digest recomputed: the import
-- was stored, and every read of the thread failed with XX000
SELECT sg_lg_put('rv-ts', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-0000000000d1", "ts": "2026-01-01T00:00:00.000Z", "channel_values": {"a": 1},
      "channel_versions": {"a": 1}, "versions_seen": {}}', '{"source": "input", "step": -1}', '{"a": 1}');
CREATE TEMP TABLE rv_exports AS
    SELECT v, jsonb_set(sg_export_thread('rv-ts'), '{checkpoints,0,created_at}', to_jsonb(v)) AS d
    FROM unnest(ARRAY['infinity', '2026-01-01T00:00:00.0001+00:00', '0044-03-15 BC']) v;
UPDATE rv_exports SET d = d || jsonb_build_object('digest', md5((d->>'version') || COALESCE(d->'thread_id', 'null')::text
    || COALESCE(d->'checkpoints', 'null')::text || COALESCE(d->'blobs', 'null')::text || COALESCE(d->'writes', 'null')::text));
SELECT throws_ok(format('SELECT sg_import_thread(%L, %L)', d, 'rv-ts-' || v), 'SGX01', NULL,
                 'import: no ts and created_at ' || v)
FROM rv_exports ORDER BY v;
SELECT is(sg_lg_get_tuple(sg_import_thread(sg_export_thread('rv-ts'), 'rv-ts-copy'), '', NULL)::jsonb #>> '{checkpoint,ts}',
          '2026-01-01T00:00:00.000Z', 'import: the ts read back from created_at');

-- rows their owners changed with SQL (PUBLIC may write the storage tables;
-- row-level security keeps each role to its own rows): each crashed the server
-- a compiled spec of another shape, or naming no node
UPDATE stategraph.graphs SET spec = '["nope"]' WHERE graph = 'rv-g';
SELECT throws_ok($$ SELECT sg_invoke('rv-g', '{}', thread_id => 'rv-sg2') $$, '55000',
                 'compiled graph "rv-g" is damaged', 'a spec that is no object');
SELECT sg_compile('rv-g');
UPDATE stategraph.graphs SET spec = jsonb_set(spec, '{edges,0,target}', '"nope"') WHERE graph = 'rv-g';
SELECT throws_ok($$ SELECT sg_invoke('rv-g', '{}', thread_id => 'rv-sg2') $$, '55000',
                 'compiled graph "rv-g" is damaged', 'a spec with an edge to no node');
UPDATE stategraph.graphs SET spec = jsonb_set(spec, '{channels,a}', '5') WHERE graph = 'rv-g';
SELECT throws_ok($$ SELECT sg_invoke('rv-g', '{}', thread_id => 'rv-sg2') $$, '55000',
                 'compiled graph "rv-g" is damaged', 'a spec with a channel of no reducer');
SELECT sg_compile('rv-g');
SELECT lives_ok($$ SELECT sg_invoke('rv-g', '{}', thread_id => 'rv-sg2') $$, 'compiled again, the graph runs');
-- a thread's channel kinds of another shape
UPDATE stategraph.threads SET channels = '[1, 2, 3]' WHERE thread_id = 'rv-sg2';
SELECT throws_ok($$ SELECT sg_get_state('rv-sg2') $$, '55000',
                 'thread "rv-sg2" has a damaged channel layout', 'channel kinds that are no object');
UPDATE stategraph.threads SET channels = '{"a": 5}' WHERE thread_id = 'rv-sg2';
SELECT throws_ok($$ SELECT sg_get_state('rv-sg2') $$, '55000',
                 'thread "rv-sg2" has a damaged channel layout', 'a channel kind that is no string');
-- a static interrupt marker naming its nodes with other than strings: drawn with "?"
UPDATE stategraph.checkpoints SET meta = '{"interrupt": {"when": "after", "nodes": [["n"]]}}' WHERE thread_id = 'rv-sg';
SELECT ok(sg_draw_history('rv-sg') LIKE '%INTERRUPT after #63;%', 'draw_history: an interrupt marker of another shape');
-- ... and an export carrying one, digest recomputed, is refused
CREATE TEMP TABLE rv_sg_export AS SELECT sg_export_thread('rv-sg') AS d;
UPDATE rv_sg_export SET d = d || jsonb_build_object('digest', md5(COALESCE(d->'thread', 'null')::text
    || COALESCE(d->'checkpoints', 'null')::text || COALESCE(d->'fork_writes', 'null')::text));
SELECT throws_ok(format('SELECT sg_import_thread(%L, %L)', d, 'rv-sg-imp'), 'SGX01', NULL,
                 'import: an interrupt marker of another shape') FROM rv_sg_export;

-- LangGraph.js rows changed outside stategraph: data_corrupted, not an
-- internal error; a blobs entry of another type was read as a string (memory
-- that was no string)
UPDATE stategraph.lg_checkpoints SET blobs = '{"a": 5}' WHERE thread_id = 'rv-ts';
SELECT throws_ok($$ SELECT sg_lg_get_tuple('rv-ts', '', NULL) $$, 'XX001', NULL, 'lg blobs: an entry that is a number');
UPDATE stategraph.lg_checkpoints SET blobs = '{"a": {"x": 1}}' WHERE thread_id = 'rv-ts';
SELECT throws_ok($$ SELECT sg_lg_get_tuple('rv-ts', '', NULL) $$, 'XX001', NULL, 'lg blobs: an entry that is an object');
-- a small value's text (kept in the map as [value, "its text"]) that is no
-- JSON, or more than one value: get_tuple returned a document that was no
-- JSON, or that gave another channel a value
UPDATE stategraph.lg_checkpoints SET blobs = '{"a": [{"x": 1}, "{\"x\": 1,"]}' WHERE thread_id = 'rv-ts';
SELECT throws_ok($$ SELECT sg_lg_get_tuple('rv-ts', '', NULL) $$, 'XX001', NULL, 'lg blobs: a kept text that is no JSON');
UPDATE stategraph.lg_checkpoints SET blobs = '{"a": [1, "1, \"b\": 2"]}' WHERE thread_id = 'rv-ts';
SELECT throws_ok($$ SELECT sg_lg_get_tuple('rv-ts', '', NULL) $$, 'XX001', NULL, 'lg blobs: a kept text of two values');
UPDATE stategraph.lg_checkpoints SET blobs = '{"a": [{"x": 1}, "{\"x\" : 1}"]}' WHERE thread_id = 'rv-ts';
SELECT is(sg_lg_get_tuple('rv-ts', '', NULL)->'channel_values'->>'a', '{"x" : 1}', 'lg blobs: a kept text read as written');
UPDATE stategraph.lg_checkpoints SET blobs = '{}', created_at = 'infinity' WHERE thread_id = 'rv-ts';
SELECT throws_ok($$ SELECT sg_lg_get_tuple('rv-ts', '', NULL) $$, 'XX001', NULL, 'lg checkpoint: no ts, created_at infinity');
-- a stategraph checkpoint's writes with an object among them: read past
UPDATE stategraph.checkpoints SET writes = '[{"n": 5}]' WHERE thread_id = 'rv-sg';
SELECT lives_ok($$ SELECT sg_get_state('rv-sg') $$, 'checkpoint writes with an object among them');

-- a draft changed with SQL: sg_compile stored a spec no run could load,
-- and read a path_map's numbers as strings (memory that held none)
UPDATE stategraph.graphs SET channels = '5' WHERE graph = 'rv-g';
SELECT throws_ok($$ SELECT sg_compile('rv-g') $$, '55000', 'definition of graph "rv-g" is damaged',
                 'compile: channels that are no object');
UPDATE stategraph.graphs SET channels = '{"a": "replace"}' WHERE graph = 'rv-g';
UPDATE stategraph.nodes SET retry = '{"sqlstates": ["x"]}' WHERE graph = 'rv-g';
SELECT throws_ok($$ SELECT sg_compile('rv-g') $$, '55000', 'definition of graph "rv-g" is damaged',
                 'compile: a retry policy with a SQLSTATE of one character');
UPDATE stategraph.nodes SET retry = NULL WHERE graph = 'rv-g';
CREATE FUNCTION pg_temp.rv_route(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'n' $$;
SELECT sg_add_conditional_edges('rv-g', 'n', 'pg_temp.rv_route(jsonb)', '["n", "__end__"]');
UPDATE stategraph.branches SET path_map = '[5]' WHERE graph = 'rv-g';
SELECT throws_ok($$ SELECT sg_compile('rv-g') $$, '55000',
                 'path_map of the conditional edge from "n" in graph "rv-g" is damaged', 'compile: a path_map naming a number');

-- more LangGraph.js rows changed with SQL, each of which crashed the server:
-- a typed-bytes write without its type, a stored value without its digest
UPDATE stategraph.lg_writes SET type = NULL WHERE thread_id = 'rv-1' AND task_id = 'task-c';
SELECT throws_ok($$ SELECT sg_lg_get_tuple('rv-1', '', NULL) $$, 'XX001', NULL, 'lg write: bytes without their type');
SELECT sg_lg_put('rv-dg', '', NULL, '{"v": 4, "id": "1ef00000-0000-6000-8000-0000000000e1", "channel_values": {"m": [1]},
    "channel_versions": {"m": 1}, "versions_seen": {}}', '{"source": "input", "step": -1}', '{"m": 1}');
SELECT sg_lg_put('rv-dg', '', '1ef00000-0000-6000-8000-0000000000e1', '{"v": 4, "id": "1ef00000-0000-6000-8000-0000000000e2",
    "channel_values": {"m": [1, 2]}, "channel_versions": {"m": 2}, "versions_seen": {}}', '{"source": "loop", "step": 0}', '{"m": 2}');
UPDATE stategraph.lg_blobs SET digest = NULL WHERE thread_id = 'rv-dg';
SELECT lives_ok($$ SELECT sg_lg_put('rv-dg', '', '1ef00000-0000-6000-8000-0000000000e2', '{"v": 4, "id": "1ef00000-0000-6000-8000-0000000000e3",
    "channel_values": {"m": [1, 2, 3]}, "channel_versions": {"m": 3}, "versions_seen": {}}', '{"source": "loop", "step": 1}', '{"m": 3}') $$,
                'lg put: extending values stored without their digest');
SELECT is(sg_lg_get_tuple('rv-dg', '', NULL)::jsonb #> '{channel_values,m}', '[1, 2, 3]', 'lg put: the values read back');

-- copying into a thread that has checkpoints: an existing thread (42710, as
-- sg_import_thread and the SQLSTATE table say), not a unique violation (23505)
SELECT throws_ok($$ SELECT sg_lg_copy_thread('rv-dg', 'rv-ts') $$, '42710', 'thread "rv-ts" already has checkpoints',
                 'lg copy_thread: into a thread with checkpoints');

SELECT * FROM finish();
ROLLBACK;
