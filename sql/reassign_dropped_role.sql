--
-- README (Security, Dump and restore): the rows of a role that no longer
-- exists (dropped, or missing after a restore into another cluster) are
-- visible to superusers only, who give them all to a role of the cluster
-- with sg_reassign_owned('<missing role>', '<role>'): graphs, threads of
-- both kinds, runs and tasks, in one call. The new owner then reads and
-- runs them as its own.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP SCHEMA IF EXISTS reassign_dropped_role CASCADE;
DROP ROLE IF EXISTS regress_rdr_gone;
DROP ROLE IF EXISTS regress_rdr_heir;
CREATE SCHEMA reassign_dropped_role;
GRANT USAGE ON SCHEMA reassign_dropped_role TO PUBLIC;
SET search_path = reassign_dropped_role;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY terse

CREATE FUNCTION rdr_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
CREATE ROLE regress_rdr_gone;
CREATE ROLE regress_rdr_heir;
SET ROLE regress_rdr_gone;
SELECT sg_create_graph('rdr_graph', '{"n": "add"}');
SELECT sg_add_node('rdr_graph', 'step', 'rdr_step(jsonb)');
SELECT sg_add_edge('rdr_graph', '__start__', 'step');
SELECT sg_add_edge('rdr_graph', 'step', '__end__');
SELECT sg_compile('rdr_graph');
SELECT sg_create_graph('rdr_ext', '{"n": "add"}');
SELECT sg_add_external_node('rdr_ext', 'ask', queue => 'rdr_q');
SELECT sg_add_edge('rdr_ext', '__start__', 'ask');
SELECT sg_add_edge('rdr_ext', 'ask', '__end__');
SELECT sg_compile('rdr_ext');
SELECT sg_invoke('rdr_graph', '{"n": 1}', 'rdr-1');
SELECT sg_invoke('rdr_ext', '{"n": 1}', 'rdr-ext') ? '__waiting__' AS waiting;
-- a run that waits an hour: still pending when its role is dropped
SELECT sg_submit('rdr_graph', '{"n": 5}', 'rdr-1', after => '1 hour') AS run_id \gset
SELECT sg_lg_put('rdr-lg', '', NULL,
                 '{"v": 4, "id": "1ef4f797-8335-6428-8001-8a1503f9b8e1", "ts": "2024-01-01T00:00:00Z",
                   "channel_values": {"x": [1, 2]}, "channel_versions": {"x": 1}, "versions_seen": {}}',
                 '{"source": "input", "step": -1}', '{"x": 1}') IS NOT NULL AS lg_put;
RESET ROLE;

DROP ROLE regress_rdr_gone;
-- the rows stay under the name of a role that is gone
SELECT 'graphs' AS rows, count(*) FROM stategraph.graphs WHERE owner = 'regress_rdr_gone'
UNION ALL SELECT 'threads', count(*) FROM stategraph.threads WHERE owner = 'regress_rdr_gone'
UNION ALL SELECT 'runs', count(*) FROM stategraph.runs WHERE owner = 'regress_rdr_gone'
UNION ALL SELECT 'tasks', count(*) FROM stategraph.tasks WHERE owner = 'regress_rdr_gone'
UNION ALL SELECT 'lg threads', count(DISTINCT thread_id) FROM stategraph.lg_checkpoints WHERE owner = 'regress_rdr_gone';
SET ROLE regress_rdr_heir;
SELECT count(*) AS heir_sees_before FROM sg_threads();
RESET ROLE;

-- one call gives them all to a role of the cluster
SELECT sg_reassign_owned('regress_rdr_gone', 'regress_rdr_heir') > 0 AS moved;
SELECT 'graphs' AS rows, count(*) FROM stategraph.graphs WHERE owner = 'regress_rdr_gone'
UNION ALL SELECT 'threads', count(*) FROM stategraph.threads WHERE owner = 'regress_rdr_gone'
UNION ALL SELECT 'runs', count(*) FROM stategraph.runs WHERE owner = 'regress_rdr_gone'
UNION ALL SELECT 'tasks', count(*) FROM stategraph.tasks WHERE owner = 'regress_rdr_gone'
UNION ALL SELECT 'lg threads', count(DISTINCT thread_id) FROM stategraph.lg_checkpoints WHERE owner = 'regress_rdr_gone';

-- the heir reads, runs and changes them as its own
SET ROLE regress_rdr_heir;
SELECT thread_id, graph, status FROM sg_threads() ORDER BY thread_id;
SELECT "values" FROM sg_get_state('rdr-1');
SELECT sg_invoke('rdr_graph', '{"n": 1}', 'rdr-1') AS rerun;
SELECT status FROM sg_runs('rdr-1');
SELECT sg_cancel(:'run_id') AS cancelled;
SELECT sg_lg_get_tuple('rdr-lg')::jsonb -> 'channel_values' AS lg_values;
SELECT node, status FROM sg_tasks('rdr_q');
SELECT task_id, token FROM sg_claim('rdr_q', 'heir-worker') \gset
SELECT sg_complete(:'task_id', :'token', '{"n": 2}');
SELECT "values" FROM sg_get_state('rdr-ext');
SELECT sg_add_node('rdr_graph', 'step2', 'rdr_step(jsonb)');
RESET ROLE;

SET client_min_messages = warning;
DROP SCHEMA reassign_dropped_role CASCADE;
DROP OWNED BY regress_rdr_heir;
DROP ROLE regress_rdr_heir;
