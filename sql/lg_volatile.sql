-- The LangGraph.js readers take a snapshot of their own (lgread.c,
-- LG_READ_ONE_SNAPSHOT: the command counter advanced, then a new
-- snapshot), not the statement's: they were declared STABLE, which
-- promises the statement's view. They are VOLATILE now, on a new install
-- and after ALTER EXTENSION UPDATE from 0.1.0 alike (0.2.0 is made by the
-- update script either way).
CREATE EXTENSION stategraph;
SELECT p.oid::regprocedure AS function, p.provolatile
  FROM pg_proc p
 WHERE p.proname IN ('sg_lg_get_tuple', 'sg_lg_list', 'lg_next')
 ORDER BY 1::text;
-- a read in the statement that wrote sees the write (the command counter advanced)
SELECT sg_lg_put('lgv', '', NULL,
       '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "ts": "x", "channel_values": {"a": 1},
         "channel_versions": {"a": 1}, "versions_seen": {}}',
       '{"source": "input", "step": -1}', '{"a": 1}') IS NOT NULL AS put;
SELECT (sg_lg_get_tuple('lgv') -> 'checkpoint' ->> 'id') AS id;
SELECT count(*) FROM sg_lg_list('lgv');
DROP EXTENSION stategraph;
CREATE EXTENSION stategraph VERSION '0.1.0';
ALTER EXTENSION stategraph UPDATE;
SELECT p.oid::regprocedure AS function, p.provolatile
  FROM pg_proc p
 WHERE p.proname IN ('sg_lg_get_tuple', 'sg_lg_list', 'lg_next')
 ORDER BY 1::text;
DROP EXTENSION stategraph;
