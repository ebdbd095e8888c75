--
-- A node that revokes the calling role's membership in the thread's owner
-- during sg_invoke: the step's checkpoint was refused by row-level security
-- with its generic "new row violates row-level security policy for table
-- checkpoints". It is told 42501 now, naming the role, the thread and its
-- owner; the call's transaction rolls back as a whole (the revoke with it),
-- so the thread reads as before and the member goes on writing it.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_rlrv_owner;
DROP ROLE IF EXISTS regress_rlrv_member;
CREATE SCHEMA rl_revoke_mid_call;
GRANT USAGE ON SCHEMA rl_revoke_mid_call TO PUBLIC;
SET search_path = rl_revoke_mid_call;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE regress_rlrv_owner;
CREATE ROLE regress_rlrv_member IN ROLE regress_rlrv_owner;

-- the node: a definer function that takes the member out of the owner role when asked to
CREATE FUNCTION rl_revoke_mid_call.leave(state jsonb) RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog AS $$
BEGIN
    IF state ? 'leave' THEN
        REVOKE regress_rlrv_owner FROM regress_rlrv_member;
    END IF;
    RETURN jsonb_build_object('n', (state->>'n')::int + 1);
END $$;
GRANT EXECUTE ON FUNCTION rl_revoke_mid_call.leave(jsonb) TO PUBLIC;

SET ROLE regress_rlrv_owner;
SELECT sg_create_graph('rlrv', '{"n": "replace", "leave": "replace"}');
SELECT sg_add_node('rlrv', 'step', 'rl_revoke_mid_call.leave(jsonb)');
SELECT sg_add_edge('rlrv', '__start__', 'step');
SELECT sg_add_edge('rlrv', 'step', '__end__');
SELECT sg_compile('rlrv');
SELECT sg_invoke('rlrv', '{"n": 1}', thread_id => 'owned');
RESET ROLE;

SET ROLE regress_rlrv_member;
-- the member writes its owner's thread
SELECT sg_invoke('rlrv', '{"n": 10}', thread_id => 'owned');
-- a node takes its membership away: 42501 naming the role, the thread and its owner
\set VERBOSITY default
SELECT sg_invoke('rlrv', '{"n": 20, "leave": true}', thread_id => 'owned');
-- nothing of that call is stored, and the member is still a member
SELECT "values" FROM sg_get_state('owned');
SELECT count(*) AS checkpoints FROM sg_get_state_history('owned');
SELECT pg_has_role('regress_rlrv_member', 'regress_rlrv_owner', 'MEMBER') AS still_member;
SELECT sg_invoke('rlrv', '{"n": 30}', thread_id => 'owned');
RESET ROLE;

-- the node writes a thread of the member's own too, after the revoke (a nested
-- call): that write passes the check, and the step's own row is still refused
-- with the clear error (a check of one thread cleared the change for all)
RESET ROLE;
CREATE FUNCTION rl_revoke_mid_call.leave_nested(state jsonb) RETURNS jsonb LANGUAGE plpgsql
SET search_path = pg_catalog AS $$
BEGIN
    IF state ? 'leave' THEN
        PERFORM rl_revoke_mid_call.revoke_member();
        PERFORM rl_revoke_mid_call.sg_update_state('mine', '{"n": 100}');
    END IF;
    RETURN jsonb_build_object('n', (state->>'n')::int + 1);
END $$;
CREATE FUNCTION rl_revoke_mid_call.revoke_member() RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog AS $$
BEGIN
    REVOKE regress_rlrv_owner FROM regress_rlrv_member;
END $$;
GRANT EXECUTE ON FUNCTION rl_revoke_mid_call.leave_nested(jsonb), rl_revoke_mid_call.revoke_member() TO PUBLIC;
SET ROLE regress_rlrv_owner;
SELECT sg_create_graph('rlrv2', '{"n": "replace", "leave": "replace"}');
SELECT sg_add_node('rlrv2', 'step', 'rl_revoke_mid_call.leave_nested(jsonb)');
SELECT sg_add_edge('rlrv2', '__start__', 'step');
SELECT sg_add_edge('rlrv2', 'step', '__end__');
SELECT sg_compile('rlrv2');
SELECT sg_invoke('rlrv2', '{"n": 1}', thread_id => 'owned2');
RESET ROLE;
SET ROLE regress_rlrv_member;
SELECT sg_invoke('rlrv', '{"n": 0}', thread_id => 'mine');
SELECT sg_invoke('rlrv2', '{"n": 20, "leave": true}', thread_id => 'owned2');
SELECT "values" FROM sg_get_state('owned2');
SELECT "values" FROM sg_get_state('mine');
RESET ROLE;

-- the owner's own thread: the same node does not stop the owner
SET ROLE regress_rlrv_owner;
SELECT sg_invoke('rlrv', '{"n": 40, "leave": true}', thread_id => 'owned');
RESET ROLE;
SELECT pg_has_role('regress_rlrv_member', 'regress_rlrv_owner', 'MEMBER') AS still_member;

SET client_min_messages = warning;
DROP SCHEMA rl_revoke_mid_call CASCADE;
DROP OWNED BY regress_rlrv_owner, regress_rlrv_member;
DROP ROLE regress_rlrv_owner;
DROP ROLE regress_rlrv_member;
