# Background runs (RUNTIME.md): with shared_preload_libraries = 'stategraph'
# the server executes submitted runs by itself.
#
#  - 200 runs over 20 threads with multitask 'enqueue' all succeed, in
#    submission order per thread, and stategraph.max_workers is never
#    exceeded (each node counts the runs executing at that moment);
#  - a run executes as the role that submitted it (current_user in a node);
#  - kill -9 of a worker and immediate shutdowns at random moments: every run
#    finishes by itself, each loop step's effect exactly once;
#  - a database that creates the extension later is picked up; DROP
#    EXTENSION and DROP DATABASE while runs execute are clean;
#  - sg_wait sleeps without using CPU;
#  - retention sweeps by the workers remove expired threads and spare
#    threads with an active run or a pending interrupt.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use IPC::Run;
use Time::HiRes qw(usleep time);

my $max_workers = 3;
my $node = preloaded_node('background', qq{
stategraph.max_workers = $max_workers
restart_after_crash = on
});

my $objects = q{
    CREATE TABLE effects (seq bigserial, thread text, step int, node text, n int, who name, running int);
    CREATE FUNCTION work(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO effects (thread, step, node, n, who, running)
        VALUES (config->>'thread_id', (config->>'step')::int, config->>'node', (state->>'n')::int, current_user,
                (SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %'));
        PERFORM pg_sleep((state->>'sleep')::float8);
        RETURN jsonb_build_object('i', (state->>'i')::int + 1, 'log', jsonb_build_array(state->'n'));
    END $$;
    CREATE FUNCTION more(state jsonb) RETURNS text LANGUAGE sql
        AS $$ SELECT CASE WHEN (state->>'i')::int < (state->>'steps')::int THEN 'work' ELSE '__end__' END $$;
};
my $graph = q{
    CREATE EXTENSION stategraph;
    SELECT sg_create_graph('loop', '{"n": "replace", "i": "replace", "steps": "replace", "sleep": "replace", "log": "append"}');
    SELECT sg_add_node('loop', 'work', 'work(jsonb,jsonb)');
    SELECT sg_add_edge('loop', '__start__', 'work');
    SELECT sg_add_conditional_edges('loop', 'work', 'more(jsonb)', '["work", "__end__"]');
    SELECT sg_compile('loop');
};
$node->safe_psql('postgres', $objects . $graph);

# wait until no run of the database is pending or running
sub wait_all_finished
{
	my ($db, $secs) = @_;
	$secs //= 180;
	my $deadline = time + $secs;
	while (time < $deadline)
	{
		my $left = $node->safe_psql($db,
			"SELECT count(*) FROM stategraph.runs WHERE status IN ('pending', 'running')");
		return 1 if $left eq '0';
		usleep(100_000);
	}
	return 0;
}

# --- 200 runs over 20 threads, enqueue ---------------------------------------
my $sql = '';
for my $k (1 .. 10)
{
	for my $t (1 .. 20)
	{
		$sql .= "SELECT sg_submit('loop', '{\"n\": $k, \"i\": 0, \"steps\": 1, \"sleep\": 0.005}', 'fifo$t', multitask => 'enqueue');\n";
	}
}
$node->safe_psql('postgres', $sql);
ok(wait_all_finished('postgres'), '200 runs finished by themselves');
is($node->safe_psql('postgres', "SELECT status, count(*) FROM sg_runs() GROUP BY status"),
	'success|200', 'all 200 succeeded');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT thread, array_agg(n ORDER BY seq) AS ns FROM effects
	                      WHERE thread LIKE 'fifo%' GROUP BY thread) t
	WHERE ns = ARRAY[1,2,3,4,5,6,7,8,9,10]}),
	'20', 'each thread ran its 10 runs once each, in submission order');
my $most = $node->safe_psql('postgres', "SELECT max(running) FROM effects");
ok($most >= 1 && $most <= $max_workers, "at most stategraph.max_workers = $max_workers runs at once (saw $most)");
like($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT backend_type, ',') FROM pg_stat_activity
	WHERE backend_type LIKE 'stategraph%'}), qr/stategraph launcher.*stategraph worker|stategraph worker.*stategraph launcher/,
	'the launcher and workers show in pg_stat_activity');

