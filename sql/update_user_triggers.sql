--
-- ALTER EXTENSION stategraph UPDATE from 0.1.0 where a role had been given
-- ALL on the tables of 0.1.0 and made triggers on them. The update revokes
-- TRIGGER, but the triggers stayed on: one fired as the superuser running
-- the update (a statement trigger on its DELETE of checkpoints), and after
-- it each copied the checkpoints of every role that called stategraph,
-- which row-level security hides from the trigger's maker. The update now
-- disables such triggers with a WARNING; a trigger whose function is a
-- superuser's, without a WHEN condition, stays on.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_r41t_app;
DROP ROLE IF EXISTS regress_r41t_alice;
CREATE SCHEMA update_user_triggers;
GRANT USAGE ON SCHEMA update_user_triggers TO PUBLIC;
SET search_path = update_user_triggers;
CREATE EXTENSION stategraph VERSION '0.1.0';
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE regress_r41t_app;
CREATE ROLE regress_r41t_alice;
GRANT USAGE ON SCHEMA stategraph TO regress_r41t_app;
GRANT ALL ON ALL TABLES IN SCHEMA stategraph TO regress_r41t_app;
CREATE SCHEMA sec_r41t_app AUTHORIZATION regress_r41t_app;
-- where the triggers note who ran them and what they saw
CREATE TABLE loot (trg text, who text, super boolean, thread_id text);
GRANT INSERT ON loot TO PUBLIC;
-- a superuser's own audit trigger function
CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO update_user_triggers.loot VALUES (TG_NAME, current_user, NULL, NULL);
    RETURN NULL;
END $$;
GRANT EXECUTE ON FUNCTION audit() TO PUBLIC;

SET ROLE regress_r41t_app;
CREATE FUNCTION sec_r41t_app.app_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO update_user_triggers.loot
    VALUES (TG_NAME, current_user, (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user),
            CASE WHEN TG_LEVEL = 'ROW' THEN NEW.thread_id END);
    RETURN NULL;
END $$;
CREATE TRIGGER app_stmt AFTER DELETE ON stategraph.checkpoints FOR EACH STATEMENT EXECUTE FUNCTION sec_r41t_app.app_note();
CREATE TRIGGER app_row AFTER INSERT ON stategraph.checkpoints FOR EACH ROW EXECUTE FUNCTION sec_r41t_app.app_note();
-- the superuser's function, but a WHEN condition of the role's
CREATE FUNCTION sec_r41t_app.app_when(text) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE TRIGGER app_when AFTER INSERT ON stategraph.checkpoints FOR EACH ROW
    WHEN (sec_r41t_app.app_when(NEW.thread_id)) EXECUTE FUNCTION audit();
-- the superuser's function without a condition: stays on
CREATE TRIGGER app_audit AFTER INSERT ON stategraph.threads FOR EACH STATEMENT EXECUTE FUNCTION audit();
RESET ROLE;

ALTER EXTENSION stategraph UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'stategraph';
-- nothing of the role's ran as the superuser during the update
SELECT trg, who, super FROM loot ORDER BY 1;
SELECT tgrelid::regclass, tgname, tgenabled FROM pg_trigger
WHERE tgname LIKE 'app%' ORDER BY 1, 2;

-- after the update: a role's checkpoints reach no trigger of the other's
CREATE FUNCTION one(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
GRANT EXECUTE ON FUNCTION one(jsonb) TO PUBLIC;
SET ROLE regress_r41t_alice;
SELECT sg_create_graph('r41t', '{"n": "replace"}');
SELECT sg_add_node('r41t', 'one', 'one(jsonb)');
SELECT sg_add_edge('r41t', '__start__', 'one');
SELECT sg_add_edge('r41t', 'one', '__end__');
SELECT sg_compile('r41t');
SELECT sg_invoke('r41t', '{"n": 0}', thread_id => 'alice-1');
RESET ROLE;
SELECT trg, who, super, thread_id FROM loot ORDER BY 1;

SET client_min_messages = warning;
DROP SCHEMA update_user_triggers CASCADE;
DROP SCHEMA sec_r41t_app CASCADE;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP OWNED BY regress_r41t_app, regress_r41t_alice;
DROP ROLE regress_r41t_app;
DROP ROLE regress_r41t_alice;
