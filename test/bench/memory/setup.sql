-- Graphs of the memory check: the seed's 3-node workflow, and a counter whose
-- state keeps its size, for re-running the same threads.
CREATE EXTENSION IF NOT EXISTS stategraph;
CREATE FUNCTION step_one(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"step": 1, "messages": ["Step 1 complete"]}'::jsonb $$;
CREATE FUNCTION step_two(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"step": 2, "messages": ["Step 2 complete"]}'::jsonb $$;
CREATE FUNCTION step_three(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"step": 3, "messages": ["Step 3 complete"]}'::jsonb $$;
SELECT sg_create_graph('workflow', '{"messages": "append", "step": "replace", "data": "replace"}');
SELECT sg_add_node('workflow', 'step1', 'step_one(jsonb)');
SELECT sg_add_node('workflow', 'step2', 'step_two(jsonb)');
SELECT sg_add_node('workflow', 'step3', 'step_three(jsonb)');
SELECT sg_add_edge('workflow', '__start__', 'step1');
SELECT sg_add_edge('workflow', 'step1', 'step2');
SELECT sg_add_edge('workflow', 'step2', 'step3');
SELECT sg_add_edge('workflow', 'step3', '__end__');
SELECT sg_compile('workflow');

CREATE FUNCTION bump(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('n', COALESCE((state->>'n')::int, 0) + 1) $$;
SELECT sg_create_graph('counter', '{"n": "replace"}');
SELECT sg_add_node('counter', 'bump', 'bump(jsonb)');
SELECT sg_add_edge('counter', '__start__', 'bump');
SELECT sg_add_edge('counter', 'bump', '__end__');
SELECT sg_compile('counter');

-- the memory this backend has allocated (all its memory contexts), in kB
CREATE FUNCTION backend_memory_kb() RETURNS bigint LANGUAGE sql
    AS $$ SELECT sum(total_bytes) / 1024 FROM pg_backend_memory_contexts $$;
