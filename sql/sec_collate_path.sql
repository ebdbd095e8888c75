--
-- The extension's statements name collation "C" qualified. pg_catalog is
-- searched first only when the search path does not name it: under a path
-- such as "public, pg_catalog" (which a database's owner may set for every
-- session and for the background runs, TAP 151_worker_search_path), a
-- collation "C" that a role made in an earlier schema was the one
-- sg_threads sorted by (and that sg_compile, the LangGraph.js writes and
-- the import checks compared with). Here the hostile "C" is ICU's root
-- collation, which sorts 'a' before 'B'; the byte order sorts 'B' first.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA sec_collate_path;
CREATE SCHEMA sec_collate_hostile;
SET search_path = sec_collate_path;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE COLLATION sec_collate_hostile."C" (provider = icu, locale = 'und');
CREATE FUNCTION one(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('cp', '{"n": "replace"}');
SELECT sg_add_node('cp', 'one', 'one(jsonb)');
SELECT sg_add_edge('cp', '__start__', 'one');
SELECT sg_add_edge('cp', 'one', '__end__');
SELECT sg_compile('cp');
SELECT count(sg_invoke('cp', '{}', thread_id => t)) FROM unnest(ARRAY['a-1', 'B-1', 'b-2', 'A-2']) t;

-- the byte order, whatever the search path
SELECT string_agg(thread_id, ' ') AS plain_path FROM sg_threads();
SET search_path = sec_collate_hostile, pg_catalog, sec_collate_path;
SELECT string_agg(thread_id, ' ') AS hostile_path FROM sg_threads();
RESET search_path;

SET client_min_messages = warning;
DROP SCHEMA sec_collate_path CASCADE;
DROP SCHEMA sec_collate_hostile CASCADE;
