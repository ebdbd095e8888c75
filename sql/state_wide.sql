--
-- A state of many channels is read in time n log n: the channels were put
-- into jsonb key order (shorter keys first) by an insertion sort, O(n^2)
-- for a graph's channels, which come sorted by strcmp ("c10000" before
-- "c2"): a state of 40,000 channels took seconds to build and read.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA state_wide;
SET search_path = state_wide;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY terse

CREATE FUNCTION noop(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
SELECT sg_create_graph('wide', (SELECT jsonb_object_agg('c' || i, 'replace') FROM generate_series(1, 40000) i));
SELECT sg_add_node('wide', 'a', 'noop(jsonb)');
SELECT sg_add_edge('wide', '__start__', 'a');
SELECT sg_add_edge('wide', 'a', '__end__');
SELECT sg_compile('wide');
-- the graph loaded into this backend's cache (its channels absent: no value)
SELECT sg_invoke('wide', '{}', thread_id => 'warm');
CREATE TABLE input AS SELECT jsonb_object_agg('c' || i, i) AS input FROM generate_series(1, 40000) i;

-- every channel given a value: well under the timeouts now (about 0.1 s
-- each; 4.4 s and 1.7 s before)
SET statement_timeout = '1s';
SELECT s->'c1' AS c1, s->'c9' AS c9, s->'c10' AS c10, s->'c39999' AS c39999, s->'c40000' AS c40000,
       (SELECT count(*) FROM jsonb_object_keys(s)) AS channels
FROM (SELECT sg_invoke('wide', input, thread_id => 'w') AS s FROM input) r;
SET statement_timeout = '500ms';
SELECT v->'c1' AS c1, v->'c10000' AS c10000, v->'c40000' AS c40000,
       (SELECT count(*) FROM jsonb_object_keys(v)) AS channels,
       v = (SELECT input FROM input) AS as_given
FROM (SELECT (sg_get_state('w')).values AS v) r;
RESET statement_timeout;
-- in jsonb's key order, shorter keys first: keys 1, 9, 10 and 40,000
SELECT k FROM (SELECT k, row_number() OVER () AS n FROM jsonb_object_keys((sg_get_state('w')).values) k) r
WHERE n IN (1, 9, 10, 40000);

SET client_min_messages = warning;
DROP SCHEMA state_wide CASCADE;
