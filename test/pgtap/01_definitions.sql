-- Every rejected graph definition fails with its own SQLSTATE, and leaves
-- what is stored as it was.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION stategraph;
SELECT plan(70);

CREATE FUNCTION noop(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
CREATE FUNCTION noop_config(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
CREATE FUNCTION text_arg(state text) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
CREATE FUNCTION text_result(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'a' $$;
CREATE FUNCTION int_result(state jsonb) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
CREATE FUNCTION set_result(state jsonb) RETURNS SETOF jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
CREATE FUNCTION three_args(a jsonb, b jsonb, c jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT a $$;
CREATE FUNCTION bad_reducer(a jsonb, b jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$;
CREATE FUNCTION good_reducer(a jsonb, b jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT b $$;
CREATE PROCEDURE a_procedure(state jsonb) LANGUAGE sql AS $$ SELECT 1 $$;

SELECT sg_create_graph('g', '{"step": "replace", "log": "append"}');
SELECT sg_add_node('g', 'a', 'noop(jsonb)');
SELECT sg_add_edge('g', '__start__', 'a');
SELECT sg_add_edge('g', 'a', '__end__');
SELECT sg_compile('g');

CREATE TEMP TABLE before AS
SELECT (SELECT jsonb_agg(to_jsonb(x) ORDER BY graph) FROM stategraph.graphs x) AS graphs,
       (SELECT jsonb_agg(to_jsonb(x) ORDER BY graph, node) FROM stategraph.nodes x) AS nodes,
       (SELECT jsonb_agg(to_jsonb(x) ORDER BY graph, sources, target) FROM stategraph.edges x) AS edges,
       (SELECT jsonb_agg(to_jsonb(x) ORDER BY graph, source) FROM stategraph.branches x) AS branches;
CREATE FUNCTION pg_temp.definitions_unchanged() RETURNS boolean LANGUAGE sql AS $$
    SELECT (SELECT jsonb_agg(to_jsonb(x) ORDER BY graph) FROM stategraph.graphs x) IS NOT DISTINCT FROM b.graphs
       AND (SELECT jsonb_agg(to_jsonb(x) ORDER BY graph, node) FROM stategraph.nodes x) IS NOT DISTINCT FROM b.nodes
       AND (SELECT jsonb_agg(to_jsonb(x) ORDER BY graph, sources, target) FROM stategraph.edges x) IS NOT DISTINCT FROM b.edges
       AND (SELECT jsonb_agg(to_jsonb(x) ORDER BY graph, source) FROM stategraph.branches x) IS NOT DISTINCT FROM b.branches
    FROM before b $$;

-- sg_create_graph
SELECT throws_ok($$ SELECT sg_create_graph(NULL, '{"x": "replace"}') $$, '22004', NULL, 'graph NULL');
SELECT throws_ok($$ SELECT sg_create_graph('h', NULL) $$, '22004', NULL, 'channels NULL');
SELECT throws_ok($$ SELECT sg_create_graph('', '{"x": "replace"}') $$, '22023', NULL, 'empty graph name');
SELECT throws_ok($$ SELECT sg_create_graph('g', '{"x": "replace"}') $$, '42710', 'graph "g" already exists', 'duplicate graph');
SELECT throws_ok($$ SELECT sg_create_graph('h', '{}') $$, '22023', NULL, 'no channels');
SELECT throws_ok($$ SELECT sg_create_graph('h', '[1]') $$, '22023', NULL, 'channels not an object');
SELECT throws_ok($$ SELECT sg_create_graph('h', '"x"') $$, '22023', NULL, 'channels a scalar');
SELECT throws_ok($$ SELECT sg_create_graph('h', '{"x": "sum"}') $$, '22023', NULL, 'unknown reducer');
SELECT throws_ok($$ SELECT sg_create_graph('h', '{"x": 5}') $$, '22023', NULL, 'channel given as a number');
SELECT throws_ok($$ SELECT sg_create_graph('h', '{"x": {"reducer": 5}}') $$, '22023', NULL, 'reducer not a string');
SELECT throws_ok($$ SELECT sg_create_graph('h', '{"x": {"reduce": "append"}}') $$, '22023', NULL, 'unknown key in channel');
SELECT throws_ok($$ SELECT sg_create_graph('h', '{"x": {"reducer": "append", "default": 5}}') $$, '22023', NULL,
                 'append default not an array');
SELECT throws_ok($$ SELECT sg_create_graph('h', '{"x": {"reducer": "add", "default": "a"}}') $$, '22023', NULL,
                 'add default not a number');
SELECT throws_ok($$ SELECT sg_create_graph('h', '{"x": {"reducer": "merge", "default": []}}') $$, '22023', NULL,
                 'merge default not an object');
SELECT throws_ok($$ SELECT sg_create_graph('h', '{"__x": "replace"}') $$, '42939', NULL, 'reserved channel name');
SELECT throws_ok($$ SELECT sg_create_graph('h', '{"": "replace"}') $$, '22023', NULL, 'empty channel name');
SELECT throws_ok($$ SELECT sg_create_graph('h', '{"x": "bad_reducer"}') $$, '42P13', NULL, 'reducer returning text');
SELECT throws_ok($$ SELECT sg_create_graph('h', '{"x": "three_args"}') $$, '22023', NULL, 'reducer of the wrong arity');

-- sg_add_node
SELECT throws_ok($$ SELECT sg_add_node(NULL, 'n', 'noop(jsonb)') $$, '22004', NULL, 'add_node: graph NULL');
SELECT throws_ok($$ SELECT sg_add_node('g', NULL, 'noop(jsonb)') $$, '22004', NULL, 'add_node: node NULL');
SELECT throws_ok($$ SELECT sg_add_node('g', 'n', NULL) $$, '22004', NULL, 'add_node: fn NULL');
SELECT throws_ok($$ SELECT sg_add_node('g', '', 'noop(jsonb)') $$, '22023', NULL, 'add_node: empty name');
SELECT throws_ok($$ SELECT sg_add_node('nope', 'n', 'noop(jsonb)') $$, '42704', 'graph "nope" does not exist',
                 'add_node: unknown graph');
SELECT throws_ok($$ SELECT sg_add_node('g', '__start__', 'noop(jsonb)') $$, '42939', NULL, 'add_node: __start__');
SELECT throws_ok($$ SELECT sg_add_node('g', '__end__', 'noop(jsonb)') $$, '42939', NULL, 'add_node: __end__');
SELECT throws_ok($$ SELECT sg_add_node('g', 'a', 'noop(jsonb)') $$, '42710', NULL, 'add_node: duplicate node');
SELECT throws_ok($$ SELECT sg_add_node('g', 'step', 'noop(jsonb)') $$, '42710', NULL, 'add_node: named like a channel');
SELECT throws_ok($$ SELECT sg_add_node('g', 'n', 'text_arg(text)') $$, '42P13', NULL, 'add_node: text argument');
SELECT throws_ok($$ SELECT sg_add_node('g', 'n', 'text_result(jsonb)') $$, '42P13', NULL, 'add_node: text result');
SELECT throws_ok($$ SELECT sg_add_node('g', 'n', 'set_result(jsonb)') $$, '42P13', NULL, 'add_node: set-returning');
SELECT throws_ok($$ SELECT sg_add_node('g', 'n', 'three_args(jsonb,jsonb,jsonb)') $$, '42P13', NULL, 'add_node: three arguments');
SELECT throws_ok($$ SELECT sg_add_node('g', 'n', 'a_procedure(jsonb)') $$, '42P13', NULL, 'add_node: a procedure');
SELECT throws_ok($$ SELECT sg_add_node('g', 'n', 'noop(jsonb)', retry => '[]') $$, '22023', NULL, 'add_node: retry not an object');
SELECT throws_ok($$ SELECT sg_add_node('g', 'n', 'noop(jsonb)', retry => '{"max_attempts": 0}') $$, '22023', NULL,
                 'add_node: max_attempts 0');
SELECT throws_ok($$ SELECT sg_add_node('g', 'n', 'noop(jsonb)', retry => '{"sqlstates": ["nope"]}') $$, '22023', NULL,
                 'add_node: bad SQLSTATE');
SELECT throws_ok($$ SELECT sg_add_node('g', 'n', 'noop(jsonb)', retry => '{"tries": 1}') $$, '22023', NULL,
                 'add_node: unknown retry key');

-- sg_add_edge, sg_add_conditional_edges
SELECT throws_ok($$ SELECT sg_add_edge('g', NULL, 'a') $$, '22004', NULL, 'add_edge: source NULL');
SELECT throws_ok($$ SELECT sg_add_edge('nope', 'a', 'a') $$, '42704', NULL, 'add_edge: unknown graph');
SELECT throws_ok($$ SELECT sg_add_edge('g', '__end__', 'a') $$, '42939', NULL, 'add_edge: from __end__');
SELECT throws_ok($$ SELECT sg_add_edge('g', 'a', '__start__') $$, '42939', NULL, 'add_edge: to __start__');
SELECT throws_ok($$ SELECT sg_add_edge('g', ARRAY[]::text[], 'a') $$, '22023', NULL, 'join: no sources');
SELECT throws_ok($$ SELECT sg_add_edge('g', ARRAY['a', NULL], 'a') $$, '22004', NULL, 'join: a NULL source');
SELECT throws_ok($$ SELECT sg_add_edge('g', ARRAY['a', 'a'], 'a') $$, '22023', NULL, 'join: a source twice');
SELECT throws_ok($$ SELECT sg_add_edge('g', NULL::text[], 'a') $$, '22004', NULL, 'join: sources NULL');
SELECT throws_ok($$ SELECT sg_add_conditional_edges('g', 'a', 'text_arg(text)') $$, '42P13', NULL, 'router: text argument');
SELECT throws_ok($$ SELECT sg_add_conditional_edges('g', 'a', 'int_result(jsonb)') $$, '42P13', NULL, 'router: int result');
SELECT throws_ok($$ SELECT sg_add_conditional_edges('g', 'a', 'text_result(jsonb)', '5') $$, '22023', NULL,
                 'router: path_map a number');
SELECT throws_ok($$ SELECT sg_add_conditional_edges('g', 'a', 'text_result(jsonb)', '{"a": 5}') $$, '22023', NULL,
                 'router: path_map destination not a string');
SELECT throws_ok($$ SELECT sg_add_conditional_edges('g', '__end__', 'text_result(jsonb)') $$, '42939', NULL,
                 'router: from __end__');
SELECT throws_ok($$ SELECT sg_add_conditional_edges('g', 'a', NULL) $$, '22004', NULL, 'router NULL');
SELECT ok(pg_temp.definitions_unchanged(), 'the rejected calls changed no definition');
SELECT lives_ok($$ SELECT sg_create_graph('ok', '{"x": "good_reducer", "y": {"reducer": "good_reducer(jsonb,jsonb)"}}') $$,
                'custom reducers by name or by signature');

-- sg_compile: each problem has its own SQLSTATE
SELECT sg_create_graph('c', '{"x": "replace"}');
SELECT throws_ok($$ SELECT sg_compile('c') $$, 'SG001', 'graph "c" has no nodes', 'compile: no nodes');
SELECT sg_add_node('c', 'n', 'noop(jsonb)');
SELECT throws_ok($$ SELECT sg_compile('c') $$, 'SG001', 'graph "c" has no entry point', 'compile: no entry point');
SELECT sg_add_edge('c', '__start__', 'n');
SELECT throws_ok($$ SELECT sg_compile('c') $$, 'SG002', NULL, 'compile: dead end');
SELECT sg_add_edge('c', 'n', 'ghost');
SELECT throws_ok($$ SELECT sg_compile('c') $$, '42704', NULL, 'compile: unknown node');
DELETE FROM stategraph.edges WHERE graph = 'c' AND target = 'ghost';
SELECT sg_add_edge('c', 'n', '__end__');
SELECT sg_add_node('c', 'island', 'noop(jsonb)');
SELECT sg_add_edge('c', 'island', '__end__');
SELECT throws_ok($$ SELECT sg_compile('c') $$, 'SG001', 'node "island" of graph "c" is unreachable', 'compile: unreachable');
DELETE FROM stategraph.nodes WHERE graph = 'c' AND node = 'island';
DELETE FROM stategraph.edges WHERE graph = 'c' AND sources = '{island}';
SELECT throws_ok($$ SELECT sg_compile('c', interrupt_before => ARRAY['nope']) $$, '42704', NULL,
                 'compile: unknown interrupt_before node');
SELECT throws_ok($$ SELECT sg_compile('c', interrupt_after => ARRAY[NULL::text]) $$, '22004', NULL,
                 'compile: NULL interrupt_after node');
SELECT lives_ok($$ SELECT sg_compile('c', interrupt_before => ARRAY['*']) $$, 'compile: interrupt before every node');
SELECT is((SELECT version FROM stategraph.graphs WHERE graph = 'c'), 1, 'only the successful compile counted');
SELECT throws_ok($$ SELECT sg_compile('nope') $$, '42704', NULL, 'compile: unknown graph');
SELECT throws_ok($$ SELECT sg_compile(NULL) $$, '22004', NULL, 'compile: NULL graph');
CREATE FUNCTION doomed(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
SELECT sg_add_node('c', 'd', 'doomed(jsonb)');
SELECT sg_add_edge('c', 'n', 'd');
SELECT sg_add_edge('c', 'd', '__end__');
SELECT sg_compile('c');
DROP FUNCTION doomed(jsonb);
SELECT throws_ok($$ SELECT sg_compile('c') $$, '42883', NULL, 'compile: a node function was dropped');
SELECT throws_ok($$ SELECT sg_invoke('c', '{}') $$, '42883', NULL, 'invoke: a node function was dropped');
-- a graph that is defined but not compiled
SELECT sg_create_graph('raw', '{"x": "replace"}');
SELECT throws_ok($$ SELECT sg_invoke('raw', '{}') $$, '55000', 'graph "raw" is not compiled', 'invoke: not compiled');
-- dropping
SELECT throws_ok($$ SELECT sg_drop_graph('nope') $$, '42704', NULL, 'drop: unknown graph');
SELECT throws_ok($$ SELECT sg_drop_graph(NULL) $$, '22004', NULL, 'drop: NULL graph');
SELECT lives_ok($$ SELECT sg_drop_graph('raw') $$, 'drop a graph');
SELECT is((SELECT count(*) FROM stategraph.graphs WHERE graph = 'raw')::int, 0, 'the graph is gone');
SELECT * FROM finish();
ROLLBACK;
