--
-- Defining graphs: channels and reducers, nodes, edges, conditional edges,
-- compile-time validation, recompiling and dropping.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA definition;
SET search_path = definition;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION noop(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
CREATE FUNCTION noop2(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
CREATE FUNCTION wrong_type(state text) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
CREATE FUNCTION wrong_return(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$;
CREATE FUNCTION longest(a jsonb, b jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT CASE WHEN length(a::text) >= length(b::text) THEN a ELSE b END $$;
CREATE FUNCTION bad_reducer(a jsonb, b jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$;
CREATE FUNCTION go_to(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'b' $$;

-- channels: a reducer name, or {"reducer", "default"}; defaults as LangGraph's
SELECT sg_create_graph('g', '{"messages": "append", "count": "add", "meta": "merge", "step": "replace",
                              "best": "longest", "tags": {"reducer": "append", "default": ["new"]},
                              "mode": {"default": "draft"}}');
SELECT channels FROM stategraph.graphs WHERE graph = 'g';
SELECT sg_add_node('g', 'a', 'noop(jsonb)');
SELECT sg_add_node('g', 'b', 'noop2(jsonb,jsonb)', retry => '{"max_attempts": 2}');
SELECT sg_add_edge('g', '__start__', 'a');
SELECT sg_add_edge('g', 'a', 'b');
SELECT sg_add_edge('g', 'a', 'b');  -- the same edge twice is one edge
SELECT sg_add_edge('g', 'b', '__end__');
SELECT sg_compile('g');
SELECT version, spec->'nodes' AS nodes, spec->'edges' AS edges FROM stategraph.graphs WHERE graph = 'g';
-- the initial state: defaults, and empty channels left out
SELECT sg_invoke('g', '{}');
-- reducers at work
CREATE FUNCTION all_channels(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT '{"messages": ["m"], "count": 2.5, "meta": {"k": 1}, "step": 7, "best": "longer value"}'::jsonb $$;
SELECT sg_create_graph('r', '{"messages": "append", "count": "add", "meta": "merge", "step": "replace", "best": "longest"}');
SELECT sg_add_node('r', 'x', 'all_channels(jsonb)');
SELECT sg_add_node('r', 'y', 'all_channels(jsonb)');
SELECT sg_add_edge('r', '__start__', 'x');
SELECT sg_add_edge('r', 'x', 'y');
SELECT sg_add_edge('r', 'y', '__end__');
SELECT sg_compile('r');
SELECT sg_invoke('r', '{"messages": ["start"], "count": 1, "meta": {"a": 0}, "best": "b"}');

-- a draft changes nothing until it is compiled again
SELECT sg_add_node('g', 'c', 'noop(jsonb)');
SELECT sg_add_edge('g', 'b', 'c');
SELECT sg_add_edge('g', 'c', '__end__');
SELECT sg_invoke('g', '{}', thread_id => 'g-1') IS NOT NULL AS ran_old_version;
SELECT next FROM sg_get_state_history('g-1', filter => '{"step": 1}');
SELECT sg_compile('g');
SELECT version FROM stategraph.graphs WHERE graph = 'g';
SELECT sg_invoke('g', '{}', thread_id => 'g-2') IS NOT NULL AS ran_new_version;
SELECT next FROM sg_get_state_history('g-2', filter => '{"step": 2}');

-- rejected definitions
SELECT sg_create_graph('g', '{"x": "replace"}');
SELECT sg_create_graph('', '{"x": "replace"}');
SELECT sg_create_graph('h', '{}');
SELECT sg_create_graph('h', '[]');
SELECT sg_create_graph('h', '{"x": "sum"}');
SELECT sg_create_graph('h', '{"x": 5}');
SELECT sg_create_graph('h', '{"x": {"reducer": "append", "default": 5}}');
SELECT sg_create_graph('h', '{"x": {"reduce": "append"}}');
SELECT sg_create_graph('h', '{"__x": "append"}');
SELECT sg_create_graph('h', '{"x": "wrong_type"}');
-- reducer names that are not valid names or signatures: errors of the channel
SELECT sg_create_graph('h', '{"x": "longest(jsonb"}');
SELECT sg_create_graph('h', '{"x": ""}');
SELECT sg_create_graph('h', '{"x": "longest(jsonb,notatype)"}');
SELECT sg_create_graph('h', '{"x": "a.b.c.d"}');
SELECT sg_create_graph('h', '{"x": "replace"}');
SELECT sg_add_node('h', '__start__', 'noop(jsonb)');
SELECT sg_add_node('h', 'x', 'noop(jsonb)');
SELECT sg_add_node('h', 'n', 'wrong_type(text)');
SELECT sg_add_node('h', 'n', 'wrong_return(jsonb)');
SELECT sg_add_node('h', 'n', 'noop(jsonb)');
SELECT sg_add_node('h', 'n', 'noop(jsonb)');
SELECT sg_add_node('h', 'm', 'noop(jsonb)', retry => '[]');
SELECT sg_add_node('nope', 'n', 'noop(jsonb)');
SELECT sg_add_edge('h', '__end__', 'n');
SELECT sg_add_edge('h', 'n', '__start__');
SELECT sg_add_edge('h', ARRAY[]::text[], 'n');
SELECT sg_add_edge('h', ARRAY['n', 'n'], 'n');
SELECT sg_add_conditional_edges('h', 'n', 'wrong_type(text)');
SELECT sg_add_conditional_edges('h', 'n', 'noop2(jsonb,jsonb)');
SELECT sg_create_graph('h2', '{"x": "bad_reducer"}');
SELECT sg_add_conditional_edges('h', 'n', 'go_to(jsonb)', '"b"');
SELECT sg_add_conditional_edges('h', 'n', 'go_to(jsonb)', '[]');
-- compile-time validation, one error at a time
SELECT sg_compile('h');                               -- no entry point
SELECT sg_add_edge('h', '__start__', 'n');
SELECT sg_compile('h');                               -- n is a dead end
SELECT sg_add_edge('h', 'n', 'ghost');
SELECT sg_compile('h');                               -- unknown node
DELETE FROM stategraph.edges WHERE graph = 'h' AND target = 'ghost';
SELECT sg_add_edge('h', 'n', '__end__');
SELECT sg_add_node('h', 'island', 'noop(jsonb)');
SELECT sg_add_edge('h', 'island', '__end__');
SELECT sg_compile('h');                               -- island is unreachable
SELECT sg_add_conditional_edges('h', 'n', 'go_to(jsonb)');
SELECT sg_compile('h');                               -- a router without path_map may go anywhere
SELECT sg_compile('nope');
-- the rejected compiles left the compiled spec alone
SELECT version FROM stategraph.graphs WHERE graph = 'h';
-- a node whose function was dropped
DROP FUNCTION noop2(jsonb, jsonb);
SELECT sg_compile('g');
SELECT sg_invoke('g', '{}');
-- functions are kept by signature: once it is defined again, the graph compiles again
CREATE FUNCTION noop2(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
SELECT fn FROM stategraph.nodes WHERE graph = 'g' AND node = 'b';
SELECT sg_compile('g');
SELECT sg_invoke('g', '{}') IS NOT NULL AS ran;
-- while a node's function is gone, adding the node again gives it another one
DROP FUNCTION noop2(jsonb, jsonb);
SELECT sg_add_node('g', 'b', 'noop(jsonb)');
SELECT sg_compile('g');
SELECT sg_invoke('g', '{}') IS NOT NULL AS ran;
-- but a node whose function exists is not replaced
SELECT sg_add_node('g', 'b', 'noop(jsonb)');

-- dropping a graph keeps its threads readable
SELECT sg_drop_graph('g');
SELECT step FROM sg_get_state('g-2');
SELECT sg_invoke('g', NULL, thread_id => 'g-2');
SELECT sg_drop_graph('g');
SELECT count(*) FROM stategraph.nodes WHERE graph = 'g';

SET client_min_messages = warning;
DROP SCHEMA definition CASCADE;
