-- An input checkpoint whose first step failed (on_error 'return': a router
-- of __start__ named no node, or a reducer refused the input) keeps its
-- input only as its __start__ task's pending write: no loop checkpoint
-- follows it. Travelled back to, forked, or forked and its source deleted,
-- it must run that input again, as LangGraph replays the input that its
-- input checkpoint holds; it ran with no input at all.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA sem_failed_input_replay;
SET search_path = sem_failed_input_replay;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE TABLE answer (node text);
INSERT INTO answer VALUES ('nowhere');
CREATE FUNCTION pick(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT node FROM answer $$;
CREATE FUNCTION b(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"log": ["b"]}'::jsonb $$;
SELECT sg_create_graph('fr', '{"q": "replace", "log": "append"}');
SELECT sg_add_node('fr', 'b', 'b(jsonb)');
SELECT sg_add_conditional_edges('fr', '__start__', 'pick(jsonb)', '["b"]');
SELECT sg_add_edge('fr', 'b', '__end__');
SELECT sg_compile('fr');

-- the first step fails: the input stays pending on the input checkpoint
SELECT sg_invoke('fr', '{"q": "first", "log": ["in1"]}', thread_id => 'fr-1', on_error => 'return')->'__error__'->>'message' AS error;
SELECT step, source, next, tasks->0->'result' AS input FROM sg_get_state('fr-1');
SELECT checkpoint_id AS failed FROM sg_get_state('fr-1') \gset
UPDATE answer SET node = 'b';
-- a new input moves the thread on, past the failed one
SELECT sg_invoke('fr', '{"q": "second", "log": ["in2"]}', thread_id => 'fr-1');

-- back to the failed input checkpoint: its input runs again
SELECT sg_invoke('fr', NULL, thread_id => 'fr-1', checkpoint_id => :'failed');
SELECT step, source, values FROM sg_get_state_history('fr-1', 3);

-- forked into another thread, and forked then cut off from its source
SELECT sg_fork('fr-1', :'failed', 'fr-2') IS NOT NULL AS forked;
SELECT sg_invoke('fr', NULL, thread_id => 'fr-2');
SELECT sg_fork('fr-1', :'failed', 'fr-3') IS NOT NULL AS forked;
SELECT sg_delete_thread('fr-1');
SELECT sg_invoke('fr', NULL, thread_id => 'fr-3');

-- a reducer that refuses the input: the same
CREATE FUNCTION small(current jsonb, update jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF (update #>> '{}')::int > (SELECT count(*) FROM answer) THEN
        RAISE EXCEPTION 'too big: %', update USING ERRCODE = '22003';
    END IF;
    RETURN to_jsonb(coalesce((current #>> '{}')::int, 0) + (update #>> '{}')::int);
END $$;
SELECT sg_create_graph('fs', '{"n": {"reducer": "small(jsonb,jsonb)", "default": 0}, "log": "append"}');
SELECT sg_add_node('fs', 'b', 'b(jsonb)');
SELECT sg_add_edge('fs', '__start__', 'b');
SELECT sg_add_edge('fs', 'b', '__end__');
SELECT sg_compile('fs');
SELECT sg_invoke('fs', '{"n": 2, "log": ["in"]}', thread_id => 'fs-1', on_error => 'return')->'__error__'->>'message' AS error;
SELECT checkpoint_id AS failed FROM sg_get_state('fs-1') \gset
INSERT INTO answer VALUES ('x');
SELECT sg_invoke('fs', '{"n": 1}', thread_id => 'fs-1');
SELECT sg_invoke('fs', NULL, thread_id => 'fs-1', checkpoint_id => :'failed');
SELECT step, source, values FROM sg_get_state_history('fs-1', 3);

DROP SCHEMA sem_failed_input_replay CASCADE;
