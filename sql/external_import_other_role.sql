-- A thread imported by another role names its source's external tasks (a
-- task's id is that of its checkpoint), whose rows stay the source
-- owner's and are hidden from the importer by row-level security: its
-- sg_invoke took the task for missing and inserted it again, which failed
-- with a raw unique violation (tasks_pkey, an internal INSERT in the
-- CONTEXT), for ever (the cancelled row stays while it is at a thread's
-- head). Now 55000, saying why, with the way out that works (a checkpoint
-- of the copy's own).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA external_import_other_role;
SET search_path = external_import_other_role;
CREATE EXTENSION stategraph;
RESET client_min_messages;
CREATE ROLE regress_eior_carol;
CREATE ROLE regress_eior_bob;
GRANT USAGE ON SCHEMA external_import_other_role TO regress_eior_carol, regress_eior_bob;
-- the error a statement raises, the task id left out
CREATE FUNCTION try(sql text) RETURNS TABLE (sqlstate text, message text, hint text) LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN QUERY SELECT 'ok', NULL::text, NULL::text;
EXCEPTION WHEN OTHERS THEN
    DECLARE h text;
    BEGIN
        GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
        RETURN QUERY SELECT SQLSTATE, regexp_replace(SQLERRM, '[0-9a-f-]{36}', '<task>'), h;
    END;
END $$;
SET ROLE regress_eior_carol;
SELECT sg_create_graph('ga', '{"done": "append"}');
SELECT sg_add_external_node('ga', 'agent', 'eiorq');
SELECT sg_add_edge('ga', '__start__', 'agent');
SELECT sg_add_edge('ga', 'agent', '__end__');
SELECT sg_compile('ga');
SELECT sg_invoke('ga', '{"done": ["x"]}', 'mv1') ? '__waiting__' AS waiting;
SELECT sg_export_thread('mv1') AS exp \gset
SELECT sg_delete_thread('mv1');
-- bob imports carol's export under its id: 55000, not 23505
SET ROLE regress_eior_bob;
SELECT sg_import_thread(:'exp') IS NOT NULL AS imported;
SELECT * FROM try($$SELECT sg_invoke('ga', NULL, 'mv1')$$);
-- and again (nothing was left behind)
SELECT * FROM try($$SELECT sg_invoke('ga', NULL, 'mv1')$$);
-- a copy under another id: the same
SELECT sg_import_thread(:'exp', 'mv2') IS NOT NULL AS imported;
SELECT * FROM try($$SELECT sg_invoke('ga', NULL, 'mv2')$$);
-- the hint's way out: a checkpoint of the copy's own, whose step queues a task of its own
SELECT sg_update_state('mv1', '{}', as_node => '__start__') IS NOT NULL AS updated;
SELECT sg_invoke('ga', NULL, 'mv1') ? '__waiting__' AS waiting;
SELECT thread_id, node, status FROM stategraph.tasks ORDER BY thread_id;
RESET ROLE;
SELECT thread_id, node, status, owner FROM stategraph.tasks ORDER BY thread_id, status;
SET client_min_messages = warning;
DROP SCHEMA external_import_other_role CASCADE;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE regress_eior_carol;
DROP ROLE regress_eior_bob;
