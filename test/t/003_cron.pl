# Schedules are pg_cron's job (RUNTIME.md): a cron.schedule job that calls
# sg_submit queues a run each time it fires, and the background workers
# execute it. pg_cron 1.4 schedules by the minute, so this waits for the
# next minute to start (at most about 70 seconds).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_cron,stategraph'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
});
$node->start;

$node->safe_psql('postgres', q{
    CREATE EXTENSION pg_cron;
    CREATE EXTENSION stategraph;
    CREATE FUNCTION tick(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT jsonb_build_object('ticks', 1) $$;
    SELECT sg_create_graph('ticker', '{"ticks": "add"}');
    SELECT sg_add_node('ticker', 'tick', 'tick(jsonb)');
    SELECT sg_add_edge('ticker', '__start__', 'tick');
    SELECT sg_add_edge('ticker', 'tick', '__end__');
    SELECT sg_compile('ticker');
});
my $job = $node->safe_psql('postgres', q{
    SELECT cron.schedule('stategraph-ticker', '* * * * *',
                         $$SELECT sg_submit('ticker', '{}', 'cron-ticks', multitask => 'enqueue')$$)});
like($job, qr/^\d+$/, 'cron.schedule accepts a job that calls sg_submit');
sleep_to_next_minute($node);

ok($node->poll_query_until('postgres', q{
	SELECT count(*) >= 1 FROM sg_runs('cron-ticks') WHERE status = 'success'}, 't'),
	'the scheduled submit ran and its run was executed by the workers');
is($node->safe_psql('postgres', q{SELECT status FROM cron.job_run_details ORDER BY runid LIMIT 1}),
	'succeeded', 'pg_cron recorded the job as succeeded');
ok($node->safe_psql('postgres', q{SELECT ("values"->>'ticks')::int >= 1 FROM sg_get_state('cron-ticks')}) eq 't',
	'the thread counts the ticks');
$node->safe_psql('postgres', q{SELECT cron.unschedule('stategraph-ticker')});
$node->stop('fast');
done_testing();