# --- the submitting role -------------------------------------------------------
$node->safe_psql('postgres', q{
	CREATE ROLE app LOGIN;
	GRANT USAGE ON SCHEMA stategraph TO app;
	GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA stategraph TO app;
	GRANT INSERT ON effects TO app;
	GRANT USAGE ON SEQUENCE effects_seq_seq TO app;
});
my $rid = $node->safe_psql('postgres',
	"SET ROLE app; SELECT sg_submit('loop', '{\"n\": 0, \"i\": 0, \"steps\": 1, \"sleep\": 0}', 'as_app')");
is($node->safe_psql('postgres', "SET ROLE app; SELECT status FROM sg_wait('$rid', '30 s')"), 'success', 'the role waits for its run');
is($node->safe_psql('postgres', "SELECT string_agg(DISTINCT who, ',') FROM effects WHERE thread = 'as_app'"),
	'app', 'the node ran as the submitting role (current_user), not as a superuser');

# --- sg_wait sleeps -------------------------------------------------------------
my $later = $node->safe_psql('postgres',
	"SELECT sg_submit('loop', '{\"n\": 0, \"i\": 0, \"steps\": 1, \"sleep\": 0}', 'waits', after => '1 hour')");
my ($wout, $werr) = ('', '');
my $wh = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
	  "SET application_name = 'waiter'; SELECT status FROM sg_wait('$later', '4 s')" ],
	'>', \$wout, '2>', \$werr);
my $wpid = '';
for (1 .. 50)
{
	$wpid = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE application_name = 'waiter'");
	last if $wpid =~ /^\d+$/;
	usleep(50_000);
}
usleep(300_000);
my $t0 = cpu_ticks($wpid);
sleep 2;
my $t1 = cpu_ticks($wpid);
$wh->finish;
ok($t0 >= 0 && $t1 - $t0 <= 3, "a session in sg_wait used " . ($t1 - $t0) . " CPU ticks in 2 seconds");
is($wout, "pending\n", 'sg_wait returns the row when the timeout passes');
$node->safe_psql('postgres', "SELECT sg_cancel('$later')");

# --- a run submitted while every worker is idle --------------------------------
$node->safe_psql('postgres', q{SELECT sg_submit('loop', '{"n": 0, "i": 0, "steps": 1, "sleep": 0}', 'quick')});
my $started = $node->safe_psql('postgres', q{
	SELECT status FROM sg_wait((SELECT run_id FROM sg_runs('quick')), '30 s')});
is($started, 'success', 'a run submitted on an idle server runs');

# --- crashes: kill -9 of a worker and immediate shutdowns ----------------------
my $threads = 6;
my $steps = 12;
$node->safe_psql('postgres', join('', map {
	"SELECT sg_submit('loop', '{\"n\": 0, \"i\": 0, \"steps\": $steps, \"sleep\": 0.03}', 'crash$_', recursion_limit => 100);\n"
} 1 .. $threads));
my $kills = 0;
for my $i (1 .. 8)
{
	usleep(int(100_000 + rand(300_000)));
	if ($i % 2)
	{
		my $pid = $node->safe_psql('postgres',
			"SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %' LIMIT 1");
		next unless $pid =~ /^\d+$/;
		kill 'KILL', $pid;
		$kills++;
		back_after_kill($node, $pid) or die 'server did not come back';
	}
	else
	{
		$node->stop('immediate');
		$node->start;
		$kills++;
	}
}
ok($kills >= 4, "killed a worker or the server $kills times");
ok(wait_all_finished('postgres'), 'every run went on by itself after the crashes');
is($node->safe_psql('postgres', "SELECT count(*) FROM sg_runs() WHERE thread_id LIKE 'crash%' AND status = 'success'"),
	$threads, 'all crashed runs succeeded')
  or diag($node->safe_psql('postgres', "SELECT thread_id, status, attempt, stepped, error FROM stategraph.runs WHERE thread_id LIKE 'crash%'"));
ok($node->safe_psql('postgres', "SELECT max(attempt) FROM sg_runs() WHERE thread_id LIKE 'crash%'") > 1,
	'some run was taken up again after a crash');
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM (SELECT thread, step FROM effects WHERE thread LIKE 'crash%' GROUP BY 1, 2 HAVING count(*) <> 1) d}),
	'0', 'each loop step\'s effect exactly once');
