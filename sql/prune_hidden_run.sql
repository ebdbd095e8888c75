--
-- sg_prune of a thread on which a member role's run is active, that the
-- thread's owner cannot see (row-level security hides the member's runs
-- from its parent role): prune keeps the checkpoint a visible active run
-- started from (its rollback makes it the head again), but could not see
-- this one's, and removed it; the member's rollback then made a checkpoint
-- that was not there the head, and the thread could no longer be read.
-- sg_prune of the thread is refused (SG015, as sg_delete_thread is),
-- sg_prune of every thread and the 'keep_latest' sweep of CALL sg_work()
-- pass it over.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_prune_alice;
DROP ROLE IF EXISTS regress_prune_bob;
CREATE SCHEMA prune_hidden_run;
GRANT USAGE ON SCHEMA prune_hidden_run TO PUBLIC;
SET search_path = prune_hidden_run;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY terse

CREATE ROLE regress_prune_alice;
CREATE ROLE regress_prune_bob;
GRANT regress_prune_alice TO regress_prune_bob;

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
SELECT sg_create_graph('hr', '{"log": "append", "q": "replace"}');
SELECT sg_add_node('hr', 'a', 'a(jsonb)');
SELECT sg_add_external_node('hr', 'ext', queue => 'hrq');
SELECT sg_add_edge('hr', '__start__', 'a');
SELECT sg_add_edge('hr', 'a', 'ext');
SELECT sg_add_edge('hr', 'ext', '__end__');
SELECT sg_compile('hr');

-- alice's thread stops before ext, then cancels its tasks with new input that ends it
SET ROLE regress_prune_alice;
SELECT sg_invoke('hr', '{"q": "alice"}', 'hr1') ->> 'q' AS q;
SELECT sg_update_state('hr1', '{"q": "done"}', as_node => 'ext') IS NOT NULL AS updated;
SELECT step, source, next FROM sg_get_state('hr1');
-- bob's run on her thread: a, then it waits for ext
SET ROLE regress_prune_bob;
SELECT sg_submit('hr', '{"q": "bob"}', 'hr1') AS run \gset
CALL sg_work();
SELECT status_once(:'run', 'waiting');
CREATE TEMP TABLE before AS SELECT h.checkpoint_id, to_jsonb(h) AS snap FROM sg_get_state_history('hr1') h;
GRANT SELECT ON before TO PUBLIC;
SELECT count(*) AS checkpoints FROM before;

-- alice cannot see bob's run: her CALL sg_work()'s 'keep_latest' retention sweep passes the thread over
RESET ROLE;
SELECT sg_set_retention(NULL, '1 microsecond', 'keep_latest');
SET ROLE regress_prune_alice;
SELECT count(*) AS runs_seen FROM sg_runs();
SELECT pg_sleep(0.01);
CALL sg_work();
SELECT count(*) AS checkpoints FROM sg_get_state_history('hr1');
RESET ROLE;
SELECT sg_set_retention(NULL, NULL);
-- prune of every thread passes it over, her prune of the thread is refused
SET ROLE regress_prune_alice;
SELECT sg_prune(keep_last => 1) AS pruned;
SELECT sg_prune(keep_last => 1, thread_id => 'hr1') AS pruned;
SELECT count(*) AS checkpoints FROM sg_get_state_history('hr1');

-- bob rolls his run back: the thread is at its checkpoint before the run, which reads as before
SET ROLE regress_prune_bob;
SELECT sg_cancel(:'run', 'rollback');
SELECT status_once(:'run', 'cancelled');
SELECT step, source, next, "values" FROM sg_get_state('hr1');
SELECT count(*) AS differ FROM sg_get_state_history('hr1') h JOIN before b USING (checkpoint_id)
WHERE to_jsonb(h) <> b.snap;
DROP TABLE before;
-- with no run left, alice prunes it
SET ROLE regress_prune_alice;
SELECT sg_prune(keep_last => 1, thread_id => 'hr1') AS pruned;
SELECT step, source, next, "values" FROM sg_get_state('hr1');

RESET ROLE;
SET client_min_messages = warning;
DROP SCHEMA prune_hidden_run CASCADE;
DROP ROLE regress_prune_alice;
DROP ROLE regress_prune_bob;
