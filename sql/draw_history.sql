--
-- sg_draw_history: a thread's checkpoints as a tree (Mermaid and dot), on
-- time-travelled, branched, interrupted, failed, updated, pruned and long
-- threads, and its bad inputs. Checkpoint ids are random, so they are masked.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS stategraph CASCADE;
CREATE SCHEMA draw_history;
SET search_path = draw_history;
CREATE EXTENSION stategraph;
RESET client_min_messages;
\set SHOW_CONTEXT never
\pset format unaligned
\pset tuples_only on

-- ids masked; every line of a drawing as it is otherwise
CREATE FUNCTION masked(t text) RETURNS text LANGUAGE sql AS $$
    SELECT regexp_replace(t, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g')
$$;
-- the edges of a dot drawing whose ends are not boxes of it (there must be none)
CREATE FUNCTION dangling(dot text) RETURNS text[] LANGUAGE sql AS $$
    WITH boxes AS (SELECT m[1] AS id FROM regexp_matches(dot, '^\t(\w+) \[label=', 'gn') m),
         ends AS (SELECT unnest(ARRAY[m[1], m[2]]) AS id FROM regexp_matches(dot, '^\t(\w+) -> (\w+)', 'gn') m)
    SELECT coalesce(array_agg(DISTINCT id), '{}') FROM ends WHERE id NOT IN (SELECT id FROM boxes)
$$;
-- boxes and edges of a dot drawing
CREATE FUNCTION shape(dot text, OUT boxes int, OUT edges int) LANGUAGE sql AS $$
    SELECT (SELECT count(*)::int FROM regexp_matches(dot, '^\t\w+ \[label=', 'gn')),
           (SELECT count(*)::int FROM regexp_matches(dot, '^\t\w+ -> \w+', 'gn'))
$$;

-- the seed's graph; step2 fails or asks a human when the input says so
CREATE FUNCTION step_one(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"step": 1, "messages": ["Step 1 complete"]}'::jsonb $$;
CREATE FUNCTION step_two(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF state->'data'->>'mode' = 'fail' THEN
        RAISE EXCEPTION 'payment service is down';
    END IF;
    IF state->'data'->>'mode' = 'ask' THEN
        PERFORM sg_interrupt('{"question": "ship order 42 to Ada Lovelace, London?"}');
    END IF;
    RETURN '{"step": 2, "messages": ["Step 2 complete"]}'::jsonb;
END $$;
CREATE FUNCTION step_three(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"step": 3, "messages": ["Step 3 complete"]}'::jsonb $$;
SELECT sg_create_graph('workflow', '{"messages": "append", "step": "replace", "data": "replace"}');
SELECT sg_add_node('workflow', 'step1', 'step_one(jsonb)');
SELECT sg_add_node('workflow', 'step2', 'step_two(jsonb)');
SELECT sg_add_node('workflow', 'step3', 'step_three(jsonb)');
SELECT sg_add_edge('workflow', '__start__', 'step1');
SELECT sg_add_edge('workflow', 'step1', 'step2');
SELECT sg_add_edge('workflow', 'step2', 'step3');
SELECT sg_add_edge('workflow', 'step3', '__end__');
SELECT sg_compile('workflow');

-- a plain run: a chain of 5, the last one the head
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {}}', thread_id => 'plain') IS NOT NULL;
SELECT masked(sg_draw_history('plain'));

-- time travel: the run from step 1 again branches at step 1 (a fork, dashed)
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {}}', thread_id => 'time-travel') IS NOT NULL;
SELECT checkpoint_id AS step1 FROM sg_get_state_history('time-travel') WHERE step = 1 \gset
SELECT sg_invoke('workflow', NULL, thread_id => 'time-travel', checkpoint_id => :'step1') IS NOT NULL;
SELECT masked(sg_draw_history('time-travel'));
SELECT masked(sg_draw_history('time-travel', 'dot'));
SELECT * FROM shape(sg_draw_history('time-travel', 'dot'));

-- the seed's branch_from_checkpoint: feature-branch starts from main-branch's step 1
-- (a grey box of the other thread), is updated, then runs on
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {"branch": "main"}}', thread_id => 'main-branch') IS NOT NULL;
SELECT checkpoint_id AS main_step1 FROM sg_get_state_history('main-branch') WHERE step = 1 \gset
SELECT sg_update_state('feature-branch', '{"data": {"branch": "feature"}}', checkpoint_id => :'main_step1') IS NOT NULL;
-- before it runs on, step2 waits to run
SELECT masked(sg_draw_history('feature-branch'));
SELECT sg_invoke('workflow', NULL, thread_id => 'feature-branch') IS NOT NULL;
SELECT masked(sg_draw_history('feature-branch'));
SELECT masked(sg_draw_history('feature-branch', 'dot'));
-- sg_fork of the finished thread: the fork hangs from main-branch's last checkpoint
SELECT checkpoint_id AS main_last FROM sg_get_state('main-branch') \gset
SELECT sg_fork('main-branch', :'main_last', 'main-copy') IS NOT NULL;
SELECT masked(sg_draw_history('main-copy', 'dot'));

