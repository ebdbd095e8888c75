--
-- An sg_update_state that fails lets go of its thread at once. A reducer
-- or router written in SQL runs its statements in a context under the
-- graph's cached function, which outlives the transaction: its failed
-- sg_update_state held the thread for the backend's life, and later
-- updates and runs of it were refused with 55000 ("while this session is
-- updating it", "is being updated in this session").
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA held_thread_update_fails;
SET search_path = held_thread_update_fails;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION zero(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"v": [0]}'::jsonb $$;
SELECT sg_create_graph('g', '{"v": {"reducer": "append"}}');
SELECT sg_add_node('g', 'a', 'zero(jsonb)');
SELECT sg_add_edge('g', '__start__', 'a');
SELECT sg_add_edge('g', 'a', '__end__');
SELECT sg_compile('g');
SELECT sg_invoke('g', '{"v": [1]}', 'x') IS NOT NULL AS started;

-- graph h's reducer (SQL) updates thread x with a channel g does not have
CREATE FUNCTION red_x(cur jsonb, upd jsonb) RETURNS jsonb LANGUAGE sql AS
$$ SELECT upd FROM (SELECT sg_update_state('x', '{"nosuch": 1}')) s $$;
CREATE FUNCTION one(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"w": 2}'::jsonb $$;
SELECT sg_create_graph('h', '{"w": {"reducer": "red_x(jsonb,jsonb)"}}');
SELECT sg_add_node('h', 'b', 'one(jsonb)');
SELECT sg_add_edge('h', '__start__', 'b');
SELECT sg_add_edge('h', 'b', '__end__');
SELECT sg_compile('h');
SELECT sg_invoke('h', '{"w": 1}', 'y');
-- the failure is caught too
DO $$
BEGIN
    PERFORM sg_invoke('h', '{"w": 1}', 'y');
EXCEPTION WHEN others THEN
    RAISE NOTICE 'caught: %', SQLERRM;
END $$;

-- thread x is free: updated and run in this session
SELECT sg_update_state('x', '{"v": [5]}') IS NOT NULL AS updated;
SELECT sg_invoke('g', '{"v": [7]}', 'x') -> 'v' AS v;

SET client_min_messages = warning;
DROP SCHEMA held_thread_update_fails CASCADE;
