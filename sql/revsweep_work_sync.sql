--
-- CALL sg_work commits its sweep's batches with synchronous_commit off.
-- A CALL inside a procedure or DO block shares its transactions with the
-- caller: the setting must not reach what the caller wrote before the
-- CALL, nor the transaction it goes on in after it (whose writes were
-- committed asynchronously: lost by a crash after the client saw them).
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA revsweep_work_sync;
SET search_path = revsweep_work_sync;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION sc(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('sc', current_setting('synchronous_commit')) $$;
SELECT sg_create_graph('sc', '{"sc": "replace"}') IS NOT NULL AS created;
SELECT sg_add_node('sc', 'a', 'sc(jsonb)') IS NOT NULL AS added;
SELECT sg_add_edge('sc', '__start__', 'a') IS NOT NULL AS edge1;
SELECT sg_add_edge('sc', 'a', '__end__') IS NOT NULL AS edge2;
SELECT sg_compile('sc') IS NOT NULL AS compiled;

-- what the caller writes before and after a CALL sg_work that only sweeps
CREATE TABLE seen (at text, xid bigint, sc text);
DO $$
BEGIN
    INSERT INTO seen VALUES ('before', txid_current(), current_setting('synchronous_commit'));
    CALL sg_work(0);
    INSERT INTO seen VALUES ('after', txid_current(), current_setting('synchronous_commit'));
END $$;
-- 'after' is not in the transaction of 'before', nor with synchronous_commit off
SELECT at, sc FROM seen ORDER BY at;
SELECT count(DISTINCT xid) AS transactions FROM seen;

-- a run's step taken by the next CALL sg_work in the same transaction (the run is
-- submitted in it, so that no background worker sees it first): never asynchronous
DO $$
BEGIN
    CALL sg_work(0);
    PERFORM sg_submit('sc', '{}', 'sc1');
    CALL sg_work(1);
END $$;
SELECT "values"->>'sc' AS step_synchronous_commit FROM sg_get_state('sc1');

SET client_min_messages = warning;
DROP SCHEMA revsweep_work_sync CASCADE;
