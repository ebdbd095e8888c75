--
-- Three defects of stategraph's own threads a review found (2026-12-07):
-- 1. sg_update_state from a checkpoint_id of another thread forked
--    whichever thread holding that id the plan met first. Ids are unique
--    within a thread only: an import keeps its export's, and may carry any.
--    A role could import a thread holding another role's ids and have its
--    own values forked by someone who meant the other's (the fork then the
--    importer's). Threads of several roles holding the id are refused now
--    (42P08); of one role's, the first by thread id is forked.
-- 2. an import may carry any step: at 2147483647 the next run numbered its
--    steps from -2147483648. Steps below -1 are refused by the import
--    (SGX01); no checkpoint is made after step 2147483647 (54000).
-- 3. a node that exported its own thread got a step half done (the thread
--    "running", its head behind what was written), which an import kept:
--    sg_export_thread of a thread this session runs is refused (55000).
-- (And an add channel's sum that overflows names its channel and node.)
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_s51_bob;
CREATE SCHEMA review_s51;
SET search_path = review_s51;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION bump(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('n', COALESCE((state->>'n')::int, 0) + 1) $$;
SELECT sg_create_graph('rv', '{"n": "replace"}');
SELECT sg_add_node('rv', 'a', 'bump(jsonb)');
SELECT sg_add_edge('rv', '__start__', 'a');
SELECT sg_add_edge('rv', 'a', '__end__');
SELECT sg_compile('rv');
CREATE FUNCTION redigest(e jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT e || jsonb_build_object('digest', md5(COALESCE(e->'thread', 'null')::text || COALESCE(e->'checkpoints', 'null')::text
           || COALESCE(e->'fork_writes', 'null')::text)) $$;

-- 1. one thread holds the checkpoint: forked from it
SELECT sg_invoke('rv', '{"n": 1}', thread_id => 'orig') ->> 'n' AS orig_n;
SELECT checkpoint_id AS x FROM sg_get_state_history('orig') WHERE step = 0 \gset
SELECT sg_update_state('from-orig', '{}', as_node => 'a', checkpoint_id => :'x') IS NOT NULL AS forked;
SELECT "values" FROM sg_get_state('from-orig');
SELECT forked_from FROM stategraph.threads WHERE thread_id = 'from-orig';
-- a copy in the same database holds the same ids (as documented): of one
-- role's threads, the first by thread id is forked (it reads as the source)
SELECT sg_import_thread(sg_export_thread('orig'), 'copy');
SELECT sg_update_state('from-copy', '{}', as_node => 'a', checkpoint_id => :'x') IS NOT NULL AS forked;
SELECT "values" FROM sg_get_state('from-copy');
SELECT forked_from FROM stategraph.threads WHERE thread_id = 'from-copy';
-- another role imports a copy holding those ids with values of its own
-- (an import carries what its export says): which thread the id names is
-- not guessed
CREATE ROLE regress_s51_bob;
GRANT USAGE ON SCHEMA review_s51 TO regress_s51_bob;
CREATE TEMP TABLE to_forge AS SELECT replace(sg_export_thread('orig')::text, '"n": 1', '"n": 666')::jsonb AS e;
GRANT SELECT ON to_forge TO regress_s51_bob;
SET ROLE regress_s51_bob;
SELECT sg_import_thread(redigest(e), 'forged') FROM to_forge;
SELECT "values" AS forged_at_x FROM sg_get_state('forged', :'x');
RESET ROLE;
SELECT "values" AS orig_at_x FROM sg_get_state('orig', :'x');
CREATE TEMP TABLE held_twice AS SELECT :'x'::uuid AS x;
DO $$
DECLARE st text; msg text; det text; hint text;
BEGIN
    PERFORM sg_update_state('from-x', '{}', as_node => 'a', checkpoint_id => (SELECT x FROM held_twice));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    RAISE NOTICE '% % / % / %', st, replace(msg, (SELECT x FROM held_twice)::text, '<x>'), det, hint;
END $$;
SELECT count(*) AS stored FROM stategraph.threads WHERE thread_id = 'from-x';
-- naming the thread, as the hint says
SELECT sg_fork('orig', :'x', 'from-x') IS NOT NULL AS forked;
SELECT "values" FROM sg_get_state('from-x');
-- a checkpoint the thread holds itself is its own, whoever else holds it
SELECT sg_update_state('orig', '{"n": 5}', checkpoint_id => :'x') IS NOT NULL AS updated;
SELECT "values" FROM sg_get_state('orig');

-- 2. steps: below -1 refused by an import, nothing stored
SELECT sg_import_thread(redigest(jsonb_set(sg_export_thread('orig'), '{checkpoints,0,step}', '-2')), 'low-step');
SELECT count(*) AS stored FROM stategraph.threads WHERE thread_id = 'low-step';
-- the last step: no run, update or fork goes past it
SELECT sg_import_thread(redigest(jsonb_set(sg_export_thread('orig'), '{checkpoints,-1,step}', '2147483647')), 'last-step');
SELECT step FROM sg_get_state('last-step');
\set VERBOSITY sqlstate
SELECT sg_invoke('rv', '{"n": 1}', thread_id => 'last-step');
\set VERBOSITY default
SELECT sg_invoke('rv', '{"n": 1}', thread_id => 'last-step');
SELECT sg_update_state('last-step', '{"n": 7}');
SELECT checkpoint_id AS last FROM sg_get_state('last-step') \gset
SELECT sg_invoke('rv', NULL, thread_id => 'last-step', checkpoint_id => :'last');
-- two steps before the last: the run's third checkpoint would be past it,
-- and nothing of the run is kept
SELECT sg_import_thread(redigest(jsonb_set(sg_export_thread('orig'), '{checkpoints,-1,step}', '2147483645')), 'near-last');
SELECT sg_invoke('rv', '{"n": 1}', thread_id => 'near-last') ->> 'n' AS n;
SELECT step, source FROM sg_get_state_history('near-last', 3);
SELECT count(*) FILTER (WHERE step < -1) AS wrapped FROM stategraph.checkpoints;

-- 3. an export inside the thread's own run
CREATE TABLE exports (e jsonb);
CREATE FUNCTION export_self(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO exports SELECT sg_export_thread(config->>'thread_id');
    RETURN '{"n": 1}';
END $$;
SELECT sg_create_graph('se', '{"n": "replace"}');
SELECT sg_add_node('se', 'a', 'export_self(jsonb,jsonb)');
SELECT sg_add_edge('se', '__start__', 'a');
SELECT sg_add_edge('se', 'a', '__end__');
SELECT sg_compile('se');
SELECT sg_invoke('se', '{"n": 0}', thread_id => 'se-1');
SELECT count(*) AS exported FROM exports;
SELECT count(*) AS stored FROM stategraph.threads WHERE thread_id = 'se-1';
-- another thread's export from a node is still a whole one
SELECT sg_invoke('rv', '{"n": 1}', thread_id => 'other') ->> 'n' AS other_n;
CREATE OR REPLACE FUNCTION export_self(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO exports SELECT sg_export_thread('other');
    RETURN '{"n": 1}';
END $$;
SELECT sg_invoke('se', '{"n": 0}', thread_id => 'se-2') ->> 'n' AS n;
SELECT e #>> '{thread,status}' AS status, jsonb_array_length(e->'checkpoints') AS checkpoints FROM exports;

-- (and an add channel whose sum overflows the numeric format says which
-- channel and node, 22003; the thread reads as before and goes on)
CREATE FUNCTION big(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT jsonb_build_object('n', '9e131071'::numeric) $$;
SELECT sg_create_graph('sum', '{"n": "add"}');
SELECT sg_add_node('sum', 'big', 'big(jsonb)');
SELECT sg_add_edge('sum', '__start__', 'big');
SELECT sg_add_edge('sum', 'big', '__end__');
SELECT sg_compile('sum');
SELECT sg_invoke('sum', '{"n": 1}', thread_id => 'sum-1') IS NOT NULL AS first;
\set VERBOSITY sqlstate
SELECT sg_invoke('sum', jsonb_build_object('n', '9e131071'::numeric), thread_id => 'sum-2');
\set VERBOSITY default
SELECT sg_invoke('sum', jsonb_build_object('n', '9e131071'::numeric), thread_id => 'sum-2');
SELECT count(*) AS stored FROM stategraph.threads WHERE thread_id = 'sum-2';

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA review_s51 CASCADE;
DROP TABLE to_forge;
DROP ROLE regress_s51_bob;
