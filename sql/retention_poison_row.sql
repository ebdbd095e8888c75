-- A graph owner's retention row must not stop the sweep of other owners'
-- threads: a keep_last of 2147483647 (accepted by sg_set_retention) made
-- the sweep's listing of expired threads fail with "integer out of range"
-- (its LIMIT keep_last + 1), and a ttl written straight into
-- stategraph.retention (the owner may: policy retention_owner) too long to
-- subtract from now() with "timestamp out of range". Either failed every
-- sweep of the database, so no expired thread of anyone was removed again.
-- So did a ttl in range in total but not a part at a time: it is
-- subtracted from now() months, then days, then time, and '7000 years
-- -1095000 days' (some 3,900 years, within the 5,000 years
-- sg_set_retention and the sweep allowed) has now() minus 7000 years
-- before 4713 BC. sg_set_retention took it. Through the function it is now
-- refused; written straight into stategraph.retention, it expires nothing
-- and stops nothing (this was pg_regress retention_ttl_parts).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS stategraph;
DROP ROLE IF EXISTS regress_poison_alice;
DROP ROLE IF EXISTS regress_poison_bob;
RESET client_min_messages;
-- the steps repeated below: bob's three threads (again), every thread aged
-- past bob's ttl and a sweep, the threads left of each graph
\set bob_threads 'SET ROLE regress_poison_bob; SELECT count(sg_invoke(''poison_bg'', jsonb_build_object(''n'', i), thread_id => ''poison-b'' || i)) FROM generate_series(1, 3) i; RESET ROLE;'
\set sweep 'UPDATE stategraph.threads SET updated_at = now() - interval ''2 hours'' WHERE thread_id LIKE ''poison-%''; CALL sg_work(0);'
\set threads 'SELECT graph, count(*) AS threads FROM stategraph.threads WHERE thread_id LIKE ''poison-%'' GROUP BY graph ORDER BY graph;'
CREATE ROLE regress_poison_alice;
CREATE ROLE regress_poison_bob;
CREATE FUNCTION poison_node(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
GRANT EXECUTE ON FUNCTION poison_node(jsonb) TO PUBLIC;
SET ROLE regress_poison_bob;
SELECT sg_create_graph('poison_bg', '{"n": "replace"}');
SELECT sg_add_node('poison_bg', 'a', 'poison_node(jsonb)');
SELECT sg_add_edge('poison_bg', '__start__', 'a');
SELECT sg_add_edge('poison_bg', 'a', '__end__');
SELECT sg_compile('poison_bg');
SELECT count(sg_invoke('poison_bg', jsonb_build_object('n', i), thread_id => 'poison-b' || i)) FROM generate_series(1, 3) i;
SELECT sg_set_retention('poison_bg', '1 hour');
RESET ROLE;
SET ROLE regress_poison_alice;
SELECT sg_create_graph('poison_ag', '{"n": "replace"}');
SELECT sg_add_node('poison_ag', 'a', 'poison_node(jsonb)');
SELECT sg_add_edge('poison_ag', '__start__', 'a');
SELECT sg_add_edge('poison_ag', 'a', '__end__');
SELECT sg_compile('poison_ag');
SELECT count(sg_invoke('poison_ag', jsonb_build_object('n', i), thread_id => 'poison-a' || i)) FROM generate_series(1, 3) i;
SELECT count(sg_invoke('poison_ag', jsonb_build_object('n', 10 + i), thread_id => 'poison-a1')) FROM generate_series(1, 2) i;
-- through the function: keep_last 2147483647
SELECT sg_set_retention('poison_ag', '1 hour', 'keep_latest', 2147483647);
RESET ROLE;
:sweep
-- bob's expired threads are gone; alice's keep their checkpoints (fewer than keep_last)
:threads
SELECT count(*) AS a1_checkpoints FROM stategraph.checkpoints WHERE thread_id = 'poison-a1';
-- straight into the table: a ttl no timestamp can be subtracted from, either way
:bob_threads
SET ROLE regress_poison_alice;
UPDATE stategraph.retention SET ttl = '100000000 years', strategy = 'delete', keep_last = NULL WHERE graph = 'poison_ag';
RESET ROLE;
:sweep
:threads
:bob_threads
SET ROLE regress_poison_alice;
UPDATE stategraph.retention SET ttl = '-100000000 years' WHERE graph = 'poison_ag';
RESET ROLE;
:sweep
:threads
-- in range in total, not a part at a time: refused (before: accepted)
:bob_threads
SET ROLE regress_poison_alice;
SELECT '7000 years -1095000 days'::interval BETWEEN '-5000 years' AND '5000 years' AS total_in_range;
\set VERBOSITY terse
SELECT sg_set_retention('poison_ag', '7000 years -1095000 days');
\set VERBOSITY default
-- an ordinary ttl is still taken
SELECT sg_set_retention('poison_ag', '1 day');
-- straight into the table
UPDATE stategraph.retention SET ttl = '7000 years -1095000 days' WHERE graph = 'poison_ag';
RESET ROLE;
:sweep
-- bob's expired threads are gone (before: none went); alice's do not expire
:threads
-- the default retention, which also expires LangGraph.js threads, written
-- straight into the table by whoever may: nothing expires by it, and the
-- graphs' own ttls still apply (before: the LangGraph.js threads' sweep
-- failed with "timestamp out of range", every sweep, bob's threads stayed)
:bob_threads
SELECT sg_lg_put('poison-lg', '', NULL,
                 '{"v": 4, "id": "1ef4f797-8335-6428-8001-8a1503f9b875", "ts": "2024-01-01T00:00:00Z",
                   "channel_values": {"x": [1, 2]}, "channel_versions": {"x": 1}, "versions_seen": {}}',
                 '{"step": 0}', '{"x": 1}') IS NOT NULL AS put;
SELECT sg_set_retention(NULL, '1 day');
UPDATE stategraph.retention SET ttl = '100000000 years' WHERE graph IS NULL;
UPDATE stategraph.lg_checkpoints SET created_at = now() - interval '2 days' WHERE thread_id = 'poison-lg';
:sweep
:threads
SELECT count(*) AS lg_checkpoints FROM stategraph.lg_checkpoints WHERE thread_id = 'poison-lg';
SELECT sg_set_retention(NULL, NULL);
SELECT sg_delete_thread('poison-lg');
-- a ttl sg_set_retention accepts still expires alice's threads
SET ROLE regress_poison_alice;
SELECT sg_set_retention('poison_ag', '1 hour', 'keep_latest', 2147483647);
SELECT sg_set_retention('poison_ag', '1 hour');
RESET ROLE;
CALL sg_work(0);
:threads
-- clean up
SET ROLE regress_poison_alice;
SELECT sg_drop_graph('poison_ag');
RESET ROLE;
SET ROLE regress_poison_bob;
SELECT sg_drop_graph('poison_bg');
RESET ROLE;
DELETE FROM stategraph.threads WHERE thread_id LIKE 'poison-%';
DROP FUNCTION poison_node(jsonb);
DROP ROLE regress_poison_alice;
DROP ROLE regress_poison_bob;
SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
