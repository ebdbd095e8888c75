-- A required argument given as NULL is 22004, as README's Errors says ("a
-- required argument is NULL"), for the LangGraph.js saver calls too: put's
-- checkpoint and putWrites' writes were 22023 ("must be a JSON object/array").
CREATE EXTENSION stategraph;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'no error';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
SELECT pg_temp.err($q$SELECT sg_lg_put('doc-n1', '', NULL, NULL, '{}', '{}')$q$);
SELECT pg_temp.err($q$SELECT sg_lg_put_writes('doc-n1', '', '1ef00000-0000-6000-8000-000000000001', 't', NULL)$q$);
-- malformed, not missing: still 22023
SELECT pg_temp.err($q$SELECT sg_lg_put('doc-n1', '', NULL, '[]', '{}', '{}')$q$);
SELECT pg_temp.err($q$SELECT sg_lg_put_writes('doc-n1', '', '1ef00000-0000-6000-8000-000000000001', 't', '{}')$q$);
-- nothing was stored
SELECT count(*) FROM sg_lg_list('doc-n1');
-- the hint's '[]' is a call without writes
SELECT sg_lg_put('doc-n1', '', NULL, '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "2024-01-01T00:00:00Z", "channel_values": {}, "channel_versions": {}, "versions_seen": {}}', '{}', '{}') IS NOT NULL AS put;
SELECT sg_lg_put_writes('doc-n1', '', '1ef00000-0000-6000-8000-000000000001', 't', '[]');
