-- A database for fuzzing: the extension, graphs that use its features, and
-- threads in every state (done, interrupted, failed, forked, pruned).
CREATE EXTENSION stategraph;
CREATE FUNCTION fz_step(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('n', 1, 'log', jsonb_build_array(config->>'node'),
                                    'total', 1, 'meta', jsonb_build_object(config->>'node', true)) $$;
CREATE FUNCTION fz_route(state jsonb) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN (state->>'n')::int < 12 THEN 'again' ELSE 'done' END $$;
CREATE FUNCTION fz_send(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_array(jsonb_build_object('node', 'b', 'arg', jsonb_build_object('n', 10)), 'c') $$;
CREATE FUNCTION fz_ask(state jsonb) RETURNS jsonb LANGUAGE plpgsql
    AS $$ BEGIN RETURN jsonb_build_object('answer', sg_interrupt('"ok?"')); END $$;
CREATE FUNCTION fz_fail(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT jsonb_build_object('n', 1 / 0) $$;
CREATE FUNCTION fz_longest(a jsonb, b jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT CASE WHEN length(a::text) >= length(b::text) THEN a ELSE b END $$;

SELECT sg_create_graph('loop', '{"n": "add", "log": "append", "total": "add", "meta": "merge", "best": "fz_longest"}');
SELECT sg_add_node('loop', 'a', 'fz_step(jsonb,jsonb)');
SELECT sg_add_node('loop', 'b', 'fz_step(jsonb,jsonb)');
SELECT sg_add_node('loop', 'c', 'fz_step(jsonb,jsonb)');
SELECT sg_add_edge('loop', '__start__', 'a');
SELECT sg_add_conditional_edges('loop', 'a', 'fz_send(jsonb)');
SELECT sg_add_edge('loop', ARRAY['b', 'c'], 'a');
SELECT sg_add_conditional_edges('loop', 'b', 'fz_route(jsonb)', '{"again": "a", "done": "__end__"}');
SELECT sg_compile('loop', interrupt_after => ARRAY['c']);

SELECT sg_create_graph('hitl', '{"answer": "replace", "n": "replace"}');
SELECT sg_add_node('hitl', 'ask', 'fz_ask(jsonb)');
SELECT sg_add_node('hitl', 'fail', 'fz_fail(jsonb)');
SELECT sg_add_edge('hitl', '__start__', 'ask');
SELECT sg_add_edge('hitl', 'ask', 'fail');
SELECT sg_add_edge('hitl', 'fail', '__end__');
SELECT sg_compile('hitl');

SELECT sg_invoke('loop', '{"n": 0}', thread_id => 'l' || i, recursion_limit => 50) IS NOT NULL FROM generate_series(1, 5) i;
SELECT sg_invoke('loop', NULL, thread_id => 'l1', recursion_limit => 50) IS NOT NULL;
SELECT sg_invoke('hitl', '{}', thread_id => 'h1') IS NOT NULL;
SELECT sg_invoke('hitl', NULL, thread_id => 'h1', resume => '"yes"', on_error => 'return') IS NOT NULL;
SELECT sg_fork('l2', (SELECT checkpoint_id FROM sg_get_state_history('l2') ORDER BY checkpoint_id LIMIT 1 OFFSET 2), 'f1') IS NOT NULL;
SELECT sg_update_state('l3', '{"n": 100}', as_node => 'a') IS NOT NULL;
SELECT sg_prune(keep_last => 3, thread_id => 'l4');

-- external nodes (issue 10): a graph with an external node fed by Send, threads
-- waiting with queued, claimed, completed and failed tasks
CREATE FUNCTION fz_fan(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_array(jsonb_build_object('node', 'model', 'arg', jsonb_build_object('n', 1)),
                                   jsonb_build_object('node', 'model', 'arg', jsonb_build_object('n', 2))) $$;
SELECT sg_create_graph('ext', '{"n": "add", "log": "append", "total": "add", "meta": "merge"}');
SELECT sg_add_node('ext', 'a', 'fz_step(jsonb,jsonb)');
SELECT sg_add_external_node('ext', 'model', 'fzq', '{"max_attempts": 2, "backoff_ms": 0}', '1 hour');
SELECT sg_add_edge('ext', '__start__', 'a');
SELECT sg_add_conditional_edges('ext', 'a', 'fz_fan(jsonb)');
SELECT sg_add_edge('ext', 'model', '__end__');
SELECT sg_compile('ext');
SELECT sg_invoke('ext', '{"n": 0}', thread_id => 'e' || i) IS NOT NULL FROM generate_series(1, 6) i;
SELECT count(*) FROM sg_claim('fzq', 'fz-worker', 6);
SELECT sg_complete(task_id, token, '{"n": 1}') FROM stategraph.tasks WHERE thread_id IN ('e1', 'e2') AND status = 'claimed';
SELECT sg_fail(task_id, token, '{"message": "no"}', false) FROM stategraph.tasks WHERE thread_id = 'e3' AND status = 'claimed';
SELECT sg_invoke('ext', NULL, thread_id => 'e1') IS NOT NULL;

-- LangGraph.js storage: one thread with a checkpoint and writes
SELECT sg_lg_put('lg1', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "2026-01-01T00:00:00.000Z",
      "channel_values": {"__start__": {"messages": [], "step": 0}},
      "channel_versions": {"__start__": 1}, "versions_seen": {"__input__": {}}}',
    '{"source": "input", "step": -1, "parents": {}}', '{"__start__": 1}');
SELECT sg_lg_put_writes('lg1', '', '1ef00000-0000-6000-8000-000000000001', 'task-start',
    '[["messages", []], ["step", 0], ["branch:to:step1", null]]');

-- ownership (0.2.0): two roles with graphs and threads of their own; the
-- fuzzer calls as either of them too, and writes the storage tables directly
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fz_alice') THEN CREATE ROLE fz_alice; END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fz_bob') THEN CREATE ROLE fz_bob; END IF;
END $$;
GRANT CREATE ON SCHEMA public TO fz_alice, fz_bob;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO PUBLIC;
SET ROLE fz_alice;
CREATE FUNCTION fz_alice_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('fz_owned', '{"n": "add"}');
SELECT sg_add_node('fz_owned', 'a', 'fz_alice_step(jsonb)');
SELECT sg_add_edge('fz_owned', '__start__', 'a');
SELECT sg_add_edge('fz_owned', 'a', '__end__');
SELECT sg_compile('fz_owned');
SELECT sg_invoke('fz_owned', '{"n": 1}', thread_id => 'a' || i) IS NOT NULL FROM generate_series(1, 3) i;
SET ROLE fz_bob;
SELECT sg_invoke('fz_owned', '{"n": 1}', thread_id => 'b1') IS NOT NULL;
SELECT sg_invoke('loop', '{"n": 0}', thread_id => 'b2', recursion_limit => 50) IS NOT NULL;
RESET ROLE;


-- review round (bad_args.py, tampered_exports.py, own_rows.py): a LangGraph.js
-- thread with typed bytes, a chain of checkpoints, pending writes and a
-- subgraph namespace; claimed tasks; runs for sg_wait and sg_cancel
-- (channel "b" is typed bytes only: a JSON value beside them is 22023, as the
-- client sends each channel's value once)
SELECT sg_lg_put('lg2', '', NULL,
  '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000101", "ts": "2026-01-01T00:00:00.000Z", "channel_values": {"messages": [1], "step": 0}, "channel_versions": {"messages": 1, "step": 1, "b": 1}, "versions_seen": {"__input__": {}}}',
  '{"source": "input", "step": -1, "parents": {}}', '{"messages": 1, "step": 1, "b": 1}', ARRAY['b'], ARRAY['bytes'], ARRAY['\x0102'::bytea]);
SELECT sg_lg_put('lg2', '', '1ef00000-0000-6000-8000-000000000101',
  '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000102", "ts": "2026-01-01T00:00:01.000Z", "channel_values": {"messages": [1, 2], "step": 1, "b": null}, "channel_versions": {"messages": 2, "step": 2, "b": 1}, "versions_seen": {"a": {"messages": 1}}}',
  '{"source": "loop", "step": 0, "parents": {}}', '{"messages": 2, "step": 2}');
SELECT sg_lg_put('lg2', '', '1ef00000-0000-6000-8000-000000000102',
  '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000103", "channel_values": {"messages": [1, 2, 3], "step": 2, "b": null}, "channel_versions": {"messages": 3, "step": 3, "b": 1}, "versions_seen": {"a": {"messages": 2}}}',
  '{"source": "loop", "step": 1, "parents": {}}', '{"messages": 3, "step": 3}');
SELECT sg_lg_put_writes('lg2', '', '1ef00000-0000-6000-8000-000000000103', 'task-x',
  '[["messages", [4]], ["__interrupt__", [{"value": "ok?"}]], ["b", null]]', 'p', ARRAY[2], ARRAY['bytes'], ARRAY['\x03'::bytea]);
SELECT sg_lg_put('lg2', 'sub:1', NULL,
  '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000111", "channel_values": {"x": 1}, "channel_versions": {"x": 1}, "versions_seen": {}}',
  '{"source": "input", "step": -1, "parents": {"": "1ef00000-0000-6000-8000-000000000102"}}', '{"x": 1}');
SELECT count(*) FROM sg_claim('fzq', 'fz-worker-2', 2);
SELECT sg_submit('loop', '{"n": 0}', thread_id => 'r1', recursion_limit => 50) IS NOT NULL;
SELECT sg_submit('loop', '{"n": 0}', thread_id => 'r3', after => '1 day', recursion_limit => 50) IS NOT NULL;
