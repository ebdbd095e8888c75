--
-- Found by fuzzing: stategraph.fork_source_owned() as a trigger of another
-- table (only a superuser may attach it) read a column parent_thread that
-- the table may not have (XX000 "invalid attnum"), or that may be of
-- another type (a crash when another role inserted: an integer read as
-- text). Both are 39P01 now, as are a statement or AFTER trigger.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_fz3_writer;
CREATE SCHEMA fuzz3_triggers;
SET search_path = fuzz3_triggers;
CREATE EXTENSION stategraph;
CREATE ROLE regress_fz3_writer;
GRANT USAGE ON SCHEMA fuzz3_triggers TO regress_fz3_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA fuzz3_triggers GRANT INSERT, SELECT ON TABLES TO regress_fz3_writer;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE TABLE no_column (a int);
CREATE TRIGGER t BEFORE INSERT ON no_column FOR EACH ROW EXECUTE FUNCTION stategraph.fork_source_owned();
INSERT INTO no_column VALUES (1);
SET ROLE regress_fz3_writer;
INSERT INTO no_column VALUES (1);
RESET ROLE;
CREATE TABLE int_column (a int, parent_thread int);
CREATE TRIGGER t BEFORE INSERT OR UPDATE ON int_column FOR EACH ROW EXECUTE FUNCTION stategraph.fork_source_owned();
SET ROLE regress_fz3_writer;
INSERT INTO int_column VALUES (1, 5);
RESET ROLE;
CREATE TABLE after_trigger (a int, parent_thread text);
CREATE TRIGGER t AFTER INSERT ON after_trigger FOR EACH ROW EXECUTE FUNCTION stategraph.fork_source_owned();
INSERT INTO after_trigger VALUES (1, 'x');
CREATE TABLE statement_trigger (a int, parent_thread text);
CREATE TRIGGER t BEFORE INSERT ON statement_trigger FOR EACH STATEMENT EXECUTE FUNCTION stategraph.fork_source_owned();
INSERT INTO statement_trigger VALUES (1, 'x');
-- a table with a text parent_thread: checked as stategraph.checkpoints is
CREATE TABLE text_column (a int, parent_thread text);
CREATE TRIGGER t BEFORE INSERT OR UPDATE ON text_column FOR EACH ROW EXECUTE FUNCTION stategraph.fork_source_owned();
SET ROLE regress_fz3_writer;
INSERT INTO text_column VALUES (1, 'nope'), (2, NULL);
RESET ROLE;
SELECT count(*) FROM text_column;

SET client_min_messages = warning;
DROP SCHEMA fuzz3_triggers CASCADE;
DROP ROLE regress_fz3_writer;
