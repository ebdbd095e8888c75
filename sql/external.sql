--
-- External nodes: tasks handed to application workers. The whole flow
-- without background workers: queue, claim, complete, continue; Send
-- fan-out; fail, retry and exhaustion; sg_interrupt_task and resume; late
-- and duplicate completions; stale tokens; cancel by thread operations.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA external;
SET search_path = external;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY default

CREATE FUNCTION prep(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('log', jsonb_build_array('prep'))
$$;
CREATE FUNCTION fan(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_agg(jsonb_build_object('node', 'summarize', 'arg', jsonb_build_object('doc', d)))
    FROM jsonb_array_elements(state->'docs') d
$$;
-- what a worker sees of its task (tokens and ids are random: not shown)
CREATE FUNCTION claim(q text, w text, n int DEFAULT 1)
RETURNS TABLE (node text, step int, attempt int, input jsonb, resume jsonb, cfg_node text, cfg_attempt text)
LANGUAGE sql AS $$
    SELECT node, step, attempt, input, resume, config->>'node', config->>'attempt'
    FROM sg_claim(q, w, n) ORDER BY input::text
$$;
CREATE FUNCTION token_of(t text) RETURNS uuid LANGUAGE sql AS $$
    SELECT token FROM stategraph.tasks WHERE task_id = t
$$;
CREATE FUNCTION task_of(thread text, n text) RETURNS text LANGUAGE sql AS $$
    SELECT task_id FROM stategraph.tasks WHERE thread_id = thread AND node = n
    ORDER BY created_at DESC LIMIT 1
$$;
CREATE VIEW tasks AS
    SELECT thread_id, node, step, status, attempt, max_attempts, worker, result, error->>'message' AS error
    FROM sg_tasks() ORDER BY thread_id, created_at, result::text;

SELECT sg_create_graph('ext', '{"log": "append", "answer": "replace"}');
SELECT sg_add_node('ext', 'prep', 'prep(jsonb)');
SELECT sg_add_external_node('ext', 'model', 'llm', '{"max_attempts": 2, "backoff_ms": 0}', '1 hour');
SELECT sg_add_edge('ext', '__start__', 'prep');
SELECT sg_add_edge('ext', 'prep', 'model');
SELECT sg_add_edge('ext', 'model', '__end__');
SELECT sg_compile('ext');
SELECT spec->'nodes' FROM stategraph.graphs WHERE graph = 'ext';

-- 1. the step with the external task queues it and stops: the thread waits
SELECT jsonb_set(sg_invoke('ext', '{"log": ["hi"]}', 'w1'), '{__waiting__,0,task_id}', '"…"');
SELECT status, next FROM sg_threads() WHERE thread_id = 'w1';
SELECT * FROM tasks;
-- continuing a step whose task is still out changes nothing
SELECT sg_invoke('ext', NULL, 'w1') ? '__waiting__' AS still_waiting;
SELECT count(*) FROM stategraph.tasks;
-- a worker claims it: the input is the state, config says which node
SELECT * FROM claim('llm', 'worker-1');
SELECT * FROM claim('llm', 'worker-2');          -- nothing left to claim
SELECT task_of('w1', 'model') AS t \gset
SELECT sg_heartbeat(:'t', token_of(:'t'));
SELECT sg_heartbeat(:'t', gen_random_uuid());    -- not this claim's token: stop
-- a bad update is refused like a node's bad return, and the task stays claimed
SELECT sg_complete(:'t', token_of(:'t'), '{"nope": 1}');
SELECT sg_complete(:'t', token_of(:'t'), '[1]');
SELECT status FROM tasks;
SELECT sg_complete(:'t', token_of(:'t'), '{"answer": 42, "log": ["model"]}');
-- the same completion again is a no-op; another update is refused
SELECT sg_complete(:'t', token_of(:'t'), '{"answer": 42, "log": ["model"]}');
\set VERBOSITY sqlstate
SELECT sg_complete(:'t', token_of(:'t'), '{"answer": 43}');
\set VERBOSITY default
SELECT sg_heartbeat(:'t', token_of(:'t'));       -- completed: stop
SELECT * FROM tasks;
-- the step goes on when continued
SELECT sg_invoke('ext', NULL, 'w1');
SELECT step, source, next, tasks->0->'name' AS task, tasks->0->'result' AS result
FROM sg_get_state_history('w1');
SELECT status FROM sg_threads() WHERE thread_id = 'w1';

-- 2. a stale token is refused after the lease expired and another worker claimed the task
SELECT sg_add_external_node('ext', 'slow', 'slowq', '{"max_attempts": 3, "backoff_ms": 0}', '10 ms');
SELECT sg_create_graph('ext2', '{"log": "append", "answer": "replace"}');
SELECT sg_add_external_node('ext2', 'slow', 'slowq', '{"max_attempts": 2, "backoff_ms": 0}', '10 ms');
SELECT sg_add_edge('ext2', '__start__', 'slow');
SELECT sg_add_edge('ext2', 'slow', '__end__');
SELECT sg_compile('ext2');
SELECT sg_invoke('ext2', '{"log": ["a"]}', 's1') ? '__waiting__' AS waiting;
SELECT task_of('s1', 'slow') AS t \gset
SELECT attempt FROM claim('slowq', 'worker-1');
SELECT token_of(:'t') AS old_token \gset
SELECT pg_sleep(0.05);
SELECT stategraph.sweep_leases();             -- expired: counted, visible again
SELECT status, attempt, error FROM tasks WHERE thread_id = 's1';
SELECT attempt FROM claim('slowq', 'worker-2');
\set VERBOSITY sqlstate
SELECT sg_complete(:'t', :'old_token', '{"answer": "late"}');
SELECT sg_heartbeat(:'t', :'old_token');
SELECT sg_fail(:'t', :'old_token', '{"message": "x"}');
\set VERBOSITY default
SELECT status, attempt, worker FROM tasks WHERE thread_id = 's1';
-- 3. the new claim expires too: attempts are spent, the failure is a node failure
SELECT pg_sleep(0.05);
SELECT stategraph.sweep_leases();
SELECT status, attempt, error FROM tasks WHERE thread_id = 's1';
SELECT status FROM sg_threads() WHERE thread_id = 's1';
SELECT next, tasks->0->'error'->>'message' AS error, tasks->0->'error'->>'node' AS node
FROM sg_get_state('s1');
-- ... and yet the late result of that claim is accepted (nobody claimed it again):
-- the failure is taken back, and the step, complete now, goes on at once
SELECT sg_complete(:'t', token_of(:'t'), '{"answer": "late but paid for"}');
SELECT status FROM sg_threads() WHERE thread_id = 's1';
SELECT step, tasks->0->'error' AS error, tasks->0->'result' AS result FROM sg_get_state_history('s1') ORDER BY step;
SELECT sg_invoke('ext2', NULL, 's1');

-- 4. a late completion after expiry, before anyone claimed again, is accepted
SELECT sg_invoke('ext2', '{"log": ["b"]}', 's2') ? '__waiting__' AS waiting;
SELECT task_of('s2', 'slow') AS t \gset
SELECT attempt FROM claim('slowq', 'worker-1');
SELECT pg_sleep(0.05);
SELECT stategraph.sweep_leases();
SELECT status FROM tasks WHERE thread_id = 's2';
SELECT sg_complete(:'t', token_of(:'t'), '{"answer": "late"}');
SELECT sg_invoke('ext2', NULL, 's2');
-- a stale token of a task whose newer claim lapsed too, set back to queued:
-- refused as not claimed (it waits for a worker), not as another worker's
SELECT sg_create_graph('ext2q', '{"log": "append", "answer": "replace"}');
SELECT sg_add_external_node('ext2q', 'slow', 'slowq2', '{"max_attempts": 3, "backoff_ms": 0}', '10 ms');
SELECT sg_add_edge('ext2q', '__start__', 'slow');
SELECT sg_add_edge('ext2q', 'slow', '__end__');
SELECT sg_compile('ext2q');
SELECT sg_invoke('ext2q', '{"log": ["q"]}', 's2q') ? '__waiting__' AS waiting;
SELECT task_of('s2q', 'slow') AS t \gset
SELECT attempt FROM claim('slowq2', 'worker-1');
SELECT token_of(:'t') AS old_token \gset
SELECT pg_sleep(0.05);
SELECT stategraph.sweep_leases();
SELECT attempt FROM claim('slowq2', 'worker-2');
SELECT pg_sleep(0.05);
SELECT stategraph.sweep_leases();
SELECT status, attempt, worker FROM tasks WHERE thread_id = 's2q';
-- a refused call's SQLSTATE, detail and hint (its message names the random ids)
CREATE FUNCTION pg_temp.refusal(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text; det text; hin text;
BEGIN
    EXECUTE call;
    RETURN 'taken';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    RETURN st || E'\n' || det || E'\n' || hin;
END $$;
SELECT pg_temp.refusal(format('SELECT sg_complete(%L, %L, %L)', :'t', :'old_token', '{"answer": "late"}'));
SELECT pg_temp.refusal(format('SELECT sg_fail(%L, %L, %L)', :'t', :'old_token', '{"message": "x"}'));
SELECT pg_temp.refusal(format('SELECT sg_interrupt_task(%L, %L, %L)', :'t', :'old_token', '"sure?"'));
SELECT status, attempt, worker FROM tasks WHERE thread_id = 's2q';
-- the newer claim's late result is still taken, and the step goes on
SELECT sg_complete(:'t', token_of(:'t'), '{"answer": "later"}');
SELECT status FROM sg_threads() WHERE thread_id = 's2q';

-- 5. sg_fail: retried after the backoff while attempts remain, then a node failure
SELECT sg_invoke('ext', '{"log": ["c"]}', 'f1') ? '__waiting__' AS waiting;
SELECT task_of('f1', 'model') AS t \gset
SELECT attempt FROM claim('llm', 'worker-1');
SELECT sg_fail(:'t', token_of(:'t'), '{"message": "rate limited"}');
SELECT status, attempt, error FROM tasks WHERE thread_id = 'f1';
SELECT attempt FROM claim('llm', 'worker-1');
SELECT sg_fail(:'t', token_of(:'t'), '{"message": "rate limited again"}');
SELECT sg_fail(:'t', token_of(:'t'), '{"message": "rate limited again"}');  -- reported already: no-op
SELECT status, attempt, error FROM tasks WHERE thread_id = 'f1';
SELECT status FROM sg_threads() WHERE thread_id = 'f1';
SELECT tasks->0->'error'->>'message' AS error, tasks->0->'error'->'error' AS worker_error FROM sg_get_state('f1');
\set VERBOSITY sqlstate
SELECT sg_complete(:'t', token_of(:'t'), '{"answer": 1}');   -- a failure reported by the worker stands
\set VERBOSITY default
-- a resume queues the task again with fresh attempts
SELECT sg_invoke('ext', NULL, 'f1') ? '__waiting__' AS waiting;
SELECT status, attempt FROM tasks WHERE thread_id = 'f1';
SELECT attempt FROM claim('llm', 'worker-1');
SELECT sg_fail(:'t', token_of(:'t'), '"fatal"', retry => false);
SELECT status, error FROM tasks WHERE thread_id = 'f1';

-- 6. Send fan-out: one task per Send, claimable in parallel; count's write stays pending
CREATE TABLE counted (n int);
CREATE FUNCTION count_docs(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO counted VALUES (jsonb_array_length(state->'docs'));
    SELECT jsonb_build_object('n', jsonb_array_length(state->'docs'))
$$;
SELECT sg_create_graph('mapred', '{"docs": "replace", "summaries": "append", "n": "replace"}');
SELECT sg_add_node('mapred', 'count', 'count_docs(jsonb)');
SELECT sg_add_external_node('mapred', 'summarize', 'llm');
SELECT sg_add_conditional_edges('mapred', '__start__', 'fan(jsonb)');
SELECT sg_add_edge('mapred', '__start__', 'count');
SELECT sg_add_edge('mapred', 'count', '__end__');
SELECT sg_add_edge('mapred', 'summarize', '__end__');
SELECT sg_compile('mapred');
SELECT jsonb_array_length(sg_invoke('mapred', '{"docs": ["a", "b", "c"]}', 'm1')->'__waiting__') AS waiting;
SELECT * FROM claim('llm', 'worker-1', 2);
SELECT * FROM claim('llm', 'worker-2', 2);
SELECT sg_complete(task_id, token, jsonb_build_object('summaries', jsonb_build_array(upper(input->>'doc'))))
FROM stategraph.tasks WHERE thread_id = 'm1' AND input->>'doc' IN ('a', 'c');
SELECT jsonb_array_length(sg_invoke('mapred', NULL, 'm1')->'__waiting__') AS still_waiting;
SELECT next, tasks->0->'name' AS task, tasks->0->'result' AS pending_write FROM sg_get_state('m1');
SELECT sg_complete(task_id, token, '{"summaries": ["B"]}') FROM stategraph.tasks WHERE thread_id = 'm1' AND status = 'claimed';
SELECT sg_invoke('mapred', NULL, 'm1');          -- in Send order, whatever the completion order
SELECT * FROM counted;                           -- count ran once, its write was kept while waiting

-- 7. sg_interrupt_task: the worker asks a human; resume queues the task again with the answer
SELECT sg_invoke('ext', '{"log": ["d"]}', 'i1') ? '__waiting__' AS waiting;
SELECT task_of('i1', 'model') AS t \gset
SELECT attempt FROM claim('llm', 'worker-1');
SELECT sg_interrupt_task(:'t', token_of(:'t'), '{"question": "which model?"}');
SELECT sg_heartbeat(:'t', token_of(:'t'));       -- interrupted: stop
SELECT status FROM sg_threads() WHERE thread_id = 'i1';
SELECT interrupts->0->'value' AS value FROM sg_get_state('i1');
SELECT sg_invoke('ext', NULL, 'i1') ? '__waiting__' AS waiting;  -- no answer yet: stays paused
SELECT status FROM sg_threads() WHERE thread_id = 'i1';
SELECT sg_invoke('ext', NULL, 'i1', resume => '"the big one"') ? '__waiting__' AS waiting;
SELECT status FROM sg_threads() WHERE thread_id = 'i1';
SELECT attempt, resume, cfg_attempt FROM claim('llm', 'worker-1');
SELECT sg_complete(:'t', token_of(:'t'), '{"answer": "asked: the big one"}');
SELECT sg_invoke('ext', NULL, 'i1');

-- 8. thread operations on a waiting thread cancel its tasks
SELECT sg_invoke('ext', '{"log": ["e"]}', 'c1') ? '__waiting__' AS waiting;
SELECT task_of('c1', 'model') AS t \gset
SELECT attempt FROM claim('llm', 'worker-1');
SELECT sg_update_state('c1', '{"answer": "by hand"}', as_node => 'model') IS NOT NULL AS updated;
SELECT status FROM tasks WHERE thread_id = 'c1';
SELECT sg_heartbeat(:'t', token_of(:'t'));
\set VERBOSITY sqlstate
SELECT sg_complete(:'t', token_of(:'t'), '{"answer": 1}');
SELECT sg_fail(:'t', token_of(:'t'), '{}');
\set VERBOSITY default
SELECT sg_invoke('ext', NULL, 'c1');
-- a new input on a waiting thread, and deleting it, cancel too
SELECT sg_invoke('ext', '{"log": ["f"]}', 'c2') ? '__waiting__' AS waiting;
SELECT sg_invoke('ext', '{"log": ["g"]}', 'c2') ? '__waiting__' AS waiting;
SELECT status, count(*) FROM tasks WHERE thread_id = 'c2' GROUP BY status ORDER BY status;
SELECT sg_delete_thread('c2');
SELECT status, count(*) FROM tasks WHERE thread_id = 'c2' GROUP BY status ORDER BY status;
-- and time travel
SELECT sg_invoke('ext', '{"log": ["tt"]}', 'c3') ? '__waiting__' AS waiting;
SELECT checkpoint_id AS first FROM sg_get_state_history('c3') WHERE step = 0 \gset
SELECT sg_invoke('ext', NULL, 'c3', checkpoint_id => :'first') ? '__waiting__' AS waiting_again;
SELECT status, count(*) FROM tasks WHERE thread_id = 'c3' GROUP BY status ORDER BY status;
SELECT sg_delete_thread('c3');
-- prune keeps what a waiting step needs
SELECT sg_invoke('ext', '{"log": ["h"]}', 'p1') ? '__waiting__' AS waiting;
SELECT sg_prune(keep_last => 1, thread_id => 'p1') >= 0 AS pruned;
SELECT task_of('p1', 'model') AS t \gset
SELECT attempt FROM claim('llm', 'worker-1');
SELECT sg_complete(:'t', token_of(:'t'), '{"answer": "after prune"}');
SELECT sg_invoke('ext', NULL, 'p1');

-- 9. streams show the wait; an external node needs a thread
SELECT step, node, jsonb_typeof(payload) FROM sg_stream('ext', '{"log": ["s"]}', 'st1');
SELECT sg_invoke('ext', '{"log": ["x"]}');

-- 10. durable runs stop at the wait too; the thread continues later
CALL sg_run('ext', '{"log": ["r"]}', 'r1');
SELECT status, next FROM sg_threads() WHERE thread_id = 'r1';
SELECT task_of('r1', 'model') AS t \gset
SELECT thread_id, attempt FROM sg_claim('llm', 'worker-1', 10) ORDER BY 1;   -- st1's task too
SELECT sg_complete(:'t', token_of(:'t'), '{"answer": "durable"}');
CALL sg_run('ext', NULL, 'r1');
SELECT status, "values" FROM sg_threads() JOIN sg_get_state('r1') USING (thread_id) WHERE thread_id = 'r1';

-- 11. who may work a task: the role that ran the step and its members (row-level security)
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_ext_app;
DROP ROLE IF EXISTS regress_ext_worker;
DROP ROLE IF EXISTS regress_ext_other;
DROP ROLE IF EXISTS regress_ext_noexec;
RESET client_min_messages;
CREATE ROLE regress_ext_app;
CREATE ROLE regress_ext_worker IN ROLE regress_ext_app;
CREATE ROLE regress_ext_other;
GRANT USAGE ON SCHEMA external, stategraph TO regress_ext_app, regress_ext_other;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA stategraph TO regress_ext_app, regress_ext_other;
GRANT SELECT ON ALL TABLES IN SCHEMA external TO regress_ext_app, regress_ext_other;
SET ROLE regress_ext_app;
SELECT sg_invoke('ext', '{"log": ["app"]}', 'a1') ? '__waiting__' AS waiting;
SET ROLE regress_ext_other;
SELECT count(*) AS seen FROM sg_tasks() WHERE thread_id = 'a1';
SELECT count(*) AS claimed FROM sg_claim('llm', 'other');
RESET ROLE;
SET ROLE regress_ext_worker;
SELECT thread_id, node FROM sg_claim('llm', 'member-of-app');
SELECT sg_complete(task_id, token, '{"answer": "by a member"}') FROM stategraph.tasks WHERE thread_id = 'a1';
RESET ROLE;
SELECT owner, status, worker FROM stategraph.tasks WHERE thread_id = 'a1';
SET ROLE regress_ext_app;
SELECT sg_invoke('ext', NULL, 'a1');
RESET ROLE;
-- a worker that may work the task but not run the graph's functions (a NOINHERIT
-- member): its completion goes on with the step at once as the thread's owner,
-- who may (TAP 297_complete_runs_as_owner); no background run is queued for it
CREATE ROLE regress_ext_noexec NOINHERIT IN ROLE regress_ext_app;
GRANT USAGE ON SCHEMA external, stategraph TO regress_ext_noexec;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA stategraph TO regress_ext_noexec;
REVOKE EXECUTE ON FUNCTION prep(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION prep(jsonb) TO regress_ext_app;
SET ROLE regress_ext_app;
SELECT sg_invoke('ext', '{"log": ["app"]}', 'a2') ? '__waiting__' AS waiting;
SET ROLE regress_ext_noexec;
SELECT sg_complete(task_id, token, '{"answer": "without prep"}') FROM sg_claim('llm', 'noexec');
RESET ROLE;
SELECT count(*) AS runs FROM stategraph.runs WHERE thread_id = 'a2';
SELECT count(*) AS steps_left FROM stategraph.steps_left WHERE thread_id = 'a2';
SELECT status, next FROM sg_threads() WHERE thread_id = 'a2';
SET ROLE regress_ext_app;
SELECT sg_invoke('ext', NULL, 'a2');
RESET ROLE;
GRANT EXECUTE ON FUNCTION prep(jsonb) TO PUBLIC;
DROP OWNED BY regress_ext_app, regress_ext_worker, regress_ext_other, regress_ext_noexec;
DROP ROLE regress_ext_app, regress_ext_worker, regress_ext_other, regress_ext_noexec;

-- 12. the step sg_complete goes on with runs its SQL nodes as sg_invoke would:
-- a node's failure is recorded on the thread, and the completion stands
CREATE FUNCTION boom(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'tool broke'; END $$;
SELECT sg_create_graph('ext3', '{"answer": "replace"}');
SELECT sg_add_external_node('ext3', 'model', 'q3');
SELECT sg_add_node('ext3', 'tool', 'boom(jsonb)');
SELECT sg_add_edge('ext3', '__start__', 'model');
SELECT sg_add_edge('ext3', 'model', 'tool');
SELECT sg_add_edge('ext3', 'tool', '__end__');
SELECT sg_compile('ext3');
SELECT sg_invoke('ext3', '{}', 'b1') ? '__waiting__' AS waiting;
SELECT task_id AS t FROM sg_claim('q3', 'w') \gset
SELECT sg_complete(:'t', token_of(:'t'), '{"answer": 1}');
SELECT thread_id, status FROM sg_threads('ext3');
SELECT next, tasks->0->>'name' AS task, tasks->0->'error'->>'message' AS error, "values" FROM sg_get_state('b1');
SELECT status, result FROM sg_tasks('q3');

-- 13. retention never removes a thread whose step has tasks out
SELECT sg_invoke('ext3', '{}', 'kept') ? '__waiting__' AS waiting;
SELECT sg_set_retention('ext3', '1 day');
UPDATE stategraph.threads SET updated_at = now() - interval '2 days' WHERE graph = 'ext3';
CALL sg_work();
SELECT thread_id, status FROM sg_threads('ext3');    -- b1 (error) expired, kept (tasks out) kept
SELECT status FROM sg_tasks('q3') WHERE thread_id = 'kept';
SELECT sg_set_retention('ext3', NULL);
SELECT sg_delete_thread('kept');

-- 14. CALL sg_work() finds expired leases too, as the background workers' sweep does:
-- the lapsed claim is counted and the task queued again
SELECT sg_invoke('ext3', '{}', 'lapsed') ? '__waiting__' AS waiting;
SELECT count(*) AS claimed FROM sg_claim('q3', 'w', lease => '10 ms');
SELECT pg_sleep(0.05);
CALL sg_work();
SELECT status, attempt, error->>'name' AS error FROM sg_tasks('q3') WHERE thread_id = 'lapsed';
SELECT sg_delete_thread('lapsed');

-- 15. bad input
SELECT sg_add_external_node('ext', 'model', 'llm');              -- exists
SELECT sg_add_external_node('ext', 'log', 'llm');                -- a channel's name
SELECT sg_add_external_node('ext', 'z', 'llm', lease => '-1 s');
SELECT sg_add_external_node('ext', 'z', 'llm', '{"max_attempts": 0}');
SELECT sg_add_node('ext', 'model', 'prep(jsonb)');                -- an external node is not replaced
SELECT * FROM sg_claim('llm', 'w', 0);
SELECT * FROM sg_claim('llm', 'w', lease => '-1 s');
SELECT * FROM sg_claim('llm', 'w', wait => '-1 s');
SELECT * FROM sg_claim('', 'w');
SELECT sg_complete('no-such-task', gen_random_uuid(), '{}');
SELECT sg_heartbeat(:'t', token_of(:'t'), '-1 s');
SELECT * FROM sg_tasks(status => 'lost');
SELECT * FROM tasks WHERE status NOT IN ('completed', 'cancelled');

-- 16. a duration counts whole milliseconds, a fraction rounded away from
-- zero: a lease of 0.5 ms is positive (1 ms), a wait of -0.5 ms negative
SELECT sg_create_graph('ext4', '{"answer": "replace"}');
SELECT sg_add_external_node('ext4', 'model', 'q4', lease => '0.5 ms');
SELECT sg_add_external_node('ext4', 'z', 'q4', lease => '-0.5 ms');
SELECT sg_add_edge('ext4', '__start__', 'model');
SELECT sg_add_edge('ext4', 'model', '__end__');
SELECT sg_compile('ext4');
SELECT spec->'nodes'->0->'lease_ms' AS lease_ms FROM stategraph.graphs WHERE graph = 'ext4';
SELECT sg_invoke('ext4', '{}', 'ms1') ? '__waiting__' AS waiting;
SELECT * FROM sg_claim('q4', 'w', wait => '-0.5 ms');
SELECT task_id AS t FROM sg_claim('q4', 'w', lease => '0.5 ms') \gset
SELECT claim_lease FROM stategraph.tasks WHERE task_id = :'t';
SELECT sg_heartbeat(:'t', token_of(:'t'), '0.5 ms');
-- extended by the claim's lease: 1 ms, not 0 (the lease was not extended)
SELECT sg_heartbeat(:'t', token_of(:'t'));
SELECT lease_expires_at > updated_at AS extended FROM stategraph.tasks WHERE task_id = :'t';
SELECT sg_complete(:'t', token_of(:'t'), '{"answer": 1}') IS NOT NULL AS completed;
SELECT "values" FROM sg_get_state('ms1');

-- 17. a step that a completion continues counts its run's recursion_limit
-- on from where the run began, as a background run does across its waits
-- (TAP 299): an agent loop whose model is an external node
CREATE FUNCTION tool_msg(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"messages": [{"role": "tool"}]}'::jsonb $$;
SELECT sg_create_graph('agentloop', '{"messages": "append"}');
SELECT sg_add_external_node('agentloop', 'agent', 'q5');
SELECT sg_add_node('agentloop', 'tools', 'tool_msg(jsonb)');
SELECT sg_add_edge('agentloop', '__start__', 'agent');
SELECT sg_add_edge('agentloop', 'agent', 'tools');
SELECT sg_add_edge('agentloop', 'tools', 'agent');
SELECT sg_compile('agentloop');
-- a worker: claims and completes (each completion goes on with the loop) up to max times
CREATE FUNCTION answer_all(q text, max int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int := 0;
    t record;
BEGIN
    FOR i IN 1 .. max LOOP
        SELECT task_id, token INTO t FROM sg_claim(q, 'w');
        EXIT WHEN NOT FOUND;
        PERFORM sg_complete(t.task_id, t.token, '{"messages": [{"role": "assistant"}]}');
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
CREATE FUNCTION loop_end(thread text) RETURNS TABLE (step int, status text, error text) LANGUAGE sql AS $$
    SELECT s.step, (SELECT h.status FROM sg_threads() h WHERE h.thread_id = thread),
           s.tasks->0->'error'->>'message'
    FROM sg_get_state(thread) s
$$;
-- limit 3: steps 0 to 3, the model called in steps 1 and 3, then SG004 (each
-- continuation counted 25 from the thread's head: the loop went on)
SELECT sg_invoke('agentloop', '{"messages": []}', 'al1', recursion_limit => 3) ? '__waiting__' AS waiting;
SELECT answer_all('q5', 10) AS answered;
SELECT * FROM loop_end('al1');
-- limit 30, more than the 25 a continuation had: 15 calls, steps 0 to 30
SELECT sg_invoke('agentloop', '{"messages": []}', 'al2', recursion_limit => 30) ? '__waiting__' AS waiting;
SELECT answer_all('q5', 40) AS answered;
SELECT * FROM loop_end('al2');
-- a session that goes on with the waiting step waits with its own limit:
-- from the head (step 0) with limit 5, steps 1 to 6, the model called in 1, 3 and 5
SELECT sg_invoke('agentloop', '{"messages": []}', 'al3', recursion_limit => 2) ? '__waiting__' AS waiting;
SELECT sg_invoke('agentloop', NULL, 'al3', recursion_limit => 5) ? '__waiting__' AS waiting;
SELECT answer_all('q5', 10) AS answered;
SELECT * FROM loop_end('al3');

-- 18. so does a step its completion leaves to a run of the thread's owner
-- (the completer holds an advisory lock: TAP 304): the run counts the limit
-- of the call that left the thread waiting, and stops where section 17's
-- al1 stopped (it counted a fresh 25 from the thread's head: 13 model calls)
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_ext_loop;
RESET client_min_messages;
CREATE ROLE regress_ext_loop;
GRANT USAGE ON SCHEMA external, stategraph TO regress_ext_loop;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA stategraph TO regress_ext_loop;
SET ROLE regress_ext_loop;
SELECT sg_invoke('agentloop', '{"messages": []}', 'al4', recursion_limit => 3) ? '__waiting__' AS waiting;
RESET ROLE;
SELECT pg_advisory_lock(18) IS NOT NULL AS locked;
SELECT count(sg_complete(task_id, token, '{"messages": [{"role": "assistant"}]}')) AS answered
FROM sg_claim('q5', 'w');
SELECT pg_advisory_unlock(18) AS unlocked;
-- the completion left the step, noted for a run of the thread's owner with
-- the call's limit: the note, or the run a sweep queued for it in the same
-- transaction (its status is not shown: a worker may have claimed it)
SELECT owner, recursion_limit FROM stategraph.steps_left WHERE thread_id = 'al4'
UNION ALL SELECT owner, recursion_limit FROM stategraph.runs WHERE thread_id = 'al4';
-- the run (a background worker's or CALL sg_work's, whose WARNING is not shown) goes on
-- and waits for the next call
SET client_min_messages = error;
CALL sg_work();
SELECT count(sg_complete(task_id, token, '{"messages": [{"role": "assistant"}]}')) AS answered
FROM sg_claim('q5', 'w', wait => '30 s');
CALL sg_work();
RESET client_min_messages;
SELECT status, error->>'message' AS error
FROM sg_wait((SELECT run_id FROM stategraph.runs WHERE thread_id = 'al4'), '30 s');
SELECT recursion_limit, last_step FROM stategraph.runs WHERE thread_id = 'al4';
SELECT count(*) AS more_calls FROM sg_claim('q5', 'w');
SELECT * FROM loop_end('al4');
SELECT sg_delete_thread('al4');
DROP OWNED BY regress_ext_loop;
DROP ROLE regress_ext_loop;
