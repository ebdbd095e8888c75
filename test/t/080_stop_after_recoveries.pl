# A run asked to stop with 'rollback' whose executor died (here the
# session of CALL sg_work, terminated during a step) more than
# stategraph.max_run_recoveries times was abandoned: the next claim ended
# it 'error' (SG014) without its rollback, the thread kept the stopped
# run's checkpoints and the run queued behind it started on them. A stop
# takes no step of the graph (what the abandon guards against), so such a
# run is stopped as any other: cancelled, its rollback done.
# No preload: only CALL sg_work executes runs here.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('stop_after_recoveries');
$node->init;
$node->append_conf('postgresql.conf', qq{shared_preload_libraries = ''\nstategraph.max_run_recoveries = 0\n});
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION ok_step(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT jsonb_build_object('n', (state->>'n')::int + 1) $$;
    -- sleeps (up to a minute) if its state says so
    CREATE FUNCTION sleepy(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        IF (state->>'wait')::boolean THEN
            PERFORM pg_sleep(60);
        END IF;
        RETURN jsonb_build_object('n', (state->>'n')::int + 1);
    END $$;
    SELECT sg_create_graph('g', '{"n": "replace", "wait": "replace"}');
    SELECT sg_add_node('g', 'first', 'ok_step(jsonb)');
    SELECT sg_add_node('g', 'second', 'sleepy(jsonb)');
    SELECT sg_add_edge('g', f, t) FROM (VALUES ('__start__', 'first'), ('first', 'second'),
                                            ('second', '__end__')) e(f, t);
    SELECT sg_compile('g');
});

# a thread with a finished run
$node->safe_psql('postgres', q{SELECT sg_invoke('g', '{"n": 0, "wait": false}', 't')});
my $before = $node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 't'});

# a run on it whose executor dies in its last step, once its first committed
my $rid = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 10, "wait": true}', 't')});
my ($wout, $werr) = ('', '');
my $work = IPC::Run::start(
	[ 'psql', '-X', '-Atq', '-d', $node->connstr('postgres') . ' application_name=victim', '-c', 'CALL sg_work()' ],
	'>', \$wout, '2>', \$werr);
ok($node->poll_query_until('postgres', q{
		SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE application_name = 'victim'}),
	'the run sleeps in its last step');
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'victim'});
$work->finish;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'victim'}),
	'its executor is gone');
is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$rid'}), 'running',
	'the run is left running');

# stopped with 'rollback', a run queued behind it
is($node->safe_psql('postgres', qq{SELECT sg_cancel('$rid', 'rollback')}), 't', 'the run is asked to stop');
my $next = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 100, "wait": false}', 't', multitask => 'enqueue')});

$node->safe_psql('postgres', q{CALL sg_work()});
is($node->safe_psql('postgres', qq{SELECT status || ' ' || coalesce(error->>'sqlstate', '-') FROM stategraph.runs WHERE run_id = '$rid'}),
	'cancelled -', 'the stopped run is cancelled, not abandoned');
is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$next'}), 'success',
	'the next run succeeds');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 't'}), 2 * $before,
	"the thread has the first run's checkpoints and the last one's, none of the stopped run's");

$node->stop;
done_testing();
