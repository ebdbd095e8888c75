--
-- sg_get_state of a LangGraph.js thread reads its root namespace only. Given
-- the id of one of its subgraph checkpoints (one sg_lg_list shows, the
-- config of getState with subgraphs: true), it said the checkpoint "does
-- not exist"; now it says which subgraph namespace holds it (still 42704)
-- and how to read it. An id the thread does not have still does not exist.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA lgns_get_state_sub;
SET search_path = lgns_get_state_sub;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY default

CREATE FUNCTION pg_temp.put(ns text, id text) RETURNS uuid LANGUAGE sql AS $$
    SELECT sg_lg_put('lgns', ns, NULL,
        pg_catalog.format('{"v": 4, "id": "%s", "channel_versions": {"m": 1}, "versions_seen": {}}', id)::jsonb,
        '{"source": "input", "step": -1}', '{"m": 1}', channel_values => '{"m": [1]}') $$;
SELECT pg_temp.put('', '1ef00000-0000-6000-8000-000000000001') IS NOT NULL AS root;
SELECT pg_temp.put('sub:1', '1ef00000-0000-6000-8000-000000000002') IS NOT NULL AS sub;
SELECT pg_temp.put('sub:1|inner:2', '1ef00000-0000-6000-8000-000000000003') IS NOT NULL AS inner;

-- the root checkpoint by its id, and the newest
SELECT checkpoint_ns, checkpoint_id, "values" FROM sg_get_state('lgns', '1ef00000-0000-6000-8000-000000000001');
SELECT checkpoint_ns, checkpoint_id FROM sg_get_state('lgns');
-- a subgraph's checkpoints: in their namespace, as sg_lg_get_tuple reads them
SELECT * FROM sg_get_state('lgns', '1ef00000-0000-6000-8000-000000000002');
SELECT * FROM sg_get_state('lgns', '1ef00000-0000-6000-8000-000000000003');
SELECT sg_lg_get_tuple('lgns', 'sub:1|inner:2', '1ef00000-0000-6000-8000-000000000003')::jsonb ->> 'checkpoint_id' AS read_there;
-- an id the thread has in no namespace
SELECT * FROM sg_get_state('lgns', '1ef00000-0000-6000-8000-000000000009');

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA lgns_get_state_sub CASCADE;
