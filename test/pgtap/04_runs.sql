-- Background runs and retention (RUNTIME.md): the signatures, and every bad
-- input of sg_submit, sg_wait, sg_cancel, sg_work and sg_set_retention is an
-- ERROR with a specific SQLSTATE that stores nothing. The test runs in one
-- transaction that is rolled back, so no background worker sees its runs.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION stategraph;
SELECT plan(84);

-- signatures
SELECT has_function('sg_submit', ARRAY['text', 'jsonb', 'text', 'uuid', 'jsonb', 'integer', 'text', 'interval', 'text']);
SELECT function_returns('sg_submit', ARRAY['text', 'jsonb', 'text', 'uuid', 'jsonb', 'integer', 'text', 'interval', 'text'], 'uuid');
SELECT has_function('sg_runs', ARRAY['text', 'text']);
SELECT function_returns('sg_runs', ARRAY['text', 'text'], 'setof sg_run');
SELECT has_function('sg_wait', ARRAY['uuid', 'interval']);
SELECT function_returns('sg_wait', ARRAY['uuid', 'interval'], 'sg_run');
SELECT has_function('sg_cancel', ARRAY['uuid', 'text']);
SELECT function_returns('sg_cancel', ARRAY['uuid', 'text'], 'boolean');
SELECT is((SELECT prokind FROM pg_proc WHERE proname = 'sg_work'), 'p'::"char", 'sg_work is a procedure');
SELECT is((SELECT pg_get_function_arguments(oid) FROM pg_proc WHERE proname = 'sg_work'),
          'IN max_runs integer DEFAULT NULL::integer, IN max_time interval DEFAULT NULL::interval', 'sg_work''s arguments');
SELECT has_function('sg_set_retention', ARRAY['text', 'interval', 'text', 'integer']);
SELECT function_returns('sg_set_retention', ARRAY['text', 'interval', 'text', 'integer'], 'void');
SELECT is((SELECT pg_get_function_arguments(p.oid) FROM pg_proc p WHERE proname = 'sg_submit'),
          'graph text, input jsonb, thread_id text DEFAULT NULL::text, checkpoint_id uuid DEFAULT NULL::uuid, '
          'resume jsonb DEFAULT NULL::jsonb, recursion_limit integer DEFAULT 25, multitask text DEFAULT ''reject''::text, '
          'after interval DEFAULT NULL::interval, idempotency_key text DEFAULT NULL::text', 'sg_submit''s defaults');
SELECT is(array_agg(attname::text ORDER BY attnum),
          ARRAY['run_id', 'thread_id', 'graph', 'status', 'multitask', 'attempt', 'error', 'created_at', 'started_at', 'finished_at'],
          'sg_run has the columns of RUNTIME.md')
  FROM pg_attribute WHERE attrelid = 'sg_run'::regclass AND attnum > 0;
SELECT col_type_is('stategraph', 'runs', 'owner', 'name', 'runs are owned by a role name');
SELECT col_default_is('stategraph', 'runs', 'owner', 'CURRENT_USER', 'the owner is the submitting role');
SELECT is((SELECT relrowsecurity FROM pg_class WHERE oid = 'stategraph.runs'::regclass), true, 'runs have row-level security');
SELECT is((SELECT setting FROM pg_settings WHERE name = 'stategraph.max_workers'), '4', 'stategraph.max_workers defaults to 4');
SELECT is((SELECT setting FROM pg_settings WHERE name = 'stategraph.max_workers_per_role'), '0', 'stategraph.max_workers_per_role defaults to 0 (no share per role)');
SELECT is(current_setting('stategraph.sweep_interval'), '5min', 'stategraph.sweep_interval defaults to 5 minutes');
SELECT is(current_setting('stategraph.run_retention'), '7d', 'stategraph.run_retention defaults to 7 days');
SELECT is(current_setting('stategraph.sweep_limit'), '1000', 'stategraph.sweep_limit defaults to 1000');
SELECT is(current_setting('stategraph.worker_idle_timeout'), '10s', 'stategraph.worker_idle_timeout defaults to 10 seconds');

