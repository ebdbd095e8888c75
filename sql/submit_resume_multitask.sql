-- A submit with resume on a thread with nothing to resume is refused at
-- once (55000, nothing queued) unless a run before it may still pause the
-- thread. With multitask 'interrupt' or 'rollback' and only a run that had
-- not started (a delayed one), that run was seen as "a run before it", then
-- cancelled by the same submit: the resume was queued behind nothing, the
-- delayed run was gone, and the resume failed with 55000 as it started.
-- Now the resume is checked once the multitask rule is applied: refused,
-- and the delayed run stays.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA submit_resume_multitask;
SET search_path = submit_resume_multitask;
CREATE EXTENSION stategraph;
RESET client_min_messages;
CREATE FUNCTION mark(s jsonb, c jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('log', jsonb_build_array(c->>'node')) $$;
SELECT sg_create_graph('g', '{"log": "append"}');
SELECT sg_add_node('g', 'a', 'mark(jsonb, jsonb)');
SELECT sg_add_node('g', 'b', 'mark(jsonb, jsonb)');
SELECT sg_add_edge('g', '__start__', 'a');
SELECT sg_add_edge('g', 'a', 'b');
SELECT sg_add_edge('g', 'b', '__end__');
SELECT sg_compile('g', interrupt_before => ARRAY['b']);

-- t: finished (resumed past b), nothing to resume
SELECT sg_invoke('g', '{"log": []}', 't');
SELECT sg_invoke('g', NULL, 't');
SELECT sg_submit('g', NULL, 't', resume => '"go"');
SELECT sg_submit('g', '{"log": ["later"]}', 't', after => '1 hour') IS NOT NULL AS delayed;
SELECT sg_submit('g', NULL, 't', resume => '"go"', multitask => 'interrupt');
SELECT sg_submit('g', NULL, 't', resume => '"go"', multitask => 'rollback');
-- (time travel to the head, as the same)
SELECT sg_submit('g', NULL, 't', checkpoint_id => (sg_get_state('t')).checkpoint_id, resume => '"go"',
                 multitask => 'interrupt');
-- the delayed run is still there, alone
SELECT multitask, status FROM sg_runs('t') ORDER BY created_at;
-- behind it, a resume is queued (that run may pause the thread)
SELECT sg_submit('g', NULL, 't', resume => '"go"', multitask => 'enqueue') IS NOT NULL AS queued;
SELECT multitask, status FROM sg_runs('t') ORDER BY created_at;
SELECT sg_cancel(run_id) FROM sg_runs('t') ORDER BY created_at;

-- p: paused before b: a resume with 'interrupt' cancels the delayed run and is queued
SELECT sg_invoke('g', '{"log": []}', 'p');
SELECT sg_submit('g', '{"log": ["later"]}', 'p', after => '1 hour') IS NOT NULL AS delayed;
SELECT sg_submit('g', NULL, 'p', resume => '"go"', multitask => 'interrupt', after => '1 hour') IS NOT NULL AS queued;
SELECT multitask, status FROM sg_runs('p') ORDER BY created_at;
SELECT sg_cancel(run_id) FROM sg_runs('p') WHERE status = 'pending';
SET client_min_messages = warning;
DROP SCHEMA submit_resume_multitask CASCADE;
