--
-- sg_prune and sg_delete_thread keep what remains readable, forks included.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA retention;
SET search_path = retention;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION add_turn(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('messages', jsonb_build_array('reply ' || jsonb_array_length(state->'messages')),
                              'turns', COALESCE((state->>'turns')::int, 0) + 1)
$$;
SELECT sg_create_graph('chat', '{"messages": "append", "turns": "replace", "user": "replace"}');
SELECT sg_add_node('chat', 'chat', 'add_turn(jsonb)');
SELECT sg_add_edge('chat', '__start__', 'chat');
SELECT sg_add_edge('chat', 'chat', '__end__');
SELECT sg_compile('chat');

-- 40 turns on one thread: 120 checkpoints
SELECT count(sg_invoke('chat', jsonb_build_object('messages', jsonb_build_array('hello ' || i), 'user', 'ada'),
                       thread_id => 'c-1'))
FROM generate_series(1, 40) i;
SELECT "values" AS before FROM sg_get_state('c-1') \gset
SELECT jsonb_agg("values" ORDER BY checkpoint_id) AS history_before
FROM sg_get_state_history('c-1', "limit" => 10) \gset
-- a fork of the thread at an old checkpoint, and a time-travel branch within it
SELECT checkpoint_id AS turn5 FROM sg_get_state_history('c-1', filter => '{"step": 14}') \gset
SELECT sg_fork('c-1', :'turn5', 'c-fork') IS NOT NULL AS forked;
SELECT "values" AS fork_before FROM sg_get_state('c-fork') \gset

-- keep the newest 10 checkpoints of every thread
SELECT sg_prune(keep_last => 10) AS removed;
SELECT thread_id, checkpoints FROM sg_threads();
-- what remains reads the same
SELECT "values" = :'before'::jsonb AS state_kept FROM sg_get_state('c-1');
SELECT jsonb_agg("values" ORDER BY checkpoint_id) = :'history_before'::jsonb AS history_kept
FROM sg_get_state_history('c-1');
SELECT "values" = :'fork_before'::jsonb AS fork_kept FROM sg_get_state('c-fork');
-- and goes on
SELECT sg_invoke('chat', '{"messages": ["one more"]}', thread_id => 'c-1') ->> 'turns' AS turns;
SELECT jsonb_array_length("values"->'messages') AS messages FROM sg_get_state('c-1');

-- older_than: nothing is that old yet; everything is
SELECT sg_prune(older_than => '1 hour') AS removed;
SELECT sg_prune(older_than => '0 seconds', thread_id => 'c-fork') AS removed;
SELECT "values" = :'fork_before'::jsonb AS fork_kept, step, source FROM sg_get_state('c-fork');

-- deleting a thread gives its forks their own copy of what they need
SELECT checkpoint_id AS latest FROM sg_get_state('c-1') \gset
SELECT sg_fork('c-1', :'latest', 'c-fork2') IS NOT NULL AS forked;
SELECT "values" AS fork2 FROM sg_get_state('c-fork2') \gset
SELECT sg_delete_thread('c-1');
SELECT thread_id, checkpoints FROM sg_threads();
SELECT "values" = :'fork2'::jsonb AS fork2_kept FROM sg_get_state('c-fork2');
SELECT sg_invoke('chat', '{"messages": ["still here"]}', thread_id => 'c-fork2') ->> 'turns' AS turns;
SELECT count(*) AS rows_left FROM stategraph.checkpoints WHERE thread_id = 'c-1';

-- no resurrection: the deleted thread is gone; a new run starts from scratch
SELECT sg_get_state('c-1');
SELECT sg_invoke('chat', NULL, thread_id => 'c-1');
SELECT sg_invoke('chat', '{"messages": ["new"]}', thread_id => 'c-1') ->> 'turns' AS turns;

-- bad arguments
SELECT sg_prune();
SELECT sg_prune(keep_last => 0);
SELECT sg_prune(older_than => '-1 day');
SELECT sg_prune(keep_last => 1, thread_id => 'nobody');
SELECT sg_delete_thread('nobody');
SELECT sg_delete_thread(NULL);

SET client_min_messages = warning;
DROP SCHEMA retention CASCADE;
