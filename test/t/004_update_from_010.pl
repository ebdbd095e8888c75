# ALTER EXTENSION stategraph UPDATE from 0.1.0 to 0.2.0 with real data: the
# data is made through the 0.1.0 API on the 0.1.0 schema (CREATE EXTENSION
# stategraph VERSION '0.1.0'), every history reads the same after the
# update, byte for byte, and old threads and graphs go on working with the
# new features (owners, row-level security, functions kept by signature,
# background runs, external tasks, LangGraph.js storage, export/import).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGLifecycle;

my $node = sg_cluster('update');
$node->start;
make_data($node, 'postgres', q{CREATE EXTENSION stategraph VERSION '0.1.0'});
# what 0.1.0 could leave behind: checkpoints whose thread row is gone
$node->safe_psql('postgres', q{DELETE FROM stategraph.threads WHERE thread_id = 'chat-5'});
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'stategraph'}),
	'0.1.0', 'the data was made on 0.1.0');
is($node->safe_psql('postgres', q{SELECT pg_typeof(fn) FROM stategraph.nodes LIMIT 1}),
	'regprocedure', 'with 0.1.0 regprocedure columns');
my $before = snapshot($node, 'postgres');

$node->safe_psql('postgres', 'ALTER EXTENSION stategraph UPDATE');
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'stategraph'}),
	'0.2.0', 'updated to 0.2.0');
is(snapshot($node, 'postgres'), $before, 'every history reads the same after the update');

# the schema of 0.2.0: every object the update made is what CREATE EXTENSION
# makes (tables, columns, indexes, policies, functions, comments, grants)
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION stategraph');
my $schema_query = q{
    SELECT string_agg(x, E'\n' ORDER BY x) FROM (
        SELECT 'column ' || c.relname || '.' || a.attname || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
               || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
               || COALESCE(' default ' || pg_catalog.pg_get_expr(d.adbin, d.adrelid), '')
               || COALESCE(' comment ' || pg_catalog.col_description(c.oid, a.attnum), '') AS x
        FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
        WHERE c.relnamespace = 'stategraph'::regnamespace
      UNION ALL
        SELECT 'relation ' || relname || ' ' || relkind::text || ' rls ' || relrowsecurity || ' acl ' || COALESCE(relacl::text, '')
               || COALESCE(' comment ' || pg_catalog.obj_description(oid, 'pg_class'), '')
        FROM pg_class WHERE relnamespace = 'stategraph'::regnamespace
      UNION ALL
        SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'stategraph'
      UNION ALL
        SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_catalog.pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = 'stategraph'::regnamespace
      UNION ALL
        SELECT 'policy ' || tablename || ' ' || policyname || ' ' || cmd::text || ' ' || COALESCE(qual, '') || ' ' || COALESCE(with_check, '')
        FROM pg_policies WHERE schemaname = 'stategraph'
      UNION ALL
        SELECT 'trigger ' || pg_catalog.pg_get_triggerdef(t.oid) FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = 'stategraph'::regnamespace AND NOT t.tgisinternal
      UNION ALL
        SELECT 'function ' || p.oid::regprocedure || ' ' || pg_catalog.pg_get_function_result(p.oid)
               || ' ' || pg_catalog.md5(p.prosrc) || ' secdef ' || p.prosecdef || ' acl ' || COALESCE(p.proacl::text, '')
               || COALESCE(' config ' || p.proconfig::text, '')
               || COALESCE(' comment ' || pg_catalog.obj_description(p.oid, 'pg_proc'), '')
        FROM pg_proc p WHERE p.pronamespace IN ('stategraph'::regnamespace, 'public'::regnamespace)
          AND EXISTS (SELECT 1 FROM pg_depend WHERE objid = p.oid AND deptype = 'e')
      UNION ALL
        SELECT 'type ' || t.oid::regtype || COALESCE(' comment ' || pg_catalog.obj_description(t.oid, 'pg_type'), '')
        FROM pg_type t WHERE EXISTS (SELECT 1 FROM pg_depend WHERE objid = t.oid AND deptype = 'e')
    ) objects
};
my $fresh_schema = $node->safe_psql('fresh', $schema_query);
ok(scalar(() = $fresh_schema =~ /\n/g) > 200, 'the fresh schema was read');
is($node->safe_psql('postgres', $schema_query), $fresh_schema,
	'the updated schema is the schema of a fresh CREATE EXTENSION (columns, indexes, constraints, policies, triggers, functions, types, comments, privileges)');
