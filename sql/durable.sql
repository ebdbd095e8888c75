--
-- CALL sg_run (durable mode: a commit after every super-step), and a
-- stream whose caller stops reading early.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA durable;
SET search_path = durable;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE TABLE effects (thread text, node text);
CREATE TABLE switches (node text PRIMARY KEY, fail boolean NOT NULL);
INSERT INTO switches VALUES ('c', false);
CREATE FUNCTION work(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO effects VALUES (config->>'thread_id', config->>'node');
    IF (SELECT fail FROM switches WHERE node = config->>'node') THEN
        RAISE EXCEPTION 'node % is broken', config->>'node';
    END IF;
    RETURN jsonb_build_object('log', jsonb_build_array(config->>'node'));
END $$;
SELECT sg_create_graph('pipe', '{"log": "append"}');
SELECT sg_add_node('pipe', 'a', 'work(jsonb,jsonb)');
SELECT sg_add_node('pipe', 'b', 'work(jsonb,jsonb)');
SELECT sg_add_node('pipe', 'c', 'work(jsonb,jsonb)');
SELECT sg_add_edge('pipe', '__start__', 'a');
SELECT sg_add_edge('pipe', 'a', 'b');
SELECT sg_add_edge('pipe', 'b', 'c');
SELECT sg_add_edge('pipe', 'c', '__end__');
SELECT sg_compile('pipe');
CREATE FUNCTION other_node(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
SELECT sg_create_graph('other', '{"log": "append"}');
SELECT sg_add_node('other', 'x', 'other_node(jsonb)');
SELECT sg_add_edge('other', '__start__', 'x');
SELECT sg_add_edge('other', 'x', '__end__');
SELECT sg_compile('other');

-- a durable run: the same checkpoints as sg_invoke, each step committed
CALL sg_run('pipe', '{}', 'run-1');
SELECT step, source, next, "values" FROM sg_get_state_history('run-1');
SELECT thread_id, status, next FROM sg_threads('pipe');
-- resuming a finished thread writes nothing
CALL sg_run('pipe', NULL, 'run-1');
SELECT count(*) AS checkpoints FROM sg_get_state_history('run-1');

-- a node failing mid-run: the steps before it stay committed, and a
-- resume runs only what is left, each node once
UPDATE switches SET fail = true;
CALL sg_run('pipe', '{}', 'run-2');
SELECT step, next, "values" FROM sg_get_state('run-2');
UPDATE switches SET fail = false;
CALL sg_run('pipe', NULL, 'run-2');
SELECT node, count(*) FROM effects WHERE thread = 'run-2' GROUP BY node ORDER BY node;
SELECT status FROM sg_threads('pipe') WHERE thread_id = 'run-2';

-- rejected calls; none leaves the thread's lock behind
BEGIN;
CALL sg_run('pipe', '{}', 'run-3');
ROLLBACK;
CALL sg_run('pipe', '{}', NULL);
CALL sg_run('pipe', NULL, 'no-such-thread');
-- with an input and a checkpoint_id: the hint says the checkpoint_id is what refers to a thread
SELECT sg_invoke('pipe', '{}', thread_id => 'no-such-thread', checkpoint_id => '01a24ffa-a770-709c-a5b3-5094b194d26f');
SELECT sg_submit('pipe', '{}', 'no-such-thread', checkpoint_id => '01a24ffa-a770-709c-a5b3-5094b194d26f');
SELECT count(*) FROM stategraph.runs WHERE thread_id = 'no-such-thread';
CALL sg_run('other', NULL, 'run-1');
CALL sg_run('pipe', NULL, 'run-1', resume => '"yes"');
SELECT count(*) AS locks_held FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();

-- a stream read only in part: the steps it ran are recorded on the thread,
-- so a resume goes on from there and runs no node twice
TRUNCATE effects;
SELECT node FROM (SELECT (sg_stream('pipe', '{}', thread_id => 'stream-1')).*) s LIMIT 1;
SELECT s.step, s.next, t.status FROM sg_get_state('stream-1') s JOIN sg_threads('pipe') t USING (thread_id);
SELECT sg_invoke('pipe', NULL, thread_id => 'stream-1');
SELECT node, count(*) FROM effects WHERE thread = 'stream-1' GROUP BY node ORDER BY node;
-- the same when the last row read is the run's last step
SELECT node FROM (SELECT (sg_stream('pipe', '{}', thread_id => 'stream-2')).*) s LIMIT 3;
SELECT s.step, s.next, t.status FROM sg_get_state('stream-2') s JOIN sg_threads('pipe') t USING (thread_id);

-- time travel in mode values shows the forked state first: stopping right
-- there leaves the thread at the fork, and a resume runs b and c from it
SELECT checkpoint_id AS after_a FROM sg_get_state_history('stream-1') WHERE step = 1 \gset
SELECT step FROM (SELECT (sg_stream('pipe', NULL, thread_id => 'stream-1', checkpoint_id => :'after_a',
                                    mode => 'values')).*) s LIMIT 1;
SELECT step, source, next FROM sg_get_state('stream-1');
SELECT sg_invoke('pipe', NULL, thread_id => 'stream-1');
SELECT step, source FROM sg_get_state_history('stream-1', "limit" => 3);

SET client_min_messages = warning;
DROP SCHEMA durable CASCADE;
