--
-- Giving a thread to another role with UPDATE ... SET owner (README's way
-- to give the threads of 0.1.0, all of the extension owner's after the
-- update, to their roles) detaches the forks that would cross owners. A
-- fork's rows read its source's values, which row-level security hid from
-- the new owner: the fork read {"n": 3} without its log, silently, and a
-- run went on from that. Each thread now reads as before, for its owner,
-- and a statement that moves a source and its forks together detaches
-- nothing.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_ocf_a;
DROP ROLE IF EXISTS regress_ocf_b;
CREATE SCHEMA owner_change_forks;
GRANT USAGE ON SCHEMA owner_change_forks TO PUBLIC;
SET search_path = owner_change_forks;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE regress_ocf_a;
CREATE ROLE regress_ocf_b;
CREATE FUNCTION owner_change_forks.step(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('n', 1, 'log', jsonb_build_array('s' || ((state->>'n')::int + 1))) $$;
GRANT EXECUTE ON FUNCTION owner_change_forks.step(jsonb) TO PUBLIC;
SELECT sg_create_graph('ocf', '{"n": "add", "log": "append"}');
SELECT sg_add_node('ocf', 'step', 'owner_change_forks.step(jsonb)');
SELECT sg_add_edge('ocf', '__start__', 'step');
SELECT sg_add_edge('ocf', 'step', '__end__');
SELECT sg_compile('ocf');
-- every checkpoint of a thread, as its caller reads it
CREATE FUNCTION owner_change_forks.reads(t text) RETURNS text LANGUAGE sql AS $$
    SELECT pg_catalog.md5(pg_catalog.string_agg(h.checkpoint_id || ' ' || h."values"::text, ',' ORDER BY h.checkpoint_id))
    FROM sg_get_state_history(t) h $$;
GRANT EXECUTE ON FUNCTION owner_change_forks.reads(text) TO PUBLIC;
-- a thread of 8 checkpoints and two forks of its fourth, one by sg_fork, one by sg_update_state
CREATE FUNCTION owner_change_forks.make(src text, f1 text, f2 text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    c uuid;
BEGIN
    PERFORM sg_invoke('ocf', '{"n": 0}', thread_id => src) FROM generate_series(1, 4);
    SELECT checkpoint_id INTO c FROM sg_get_state_history(src) ORDER BY checkpoint_id OFFSET 3 LIMIT 1;
    PERFORM sg_fork(src, c, f1);
    PERFORM sg_update_state(f2, '{"n": 100}', checkpoint_id => c);
    PERFORM sg_invoke('ocf', '{"n": 0}', thread_id => f1);
END $$;
GRANT EXECUTE ON FUNCTION owner_change_forks.make(text, text, text) TO PUBLIC;
CREATE TEMP TABLE before (t text PRIMARY KEY, r text);
GRANT ALL ON before TO PUBLIC;

-- 1. forks of the superuser's thread (as 0.1.0's rows are) given to role a
SELECT owner_change_forks.make('src1', 'fork1', 'upd1');
INSERT INTO before SELECT t, owner_change_forks.reads(t) FROM unnest(ARRAY['src1', 'fork1', 'upd1']) t;
UPDATE stategraph.threads SET owner = 'regress_ocf_a' WHERE thread_id IN ('fork1', 'upd1');
SET ROLE regress_ocf_a;
SELECT t, owner_change_forks.reads(t) = r AS reads_as_before FROM before WHERE t <> 'src1' ORDER BY t;
SELECT "values" FROM sg_get_state('fork1');
SELECT sg_invoke('ocf', '{"n": 0}', thread_id => 'upd1');
RESET ROLE;
SELECT owner_change_forks.reads('src1') = r AS source_reads_as_before FROM before WHERE t = 'src1';
SELECT count(*) AS fork_rows_linked FROM stategraph.checkpoints
WHERE thread_id IN ('fork1', 'upd1') AND parent_thread IS NOT NULL;

-- 2. role a's thread (with its forks) given to role b: a's forks read as before
SET ROLE regress_ocf_a;
SELECT owner_change_forks.make('src2', 'fork2', 'upd2');
RESET ROLE;
DELETE FROM before;
INSERT INTO before SELECT t, owner_change_forks.reads(t) FROM unnest(ARRAY['src2', 'fork2', 'upd2']) t;
UPDATE stategraph.threads SET owner = 'regress_ocf_b' WHERE thread_id = 'src2';
SET ROLE regress_ocf_a;
SELECT t, owner_change_forks.reads(t) = r AS reads_as_before FROM before WHERE t <> 'src2' ORDER BY t;
RESET ROLE;
SET ROLE regress_ocf_b;
SELECT owner_change_forks.reads('src2') = r AS source_reads_as_before FROM before WHERE t = 'src2';
RESET ROLE;

-- 3. a thread and its forks given away in one statement: nothing to detach
SET ROLE regress_ocf_a;
SELECT owner_change_forks.make('src3', 'fork3', 'upd3');
RESET ROLE;
DELETE FROM before;
INSERT INTO before SELECT t, owner_change_forks.reads(t) FROM unnest(ARRAY['src3', 'fork3', 'upd3']) t;
SELECT count(*) AS fork_rows_linked FROM stategraph.checkpoints
WHERE thread_id IN ('fork3', 'upd3') AND parent_thread IS NOT NULL;
UPDATE stategraph.threads SET owner = 'regress_ocf_b' WHERE thread_id IN ('src3', 'fork3', 'upd3');
SELECT count(*) AS fork_rows_linked FROM stategraph.checkpoints
WHERE thread_id IN ('fork3', 'upd3') AND parent_thread IS NOT NULL;
SET ROLE regress_ocf_b;
SELECT t, owner_change_forks.reads(t) = r AS reads_as_before FROM before ORDER BY t;
RESET ROLE;

SET client_min_messages = warning;
DROP SCHEMA owner_change_forks CASCADE;
DROP OWNED BY regress_ocf_a, regress_ocf_b;
DROP ROLE regress_ocf_a;
DROP ROLE regress_ocf_b;
