--
-- sg_update_state from another role's checkpoint into an existing thread of
-- one's own: bob, a member of alice, starts his thread from a checkpoint of
-- hers. She cannot see his thread (row-level security), so her
-- sg_delete_thread or sg_prune of hers could not give his fork row the
-- image it reads from her thread: his thread then read its fork and every
-- later checkpoint without her values. His row starts detached instead, as
-- does the fork row of an import of his linked to her thread.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_rl_alice;
DROP ROLE IF EXISTS regress_rl_bob;
CREATE SCHEMA revlife_fork_owner;
GRANT USAGE ON SCHEMA revlife_fork_owner TO PUBLIC;
SET search_path = revlife_fork_owner;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY terse

CREATE ROLE regress_rl_alice;
CREATE ROLE regress_rl_bob;
GRANT regress_rl_alice TO regress_rl_bob;

CREATE FUNCTION n1(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"log": ["n1"]}'::jsonb $$;
CREATE FUNCTION n2(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"log": ["n2"]}'::jsonb $$;
SELECT sg_create_graph('fo', '{"log": "append", "q": "replace"}');
SELECT sg_add_node('fo', 'n1', 'n1(jsonb)');
SELECT sg_add_node('fo', 'n2', 'n2(jsonb)');
SELECT sg_add_edge('fo', '__start__', 'n1');
SELECT sg_add_edge('fo', 'n1', 'n2');
SELECT sg_add_edge('fo', 'n2', '__end__');
SELECT sg_compile('fo', interrupt_before => ARRAY['n2']);

SET ROLE regress_rl_alice;
SELECT sg_invoke('fo', '{"q": "alice"}', 'rl-alice');
SELECT checkpoint_id AS at FROM sg_get_state('rl-alice') \gset
SET ROLE regress_rl_bob;
SELECT sg_invoke('fo', '{"q": "bob"}', 'rl-bob');
SELECT sg_update_state('rl-bob', '{"q": "bob on alice"}', checkpoint_id => :'at') IS NOT NULL AS updated;
SELECT step, source, next, "values", parent_checkpoint_id = :'at' AS parent_is_hers FROM sg_get_state_history('rl-bob');
CREATE TEMP TABLE bob_before AS SELECT h.checkpoint_id, to_jsonb(h) AS snap FROM sg_get_state_history('rl-bob') h;
-- sg_fork into a new thread: it belongs to alice, who sees it
SELECT sg_fork('rl-alice', :'at', 'rl-fork') IS NOT NULL AS forked;
SELECT thread_id, owner FROM stategraph.threads ORDER BY thread_id;

-- an export of her fork that names an owner bob may not own (as an older
-- export could): bob's import is his, so it is not linked to her thread either
RESET ROLE;
SELECT jsonb_set(sg_export_thread('rl-fork'), '{thread,owner}', '"regress_rl_nobody"') AS e \gset
SELECT jsonb_set(:'e', '{digest}', to_jsonb(md5(COALESCE((:'e'::jsonb)->'thread', 'null')::text
       || COALESCE((:'e'::jsonb)->'checkpoints', 'null')::text || COALESCE((:'e'::jsonb)->'fork_writes', 'null')::text))) AS e \gset
SET ROLE regress_rl_bob;
SELECT sg_import_thread(:'e', 'rl-bob-copy');
SELECT thread_id, owner FROM stategraph.threads WHERE thread_id = 'rl-bob-copy';
SELECT parent_thread, writes FROM stategraph.checkpoints WHERE thread_id = 'rl-bob-copy' AND source = 'fork';
INSERT INTO bob_before SELECT h.checkpoint_id, to_jsonb(h) FROM sg_get_state_history('rl-bob-copy') h;

-- alice goes on, prunes and deletes her thread
SET ROLE regress_rl_alice;
SELECT sg_invoke('fo', NULL, 'rl-alice');
SELECT sg_prune(keep_last => 1, thread_id => 'rl-alice') AS pruned;
SELECT sg_delete_thread('rl-alice');

-- bob's thread reads as it did
SET ROLE regress_rl_bob;
SELECT count(*) AS checkpoints, count(*) FILTER (WHERE to_jsonb(h) = b.snap) AS read_alike
FROM bob_before b JOIN sg_get_state_history('rl-bob') h USING (checkpoint_id);
SELECT count(*) AS checkpoints, count(*) FILTER (WHERE to_jsonb(h) = b.snap) AS read_alike
FROM bob_before b JOIN sg_get_state_history('rl-bob-copy') h USING (checkpoint_id);
SELECT "values", next FROM sg_get_state('rl-bob');
SELECT sg_update_state('rl-bob', '{"q": "again"}') IS NOT NULL AS updated;   -- as n1, which ran last
SELECT next FROM sg_get_state('rl-bob');
SELECT sg_update_state('rl-bob-copy', '{"q": "copy"}') IS NOT NULL AS updated;   -- as n1 too
SELECT next FROM sg_get_state('rl-bob-copy');
SELECT "values", next FROM sg_get_state('rl-fork');
RESET ROLE;

SET client_min_messages = warning;
DROP SCHEMA revlife_fork_owner CASCADE;
DROP OWNED BY regress_rl_alice, regress_rl_bob;
DROP ROLE regress_rl_alice;
DROP ROLE regress_rl_bob;
