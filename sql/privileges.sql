--
-- Privileges: every function runs as the caller (SECURITY INVOKER), which
-- must be allowed to execute every node, router and reducer of a graph;
-- names from search_path cannot take the place of what stategraph calls.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
DROP ROLE IF EXISTS regress_sg_user;
CREATE SCHEMA privileges;
SET search_path = privileges;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- a role with what README.md says to grant
CREATE ROLE regress_sg_user;
GRANT USAGE ON SCHEMA privileges, stategraph TO regress_sg_user;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA stategraph TO regress_sg_user;

CREATE TABLE calls (fn text, who text);
GRANT INSERT, SELECT ON calls TO PUBLIC;
CREATE FUNCTION count_up(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO calls VALUES ('count_up', current_user);
    RETURN '{"n": 1}';
END $$;
CREATE FUNCTION summed(current jsonb, update jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO calls VALUES ('summed', current_user);
    RETURN to_jsonb(current::text::numeric + update::text::numeric);
END $$;
SELECT sg_create_graph('counter', '{"n": "summed(jsonb,jsonb)"}');
SELECT sg_add_node('counter', 'up', 'count_up(jsonb)');
SELECT sg_add_edge('counter', '__start__', 'up');
SELECT sg_add_edge('counter', 'up', '__end__');
SELECT sg_compile('counter');
SELECT sg_invoke('counter', '{"n": 10}', thread_id => 'c-1');

-- nodes run as the caller
SET ROLE regress_sg_user;
SELECT sg_invoke('counter', '{"n": 10}', thread_id => 'c-2');
RESET ROLE;
SELECT fn, who FROM calls ORDER BY who, fn;
TRUNCATE calls;

-- without EXECUTE on the node or the reducer, nothing runs and nothing is stored
REVOKE EXECUTE ON FUNCTION count_up(jsonb) FROM PUBLIC;
SET ROLE regress_sg_user;
SELECT sg_invoke('counter', '{"n": 10}', thread_id => 'c-3');
RESET ROLE;
GRANT EXECUTE ON FUNCTION count_up(jsonb) TO PUBLIC;
REVOKE EXECUTE ON FUNCTION summed(jsonb, jsonb) FROM PUBLIC;
SET ROLE regress_sg_user;
SELECT sg_invoke('counter', '{"n": 10}', thread_id => 'c-2');
SELECT sg_update_state('c-2', '{"n": 1}');
RESET ROLE;
SELECT count(*) AS calls FROM calls;
SELECT thread_id, (SELECT count(*) FROM sg_get_state_history(thread_id)) AS checkpoints
FROM sg_threads() ORDER BY thread_id;

-- an operator or function named like one stategraph uses, earlier in
-- search_path, is never called: every name stategraph uses is qualified
CREATE SCHEMA trap;
CREATE FUNCTION trap.texteq_trap(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO privileges.calls VALUES ('trap =', current_user);
    RETURN a::text OPERATOR(pg_catalog.=) b::text;
END $$;
CREATE OPERATOR trap.= (LEFTARG = text, RIGHTARG = text, FUNCTION = trap.texteq_trap);
CREATE FUNCTION trap.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO privileges.calls VALUES ('trap now', current_user);
    RETURN pg_catalog.now();
END $$;
SET search_path = trap, privileges, pg_catalog;
SELECT sg_invoke('counter', '{"n": 1}', thread_id => 'c-1') IS NOT NULL AS ran;
SELECT count(*) AS checkpoints FROM sg_get_state_history('c-1');
SELECT sg_prune(keep_last => 2, thread_id => 'c-1') AS pruned;
SET search_path = privileges;
SELECT fn, who FROM calls WHERE fn LIKE 'trap%';

SET client_min_messages = warning;
DROP SCHEMA trap CASCADE;
DROP SCHEMA privileges CASCADE;
DROP OWNED BY regress_sg_user;
DROP ROLE regress_sg_user;