is($node->safe_psql('postgres', q{SELECT pg_typeof(fn)::text || ' ' || pg_typeof(router)::text FROM stategraph.nodes, stategraph.branches LIMIT 1}),
	'text text', 'functions are kept as signature text');
is($node->safe_psql('postgres', q{SELECT string_agg(source || ':' || router || ':' || ordinal, ' ' ORDER BY ordinal) FROM stategraph.branches WHERE graph = 'lc_loop'}),
	'a:public.lc_more(pg_catalog.jsonb):1 a:public.lc_side(pg_catalog.jsonb):2 fan:public.lc_fan(pg_catalog.jsonb):3',
	'routers are numbered in the order 0.1.0 ran them');
like($node->safe_psql('postgres', q{SELECT fn FROM stategraph.nodes WHERE graph = 'lc_broken'}),
	qr/^dropped function \d+$/, 'a function dropped before the update is never rebound');
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT sg_compile('lc_broken')});
like($err, qr/function dropped function \d+ of node "gone" in graph "lc_broken" does not exist/,
	'and sg_compile refuses it (42883)');
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT owner, ',') FROM stategraph.threads}),
	'postgres', 'threads of 0.1.0 belong to the extension owner');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'stategraph'::regnamespace}),
	'0', 'no foreign keys left to break parallel restore');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 'chat-5'}),
	'0', 'checkpoints 0.1.0 left without their thread are gone');
$node->safe_psql('postgres', q{SELECT sg_invoke('lc_chat', '{"n": 50}', thread_id => 'chat-5')});
is($node->safe_psql('postgres', q{SELECT string_agg(step::text, ',') FROM sg_get_state_history('chat-5')}),
	'1,0,-1', 'a new thread of that id has only its own history');

# old threads go on
is($node->safe_psql('postgres', q{SELECT sg_invoke('lc_chat', NULL, thread_id => 'chat-12', resume => '"updated"') ->> 'answer'}),
	'updated', 'an interrupt of 0.1.0 is resumed');
is($node->safe_psql('postgres', q{SELECT status FROM sg_threads() WHERE thread_id = 'chat-12'}), 'done', 'and the thread finishes');
like($node->safe_psql('postgres', q{SELECT sg_invoke('lc_loop', NULL, thread_id => 'loop-2')::text}),
	qr/"w3"/, 'a static interrupt of 0.1.0 is passed');
$node->safe_psql('postgres', q{SELECT sg_invoke('lc_chat', NULL, thread_id => 'chat-1-fork')});
is($node->safe_psql('postgres', q{SELECT sg_invoke('lc_chat', NULL, thread_id => 'chat-1-fork', resume => '"fork"') ->> 'answer'}),
	'fork', 'a fork of 0.1.0 goes on');
is($node->safe_psql('postgres', q{SELECT count(*) FROM sg_get_state_history('chat-1-fork')}),
	$node->safe_psql('postgres', q{SELECT checkpoints FROM sg_threads() WHERE thread_id = 'chat-1-fork'}),
	'its history is whole');

# old graphs change and compile under 0.2.0
$node->safe_psql('postgres', q{
    CREATE FUNCTION lc_back(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 5}'::jsonb $$;
    SELECT sg_add_node('lc_broken', 'gone', 'lc_back(jsonb)');
    SELECT sg_compile('lc_broken');
    SELECT sg_compile('lc_loop', interrupt_before => ARRAY['join']);
});
is($node->safe_psql('postgres', q{SELECT sg_invoke('lc_broken', '{"n": 1}') ->> 'n'}), '6',
	'a node whose function was dropped under 0.1.0 takes a new one');
