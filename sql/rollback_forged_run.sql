--
-- sg_cancel(run, 'rollback') is refused (55000) while a run the caller
-- cannot see is queued from one of the checkpoints the rollback removes:
-- a member role's run on its owner's thread. The look below row-level
-- security (thread_ids.c, sg_thread_has_hidden_run_from) counted any
-- role's run row, also one a stranger wrote itself naming the thread
-- (row-level security lets any role write a run row under its own name,
-- and README says such a row counts nowhere): a stranger blocked the
-- owner's rollback for good, with a row the owner can neither see nor
-- cancel.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_rf_alice;
DROP ROLE IF EXISTS regress_rf_bob;
DROP ROLE IF EXISTS regress_rf_carol;
CREATE SCHEMA rollback_forged_run;
GRANT USAGE ON SCHEMA rollback_forged_run TO PUBLIC;
SET search_path = rollback_forged_run;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY terse

CREATE ROLE regress_rf_alice;
CREATE ROLE regress_rf_bob;       -- a member of alice
CREATE ROLE regress_rf_carol;     -- a stranger
GRANT regress_rf_alice TO regress_rf_bob;

-- the status of a run once it is want (CALL sg_work or a worker moves it), or after 30 s
CREATE FUNCTION status_once(run uuid, want text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s text;
BEGIN
    FOR i IN 1..3000 LOOP
        SELECT status INTO s FROM sg_runs() WHERE run_id = run;
        EXIT WHEN s = want;
        PERFORM pg_sleep(0.01);
    END LOOP;
    RETURN s;
END $$;
CREATE FUNCTION a(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"log": ["a"]}'::jsonb $$;
SELECT sg_create_graph('rf', '{"log": "append"}');
SELECT sg_add_node('rf', 'a', 'a(jsonb)');
SELECT sg_add_external_node('rf', 'ext', queue => 'rfq');
SELECT sg_add_edge('rf', '__start__', 'a');
SELECT sg_add_edge('rf', 'a', 'ext');
SELECT sg_add_edge('rf', 'ext', '__end__');
SELECT sg_compile('rf');

-- alice's run takes a step, then waits for ext
SET ROLE regress_rf_alice;
SELECT sg_submit('rf', '{"log": ["in"]}', 'rf1') AS run \gset
CALL sg_work();
SELECT status_once(:'run', 'waiting');

-- a run row of her member bob, queued from a checkpoint newer than the run's start: refused
SET ROLE regress_rf_bob;
INSERT INTO stategraph.runs (run_id, thread_id, graph, recursion_limit, multitask, status, checkpoint_id, not_before)
VALUES ('00000000-0000-0000-0000-0000000000b0', 'rf1', 'rf', 25, 'enqueue', 'waiting',
        'ffffffff-ffff-ffff-ffff-ffffffffffff', 'infinity');
SET ROLE regress_rf_alice;
SELECT count(*) AS runs_alice_sees FROM sg_runs('rf1');
\set VERBOSITY sqlstate
SELECT sg_cancel(:'run', 'rollback');
\set VERBOSITY terse
SET ROLE regress_rf_bob;
DELETE FROM stategraph.runs WHERE run_id = '00000000-0000-0000-0000-0000000000b0';

-- the same row written by carol, who may not act on the thread, counts nowhere (was: refused, 55000)
SET ROLE regress_rf_carol;
INSERT INTO stategraph.runs (run_id, thread_id, graph, recursion_limit, multitask, status, checkpoint_id, not_before)
VALUES ('00000000-0000-0000-0000-0000000000c0', 'rf1', 'rf', 25, 'enqueue', 'waiting',
        'ffffffff-ffff-ffff-ffff-ffffffffffff', 'infinity');
SET ROLE regress_rf_alice;
\set VERBOSITY sqlstate
SELECT sg_cancel(:'run', 'rollback');
\set VERBOSITY terse
CALL sg_work();
SELECT status_once(:'run', 'cancelled');
-- the run created the thread: the rollback removes it
SELECT count(*) AS threads_left FROM sg_threads() WHERE thread_id = 'rf1';

RESET ROLE;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA rollback_forged_run CASCADE;
DROP ROLE regress_rf_alice;
DROP ROLE regress_rf_bob;
DROP ROLE regress_rf_carol;
