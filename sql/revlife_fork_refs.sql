--
-- A fork reads through the references of the thread it was forked from:
-- a channel unchanged for a while is stored as a reference to the row that
-- holds its value, a row of that thread, not of the fork. Reading the fork,
-- continuing it, and deleting the thread it came from keep it readable.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA revlife_fork_refs;
SET search_path = revlife_fork_refs;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
SET stategraph.state_cache = 0;   -- every read from storage

-- a counter looping 40 times; "big" is written once and never changes
CREATE FUNCTION count_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('n', COALESCE((state->>'n')::int, 0) + 1, 'log', jsonb_build_array('x')) $$;
CREATE FUNCTION count_route(state jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN (state->>'n')::int >= 40 THEN '__end__' ELSE 'step' END $$;
SELECT sg_create_graph('counter', '{"n": "replace", "big": "replace", "log": "append"}');
SELECT sg_add_node('counter', 'step', 'count_step(jsonb)');
SELECT sg_add_edge('counter', '__start__', 'step');
SELECT sg_add_conditional_edges('counter', 'step', 'count_route(jsonb)', '["step", "__end__"]');
SELECT sg_compile('counter');
SELECT sg_invoke('counter', jsonb_build_object('big', repeat('b', 200)), thread_id => 'src',
                 recursion_limit => 100)->>'n' AS n;
-- the source stores "big" as a reference at some checkpoint before step 18
SELECT count(*) > 0 AS has_reference FROM stategraph.checkpoints
WHERE thread_id = 'src' AND refs ? 'big' AND step <= 18;

-- a fork at step 18 reads the value the reference points to
SELECT checkpoint_id AS at18 FROM sg_get_state_history('src', filter => '{"step": 18}') \gset
SELECT sg_fork('src', :'at18', 'fork') IS NOT NULL AS forked;
SELECT "values"->>'n' AS n, length("values"->>'big') AS big FROM sg_get_state('fork');
SELECT "values" = (SELECT "values" FROM sg_get_state('src', :'at18')) AS same_values FROM sg_get_state('fork');

-- the fork runs on: its rows store "big" again, never a reference into the source
SELECT sg_invoke('counter', NULL, thread_id => 'fork', recursion_limit => 100)->>'n' AS n;
SELECT count(*) AS references_into_src FROM stategraph.checkpoints f
WHERE f.thread_id = 'fork' AND EXISTS (
    SELECT FROM jsonb_each_text(f.refs) r JOIN stategraph.checkpoints s
        ON s.thread_id = 'src' AND s.checkpoint_id = r.value::uuid);
CREATE TABLE fork_before AS
SELECT h.checkpoint_id, to_jsonb(h) AS snap FROM sg_get_state_history('fork') h;
SELECT count(*) AS fork_checkpoints,
       count(*) FILTER (WHERE to_jsonb(sg_get_state('fork', b.checkpoint_id)) = b.snap) AS read_alike,
       count(*) FILTER (WHERE length(b.snap->'values'->>'big') = 200) AS with_big
FROM fork_before b;

-- the source is deleted: every checkpoint of the fork reads as before
SELECT sg_delete_thread('src');
SELECT count(*) AS fork_checkpoints,
       count(*) FILTER (WHERE to_jsonb(sg_get_state('fork', b.checkpoint_id)) = b.snap) AS read_alike,
       count(*) FILTER (WHERE h.snap = b.snap) AS history_alike
FROM fork_before b
LEFT JOIN (SELECT x.checkpoint_id, to_jsonb(x) AS snap FROM sg_get_state_history('fork') x) h USING (checkpoint_id);
SELECT count(*) AS rows_of_src FROM stategraph.checkpoints WHERE thread_id = 'src';

SET client_min_messages = warning;
DROP SCHEMA revlife_fork_refs CASCADE;
