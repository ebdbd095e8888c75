--
-- sg_prune of a thread with a background run that has not started yet,
-- submitted to start from an older checkpoint (sg_submit's checkpoint_id,
-- time travel): prune kept the checkpoint a run that has taken steps
-- started from, but not that one, and removed it; the run, accepted,
-- then failed with 42704 when it started (checkpoint ... does not exist).
-- Prune keeps it (and its first loop child) while the run has taken no
-- step.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA prune_submit_from;
SET search_path = prune_submit_from;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY terse

-- the status of a run once it is not pending (CALL sg_work or a worker runs it), or after 30 s
CREATE FUNCTION status_once(run uuid) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s text;
BEGIN
    FOR i IN 1..3000 LOOP
        SELECT status INTO s FROM sg_runs() WHERE run_id = run;
        EXIT WHEN s NOT IN ('pending', 'running');
        PERFORM pg_sleep(0.01);
    END LOOP;
    RETURN s;
END $$;
CREATE FUNCTION add_turn(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('messages', jsonb_build_array('reply ' || jsonb_array_length(state->'messages')),
                              'turns', COALESCE((state->>'turns')::int, 0) + 1)
$$;
SELECT sg_create_graph('sf', '{"messages": "append", "turns": "replace"}');
SELECT sg_add_node('sf', 'chat', 'add_turn(jsonb)');
SELECT sg_add_edge('sf', '__start__', 'chat');
SELECT sg_add_edge('sf', 'chat', '__end__');
SELECT sg_compile('sf');
SELECT count(sg_invoke('sf', jsonb_build_object('messages', jsonb_build_array('hello ' || i)), 'sf1'))
FROM generate_series(1, 3) i;

-- a run from the end of the first turn, for later; one from the first input, resumed as it was
-- (an hour later: they must not start before the prunes below, however slow
-- the machine is; they are made due by hand after them)
SELECT checkpoint_id AS turn1 FROM sg_get_state_history('sf1', filter => '{"step": 1}') \gset
SELECT checkpoint_id AS input1 FROM sg_get_state_history('sf1', filter => '{"step": -1}') \gset
SELECT sg_submit('sf', '{"messages": ["from turn 1"]}', 'sf1', checkpoint_id => :'turn1', after => '1 hour') AS run1 \gset
SELECT sg_submit('sf', NULL, 'sf1', checkpoint_id => :'input1', after => '1 hour', multitask => 'enqueue') AS run2 \gset

-- prune keeps them, and what their tasks' results are in
SELECT sg_prune(keep_last => 1, thread_id => 'sf1') AS pruned;
SELECT step, source, next FROM sg_get_state_history('sf1') ORDER BY step;
SELECT sg_prune(keep_last => 1) AS pruned;
SELECT "values" FROM sg_get_state('sf1', checkpoint_id => :'turn1');

-- the runs start from there
UPDATE stategraph.runs SET not_before = now() WHERE run_id IN (:'run1', :'run2');
CALL sg_work();
SELECT status_once(:'run1') AS run1, status_once(:'run2') AS run2;
SELECT error FROM sg_runs() WHERE error IS NOT NULL;
SELECT step, source, "values" FROM sg_get_state_history('sf1') ORDER BY checkpoint_id DESC LIMIT 5;

-- once they have run, prune removes those checkpoints
SELECT sg_prune(keep_last => 1, thread_id => 'sf1') AS pruned;
SELECT count(*) AS checkpoints FROM sg_get_state_history('sf1');

SET client_min_messages = warning;
DROP SCHEMA prune_submit_from CASCADE;
