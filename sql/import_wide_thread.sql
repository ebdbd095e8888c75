-- sg_import_thread checks each value of an image or a write against its
-- channel's reducer. The channels' reducers were looked up again for every
-- such value, each lookup reading (and decompressing) the graph's spec:
-- time in checkpoints x channels (a thread of 4,000 checkpoints took
-- seconds to minutes to import, one of 5,000 channels 16 s for three
-- checkpoints). They are read once per import now.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA import_wide_thread;
SET search_path = import_wide_thread;
CREATE EXTENSION stategraph;
RESET client_min_messages;
-- 4,000 checkpoints of a graph of 200 more channels with long names (a spec
-- stored compressed)
CREATE FUNCTION inc(s jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1, "m": [1]}'::jsonb $$;
CREATE FUNCTION again(s jsonb) RETURNS text LANGUAGE sql AS
$$ SELECT CASE WHEN (s->>'n')::int < 4000 THEN 'a' ELSE '__end__' END $$;
SELECT sg_create_graph('long', '{"n": "add", "m": "append"}'::jsonb ||
    (SELECT jsonb_object_agg('pad_' || repeat('x', 100) || i, 'add') FROM generate_series(1, 200) i));
SELECT sg_add_node('long', 'a', 'inc(jsonb)');
SELECT sg_add_edge('long', '__start__', 'a');
SELECT sg_add_conditional_edges('long', 'a', 'again(jsonb)');
SELECT sg_compile('long');
SELECT sg_invoke('long', '{"n": 0}', 'long-1', recursion_limit => 5000) ->> 'n' AS n;
CREATE TABLE exports AS SELECT 'long' AS name, sg_export_thread('long-1') AS data;
-- 5,000 channels, each written at each of 10 steps
CREATE FUNCTION all_channels(s jsonb) RETURNS jsonb LANGUAGE sql AS
$$ SELECT jsonb_object_agg('c' || i, 1) || '{"n": 1}' FROM generate_series(1, 5000) i $$;
SELECT sg_create_graph('wide', '{"n": "add"}'::jsonb ||
    (SELECT jsonb_object_agg('c' || i, 'add') FROM generate_series(1, 5000) i));
SELECT sg_add_node('wide', 'a', 'all_channels(jsonb)');
SELECT sg_add_edge('wide', '__start__', 'a');
CREATE FUNCTION again10(s jsonb) RETURNS text LANGUAGE sql AS
$$ SELECT CASE WHEN (s->>'n')::int < 10 THEN 'a' ELSE '__end__' END $$;
SELECT sg_add_conditional_edges('wide', 'a', 'again10(jsonb)');
SELECT sg_compile('wide');
SELECT sg_invoke('wide', '{"n": 0}', 'wide-1') ->> 'c5000' AS c5000;
INSERT INTO exports SELECT 'wide', sg_export_thread('wide-1');
SELECT name, jsonb_array_length(data -> 'checkpoints') AS checkpoints,
       (SELECT count(*) FROM jsonb_object_keys(data -> 'thread' -> 'channels')) AS channels
FROM exports ORDER BY name;
SET statement_timeout = '10s';
SELECT sg_import_thread(data, 'long-2') FROM exports WHERE name = 'long';
SELECT sg_import_thread(data, 'wide-2') FROM exports WHERE name = 'wide';
RESET statement_timeout;
SELECT s."values" ->> 'n' AS n, jsonb_array_length(s."values" -> 'm') AS m
FROM sg_get_state('long-2') s;
SELECT s."values" ->> 'c1' AS c1, s."values" ->> 'c5000' AS c5000 FROM sg_get_state('wide-2') s;
-- a value a reducer does not take is still refused (42804), with its digest made anew
CREATE FUNCTION redigest(e jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT e || jsonb_build_object('digest', md5(COALESCE(e->'thread', 'null')::text
        || COALESCE(e->'checkpoints', 'null')::text || COALESCE(e->'fork_writes', 'null')::text))
$$;
CREATE FUNCTION error_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN regexp_replace(SQLSTATE || ': ' || SQLERRM,
                          '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g');
END $$;
SELECT error_of(format('SELECT sg_import_thread(%L, %L)',
    redigest(jsonb_set(data, '{checkpoints,5,image,c4999}', '"one"')), 'wide-3'))
FROM exports WHERE name = 'wide';
SELECT error_of(format('SELECT sg_import_thread(%L, %L)',
    redigest(jsonb_set(data, '{checkpoints,3999,writes,0,1,m}', '{}')), 'long-3'))
FROM exports WHERE name = 'long';
SELECT count(*) AS stored FROM sg_threads() WHERE thread_id IN ('wide-3', 'long-3');
SET client_min_messages = warning;
DROP SCHEMA import_wide_thread CASCADE;
