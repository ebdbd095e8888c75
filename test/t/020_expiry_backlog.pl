# Finished runs and finished external tasks expire (stategraph.run_retention)
# as fast as they finish, not sweep_limit of each per sweep_interval: a
# sweep whose batch was full goes on with the next batch right after (its
# own transaction, between runs), as a thread pass does. And the sweep is
# not put off for ever by a steady stream of runs: a worker that always has
# the next run to take still sweeps when the sweep is due.
#
# Before: 100 finished runs and 100 finished tasks expired per 5 s sweep
# (3,000 of each: 150 s), and under a steady load none at all.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('backlog', qq{
stategraph.sweep_interval = 5
stategraph.sweep_limit = 100
stategraph.max_workers = 1
});
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION bl_node(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
    SELECT sg_create_graph('bl', '{"n": "replace"}');
    SELECT sg_add_node('bl', 'a', 'bl_node(jsonb)');
    SELECT sg_add_edge('bl', '__start__', 'a');
    SELECT sg_add_edge('bl', 'a', '__end__');
    SELECT sg_compile('bl');
    -- 1,000 threads past their ttl: 10 batches of the thread pass
    SELECT count(sg_invoke('bl', jsonb_build_object('n', i), thread_id => 'old' || i)) FROM generate_series(1, 1000) i;
    SELECT sg_set_retention('bl', '1 hour');
    UPDATE stategraph.threads SET updated_at = now() - interval '2 hours';
    -- 3,000 runs and 3,000 external tasks that finished a month ago: 30 batches each
    INSERT INTO stategraph.runs (run_id, thread_id, graph, recursion_limit, multitask, status, started_at, finished_at)
    SELECT gen_random_uuid(), 'done' || i, 'bl', 25, 'reject', 'success', now() - interval '30 days',
           now() - interval '30 days' FROM generate_series(1, 3000) i;
    INSERT INTO stategraph.tasks (task_id, queue, graph, thread_id, checkpoint_id, node, step, status,
                                  max_attempts, backoff_ms, lease, config, finished_at)
    SELECT 'task' || i, 'q', 'bl', 'done' || i, gen_random_uuid(), 'a', 1, 'completed', 1, 0, '1 min', '{}',
           now() - interval '30 days' FROM generate_series(1, 3000) i;
});

# a steady stream of runs for the whole test: the one worker always has the next one
my ($out, $err) = ('', '');
my $load = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', q{
	  DO $$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN
	    FOR i IN 1 .. 100000 LOOP
	      PERFORM sg_submit('bl', '{}', 'live' || (i % 50), multitask => 'enqueue');
	      COMMIT;
	      PERFORM pg_sleep(0.002);
	      EXIT WHEN clock_timestamp() - t0 > interval '90 s'
	             OR i % 100 = 0 AND NOT EXISTS (SELECT 1 FROM stategraph.runs WHERE thread_id LIKE 'done%')
	                AND NOT EXISTS (SELECT 1 FROM stategraph.threads WHERE thread_id LIKE 'old%');
	    END LOOP;
	  END $$} ],
	'>', \$out, '2>', \$err);

my $start = time;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM stategraph.runs WHERE thread_id LIKE 'done%'}),
	'every expired run is removed');
my $runs_s = time - $start;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM stategraph.tasks WHERE task_id LIKE 'task%'}),
	'every expired task is removed');
my $tasks_s = time - $start;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM stategraph.threads WHERE thread_id LIKE 'old%'}),
	'every expired thread is removed');
my $threads_s = time - $start;
note("runs gone after $runs_s s, tasks $tasks_s s, threads $threads_s s");
# one batch of 100 per 5 s interval would take 150 s; a few intervals at most
cmp_ok($runs_s, '<', 40, 'finished runs do not wait an interval between batches of sweep_limit');
cmp_ok($tasks_s, '<', 40, 'finished tasks do not wait an interval between batches of sweep_limit');
cmp_ok($threads_s, '<', 40, 'the thread pass goes on under a steady load');
cmp_ok($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs WHERE thread_id LIKE 'live%'}),
	'>', 0, 'runs were submitted meanwhile');

$load->finish;
is($err, '', 'the load ran without errors');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM sg_runs() r, LATERAL sg_wait(r.run_id, interval '60 s') w
	WHERE w.status <> 'success'}), '0', 'every run of the load succeeds');

$node->stop;
done_testing();
