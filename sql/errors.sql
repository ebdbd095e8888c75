--
-- Node errors, on_error, pending writes of sibling tasks, retries.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA errors;
SET search_path = errors;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE TABLE effects (node text, n int);
CREATE TABLE switches (name text PRIMARY KEY, fail boolean NOT NULL);
INSERT INTO switches VALUES ('b', true);
CREATE FUNCTION work(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO effects VALUES (config->>'node', (config->>'step')::int);
    IF (SELECT fail FROM switches WHERE name = config->>'node') THEN
        RAISE EXCEPTION 'node % is broken', config->>'node' USING ERRCODE = 'division_by_zero',
              HINT = 'Fix the switch.';
    END IF;
    RETURN jsonb_build_object('log', jsonb_build_array(config->>'node'));
END $$;
SELECT sg_create_graph('jobs', '{"log": "append"}');
SELECT sg_add_node('jobs', 'a', 'work(jsonb,jsonb)');
SELECT sg_add_node('jobs', 'b', 'work(jsonb,jsonb)');
SELECT sg_add_node('jobs', 'c', 'work(jsonb,jsonb)');
SELECT sg_add_node('jobs', 'd', 'work(jsonb,jsonb)');
SELECT sg_add_edge('jobs', '__start__', 'a');
SELECT sg_add_edge('jobs', 'a', 'b');
SELECT sg_add_edge('jobs', 'a', 'c');
SELECT sg_add_edge('jobs', ARRAY['b', 'c'], 'd');
SELECT sg_add_edge('jobs', 'd', '__end__');
SELECT sg_compile('jobs');

-- on_error 'raise' (the default): like any SQL error, nothing is kept
SELECT sg_invoke('jobs', '{}', thread_id => 'raise-1');
SELECT count(*) AS threads, (SELECT count(*) FROM effects) AS effects
FROM stategraph.threads WHERE thread_id = 'raise-1';

-- on_error 'return': a WARNING, the error as the result, and every
-- checkpoint before the failure kept by a plain autocommit SELECT
SELECT (sg_invoke('jobs', '{}', thread_id => 'return-1', on_error => 'return')
        -> '__error__') - 'checkpoint_id' AS error;
-- the failing node's own writes were rolled back; its sibling c kept its writes as pending
SELECT node, n FROM effects ORDER BY n, node;
SELECT step, next, t->>'name' AS task, t->'error'->>'message' AS error, t->'error'->>'sqlstate' AS sqlstate,
       t->'result' AS result
FROM sg_get_state('return-1'), jsonb_array_elements(tasks) t;
SELECT thread_id, status, next FROM sg_threads('jobs');
-- a resume retries only the failed task; c does not run again
UPDATE switches SET fail = false;
TRUNCATE effects;
SELECT sg_invoke('jobs', NULL, thread_id => 'return-1');
SELECT node, n FROM effects ORDER BY n, node;
SELECT thread_id, status FROM sg_threads('jobs');
SELECT step, next, "values" FROM sg_get_state_history('return-1');
-- once the step has completed, its tasks show their results, and the failure
-- before the resume stays in the record, as in LangGraph's history
SELECT t->>'name' AS task, t->'error'->>'message' AS error, t->'error'->>'sqlstate' AS sqlstate, t->'result' AS result
FROM sg_get_state_history('return-1', filter => '{"step": 1}'), jsonb_array_elements(tasks) t;

-- a node returning something that is not an update
CREATE FUNCTION returns_null(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT NULL::jsonb $$;
CREATE FUNCTION returns_array(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '[1]'::jsonb $$;
CREATE FUNCTION returns_scalar(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '42'::jsonb $$;
CREATE FUNCTION returns_unknown(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"nope": 1}'::jsonb $$;
CREATE FUNCTION returns_bad_append(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"log": "x"}'::jsonb $$;
SELECT sg_create_graph('bad', '{"log": "append"}');
SELECT sg_add_node('bad', 'n', 'returns_null(jsonb)');
SELECT sg_add_edge('bad', '__start__', 'n');
SELECT sg_add_edge('bad', 'n', '__end__');
SELECT sg_compile('bad');
SELECT sg_invoke('bad', '{}');
SELECT sg_drop_graph('bad');
SELECT sg_create_graph('bad', '{"log": "append"}');
SELECT sg_add_node('bad', 'n', 'returns_array(jsonb)');
SELECT sg_add_edge('bad', '__start__', 'n');
SELECT sg_add_edge('bad', 'n', '__end__');
SELECT sg_compile('bad');
SELECT sg_invoke('bad', '{}');
SELECT sg_drop_graph('bad');
SELECT sg_create_graph('bad', '{"log": "append"}');
SELECT sg_add_node('bad', 'n', 'returns_scalar(jsonb)');
SELECT sg_add_edge('bad', '__start__', 'n');
SELECT sg_add_edge('bad', 'n', '__end__');
SELECT sg_compile('bad');
SELECT sg_invoke('bad', '{}');
SELECT sg_drop_graph('bad');
SELECT sg_create_graph('bad', '{"log": "append"}');
SELECT sg_add_node('bad', 'n', 'returns_unknown(jsonb)');
SELECT sg_add_edge('bad', '__start__', 'n');
SELECT sg_add_edge('bad', 'n', '__end__');
SELECT sg_compile('bad');
SELECT sg_invoke('bad', '{}');
SELECT sg_drop_graph('bad');
SELECT sg_create_graph('bad', '{"log": "append"}');
SELECT sg_add_node('bad', 'n', 'returns_bad_append(jsonb)');
SELECT sg_add_edge('bad', '__start__', 'n');
SELECT sg_add_edge('bad', 'n', '__end__');
SELECT sg_compile('bad');
SELECT sg_invoke('bad', '{}');
SELECT sg_invoke('bad', '{"log": 5}');
-- bad input is an error before anything runs, even with on_error 'return'
SELECT sg_invoke('bad', '{"log": 5}', thread_id => 'bad-input', on_error => 'return');
SELECT count(*) AS threads FROM stategraph.threads WHERE thread_id = 'bad-input';

-- retry policy: transient errors are retried within the call
CREATE TABLE attempts (n int);
CREATE FUNCTION flaky(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO attempts VALUES ((config->>'attempt')::int);
    IF (config->>'attempt')::int < 3 THEN
        RAISE EXCEPTION 'could not serialize access' USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN jsonb_build_object('log', jsonb_build_array('attempt ' || (config->>'attempt')));
END $$;
SELECT sg_create_graph('retry', '{"log": "append"}');
SELECT sg_add_node('retry', 'flaky', 'flaky(jsonb,jsonb)', retry => '{"max_attempts": 3, "backoff_ms": 1}');
SELECT sg_add_edge('retry', '__start__', 'flaky');
SELECT sg_add_edge('retry', 'flaky', '__end__');
SELECT sg_compile('retry');
SELECT sg_invoke('retry', '{}');
-- the failed attempts' own writes were rolled back
SELECT n FROM attempts;
-- not enough attempts
TRUNCATE attempts;
SELECT sg_drop_graph('retry');
SELECT sg_create_graph('retry', '{"log": "append"}');
SELECT sg_add_node('retry', 'flaky', 'flaky(jsonb,jsonb)', retry => '{"max_attempts": 2, "backoff_ms": 1}');
SELECT sg_add_edge('retry', '__start__', 'flaky');
SELECT sg_add_edge('retry', 'flaky', '__end__');
SELECT sg_compile('retry');
SELECT sg_invoke('retry', '{}');
-- other SQLSTATEs are not retried unless listed
SELECT sg_drop_graph('retry');
SELECT sg_create_graph('retry', '{"log": "append"}');
SELECT sg_add_node('retry', 'flaky', 'flaky(jsonb,jsonb)',
                   retry => '{"max_attempts": 5, "backoff_ms": 0, "sqlstates": ["22012"]}');
SELECT sg_add_edge('retry', '__start__', 'flaky');
SELECT sg_add_edge('retry', 'flaky', '__end__');
SELECT sg_compile('retry');
SELECT sg_invoke('retry', '{}');
SELECT sg_add_node('retry', 'other', 'flaky(jsonb,jsonb)', retry => '{"max_attempts": 0}');
SELECT sg_add_node('retry', 'other', 'flaky(jsonb,jsonb)', retry => '{"max_attempts": 2.5}');
SELECT sg_add_node('retry', 'other', 'flaky(jsonb,jsonb)', retry => '{"backoff_ms": 0.4}');
SELECT sg_add_node('retry', 'other', 'flaky(jsonb,jsonb)', retry => '{"tries": 3}');

-- a statement_timeout or cancel stops the call even with on_error 'return',
-- as PL/pgSQL's WHEN OTHERS does not catch it: nothing is recorded as a
-- node failure, and no retry policy applies
CREATE FUNCTION slow(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT pg_sleep(5); SELECT '{"log": ["slow"]}'::jsonb $$;
SELECT sg_create_graph('slow', '{"log": "append"}');
SELECT sg_add_node('slow', 'slow', 'slow(jsonb)', retry => '{"max_attempts": 3, "sqlstates": ["57014"]}');
SELECT sg_add_edge('slow', '__start__', 'slow');
SELECT sg_add_edge('slow', 'slow', '__end__');
SELECT sg_compile('slow');
SET statement_timeout = '200ms';
SELECT sg_invoke('slow', '{}', thread_id => 'slow-1', on_error => 'return');
RESET statement_timeout;
SELECT count(*) AS threads FROM stategraph.threads WHERE thread_id = 'slow-1';
-- names and ids have a bounded length
SELECT sg_invoke('retry', '{}', thread_id => repeat('x', 600));
SELECT sg_add_node('retry', repeat('n', 600), 'flaky(jsonb,jsonb)');

SET client_min_messages = warning;
DROP SCHEMA errors CASCADE;
