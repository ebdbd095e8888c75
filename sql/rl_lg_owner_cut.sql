--
-- The lg_ tables keep their owner as text; their permissive policy reads it
-- cast to name (stategraph.owned(owner::name)), which cuts it to 63 bytes.
-- A role whose name is 63 bytes long wrote rows naming its name and a
-- suffix: the cut owner passed the permissive policy as its own, and the
-- restrictive one (stategraph.lg_thread_owner_is) passed them as another
-- role's rows, without looking at the thread. So it planted checkpoints and
-- writes under another role's LangGraph.js thread id, which its owner never
-- sees but a superuser's read takes for the thread's (the newest
-- checkpoint of sg_lg_get_tuple, retention, prune). Such an owner is
-- refused now, and an import does not keep it.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_rllg_owner;
DROP ROLE IF EXISTS regress_rllg_long_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx;
CREATE SCHEMA rl_lg_owner_cut;
GRANT USAGE ON SCHEMA rl_lg_owner_cut TO PUBLIC;
SET search_path = rl_lg_owner_cut;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY terse

CREATE ROLE regress_rllg_owner;
CREATE ROLE regress_rllg_long_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx;
SELECT octet_length(rolname) FROM pg_roles WHERE rolname LIKE 'regress_rllg_long%';

SET ROLE regress_rllg_owner;
SELECT sg_lg_put('rllg-1', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "2026-01-01T00:00:00.000Z",
      "channel_values": {"m": 1}, "channel_versions": {"m": 1}, "versions_seen": {}}',
    '{"source": "input", "step": -1, "parents": {}}', '{"m": 1}');

SET ROLE regress_rllg_long_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx;
-- under its own name: refused, the thread is another role's
INSERT INTO stategraph.lg_checkpoints (thread_id, checkpoint_id, checkpoint, metadata, blobs, owner)
VALUES ('rllg-1', '1ef00000-0000-6000-8000-000000000009',
        '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000009", "channel_values": {}, "channel_versions": {}, "versions_seen": {}}',
        '{}', '{}', current_user);
-- under its name and a suffix: refused too (was: stored)
INSERT INTO stategraph.lg_checkpoints (thread_id, checkpoint_id, checkpoint, metadata, blobs, owner)
VALUES ('rllg-1', '1ef00000-0000-6000-8000-000000000009',
        '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000009", "channel_values": {}, "channel_versions": {}, "versions_seen": {}}',
        '{}', '{}', current_user || 'zzz');
INSERT INTO stategraph.lg_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, value, owner)
VALUES ('rllg-1', '', '1ef00000-0000-6000-8000-000000000001', 'planted', 0, 'm', '2', current_user || 'zzz');
INSERT INTO stategraph.lg_blobs (thread_id, checkpoint_ns, channel, writer, version, value, owner)
VALUES ('rllg-1', '', 'm', '1ef00000-0000-6000-8000-000000000009', '9', '2', current_user || 'zzz');
-- nor by moving a row of its own there
SELECT sg_lg_put('rllg-mine', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000002", "ts": "2026-01-01T00:00:00.000Z",
      "channel_values": {"m": 1}, "channel_versions": {"m": 1}, "versions_seen": {}}',
    '{"source": "input", "step": -1, "parents": {}}', '{"m": 1}');
UPDATE stategraph.lg_checkpoints SET thread_id = 'rllg-1', owner = owner || 'zzz' WHERE thread_id = 'rllg-mine';
-- an export of its own thread whose rows name that owner is imported under its name
SELECT sg_export_thread('rllg-mine') AS e \gset
SELECT jsonb_set(jsonb_set(:'e'::jsonb, '{checkpoints,0,owner}', to_jsonb(current_user || 'zzz')),
                 '{blobs,0,owner}', to_jsonb(current_user || 'zzz')) AS f \gset
SELECT sg_import_thread(jsonb_set(:'f'::jsonb, '{digest}', to_jsonb(md5(
           (:'f'::jsonb -> 'version')::text || (:'f'::jsonb -> 'thread_id')::text
           || (:'f'::jsonb -> 'checkpoints')::text || coalesce(:'f'::jsonb -> 'blobs', 'null')::text
           || coalesce(:'f'::jsonb -> 'writes', 'null')::text)))::jsonb, 'rllg-imported');
RESET ROLE;

-- the owner's thread has its own rows only, and a superuser reads it as the owner does
SELECT checkpoint_id, owner = 'regress_rllg_owner' AS owners FROM stategraph.lg_checkpoints WHERE thread_id = 'rllg-1';
SELECT count(*) FROM stategraph.lg_writes WHERE thread_id = 'rllg-1';
SELECT count(*) FROM stategraph.lg_blobs WHERE thread_id = 'rllg-1' AND owner <> 'regress_rllg_owner';
SELECT sg_lg_get_tuple('rllg-1', '', NULL)::jsonb -> 'checkpoint' ->> 'id' AS newest;
SET ROLE regress_rllg_long_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx;
SELECT DISTINCT owner = current_user AS imported_under_its_name FROM stategraph.lg_checkpoints WHERE thread_id = 'rllg-imported';
RESET ROLE;
SELECT max(octet_length(owner)) < 64 AS owners_fit FROM (
    SELECT owner FROM stategraph.lg_checkpoints UNION ALL SELECT owner FROM stategraph.lg_blobs
    UNION ALL SELECT owner FROM stategraph.lg_writes) o;

SET client_min_messages = warning;
DROP SCHEMA rl_lg_owner_cut CASCADE;
DROP OWNED BY regress_rllg_owner, regress_rllg_long_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx;
DROP ROLE regress_rllg_owner;
DROP ROLE regress_rllg_long_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx;
