--
-- A thread held by an sg_stream left open in a cursor: the calls that would
-- change it are refused with an error that names the cursor, not the
-- "return the change as the node's update" advice meant for a node.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA hist_stream_cursor;
SET search_path = hist_stream_cursor;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION inc(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('n', coalesce((state->>'n')::int, 0) + 1) $$;
SELECT sg_create_graph('g', '{"n": "replace"}');
SELECT sg_add_node('g', 'a', 'inc(jsonb)');
SELECT sg_add_node('g', 'b', 'inc(jsonb)');
SELECT sg_add_edge('g', '__start__', 'a');
SELECT sg_add_edge('g', 'a', 'b');
SELECT sg_add_edge('g', 'b', '__end__');
SELECT sg_compile('g');

BEGIN;
DECLARE c CURSOR FOR SELECT (sg_stream('g', '{}', 'held')).*;
FETCH 1 FROM c;
SAVEPOINT s;
SELECT sg_update_state('held', '{"n": 100}', as_node => 'b');
ROLLBACK TO s;
SELECT sg_delete_thread('held');
ROLLBACK TO s;
-- once closed, the thread is the caller's again: left at the step it ran
CLOSE c;
SELECT sg_update_state('held', '{"n": 100}', as_node => 'b') IS NOT NULL;
COMMIT;
SELECT step, source, next, "values" FROM sg_get_state_history('held');

-- inside a node the advice stays the node's
CREATE FUNCTION self_update(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sg_update_state('self', '{"n": 1}');
    RETURN '{}';
END $$;
SELECT sg_create_graph('s', '{"n": "replace"}');
SELECT sg_add_node('s', 'x', 'self_update(jsonb)');
SELECT sg_add_edge('s', '__start__', 'x');
SELECT sg_add_edge('s', 'x', '__end__');
SELECT sg_compile('s');
SELECT sg_invoke('s', '{}', thread_id => 'self');

SET client_min_messages = warning;
DROP SCHEMA hist_stream_cursor CASCADE;
