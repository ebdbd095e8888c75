--
-- A worker whose role loses its membership in a task's owner while it
-- works on the task: row-level security hides the task from it, and its
-- heartbeat, completion, failure and interrupt were told 42704 "task ...
-- does not exist" with the hint to pass the task_id sg_claim returned
-- (which it had). Holding the task's newest claim (its token), it is told
-- 42501 now, naming the role it lost; a role that only knows the task id
-- (a wrong token) is still told that the task does not exist.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_rltl_owner;
DROP ROLE IF EXISTS regress_rltl_worker;
DROP ROLE IF EXISTS regress_rltl_other;
CREATE SCHEMA rl_task_lost_member;
GRANT USAGE ON SCHEMA rl_task_lost_member TO PUBLIC;
SET search_path = rl_task_lost_member;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE regress_rltl_owner;
CREATE ROLE regress_rltl_worker;
CREATE ROLE regress_rltl_other;
GRANT regress_rltl_owner TO regress_rltl_worker;

-- a call's SQLSTATE, message, detail and hint, the task id masked (it changes from run to run)
CREATE FUNCTION pg_temp.try(call text, task_id text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text; msg text; det text; hin text;
BEGIN
    EXECUTE call;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    RETURN replace(st || ' ' || msg || ' / ' || coalesce(det, '') || ' / ' || coalesce(hin, ''), task_id, 'T');
END $$;

SET ROLE regress_rltl_owner;
SELECT sg_create_graph('rltl', '{"log": "append"}');
SELECT sg_add_external_node('rltl', 'x', 'rltl_q');
SELECT sg_add_edge('rltl', '__start__', 'x');
SELECT sg_add_edge('rltl', 'x', '__end__');
SELECT sg_compile('rltl');
SELECT sg_invoke('rltl', '{}', thread_id => 'rltl-1') ? '__waiting__' AS waiting;

SET ROLE regress_rltl_worker;
SELECT task_id, token FROM sg_claim('rltl_q', 'w1') \gset
RESET ROLE;
REVOKE regress_rltl_owner FROM regress_rltl_worker;

SET ROLE regress_rltl_worker;
\x on
SELECT pg_temp.try(format('SELECT sg_heartbeat(%L, %L)', :'task_id', :'token'), :'task_id') AS heartbeat;
SELECT pg_temp.try(format('SELECT sg_complete(%L, %L, ''{"log": ["done"]}'')', :'task_id', :'token'), :'task_id') AS complete;
SELECT pg_temp.try(format('SELECT sg_fail(%L, %L, ''{"message": "m"}'')', :'task_id', :'token'), :'task_id') AS fail;
SELECT pg_temp.try(format('SELECT sg_interrupt_task(%L, %L, ''{"q": 1}'')', :'task_id', :'token'), :'task_id') AS interrupt;
-- without the claim's token: as absent as any task of another role
SELECT pg_temp.try(format('SELECT sg_heartbeat(%L, %L)', :'task_id', gen_random_uuid()), :'task_id') AS heartbeat_other_token;
SELECT pg_temp.try(format('SELECT sg_complete(%L, %L, ''{}'')', :'task_id', gen_random_uuid()), :'task_id') AS complete_other_token;
\x off
RESET ROLE;
SELECT status, attempt, result FROM stategraph.tasks;

-- membership given back: the same claim goes on
GRANT regress_rltl_owner TO regress_rltl_worker;
SET ROLE regress_rltl_worker;
SELECT sg_heartbeat(:'task_id', :'token');
SELECT sg_complete(:'task_id', :'token', '{"log": ["done"]}');
SET ROLE regress_rltl_owner;
SELECT sg_invoke('rltl', NULL, thread_id => 'rltl-1');
RESET ROLE;

-- a task given to another role (sg_reassign_owned) while the worker holds it: the same
SET ROLE regress_rltl_owner;
SELECT sg_invoke('rltl', '{}', thread_id => 'rltl-2') ? '__waiting__' AS waiting;
SET ROLE regress_rltl_worker;
SELECT task_id, token FROM sg_claim('rltl_q', 'w1') \gset
RESET ROLE;
SELECT sg_reassign_owned('regress_rltl_owner', 'regress_rltl_other');
SET ROLE regress_rltl_worker;
\x on
SELECT pg_temp.try(format('SELECT sg_heartbeat(%L, %L)', :'task_id', :'token'), :'task_id') AS heartbeat;
\x off
RESET ROLE;

-- the owner renamed while its worker holds the task: the hint says what to do
GRANT regress_rltl_other TO regress_rltl_worker;
SET ROLE regress_rltl_other;
SELECT sg_invoke('rltl', '{}', thread_id => 'rltl-3') ? '__waiting__' AS waiting;
SET ROLE regress_rltl_worker;
SELECT task_id, token FROM sg_claim('rltl_q', 'w1') \gset
RESET ROLE;
ALTER ROLE regress_rltl_other RENAME TO regress_rltl_renamed;
SET ROLE regress_rltl_worker;
\x on
SELECT pg_temp.try(format('SELECT sg_heartbeat(%L, %L)', :'task_id', :'token'), :'task_id') AS heartbeat;
\x off
RESET ROLE;
ALTER ROLE regress_rltl_renamed RENAME TO regress_rltl_other;

SET client_min_messages = warning;
DROP SCHEMA rl_task_lost_member CASCADE;
DROP OWNED BY regress_rltl_owner, regress_rltl_worker, regress_rltl_other;
DROP ROLE regress_rltl_owner;
DROP ROLE regress_rltl_worker;
DROP ROLE regress_rltl_other;
