--
-- The checks of a new thread's id that it is not a thread of the other
-- kind (thread_ids.c, wait_other_kind) read the other kind's table once
-- per new thread, as before they also waited for that kind's transactions
-- in flight: a read of committed rows, a dirty-snapshot read and the
-- committed read again made every sg_invoke of a new thread probe
-- stategraph.lg_checkpoints three times, and every LangGraph.js first put
-- probe stategraph.threads three times. Counted with the tables' index
-- scans (pg_stat_all_tables), over 100 new threads of each kind.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA revkinds_probes;
SET search_path = revkinds_probes;
CREATE EXTENSION stategraph;
RESET client_min_messages;
CREATE FUNCTION rp_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT jsonb_build_object('n', 1) $$;
SELECT sg_create_graph('g', jsonb_build_object('n', 'add')) IS NOT NULL AS created;
SELECT sg_add_node('g', 'step', 'revkinds_probes.rp_step(jsonb)') IS NOT NULL AS added;
SELECT sg_add_edge('g', '__start__', 'step') IS NOT NULL AS edge1;
SELECT sg_add_edge('g', 'step', '__end__') IS NOT NULL AS edge2;
SELECT sg_compile('g') IS NOT NULL AS compiled;
CREATE FUNCTION rp_put(thread_id text) RETURNS boolean LANGUAGE sql AS $$
    SELECT sg_lg_put(thread_id, '', NULL,
        jsonb_build_object('v', 4, 'id', '1ef00000-0000-6000-8000-000000000001', 'ts', 'x',
                           'channel_values', jsonb_build_object('m', 1),
                           'channel_versions', jsonb_build_object('m', 1), 'versions_seen', jsonb_build_object()),
        jsonb_build_object('source', 'input', 'step', -1), jsonb_build_object('m', 1)) IS NOT NULL $$;
-- a thread of each kind: neither table is empty (an empty one is not read)
SELECT sg_invoke('g', '{"n": 0}', 'rp-sg') ->> 'n' AS n;
SELECT rp_put('rp-lg') AS put;
CREATE TABLE scans AS SELECT relname, idx_scan FROM pg_stat_all_tables WHERE false;
CREATE FUNCTION rp_mark() RETURNS void LANGUAGE sql AS $$
    SELECT pg_stat_force_next_flush();
    DELETE FROM revkinds_probes.scans;
    INSERT INTO revkinds_probes.scans
        SELECT relname, idx_scan FROM pg_stat_all_tables
        WHERE schemaname = 'stategraph' AND relname IN ('threads', 'lg_checkpoints') $$;
CREATE FUNCTION rp_scans(tab text) RETURNS bigint LANGUAGE sql AS $$
    SELECT a.idx_scan - s.idx_scan FROM pg_stat_all_tables a JOIN revkinds_probes.scans s USING (relname)
    WHERE a.schemaname = 'stategraph' AND a.relname = tab $$;
-- 100 new stategraph threads: one probe of lg_checkpoints each
SELECT rp_mark();
SELECT count(sg_invoke('g', '{"n": 0}', 'rp-sg-' || i)) FROM generate_series(1, 100) i;
SELECT pg_stat_force_next_flush();
SELECT rp_scans('lg_checkpoints') BETWEEN 100 AND 150 AS about_one_probe_each;
-- 100 first puts of LangGraph.js threads: one probe of threads each
SELECT rp_mark();
SELECT count(*) FILTER (WHERE rp_put('rp-lg-' || i)) FROM generate_series(1, 100) i;
SELECT pg_stat_force_next_flush();
SELECT rp_scans('threads') BETWEEN 100 AND 150 AS about_one_probe_each;
-- and six reads of lg_checkpoints each, one of them lgsaver.c lg_wait_stored's (a copy or
-- import in flight?): a committed read and a dirty one made seven
SELECT rp_scans('lg_checkpoints') BETWEEN 600 AND 650 AS six_reads_each;
-- the refusals stay
SELECT sg_invoke('g', '{"n": 0}', 'rp-lg') IS NOT NULL AS invoked;
SELECT rp_put('rp-sg') AS put;

SET client_min_messages = warning;
DROP SCHEMA revkinds_probes CASCADE;
