-- A graph owner's retention row must not stop the sweep of other owners'
-- threads: a keep_last of 2147483647 (accepted by sg_set_retention) made
-- the sweep's listing of expired threads fail with "integer out of range"
-- (its LIMIT keep_last + 1), and a ttl written straight into
-- stategraph.retention (the owner may: policy retention_owner) too long to
-- subtract from now() with "timestamp out of range". Either failed every
-- sweep of the database, so no expired thread of anyone was removed again.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS stategraph;
DROP ROLE IF EXISTS regress_poison_alice;
DROP ROLE IF EXISTS regress_poison_bob;
RESET client_min_messages;
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
UPDATE stategraph.threads SET updated_at = now() - interval '2 hours' WHERE thread_id LIKE 'poison-%';
CALL sg_work(0);
-- bob's expired threads are gone; alice's keep their checkpoints (fewer than keep_last)
SELECT graph, count(*) AS threads FROM stategraph.threads WHERE thread_id LIKE 'poison-%' GROUP BY graph ORDER BY graph;
SELECT count(*) AS a1_checkpoints FROM stategraph.checkpoints WHERE thread_id = 'poison-a1';
-- straight into the table: a ttl no timestamp can be subtracted from, either way
SET ROLE regress_poison_bob;
SELECT count(sg_invoke('poison_bg', jsonb_build_object('n', i), thread_id => 'poison-b' || i)) FROM generate_series(1, 3) i;
RESET ROLE;
SET ROLE regress_poison_alice;
UPDATE stategraph.retention SET ttl = '100000000 years', strategy = 'delete', keep_last = NULL WHERE graph = 'poison_ag';
RESET ROLE;
UPDATE stategraph.threads SET updated_at = now() - interval '2 hours' WHERE thread_id LIKE 'poison-%';
CALL sg_work(0);
SELECT graph, count(*) AS threads FROM stategraph.threads WHERE thread_id LIKE 'poison-%' GROUP BY graph ORDER BY graph;
SET ROLE regress_poison_bob;
SELECT count(sg_invoke('poison_bg', jsonb_build_object('n', i), thread_id => 'poison-b' || i)) FROM generate_series(1, 3) i;
RESET ROLE;
SET ROLE regress_poison_alice;
UPDATE stategraph.retention SET ttl = '-100000000 years' WHERE graph = 'poison_ag';
RESET ROLE;
UPDATE stategraph.threads SET updated_at = now() - interval '2 hours' WHERE thread_id LIKE 'poison-%';
CALL sg_work(0);
SELECT graph, count(*) AS threads FROM stategraph.threads WHERE thread_id LIKE 'poison-%' GROUP BY graph ORDER BY graph;
-- a ttl sg_set_retention accepts still expires alice's threads
SET ROLE regress_poison_alice;
SELECT sg_set_retention('poison_ag', '1 hour', 'keep_latest', 2147483647);
SELECT sg_set_retention('poison_ag', '1 hour');
RESET ROLE;
CALL sg_work(0);
SELECT graph, count(*) AS threads FROM stategraph.threads WHERE thread_id LIKE 'poison-%' GROUP BY graph ORDER BY graph;
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
