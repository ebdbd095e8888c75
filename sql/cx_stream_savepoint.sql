--
-- An sg_stream read through a cursor stores each step in the (sub)transaction
-- of its FETCH. After a ROLLBACK TO SAVEPOINT undid some of them (a
-- statement_timeout in the savepoint, say), the cursor must not go on: its
-- next step would be stored on a checkpoint that is gone, and the thread
-- would read wrong from then on.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA cx_stream_savepoint;
SET search_path = cx_stream_savepoint;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION step(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('n', (state->>'n')::int + 1, 'log', jsonb_build_array(config->>'node'))
$$;
SELECT sg_create_graph('chain', '{"n": "replace", "log": "append"}');
SELECT sg_add_node('chain', 'a', 'step(jsonb,jsonb)');
SELECT sg_add_node('chain', 'b', 'step(jsonb,jsonb)');
SELECT sg_add_node('chain', 'c', 'step(jsonb,jsonb)');
SELECT sg_add_edge('chain', '__start__', 'a');
SELECT sg_add_edge('chain', 'a', 'b');
SELECT sg_add_edge('chain', 'b', 'c');
SELECT sg_add_edge('chain', 'c', '__end__');
SELECT sg_compile('chain');

-- a step fetched in a savepoint that is rolled back: the next FETCH is refused
BEGIN;
DECLARE c CURSOR FOR SELECT (s).step, (s).node FROM (SELECT sg_stream('chain', '{"n": 0}', 'kept') s) q;
FETCH 1 FROM c;
SAVEPOINT x;
FETCH 1 FROM c;
SET LOCAL statement_timeout = '10ms';
SELECT pg_sleep(1);
ROLLBACK TO x;
FETCH ALL FROM c;
ROLLBACK;
-- the steps fetched before the savepoint, committed, read whole; resuming finishes the run
BEGIN;
DECLARE c CURSOR FOR SELECT (s).step, (s).node FROM (SELECT sg_stream('chain', '{"n": 0}', 'kept') s) q;
FETCH 1 FROM c;
SAVEPOINT x;
FETCH 1 FROM c;
ROLLBACK TO x;
CLOSE c;
COMMIT;
SELECT step, "values", next FROM sg_get_state('kept');
SELECT step, "values" ->> 'n' AS n FROM sg_get_state_history('kept');
SELECT sg_invoke('chain', NULL, 'kept');
SELECT thread_id, status, next, checkpoints FROM sg_threads('chain');

-- the same from PL/pgSQL: a FETCH inside a block whose exception handler
-- rolled it back (a lock_timeout in the loop's own work, say)
CREATE FUNCTION read_stream(thread text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    cur refcursor;
    r record;
BEGIN
    OPEN cur FOR SELECT (s).step, (s).node FROM (SELECT sg_stream('chain', '{"n": 0}', thread) s) q;
    LOOP
        BEGIN
            FETCH cur INTO r;
            EXIT WHEN NOT FOUND;
            RETURN NEXT r.node;
            IF r.node = 'a' THEN
                PERFORM 1 / 0;
            END IF;
        EXCEPTION WHEN division_by_zero THEN
            RETURN NEXT 'rolled back';
        END;
    END LOOP;
END $$;
SELECT sg_invoke('chain', '{"n": 10}', 'in_block');
SELECT read_stream('in_block');
SELECT step, "values" FROM sg_get_state('in_block');
SELECT count(*) AS checkpoints FROM sg_get_state_history('in_block');

-- a savepoint released (not rolled back) keeps the steps: the stream goes on
BEGIN;
DECLARE c CURSOR FOR SELECT (s).step, (s).node FROM (SELECT sg_stream('chain', '{"n": 0}', 'released') s) q;
FETCH 1 FROM c;
SAVEPOINT x;
FETCH 1 FROM c;
RELEASE x;
SAVEPOINT y;
ROLLBACK TO y;
FETCH ALL FROM c;
COMMIT;
SELECT step, "values" FROM sg_get_state('released');
SELECT count(*) AS checkpoints FROM sg_get_state_history('released');

-- a stream declared inside the savepoint goes with it
BEGIN;
SAVEPOINT x;
DECLARE c CURSOR FOR SELECT (s).step, (s).node FROM (SELECT sg_stream('chain', '{"n": 0}', 'inner') s) q;
FETCH 2 FROM c;
ROLLBACK TO x;
SELECT sg_invoke('chain', '{"n": 5}', 'inner');
COMMIT;
SELECT step, "values" FROM sg_get_state('inner');

-- a stream without a thread stores nothing and is not refused
BEGIN;
DECLARE c CURSOR FOR SELECT (s).step, (s).node FROM (SELECT sg_stream('chain', '{"n": 0}') s) q;
FETCH 1 FROM c;
SAVEPOINT x;
FETCH 1 FROM c;
ROLLBACK TO x;
FETCH ALL FROM c;
COMMIT;

DROP SCHEMA cx_stream_savepoint CASCADE;