is($node->safe_psql('postgres', "SELECT count(*) FROM effects WHERE thread LIKE 'crash%'"),
	$threads * $steps, "every step of every run ran ($threads x $steps)");

# --- a database created later; DROP EXTENSION and DROP DATABASE under load ------
$node->safe_psql('postgres', 'CREATE DATABASE later');
$node->safe_psql('later', $objects . $graph);
$rid = $node->safe_psql('later', "SELECT sg_submit('loop', '{\"n\": 0, \"i\": 0, \"steps\": 1, \"sleep\": 0}', 'x')");
is($node->safe_psql('later', "SELECT status FROM sg_wait('$rid', '30 s')"), 'success',
	'a database that creates the extension later gets its runs executed');
$node->safe_psql('later', join('', map {
	"SELECT sg_submit('loop', '{\"n\": 0, \"i\": 0, \"steps\": 50, \"sleep\": 0.02}', 'busy$_', recursion_limit => 100);\n" } 1 .. 3));
usleep(300_000);
$node->safe_psql('later', 'DROP EXTENSION stategraph CASCADE');
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = 'later' AND backend_type = 'stategraph worker'}),
	'the workers of a database leave after DROP EXTENSION');
$node->safe_psql('later', $graph);
$node->safe_psql('later', join('', map {
	"SELECT sg_submit('loop', '{\"n\": 0, \"i\": 0, \"steps\": 50, \"sleep\": 0.02}', 'busy$_', recursion_limit => 100);\n" } 1 .. 3));
usleep(300_000);
my ($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE later');
is($ret, 0, "DROP DATABASE while its runs execute succeeds $err");
$rid = $node->safe_psql('postgres', "SELECT sg_submit('loop', '{\"n\": 0, \"i\": 0, \"steps\": 1, \"sleep\": 0}', 'after_drop')");
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$rid', '30 s')"), 'success',
	'runs of other databases go on');

# --- retention swept by the workers --------------------------------------------
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET stategraph.sweep_interval = '1s';
	SELECT pg_reload_conf();
	CREATE FUNCTION ask(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT jsonb_build_object('n', sg_interrupt('"ok?"')) $$;
	SELECT sg_create_graph('chat', '{"n": "replace"}');
	SELECT sg_add_node('chat', 'ask', 'ask(jsonb)');
	SELECT sg_add_edge('chat', '__start__', 'ask');
	SELECT sg_add_edge('chat', 'ask', '__end__');
	SELECT sg_compile('chat');
	SELECT sg_invoke('chat', '{"n": 1}', 'paused');
	SELECT sg_submit('loop', '{"n": 0, "i": 0, "steps": 1, "sleep": 0}', 'fifo1', multitask => 'enqueue', after => '1 hour');
	SELECT sg_set_retention(NULL, '1 day');
	SELECT sg_set_retention('loop', '1 day', 'keep_latest');
	UPDATE stategraph.threads SET updated_at = now() - interval '2 days' WHERE thread_id IN ('paused', 'fifo1', 'fifo2', 'as_app');
});
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM stategraph.checkpoints WHERE thread_id = 'fifo2'}),
	'the workers pruned an expired thread to its newest checkpoint (keep_latest)');
is($node->safe_psql('postgres', q{SELECT jsonb_array_length("values"->'log') FROM sg_get_state('fifo2')}),
	'10', 'which stays fully readable');
$node->safe_psql('postgres', q{
	SELECT sg_set_retention('loop', '1 day', 'delete');
	UPDATE stategraph.threads SET updated_at = now() - interval '2 days' WHERE thread_id IN ('fifo2', 'as_app');
});
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 0 FROM stategraph.threads WHERE thread_id IN ('fifo2', 'as_app')}),
	'the workers deleted expired threads');
is($node->safe_psql('postgres', q{
	SELECT string_agg(thread_id, ',' ORDER BY thread_id) FROM stategraph.threads WHERE thread_id IN ('paused', 'fifo1')}),
	'fifo1,paused', 'a thread with an active run and one with a pending interrupt are spared');

$node->stop('fast');
like(slurp_file($node->logfile), qr/database system is shut down/, 'the server shut down cleanly with its workers');
unlike(slurp_file($node->logfile), qr/terminated by signal 11|TRAP:/, 'no worker crashed by itself');
done_testing();
