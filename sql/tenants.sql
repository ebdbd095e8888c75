--
-- Tenants: two ordinary roles with only what README.md says a user needs
-- (nothing: the extension grants it), attacking each other through the
-- 0.2.0 surface: objects planted in a schema on the other's search_path,
-- background runs queued under the other's thread ids, settings left
-- behind for the other's future graphs, imports over the other's threads.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_tn_alice;
DROP ROLE IF EXISTS regress_tn_bob;
CREATE SCHEMA tenants;
-- a schema both tenants may create in and have on their search_path (as
-- public is in databases created before PostgreSQL 15)
GRANT USAGE, CREATE ON SCHEMA tenants TO PUBLIC;
SET search_path = tenants;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY terse

CREATE ROLE regress_tn_alice;
CREATE ROLE regress_tn_bob;
CREATE TABLE loot (who text, what text);
GRANT INSERT, SELECT ON loot TO PUBLIC;

SET ROLE regress_tn_alice;
CREATE FUNCTION tn_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('tn_graph', '{"n": "add"}');
SELECT sg_add_node('tn_graph', 'step', 'tn_step(jsonb)');
SELECT sg_add_edge('tn_graph', '__start__', 'step');
SELECT sg_add_edge('tn_graph', 'step', '__end__');
SELECT sg_compile('tn_graph');
SELECT sg_invoke('tn_graph', '{"n": 1}', 'tn-alice-1');
RESET ROLE;

