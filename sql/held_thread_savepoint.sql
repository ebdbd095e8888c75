--
-- A thread held by a run or an sg_update_state is let go when the
-- (sub)transaction it was taken in is rolled back, and kept when that
-- subtransaction commits (into its parent). An sg_stream read through a
-- cursor holds its thread between FETCHes; one begun in a savepoint that
-- is rolled back lost its hold and the thread's lock there, so its cursor
-- cannot go on.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA held_thread_savepoint;
SET search_path = held_thread_savepoint;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION step(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('log', jsonb_build_array(config->>'node'))
$$;
SELECT sg_create_graph('chain', '{"log": "append"}');
SELECT sg_add_node('chain', 'a', 'step(jsonb,jsonb)');
SELECT sg_add_node('chain', 'b', 'step(jsonb,jsonb)');
SELECT sg_add_node('chain', 'c', 'step(jsonb,jsonb)');
SELECT sg_add_edge('chain', '__start__', 'a');
SELECT sg_add_edge('chain', 'a', 'b');
SELECT sg_add_edge('chain', 'b', 'c');
SELECT sg_add_edge('chain', 'c', '__end__');
SELECT sg_compile('chain', interrupt_before => '{c}');

-- a stream begun in a savepoint that is released: the cursor still holds
-- the thread
BEGIN;
SAVEPOINT s;
DECLARE c1 CURSOR FOR SELECT (sg_stream('chain', '{"log": []}', 't1')).node;
FETCH 1 FROM c1;
RELEASE SAVEPOINT s;
SAVEPOINT s2;
SELECT sg_invoke('chain', NULL, 't1');
ROLLBACK TO SAVEPOINT s2;
FETCH ALL FROM c1;
CLOSE c1;
SELECT sg_invoke('chain', NULL, 't1') -> 'log' AS log;
COMMIT;

-- a stream begun in a savepoint that is rolled back, through a cursor
-- declared before it: the thread is free again, the cursor refused
-- (sg_stream in the select list, so that each FETCH runs one step; in
-- FROM the whole run is done at the first FETCH)
SELECT sg_invoke('chain', '{"log": []}', 't2') -> 'log' AS log;
-- (mode values: the first FETCH returns the state the run starts from,
-- having stored nothing; it used to read on, without the thread's lock)
BEGIN;
DECLARE c2 CURSOR FOR SELECT (sg_stream('chain', NULL, 't2', mode => 'values')).payload;
SAVEPOINT s;
FETCH 1 FROM c2;
ROLLBACK TO SAVEPOINT s;
SELECT (sg_get_state('t2')).next;
FETCH 1 FROM c2;
ROLLBACK;
BEGIN;
DECLARE c2 CURSOR FOR SELECT (sg_stream('chain', NULL, 't2')).node;
SAVEPOINT s;
FETCH 1 FROM c2;
ROLLBACK TO SAVEPOINT s;
SELECT sg_invoke('chain', NULL, 't2') -> 'log' AS log;
COMMIT;

-- an sg_update_state whose reducer fails inside a savepoint: the thread is free after the rollback
CREATE FUNCTION picky(cur jsonb, upd jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF upd = '"bad"' THEN RAISE EXCEPTION 'bad value'; END IF;
    RETURN upd;
END $$;
SELECT sg_create_graph('p', '{"v": {"reducer": "picky(jsonb,jsonb)"}}');
CREATE FUNCTION set_y(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"v": "y"}'::jsonb $$;
SELECT sg_add_node('p', 'a', 'set_y(jsonb)');
SELECT sg_add_edge('p', '__start__', 'a');
SELECT sg_add_edge('p', 'a', '__end__');
SELECT sg_compile('p');
SELECT sg_invoke('p', '{"v": "x"}', 't3') -> 'v' AS v;
BEGIN;
SAVEPOINT s;
SELECT sg_update_state('t3', '{"v": "bad"}');
ROLLBACK TO SAVEPOINT s;
SELECT sg_update_state('t3', '{"v": "good"}') IS NOT NULL AS updated;
COMMIT;
SELECT values -> 'v' AS v FROM sg_get_state('t3');

SET client_min_messages = warning;
DROP SCHEMA held_thread_savepoint CASCADE;
