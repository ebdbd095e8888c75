--
-- sg_update_state calls the graph's reducers and routers. One that changes
-- the thread being updated (sg_update_state, sg_invoke, sg_delete_thread
-- of it) is refused (55000), as a node that changes its own thread is: a
-- reducer's sg_update_state of the same thread wrote a checkpoint that the
-- outer update then wrote a sibling of, from the same parent, and the
-- inner update was lost on a dead branch. Another thread is theirs to
-- change, and a refusal caught by the caller leaves nothing held.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA reent_update_state_reducer;
SET search_path = reent_update_state_reducer;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION zero(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"v": [0]}'::jsonb $$;
-- an append reducer that, once, runs what reent.sql says (reent.sql is cleared first)
CREATE FUNCTION reentrant_append(cur jsonb, upd jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE q text := current_setting('reent.sql', true);
BEGIN
    IF coalesce(q, '') <> '' THEN
        PERFORM set_config('reent.sql', '', false);
        EXECUTE q;
    END IF;
    RETURN coalesce(cur, '[]') || coalesce(upd, '[]');
END $$;
SELECT sg_create_graph('g', '{"v": {"reducer": "reentrant_append(jsonb,jsonb)"}}');
SELECT sg_add_node('g', 'a', 'zero(jsonb)');
SELECT sg_add_edge('g', '__start__', 'a');
SELECT sg_add_edge('g', 'a', '__end__');
SELECT sg_compile('g');
SELECT sg_invoke('g', '{"v": [1]}', 't');
SELECT sg_invoke('g', '{"v": [1]}', 'other');

-- the reducer changes the thread being updated: refused
SELECT set_config('reent.sql', $$SELECT sg_update_state('t', '{"v": [100]}')$$, false);
SELECT sg_update_state('t', '{"v": [2]}');
SELECT set_config('reent.sql', $$SELECT sg_invoke('g', '{"v": [100]}', 't')$$, false);
SELECT sg_update_state('t', '{"v": [2]}');
SELECT set_config('reent.sql', $$SELECT sg_delete_thread('t')$$, false);
SELECT sg_update_state('t', '{"v": [2]}');
-- the thread is as it was: one line of checkpoints
SELECT step, source, "values" FROM sg_get_state_history('t');
SELECT count(*) AS heads FROM stategraph.checkpoints c WHERE thread_id = 't'
    AND NOT EXISTS (SELECT 1 FROM stategraph.checkpoints d WHERE d.thread_id = 't' AND d.parent_id = c.checkpoint_id);

-- another thread is the reducer's to change
SELECT set_config('reent.sql', $$SELECT sg_update_state('other', '{"v": [100]}')$$, false);
SELECT sg_update_state('t', '{"v": [2]}') IS NOT NULL AS updated;
SELECT thread_id, "values" FROM sg_get_state('t') UNION ALL SELECT thread_id, "values" FROM sg_get_state('other');

-- a refusal caught by the caller: the thread is free again at once
DO $$
BEGIN
    PERFORM set_config('reent.sql', $q$SELECT sg_update_state('t', '{"v": [100]}')$q$, false);
    BEGIN
        PERFORM sg_update_state('t', '{"v": [3]}');
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        RAISE NOTICE 'refused: %', SQLERRM;
    END;
    PERFORM set_config('reent.sql', '', false);	-- (the reducer's clearing was rolled back)
    PERFORM sg_update_state('t', '{"v": [4]}');
    PERFORM sg_invoke('g', '{"v": [5]}', 't');
END $$;
SELECT step, source, "values" FROM sg_get_state_history('t', 3);

SET client_min_messages = warning;
DROP SCHEMA reent_update_state_reducer CASCADE;
