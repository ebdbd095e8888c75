--
-- The 42501 of a worker call (sg_heartbeat, sg_complete, sg_fail,
-- sg_interrupt_task) on a task it holds the newest claim of but may not
-- see now. Its detail said that the caller's membership in the task's
-- owner "was revoked, or the task was given to that role, after the
-- claim", which was not so when the claim was another role's (made under
-- SET ROLE, its token passed on), when the caller lost BYPASSRLS, or when
-- the owner was renamed (the membership stays): the detail now says only
-- what is so in each case (rl_task_lost_member has the revoke, the
-- sg_reassign_owned and the rename).
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_r41c_owner;
DROP ROLE IF EXISTS regress_r41c_stranger;
DROP ROLE IF EXISTS regress_r41c_bypass;
CREATE SCHEMA rl_task_claim_detail;
GRANT USAGE ON SCHEMA rl_task_claim_detail TO PUBLIC;
SET search_path = rl_task_claim_detail;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE regress_r41c_owner;
CREATE ROLE regress_r41c_stranger;
CREATE ROLE regress_r41c_bypass BYPASSRLS;

-- a call's SQLSTATE, message, detail and hint, the task id masked
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

SET ROLE regress_r41c_owner;
SELECT sg_create_graph('r41c', '{"log": "append"}');
SELECT sg_add_external_node('r41c', 'x', 'r41c_q');
SELECT sg_add_edge('r41c', '__start__', 'x');
SELECT sg_add_edge('r41c', 'x', '__end__');
SELECT sg_compile('r41c');
SELECT sg_invoke('r41c', '{}', thread_id => 'r41c-1') ? '__waiting__' AS waiting;

-- 1. claimed by the owner itself; its token used by a role that never was a member
SELECT task_id, token FROM sg_claim('r41c_q', 'w1') \gset
SET ROLE regress_r41c_stranger;
\x on
SELECT pg_temp.try(format('SELECT sg_heartbeat(%L, %L)', :'task_id', :'token'), :'task_id') AS heartbeat;
SELECT pg_temp.try(format('SELECT sg_complete(%L, %L, ''{"log": ["x"]}'')', :'task_id', :'token'), :'task_id') AS complete;
\x off
-- nothing was changed, and the owner completes it
SET ROLE regress_r41c_owner;
SELECT status, attempt FROM sg_tasks();
SELECT sg_complete(:'task_id', :'token', '{"log": ["done"]}');
SELECT sg_invoke('r41c', NULL, thread_id => 'r41c-1') AS state;

-- 2. claimed by a BYPASSRLS role that has lost the attribute since
SELECT sg_invoke('r41c', '{}', thread_id => 'r41c-2') ? '__waiting__' AS waiting;
SET ROLE regress_r41c_bypass;
SELECT task_id, token FROM sg_claim('r41c_q', 'w2') \gset
RESET ROLE;
ALTER ROLE regress_r41c_bypass NOBYPASSRLS;
SET ROLE regress_r41c_bypass;
\x on
SELECT pg_temp.try(format('SELECT sg_fail(%L, %L, ''{"message": "m"}'')', :'task_id', :'token'), :'task_id') AS fail;
\x off
RESET ROLE;
SELECT status, attempt FROM stategraph.tasks WHERE thread_id = 'r41c-2';

SET client_min_messages = warning;
DROP SCHEMA rl_task_claim_detail CASCADE;
DROP OWNED BY regress_r41c_owner, regress_r41c_stranger, regress_r41c_bypass;
DROP ROLE regress_r41c_owner;
DROP ROLE regress_r41c_stranger;
DROP ROLE regress_r41c_bypass;