is($node->safe_psql('postgres', q{SELECT sg_invoke('lc_loop', '{"n": 0}', thread_id => 'loop-new') -> 'log'}),
	$node->safe_psql('postgres', q{SELECT "values" -> 'log' FROM sg_get_state('loop-3')}),
	'a recompiled graph runs as before');

# the new features of 0.2.0 on old data (review: the update was checked for
# its schema and old threads, not for runs, tasks, LangGraph.js storage and
# exports on an updated database)
# - background runs: the update wakes the launcher, whose worker runs a resume of a 0.1.0 interrupt
my $run = $node->safe_psql('postgres', q{SELECT sg_submit('lc_chat', NULL, 'chat-11', resume => '"by a worker"')});
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$run', '60 s')"), 'success',
	'a background run resumes a 0.1.0 interrupt after the update');
is($node->safe_psql('postgres', q{SELECT "values" ->> 'answer' FROM sg_get_state('chat-11')}), 'by a worker',
	'with the resume value');
# - external nodes
$node->safe_psql('postgres', q{
    SELECT sg_create_graph('lc_ext', '{"log": "append"}');
    SELECT sg_add_external_node('lc_ext', 'model', 'upd');
    SELECT sg_add_edge('lc_ext', '__start__', 'model');
    SELECT sg_add_edge('lc_ext', 'model', '__end__');
    SELECT sg_compile('lc_ext');
    SELECT sg_invoke('lc_ext', '{"log": ["q"]}', thread_id => 'ext-1');
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM sg_claim('upd', 'w') c, LATERAL sg_complete(c.task_id, c.token, '{"log": ["a"]}') x}),
	'1', 'an external task is queued, claimed and completed on the updated database');
is($node->safe_psql('postgres', q{SELECT sg_invoke('lc_ext', NULL, thread_id => 'ext-1') ->> 'log'}), '["q", "a"]',
	'and its thread goes on');
# - LangGraph.js storage
$node->safe_psql('postgres', q{SELECT sg_lg_put('lg-1', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-0000000000e1", "ts": "x", "channel_values": {"a": 1},
      "channel_versions": {"a": 1}, "versions_seen": {}}', '{"source": "input", "step": -1}', '{"a": 1}')});
is($node->safe_psql('postgres', q{SELECT sg_lg_get_tuple('lg-1')::jsonb #>> '{channel_values,a}'}), '1',
	'LangGraph.js checkpoints are stored and read on the updated database');
is($node->safe_psql('postgres', q{SELECT count(*) FROM sg_threads() WHERE thread_id IN ('lg-1', 'chat-1')}), '2',
	'sg_threads lists them next to the 0.1.0 threads');
# - a 0.1.0 thread exported and imported reads as before
is($node->safe_psql('postgres', q{SELECT sg_import_thread(sg_export_thread('chat-2-branch'), 'chat-2-copy')}), 'chat-2-copy',
	'a thread written by 0.1.0 exports and imports');
is($node->safe_psql('postgres', q{SELECT string_agg((to_jsonb(h) - 'thread_id')::text, E'\n' ORDER BY h.checkpoint_id) FROM sg_get_state_history('chat-2-copy') h}),
	$node->safe_psql('postgres', q{SELECT string_agg((to_jsonb(h) - 'thread_id')::text, E'\n' ORDER BY h.checkpoint_id) FROM sg_get_state_history('chat-2-branch') h}),
	'and its copy reads as the original');

# the new security model on old data
$node->safe_psql('postgres', q{CREATE ROLE lc_bob; GRANT CREATE ON SCHEMA public TO lc_bob});
is($node->safe_psql('postgres', q{SET ROLE lc_bob; SELECT count(*) FROM sg_threads()}), '0',
	'another role sees none of the old threads');
($rc, $out, $err) = $node->psql('postgres', q{SET ROLE lc_bob; SELECT sg_drop_graph('lc_chat')});
like($err, qr/must be owner of graph "lc_chat"/, 'nor can it drop an old graph');
is($node->safe_psql('postgres', q{SET ROLE lc_bob; SELECT sg_invoke('lc_chat', '{"n": 1}', thread_id => 'bob-1') -> 'log'}),
	'["a"]', 'but it can run it on a thread of its own, without any GRANT');

$node->stop;
done_testing();
