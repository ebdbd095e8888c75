-- The SQL contract of API.md: every function with its exact signature, the
-- types, the storage, SECURITY INVOKER everywhere, and pg_dump registration.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION stategraph;
SELECT plan(76);

-- functions, with the argument types and result types of API.md
SELECT has_function('sg_create_graph', ARRAY['text', 'jsonb']);
SELECT function_returns('sg_create_graph', ARRAY['text', 'jsonb'], 'void');
SELECT has_function('sg_add_node', ARRAY['text', 'text', 'regprocedure', 'jsonb']);
SELECT function_returns('sg_add_node', ARRAY['text', 'text', 'regprocedure', 'jsonb'], 'void');
SELECT has_function('sg_add_edge', ARRAY['text', 'text', 'text']);
SELECT has_function('sg_add_edge', ARRAY['text', 'text[]', 'text']);
SELECT has_function('sg_add_conditional_edges', ARRAY['text', 'text', 'regprocedure', 'jsonb']);
SELECT has_function('sg_compile', ARRAY['text', 'text[]', 'text[]']);
SELECT function_returns('sg_compile', ARRAY['text', 'text[]', 'text[]'], 'void');
SELECT has_function('sg_drop_graph', ARRAY['text']);
SELECT has_function('sg_draw', ARRAY['text', 'text']);
SELECT function_returns('sg_draw', ARRAY['text', 'text'], 'text');
SELECT has_function('sg_invoke', ARRAY['text', 'jsonb', 'text', 'uuid', 'jsonb', 'integer', 'text']);
SELECT function_returns('sg_invoke', ARRAY['text', 'jsonb', 'text', 'uuid', 'jsonb', 'integer', 'text'], 'jsonb');
SELECT has_function('sg_stream', ARRAY['text', 'jsonb', 'text', 'uuid', 'jsonb', 'integer', 'text', 'text']);
SELECT function_returns('sg_stream', ARRAY['text', 'jsonb', 'text', 'uuid', 'jsonb', 'integer', 'text', 'text'], 'setof record');
SELECT is((SELECT prokind FROM pg_proc WHERE proname = 'sg_run'), 'p', 'sg_run is a procedure');
SELECT has_function('sg_run', ARRAY['text', 'jsonb', 'text', 'uuid', 'jsonb', 'integer', 'text']);
SELECT has_function('sg_interrupt', ARRAY['jsonb']);
SELECT function_returns('sg_interrupt', ARRAY['jsonb'], 'jsonb');
SELECT has_function('sg_get_state', ARRAY['text', 'uuid']);
SELECT function_returns('sg_get_state', ARRAY['text', 'uuid'], 'sg_snapshot');
SELECT has_function('sg_get_state_history', ARRAY['text', 'integer', 'uuid', 'jsonb']);
SELECT function_returns('sg_get_state_history', ARRAY['text', 'integer', 'uuid', 'jsonb'], 'setof sg_snapshot');
SELECT has_function('sg_update_state', ARRAY['text', 'jsonb', 'text', 'uuid']);
SELECT function_returns('sg_update_state', ARRAY['text', 'jsonb', 'text', 'uuid'], 'uuid');
SELECT has_function('sg_fork', ARRAY['text', 'uuid', 'text']);
SELECT function_returns('sg_fork', ARRAY['text', 'uuid', 'text'], 'uuid');
SELECT has_function('sg_threads', ARRAY['text']);
SELECT function_returns('sg_threads', ARRAY['text'], 'setof sg_thread');
SELECT has_function('sg_delete_thread', ARRAY['text']);
SELECT has_function('sg_prune', ARRAY['interval', 'integer', 'text']);
SELECT function_returns('sg_prune', ARRAY['interval', 'integer', 'text'], 'bigint');

-- the argument names that named notation uses in API.md
SELECT is((SELECT proargnames FROM pg_proc WHERE proname = 'sg_invoke'),
          ARRAY['graph', 'input', 'thread_id', 'checkpoint_id', 'resume', 'recursion_limit', 'on_error'],
          'sg_invoke argument names');
SELECT is((SELECT proargnames FROM pg_proc WHERE proname = 'sg_get_state_history'),
          ARRAY['thread_id', 'limit', 'before', 'filter'], 'sg_get_state_history argument names');
SELECT is((SELECT proargnames FROM pg_proc WHERE proname = 'sg_update_state'),
          ARRAY['thread_id', 'values', 'as_node', 'checkpoint_id'], 'sg_update_state argument names');
