--
-- An sg_invoke that fails lets go of its thread at once. A reducer or
-- router written in SQL runs its statements in a context under the
-- graph's cached function, which outlives the transaction: its failed
-- sg_invoke held the thread for the backend's life, and every later run
-- of it was refused with 55000 ("is already running in this session").
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA held_thread_invoke_fails;
SET search_path = held_thread_invoke_fails;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION zero(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"v": [0]}'::jsonb $$;
SELECT sg_create_graph('g', '{"v": {"reducer": "append"}}');
SELECT sg_add_node('g', 'a', 'zero(jsonb)');
SELECT sg_add_edge('g', '__start__', 'a');
SELECT sg_add_edge('g', 'a', '__end__');
SELECT sg_compile('g');
SELECT sg_invoke('g', '{"v": [1]}', 'z') IS NOT NULL AS started;

-- graph h's reducer (SQL) runs thread z with graph h: z is g's, refused
-- after the run took the thread
CREATE FUNCTION red_z(cur jsonb, upd jsonb) RETURNS jsonb LANGUAGE sql AS
$$ SELECT upd FROM (SELECT sg_invoke('h', '{}', 'z')) s $$;
CREATE FUNCTION one(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"w": 2}'::jsonb $$;
SELECT sg_create_graph('h', '{"w": {"reducer": "red_z(jsonb,jsonb)"}}');
SELECT sg_add_node('h', 'b', 'one(jsonb)');
SELECT sg_add_edge('h', '__start__', 'b');
SELECT sg_add_edge('h', 'b', '__end__');
SELECT sg_compile('h');
SELECT sg_invoke('h', '{"w": 1}', 'y');
DO $$
BEGIN
    PERFORM sg_invoke('h', '{"w": 1}', 'y');
EXCEPTION WHEN others THEN
    RAISE NOTICE 'caught: %', SQLERRM;
END $$;

-- thread z is free: run and updated in this session
SELECT sg_invoke('g', '{"v": [7]}', 'z') -> 'v' AS v;
SELECT sg_update_state('z', '{"v": [5]}') IS NOT NULL AS updated;

-- the same with sg_stream: graph k's reducer streams thread z with graph k
CREATE FUNCTION red_s(cur jsonb, upd jsonb) RETURNS jsonb LANGUAGE sql AS
$$ SELECT upd FROM (SELECT count(*) FROM sg_stream('k', '{}', 'z')) s $$;
SELECT sg_create_graph('k', '{"w": {"reducer": "red_s(jsonb,jsonb)"}}');
SELECT sg_add_node('k', 'b', 'one(jsonb)');
SELECT sg_add_edge('k', '__start__', 'b');
SELECT sg_add_edge('k', 'b', '__end__');
SELECT sg_compile('k');
SELECT sg_invoke('k', '{"w": 1}', 'y');
SELECT sg_invoke('g', '{"v": [8]}', 'z') -> 'v' AS v;
-- a stream that fails at a later step lets go too
CREATE FUNCTION boom(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT ('{"v": [' || (1/0) || ']}')::jsonb $$;
SELECT sg_create_graph('bad', '{"v": {"reducer": "append"}}');
SELECT sg_add_node('bad', 'a', 'zero(jsonb)');
SELECT sg_add_node('bad', 'b', 'boom(jsonb)');
SELECT sg_add_edge('bad', '__start__', 'a');
SELECT sg_add_edge('bad', 'a', 'b');
SELECT sg_add_edge('bad', 'b', '__end__');
SELECT sg_compile('bad');
CREATE FUNCTION red_bad(cur jsonb, upd jsonb) RETURNS jsonb LANGUAGE sql AS
$$ SELECT upd FROM (SELECT count(*) FROM sg_stream('bad', '{"v": [1]}', 'b1')) s $$;
SELECT sg_create_graph('m', '{"w": {"reducer": "red_bad(jsonb,jsonb)"}}');
SELECT sg_add_node('m', 'b', 'one(jsonb)');
SELECT sg_add_edge('m', '__start__', 'b');
SELECT sg_add_edge('m', 'b', '__end__');
SELECT sg_compile('m');
SELECT sg_invoke('m', '{"w": 1}', 'y');
SELECT sg_invoke('g', '{"v": [9]}', 'b1') -> 'v' AS v;

SET client_min_messages = warning;
DROP SCHEMA held_thread_invoke_fails CASCADE;
