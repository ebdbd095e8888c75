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

-- the node records who took its step (this session or a background worker) and how
CREATE TABLE ran (pid integer, sc text);
CREATE FUNCTION sc(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ INSERT INTO revsweep_work_sync.ran VALUES (pg_backend_pid(), current_setting('synchronous_commit'))
          RETURNING jsonb_build_object('sc', sc) $$;
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

-- a run's step taken by the next CALL sg_work in the same transaction as the
-- sweep's: never asynchronous. sg_work commits the submit before its claim, so
-- a background worker may take the run first: then again, on a new thread,
-- until this session took a step (a warm worker won about one race in five
-- on a busy two-core machine, more when the machine is busier: five tries
-- were not enough to be sure, fifty are)
DO $$
BEGIN
    FOR i IN 1..50 LOOP
        CALL sg_work(0);
        PERFORM sg_submit('sc', '{}', 'sc' || i);
        CALL sg_work(1);
        EXIT WHEN EXISTS (SELECT FROM ran WHERE pid = pg_backend_pid());
    END LOOP;
END $$;
SELECT sc AS step_synchronous_commit FROM ran WHERE pid = pg_backend_pid();
-- every run ended (none is left to a worker while the schema is dropped)
SELECT bool_and(w.status = 'success') AS all_succeeded FROM sg_runs() r, LATERAL sg_wait(r.run_id) w;

SET client_min_messages = warning;
DROP SCHEMA revsweep_work_sync CASCADE;
