-- Calls that fail between taking a thread's lock and settling it, caught by
-- an EXCEPTION block, left an entry each in the transaction's list of held
-- thread locks (TopTransactionContext) for the rest of the transaction:
-- 10,000 caught calls kept 0.8 MB, and every later settle scanned them.
-- The entries of an aborted subtransaction now go with it.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
RESET client_min_messages;
CREATE EXTENSION stategraph;

CREATE FUNCTION pg_temp.catch(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;
CREATE FUNCTION pg_temp.xact_bytes() RETURNS bigint LANGUAGE sql AS
$$ SELECT sum(total_bytes)::bigint FROM pg_backend_memory_contexts WHERE name = 'TopTransactionContext' $$;

SELECT sg_create_graph('g', '{"n": "add"}');
CREATE FUNCTION public.xls_one(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_add_node('g', 'one', 'public.xls_one(jsonb)');
SELECT sg_add_edge('g', '__start__', 'one');
SELECT sg_add_edge('g', 'one', '__end__');
SELECT sg_compile('g');

BEGIN;
-- the failures, as the caller sees them
SELECT pg_temp.catch($q$SELECT sg_delete_thread('nope')$q$) AS delete_missing,
       pg_temp.catch($q$SELECT sg_invoke('g', NULL, 'nope')$q$) AS resume_missing;
SELECT pg_temp.xact_bytes() AS before \gset
DO $$
BEGIN
    FOR i IN 1 .. 5000 LOOP
        PERFORM pg_temp.catch($q$SELECT sg_delete_thread('nope')$q$);
        PERFORM pg_temp.catch($q$SELECT sg_invoke('g', NULL, 'nope')$q$);
    END LOOP;
END $$;
-- 10,000 failed calls: before, 0.8 MB more; no lock left held
SELECT pg_temp.xact_bytes() - :before < 100000 AS flat;
SELECT count(*) AS advisory_held FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();
-- the transaction's own threads still work, and their locks are settled
SELECT sg_invoke('g', '{"n": 1}', 'xls-1') AS first;
SELECT pg_temp.catch($q$SELECT sg_update_state('nope', '{}')$q$) AS update_missing;
SELECT sg_invoke('g', '{"n": 1}', 'xls-1') AS second;
COMMIT;
SELECT values FROM sg_get_state('xls-1');
-- a lock taken in a subtransaction that commits stays until the thread is settled
BEGIN;
SAVEPOINT s;
SELECT sg_invoke('g', '{"n": 5}', 'xls-2') AS in_savepoint;
RELEASE SAVEPOINT s;
SELECT count(*) AS advisory_held FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();
SELECT sg_invoke('g', '{"n": 5}', 'xls-2') AS after_release;
COMMIT;
SELECT values FROM sg_get_state('xls-2');
DROP FUNCTION public.xls_one(jsonb);
