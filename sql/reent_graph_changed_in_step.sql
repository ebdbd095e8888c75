--
-- A node that compiles its own graph again, or drops it, in the step that
-- queues the step's external tasks (its sibling is an external node). The
-- step queued a task for a node that, in the graph as it now is, was no
-- longer an external node (or of a graph no longer there): nobody would
-- complete or cancel it unless a worker claimed it from its queue, and
-- the thread (and its background run) waited for it for ever. The step is
-- refused instead (55000), in every way a graph runs; a recompile that
-- keeps the node external queues its task as before.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA reent_graph_changed_in_step;
SET search_path = reent_graph_changed_in_step;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- the status of a run once it is no longer pending or running, or after 30 s
CREATE FUNCTION settled(run uuid) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s text;
BEGIN
    FOR i IN 1..3000 LOOP
        SELECT status INTO s FROM sg_runs() WHERE run_id = run;
        EXIT WHEN s NOT IN ('pending', 'running');
        PERFORM pg_sleep(0.01);
    END LOOP;
    RETURN s;
END $$;
CREATE FUNCTION one(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
-- (re)define graph g: a -> (b, x) -> end; x external on queue rq, or a SQL node
CREATE FUNCTION define_g(x_external boolean) RETURNS void LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM sg_drop_graph('g') FROM stategraph.graphs WHERE graph = 'g';
    PERFORM sg_create_graph('g', '{"act": "replace", "n": "add"}');
    PERFORM sg_add_node('g', 'a', 'one(jsonb)');
    PERFORM sg_add_node('g', 'b', 'act(jsonb)');
    IF x_external THEN
        PERFORM sg_add_external_node('g', 'x', 'rq');
    ELSE
        PERFORM sg_add_node('g', 'x', 'one(jsonb)');
    END IF;
    PERFORM sg_add_edge('g', '__start__', 'a');
    PERFORM sg_add_edge('g', 'a', 'b');
    PERFORM sg_add_edge('g', 'a', 'x');
    PERFORM sg_add_edge('g', 'b', '__end__');
    PERFORM sg_add_edge('g', 'x', '__end__');
    PERFORM sg_compile('g');
END $$;
-- node b does what the state says to its own graph (a worker's run has the database's search path)
CREATE FUNCTION act(state jsonb) RETURNS jsonb LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    CASE state->>'act'
        WHEN 'x_sql' THEN PERFORM define_g(false);
        WHEN 'x_external' THEN PERFORM define_g(true);
        WHEN 'drop' THEN PERFORM sg_drop_graph('g');
        WHEN 'recompile' THEN PERFORM sg_compile('g');
        ELSE NULL;
    END CASE;
    RETURN '{"n": 10}';
END $$;

-- sg_invoke: x made a SQL node, or the graph dropped, by b
SELECT define_g(true);
SELECT sg_invoke('g', '{"act": "x_sql"}', 'i1');
SELECT sg_invoke('g', '{"act": "x_sql"}', 'i2', on_error => 'return');
SELECT sg_invoke('g', '{"act": "drop"}', 'i3');
-- the graph dropped and made again, x still external: another generation
SELECT sg_invoke('g', '{"act": "x_external"}', 'i4');
-- nothing was kept: no thread, no task, the graph as it was
SELECT count(*) AS threads FROM sg_threads();
SELECT count(*) AS tasks FROM sg_tasks();
SELECT node, kind FROM (SELECT e->>'name' AS node, CASE WHEN e ? 'queue' THEN 'external' ELSE 'sql' END AS kind
    FROM stategraph.graphs, jsonb_array_elements(spec->'nodes') e WHERE graph = 'g') n ORDER BY node;

-- CALL sg_run: refused too; the thread keeps its committed steps and no task
CALL sg_run('g', '{"act": "x_sql"}', 'r1');
SELECT thread_id, status, next FROM sg_threads() WHERE thread_id = 'r1';
SELECT count(*) AS tasks FROM sg_tasks();

-- a background run: it ends with the error instead of waiting for ever
SELECT define_g(true);
SELECT sg_submit('g', '{"act": "x_sql"}', 'bg1') AS run \gset
SELECT settled(:'run');
SELECT error->>'sqlstate' AS sqlstate, error->>'message' AS message FROM sg_runs('bg1');
SELECT thread_id, status, next FROM sg_threads() WHERE thread_id = 'bg1';
SELECT count(*) AS tasks FROM sg_tasks();

-- a recompile that keeps x external, the same generation: its task is queued as before
SELECT define_g(true);
SELECT sg_invoke('g', '{"act": "recompile"}', 'k1') - 'act' - '__waiting__' AS "values";
SELECT node, queue, status FROM sg_tasks();
SELECT thread_id, status, next FROM sg_threads() WHERE thread_id = 'k1';

SET client_min_messages = warning;
DROP SCHEMA reent_graph_changed_in_step CASCADE;
DROP EXTENSION IF EXISTS stategraph CASCADE;
