--
-- An sg_invoke that fails inside a reducer written in SQL leaves its run's
-- memory in the context the reducer's statements run in (under the graph's
-- cached function, in the graph's own memory): since 23a0a30 dropped
-- sg_invoke's PG_TRY, that run is not freed at the error, and it keeps its
-- graph pinned. When the graph is its own, the pin sits in the memory of
-- the graph it pins: once the graph is compiled again, the old one is
-- never freed (it is freed when its pins reach 0, and the last pin goes
-- only with its own memory). One graph's memory leaked per failure and
-- recompile, for the backend's life. Before 23a0a30 the failed run was
-- freed at once, and the old graph with its last use.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA held_thread_invoke_pin;
SET search_path = held_thread_invoke_pin;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- an update {"nest": t} runs the same graph on (new) thread t, whose node fails
CREATE FUNCTION red(cur jsonb, upd jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT CASE WHEN upd ? 'nest'
         THEN held_thread_invoke_pin.sg_invoke('g', '{"v": {"fail": 1}}', upd->>'nest') -> 'v'
         ELSE coalesce(cur, '{}') || upd END
$$;
CREATE FUNCTION n(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF state->'v' ? 'fail' THEN RAISE EXCEPTION 'node fails'; END IF;
    RETURN '{"v": {"y": 2}}';
END $$;
SELECT sg_create_graph('g', '{"v": {"reducer": "red(jsonb,jsonb)"}}');
SELECT sg_add_node('g', 'a', 'n(jsonb)');
SELECT sg_add_edge('g', '__start__', 'a');
SELECT sg_add_edge('g', 'a', '__end__');
SELECT sg_compile('g');
SELECT sg_invoke('g', '{"v": {"z": 0}}', 't0') -> 'v' AS v;
SELECT count(*) AS graphs_in_memory FROM pg_backend_memory_contexts WHERE name = 'stategraph graph';

-- twice: the nested run fails, then the graph is compiled again and used
SELECT sg_invoke('g', '{"v": {"nest": "new1"}}', 't0');
SELECT sg_compile('g');
SELECT sg_invoke('g', '{"v": {"z": 1}}', 't0') -> 'v' AS v;
SELECT sg_invoke('g', '{"v": {"nest": "new2"}}', 't0');
SELECT sg_compile('g');
SELECT sg_invoke('g', '{"v": {"z": 2}}', 't0') -> 'v' AS v;
-- one graph in memory, the current one (3 since 23a0a30)
SELECT count(*) AS graphs_in_memory FROM pg_backend_memory_contexts WHERE name = 'stategraph graph';

SET client_min_messages = warning;
DROP SCHEMA held_thread_invoke_pin CASCADE;
