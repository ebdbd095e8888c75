-- The bad-input catalogue: every function with NULLs, empty strings, huge and
-- deeply nested jsonb, non-object inputs, misbehaving nodes and routers,
-- impossible limits, and things that do not exist. Each is an ERROR with a
-- specific SQLSTATE, and no stored thread changes.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION stategraph;
SELECT plan(106);

CREATE FUNCTION step_n(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('step', COALESCE((state->>'step')::int, 0) + 1, 'log', jsonb_build_array('s')) $$;
SELECT sg_create_graph('g', '{"step": "replace", "log": "append", "total": "add", "meta": "merge"}');
SELECT sg_add_node('g', 'a', 'step_n(jsonb)');
SELECT sg_add_node('g', 'b', 'step_n(jsonb)');
SELECT sg_add_edge('g', '__start__', 'a');
SELECT sg_add_edge('g', 'a', 'b');
SELECT sg_add_edge('g', 'b', '__end__');
SELECT sg_compile('g');
SELECT sg_invoke('g', '{"step": 0}', thread_id => 't1');
SELECT sg_invoke('g', '{"step": 0}', thread_id => 't2');
CREATE TEMP TABLE t1h AS SELECT checkpoint_id AS id FROM sg_get_state('t1');

-- what storage holds now; every rejected call below must leave it so
CREATE TEMP TABLE stored AS
SELECT (SELECT jsonb_agg(to_jsonb(c) ORDER BY thread_id, checkpoint_id) FROM stategraph.checkpoints c) AS checkpoints,
       (SELECT jsonb_agg(to_jsonb(t) - 'updated_at' ORDER BY thread_id) FROM stategraph.threads t) AS threads;
CREATE FUNCTION pg_temp.unchanged() RETURNS boolean LANGUAGE sql AS $$
    SELECT (SELECT jsonb_agg(to_jsonb(c) ORDER BY thread_id, checkpoint_id) FROM stategraph.checkpoints c) = s.checkpoints
       AND (SELECT jsonb_agg(to_jsonb(t) - 'updated_at' ORDER BY thread_id) FROM stategraph.threads t) = s.threads
    FROM stored s $$;

-- NULL arguments
SELECT throws_ok($$ SELECT sg_invoke(NULL, '{}', thread_id => 't1') $$, '22004', NULL, 'invoke: graph NULL');
SELECT throws_ok($$ SELECT sg_invoke('g', '{}', thread_id => 't1', recursion_limit => NULL) $$, '22004', NULL,
                 'invoke: recursion_limit NULL');
SELECT throws_ok($$ SELECT sg_invoke('g', '{}', thread_id => 't1', on_error => NULL) $$, '22004', NULL, 'invoke: on_error NULL');
SELECT throws_ok($$ SELECT sg_invoke('g', NULL) $$, '22023', NULL, 'invoke: input NULL without a thread');
SELECT throws_ok($$ SELECT * FROM sg_stream(NULL, '{}') $$, '22004', NULL, 'stream: graph NULL');
SELECT throws_ok($$ SELECT * FROM sg_stream('g', '{}', mode => NULL) $$, '22004', NULL, 'stream: mode NULL');
SELECT throws_ok($$ SELECT sg_get_state(NULL) $$, '22004', NULL, 'get_state: thread NULL');
SELECT throws_ok($$ SELECT * FROM sg_get_state_history(NULL) $$, '22004', NULL, 'history: thread NULL');
SELECT throws_ok($$ SELECT sg_update_state(NULL, '{"step": 1}') $$, '22004', NULL, 'update_state: thread NULL');
SELECT throws_ok($$ SELECT sg_update_state('t1', NULL) $$, '22004', NULL, 'update_state: values NULL');
SELECT throws_ok($$ SELECT sg_fork(NULL, gen_random_uuid(), 'x') $$, '22004', NULL, 'fork: thread NULL');
SELECT throws_ok($$ SELECT sg_fork('t1', NULL, 'x') $$, '22004', NULL, 'fork: checkpoint NULL');
SELECT throws_ok($$ SELECT sg_fork('t1', gen_random_uuid(), NULL) $$, '22004', NULL, 'fork: new thread NULL');
SELECT throws_ok($$ SELECT sg_delete_thread(NULL) $$, '22004', NULL, 'delete_thread: NULL');
SELECT throws_ok($$ SELECT sg_prune() $$, '22023', NULL, 'prune: nothing to prune by');
SELECT throws_ok($$ SELECT sg_draw(NULL) $$, '22004', NULL, 'draw: graph NULL');
SELECT throws_ok($$ SELECT sg_draw('g', NULL) $$, '22004', NULL, 'draw: format NULL');
SELECT ok(pg_temp.unchanged(), 'NULL arguments changed nothing');

-- empty strings
SELECT throws_ok($$ SELECT sg_invoke('', '{}') $$, '22023', NULL, 'invoke: empty graph');
SELECT throws_ok($$ SELECT sg_invoke('g', '{}', thread_id => '') $$, '22023', NULL, 'invoke: empty thread');
SELECT throws_ok($$ SELECT sg_invoke('g', '{}', on_error => '') $$, '22023', NULL, 'invoke: empty on_error');
SELECT throws_ok($$ SELECT sg_get_state('') $$, '22023', NULL, 'get_state: empty thread');
SELECT throws_ok($$ SELECT * FROM sg_get_state_history('') $$, '22023', NULL, 'history: empty thread');
SELECT throws_ok($$ SELECT sg_update_state('', '{}') $$, '22023', NULL, 'update_state: empty thread');
SELECT throws_ok($$ SELECT sg_update_state('t1', '{"step": 1}', as_node => '') $$, '22023', NULL, 'update_state: empty as_node');
SELECT throws_ok($$ SELECT sg_fork('t1', (SELECT id FROM t1h), '') $$, '22023', NULL, 'fork: empty new thread');
SELECT throws_ok($$ SELECT sg_delete_thread('') $$, '22023', NULL, 'delete_thread: empty');
SELECT throws_ok($$ SELECT sg_prune(keep_last => 1, thread_id => '') $$, '22023', NULL, 'prune: empty thread');
SELECT throws_ok($$ SELECT sg_draw('') $$, '22023', NULL, 'draw: empty graph');
SELECT throws_ok($$ SELECT sg_draw('g', '') $$, '22023', NULL, 'draw: empty format');
SELECT ok(pg_temp.unchanged(), 'empty strings changed nothing');

-- inputs that are not JSON objects
SELECT throws_ok($$ SELECT sg_invoke('g', '[1, 2]', thread_id => 't1') $$, '22023', NULL, 'invoke: array input');
SELECT throws_ok($$ SELECT sg_invoke('g', '"x"', thread_id => 't1') $$, '22023', NULL, 'invoke: string input');
SELECT throws_ok($$ SELECT sg_invoke('g', 'null', thread_id => 't1') $$, '22023', NULL, 'invoke: json null input');
SELECT throws_ok($$ SELECT sg_invoke('g', '42', thread_id => 't1') $$, '22023', NULL, 'invoke: number input');
SELECT throws_ok($$ SELECT sg_invoke('g', '{"nope": 1}', thread_id => 't1') $$, '42703', NULL, 'invoke: unknown channel');
SELECT throws_ok($$ SELECT sg_invoke('g', '{"log": "x"}', thread_id => 't1') $$, '42804', NULL,
                 'invoke: append of a non-array');
SELECT throws_ok($$ SELECT sg_invoke('g', '{"total": "x"}', thread_id => 't1') $$, '42804', NULL, 'invoke: add of a non-number');
SELECT throws_ok($$ SELECT sg_invoke('g', '{"meta": [1]}', thread_id => 't1') $$, '42804', NULL, 'invoke: merge of a non-object');
SELECT throws_ok($$ SELECT sg_update_state('t1', '[1]') $$, '22023', NULL, 'update_state: array values');
SELECT throws_ok($$ SELECT sg_update_state('t1', '{"nope": 1}') $$, '42703', NULL, 'update_state: unknown channel');
SELECT throws_ok($$ SELECT sg_update_state('t1', '{"log": {"a": 1}}') $$, '42804', NULL, 'update_state: append of an object');
SELECT throws_ok($$ SELECT * FROM sg_get_state_history('t1', filter => '[1]') $$, '22023', NULL, 'history: array filter');
SELECT ok(pg_temp.unchanged(), 'non-object inputs changed nothing');

-- options out of range
SELECT throws_ok($$ SELECT sg_invoke('g', '{}', thread_id => 't1', recursion_limit => 0) $$, '22023', NULL, 'recursion_limit 0');
SELECT throws_ok($$ SELECT sg_invoke('g', '{}', thread_id => 't1', recursion_limit => -5) $$, '22023', NULL, 'recursion_limit < 0');
SELECT throws_ok($$ SELECT sg_invoke('g', '{}', thread_id => 't1', on_error => 'ignore') $$, '22023', NULL, 'on_error unknown');
SELECT throws_ok($$ SELECT * FROM sg_stream('g', '{}', mode => 'debug') $$, '22023', NULL, 'stream mode unknown');
SELECT throws_ok($$ SELECT sg_invoke('g', '{}', thread_id => 't1', resume => '"yes"') $$, '22023', NULL, 'input and resume');
SELECT throws_ok($$ SELECT sg_invoke('g', '{}', resume => '"yes"') $$, '22023', NULL, 'resume without a thread');
SELECT throws_ok($$ SELECT sg_invoke('g', '{}', checkpoint_id => gen_random_uuid()) $$, '22023', NULL,
                 'checkpoint_id without a thread');
SELECT throws_ok($$ SELECT sg_invoke('g', NULL, thread_id => 't1', resume => '"yes"') $$, '55000', NULL,
                 'resume with nothing pending');
SELECT throws_ok($$ SELECT * FROM sg_get_state_history('t1', "limit" => -1) $$, '22023', NULL, 'history: negative limit');
SELECT throws_ok($$ SELECT sg_prune(keep_last => 0) $$, '22023', NULL, 'prune: keep_last 0');
SELECT throws_ok($$ SELECT sg_prune(older_than => '-1 hour') $$, '22023', NULL, 'prune: negative interval');
SELECT throws_ok($$ SELECT sg_draw('g', 'svg') $$, '22023', NULL, 'draw: unknown format');
SELECT throws_ok($$ SELECT sg_invoke('g', '{}', thread_id => repeat('t', 1000)) $$, '22023', NULL, 'thread id too long');
SELECT ok(pg_temp.unchanged(), 'options out of range changed nothing');

-- things that do not exist
SELECT throws_ok($$ SELECT sg_invoke('nope', '{}') $$, '42704', 'graph "nope" does not exist', 'invoke: unknown graph');
SELECT throws_ok($$ SELECT * FROM sg_stream('nope', '{}') $$, '42704', NULL, 'stream: unknown graph');
SELECT throws_ok($$ SELECT sg_invoke('g', NULL, thread_id => 'nobody') $$, '42704', NULL, 'invoke: resume of an unknown thread');
SELECT throws_ok($$ SELECT sg_invoke('g', NULL, thread_id => 't1', checkpoint_id => gen_random_uuid()) $$, '42704', NULL,
                 'invoke: unknown checkpoint');
SELECT throws_ok($$ SELECT sg_get_state('nobody') $$, '42704', 'thread "nobody" does not exist', 'get_state: unknown thread');
SELECT throws_ok($$ SELECT sg_get_state('t1', gen_random_uuid()) $$, '42704', NULL, 'get_state: unknown checkpoint');
SELECT throws_ok($$ SELECT * FROM sg_get_state_history('nobody') $$, '42704', NULL, 'history: unknown thread');
SELECT throws_ok($$ SELECT sg_update_state('nobody', '{"step": 1}') $$, '42704', NULL, 'update_state: unknown thread');
SELECT throws_ok($$ SELECT sg_update_state('t1', '{"step": 1}', checkpoint_id => gen_random_uuid()) $$, '42704', NULL,
                 'update_state: unknown checkpoint');
SELECT throws_ok($$ SELECT sg_update_state('t1', '{"step": 1}', as_node => 'nope') $$, '42704', NULL,
                 'update_state: unknown as_node');
SELECT throws_ok($$ SELECT sg_fork('nobody', (SELECT id FROM t1h), 'new') $$, '42704', NULL, 'fork: unknown thread');
SELECT throws_ok($$ SELECT sg_fork('t2', (SELECT id FROM t1h), 'new') $$, '42704', NULL, 'fork: checkpoint of another thread');
SELECT throws_ok($$ SELECT sg_fork('t1', (SELECT id FROM t1h), 't2') $$, '42710', NULL, 'fork: into an existing thread');
SELECT throws_ok($$ SELECT sg_delete_thread('nobody') $$, '42704', NULL, 'delete_thread: unknown thread');
SELECT throws_ok($$ SELECT sg_prune(keep_last => 1, thread_id => 'nobody') $$, '42704', NULL, 'prune: unknown thread');
SELECT throws_ok($$ SELECT * FROM sg_threads('nope') $$, '42704', NULL, 'threads: unknown graph');
SELECT throws_ok($$ SELECT sg_draw('nope') $$, '42704', NULL, 'draw: unknown graph');
SELECT throws_ok($$ SELECT sg_compile('nope') $$, '42704', NULL, 'compile: unknown graph');
SELECT throws_ok($$ SELECT sg_drop_graph('nope') $$, '42704', NULL, 'drop_graph: unknown graph');
SELECT ok(pg_temp.unchanged(), 'unknown things changed nothing');

-- a thread of another graph
SELECT sg_create_graph('other', '{"step": "replace"}');
SELECT sg_add_node('other', 'a', 'step_n(jsonb)');
SELECT sg_add_edge('other', '__start__', 'a');
SELECT sg_add_edge('other', 'a', '__end__');
SELECT sg_compile('other');
SELECT throws_ok($$ SELECT sg_invoke('other', '{}', thread_id => 't1') $$, '22023', NULL, 'invoke: thread of another graph');
SELECT ok(pg_temp.unchanged(), 'running another graph on a thread changed nothing');

-- nodes and routers that misbehave (each in a graph of its own)
CREATE FUNCTION returns_null(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT NULL::jsonb $$;
CREATE FUNCTION returns_scalar(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '1'::jsonb $$;
CREATE FUNCTION returns_array(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '[{"step": 1}]'::jsonb $$;
CREATE FUNCTION returns_json_null(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT 'null'::jsonb $$;
CREATE FUNCTION returns_unknown(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"nope": 1}'::jsonb $$;
CREATE FUNCTION returns_bad_append(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"log": 5}'::jsonb $$;
CREATE FUNCTION returns_bad_add(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"total": "many"}'::jsonb $$;
CREATE FUNCTION divides_by_zero(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT jsonb_build_object('step', 1 / 0) $$;
CREATE FUNCTION route_unknown(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'nowhere' $$;
CREATE FUNCTION route_null(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT NULL::text $$;
CREATE FUNCTION route_number(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '5'::jsonb $$;
CREATE FUNCTION route_unmapped(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'c' $$;
CREATE FUNCTION pg_temp.graph_with(name text, fn text, router text DEFAULT NULL, path_map jsonb DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sg_create_graph(name, '{"step": "replace", "log": "append", "total": "add"}');
    PERFORM sg_add_node(name, 'n', fn::regprocedure);
    PERFORM sg_add_edge(name, '__start__', 'n');
    IF router IS NULL THEN
        PERFORM sg_add_edge(name, 'n', '__end__');
    ELSE
        PERFORM sg_add_conditional_edges(name, 'n', router::regprocedure, path_map);
    END IF;
    PERFORM sg_compile(name);
END $$;
SELECT pg_temp.graph_with('n_null', 'returns_null(jsonb)');
SELECT pg_temp.graph_with('n_scalar', 'returns_scalar(jsonb)');
SELECT pg_temp.graph_with('n_array', 'returns_array(jsonb)');
SELECT pg_temp.graph_with('n_json_null', 'returns_json_null(jsonb)');
SELECT pg_temp.graph_with('n_unknown', 'returns_unknown(jsonb)');
SELECT pg_temp.graph_with('n_bad_append', 'returns_bad_append(jsonb)');
SELECT pg_temp.graph_with('n_bad_add', 'returns_bad_add(jsonb)');
SELECT pg_temp.graph_with('n_error', 'divides_by_zero(jsonb)');
SELECT pg_temp.graph_with('r_unknown', 'step_n(jsonb)', 'route_unknown(jsonb)');
SELECT pg_temp.graph_with('r_null', 'step_n(jsonb)', 'route_null(jsonb)');
SELECT pg_temp.graph_with('r_number', 'step_n(jsonb)', 'route_number(jsonb)');
SELECT pg_temp.graph_with('r_unmapped', 'step_n(jsonb)', 'route_unmapped(jsonb)', '{"a": "n", "b": "__end__"}');
CREATE TEMP TABLE stored2 AS
SELECT (SELECT jsonb_agg(to_jsonb(c) ORDER BY thread_id, checkpoint_id) FROM stategraph.checkpoints c) AS checkpoints;
SELECT throws_ok($$ SELECT sg_invoke('n_null', '{}', thread_id => 'x1') $$, 'SG003', NULL, 'node returning NULL');
SELECT throws_ok($$ SELECT sg_invoke('n_scalar', '{}', thread_id => 'x2') $$, 'SG003', NULL, 'node returning a scalar');
SELECT throws_ok($$ SELECT sg_invoke('n_array', '{}', thread_id => 'x3') $$, 'SG003', NULL, 'node returning an array');
SELECT throws_ok($$ SELECT sg_invoke('n_json_null', '{}', thread_id => 'x4') $$, 'SG003', NULL, 'node returning json null');
SELECT throws_ok($$ SELECT sg_invoke('n_unknown', '{}', thread_id => 'x5') $$, '42703', NULL, 'node writing an unknown channel');
SELECT throws_ok($$ SELECT sg_invoke('n_bad_append', '{}', thread_id => 'x6') $$, '42804', NULL, 'node appending a non-array');
SELECT throws_ok($$ SELECT sg_invoke('n_bad_add', '{}', thread_id => 'x7') $$, '42804', NULL, 'node adding a non-number');
SELECT throws_ok($$ SELECT sg_invoke('n_error', '{}', thread_id => 'x8') $$, '22012', NULL, 'node raising an error');
SELECT throws_ok($$ SELECT sg_invoke('r_unknown', '{}', thread_id => 'x9') $$, 'SG005', NULL, 'router naming an unknown node');
SELECT throws_ok($$ SELECT sg_invoke('r_null', '{}', thread_id => 'x10') $$, 'SG005', NULL, 'router returning NULL');
SELECT throws_ok($$ SELECT sg_invoke('r_number', '{}', thread_id => 'x11') $$, 'SG005', NULL, 'router returning a number');
SELECT throws_ok($$ SELECT sg_invoke('r_unmapped', '{}', thread_id => 'x12') $$, 'SG005', NULL,
                 'router returning a value not in its path_map');
SELECT is((SELECT jsonb_agg(to_jsonb(c) ORDER BY thread_id, checkpoint_id) FROM stategraph.checkpoints c),
          (SELECT checkpoints FROM stored2), 'failing runs (on_error raise) stored nothing');
-- with on_error 'return' the same failures are data, and what came before is kept
SELECT is((sg_invoke('n_null', '{}', thread_id => 'y1', on_error => 'return') -> '__error__' ->> 'sqlstate'), 'SG003',
          'on_error return: node returning NULL');
SELECT is((sg_invoke('r_unknown', '{}', thread_id => 'y2', on_error => 'return') -> '__error__' ->> 'sqlstate'), 'SG005',
          'on_error return: router naming an unknown node');
SELECT is((SELECT status FROM sg_threads() WHERE thread_id = 'y2'), 'error', 'the thread shows the error');
SELECT is((SELECT count(*) FROM sg_get_state_history('y2'))::int, 2, 'the checkpoints before the failed step are kept');

-- huge and deeply nested jsonb: work or fail cleanly, never crash
SELECT lives_ok($$ SELECT sg_invoke('g', jsonb_build_object('meta', jsonb_build_object('blob', repeat('x', 10000000))),
                                    thread_id => 'huge') $$, 'a 10 MB value');
SELECT is((SELECT octet_length("values"->'meta'->>'blob') FROM sg_get_state('huge')), 10000000, 'the 10 MB value reads back');
SELECT lives_ok($$ SELECT sg_invoke('g', jsonb_build_object('meta', jsonb_build_object('deep',
                       (repeat('[', 3000) || repeat(']', 3000))::jsonb)), thread_id => 'deep') $$, 'a value 3000 levels deep');
SELECT is((SELECT jsonb_typeof("values"->'meta'->'deep') FROM sg_get_state('deep')), 'array', 'the deep value reads back');
SELECT lives_ok($$ SELECT sg_invoke('g', jsonb_build_object('log', (SELECT jsonb_agg(i) FROM generate_series(1, 100000) i)),
                                    thread_id => 'long') $$, 'an array of 100000 elements');
SELECT is((SELECT jsonb_array_length("values"->'log') FROM sg_get_state('long')), 100002, 'and its appends read back');
SELECT throws_ok($$ SELECT sg_create_graph('deep', jsonb_build_object(repeat('c', 600), 'replace')) $$, '22023', NULL,
                 'a channel name too long');
SELECT lives_ok($$ SELECT sg_create_graph('deep2', ('{"x": {"reducer": "replace", "default": ' || repeat('[', 2000)
                                                   || repeat(']', 2000) || '}}')::jsonb) $$,
                'a deep default is accepted');
SELECT ok((SELECT count(*) FROM stategraph.threads) > 0, 'the server is still here');

SELECT * FROM finish();
ROLLBACK;
