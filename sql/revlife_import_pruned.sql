--
-- An export of a fork, imported after the checkpoint it starts from was
-- pruned from its source: the imported fork is detached as the fork itself
-- was by the prune (its writes name the node that ran last), not linked to
-- a checkpoint that no longer exists, so it behaves as the fork does.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA revlife_import_pruned;
SET search_path = revlife_import_pruned;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION n1(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"log": ["n1"]}'::jsonb $$;
CREATE FUNCTION n2(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"log": ["n2"]}'::jsonb $$;
SELECT sg_create_graph('ie', '{"log": "append", "q": "replace"}');
SELECT sg_add_node('ie', 'n1', 'n1(jsonb)');
SELECT sg_add_node('ie', 'n2', 'n2(jsonb)');
SELECT sg_add_edge('ie', '__start__', 'n1');
SELECT sg_add_edge('ie', 'n1', 'n2');
SELECT sg_add_edge('ie', 'n2', '__end__');
SELECT sg_compile('ie', interrupt_before => ARRAY['n2']);

-- src stops before n2; fork is forked there and exported
SELECT sg_invoke('ie', '{"q": "a"}', 'src');
SELECT checkpoint_id AS at FROM sg_get_state('src') \gset
SELECT sg_fork('src', :'at', 'fork') IS NOT NULL AS forked;
SELECT sg_export_thread('fork') AS export \gset
-- imported while that checkpoint exists, the copy stays linked to it
SELECT sg_import_thread(:'export', 'copy-linked');
-- src goes on, and the checkpoint fork starts from is pruned
SELECT sg_invoke('ie', NULL, 'src');
SELECT sg_prune(keep_last => 1, thread_id => 'src') AS pruned;
SELECT sg_import_thread(:'export', 'copy-after-prune');
SELECT thread_id, parent_thread, writes FROM stategraph.checkpoints
WHERE thread_id IN ('fork', 'copy-linked', 'copy-after-prune') ORDER BY thread_id;
SELECT thread_id, forked_from FROM stategraph.threads
WHERE thread_id IN ('fork', 'copy-linked', 'copy-after-prune') ORDER BY thread_id;

-- all read the same, and an update without as_node comes from n1, which ran last
SELECT t, (SELECT to_jsonb(s) - 'thread_id' FROM sg_get_state(t) s) = (SELECT to_jsonb(s) - 'thread_id' FROM sg_get_state('fork') s)
       AS reads_as_fork
FROM unnest(ARRAY['copy-linked', 'copy-after-prune']) t;
SELECT t, sg_update_state(t, '{"q": "x"}') IS NOT NULL AS updated, (sg_get_state(t)).next
FROM unnest(ARRAY['fork', 'copy-linked', 'copy-after-prune']) t;

SET client_min_messages = warning;
DROP SCHEMA revlife_import_pruned CASCADE;
