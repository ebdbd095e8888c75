-- A submit to a thread of another graph is refused at once (22023), but a
-- thread id whose thread a queued run (not started: delayed with after)
-- is to create as another graph's took a second run, which failed as it
-- started ("thread ... belongs to graph ..."). It is refused at once now,
-- nothing queued; a submit whose multitask cancels that run first
-- ('interrupt', 'rollback') is not.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA submit_thread_graph_queued;
SET search_path = submit_thread_graph_queued;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set VERBOSITY terse
CREATE FUNCTION mark(s jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('g1', '{"n": "replace"}');
SELECT sg_add_node('g1', 'a', 'mark(jsonb)');
SELECT sg_add_edge('g1', '__start__', 'a');
SELECT sg_add_edge('g1', 'a', '__end__');
SELECT sg_compile('g1');
SELECT sg_create_graph('g2', '{"n": "replace"}');
SELECT sg_add_node('g2', 'a', 'mark(jsonb)');
SELECT sg_add_edge('g2', '__start__', 'a');
SELECT sg_add_edge('g2', 'a', '__end__');
SELECT sg_compile('g2');

-- an existing thread of g1: refused (as before)
SELECT sg_invoke('g1', '{"n": 0}', 'old');
SELECT sg_submit('g2', '{"n": 0}', 'old', multitask => 'enqueue');
-- a thread g1's delayed run is to create: refused too, nothing queued
SELECT sg_submit('g1', '{"n": 0}', 't', after => '1 hour') IS NOT NULL AS delayed;
SELECT sg_submit('g2', '{"n": 0}', 't', multitask => 'enqueue');
SELECT graph, status FROM sg_runs('t') ORDER BY created_at;
-- the same graph is queued behind it
SELECT sg_submit('g1', '{"n": 1}', 't', multitask => 'enqueue') IS NOT NULL AS queued;
-- a submit that cancels the delayed runs first starts the thread as g2's
SELECT sg_submit('g2', '{"n": 2}', 't', multitask => 'interrupt', after => '1 hour') IS NOT NULL AS replaced;
SELECT graph, multitask, status FROM sg_runs('t') ORDER BY created_at;
SELECT sg_cancel(run_id) FROM sg_runs('t') WHERE status = 'pending';
SET client_min_messages = warning;
DROP SCHEMA submit_thread_graph_queued CASCADE;