SELECT is((SELECT proargnames FROM pg_proc WHERE proname = 'sg_prune'),
          ARRAY['older_than', 'keep_last', 'thread_id'], 'sg_prune argument names');
SELECT is((SELECT pronargdefaults FROM pg_proc WHERE proname = 'sg_invoke'), 5::int2,
          'sg_invoke: all but graph and input have defaults');

-- the snapshot types
SELECT has_type('sg_snapshot');
SELECT columns_are('public', 'sg_snapshot',
       ARRAY['thread_id', 'checkpoint_ns', 'checkpoint_id', 'parent_checkpoint_id', 'step', 'source',
             'values', 'next', 'tasks', 'interrupts', 'metadata', 'created_at']);
SELECT col_type_is('public', 'sg_snapshot', 'checkpoint_id', 'uuid', 'checkpoint ids are uuids');
SELECT col_type_is('public', 'sg_snapshot', 'values', 'jsonb', 'values are jsonb');
SELECT col_type_is('public', 'sg_snapshot', 'next', 'text[]', 'next is text[]');
SELECT col_type_is('public', 'sg_snapshot', 'step', 'integer', 'step is an integer');
SELECT has_type('sg_thread');
SELECT columns_are('public', 'sg_thread',
       ARRAY['thread_id', 'graph', 'status', 'next', 'checkpoints', 'created_at', 'updated_at']);

-- storage
SELECT has_schema('stategraph');
SELECT tables_are('stategraph', ARRAY['graphs', 'nodes', 'edges', 'branches', 'threads', 'checkpoints', 'tasks',
                                      'lg_checkpoints', 'lg_blobs', 'lg_writes', 'lg_stray_threads',
                                      'runs', 'retention', 'partition_holds', 'submit_locks', 'steps_left']);
SELECT has_pk('stategraph', 'checkpoints', 'checkpoints have a primary key');
SELECT col_is_pk('stategraph', 'checkpoints', ARRAY['thread_id', 'checkpoint_id'],
                 'checkpoints are keyed by thread first');
SELECT col_is_pk('stategraph', 'threads', ARRAY['thread_id'], 'threads are keyed by thread_id');
SELECT col_type_is('stategraph', 'checkpoints', 'checkpoint_id', 'uuid', 'checkpoint_id is a uuid');
SELECT col_type_is('stategraph', 'nodes', 'fn', 'text', 'node functions are kept by signature text (pg_upgrade refuses reg* columns)');
SELECT col_type_is('stategraph', 'branches', 'router', 'text', 'routers are kept by signature text (pg_upgrade refuses reg* columns)');
SELECT set_eq($$ SELECT unnest(extconfig)::regclass::text FROM pg_extension WHERE extname = 'stategraph' $$,
              ARRAY['stategraph.graphs', 'stategraph.graphs_gen_seq', 'stategraph.nodes', 'stategraph.edges', 'stategraph.branches',
                    'stategraph.threads', 'stategraph.checkpoints', 'stategraph.tasks',
                    'stategraph.tasks_seq_seq',
                    'stategraph.lg_checkpoints', 'stategraph.lg_blobs', 'stategraph.lg_writes',
                    'stategraph.lg_stray_threads',
                    'stategraph.runs', 'stategraph.runs_seq_seq', 'stategraph.retention',
                    'stategraph.steps_left'],
              'pg_dump keeps every table of data (pg_extension_config_dump)');
SELECT has_index('stategraph', 'lg_stray_threads', 'lg_stray_threads_thread', ARRAY['thread_id'],
                  'the notes of thread ids that may have stray writes are found by thread');
SELECT is((SELECT relpersistence FROM pg_class WHERE oid = 'stategraph.submit_locks'::regclass), 'u'::"char",
          'submit locks are unlogged (their rows matter only while a submit holds them), and not dumped');
SELECT col_is_pk('stategraph', 'submit_locks', ARRAY['owner', 'kind', 'name', 'graph'],
                 'a submit lock is keyed by its owner, kind, thread or key, and graph');

-- every function of the extension is SECURITY INVOKER, and user functions are in public
SELECT is((SELECT count(*) FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
           JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'stategraph'
           WHERE p.prosecdef)::int, 0, 'no function is SECURITY DEFINER');
SELECT is((SELECT count(*) FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
           JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'stategraph'
           WHERE p.proname LIKE 'sg\_%' AND p.pronamespace <> 'public'::regnamespace)::int, 0,
          'every sg_ function is in the extension schema');
