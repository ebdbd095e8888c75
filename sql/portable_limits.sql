--
-- Portable threads at jsonb's limit: an export is one jsonb value, and a
-- container of more than 256 MB cannot be built. A thread stored fine
-- (three checkpoints of a 90 MB value each) is then refused by
-- sg_export_thread with an error that says so and what to do (before: the
-- export statement's own "total size of jsonb array elements exceeds the
-- maximum", naming no thread); once pruned, it exports.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA portable_limits;
SET search_path = portable_limits;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\set VERBOSITY default

CREATE FUNCTION keep(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
SELECT sg_create_graph('blob', '{"b": "replace"}');
SELECT sg_add_node('blob', 'keep', 'keep(jsonb)');
SELECT sg_add_edge('blob', '__start__', 'keep');
SELECT sg_add_edge('blob', 'keep', '__end__');
SELECT sg_compile('blob');
SELECT count(sg_invoke('blob', jsonb_build_object('b', repeat('x', 90000000) || i), thread_id => 'big'))
FROM generate_series(1, 3) i;
SELECT length(sg_export_thread('big')::text);
SELECT sg_prune(keep_last => 1, thread_id => 'big');
SELECT length(sg_export_thread('big')::text) > 90000000 AS exported;

SET client_min_messages = warning;
DROP SCHEMA portable_limits CASCADE;
