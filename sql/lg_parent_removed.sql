--
-- A LangGraph.js put whose parent checkpoint was removed meanwhile (by
-- sg_lg_delete_for_runs, a prune or the retention sweep) is refused with
-- 40001 as before, but said so: it read "thread was advanced by another
-- writer", "Two processes ran the same thread at once", which sent the
-- reader looking for a second writer that never was.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA lg_parent_removed;
SET search_path = lg_parent_removed;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY default

CREATE FUNCTION pg_temp.put(t text, id text, parent uuid, run text) RETURNS uuid LANGUAGE sql AS $$
    SELECT sg_lg_put(t, '', parent,
        jsonb_build_object('v', 4, 'id', id, 'channel_versions', '{"m": 1}'::jsonb, 'versions_seen', '{}'::jsonb),
        jsonb_build_object('source', 'loop', 'step', 0, 'run_id', run), '{"m": 1}', channel_values => '{"m": [1]}') $$;
SELECT pg_temp.put('dfr', '1ef00000-0000-6000-8000-000000000001', NULL, 'r0');
SELECT pg_temp.put('dfr', '1ef00000-0000-6000-8000-000000000002', '1ef00000-0000-6000-8000-000000000001', 'r1');
SELECT sg_lg_delete_for_runs(ARRAY['r1']);
-- the run r1 goes on from its checkpoint, which is gone
SELECT pg_temp.put('dfr', '1ef00000-0000-6000-8000-000000000003', '1ef00000-0000-6000-8000-000000000002', 'r1');
-- a second writer that went on from the same parent is still told so
SELECT pg_temp.put('dfr', '1ef00000-0000-6000-8000-000000000004', '1ef00000-0000-6000-8000-000000000001', 'r2');
SELECT pg_temp.put('dfr', '1ef00000-0000-6000-8000-000000000005', '1ef00000-0000-6000-8000-000000000001', 'r3');
-- nothing else was stored
SELECT checkpoint_id, parent_checkpoint_id FROM stategraph.lg_checkpoints WHERE thread_id = 'dfr' ORDER BY 1;
-- the first put of a new thread naming a parent that never was: the error
-- names the parent missing (it said the thread was deleted by another writer), and
-- nothing is stored
SELECT pg_temp.put('never', '1ef00000-0000-6000-8000-000000000002', '1ef00000-0000-6000-8000-000000000001', 'r1');
SELECT count(*) FROM stategraph.lg_checkpoints WHERE thread_id = 'never';

SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
DROP SCHEMA lg_parent_removed CASCADE;
