--
-- The extension's plpgsql functions that run at call time (the router's
-- cross-shard stategraph.import_then_fork and import_then_update_state)
-- declared their variables of types text and uuid unqualified: plpgsql
-- resolves those names when it compiles the function, with the caller's
-- search path. pg_catalog is searched first only when the path does not
-- name it: under a path such as "public, pg_catalog", which a database's
-- owner may set for every session (TAP 152), a domain "text" or "uuid" of
-- an earlier schema was the variables' type, and its CHECK, a function of
-- that schema's owner, ran as the caller at each assignment. They are
-- pg_catalog's types now.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA sec_path_types;
CREATE SCHEMA sec_path_hostile;
SET search_path = sec_path_types;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE TABLE sec_path_hostile.hijacked (what text, who text);
CREATE FUNCTION sec_path_hostile.note(what pg_catalog.text) RETURNS boolean LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO sec_path_hostile.hijacked VALUES (what, current_user); RETURN true; END $$;
CREATE DOMAIN sec_path_hostile.text AS pg_catalog.text CHECK (sec_path_hostile.note('domain text'));
CREATE DOMAIN sec_path_hostile.uuid AS pg_catalog.uuid CHECK (sec_path_hostile.note('domain uuid'));

CREATE FUNCTION one(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('pt', '{"n": "replace"}');
SELECT sg_add_node('pt', 'one', 'one(jsonb)');
SELECT sg_add_edge('pt', '__start__', 'one');
SELECT sg_add_edge('pt', 'one', '__end__');
SELECT sg_compile('pt');
SELECT sg_invoke('pt', '{"n": 0}', thread_id => 'pt-1');
SELECT checkpoint_id AS cp FROM sg_get_state_history('pt-1') ORDER BY step DESC LIMIT 1 \gset
SELECT sg_export_thread('pt-1') AS export \gset

SET search_path = sec_path_hostile, pg_catalog, sec_path_types;
SELECT stategraph.import_then_fork(:'export', :'cp', 'pt-fork') IS NOT NULL AS forked;
SELECT stategraph.import_then_update_state(:'export', 'pt-fork', '{"n": 5}', NULL, :'cp') IS NOT NULL AS updated;
RESET search_path;
SELECT what, who FROM sec_path_hostile.hijacked ORDER BY 1;
SELECT "values" FROM sec_path_types.sg_get_state('pt-fork');

SET client_min_messages = warning;
DROP SCHEMA sec_path_types CASCADE;
DROP SCHEMA sec_path_hostile CASCADE;
