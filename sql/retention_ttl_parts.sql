-- A ttl is subtracted from now() a part at a time (months, then days, then
-- time): '7000 years -1095000 days' is some 3,900 years in all, within the
-- 5,000 years sg_set_retention and the sweep allowed, but now() minus 7000
-- years is before 4713 BC. sg_set_retention took it, and then every sweep
-- of the database failed with "timestamp out of range": no one's expired
-- threads were removed again. Through the function it is refused; written
-- straight into stategraph.retention (the owner may), it expires nothing
-- and stops nothing.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS stategraph;
DROP ROLE IF EXISTS regress_ttlparts_alice;
DROP ROLE IF EXISTS regress_ttlparts_bob;
RESET client_min_messages;
\set VERBOSITY terse
CREATE ROLE regress_ttlparts_alice;
CREATE ROLE regress_ttlparts_bob;
CREATE FUNCTION ttlparts_node(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
GRANT EXECUTE ON FUNCTION ttlparts_node(jsonb) TO PUBLIC;
SET ROLE regress_ttlparts_bob;
SELECT sg_create_graph('ttlparts_bg', '{"n": "replace"}');
SELECT sg_add_node('ttlparts_bg', 'a', 'ttlparts_node(jsonb)');
SELECT sg_add_edge('ttlparts_bg', '__start__', 'a');
SELECT sg_add_edge('ttlparts_bg', 'a', '__end__');
SELECT sg_compile('ttlparts_bg');
SELECT count(sg_invoke('ttlparts_bg', jsonb_build_object('n', i), thread_id => 'ttlparts-b' || i)) FROM generate_series(1, 3) i;
SELECT sg_set_retention('ttlparts_bg', '1 hour');
RESET ROLE;
SET ROLE regress_ttlparts_alice;
SELECT sg_create_graph('ttlparts_ag', '{"n": "replace"}');
SELECT sg_add_node('ttlparts_ag', 'a', 'ttlparts_node(jsonb)');
SELECT sg_add_edge('ttlparts_ag', '__start__', 'a');
SELECT sg_add_edge('ttlparts_ag', 'a', '__end__');
SELECT sg_compile('ttlparts_ag');
SELECT count(sg_invoke('ttlparts_ag', jsonb_build_object('n', i), thread_id => 'ttlparts-a' || i)) FROM generate_series(1, 2) i;
-- in range in total, not a part at a time: refused (before: accepted)
SELECT '7000 years -1095000 days'::interval BETWEEN '-5000 years' AND '5000 years' AS total_in_range;
SELECT sg_set_retention('ttlparts_ag', '7000 years -1095000 days');
-- an ordinary ttl is still taken
SELECT sg_set_retention('ttlparts_ag', '1 day');
-- straight into the table
UPDATE stategraph.retention SET ttl = '7000 years -1095000 days' WHERE graph = 'ttlparts_ag';
RESET ROLE;
UPDATE stategraph.threads SET updated_at = now() - interval '2 hours' WHERE thread_id LIKE 'ttlparts-%';
CALL sg_work(0);
-- bob's expired threads are gone (before: all five stayed); alice's do not expire
SELECT graph, count(*) AS threads FROM stategraph.threads WHERE thread_id LIKE 'ttlparts-%' GROUP BY graph ORDER BY graph;
-- the default retention, which also expires LangGraph.js threads, written
-- straight into the table by whoever may: nothing expires by it, and the
-- graphs' own ttls still apply (before: the LangGraph.js threads' sweep
-- failed with "timestamp out of range", every sweep, bob's threads stayed)
SET ROLE regress_ttlparts_bob;
SELECT count(sg_invoke('ttlparts_bg', jsonb_build_object('n', i), thread_id => 'ttlparts-b' || i)) FROM generate_series(1, 3) i;
RESET ROLE;
SELECT sg_lg_put('ttlparts-lg', '', NULL,
                 '{"v": 4, "id": "1ef4f797-8335-6428-8001-8a1503f9b875", "ts": "2024-01-01T00:00:00Z",
                   "channel_values": {"x": [1, 2]}, "channel_versions": {"x": 1}, "versions_seen": {}}',
                 '{"step": 0}', '{"x": 1}') IS NOT NULL AS put;
SELECT sg_set_retention(NULL, '1 day');
UPDATE stategraph.retention SET ttl = '100000000 years' WHERE graph IS NULL;
UPDATE stategraph.threads SET updated_at = now() - interval '2 hours' WHERE thread_id LIKE 'ttlparts-%';
UPDATE stategraph.lg_checkpoints SET created_at = now() - interval '2 days' WHERE thread_id = 'ttlparts-lg';
CALL sg_work(0);
SELECT graph, count(*) AS threads FROM stategraph.threads WHERE thread_id LIKE 'ttlparts-%' GROUP BY graph ORDER BY graph;
SELECT count(*) AS lg_checkpoints FROM stategraph.lg_checkpoints WHERE thread_id = 'ttlparts-lg';
SELECT sg_set_retention(NULL, NULL);
SELECT sg_delete_thread('ttlparts-lg');
-- clean up
SET ROLE regress_ttlparts_alice;
SELECT sg_drop_graph('ttlparts_ag');
RESET ROLE;
SET ROLE regress_ttlparts_bob;
SELECT sg_drop_graph('ttlparts_bg');
RESET ROLE;
DELETE FROM stategraph.threads WHERE thread_id LIKE 'ttlparts-%';
DROP FUNCTION ttlparts_node(jsonb);
DROP ROLE regress_ttlparts_alice;
DROP ROLE regress_ttlparts_bob;
SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