SELECT is((SELECT count(*) FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
           JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'stategraph'
           WHERE p.proname LIKE 'sg\_%' AND p.proname NOT LIKE 'sg\_lg\_%'
             -- functions of 0.2.0, each tested in a file of its own
             AND p.proname <> ALL (ARRAY['sg_draw_history', 'sg_add_external_node', 'sg_claim', 'sg_heartbeat',
                                       'sg_complete', 'sg_fail', 'sg_interrupt_task', 'sg_tasks',
                                       'sg_export_thread', 'sg_import_thread',
                                       'sg_submit', 'sg_runs', 'sg_wait', 'sg_cancel', 'sg_work', 'sg_set_retention',
                                       'sg_reassign_owned']))::int,
          19, 'the extension has the 19 functions and procedures of API.md');
SELECT set_eq($$ SELECT p.proname::text FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
                 JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'stategraph' WHERE p.proname LIKE 'sg\_lg\_%' $$,
              ARRAY['sg_lg_put', 'sg_lg_put_writes', 'sg_lg_get_tuple', 'sg_lg_list', 'sg_lg_delete_thread',
                    'sg_lg_copy_thread', 'sg_lg_prune', 'sg_lg_delete_for_runs'],
              'the LangGraph checkpointer functions (issue 11)');
SELECT is((SELECT extrelocatable FROM pg_extension WHERE extname = 'stategraph'), false,
          'the extension is not relocatable (internals are schema-qualified)');

-- works with the default search_path
SET LOCAL search_path = "$user", public;
CREATE FUNCTION pg_temp.noop(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
SELECT lives_ok($$ SELECT sg_create_graph('s', '{"x": "replace"}') $$, 'sg_create_graph with the default search_path');
SELECT lives_ok($$ SELECT sg_add_node('s', 'n', 'pg_temp.noop(jsonb)') $$, 'sg_add_node');
SELECT lives_ok($$ SELECT sg_add_edge('s', '__start__', 'n'), sg_add_edge('s', 'n', '__end__'), sg_compile('s') $$,
                'sg_add_edge and sg_compile');
SELECT is(sg_invoke('s', '{"x": 1}', thread_id => 't'), '{"x": 1}'::jsonb, 'sg_invoke runs');
SELECT is((SELECT step FROM sg_get_state('t')), 1, 'sg_get_state reads the thread');

-- ownership and lifecycle (issue 8)
SELECT is((SELECT count(*)::int FROM pg_class WHERE relnamespace = 'stategraph'::regnamespace
           AND relkind = 'r' AND NOT relrowsecurity), 0, 'row-level security on every storage table');
SELECT col_type_is('stategraph', 'threads', 'owner', 'name', 'threads have an owner (a role name)');
SELECT col_not_null('stategraph', 'threads', 'owner', 'every thread has an owner');
SELECT col_type_is('stategraph', 'graphs', 'owner', 'name', 'graphs have an owner (a role name)');
SELECT col_default_is('stategraph', 'threads', 'owner', 'CURRENT_USER', 'a thread belongs to the role that creates it');
SELECT is((SELECT count(*)::int FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
           WHERE c.relnamespace = 'stategraph'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
           AND a.atttypid IN ('regproc'::regtype, 'regprocedure'::regtype, 'regoper'::regtype, 'regoperator'::regtype,
                              'regclass'::regtype, 'regtype'::regtype, 'regrole'::regtype, 'regnamespace'::regtype,
                              'regconfig'::regtype, 'regdictionary'::regtype, 'regcollation'::regtype)),
          0, 'no reg* columns in the storage tables (pg_upgrade refuses them)');
SELECT is((SELECT count(*)::int FROM pg_constraint WHERE connamespace = 'stategraph'::regnamespace AND contype = 'f'),
          0, 'no foreign keys between extension tables (pg_restore -j loads their data in any order)');
SELECT is((SELECT count(*)::int FROM pg_class c, aclexplode(c.relacl) a
           WHERE c.oid IN ('stategraph.graphs'::regclass, 'stategraph.nodes'::regclass, 'stategraph.edges'::regclass,
                           'stategraph.branches'::regclass, 'stategraph.threads'::regclass, 'stategraph.checkpoints'::regclass)
           AND a.grantee = 0 AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')),
          24, 'PUBLIC may use the storage tables: row-level security guards the rows');

SELECT * FROM finish();
ROLLBACK;
