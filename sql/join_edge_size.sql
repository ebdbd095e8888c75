--
-- A join whose names do not fit in an entry of the draft's index
-- (stategraph.edges' primary key: at most 2704 bytes, its sources
-- compressed) is refused by sg_add_edge with its own error (54000), not by
-- PostgreSQL's ('index row size 6664 exceeds btree version 4 maximum 2704
-- for index "edges_pkey"'; 'index row requires 67048 bytes'). Every join
-- the index can hold is still added.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA join_edge_size;
SET search_path = join_edge_size;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION names(n int, kind text DEFAULT 'seq') RETURNS text[] LANGUAGE sql AS $$
    SELECT array_agg(CASE kind WHEN 'seq' THEN 's' || lpad(i::text, 6, '0') ELSE md5(i::text) END ORDER BY i)
    FROM generate_series(1, n) i
$$;
CREATE FUNCTION try_add(sources text[], target text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sg_add_edge('g', sources, target);
    RETURN 'added';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

SELECT sg_create_graph('g', '{"x": "replace"}');
\set VERBOSITY default
-- 2,000 sources named like s000001, and 20,000
SELECT sg_add_edge('g', names(2000), 'd');
SELECT try_add(names(20000), 'd');
-- 100 names that do not compress (md5 hex)
SELECT try_add(names(100, 'md5'), 'd');
\set VERBOSITY terse
-- at the limit: 816 sources like s000001 fit, 817 do not; 74 md5 names
-- fit, 75 do not (targets of one length: the same room for them)
SELECT try_add(names(816), 'e1');
SELECT try_add(names(817), 'e2');
SELECT try_add(names(74, 'md5'), 'e3');
SELECT try_add(names(75, 'md5'), 'e4');
SELECT target, cardinality(sources) FROM stategraph.edges WHERE graph = 'g' ORDER BY target;
-- what the index itself accepts is the same: 817 sources and 75 md5
-- names are too large for it too
DO $$
BEGIN
    INSERT INTO stategraph.edges (graph, sources, target) VALUES ('g', join_edge_size.names(817), 'e2');
EXCEPTION WHEN program_limit_exceeded THEN
    RAISE NOTICE 'index: %', SQLERRM;
END $$;
DO $$
BEGIN
    INSERT INTO stategraph.edges (graph, sources, target) VALUES ('g', join_edge_size.names(75, 'md5'), 'e4');
EXCEPTION WHEN program_limit_exceeded THEN
    RAISE NOTICE 'index: %', SQLERRM;
END $$;
-- adding a join that fits twice changes nothing, as before
SELECT try_add(names(816), 'e1');
SELECT count(*) FROM stategraph.edges WHERE graph = 'g';

SET client_min_messages = warning;
DROP SCHEMA join_edge_size CASCADE;
