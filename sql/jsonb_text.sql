--
-- LangGraph.js documents as JSON text (sg_jsonb_append_text, src/json.c): what
-- sg_lg_get_tuple and sg_lg_list write for a stored jsonb value must be byte for
-- byte what jsonb's output function writes (json's -> keeps a member's text as
-- written, so the comparison is of text). Generated values: scalars at the root,
-- nested and empty containers, strings with every control character, quotes,
-- backslashes and non-ASCII, numbers in every form jsonb keeps; values read whole,
-- as appended parts joined, as metadata and as pending writes.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA jsonb_text;
SET search_path = jsonb_text;
CREATE EXTENSION stategraph;
RESET client_min_messages;
CREATE FUNCTION jt_str() RETURNS text LANGUAGE sql VOLATILE AS $$
  SELECT string_agg(CASE WHEN r < 0.35 THEN chr(1 + (random() * 30)::int)
                         WHEN r < 0.45 THEN (ARRAY['"', '\', '/', chr(127), 'é', '€', '😀', chr(8232), chr(65279), '\u', '''', ' '])[1 + (random() * 11)::int]
                         ELSE chr(32 + (random() * 94)::int) END, '')
    FROM (SELECT random() AS r FROM generate_series(0, (random() * 8)::int)) s $$;
CREATE FUNCTION jt_num() RETURNS jsonb LANGUAGE sql VOLATILE AS $$
  SELECT (ARRAY['0', '-0', '0.0', '1e-20', '-1E+30', '123456789012345678901234567890.000100', '0.1', '-3.14e5',
                '1.0000', '42', '-7', '2e0', '1.5E-7'])[1 + (random() * 12)::int]::jsonb $$;
CREATE FUNCTION jt_value(depth int) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE k int := (random() * (CASE WHEN depth > 0 THEN 7 ELSE 4 END))::int; r jsonb; i int;
BEGIN
  IF k = 0 THEN RETURN 'null'; ELSIF k = 1 THEN RETURN to_jsonb(random() < 0.5);
  ELSIF k = 2 THEN RETURN CASE WHEN random() < 0.5 THEN jt_num() ELSE to_jsonb((random() * 1e6)::numeric(20, 4) - 5e5) END;
  ELSIF k IN (3, 4) THEN RETURN to_jsonb(jt_str());
  ELSIF k = 5 OR k = 7 THEN
    r := '[]';
    FOR i IN 1..(random() * 4)::int LOOP r := r || jsonb_build_array(jt_value(depth - 1)); END LOOP;
    RETURN r;
  ELSE
    r := '{}';
    FOR i IN 1..(random() * 4)::int LOOP r := r || jsonb_build_object(jt_str(), jt_value(depth - 1)); END LOOP;
    RETURN r;
  END IF;
END $$;
SELECT setseed(0.5) IS NULL AS seeded;
CREATE TEMP TABLE jt AS
  SELECT i, jt_value(3) AS a, jt_value(3) AS b, jt_value(3) AS meta,
         (SELECT coalesce(jsonb_agg(jt_value(2)), '[]') FROM generate_series(1, (random() * 3)::int + i % 2) WHERE i > 0) AS base,
         (SELECT coalesce(jsonb_agg(jt_value(2)), '[]') FROM generate_series(1, (random() * 3)::int) WHERE i > 0) AS more
    FROM generate_series(1, 400) i;
-- every control character, alone, as a key and inside nested empty containers
INSERT INTO jt SELECT 1000 + c, to_jsonb(chr(c)), jsonb_build_object(chr(c), jsonb_build_array(chr(c) || 'x')), '{}', jsonb_build_array(chr(c)), jsonb_build_array('[]'::jsonb, '{}'::jsonb, jsonb_build_object(chr(c), '{}'::jsonb))
  FROM generate_series(1, 160) c;
-- each thread: a first checkpoint (values a, b, list l, metadata, two pending writes),
-- then one whose l appends more, sent as an append (the whole list when refused, as
-- the client does; an empty list is never an append base)
CREATE TEMP TABLE appended (i int, via_append boolean);
DO $$
DECLARE r record; second jsonb; id uuid;
BEGIN
  FOR r IN SELECT * FROM jt ORDER BY i LOOP
    PERFORM sg_lg_put('jt-' || r.i, '', NULL,
      jsonb_build_object('v', 4, 'id', '1ef00000-0000-6000-8000-000000000001', 'ts', 'x',
        'channel_values', jsonb_build_object('a', r.a, 'b', r.b, 'l', r.base),
        'channel_versions', '{"a": 1, "b": 1, "l": 1}'::jsonb, 'versions_seen', '{}'::jsonb),
      CASE WHEN jsonb_typeof(r.meta) = 'object' THEN r.meta ELSE jsonb_build_object('m', r.meta) END,
      '{"a": 1, "b": 1, "l": 1}');
    PERFORM sg_lg_put_writes('jt-' || r.i, '', '1ef00000-0000-6000-8000-000000000001', 't',
      jsonb_build_array(jsonb_build_array('a', r.a), jsonb_build_array('b', r.b)));
    second := jsonb_build_object('v', 4, 'id', '1ef00000-0000-6000-8000-000000000002', 'ts', 'x',
      'channel_values', jsonb_build_object('l', r.more),
      'channel_versions', '{"a": 1, "b": 1, "l": 2}'::jsonb, 'versions_seen', '{}'::jsonb);
    id := sg_lg_put('jt-' || r.i, '', '1ef00000-0000-6000-8000-000000000001', second, '{}', '{"l": 2}',
      appends => jsonb_build_object('l', jsonb_build_object('base', '1ef00000-0000-6000-8000-000000000001', 'n', jsonb_array_length(r.base))));
    INSERT INTO appended VALUES (r.i, id IS NOT NULL);
    IF id IS NULL THEN
      PERFORM sg_lg_put('jt-' || r.i, '', '1ef00000-0000-6000-8000-000000000001',
        jsonb_set(second, '{channel_values,l}', r.base || r.more), '{}', '{"l": 2}');
    END IF;
  END LOOP;
END $$;
SELECT count(*) AS threads, count(*) FILTER (WHERE via_append) > 400 AS most_via_append,
       bool_and(via_append = (jsonb_array_length(base) > 0)) AS refused_only_empty_bases
  FROM appended JOIN jt USING (i);
-- first checkpoint: values, metadata, writes, as jsonb's output writes them
SELECT count(*) AS compared,
       count(*) FILTER (WHERE (t->'channel_values'->'a')::text IS DISTINCT FROM a::text
                           OR (t->'channel_values'->'b')::text IS DISTINCT FROM b::text
                           OR (t->'channel_values'->'l')::text IS DISTINCT FROM base::text
                           OR (t->'pending_writes'->0->2)::text IS DISTINCT FROM a::text
                           OR (t->'pending_writes'->1->2)::text IS DISTINCT FROM b::text
                           OR (t->'metadata')::text IS DISTINCT FROM
                              (CASE WHEN jsonb_typeof(meta) = 'object' THEN meta ELSE jsonb_build_object('m', meta) END)::text) AS differ
  FROM jt, sg_lg_get_tuple('jt-' || i, '', '1ef00000-0000-6000-8000-000000000001') t;
SELECT i, a::text, t->'channel_values'->'a' FROM jt, sg_lg_get_tuple('jt-' || i, '', '1ef00000-0000-6000-8000-000000000001') t
 WHERE (t->'channel_values'->'a')::text IS DISTINCT FROM a::text LIMIT 3;
-- second: the appended list written from its parts
SELECT count(*) AS compared,
       count(*) FILTER (WHERE (t->'channel_values'->'l')::text IS DISTINCT FROM (base || more)::text
                           OR (t->'channel_values'->'a')::text IS DISTINCT FROM a::text) AS differ
  FROM jt, sg_lg_get_tuple('jt-' || i) t;
SELECT count(*) AS compared,
       count(*) FILTER (WHERE (t->'channel_values'->'l')::text IS DISTINCT FROM (CASE WHEN t->>'checkpoint_id' LIKE '%2' THEN base || more ELSE base END)::text) AS differ
  FROM jt, sg_lg_list('jt-' || i) t;
SELECT i, (base||more)::text, t->'channel_values'->'l' FROM jt, sg_lg_get_tuple('jt-' || i) t
 WHERE (t->'channel_values'->'l')::text IS DISTINCT FROM (base || more)::text LIMIT 3;
RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA jsonb_text CASCADE;
