--
-- sg_lg_put's appends: "n", the element count of the base value, must be an
-- integer. numeric_int4 rounded 2.5 to 3 (an append on a 3-element base was
-- stored from a count no caller can mean) and failed with 22003 "integer
-- out of range" on 1e20; each is 22023 naming the appends form now, and
-- stores nothing.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA lg_append_count;
SET search_path = lg_append_count;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

SELECT sg_lg_put('ac-1', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "channel_versions": {"m": 1}, "versions_seen": {}}',
    '{"source": "input", "step": -1}', '{"m": 1}', channel_values => '{"m": [1, 2, 3]}');
CREATE FUNCTION pg_temp.put_append(n text) RETURNS uuid LANGUAGE sql AS $$
    SELECT sg_lg_put('ac-1', '', '1ef00000-0000-6000-8000-000000000001',
        '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000002", "channel_versions": {"m": 2}, "versions_seen": {}}',
        '{"source": "loop", "step": 0}', '{"m": 2}', channel_values => '{"m": [4]}',
        appends => ('{"m": {"base": "1ef00000-0000-6000-8000-000000000001", "n": ' || n || '}}')::jsonb) $$;

SELECT pg_temp.put_append('2.5');
SELECT pg_temp.put_append('1e20');
SELECT pg_temp.put_append('-1e20');
SELECT pg_temp.put_append('"3"');
SELECT pg_temp.put_append('null');
SELECT count(*) AS checkpoints FROM stategraph.lg_checkpoints WHERE thread_id = 'ac-1';

-- an integer count: one that is not the base's stores nothing (NULL: the client
-- sends the whole value), the base's own (3, or 3.0) extends it
SELECT pg_temp.put_append('2') IS NULL AS not_the_base;
SELECT pg_temp.put_append('3.0');
SELECT t -> 'channel_values' AS channel_values FROM sg_lg_get_tuple('ac-1', '') t;

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA lg_append_count CASCADE;
