-- Bad inputs found by the API review (second round): each one an ERROR with a
-- specific SQLSTATE that stores nothing, where the call used to be accepted.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION stategraph;
SELECT plan(25);

SELECT sg_lg_put('ar-1', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-0000000000c1", "ts": "x", "channel_values": {"a": 1},
      "channel_versions": {"a": 1}, "versions_seen": {}}', '{"source": "input", "step": -1}', '{"a": 1}');
CREATE TEMP TABLE lg_before AS
SELECT (SELECT count(*) FROM stategraph.lg_checkpoints) AS cps, (SELECT count(*) FROM stategraph.lg_writes) AS writes,
       (SELECT count(*) FROM stategraph.lg_blobs) AS blobs;
CREATE FUNCTION pg_temp.lg_unchanged() RETURNS boolean LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM stategraph.lg_checkpoints) = b.cps AND (SELECT count(*) FROM stategraph.lg_writes) = b.writes
       AND (SELECT count(*) FROM stategraph.lg_blobs) = b.blobs FROM lg_before b $$;

-- sg_lg_put: typed bytes of unequal lengths were accepted when the channel's value was JSON
-- (the arrays were only read when a channel's bytes were looked up)
SELECT throws_ok($$ SELECT sg_lg_put('ar-2', '', NULL, '{"v": 4, "id": "1ef00000-0000-6000-8000-0000000000d1", "ts": "x",
                        "channel_values": {"a": 1}, "channel_versions": {"a": 1}, "versions_seen": {}}', '{}', '{"a": 1}',
                        ARRAY['a'], ARRAY['x', 'y'], ARRAY['\x00'::bytea]) $$,
                 '2202E', 'bytes_channels, bytes_types and bytes_values must have the same length', 'lg_put: bytes arrays of unequal lengths');
SELECT throws_ok($$ SELECT sg_lg_put('ar-2', '', NULL, '{"v": 4, "id": "1ef00000-0000-6000-8000-0000000000d1", "ts": "x",
                        "channel_values": {"a": 1}, "channel_versions": {"a": 1}, "versions_seen": {}}', '{}', '{"a": 1}',
                        ARRAY['b'], ARRAY[NULL]::text[], ARRAY['\x00'::bytea]) $$,
                 '22004', NULL, 'lg_put: a null bytes type of a channel not in new_versions');

-- sg_lg_put_writes: a bytes_index that names no write dropped its bytes silently
SELECT throws_ok($$ SELECT sg_lg_put_writes('ar-1', '', '1ef00000-0000-6000-8000-0000000000c1', 'task-a',
                        '[["a", 1]]', '', ARRAY[5], ARRAY['x'], ARRAY['\x00'::bytea]) $$,
                 '2202E', 'bytes_index 5 of task "task-a" names no write', 'lg_put_writes: bytes_index past the writes');
SELECT throws_ok($$ SELECT sg_lg_put_writes('ar-1', '', '1ef00000-0000-6000-8000-0000000000c1', 'task-a',
                        '[["a", 1]]', '', ARRAY[-1], ARRAY['x'], ARRAY['\x00'::bytea]) $$,
                 '2202E', NULL, 'lg_put_writes: a negative bytes_index');
SELECT ok(pg_temp.lg_unchanged(), 'rejected puts and writes store nothing');
SELECT lives_ok($$ SELECT sg_lg_put_writes('ar-1', '', '1ef00000-0000-6000-8000-0000000000c1', 'task-b',
                       '[["a", 1], ["b", null]]', '', ARRAY[1], ARRAY['x'], ARRAY['\x00'::bytea]) $$,
                'lg_put_writes: a bytes_index that names a write');

-- sg_lg_list: a filter that is not an object matched nothing, silently
SELECT throws_ok($$ SELECT * FROM sg_lg_list('ar-1', filter => '[]') $$, '22023',
                 'filter must be a JSON object of metadata keys and values, not a JSON array', 'lg_list: an array filter');
SELECT throws_ok($$ SELECT * FROM sg_lg_list('ar-1', filter => '1') $$, '22023', NULL, 'lg_list: a scalar filter');
SELECT is((SELECT count(*)::int FROM sg_lg_list('ar-1', filter => '{"source": "input"}')), 1, 'lg_list: an object filter');

-- sg_submit on a thread id of another role: refused at once (42501, as sg_invoke), where a run
-- was queued that then failed with that error
CREATE ROLE ar_alice; CREATE ROLE ar_bob;
GRANT USAGE, CREATE ON SCHEMA public TO ar_alice, ar_bob;
CREATE FUNCTION ar_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('ar', '{"n": "replace"}');
SELECT sg_add_node('ar', 'a', 'ar_step(jsonb)');
SELECT sg_add_edge('ar', '__start__', 'a');
SELECT sg_add_edge('ar', 'a', '__end__');
SELECT sg_compile('ar');
SET LOCAL ROLE ar_alice;
SELECT sg_invoke('ar', '{}', thread_id => 'ar-alice');
SET LOCAL ROLE ar_bob;
SELECT throws_ok($$ SELECT sg_submit('ar', '{}', thread_id => 'ar-alice') $$, '42501',
                 'thread "ar-alice" belongs to another role', 'sg_submit on a thread of another role');
