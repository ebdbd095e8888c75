--
-- ALTER EXTENSION stategraph UPDATE from 0.1.0 where the administrator had
-- kept stategraph to some roles: EXECUTE on its functions revoked from
-- PUBLIC and granted to one role (with USAGE on schema stategraph and its
-- tables). The update granted EXECUTE to PUBLIC again, and USAGE on the
-- schema too, so that every role of the database could create graphs and
-- threads, run the application's graphs on threads of its own, and queue
-- background runs. The update keeps the administrator's choice (with a
-- WARNING that says how to open it): the routines stay revoked and PUBLIC
-- gets no USAGE on schema stategraph, while the role that was let in goes
-- on working with the new features. The extension's initial privileges stay
-- those of a fresh install, so that pg_dump keeps the REVOKEs.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_kept_app;
DROP ROLE IF EXISTS regress_kept_stranger;
CREATE SCHEMA update_revoked_010;
GRANT USAGE ON SCHEMA update_revoked_010 TO PUBLIC;
SET search_path = update_revoked_010;
CREATE EXTENSION stategraph VERSION '0.1.0';
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE regress_kept_app;
CREATE ROLE regress_kept_stranger;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA update_revoked_010 FROM PUBLIC;
REVOKE EXECUTE ON ALL PROCEDURES IN SCHEMA update_revoked_010 FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA update_revoked_010 TO regress_kept_app;
GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA update_revoked_010 TO regress_kept_app;
GRANT USAGE ON SCHEMA stategraph TO regress_kept_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA stategraph TO regress_kept_app;
CREATE FUNCTION one(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
GRANT EXECUTE ON FUNCTION one(jsonb) TO regress_kept_app;
SET ROLE regress_kept_app;
SELECT sg_create_graph('r2', '{"n": "replace"}');
SELECT sg_add_node('r2', 'one', 'one(jsonb)');
SELECT sg_add_edge('r2', '__start__', 'one');
SELECT sg_add_edge('r2', 'one', '__end__');
SELECT sg_compile('r2');
SELECT sg_invoke('r2', '{"n": 0}', thread_id => 'app-old');
RESET ROLE;
SET ROLE regress_kept_stranger;
SELECT sg_invoke('r2', '{"n": 0}', thread_id => 'stranger-010');
RESET ROLE;

ALTER EXTENSION stategraph UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'stategraph';
-- the stranger is kept out, as before the update
SELECT has_function_privilege('regress_kept_stranger', 'sg_invoke(text,jsonb,text,uuid,jsonb,integer,text)', 'EXECUTE') AS stranger_invoke,
       has_function_privilege('regress_kept_stranger', 'sg_create_graph(text,jsonb)', 'EXECUTE') AS stranger_create,
       has_schema_privilege('regress_kept_stranger', 'stategraph', 'USAGE') AS stranger_usage;
\set VERBOSITY terse
SET ROLE regress_kept_stranger;
SELECT sg_invoke('r2', '{"n": 0}', thread_id => 'stranger-1');
SELECT sg_submit('r2', '{"n": 0}', 'stranger-2');
SELECT sg_lg_put('stranger-3', '', NULL, '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "x", "channel_values": {}, "channel_versions": {}, "versions_seen": {}}', '{}', '{}');
RESET ROLE;
\set VERBOSITY default
SELECT count(*) AS stranger_rows FROM stategraph.threads WHERE owner = 'regress_kept_stranger';
-- the role let in goes on, with the new features on its old thread
UPDATE stategraph.threads SET owner = 'regress_kept_app' WHERE thread_id = 'app-old';
SET ROLE regress_kept_app;
SELECT thread_id, status FROM sg_threads();
SELECT sg_invoke('r2', '{"n": 5}', thread_id => 'app-old') ->> 'n' AS n;
SELECT sg_submit('r2', '{"n": 0}', 'app-new') AS run \gset
SELECT status FROM sg_wait(:'run', '60 s');
SELECT "values" FROM sg_get_state('app-new');
SELECT length(sg_export_thread('app-old')::text) > 0 AS exported;
RESET ROLE;
-- the extension's initial privileges are a fresh install's (pg_dump dumps the REVOKEs)
SELECT count(*) AS init_privs_without_public
FROM pg_init_privs ip
WHERE ((ip.classoid = 'pg_proc'::regclass
        AND ip.objoid IN ('sg_invoke(text,jsonb,text,uuid,jsonb,integer,text)'::regprocedure, 'sg_create_graph(text,jsonb)'::regprocedure))
       OR (ip.classoid = 'pg_namespace'::regclass AND ip.objoid = 'stategraph'::regnamespace))
  AND NOT EXISTS (SELECT 1 FROM aclexplode(ip.initprivs) a WHERE a.grantee = 0);
SELECT count(*) AS init_privs_naming_app
FROM pg_init_privs ip, aclexplode(ip.initprivs) a
WHERE a.grantee = 'regress_kept_app'::regrole;
CREATE FUNCTION pg_temp.init_privs() RETURNS text LANGUAGE sql AS $$
    SELECT md5(string_agg(pg_describe_object(ip.classoid, ip.objoid, ip.objsubid) || ' '
                          || (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(ip.initprivs) a), E'\n'
                          ORDER BY pg_describe_object(ip.classoid, ip.objoid, ip.objsubid)))
    FROM pg_init_privs ip
    WHERE (ip.classoid, ip.objoid) IN (SELECT classid, objid FROM pg_depend
                                       WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
                                         AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'stategraph'))
$$;
SELECT pg_temp.init_privs() AS updated_init_privs \gset

-- a fresh install is open to every role, as README says
SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
CREATE EXTENSION stategraph;
RESET client_min_messages;
SELECT has_function_privilege('regress_kept_stranger', 'sg_invoke(text,jsonb,text,uuid,jsonb,integer,text)', 'EXECUTE') AS fresh_stranger_invoke,
       has_schema_privilege('regress_kept_stranger', 'stategraph', 'USAGE') AS fresh_stranger_usage;
SELECT pg_temp.init_privs() = :'updated_init_privs' AS init_privs_as_fresh;
-- so is one under default privileges that keep PUBLIC from EXECUTE (those
-- are not a revoke by hand of 0.1.0's functions): no WARNING
SET client_min_messages = warning;
DROP EXTENSION stategraph CASCADE;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
CREATE EXTENSION stategraph;
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO PUBLIC;
RESET client_min_messages;
SELECT has_function_privilege('regress_kept_stranger', 'sg_invoke(text,jsonb,text,uuid,jsonb,integer,text)', 'EXECUTE') AS defacl_stranger_invoke,
       has_schema_privilege('regress_kept_stranger', 'stategraph', 'USAGE') AS defacl_stranger_usage;

SET client_min_messages = warning;
DROP SCHEMA update_revoked_010 CASCADE;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP OWNED BY regress_kept_app, regress_kept_stranger;
DROP ROLE regress_kept_app;
DROP ROLE regress_kept_stranger;
