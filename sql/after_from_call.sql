-- sg_submit's after counts from the call, not from the start of its
-- transaction: a run submitted with after => '1 minute' in a transaction
-- open for a minute was due as it committed.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA after_from_call;
SET search_path = after_from_call;
CREATE EXTENSION stategraph;
RESET client_min_messages;
CREATE FUNCTION afc_node(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('afc', '{"n": "replace"}');
SELECT sg_add_node('afc', 'a', 'afc_node(jsonb)');
SELECT sg_add_edge('afc', '__start__', 'a');
SELECT sg_add_edge('afc', 'a', '__end__');
SELECT sg_compile('afc');
BEGIN;
SELECT pg_sleep(0.5);
SELECT statement_timestamp() AS before_submit \gset
SELECT sg_submit('afc', '{}', 'afc-1', after => '1 hour') AS later \gset
SELECT not_before >= :'before_submit'::timestamptz + interval '1 hour' AS due_an_hour_after_the_call,
       not_before - now() >= interval '1 hour 0.5 s' AS not_from_the_transaction_start
FROM stategraph.runs WHERE run_id = :'later';
COMMIT;
SELECT sg_cancel(:'later');
SET client_min_messages = warning;
DROP SCHEMA after_from_call CASCADE;
