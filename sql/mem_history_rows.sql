--
-- Memory of sg_get_state_history and sg_lg_list does not grow with the rows
-- they return: each row is built in a context of its own, let go once the
-- row is stored (src/lgread.c lg_read_oldest_first, src/history.c). Read at
-- row 1 of a FOR loop over the materialized set, where every row has been
-- built: the call's context (ExprContext) kept 20-28 kB a row of a
-- LangGraph.js thread before (2,000 rows: 40-56 MB) and 1.8-3.6 kB a row of
-- a native one (4,500 rows: 8-16 MB), and keeps ~50 kB in all now; the
-- bound, 2 MB, is far from both.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA mem_history_rows;
SET search_path = mem_history_rows;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION cid(i int) RETURNS uuid LANGUAGE sql AS
$$ SELECT ('1ef00000-0000-6000-8000-' || lpad(to_hex(i), 12, '0'))::uuid $$;
CREATE FUNCTION call_bytes() RETURNS bigint LANGUAGE sql AS
$$ SELECT sum(total_bytes)::bigint FROM pg_backend_memory_contexts WHERE name = 'ExprContext' $$;
CREATE TABLE seen (what text, rows int, bytes bigint);

-- a LangGraph.js thread of 2,000 checkpoints, each with one write
DO $$
BEGIN
  FOR i IN 1..2000 LOOP
    PERFORM sg_lg_put('mem', '', CASE WHEN i > 1 THEN cid(i - 1) END,
      format('{"v": 4, "id": "%s", "ts": "2026-01-01T00:00:00.000Z", "channel_values": {"step": %s, "note": "a note", "branch:to:step1": null}, "channel_versions": {"step": %s, "note": 1, "branch:to:step1": %s}, "versions_seen": {"__input__": {}, "step1": {"branch:to:step1": %s}}}',
             cid(i), i, i, i, i - 1)::jsonb,
      format('{"source": "%s", "step": %s, "parents": {}}', CASE WHEN i % 3 = 1 THEN 'input' ELSE 'loop' END, i)::jsonb,
      CASE WHEN i = 1 THEN '{"step": 1, "note": 1, "branch:to:step1": 1}'::jsonb
           ELSE format('{"step": %s, "branch:to:step1": %s}', i, i)::jsonb END);
    PERFORM sg_lg_put_writes('mem', '', cid(i), 'task-' || i, format('[["step", %s]]', i + 1)::jsonb);
  END LOOP;
END $$;

-- a native thread of 4,500 checkpoints
CREATE FUNCTION bump(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('step', coalesce((state->>'step')::int, 0) + 1) $$;
SELECT sg_create_graph('mem', '{"step": "replace", "note": "replace"}') IS NOT NULL AS created;
SELECT sg_add_node('mem', 'bump', 'bump(jsonb)') IS NOT NULL AS added;
SELECT sg_add_edge('mem', '__start__', 'bump') IS NOT NULL AS edge1;
SELECT sg_add_edge('mem', 'bump', '__end__') IS NOT NULL AS edge2;
SELECT sg_compile('mem') IS NOT NULL AS compiled;
DO $$ BEGIN FOR i IN 1..1500 LOOP PERFORM sg_invoke('mem', jsonb_build_object('note', 'n' || i), thread_id => 'mem-native'); END LOOP; END $$;

-- (static FOR loops: each a statement of its own, its set materialized at row 1)
DO $$
DECLARE r record; n int := 0; b bigint;
BEGIN
  FOR r IN SELECT * FROM sg_get_state_history('mem') LOOP
    n := n + 1;
    IF n = 1 THEN b := call_bytes(); END IF;
  END LOOP;
  INSERT INTO seen VALUES ('sg_get_state_history, LangGraph.js', n, b);
END $$;
DO $$
DECLARE r record; n int := 0; b bigint;
BEGIN
  FOR r IN SELECT * FROM sg_get_state_history('mem', filter => '{"source": "loop"}') LOOP
    n := n + 1;
    IF n = 1 THEN b := call_bytes(); END IF;
  END LOOP;
  INSERT INTO seen VALUES ('sg_get_state_history, LangGraph.js, filter', n, b);
END $$;
DO $$
DECLARE r record; n int := 0; b bigint;
BEGIN
  FOR r IN SELECT * FROM sg_lg_list('mem', '', NULL, NULL, NULL) LOOP
    n := n + 1;
    IF n = 1 THEN b := call_bytes(); END IF;
  END LOOP;
  INSERT INTO seen VALUES ('sg_lg_list', n, b);
END $$;
DO $$
DECLARE r record; n int := 0; b bigint;
BEGIN
  FOR r IN SELECT * FROM sg_get_state_history('mem-native') LOOP
    n := n + 1;
    IF n = 1 THEN b := call_bytes(); END IF;
  END LOOP;
  INSERT INTO seen VALUES ('sg_get_state_history, native', n, b);
END $$;
DO $$
DECLARE r record; n int := 0; b bigint;
BEGIN
  FOR r IN SELECT * FROM sg_get_state_history('mem-native', filter => '{}') LOOP
    n := n + 1;
    IF n = 1 THEN b := call_bytes(); END IF;
  END LOOP;
  INSERT INTO seen VALUES ('sg_get_state_history, native, filter', n, b);
END $$;
SELECT what, rows, bytes < 2 * 1024 * 1024 AS bounded,
       CASE WHEN bytes >= 2 * 1024 * 1024 THEN pg_size_pretty(bytes) END AS kept
FROM seen ORDER BY what;

-- the same rows as before, newest first, values as each checkpoint had them
SELECT step, "values"->'step' AS value, metadata->>'source' AS source
FROM sg_get_state_history('mem', 3, filter => '{"source": "loop"}');
SELECT d->'metadata'->>'step' AS step, d->'channel_values'->'step' AS value,
       d->'pending_writes'->0->>1 AS write
FROM sg_lg_list('mem', '', NULL, NULL, 3) d;
SELECT step, "values" FROM sg_get_state_history('mem-native', 4, filter => '{}');

-- past work_mem the rows spill to disk and are read back from there: the
-- same rows (reading them into a context the next row reset crashed the
-- server, SIGSEGV)
CREATE VIEW digests AS
SELECT 'native' AS what, count(*) AS n, md5(string_agg(h::text, ',' ORDER BY h.step)) AS digest
FROM sg_get_state_history('mem-native') h
UNION ALL
SELECT 'native, filter', count(*), md5(string_agg(h::text, ',' ORDER BY h.step))
FROM sg_get_state_history('mem-native', filter => '{}') h
UNION ALL
SELECT 'LangGraph.js', count(*), md5(string_agg(h::text, ',' ORDER BY h.step))
FROM sg_get_state_history('mem') h
UNION ALL
SELECT 'sg_lg_list', count(*), md5(string_agg(d::text, ',' ORDER BY (d->'metadata'->>'step')::int))
FROM sg_lg_list('mem', '', NULL, NULL, NULL) d;
CREATE TABLE whole AS SELECT * FROM digests;
SET work_mem = '64kB';
SELECT w.what, w.n, s.n = w.n AND s.digest = w.digest AS same
FROM whole w JOIN digests s USING (what)
ORDER BY w.what;
RESET work_mem;

SET client_min_messages = warning;
DROP SCHEMA mem_history_rows CASCADE;