-- 1. Operators planted on alice's search_path. pg_catalog has no
-- jsonb -> jsonb, so for "x -> 'key'" (an unknown literal) the parser takes
-- an exact (jsonb, jsonb) match from any schema on the path: every operator
-- of the extension's SQL is OPERATOR(pg_catalog.x), so none of bob's runs.
SET ROLE regress_tn_bob;
CREATE FUNCTION tn_arrow(a jsonb, b jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tenants.loot VALUES (current_user, '->');
    RETURN a OPERATOR(pg_catalog.->) (b OPERATOR(pg_catalog.#>>) '{}');
END $$;
CREATE FUNCTION tn_arrow_text(a jsonb, b jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tenants.loot VALUES (current_user, '->>');
    RETURN a OPERATOR(pg_catalog.->>) (b OPERATOR(pg_catalog.#>>) '{}');
END $$;
CREATE OPERATOR tenants.-> (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = tn_arrow);
CREATE OPERATOR tenants.->> (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = tn_arrow_text);
RESET ROLE;
SET ROLE regress_tn_alice;
-- a stategraph thread and a LangGraph.js thread, exported and imported
SELECT sg_import_thread(sg_export_thread('tn-alice-1'), 'tn-alice-copy');
SELECT sg_lg_put('tn-alice-lg', '', NULL,
                 '{"v": 4, "id": "1ef4f797-8335-6428-8001-8a1503f9b875", "ts": "2024-01-01T00:00:00Z",
                   "channel_values": {"x": [1, 2]}, "channel_versions": {"x": 1}, "versions_seen": {}}',
                 '{"step": 0}', '{"x": 1}');
SELECT sg_import_thread(sg_export_thread('tn-alice-lg'), 'tn-alice-lg-copy');
SELECT thread_id FROM sg_threads() ORDER BY thread_id;
RESET ROLE;
SELECT who, what FROM loot;
DROP OPERATOR tenants.-> (jsonb, jsonb);
DROP OPERATOR tenants.->> (jsonb, jsonb);

-- 2. Runs queued under the other's thread ids. A submit under alice's
-- thread is refused at once (42501), as sg_invoke is; under an id nobody
-- uses yet it is taken, and it must not hold up alice's runs on that id: a
-- run submitted with "after" stays pending for as long as bob likes, and
-- alice can neither see nor cancel it.
SET ROLE regress_tn_bob;
SELECT sg_submit('tn_graph', '{"n": 100}', 'tn-alice-1', after => '1 day') IS NOT NULL AS bob_blocks_existing;
SELECT sg_submit('tn_graph', '{"n": 100}', 'tn-alice-new', after => '1 day') IS NOT NULL AS bob_blocks_future;
RESET ROLE;
SET ROLE regress_tn_alice;
SELECT count(*) AS alice_sees FROM sg_runs();
SELECT sg_submit('tn_graph', '{"n": 10}', 'tn-alice-1') AS alice_existing \gset
SELECT sg_submit('tn_graph', '{"n": 10}', 'tn-alice-new') AS alice_new \gset
RESET ROLE;
CALL sg_work(max_time => '2 seconds');
SET ROLE regress_tn_alice;
SELECT thread_id, status FROM sg_wait(:'alice_existing', '10 seconds');
SELECT thread_id, status FROM sg_wait(:'alice_new', '10 seconds');
SELECT thread_id, "values" FROM sg_get_state('tn-alice-1');
SELECT thread_id, "values" FROM sg_get_state('tn-alice-new');
RESET ROLE;
SET ROLE regress_tn_bob;
SELECT thread_id, status FROM sg_runs() ORDER BY thread_id, status;
SELECT count(*) FILTER (WHERE sg_cancel(run_id)) AS bob_cancelled FROM sg_runs(status => 'pending');
RESET ROLE;

-- 3. Settings left behind. Retention is by graph name: a graph dropped
-- with its retention row left in place would have bob's TTL expire the
-- threads of the next graph of that name, whoever creates it.
SET ROLE regress_tn_bob;
SELECT sg_create_graph('tn_chat', '{"n": "add"}');
SELECT sg_set_retention('tn_chat', '1 second');
SELECT sg_drop_graph('tn_chat');
RESET ROLE;
SELECT count(*) AS retention_left FROM stategraph.retention WHERE graph = 'tn_chat';
-- a row without its graph (an inconsistent restore) does not apply to a new graph either
INSERT INTO stategraph.retention (graph, ttl) VALUES ('tn_chat', '1 second');
SET ROLE regress_tn_alice;
SELECT sg_create_graph('tn_chat', '{"n": "add"}');
SELECT sg_add_node('tn_chat', 'step', 'tn_step(jsonb)');
SELECT sg_add_edge('tn_chat', '__start__', 'step');
SELECT sg_add_edge('tn_chat', 'step', '__end__');
SELECT sg_compile('tn_chat');
SELECT sg_invoke('tn_chat', '{"n": 1}', 'tn-alice-chat');
SELECT pg_sleep(1.1);
RESET ROLE;
SELECT count(*) AS retention_left FROM stategraph.retention WHERE graph = 'tn_chat';
CALL sg_work(max_runs => 0);
SET ROLE regress_tn_alice;
SELECT thread_id FROM sg_threads('tn_chat');
-- and the other way: alice drops her graph (her thread stays), bob creates
-- one of that name and sets its retention. A graph's retention applies only
-- to threads its owner may act on (bob's own): alice's thread is left to
-- the default retention, and bob's expired one goes.
SELECT sg_drop_graph('tn_chat');
RESET ROLE;
SET ROLE regress_tn_bob;
SELECT sg_create_graph('tn_chat', '{"n": "add"}');
SELECT sg_add_node('tn_chat', 'step', 'tn_step(jsonb)');
SELECT sg_add_edge('tn_chat', '__start__', 'step');
SELECT sg_add_edge('tn_chat', 'step', '__end__');
SELECT sg_compile('tn_chat');
SELECT sg_invoke('tn_chat', '{"n": 1}', 'tn-bob-chat') ->> 'n' AS n;
SELECT sg_set_retention('tn_chat', '1 millisecond');
SELECT pg_sleep(0.1);
RESET ROLE;
CALL sg_work(max_runs => 0);
SELECT thread_id, owner FROM stategraph.threads WHERE thread_id IN ('tn-alice-chat', 'tn-bob-chat') ORDER BY 1;
SET ROLE regress_tn_bob;
SELECT sg_drop_graph('tn_chat');
RESET ROLE;

-- 4. Imports over the other's thread: refused as every other way of taking
-- a thread id another role uses is (42501), and nothing of alice's changes
SET ROLE regress_tn_bob;
SELECT sg_invoke('tn_graph', '{"n": 50}', 'tn-bob-1') ->> 'n' AS n;
\set VERBOSITY default
SELECT sg_import_thread(sg_export_thread('tn-bob-1'), 'tn-alice-1');
\set VERBOSITY terse
SELECT stategraph.import_then_fork(sg_export_thread('tn-bob-1'), (SELECT checkpoint_id FROM sg_get_state('tn-bob-1')), 'tn-alice-1');
RESET ROLE;
SET ROLE regress_tn_alice;
SELECT "values", (SELECT count(*) FROM sg_get_state_history('tn-alice-1')) AS checkpoints FROM sg_get_state('tn-alice-1');
RESET ROLE;

-- 5. A thread keeps its owner through export and import when the importing
-- role may own it: an administrator's restore, or the router's
-- move_partition (a superuser's export on one server, import on another),
-- leaves alice's threads hers. Another role importing her export gets a
-- copy of its own: the owner written in the data does not make it alice's.
SET ROLE regress_tn_alice;
SELECT sg_export_thread('tn-alice-1') AS alice_export \gset
SELECT sg_export_thread('tn-alice-lg') AS alice_lg_export \gset
RESET ROLE;
SELECT sg_import_thread(:'alice_export', 'tn-restored');
SET ROLE regress_tn_bob;
SELECT sg_import_thread(:'alice_export', 'tn-bob-copy');
RESET ROLE;
SELECT thread_id, owner FROM stategraph.threads WHERE thread_id IN ('tn-restored', 'tn-bob-copy') ORDER BY 1;
SET ROLE regress_tn_alice;
SELECT thread_id, "values" FROM sg_get_state('tn-restored');
RESET ROLE;
-- and so does a LangGraph.js thread, every row of it
SELECT sg_import_thread(sg_export_thread('tn-alice-lg'), 'tn-lg-restored');
SET ROLE regress_tn_bob;
SELECT sg_import_thread(:'alice_lg_export', 'tn-lg-bob-copy');
RESET ROLE;
SELECT thread_id, owner, count(*) FROM (
    SELECT thread_id, owner FROM stategraph.lg_checkpoints UNION ALL
    SELECT thread_id, owner FROM stategraph.lg_blobs UNION ALL
    SELECT thread_id, owner FROM stategraph.lg_writes) r
WHERE thread_id IN ('tn-lg-restored', 'tn-lg-bob-copy') GROUP BY 1, 2 ORDER BY 1, 2;
SET ROLE regress_tn_alice;
SELECT sg_lg_get_tuple('tn-lg-restored')::jsonb -> 'checkpoint' ->> 'id' AS restored_head;
RESET ROLE;

-- 6. A task row planted for another role's thread. Any role may insert
-- task rows of its own; one naming alice's thread and its head (here read
-- by the superuser, as if leaked) must not let the server's sweep, which
-- runs as a superuser, record a failure on alice's thread.
SELECT head AS alice_head FROM stategraph.threads WHERE thread_id = 'tn-alice-1' \gset
SET ROLE regress_tn_bob;
INSERT INTO stategraph.tasks (task_id, queue, graph, thread_id, checkpoint_id, node, step, status, attempt,
                              max_attempts, backoff_ms, lease, lease_expires_at, config)
VALUES ('tn-planted', 'tn_q', 'tn_graph', 'tn-alice-1', :'alice_head', 'step', 9, 'claimed', 1,
        1, 0, '1 second', now() - interval '1 hour', '{}');
RESET ROLE;
CALL sg_work(max_runs => 0);
SELECT status, lost FROM stategraph.tasks WHERE task_id = 'tn-planted';
SET ROLE regress_tn_alice;
SELECT thread_id, status FROM sg_threads() WHERE thread_id = 'tn-alice-1';
SELECT tasks, "values" FROM sg_get_state('tn-alice-1');
RESET ROLE;

-- 7. A checkpoint row planted to start a fork of another role's thread.
-- Row-level security checks only the row's own thread: bob's row naming
-- alice's thread and head (read by the superuser, as if leaked) made a
-- superuser's read walk into her thread, and her state then came out in
-- bob's thread (a superuser's export; the retention sweep's or a
-- superuser's sg_delete_thread of hers, which gives the forks of a thread
-- an image of their own). Refused (42501), as an insert or as an update.
SELECT checkpoint_id AS bob_head FROM sg_get_state('tn-bob-1') \gset
SET ROLE regress_tn_bob;
INSERT INTO stategraph.checkpoints (thread_id, checkpoint_id, parent_id, parent_thread, step, source, next,
                                    image_complete, created_at)
VALUES ('tn-bob-1', '01ffffff-0000-7000-8000-000000000001', :'alice_head', 'tn-alice-1', 9, 'fork', '{}',
        false, now());
UPDATE stategraph.checkpoints SET parent_id = :'alice_head', parent_thread = 'tn-alice-1'
WHERE thread_id = 'tn-bob-1' AND checkpoint_id = :'bob_head';
-- his own thread's, or none: as before
UPDATE stategraph.checkpoints SET parent_thread = NULL
WHERE thread_id = 'tn-bob-1' AND checkpoint_id = :'bob_head';
RESET ROLE;
SELECT count(*) AS bob_rows_naming_alice FROM stategraph.checkpoints
WHERE thread_id = 'tn-bob-1' AND parent_thread = 'tn-alice-1';
SELECT sg_export_thread('tn-bob-1')::text LIKE '%tn-alice-1%' AS export_names_alice;

SET client_min_messages = warning;
DROP SCHEMA tenants CASCADE;
DROP OWNED BY regress_tn_alice, regress_tn_bob;
DROP ROLE regress_tn_alice;
DROP ROLE regress_tn_bob;
