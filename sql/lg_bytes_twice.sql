--
-- sg_lg_put and sg_lg_put_writes given a value twice: typed bytes twice for
-- one channel or write, or typed bytes beside a JSON value. Each is 22023
-- and stores nothing; before, one of the two was stored and the other
-- dropped silently (the first bytes kept, the JSON value dropped).
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA lg_bytes_twice;
SET search_path = lg_bytes_twice;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

SELECT sg_lg_put('bt-1', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "2026-01-01T00:00:00.000Z",
      "channel_versions": {"a": 1}, "versions_seen": {}}',
    '{"source": "input", "step": -1}', '{"a": 1}', channel_values => '{"a": [1, 2]}');
CREATE TEMP TABLE counts AS
SELECT (SELECT count(*) FROM stategraph.lg_checkpoints) AS cps, (SELECT count(*) FROM stategraph.lg_blobs) AS blobs,
       (SELECT count(*) FROM stategraph.lg_writes) AS writes;

-- put: a channel twice in bytes_channels (the second bytes were dropped)
SELECT sg_lg_put('bt-1', '', '1ef00000-0000-6000-8000-000000000001',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000002", "channel_versions": {"a": 1, "b": 2}, "versions_seen": {}}',
    '{"source": "loop", "step": 0}', '{"b": 2}',
    ARRAY['b', 'b'], ARRAY['x', 'y'], ARRAY['\x01'::bytea, '\x02'::bytea]);
-- put: a channel in channel_values and in bytes_channels (the bytes were dropped),
-- its value as channel_values text or inside the checkpoint, null included
SELECT sg_lg_put('bt-1', '', '1ef00000-0000-6000-8000-000000000001',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000002", "channel_versions": {"a": 1, "b": 2}, "versions_seen": {}}',
    '{"source": "loop", "step": 0}', '{"b": 2}',
    ARRAY['b'], ARRAY['x'], ARRAY['\x01'::bytea], channel_values => '{"b": "json"}');
SELECT sg_lg_put('bt-1', '', '1ef00000-0000-6000-8000-000000000001',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000002", "channel_values": {"b": null},
      "channel_versions": {"a": 1, "b": 2}, "versions_seen": {}}',
    '{"source": "loop", "step": 0}', '{"b": 2}', ARRAY['b'], ARRAY['x'], ARRAY['\x01'::bytea]);

-- put_writes: a write twice in bytes_index (the second bytes were dropped)
SELECT sg_lg_put_writes('bt-1', '', '1ef00000-0000-6000-8000-000000000001', 'task-1',
    '[["a", null], ["b", null]]', '', ARRAY[1, 1], ARRAY['x', 'y'], ARRAY['\x01'::bytea, '\x02'::bytea]);
-- put_writes: a write in bytes_index with a JSON value in writes, or in values (the JSON was dropped)
SELECT sg_lg_put_writes('bt-1', '', '1ef00000-0000-6000-8000-000000000001', 'task-1',
    '[["a", 5]]', '', ARRAY[0], ARRAY['x'], ARRAY['\x01'::bytea]);
SELECT sg_lg_put_writes('bt-1', '', '1ef00000-0000-6000-8000-000000000001', 'task-1',
    '[["a", null], ["b", null]]', '', ARRAY[1], ARRAY['x'], ARRAY['\x01'::bytea], "values" => '[1, {"v": 2}]');
SELECT sg_lg_put_writes('bt-1', '', '1ef00000-0000-6000-8000-000000000001', 'task-1',
    '[["a", null]]', '', ARRAY[0], ARRAY['x'], ARRAY['\x01'::bytea], "values" => '[false]');

-- nothing stored
SELECT (SELECT count(*) FROM stategraph.lg_checkpoints) = c.cps AS same_checkpoints,
       (SELECT count(*) FROM stategraph.lg_blobs) = c.blobs AS same_values,
       (SELECT count(*) FROM stategraph.lg_writes) = c.writes AS same_writes
FROM counts c;

-- as the client sends them: each value once (bytes writes null in writes and in values)
SELECT sg_lg_put_writes('bt-1', '', '1ef00000-0000-6000-8000-000000000001', 'task-1',
    '[["a", null], ["b", null]]', '', ARRAY[1], ARRAY['x'], ARRAY['\x01'::bytea], "values" => '[[3], null]');
SELECT sg_lg_put_writes('bt-1', '', '1ef00000-0000-6000-8000-000000000001', 'task-2',
    '[["a", [4]], ["b", null]]', '', ARRAY[1], ARRAY['y'], ARRAY['\x02'::bytea]);
SELECT sg_lg_put('bt-1', '', '1ef00000-0000-6000-8000-000000000001',
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000002", "channel_versions": {"a": 3, "b": 2}, "versions_seen": {}}',
    '{"source": "loop", "step": 0}', '{"a": 3, "b": 2}',
    ARRAY['b'], ARRAY['x'], ARRAY['\x01'::bytea], channel_values => '{"a": [1, 2, 3]}');
SELECT task_id, idx, channel, value, type, bytes FROM stategraph.lg_writes WHERE thread_id = 'bt-1' ORDER BY task_id, idx;
SELECT t -> 'channel_values' AS channel_values, t -> 'channel_bytes' AS channel_bytes
FROM sg_lg_get_tuple('bt-1', '') t;

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA lg_bytes_twice CASCADE;
