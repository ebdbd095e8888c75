-- A fork of an input checkpoint, resumed, runs its source's input again,
-- linked to its source or detached from it. Forks made by sg_fork keep that
-- input in their first row (meta input_writes, regress fork_input_kept);
-- a fork row without that copy (made before it was kept: 0.1.0, or imported
-- from such an export; simulated here by removing it) gets it when it is
-- detached (the source deleted or pruned: sg_detach_forks) or exported (so
-- that an import where the source is not keeps it). Every resume below ends
-- as the linked fork's: {"n": 11, "log": ["input", "a"]}.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA fork_input_detached;
SET search_path = fork_input_detached;
CREATE EXTENSION stategraph;
RESET client_min_messages;

CREATE FUNCTION a(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1, "log": ["a"]}'::jsonb $$;
SELECT sg_create_graph('fd', '{"n": "add", "log": "append"}');
SELECT sg_add_node('fd', 'a', 'a(jsonb)');
SELECT sg_add_edge('fd', '__start__', 'a');
SELECT sg_add_edge('fd', 'a', '__end__');
SELECT sg_compile('fd');

-- sources: s-del (deleted), s-prune (pruned), s-exp (the fork exported, both deleted, the fork imported alone)
SELECT sg_invoke('fd', '{"n": 10, "log": ["input"]}', thread_id => t) IS NOT NULL AS invoked
FROM unnest(ARRAY['s-del', 's-prune', 's-exp']) t;
CREATE TABLE inputs AS SELECT thread_id AS src, checkpoint_id AS cp FROM stategraph.checkpoints
WHERE thread_id IN ('s-del', 's-prune', 's-exp') AND step = -1;
-- for each: a linked fork, a fork as sg_fork makes it, one without the copy (old)
SELECT sg_fork(i.src, i.cp, i.src || k) IS NOT NULL AS forked
FROM inputs i, unnest(ARRAY['-linked', '-new', '-old']) k ORDER BY 1;
-- forks of forks: of the new one, and an old one of the old one
SELECT sg_fork('s-del-new', (SELECT checkpoint_id FROM stategraph.checkpoints WHERE thread_id = 's-del-new'), 's-del-new-ff') IS NOT NULL AS forked;
SELECT sg_fork('s-del-old', (SELECT checkpoint_id FROM stategraph.checkpoints WHERE thread_id = 's-del-old'), 's-del-old-ff') IS NOT NULL AS forked;
SELECT thread_id, meta ? 'input_writes' AS kept FROM stategraph.checkpoints
WHERE thread_id LIKE '%-new%' OR thread_id LIKE '%-old%' ORDER BY 1;
UPDATE stategraph.checkpoints SET meta = NULLIF(meta - 'input_writes', '{}') WHERE thread_id LIKE '%-old%';

-- the reference: linked forks
SELECT sg_invoke('fd', NULL, thread_id => 's-del-linked') AS linked;

-- the source deleted
SELECT sg_delete_thread('s-del');
SELECT thread_id, parent_thread, meta FROM stategraph.checkpoints WHERE thread_id LIKE 's-del-%' AND source = 'fork' ORDER BY 1;
SELECT sg_invoke('fd', NULL, thread_id => 's-del-new') AS deleted_new;
SELECT sg_invoke('fd', NULL, thread_id => 's-del-old') AS deleted_old;
SELECT sg_invoke('fd', NULL, thread_id => 's-del-new-ff') AS deleted_new_fork_of_fork;
SELECT sg_invoke('fd', NULL, thread_id => 's-del-old-ff') AS deleted_old_fork_of_fork;

-- the source's input checkpoint pruned
SELECT sg_prune(keep_last => 1, thread_id => 's-prune') AS pruned;
SELECT thread_id, parent_thread IS NULL AS detached, meta FROM stategraph.checkpoints WHERE thread_id LIKE 's-prune-%' AND source = 'fork' ORDER BY 1;
SELECT sg_invoke('fd', NULL, thread_id => 's-prune-linked') AS pruned_linked;
SELECT sg_invoke('fd', NULL, thread_id => 's-prune-new') AS pruned_new;
SELECT sg_invoke('fd', NULL, thread_id => 's-prune-old') AS pruned_old;

-- exported; an old fork re-imported while its source is there keeps its link and stores the copy
SELECT sg_fork('s-exp', (SELECT cp FROM inputs WHERE src = 's-exp'), 's-exp-old-relinked') IS NOT NULL AS forked;
UPDATE stategraph.checkpoints SET meta = NULLIF(meta - 'input_writes', '{}') WHERE thread_id = 's-exp-old-relinked';
SELECT sg_export_thread('s-exp-old-relinked') AS relinked \gset
SELECT :'relinked'::jsonb #> '{checkpoints,0,meta}' AS exported_meta;
SELECT sg_delete_thread('s-exp-old-relinked');
SELECT sg_import_thread(:'relinked');
SELECT parent_thread IS NOT NULL AS linked, meta FROM stategraph.checkpoints WHERE thread_id = 's-exp-old-relinked';
SELECT sg_export_thread('s-exp-old-relinked') = :'relinked'::jsonb AS same_export;
SELECT sg_invoke('fd', NULL, thread_id => 's-exp-linked') AS exported_linked;
SELECT sg_invoke('fd', NULL, thread_id => 's-exp-old-relinked') AS exported_old_relinked;
-- exported, both deleted, the fork imported alone (detached)
SELECT sg_export_thread('s-exp-old') AS old \gset
SELECT sg_export_thread('s-exp-new') AS new \gset
SELECT sg_delete_thread(t) FROM unnest(ARRAY['s-exp-old', 's-exp-new', 's-exp']) t;
SELECT sg_import_thread(:'old');
SELECT sg_import_thread(:'new');
SELECT thread_id, parent_thread IS NULL AS detached, meta FROM stategraph.checkpoints
WHERE thread_id IN ('s-exp-old', 's-exp-new') AND source = 'fork' ORDER BY 1;
SELECT sg_invoke('fd', NULL, thread_id => 's-exp-new') AS imported_new;
SELECT sg_invoke('fd', NULL, thread_id => 's-exp-old') AS imported_old;

-- the metadata does not show the copy
SELECT thread_id, step, source, metadata FROM sg_get_state_history('s-exp-old') ORDER BY step;
SELECT metadata FROM sg_get_state('s-prune-old', (SELECT checkpoint_id FROM stategraph.checkpoints WHERE thread_id = 's-prune-old' AND source = 'fork'));

SET client_min_messages = warning;
DROP SCHEMA fork_input_detached CASCADE;