SELECT is((SELECT count(*)::int FROM stategraph.runs), 0, 'and nothing is queued');
SELECT isnt(sg_submit('ar', '{}', thread_id => 'ar-bob', after => '1 hour'), NULL, 'a new thread id of its own is submitted');
RESET ROLE;

-- one namespace of thread ids: a LangGraph.js thread and a stategraph thread never share an id
-- (sg_threads listed both under it, sg_get_state read one), nor do two roles' LangGraph.js threads
CREATE FUNCTION pg_temp.lg_cp(id text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('v', 4, 'id', id, 'ts', 'x', 'channel_values', '{}'::jsonb,
                              'channel_versions', '{}'::jsonb, 'versions_seen', '{}'::jsonb) $$;
SELECT sg_invoke('ar', '{}', thread_id => 'ar-sg');
SELECT sg_lg_put('ar-lg', '', NULL, pg_temp.lg_cp('1ef00000-0000-6000-8000-0000000000f1'), '{}', '{}');
SELECT throws_ok($$ SELECT sg_lg_put('ar-sg', '', NULL, pg_temp.lg_cp('1ef00000-0000-6000-8000-0000000000f2'), '{}', '{}') $$,
                 '42710', 'thread "ar-sg" already exists as a thread of graph "ar"', 'lg_put: the id of a stategraph thread');
SELECT throws_ok($$ SELECT sg_lg_copy_thread('ar-lg', 'ar-sg') $$, '42710', NULL, 'lg_copy_thread: into a stategraph thread''s id');
SELECT throws_ok($$ SELECT sg_invoke('ar', '{}', thread_id => 'ar-lg') $$,
                 '42710', 'thread "ar-lg" already exists as a LangGraph.js thread', 'sg_invoke: the id of a LangGraph.js thread');
SELECT throws_ok($$ SELECT sg_submit('ar', '{}', thread_id => 'ar-lg') $$, '42710', NULL, 'sg_submit: the id of a LangGraph.js thread');
SELECT throws_ok($$ SELECT sg_fork('ar-sg', (SELECT checkpoint_id FROM sg_get_state('ar-sg')), 'ar-lg') $$, '42710', NULL,
                 'sg_fork: into a LangGraph.js thread''s id');
SELECT throws_ok($$ SELECT sg_import_thread(sg_export_thread('ar-sg'), 'ar-lg') $$, '42710', NULL,
                 'sg_import_thread: under a LangGraph.js thread''s id');
SET LOCAL ROLE ar_bob;
SELECT throws_ok($$ SELECT sg_lg_put('ar-lg', '', NULL, pg_temp.lg_cp('1ef00000-0000-6000-8000-0000000000f3'), '{}', '{}') $$,
                 '42501', 'thread "ar-lg" belongs to another role', 'lg_put: another role''s LangGraph.js thread id');
SELECT throws_ok($$ SELECT sg_lg_put('ar-alice', '', NULL, pg_temp.lg_cp('1ef00000-0000-6000-8000-0000000000f4'), '{}', '{}') $$,
                 '42501', NULL, 'lg_put: another role''s stategraph thread id');
SELECT throws_ok($$ SELECT sg_invoke('ar', '{}', thread_id => 'ar-lg') $$, '42501', NULL, 'sg_invoke: another role''s LangGraph.js thread id');
SELECT lives_ok($$ SELECT sg_lg_put('ar-bob-lg', '', NULL, pg_temp.lg_cp('1ef00000-0000-6000-8000-0000000000f5'), '{}', '{}') $$,
                'lg_put: a new id of its own');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM stategraph.lg_checkpoints WHERE thread_id IN ('ar-sg', 'ar-lg')), 1, 'no checkpoint stored by a refused call');
SELECT is((SELECT count(*)::int FROM (SELECT thread_id FROM sg_threads() GROUP BY 1 HAVING count(*) > 1) d), 0,
          'sg_threads lists every id once');

-- descriptions follow PostgreSQL's (lower case but for a proper name, no period; STYLE.md):
-- the external-node, LangGraph.js and export functions' had capitals and a period
SELECT is_empty($$
    SELECT d.description FROM pg_description d
    JOIN pg_depend x ON x.classid = d.classoid AND x.objid = d.objoid AND x.deptype = 'e'
     AND x.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'stategraph')
    WHERE (d.description ~ '^[A-Z]' AND d.description !~ '^(LangGraph|PostgreSQL|SQL|Graphviz|Mermaid)')
       OR d.description ~ '\.( |$)' AND d.description !~ '\.(js|[a-z_]+\()' $$,
    'every description of the extension is lower case, without a period');

SELECT * FROM finish();
ROLLBACK;
