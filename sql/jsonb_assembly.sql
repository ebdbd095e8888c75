--
-- States are assembled from stored values byte by byte (src/json.c): check
-- them against jsonb built by PostgreSQL itself, with every kind of element
-- (odd-length strings, numerics and containers that need alignment, booleans,
-- nulls) and more elements than a JEntry stride (32).
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA jsonb_assembly;
SET search_path = jsonb_assembly;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE TABLE pieces (i int PRIMARY KEY, piece jsonb NOT NULL);
INSERT INTO pieces
SELECT i, CASE i % 7
    WHEN 0 THEN jsonb_build_array(repeat('x', i % 5), i * 1.5)
    WHEN 1 THEN jsonb_build_array(jsonb_build_object('k' || i, repeat('y', i % 3), 'n', i, 'deep', jsonb_build_array(i, 'z')))
    WHEN 2 THEN jsonb_build_array(true, false, NULL, i)
    WHEN 3 THEN jsonb_build_array('a', jsonb_build_array(), jsonb_build_object(), 12345678901234567890.5)
    WHEN 4 THEN '[]'::jsonb
    WHEN 5 THEN jsonb_build_array(repeat('é', i % 4 + 1), -0.000001, 'b')
    ELSE jsonb_build_array(jsonb_build_array(jsonb_build_array(i)), 'odd')
    END
FROM generate_series(1, 90) i;

CREATE FUNCTION add_piece(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('items', piece, 'count', (state->>'count')::int + 1,
                              'last', piece, 'flag', (state->>'count')::int % 2 = 0)
    FROM pieces WHERE i = (state->>'count')::int + 1
$$;
CREATE FUNCTION more(state jsonb) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN (state->>'count')::int < 90 THEN 'add' ELSE '__end__' END $$;
SELECT sg_create_graph('pile', '{"items": "append", "count": "replace", "last": "replace", "flag": "replace"}');
SELECT sg_add_node('pile', 'add', 'add_piece(jsonb)');
SELECT sg_add_edge('pile', '__start__', 'add');
SELECT sg_add_conditional_edges('pile', 'add', 'more(jsonb)');
SELECT sg_compile('pile');
SELECT sg_invoke('pile', '{"count": 0}', thread_id => 'pile', recursion_limit => 100) ->> 'count' AS count;

-- the expected value, built by PostgreSQL
SELECT jsonb_agg(e ORDER BY i, n) AS expected
FROM pieces, jsonb_array_elements(piece) WITH ORDINALITY AS x(e, n) \gset
SELECT "values"->'items' = :'expected'::jsonb AS same,
       ("values"->'items')::text = :'expected'::jsonb::text AS same_text,
       jsonb_array_length("values"->'items') AS elements,
       ("values"::text)::jsonb = "values" AS round_trip
FROM sg_get_state('pile');
-- every element is reachable and typed as PostgreSQL built it
SELECT count(*) AS mismatches
FROM sg_get_state('pile') s,
     jsonb_array_elements(s."values"->'items') WITH ORDINALITY AS got(e, n)
     JOIN jsonb_array_elements(:'expected'::jsonb) WITH ORDINALITY AS want(e, n) USING (n)
WHERE got.e <> want.e OR jsonb_typeof(got.e) <> jsonb_typeof(want.e);
-- every checkpoint of the history reads the same as PostgreSQL builds it
SELECT count(*) AS bad_snapshots
FROM sg_get_state_history('pile') h
WHERE h."values"->'items' <> COALESCE((SELECT jsonb_agg(e ORDER BY i, n)
                                       FROM pieces, jsonb_array_elements(piece) WITH ORDINALITY AS x(e, n)
                                       WHERE i <= (h."values"->>'count')::int), '[]')
   OR ("values"::text)::jsonb <> "values";
-- operators work on assembled values
SELECT "values" @> '{"items": [{"n": 1}]}' AS contains, "values"->'items'->0 AS first,
       "values"->'last' AS last, "values"->'flag' AS flag
FROM sg_get_state('pile');

SET client_min_messages = warning;
DROP SCHEMA jsonb_assembly CASCADE;
