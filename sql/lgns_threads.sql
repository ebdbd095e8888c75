--
-- sg_threads of a LangGraph.js thread with subgraph namespaces: its dates
-- are taken over every namespace, as the retention sweep ages the thread.
-- They were the root namespace's alone: a thread whose subgraph went on
-- writing looked older than it is. Its checkpoints count the root
-- namespace's (those sg_get_state_history lists; 0 for a thread with
-- subgraph checkpoints only). sg_lg_list refuses a namespace no put can
-- store (22023, as sg_lg_get_tuple), not an empty list.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA lgns_threads;
SET search_path = lgns_threads;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY default

CREATE FUNCTION pg_temp.put(thread text, ns text, id text) RETURNS uuid LANGUAGE sql AS $$
    SELECT sg_lg_put(thread, ns, NULL,
        pg_catalog.format('{"v": 4, "id": "%s", "channel_versions": {"m": 1}, "versions_seen": {}}', id)::jsonb,
        '{"source": "input", "step": -1}', '{"m": 1}', channel_values => '{"m": [1]}') $$;
-- the root first, then its subgraphs (each statement its own transaction: later dates)
SELECT pg_temp.put('lgnt', '', '1ef00000-0000-6000-8000-000000000001') IS NOT NULL AS root;
SELECT pg_sleep(0.01);
SELECT pg_temp.put('lgnt', 'sub:1', '1ef00000-0000-6000-8000-000000000002') IS NOT NULL AS sub;
SELECT pg_sleep(0.01);
SELECT pg_temp.put('lgnt', 'sub:1|inner:2', '1ef00000-0000-6000-8000-000000000003') IS NOT NULL AS inner;
-- a thread with subgraph checkpoints only
SELECT pg_temp.put('lgnt-sub', 'sub:1', '1ef00000-0000-6000-8000-000000000004') IS NOT NULL AS sub_only;
SELECT pg_temp.put('lgnt-sub', 'sub:2', '1ef00000-0000-6000-8000-000000000005') IS NOT NULL AS sub_only_2;

SELECT t.thread_id, t.status, t.checkpoints,
       t.created_at = (SELECT min(created_at) FROM stategraph.lg_checkpoints c WHERE c.thread_id = t.thread_id) AS created_is_oldest,
       t.updated_at = (SELECT max(created_at) FROM stategraph.lg_checkpoints c WHERE c.thread_id = t.thread_id) AS updated_is_newest,
       t.updated_at > t.created_at AS updated_later
  FROM sg_threads() t WHERE t.thread_id LIKE 'lgnt%' ORDER BY 1;
-- the count is the root history's; the export has every namespace
SELECT count(*) AS root_history FROM sg_get_state_history('lgnt');
SELECT pg_catalog.jsonb_array_length(sg_export_thread('lgnt')->'checkpoints') AS exported;

-- a namespace over 512 bytes: refused by list as by get_tuple
SELECT count(*) FROM sg_lg_list('lgnt', repeat('n', 513));
SELECT sg_lg_get_tuple('lgnt', repeat('n', 513));
-- one of 512 bytes is a namespace like another (nothing stored there)
SELECT count(*) AS at_512 FROM sg_lg_list('lgnt', repeat('n', 512));
-- no namespace: every namespace of the thread
SELECT count(*) AS every_ns FROM sg_lg_list('lgnt', NULL);

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA lgns_threads;
