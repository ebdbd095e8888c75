-- Durations are counted in UTC (a day is 24 hours), whatever the session's
-- TimeZone: sg_submit's after, sg_prune's older_than, sg_set_retention's
-- ttl as CALL sg_work sweeps it, sg_claim's lease, sg_heartbeat's extend.
-- timestamptz + interval counts days in the session's TimeZone, so that
-- '60 days' across a daylight-saving change was an hour shorter or longer
-- in some sessions than in others (and than in a worker's sweep).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA time_zone;
SET search_path = time_zone;
CREATE EXTENSION stategraph;
RESET client_min_messages;
-- A zone (POSIX rule) that springs forward 10 days from now and falls
-- back 30 days ago, whatever the date the test runs at: '60 days' ahead and
-- '60 days' back each cross exactly one change.
SELECT set_config('TimeZone', format('AAA0BBB,%s/0,%s/0',
    extract(doy FROM (now() AT TIME ZONE 'UTC') + interval '10 days')::int - 1,
    extract(doy FROM (now() AT TIME ZONE 'UTC') - interval '30 days')::int - 1), false) IS NOT NULL AS zone_set;
SELECT (now() + interval '60 days') - now() <> interval '60 days' AS zone_changes_ahead,
       now() - (now() - interval '60 days') <> interval '60 days' AS zone_changes_back;
CREATE FUNCTION tz_node(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('tzg', '{"n": "replace"}');
SELECT sg_add_node('tzg', 'a', 'tz_node(jsonb)');
SELECT sg_add_edge('tzg', '__start__', 'a');
SELECT sg_add_edge('tzg', 'a', '__end__');
SELECT sg_compile('tzg');
-- after => '60 days': due 60 x 24 hours after the call
SELECT sg_submit('tzg', '{}', 'tz-later', after => '60 days') AS later \gset
SELECT round((extract(epoch FROM not_before) - extract(epoch FROM created_at)) / 60) AS after_minutes
FROM stategraph.runs WHERE run_id = :'later';
SELECT sg_cancel(:'later');
-- sg_prune(older_than => '60 days'): the checkpoint 30 minutes past 60 x 24
-- hours old goes, the one 30 minutes short of it stays
SELECT (sg_invoke('tzg', '{}', thread_id => 'tz-prune')) IS NOT NULL AS ran;
SELECT (sg_invoke('tzg', '{}', thread_id => 'tz-prune')) IS NOT NULL AS ran;
SELECT count(*) AS checkpoints FROM stategraph.checkpoints WHERE thread_id = 'tz-prune';
WITH c AS (SELECT checkpoint_id, row_number() OVER (ORDER BY checkpoint_id) AS i
           FROM stategraph.checkpoints WHERE thread_id = 'tz-prune')
UPDATE stategraph.checkpoints k
SET created_at = to_timestamp(extract(epoch FROM clock_timestamp()) - 60 * 86400
                              + CASE c.i WHEN 1 THEN -1800 WHEN 2 THEN 1800 ELSE 0 END)
FROM c WHERE k.checkpoint_id = c.checkpoint_id AND c.i <= 2;
SELECT sg_prune(older_than => '60 days', thread_id => 'tz-prune') AS pruned;
SELECT count(*) AS checkpoints FROM stategraph.checkpoints WHERE thread_id = 'tz-prune';
-- a ttl of '60 days' as CALL sg_work sweeps it: the thread 30 minutes past
-- it expires, the one 30 minutes short of it does not
SELECT (sg_invoke('tzg', '{}', thread_id => 'tz-old')) IS NOT NULL AS ran;
SELECT (sg_invoke('tzg', '{}', thread_id => 'tz-young')) IS NOT NULL AS ran;
SELECT sg_set_retention('tzg', '60 days');
UPDATE stategraph.threads
SET updated_at = to_timestamp(extract(epoch FROM clock_timestamp()) - 60 * 86400
                              + CASE thread_id WHEN 'tz-old' THEN -1800 ELSE 1800 END)
WHERE thread_id IN ('tz-old', 'tz-young');
CALL sg_work(0);
SELECT thread_id FROM stategraph.threads WHERE thread_id IN ('tz-old', 'tz-young') ORDER BY 1;
-- sg_claim's lease and sg_heartbeat's extend of '20 days': 20 x 24 hours
SELECT sg_create_graph('tzx', '{"n": "replace"}');
SELECT sg_add_external_node('tzx', 'model', 'tzq', NULL, '20 days');
SELECT sg_add_edge('tzx', '__start__', 'model');
SELECT sg_add_edge('tzx', 'model', '__end__');
SELECT sg_compile('tzx');
SELECT sg_invoke('tzx', '{}', 'tz-task') ? '__waiting__' AS waiting;
SELECT task_id AS t, token AS tok FROM sg_claim('tzq', 'w', lease => '20 days') \gset
SELECT round(extract(epoch FROM lease_expires_at) - extract(epoch FROM updated_at)) AS lease_seconds
FROM stategraph.tasks WHERE task_id = :'t';
SELECT sg_heartbeat(:'t', :'tok', '20 days');
SELECT round(extract(epoch FROM lease_expires_at) - extract(epoch FROM updated_at)) AS lease_seconds
FROM stategraph.tasks WHERE task_id = :'t';
RESET TimeZone;
SET client_min_messages = warning;
DROP SCHEMA time_zone CASCADE;
