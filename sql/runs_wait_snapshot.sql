--
-- sg_wait under REPEATABLE READ or SERIALIZABLE (README, Reference and
-- Errors): such a snapshot never sees a run finish, so waiting for a run it
-- shows active is refused (25000); a finished run's row, or an active one's
-- with timeout 0, comes back at once as in READ COMMITTED.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP SCHEMA IF EXISTS wait_snapshot CASCADE;
CREATE SCHEMA wait_snapshot;
SET search_path = wait_snapshot;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE FUNCTION ws_node(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"done": true}'::jsonb $$;
SELECT sg_create_graph('ws', '{"done": "replace"}');
SELECT sg_add_node('ws', 'n', 'ws_node(jsonb)');
SELECT sg_add_edge('ws', '__start__', 'n');
SELECT sg_add_edge('ws', 'n', '__end__');
SELECT sg_compile('ws');

-- a run that finishes (the background workers, or this session's sg_work)
SELECT sg_submit('ws', '{}', 'ws-done') AS done_run \gset
CALL sg_work(max_time => '10 s');
SELECT status FROM sg_wait(:'done_run', timeout => '30 s');
-- a run due in an hour: pending, active
SELECT sg_submit('ws', '{}', 'ws-later', after => '1 hour') AS later_run \gset

BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT status FROM sg_wait(:'done_run');                      -- finished: its row
SELECT status FROM sg_wait(:'later_run', timeout => '0');     -- timeout 0: the row as it stands
SELECT status FROM sg_wait(:'later_run', timeout => '1 s');   -- would never see it finish: 25000
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT status FROM sg_wait(:'later_run');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

SELECT sg_cancel(:'later_run');
SELECT status FROM sg_wait(:'later_run', timeout => '30 s');
