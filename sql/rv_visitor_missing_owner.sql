--
-- The router's sg_fork and sg_update_state from a checkpoint of a thread on
-- another server copy the thread there for the length of the call
-- (stategraph.import_then_fork, import_then_update_state). A superuser's
-- call for a thread whose owner is no role (a dropped role's) failed with
-- 42704 "role ... that owns the exported thread does not exist", from the
-- refusal meant for sg_import_thread's lasting copies, while sg_fork and
-- sg_update_state of the same thread work on one server. The copy is not
-- refused now; sg_import_thread of the export still is.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_rv_gone;
CREATE SCHEMA rv_visitor_missing_owner;
GRANT USAGE ON SCHEMA rv_visitor_missing_owner TO PUBLIC;
SET search_path = rv_visitor_missing_owner;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY default

CREATE FUNCTION bump(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('n', 1) $$;
SELECT sg_create_graph('vg', '{"n": "add"}');
SELECT sg_add_node('vg', 'a', 'bump(jsonb)');
SELECT sg_add_edge('vg', '__start__', 'a');
SELECT sg_add_edge('vg', 'a', '__end__');
SELECT sg_compile('vg');
GRANT EXECUTE ON FUNCTION bump(jsonb) TO PUBLIC;

-- a thread of a role that is then dropped
CREATE ROLE regress_rv_gone;
SET ROLE regress_rv_gone;
SELECT sg_invoke('vg', '{"n": 1}', 'vm-1');
RESET ROLE;
DROP ROLE regress_rv_gone;
SELECT owner FROM stategraph.threads WHERE thread_id = 'vm-1';
SELECT checkpoint_id AS cp FROM sg_get_state('vm-1') \gset

-- on one server, a superuser forks it and updates from it
SELECT sg_fork('vm-1', :'cp', 'vm-fork-here') IS NOT NULL AS forked;
SELECT sg_update_state('vm-upd-here', '{"n": 10}', checkpoint_id => :'cp') IS NOT NULL AS updated;

-- so does the router's call from another server (failed with 42704 before)
SELECT stategraph.import_then_fork(sg_export_thread('vm-1'), :'cp', 'vm-fork-there') IS NOT NULL AS forked;
SELECT stategraph.import_then_update_state(sg_export_thread('vm-1'), 'vm-upd-there', '{"n": 10}', NULL, :'cp') IS NOT NULL AS updated;
SELECT t.thread_id, s."values" FROM stategraph.threads t, LATERAL sg_get_state(t.thread_id) s
WHERE t.thread_id LIKE 'vm-%' ORDER BY 1;
-- no copy is left
SELECT count(*) AS visitors FROM stategraph.threads WHERE thread_id LIKE '\_\_sg\_visitor\_%';

-- a lasting import of the export is still refused
SELECT sg_import_thread(sg_export_thread('vm-1'), 'vm-import');
SELECT count(*) AS stored FROM stategraph.threads WHERE thread_id = 'vm-import';
-- also after a copy that failed (an id taken): its exemption ends with it
SELECT stategraph.import_visitor(sg_export_thread('vm-1'), 'vm-1');
SELECT sg_import_thread(sg_export_thread('vm-1'), 'vm-import');

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA rv_visitor_missing_owner CASCADE;
