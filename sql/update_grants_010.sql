--
-- ALTER EXTENSION stategraph UPDATE from 0.1.0, whose README had users
-- grant table privileges (GRANT ALL ON ALL TABLES IN SCHEMA stategraph):
-- row-level security restrains SELECT, INSERT, UPDATE and DELETE, not
-- TRIGGER (a trigger runs as whoever writes the table, a superuser too),
-- TRUNCATE or REFERENCES, and the update said nothing. It revokes TRIGGER
-- now and warns of TRUNCATE and REFERENCES, naming the role; the other
-- grants stay, and a role sees no other role's thread.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_ug_app;
DROP ROLE IF EXISTS regress_ug_maint;
CREATE SCHEMA update_grants_010;
GRANT USAGE ON SCHEMA update_grants_010 TO PUBLIC;
SET search_path = update_grants_010;
CREATE EXTENSION stategraph VERSION '0.1.0';
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE regress_ug_app;
CREATE ROLE regress_ug_maint;
GRANT USAGE ON SCHEMA stategraph TO regress_ug_app, regress_ug_maint;
GRANT ALL ON ALL TABLES IN SCHEMA stategraph TO regress_ug_app;
GRANT SELECT, TRUNCATE ON stategraph.threads TO regress_ug_maint;
CREATE FUNCTION one(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('ug', '{"n": "replace"}');
SELECT sg_add_node('ug', 'one', 'one(jsonb)');
SELECT sg_add_edge('ug', '__start__', 'one');
SELECT sg_add_edge('ug', 'one', '__end__');
SELECT sg_compile('ug');
SELECT sg_invoke('ug', '{"n": 0}', thread_id => 'old');
-- a fork made under 0.1.0, whose rows read the values of the thread it forks
SELECT sg_fork('old', (SELECT checkpoint_id FROM sg_get_state_history('old') ORDER BY checkpoint_id LIMIT 1 OFFSET 1),
               'old-fork') IS NOT NULL AS forked;
SELECT "values" AS fork_values FROM sg_get_state('old-fork') \gset

ALTER EXTENSION stategraph UPDATE;
SELECT count(*) AS tables_with_trigger FROM pg_class c
WHERE c.relnamespace = 'stategraph'::regnamespace AND c.relkind = 'r'
  AND has_table_privilege('regress_ug_app', c.oid, 'TRIGGER');
SELECT has_table_privilege('regress_ug_app', 'stategraph.threads', 'SELECT') AS app_select,
       has_table_privilege('regress_ug_app', 'stategraph.threads', 'TRUNCATE') AS app_truncate,
       has_table_privilege('regress_ug_maint', 'stategraph.threads', 'TRUNCATE') AS maint_truncate;
SET ROLE regress_ug_app;
SELECT count(*) AS threads_seen FROM sg_threads();
CREATE FUNCTION pg_temp.t() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER sneak BEFORE INSERT ON stategraph.threads FOR EACH ROW EXECUTE FUNCTION pg_temp.t();
RESET ROLE;
-- the fork given to role app (README's way for 0.1.0's threads) reads as before for it
UPDATE stategraph.threads SET owner = 'regress_ug_app' WHERE thread_id = 'old-fork';
SET ROLE regress_ug_app;
SELECT "values" = :'fork_values'::jsonb AS fork_reads_as_before FROM sg_get_state('old-fork');
RESET ROLE;

SET client_min_messages = warning;
DROP SCHEMA update_grants_010 CASCADE;
DROP OWNED BY regress_ug_app, regress_ug_maint;
DROP ROLE regress_ug_app;
DROP ROLE regress_ug_maint;
