--
-- stategraph side of the background-runs benchmark (test/bench/background/run.sh).
-- Loaded into database "bench" of the throwaway cluster.
--
\set ON_ERROR_STOP on
CREATE EXTENSION IF NOT EXISTS stategraph;

-- The seed's graph (as test/bench/setup.sql): START -> step1 -> step2 -> step3 -> END
CREATE FUNCTION bench_step_one(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"step": 1, "messages": ["Step 1 complete"]}'::jsonb $$;
CREATE FUNCTION bench_step_two(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"step": 2, "messages": ["Step 2 complete"]}'::jsonb $$;
CREATE FUNCTION bench_step_three(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"step": 3, "messages": ["Step 3 complete"]}'::jsonb $$;

SELECT sg_create_graph('workflow', '{"messages": "append", "step": "replace", "data": "replace"}');
SELECT sg_add_node('workflow', 'step1', 'bench_step_one(jsonb)');
SELECT sg_add_node('workflow', 'step2', 'bench_step_two(jsonb)');
SELECT sg_add_node('workflow', 'step3', 'bench_step_three(jsonb)');
SELECT sg_add_edge('workflow', '__start__', 'step1');
SELECT sg_add_edge('workflow', 'step1', 'step2');
SELECT sg_add_edge('workflow', 'step2', 'step3');
SELECT sg_add_edge('workflow', 'step3', '__end__');
SELECT sg_compile('workflow');

-- Commit-to-start latency: the submitting transaction also inserts a row here,
-- so pg_xact_commit_timestamp(xmin) (track_commit_timestamp = on) is the
-- server's time of that commit.
CREATE TABLE bench_mark (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id uuid
);
