--
-- An sg_complete whose step then fails lets go of the thread it went on
-- with. The last task of a step completed without a background run goes
-- on with the step in the completion's session (continue_step); called
-- from a reducer or router written in SQL, that run lived in a context
-- under the graph's cached function, which outlives the transaction: a
-- step cancelled by statement_timeout left the thread held for the
-- backend's life, and every later run of it in this session was refused
-- with 55000 ("is already running in this session"). (Such a cancel is
-- now caught in the completion, which leaves the step: the thread must be
-- let go all the same.)
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA held_thread_complete_fails;
SET search_path = held_thread_complete_fails;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- graph g: an external node, then a slow SQL node
CREATE FUNCTION slow(state jsonb) RETURNS jsonb LANGUAGE sql AS
$$ SELECT '{"out": ["slow"]}'::jsonb FROM pg_sleep((state->>'sleep')::float8) $$;
SELECT sg_create_graph('g', '{"out": "append", "sleep": "replace"}');
SELECT sg_add_external_node('g', 'work', 'q');
SELECT sg_add_node('g', 'slow', 'slow(jsonb)');
SELECT sg_add_edge('g', '__start__', 'work');
SELECT sg_add_edge('g', 'work', 'slow');
SELECT sg_add_edge('g', 'slow', '__end__');
SELECT sg_compile('g');
SELECT sg_invoke('g', '{"out": [], "sleep": 1}', 't1') -> '__waiting__' -> 0 ->> 'node' AS waits_on;
CREATE TABLE c AS SELECT task_id, token FROM sg_claim('q', 'w');

-- graph h's reducer (SQL) completes t1's task: t1's step goes on there,
-- and its slow node is cancelled by statement_timeout
CREATE FUNCTION red_c(cur jsonb, upd jsonb) RETURNS jsonb LANGUAGE sql AS
$$ SELECT upd FROM (SELECT sg_complete(task_id, token, '{"out": ["done"]}') FROM c) s $$;
CREATE FUNCTION one(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"w": 2}'::jsonb $$;
SELECT sg_create_graph('h', '{"w": {"reducer": "red_c(jsonb,jsonb)"}}');
SELECT sg_add_node('h', 'b', 'one(jsonb)');
SELECT sg_add_edge('h', '__start__', 'b');
SELECT sg_add_edge('h', 'b', '__end__');
SELECT sg_compile('h');
SET statement_timeout = '300ms';
DO $$
BEGIN
    PERFORM sg_invoke('h', '{"w": 1}', 'y');
EXCEPTION WHEN query_canceled THEN
    RAISE NOTICE 'caught: %', SQLERRM;
END $$;
RESET statement_timeout;

-- the step cancelled under way is left (TAP 298): the completion is taken,
-- and a run of t1's owner goes on with the step (this session's CALL
-- sg_work, or a background worker): t1 is free in this session to be run,
-- read and updated (held, the run failed with 55000 and t1 stayed waiting)
SELECT status, result FROM sg_tasks('q');
CALL sg_work();
DO $$
BEGIN
    FOR i IN 1..300 LOOP
        EXIT WHEN (SELECT status FROM sg_threads('g') WHERE thread_id = 't1') = 'done';
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT values -> 'out' AS out, next FROM sg_get_state('t1');
SELECT sg_invoke('g', NULL, 't1') ? '__waiting__' AS waits;
SELECT sg_update_state('t1', '{"sleep": 1}') IS NOT NULL AS updated;

SET client_min_messages = warning;
DROP SCHEMA held_thread_complete_fails CASCADE;
