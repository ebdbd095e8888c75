--
-- The per-backend state cache never serves a state that storage does not
-- hold: not after a rollback, nor after another change to the thread.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA state_cache;
SET search_path = state_cache;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION count_up(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('n', (state->>'n')::int + 1, 'log', jsonb_build_array((state->>'n')::int + 1)) $$;
SELECT sg_create_graph('counter', '{"n": "replace", "log": "append"}');
SELECT sg_add_node('counter', 'up', 'count_up(jsonb)');
SELECT sg_add_edge('counter', '__start__', 'up');
SELECT sg_add_edge('counter', 'up', '__end__');
SELECT sg_compile('counter');

SELECT sg_invoke('counter', '{"n": 0}', thread_id => 'c') AS first;
SELECT sg_invoke('counter', '{}', thread_id => 'c') AS second;

-- a run rolled back to a savepoint is forgotten
BEGIN;
SAVEPOINT before_run;
SELECT sg_invoke('counter', '{}', thread_id => 'c') AS rolled_back;
ROLLBACK TO SAVEPOINT before_run;
SELECT "values" AS after_rollback FROM sg_get_state('c');
SELECT sg_invoke('counter', '{}', thread_id => 'c') AS third;
COMMIT;

-- a whole transaction rolled back too
BEGIN;
SELECT sg_invoke('counter', '{}', thread_id => 'c') AS rolled_back;
ROLLBACK;
SELECT "values" AS after_rollback FROM sg_get_state('c');

-- a change made behind the cache's back (here: directly in storage, as
-- another session's commit would look) is seen at once
SELECT sg_update_state('c', '{"n": 100}', as_node => 'up') IS NOT NULL AS updated;
SELECT sg_invoke('counter', '{}', thread_id => 'c') ->> 'n' AS n;
UPDATE stategraph.threads SET status = status WHERE thread_id = 'c';
SELECT "values"->'n' AS n FROM sg_get_state('c');

-- a failure recorded on the head in the same transaction as an earlier run
-- (one transaction writes both row versions, so they share their xmin):
-- the snapshot and the resume see the failure and the sibling's pending write
CREATE TABLE cache_switch (broken boolean NOT NULL);
INSERT INTO cache_switch VALUES (true);
CREATE TABLE cache_effects (node text NOT NULL);
CREATE FUNCTION cache_a(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"log": ["a"]}'::jsonb $$;
CREATE FUNCTION cache_b(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cache_effects VALUES ('b');
    IF (SELECT broken FROM cache_switch) THEN
        RAISE EXCEPTION 'b is broken';
    END IF;
    RETURN '{"log": ["b"]}';
END $$;
CREATE FUNCTION cache_c(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cache_effects VALUES ('c');
    RETURN '{"log": ["c"]}';
END $$;
SELECT sg_create_graph('fanout', '{"log": "append"}');
SELECT sg_add_node('fanout', 'a', 'cache_a(jsonb)');
SELECT sg_add_node('fanout', 'b', 'cache_b(jsonb)');
SELECT sg_add_node('fanout', 'c', 'cache_c(jsonb)');
SELECT sg_add_edge('fanout', '__start__', 'a');
SELECT sg_add_edge('fanout', 'a', 'b');
SELECT sg_add_edge('fanout', 'a', 'c');
SELECT sg_add_edge('fanout', 'b', '__end__');
SELECT sg_add_edge('fanout', 'c', '__end__');
SELECT sg_compile('fanout', interrupt_after => ARRAY['a']);
BEGIN;
SELECT sg_invoke('fanout', '{}', thread_id => 'f') AS paused;
SELECT sg_invoke('fanout', NULL, thread_id => 'f', on_error => 'return') ? '__error__' AS failed;
SELECT step, next, t->>'name' AS task, t->'error'->>'message' AS error, t->'result' AS result
FROM sg_get_state('f'), jsonb_array_elements(tasks) t;
UPDATE cache_switch SET broken = false;
SELECT sg_invoke('fanout', NULL, thread_id => 'f') AS resumed;
COMMIT;
SELECT node, count(*) FROM cache_effects GROUP BY node ORDER BY node;

-- the cache can be turned off, also for what it already holds: a change
-- made behind its back without a new row version shows at once
SELECT sg_invoke('counter', '{}', thread_id => 'c') ->> 'n' AS n;
BEGIN;
UPDATE stategraph.checkpoints c SET writes = '[["up", {"n": 42, "log": [42]}]]'
FROM stategraph.threads t WHERE t.thread_id = 'c' AND c.thread_id = 'c' AND c.checkpoint_id = t.head;
SET LOCAL stategraph.state_cache = 0;
SELECT "values"->'n' AS n FROM sg_get_state('c');
ROLLBACK;
-- results are the same with the cache off
SET stategraph.state_cache = 0;
SELECT sg_invoke('counter', '{}', thread_id => 'c') ->> 'n' AS n;
SELECT "values" FROM sg_get_state('c');
RESET stategraph.state_cache;
SELECT sg_invoke('counter', '{}', thread_id => 'c') ->> 'n' AS n;
SELECT jsonb_array_length("values"->'log') AS log_length,
       (SELECT count(*) FROM sg_get_state_history('c')) AS checkpoints
FROM sg_get_state('c');

SET client_min_messages = warning;
DROP SCHEMA state_cache CASCADE;
