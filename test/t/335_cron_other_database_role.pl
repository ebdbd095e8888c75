# README's "Schedules with pg_cron": pg_cron keeps its jobs in one database
# (cron.database_name); cron.schedule_in_database runs a job in another
# database as the role it names. There, the job's sg_submit queues a run of
# that role (its nodes run as that role), and its CALL sg_work executes the
# runs of that role and leaves another role's alone. No preload of
# stategraph, so only the job executes runs. pg_cron 1.4 schedules by the
# minute, so this waits for the next minute to start (at most about 70
# seconds).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = PostgreSQL::Test::Cluster->new('cron_other_database');
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
    CREATE ROLE alice LOGIN;
    CREATE ROLE bob LOGIN;
    CREATE DATABASE app;
});
$node->safe_psql('app', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE effects (thread text, who text);
    GRANT INSERT, SELECT ON effects TO PUBLIC;
    CREATE FUNCTION public.tick(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ INSERT INTO public.effects VALUES (config->>'thread_id', current_user) RETURNING '{"ticks": 1}'::jsonb $$;
    SET ROLE alice;}
	. one_step_graph_sql('alice_g', '{"ticks": "add"}', 'tick', 'public.tick(jsonb,jsonb)') . q{
    SELECT sg_submit('alice_g', '{}', 'alice-queued');
    SET ROLE bob;}
	. one_step_graph_sql('bob_g', '{"ticks": "add"}', 'tick', 'public.tick(jsonb,jsonb)') . q{
    SELECT sg_submit('bob_g', '{}', 'bob-queued');
});
$node->safe_psql('postgres', q{
    SELECT cron.schedule_in_database('alice-submit', '* * * * *',
        $$SELECT sg_submit('alice_g', '{}', 'alice-cron', multitask => 'enqueue')$$, 'app', 'alice');
    SELECT cron.schedule_in_database('alice-work', '* * * * *',
        $$CALL sg_work(max_time => '10 seconds')$$, 'app', 'alice');
});
sleep_to_next_minute($node);

ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 2 FROM cron.job_run_details WHERE status = 'succeeded'}),
	'both jobs ran in database app as alice')
  or diag($node->safe_psql('postgres', q{SELECT status, return_message FROM cron.job_run_details}));
is($node->safe_psql('app', q{SELECT owner FROM stategraph.runs WHERE thread_id = 'alice-cron'}), 'alice',
	'the run the job submitted is alice\'s');
# (the run the other job submits may come after that job's look at the queue)
ok($node->poll_query_until('app', q{
	SELECT status = 'success' FROM stategraph.runs WHERE thread_id = 'alice-queued'}),
	'alice\'s job executed her run');
is($node->safe_psql('app', q{SELECT string_agg(DISTINCT who, ',') FROM effects}), 'alice',
	'its node ran as alice');
is($node->safe_psql('app', q{SELECT status FROM stategraph.runs WHERE thread_id = 'bob-queued'}), 'pending',
	'bob\'s run is left for bob');
$node->safe_psql('postgres', q{SELECT cron.unschedule(jobid) FROM cron.job});
$node->stop('fast');
done_testing();