-- interrupted by sg_interrupt() in step2: marked, and still recorded after the resume
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {"mode": "ask"}}', thread_id => 'asked') IS NOT NULL;
SELECT masked(sg_draw_history('asked'));
SELECT masked(sg_draw_history('asked', 'dot'));
SELECT sg_invoke('workflow', NULL, thread_id => 'asked', resume => '"yes"') IS NOT NULL;
SELECT masked(sg_draw_history('asked'));

-- interrupt_before step3: the thread waits with next [step3]
SELECT sg_create_graph('review', '{"messages": "append", "step": "replace", "data": "replace"}');
SELECT sg_add_node('review', 'step1', 'step_one(jsonb)');
SELECT sg_add_node('review', 'step2', 'step_two(jsonb)');
SELECT sg_add_node('review', 'step3', 'step_three(jsonb)');
SELECT sg_add_edge('review', '__start__', 'step1');
SELECT sg_add_edge('review', 'step1', 'step2');
SELECT sg_add_edge('review', 'step2', 'step3');
SELECT sg_add_edge('review', 'step3', '__end__');
SELECT sg_compile('review', interrupt_before => ARRAY['step3']);
SELECT sg_invoke('review', '{"messages": [], "step": 0, "data": {}}', thread_id => 'paused') IS NOT NULL;
SELECT masked(sg_draw_history('paused', 'dot'));

-- failed: the error is on the checkpoint the failing step started from
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {"mode": "fail"}}', thread_id => 'failed',
                 on_error => 'return') -> '__error__' ->> 'message';
SELECT masked(sg_draw_history('failed'));
SELECT masked(sg_draw_history('failed', 'dot'));

-- updated: update_state as step1 on the finished thread adds a child to its head
-- (next [step2]), and the resume runs step2 and step3 again after it
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {}}', thread_id => 'updated') IS NOT NULL;
SELECT sg_update_state('updated', '{"data": {"fixed": true}}', as_node => 'step1') IS NOT NULL;
SELECT sg_invoke('workflow', NULL, thread_id => 'updated') IS NOT NULL;
-- and an update of an older checkpoint: a branch of its own
SELECT checkpoint_id AS updated_step0 FROM sg_get_state_history('updated') WHERE step = 0 \gset
SELECT sg_update_state('updated', '{"data": {"late": true}}', checkpoint_id => :'updated_step0') IS NOT NULL;
SELECT masked(sg_draw_history('updated', 'dot'));
SELECT masked(sg_draw_history('updated'));

-- pruned: what remains is drawn without dangling edges; the fork of a deleted thread
-- is drawn without the box of the other thread
SELECT sg_prune(keep_last => 4, thread_id => 'time-travel');
SELECT masked(sg_draw_history('time-travel'));
SELECT masked(sg_draw_history('time-travel', 'dot'));
SELECT dangling(sg_draw_history('time-travel', 'dot'));
SELECT sg_delete_thread('main-branch');
SELECT masked(sg_draw_history('feature-branch'));
SELECT dangling(sg_draw_history('feature-branch', 'dot'));

-- limit: the newest checkpoints, hanging from one box for the older ones
SELECT masked(sg_draw_history('updated', 'mermaid', 3));
SELECT * FROM shape(sg_draw_history('updated', 'dot', 3));
SELECT dangling(sg_draw_history('updated', 'dot', 3));
SELECT masked(sg_draw_history('updated', 'dot', 0));
-- a limit as large as the history draws all of it, without the older box
SELECT (SELECT count(*) FROM sg_get_state_history('updated'))::int AS n \gset
SELECT sg_draw_history('updated', 'dot', :n) = sg_draw_history('updated', 'dot');
SELECT strpos(sg_draw_history('updated', 'dot', :n - 1), 'older') > 0;

-- a long thread stays drawable: 60 turns, 300 checkpoints, the newest 10 drawn
SELECT count(sg_invoke('workflow', jsonb_build_object('messages', jsonb_build_array('turn ' || i)),
                       thread_id => 'long'))
FROM generate_series(1, 60) i;
SELECT * FROM shape(sg_draw_history('long', 'dot'));
SELECT * FROM shape(sg_draw_history('long', 'dot', 10));

-- names that need escaping
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {}}', thread_id => 'odd "thread" \ <name>') IS NOT NULL;
SELECT masked(sg_draw_history('odd "thread" \ <name>', 'dot', 1));
SELECT masked(sg_draw_history('odd "thread" \ <name>', 'mermaid', 1));
SELECT checkpoint_id AS odd_head FROM sg_get_state('odd "thread" \ <name>') \gset
SELECT sg_fork('odd "thread" \ <name>', :'odd_head', 'odd-fork') IS NOT NULL;
SELECT masked(sg_draw_history('odd-fork', 'mermaid'));
SELECT masked(sg_draw_history('odd-fork', 'dot'));

-- bad input
\pset tuples_only off
\set VERBOSITY sqlstate
SELECT sg_draw_history('nobody');
SELECT sg_draw_history('plain', 'svg');
SELECT sg_draw_history('plain', 'dot', -1);
SELECT sg_draw_history(NULL);
SELECT sg_draw_history('plain', NULL);
\set VERBOSITY default
SELECT sg_draw_history('nobody');
SELECT sg_draw_history('plain', 'svg');
SELECT sg_draw_history('plain', 'dot', -1);
