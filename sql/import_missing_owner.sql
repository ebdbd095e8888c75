--
-- A superuser's import of an export whose owner is no role here (a backup
-- restored before its roles are created, a partition moved to a server
-- without them) went to the superuser, silently: a later CREATE ROLE did
-- not give it back, and an sg_reassign_owned of the superuser moved it with
-- the superuser's own rows (helper-147's finding). Refused now (42704,
-- nothing stored), for stategraph's threads and LangGraph.js threads; once
-- the role exists the import keeps it. Another role's import of the same
-- export is a copy of its own, as before.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_im_ghost;
DROP ROLE IF EXISTS regress_im_other;
CREATE SCHEMA import_missing_owner;
GRANT USAGE ON SCHEMA import_missing_owner TO PUBLIC;
SET search_path = import_missing_owner;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY default

CREATE FUNCTION bump(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('n', 1) $$;
SELECT sg_create_graph('im', '{"n": "add"}');
SELECT sg_add_node('im', 'a', 'bump(jsonb)');
SELECT sg_add_edge('im', '__start__', 'a');
SELECT sg_add_edge('im', 'a', '__end__');
SELECT sg_compile('im');
SELECT sg_invoke('im', '{"n": 1}', 'im-1');

-- an export naming regress_im_ghost, a role that does not exist (yet)
SELECT jsonb_set(sg_export_thread('im-1'), '{thread,owner}', '"regress_im_ghost"') AS e \gset
SELECT jsonb_set(:'e', '{digest}', to_jsonb(md5(COALESCE((:'e'::jsonb)->'thread', 'null')::text
       || COALESCE((:'e'::jsonb)->'checkpoints', 'null')::text || COALESCE((:'e'::jsonb)->'fork_writes', 'null')::text))) AS e \gset
SELECT sg_import_thread(:'e', 'im-2');
SELECT count(*) AS stored FROM stategraph.threads WHERE thread_id = 'im-2';
SELECT count(*) AS stored FROM stategraph.checkpoints WHERE thread_id = 'im-2';

-- another role's import is its copy, as of any export it may not own
CREATE ROLE regress_im_other;
GRANT USAGE ON SCHEMA import_missing_owner TO regress_im_other;
SET ROLE regress_im_other;
SELECT sg_import_thread(:'e', 'im-other');
RESET ROLE;
SELECT owner FROM stategraph.threads WHERE thread_id = 'im-other';

-- once the role exists, the import keeps it
CREATE ROLE regress_im_ghost;
SELECT sg_import_thread(:'e', 'im-2');
SELECT owner FROM stategraph.threads WHERE thread_id = 'im-2';
SELECT "values" FROM sg_get_state('im-2');

-- a LangGraph.js export whose rows name a role that does not exist
SELECT sg_lg_put('imlg-1', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "2026-01-01T00:00:00.000Z",
      "channel_values": {"m": 1}, "channel_versions": {"m": 1}, "versions_seen": {}}',
    '{"source": "input", "step": -1, "parents": {}}', '{"m": 1}') IS NOT NULL AS put;
SELECT sg_export_thread('imlg-1') AS e \gset
SELECT jsonb_set(jsonb_set(:'e'::jsonb, '{checkpoints,0,owner}', '"regress_im_lgghost"'),
                 '{blobs,0,owner}', '"regress_im_lgghost"') AS f \gset
SELECT jsonb_set(:'f'::jsonb, '{digest}', to_jsonb(md5(
           (:'f'::jsonb -> 'version')::text || (:'f'::jsonb -> 'thread_id')::text
           || (:'f'::jsonb -> 'checkpoints')::text || coalesce(:'f'::jsonb -> 'blobs', 'null')::text
           || coalesce(:'f'::jsonb -> 'writes', 'null')::text))) AS f \gset
SELECT sg_import_thread(:'f', 'imlg-2');
SELECT count(*) AS stored FROM stategraph.lg_checkpoints WHERE thread_id = 'imlg-2';
SELECT count(*) AS stored FROM stategraph.lg_blobs WHERE thread_id = 'imlg-2';
-- the export as it was (every row the superuser's) is imported as before
SELECT sg_import_thread(:'e', 'imlg-3');
SELECT DISTINCT owner = current_user AS own FROM stategraph.lg_checkpoints WHERE thread_id = 'imlg-3';

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA import_missing_owner CASCADE;
DROP OWNED BY regress_im_other;
DROP ROLE regress_im_ghost;
DROP ROLE regress_im_other;
