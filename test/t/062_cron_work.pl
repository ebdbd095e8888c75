# Issue 9 item 6, "CALL sg_work(max_runs, max_time) does the same job in the
# calling session ... (for managed servers, pg_cron jobs and tests)", and
# README's "Schedules with pg_cron": on a server without the stategraph
# preload, the job cron.schedule('stategraph-work', '* * * * *',
# 'CALL sg_work(max_time => ''50 seconds'')') executes the queued runs.
# TAP 003_cron runs a job that submits (with the preload); no test ran
# this one (audit rev9audit). pg_cron runs it in a background worker
# (cron.use_background_workers, as 003_cron), where the procedure must be
# able to commit its steps. pg_cron 1.4 schedules by the minute, so this
# waits for the next minute to start (at most about 70 seconds).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = PostgreSQL::Test::Cluster->new('cron_work');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
});
$node->start;

$node->safe_psql('postgres', q{
    CREATE EXTENSION pg_cron;
    CREATE EXTENSION stategraph;
    CREATE TABLE effects (thread text, step int, at timestamptz DEFAULT clock_timestamp());
    CREATE FUNCTION tick(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO effects (thread, step) VALUES (config->>'thread_id', (config->>'step')::int);
        RETURN jsonb_build_object('ticks', 1);
    END $$;
    SELECT sg_create_graph('ticker', '{"ticks": "add"}');
    SELECT sg_add_node('ticker', 'a', 'tick(jsonb,jsonb)');
    SELECT sg_add_node('ticker', 'b', 'tick(jsonb,jsonb)');
    SELECT sg_add_edge('ticker', '__start__', 'a');
    SELECT sg_add_edge('ticker', 'a', 'b');
    SELECT sg_add_edge('ticker', 'b', '__end__');
    SELECT sg_compile('ticker');
    SELECT sg_submit('ticker', '{}', 'queued-' || i) FROM generate_series(1, 3) i;
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'stategraph%'}), '0',
	'no stategraph background process without the preload');
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT status, ',') FROM sg_runs()}), 'pending',
	'three runs wait');

# README's job, as written there
my $job = $node->safe_psql('postgres', q{
    SELECT cron.schedule('stategraph-work', '* * * * *', 'CALL sg_work(max_time => ''50 seconds'')')});
like($job, qr/^\d+$/, 'cron.schedule accepts CALL sg_work');
sleep_to_next_minute($node);

ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 3 FROM sg_runs() WHERE status = 'success'}, 't'),
	'the pg_cron job executed the queued runs')
  or diag($node->safe_psql('postgres', q{SELECT status, return_message FROM cron.job_run_details}));
ok($node->poll_query_until('postgres', q{
	SELECT count(*) >= 1 FROM cron.job_run_details WHERE status = 'succeeded'}, 't'),
	'pg_cron recorded the job as succeeded')
  or diag($node->safe_psql('postgres', q{SELECT status, return_message FROM cron.job_run_details}));
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT thread, step FROM effects GROUP BY 1, 2 HAVING count(*) = 1) e}), '6',
	'each run took its two steps, each once');
is($node->safe_psql('postgres', q{SELECT string_agg((s."values"->>'ticks'), ',' ORDER BY t.thread_id)
	FROM sg_threads() t, LATERAL sg_get_state(t.thread_id) s}), '2,2,2', 'each thread counts its two ticks');
$node->safe_psql('postgres', q{SELECT cron.unschedule('stategraph-work')});
$node->stop('fast');
done_testing();
