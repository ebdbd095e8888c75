--
-- sg_reassign_owned refused to give a role's active runs to a superuser or
-- BYPASSRLS role (their nodes would execute with every privilege), but not
-- its steps that go on as their thread's owner without a run: a thread
-- waiting for external tasks (the last completion, by any worker, takes
-- the step on as the thread's owner) and a step left to the sweep
-- (steps_left). Given to such a role, the old role's node ran with its
-- privileges (a review found it). Both are refused now, 42501, nothing
-- moved; an ordinary role still takes them.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_rws_alice;
DROP ROLE IF EXISTS regress_rws_byp;
DROP ROLE IF EXISTS regress_rws_carol;
DROP ROLE IF EXISTS regress_rws_worker;
CREATE SCHEMA reassign_waiting_steps;
GRANT USAGE ON SCHEMA reassign_waiting_steps TO PUBLIC;
SET search_path = reassign_waiting_steps;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE regress_rws_alice;
CREATE ROLE regress_rws_carol;
CREATE ROLE regress_rws_byp BYPASSRLS;
CREATE ROLE regress_rws_worker NOINHERIT;
GRANT regress_rws_alice TO regress_rws_worker;
GRANT CREATE ON SCHEMA reassign_waiting_steps TO regress_rws_alice;
SET ROLE regress_rws_alice;
CREATE FUNCTION post(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('log', jsonb_build_array(current_user::text)) $$;
SELECT sg_create_graph('tx', '{"log": "append"}');
SELECT sg_add_external_node('tx', 'ext', 'rws_q');
SELECT sg_add_node('tx', 'post', 'post(jsonb)');
SELECT sg_add_edge('tx', '__start__', 'ext');
SELECT sg_add_edge('tx', 'ext', 'post');
SELECT sg_add_edge('tx', 'post', '__end__');
SELECT sg_compile('tx');
SELECT sg_invoke('tx', '{}', thread_id => 'tx-1') IS NOT NULL AS waiting;
RESET ROLE;
SELECT thread_id, status, owner FROM stategraph.threads ORDER BY 1;

-- a thread waiting for its external task: not given to a BYPASSRLS role
SELECT sg_reassign_owned('regress_rws_alice', 'regress_rws_byp');
SELECT count(*) AS moved FROM stategraph.threads WHERE owner = 'regress_rws_byp';

-- a step left to the sweep (the completer holds an advisory lock of its
-- transaction), in the same transaction as the reassign
BEGIN;
SET ROLE regress_rws_worker;
SELECT pg_advisory_xact_lock(4242) IS NOT NULL AS locked;
SELECT task_id, token FROM sg_claim('rws_q', 'w1') \gset
SELECT sg_complete(:'task_id', :'token', '{"log": ["ext"]}');
RESET ROLE;
SELECT thread_id, owner FROM stategraph.steps_left;
SELECT status FROM stategraph.threads WHERE thread_id = 'tx-1';
SELECT sg_reassign_owned('regress_rws_alice', 'regress_rws_byp');
ROLLBACK;

-- an ordinary role takes them; the step goes on as that role
SELECT sg_reassign_owned('regress_rws_alice', 'regress_rws_carol') > 0 AS given;
GRANT regress_rws_carol TO regress_rws_worker;
SET ROLE regress_rws_worker;
SELECT task_id, token FROM sg_claim('rws_q', 'w1') \gset
SELECT sg_complete(:'task_id', :'token', '{"log": ["ext"]}');
RESET ROLE;
SELECT "values", next FROM sg_get_state('tx-1');

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA reassign_waiting_steps CASCADE;
DROP ROLE regress_rws_worker;
DROP ROLE regress_rws_alice;
DROP ROLE regress_rws_carol;
DROP ROLE regress_rws_byp;
