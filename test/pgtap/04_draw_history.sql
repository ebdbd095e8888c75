-- sg_draw_history (issue 14): its signature, defaults and comment, the SQLSTATE of
-- every bad input, and that a drawing names every checkpoint of the thread.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION stategraph;
SELECT plan(15);

SELECT has_function('sg_draw_history', ARRAY['text', 'text', 'integer']);
SELECT function_returns('sg_draw_history', ARRAY['text', 'text', 'integer'], 'text');
SELECT is((SELECT proargnames FROM pg_proc WHERE proname = 'sg_draw_history'),
          ARRAY['thread_id', 'format', 'limit'], 'sg_draw_history argument names');
SELECT is((SELECT pronargdefaults FROM pg_proc WHERE proname = 'sg_draw_history'), 2::int2,
          'sg_draw_history: format and limit have defaults');
SELECT isnt(obj_description('sg_draw_history(text, text, integer)'::regprocedure, 'pg_proc'), NULL,
            'sg_draw_history has a comment');

CREATE FUNCTION pgtap_dh_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('pgtap_dh', '{"n": "add"}');
SELECT sg_add_node('pgtap_dh', 'a', 'pgtap_dh_step(jsonb)');
SELECT sg_add_edge('pgtap_dh', '__start__', 'a');
SELECT sg_add_edge('pgtap_dh', 'a', '__end__');
SELECT sg_compile('pgtap_dh');
SELECT sg_invoke('pgtap_dh', '{"n": 0}', thread_id => 'pgtap-dh-' || i) FROM generate_series(1, 2) i;
SELECT sg_invoke('pgtap_dh', '{"n": 0}', thread_id => 'pgtap-dh-1');

SELECT throws_ok($$ SELECT sg_draw_history('pgtap-dh-nobody') $$, '42704', NULL, 'unknown thread: 42704');
SELECT throws_ok($$ SELECT sg_draw_history('pgtap-dh-1', 'svg') $$, '22023', NULL, 'bad format: 22023');
SELECT throws_ok($$ SELECT sg_draw_history('pgtap-dh-1', 'dot', -1) $$, '22023', NULL, 'negative limit: 22023');
SELECT throws_ok($$ SELECT sg_draw_history(NULL) $$, '22004', NULL, 'NULL thread: 22004');
-- the two-argument call of the issue works
SELECT lives_ok($$ SELECT sg_draw_history('pgtap-dh-1', 'mermaid') $$, 'sg_draw_history(thread_id, format)');

-- every checkpoint of the thread has a tooltip with its id, and no other thread's does
SELECT set_eq($$ SELECT (regexp_matches(sg_draw_history('pgtap-dh-1', 'dot'), 'tooltip="([0-9a-f-]{36})"', 'g'))[1]::uuid $$,
              $$ SELECT checkpoint_id FROM sg_get_state_history('pgtap-dh-1') $$,
              'dot: one box per checkpoint of the thread, by id');
SELECT set_eq($$ SELECT (regexp_matches(sg_draw_history('pgtap-dh-1'), '%% c\d+: ([0-9a-f-]{36})', 'g'))[1]::uuid $$,
              $$ SELECT checkpoint_id FROM sg_get_state_history('pgtap-dh-1') $$,
              'mermaid: one box per checkpoint of the thread, by id');
-- "limit" draws the newest checkpoints
SELECT set_eq($$ SELECT (regexp_matches(sg_draw_history('pgtap-dh-1', 'dot', 4), 'tooltip="([0-9a-f-]{36})"', 'g'))[1]::uuid $$,
              $$ SELECT checkpoint_id FROM sg_get_state_history('pgtap-dh-1', "limit" => 4) $$,
              'limit 4: the newest 4 checkpoints');
-- the head is the checkpoint sg_get_state shows
SELECT is((regexp_match(sg_draw_history('pgtap-dh-1', 'dot'), 'HEAD[^\n]*tooltip="([0-9a-f-]{36})"'))[1]::uuid,
          (SELECT checkpoint_id FROM sg_get_state('pgtap-dh-1')), 'the head box is sg_get_state''s checkpoint');
-- drawing changes nothing stored
SELECT is((SELECT count(*) FROM stategraph.checkpoints WHERE thread_id LIKE 'pgtap-dh-%')::int, 9,
          'drawing wrote nothing');

SELECT * FROM finish();
ROLLBACK;
