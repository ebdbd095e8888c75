--
-- sg_delete_thread with the new library on a schema still 0.1.0's (before
-- ALTER EXTENSION stategraph UPDATE): it has no runs, submit locks or
-- owners, which the delete's cancel of the thread's unstarted runs read;
-- it failed with "column t.owner does not exist". It removes the thread,
-- its forks keep their state, and sg_prune goes on working.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA revmerge_schema_010;
SET search_path = revmerge_schema_010;
CREATE EXTENSION stategraph VERSION '0.1.0';
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION count_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('n', COALESCE((state->>'n')::int, 0) + 1) $$;
CREATE FUNCTION count_route(state jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN (state->>'n')::int >= 5 THEN '__end__' ELSE 'step' END $$;
SELECT sg_create_graph('counter', '{"n": "replace"}');
SELECT sg_add_node('counter', 'step', 'count_step(jsonb)');
SELECT sg_add_edge('counter', '__start__', 'step');
SELECT sg_add_conditional_edges('counter', 'step', 'count_route(jsonb)', '["step", "__end__"]');
SELECT sg_compile('counter');
SELECT extversion FROM pg_extension WHERE extname = 'stategraph';

SELECT sg_invoke('counter', '{"n": 0}', thread_id => 'src')->>'n' AS n;
SELECT sg_invoke('counter', '{"n": 0}', thread_id => 'other')->>'n' AS n;
SELECT checkpoint_id AS at3 FROM sg_get_state_history('src', filter => '{"step": 3}') \gset
SELECT sg_fork('src', :'at3', 'fork') IS NOT NULL AS forked;
SELECT "values" AS fork_values FROM sg_get_state('fork') \gset

SELECT sg_prune(keep_last => 2, thread_id => 'other') AS pruned;
SELECT sg_delete_thread('src');
SELECT thread_id FROM sg_threads() ORDER BY thread_id;
SELECT count(*) AS rows_of_src FROM stategraph.checkpoints WHERE thread_id = 'src';
SELECT "values" = :'fork_values' AS fork_reads_alike FROM sg_get_state('fork');
SELECT sg_delete_thread('nope');

-- updated, the delete goes on working
SET client_min_messages = warning;
ALTER EXTENSION stategraph UPDATE;
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'stategraph';
SELECT sg_delete_thread('other');
SELECT thread_id FROM sg_threads() ORDER BY thread_id;

SET client_min_messages = warning;
DROP SCHEMA revmerge_schema_010 CASCADE;
DROP EXTENSION IF EXISTS stategraph CASCADE;
