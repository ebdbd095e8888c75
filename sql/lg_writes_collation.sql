-- A checkpoint's pending writes come back in LangGraph's order (writesSortKey:
-- task path, task id, idx; strings by code point), whatever the database's
-- collation: sg_lg_get_tuple sorted them in the database's, and in an ICU
-- en-US database "_c" came before "B" (a DeltaChannel, rebuilt from these
-- writes in order, then read another value than the run had made).
\set regress_db :DBNAME
CREATE DATABASE sg_lg_icu TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8';
\c sg_lg_icu
SET client_min_messages = warning;
CREATE EXTENSION stategraph;
SELECT 'B' < '_c' AS "database collation orders B first";
SELECT sg_lg_put('coll', '', NULL,
                 '{"v":4,"id":"1f0d0000-0000-6000-8000-000000000001","ts":"2026-01-01T00:00:00.000Z","channel_versions":{},"versions_seen":{}}',
                 '{"source":"input","step":-1,"parents":{}}', '{}', NULL, NULL, NULL, false, NULL, false, '{}') IS NOT NULL AS put;
SELECT count(sg_lg_put_writes('coll', '', '1f0d0000-0000-6000-8000-000000000001', 't-' || n,
                              '[["log", null]]'::jsonb, '~__pregel_pull, ' || n, NULL, NULL, NULL, ('["' || n || '"]')::json))
FROM unnest(ARRAY['a', 'B', 'é', '_c', 'Z']) n;
-- code point order: B Z _c a é
SELECT string_agg(w->>0, ' ' ORDER BY o) AS pending_writes_order
FROM json_array_elements(sg_lg_get_tuple('coll', '', NULL)->'pending_writes') WITH ORDINALITY AS x(w, o);
\c :regress_db
DROP DATABASE sg_lg_icu;
