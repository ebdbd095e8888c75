-- A fork of an input checkpoint, resumed, runs its source's input again
-- (time travel to before the first step, into another thread). The input
-- was read in the source thread only: a fork detached from its source (the
-- source deleted, or the fork imported where the source is not, as the
-- router's move_partition does) resumed without it. The fork row keeps the
-- input now (its meta's input_writes, not shown in its metadata).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA fork_input_kept;
SET search_path = fork_input_kept;
CREATE EXTENSION stategraph;
RESET client_min_messages;

CREATE FUNCTION a(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1, "log": ["a"]}'::jsonb $$;
SELECT sg_create_graph('fi', '{"n": "add", "log": "append"}');
SELECT sg_add_node('fi', 'a', 'a(jsonb)');
SELECT sg_add_edge('fi', '__start__', 'a');
SELECT sg_add_edge('fi', 'a', '__end__');
SELECT sg_compile('fi');
SELECT sg_invoke('fi', '{"n": 10, "log": ["input"]}', thread_id => 'fi-src');
SELECT checkpoint_id AS input_cp FROM sg_get_state_history('fi-src') WHERE step = -1 \gset
SELECT sg_fork('fi-src', :'input_cp', t) IS NOT NULL AS forked
FROM unnest(ARRAY['fi-linked', 'fi-deleted', 'fi-moved']) t;
SELECT checkpoint_id AS fork_cp FROM sg_get_state_history('fi-deleted') \gset
SELECT sg_fork('fi-deleted', :'fork_cp', 'fi-fork-of-fork') IS NOT NULL AS forked;
-- the metadata of the fork rows does not show what they keep
SELECT thread_id, step, source, metadata FROM sg_get_state_history('fi-linked');

-- linked: the input is read in the source
SELECT sg_invoke('fi', NULL, thread_id => 'fi-linked') AS linked;
-- exported, then the source deleted (its forks detached), the export imported alone
SELECT sg_export_thread('fi-moved') AS moved \gset
SELECT sg_delete_thread('fi-moved');
SELECT sg_delete_thread('fi-src');
SELECT sg_import_thread(:'moved');
SELECT parent_thread IS NULL AS detached FROM stategraph.checkpoints WHERE thread_id = 'fi-moved';
SELECT sg_invoke('fi', NULL, thread_id => 'fi-moved') AS moved;
SELECT sg_invoke('fi', NULL, thread_id => 'fi-deleted') AS deleted;
SELECT sg_invoke('fi', NULL, thread_id => 'fi-fork-of-fork') AS fork_of_fork;
SELECT thread_id, step, source, next, "values" FROM sg_get_state_history('fi-deleted');

SET client_min_messages = warning;
DROP SCHEMA fork_input_kept CASCADE;