CREATE FUNCTION step_n(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('step', COALESCE((state->>'step')::int, 0) + 1) $$;
SELECT sg_create_graph('g', '{"step": "replace"}');
SELECT sg_add_node('g', 'a', 'step_n(jsonb)');
SELECT sg_add_edge('g', '__start__', 'a');
SELECT sg_add_edge('g', 'a', '__end__');
SELECT sg_compile('g');
SELECT sg_create_graph('uncompiled', '{"step": "replace"}');
SELECT sg_invoke('g', '{"step": 0}', thread_id => 't1');
SELECT sg_submit('g', '{"step": 0}', 'busy', after => '1 hour') AS busy_run \gset

CREATE TEMP TABLE stored AS
SELECT (SELECT jsonb_agg(to_jsonb(r) ORDER BY seq) FROM stategraph.runs r) AS runs,
       (SELECT jsonb_agg(to_jsonb(t) - 'updated_at' ORDER BY thread_id) FROM stategraph.threads t) AS threads,
       (SELECT count(*) FROM stategraph.retention) AS retention;
CREATE FUNCTION pg_temp.unchanged() RETURNS boolean LANGUAGE sql AS $$
    SELECT (SELECT jsonb_agg(to_jsonb(r) ORDER BY seq) FROM stategraph.runs r) IS NOT DISTINCT FROM s.runs
       AND (SELECT jsonb_agg(to_jsonb(t) - 'updated_at' ORDER BY thread_id) FROM stategraph.threads t) = s.threads
       AND (SELECT count(*) FROM stategraph.retention) = s.retention
    FROM stored s $$;

-- a status changed with SQL keeps to its values (23514, domains since these
-- columns stopped being CHECK constraints), the rows as they were
SELECT throws_ok(format($$ UPDATE stategraph.runs SET status = 'paused' WHERE run_id = %L $$, :'busy_run'),
                 '23514', NULL, 'runs.status: an unknown status');
SELECT throws_ok(format($$ UPDATE stategraph.runs SET multitask = 'queue' WHERE run_id = %L $$, :'busy_run'),
                 '23514', NULL, 'runs.multitask: an unknown strategy');
SELECT throws_ok(format($$ UPDATE stategraph.runs SET stop_request = 'pause' WHERE run_id = %L $$, :'busy_run'),
                 '23514', NULL, 'runs.stop_request: an unknown request');
SELECT throws_ok(format($$ UPDATE stategraph.runs SET thread_id = '' WHERE run_id = %L $$, :'busy_run'),
                 '23514', NULL, 'runs.thread_id: empty');
SELECT throws_ok($$ UPDATE stategraph.threads SET status = 'paused' WHERE thread_id = 't1' $$,
                 '23514', NULL, 'threads.status: an unknown status');
SELECT col_type_is('stategraph', 'tasks', 'status', 'stategraph.task_status', 'tasks.status is a task_status');
SELECT throws_ok($$ SELECT 'lost'::stategraph.task_status $$, '23514', NULL, 'which refuses an unknown status');
SELECT ok(pg_temp.unchanged(), 'and the runs and threads are as they were');

-- sg_submit
SELECT throws_ok($$ SELECT sg_submit('g', '{"step": 0}', 't2', multitask => 'queue') $$, '22023',
                 'multitask must be ''reject'', ''enqueue'', ''interrupt'' or ''rollback'', not ''queue''', 'unknown multitask');
SELECT throws_ok($$ SELECT sg_submit('g', '{"step": 0}', 't2', multitask => NULL) $$, '22004', NULL, 'NULL multitask');
SELECT throws_ok($$ SELECT sg_submit('g', '{"step": 0}', 't2', after => '-1 second') $$, '22023',
                 'after must not be negative', 'negative after');
SELECT throws_ok($$ SELECT sg_submit('uncompiled', '{"step": 0}', 't2') $$, '55000',
                 'graph "uncompiled" is not compiled', 'submit to an uncompiled graph');
SELECT throws_ok($$ SELECT sg_submit('nope', '{"step": 0}', 't2') $$, '42704', NULL, 'submit to an unknown graph');
SELECT throws_ok($$ SELECT sg_submit('g', '[1]', 't2') $$, '22023', NULL, 'input that is not an object');
SELECT throws_ok($$ SELECT sg_submit('g', '{"nope": 1}', 't2') $$, NULL, NULL, 'input with an unknown channel');
SELECT throws_ok($$ SELECT sg_submit('g', NULL, 'missing') $$, '42704', NULL, 'resume of a thread that does not exist');
SELECT throws_ok($$ SELECT sg_submit('g', NULL) $$, '22023', 'a run without input needs a thread_id', 'resume without a thread');
SELECT throws_ok($$ SELECT sg_submit('g', '{"step": 0}', 't1', resume => '1') $$, '22023', NULL, 'input and resume');
SELECT throws_ok($$ SELECT sg_submit('g', '{"step": 0}', 't2', recursion_limit => 0) $$, '22023', NULL, 'recursion_limit 0');
SELECT throws_ok($$ SELECT sg_submit('g', '{"step": 0}', '') $$, '22023', 'thread_id must not be empty', 'empty thread_id');
SELECT throws_ok($$ SELECT sg_submit('g', '{"step": 0}', 't2', idempotency_key => '') $$, '22023', NULL, 'empty idempotency_key');
SELECT throws_ok($$ SELECT sg_submit('g', '{"step": 0}', 'busy') $$, 'SG013',
                 'thread "busy" already has an active run', 'reject: its own SQLSTATE');
-- time travel to a checkpoint the thread does not have: refused at submit, as sg_invoke
-- refuses it, not queued to fail later (review: it was accepted and the run ended in error)
SELECT throws_ok($$ SELECT sg_submit('g', NULL, 't1', checkpoint_id => '01a2292d-2b22-7607-aaf9-1bb40cef553c') $$, '42704',
                 'checkpoint 01a2292d-2b22-7607-aaf9-1bb40cef553c does not exist in thread "t1"', 'submit: unknown checkpoint_id');
SELECT throws_ok($$ SELECT sg_submit('g', '{"step": 5}', 't1', checkpoint_id => '01a2292d-2b22-7607-aaf9-1bb40cef553c') $$, '42704',
                 NULL, 'submit with input: unknown checkpoint_id');
SELECT ok(pg_temp.unchanged(), 'rejected submits store nothing');

-- sg_wait, sg_cancel, sg_work
SELECT throws_ok($$ SELECT sg_wait('01a2292d-2b22-7607-aaf9-1bb40cef553c') $$, '42704', NULL, 'sg_wait of an unknown run');
SELECT throws_ok(format($$ SELECT sg_wait(%L, '-1 s') $$, :'busy_run'), '22023', 'timeout must not be negative', 'negative timeout');
SELECT throws_ok($$ SELECT sg_cancel('01a2292d-2b22-7607-aaf9-1bb40cef553c') $$, '42704', NULL, 'sg_cancel of an unknown run');
SELECT throws_ok(format($$ SELECT sg_cancel(%L, 'abort') $$, :'busy_run'), '22023',
                 'action must be ''interrupt'' or ''rollback'', not ''abort''', 'unknown cancel action');
SELECT throws_ok($$ CALL sg_work() $$, '2D000', NULL, 'sg_work inside a transaction block');
SELECT throws_ok($$ CALL sg_work(-1) $$, '22023', NULL, 'negative max_runs');
-- sg_runs: a status no run can have is an error (as sg_tasks's), not an empty list that hides a typo
SELECT throws_ok($$ SELECT * FROM sg_runs(status => 'done') $$, '22023', 'unknown run status "done"', 'sg_runs: unknown status');
SELECT is((SELECT count(*)::int FROM sg_runs(status => 'pending')), 1, 'sg_runs: a known status filters');
SELECT ok(pg_temp.unchanged(), 'rejected waits, cancels and work store nothing');

-- sg_set_retention
SELECT throws_ok($$ SELECT sg_set_retention('g', '-1 day') $$, '22023', 'ttl must not be negative', 'negative ttl');
SELECT throws_ok($$ SELECT sg_set_retention('g', '1 day', 'archive') $$, '22023', NULL, 'unknown strategy');
SELECT throws_ok($$ SELECT sg_set_retention('g', '1 day', 'keep_latest', 0) $$, '22023', NULL, 'keep_last 0');
SELECT throws_ok($$ SELECT sg_set_retention('g', '1 day', 'delete', 3) $$, '22023', NULL, 'keep_last with delete');
SELECT throws_ok($$ SELECT sg_set_retention('nope', '1 day') $$, '42704', NULL, 'retention of an unknown graph');
SELECT ok(pg_temp.unchanged(), 'rejected retention settings store nothing');

-- intervals whose now() + (or -) is past timestamptz's range: an error naming the argument
-- (it was a bare 'timestamp out of range' from inside an INSERT, or a ttl every sweep then failed on)
SELECT throws_ok($$ SELECT sg_submit('g', '{"step": 0}', 'far', after => '300000 years') $$, '22008',
                 'after is out of range', 'an after past the latest timestamp');
SELECT throws_ok($$ SELECT sg_set_retention('g', '300000 years') $$, '22008', 'ttl is out of range',
                 'a ttl before the earliest timestamp');
SELECT throws_ok($$ SELECT sg_prune(older_than => '300000 years') $$, '22008', 'older_than is out of range',
                 'an older_than before the earliest timestamp');
SELECT throws_ok($$ SELECT * FROM sg_claim('q', 'w', lease => '300000 years') $$, '22008', 'lease is out of range',
                 'a lease past the latest timestamp');
SELECT throws_ok($$ SELECT sg_heartbeat('t', gen_random_uuid(), '300000 years') $$, '22008', 'extend is out of range',
                 'an extend past the latest timestamp');
SELECT ok(pg_temp.unchanged(), 'out of range intervals store nothing');
SELECT lives_ok($$ SELECT sg_submit('g', '{"step": 0}', 'far', after => '200000 years') $$,
                'an after of 200,000 years is in range');

-- and what works: the same idempotency key gives the same run; a pending run cancels
SELECT is(sg_submit('g', '{"step": 0}', 'k', idempotency_key => 'x'),
          sg_submit('g', '{"step": 0}', 'k', idempotency_key => 'x', multitask => 'enqueue'), 'idempotency_key: the same run_id back');
-- an interval is negative by its total, as PostgreSQL compares intervals: '1 day -1 hour' is 23 hours
-- (interval '1 day' - interval '1 hour'), and '1 hour -61 minutes' is negative
SELECT lives_ok($$ SELECT sg_submit('g', '{"step": 0}', 'mixed-after', after => interval '1 day' - interval '1 hour') $$,
                'an after of 23 hours written as 1 day -1 hour');
SELECT ok((SELECT not_before > now() + interval '22 hours' FROM stategraph.runs WHERE thread_id = 'mixed-after'),
          'and the run starts 23 hours later');
SELECT throws_ok($$ SELECT sg_submit('g', '{"step": 0}', 't2', after => '1 hour -61 minutes') $$, '22023',
                 'after must not be negative', 'an after that is negative in total');
SELECT lives_ok($$ SELECT sg_set_retention('g', '1 month -1 day') $$, 'a ttl of 1 month -1 day');
-- but months against days of the other sign whose sign depends on the month: '-2 mon 61 days'
-- is one day with 30-day months, and now() minus it was tomorrow (a ttl deleted fresh threads)
SELECT throws_ok($$ SELECT sg_set_retention('g', '-2 mon 61 days') $$, '22023',
                 'ttl must not be negative', 'a ttl of -2 mon 61 days (negative in months of 31 days)');
SELECT throws_ok($$ SELECT sg_submit('g', '{"step": 0}', 't3', after => '-2 mon 61 days') $$, '22023',
                 'after must not be negative', 'an after of -2 mon 61 days');
SELECT throws_ok($$ SELECT sg_prune(older_than => '1 mon -29 days') $$, '22023',
                 'older_than must not be negative', 'an older_than of 1 mon -29 days (negative in February)');
SELECT is((SELECT count(*) FROM stategraph.runs WHERE thread_id = 't3'), 0::bigint, 'nothing stored');
-- months counted by their real shortest span: 12 months are 365 days at least, 2 are 59
SELECT lives_ok($$ SELECT sg_set_retention('g', '1 year -350 days') $$, 'a ttl of 1 year -350 days (15 days at least)');
SELECT lives_ok($$ SELECT sg_prune(older_than => '2 mon -57 days') $$, 'an older_than of 2 mon -57 days (2 days at least)');
SELECT lives_ok(format($$ SELECT sg_wait(%L, '1 day -24 hours') $$, :'busy_run'),
                'a timeout of 0 written as 1 day -24 hours (only reads the row)');
SELECT ok(sg_cancel(:'busy_run'), 'a pending run cancels');
SELECT is((SELECT status FROM sg_runs('busy')), 'cancelled', 'and is cancelled');

SELECT * FROM finish();
ROLLBACK;
