-- A router that raises an error (on_error 'return') after its node ran: the
-- node's writes stay its task's pending writes and result, and a resume
-- asks the router again with them and goes where it says, without running
-- the node again (README, "Differences from LangGraph": LangGraph.js 1.7.3
-- takes the task as done on resume and ends the run without routing).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA sem_router_error_resume;
SET search_path = sem_router_error_resume;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE TABLE router_fails (yes bool);
INSERT INTO router_fails VALUES (true);
CREATE TABLE node_calls (node text);
CREATE FUNCTION work(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO node_calls VALUES (config->>'node');
    SELECT jsonb_build_object('log', jsonb_build_array(config->>'node'))
$$;
CREATE FUNCTION pick(state jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT yes FROM router_fails) THEN
        RAISE EXCEPTION 'router of a is down' USING ERRCODE = 'connection_failure';
    END IF;
    -- the router sees the writes of the node it routes from
    RETURN CASE WHEN state->'log' @> '["a"]' THEN 'b' ELSE '__end__' END;
END $$;
SELECT sg_create_graph('rf', '{"log": "append"}');
SELECT sg_add_node('rf', 'a', 'work(jsonb,jsonb)');
SELECT sg_add_node('rf', 'b', 'work(jsonb,jsonb)');
SELECT sg_add_edge('rf', '__start__', 'a');
SELECT sg_add_conditional_edges('rf', 'a', 'pick(jsonb)');
SELECT sg_add_edge('rf', 'b', '__end__');
SELECT sg_compile('rf');

SET client_min_messages = error;
SELECT sg_invoke('rf', '{"log": ["in"]}', thread_id => 'rf-1', on_error => 'return')
       -> '__error__' ->> 'message' AS error;
RESET client_min_messages;
-- a's task: the router's error, a's writes as its result
SELECT step, next, "values", tasks->0->'error'->>'sqlstate' AS sqlstate,
       tasks->0->'result' AS result
FROM sg_get_state('rf-1');
SELECT status FROM sg_threads() WHERE thread_id = 'rf-1';

-- the router works again: the resume routes a's writes to b; a runs once
UPDATE router_fails SET yes = false;
SELECT sg_invoke('rf', NULL, thread_id => 'rf-1') AS resumed;
SELECT node, count(*) AS calls FROM node_calls GROUP BY node ORDER BY node;
SELECT step, source, next, "values" FROM sg_get_state_history('rf-1');
SELECT status FROM sg_threads() WHERE thread_id = 'rf-1';

DROP SCHEMA sem_router_error_resume CASCADE;
