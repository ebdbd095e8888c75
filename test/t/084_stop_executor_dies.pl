# A run asked to stop whose stop ends its executor every time (here a
# trigger on stategraph.checkpoints that terminates its own backend while
# table doom has a row: a rollback that runs out of memory or crashes
# the server would do the same) was taken up for ever: a stop took no
# step, so the claims of a run left running past
# stategraph.max_run_recoveries stopped it again, and one of a run pending
# (after a failure of its stop) was rolled back with its executor, counting
# nothing. Now a stop's claim commits before the stop (its executor's
# death counts a recovery), and a stop is tried once more after the
# recoveries are used up (they may have been its steps'): if its executor
# dies then too, the run ends 'error' (SG014) without its stop, and the
# runs queued behind it go on.
# CALL sg_work executes the runs of the first two cases (no preload), a
# background worker those of the last one.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGNode;

my $doom = q{
    CREATE TABLE doom ();
    -- counts the stops tried (a sequence is not rolled back with the backend that dies)
    CREATE SEQUENCE stop_tries;
    CREATE FUNCTION doom_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT FROM doom) THEN
            PERFORM nextval('stop_tries');
            PERFORM pg_terminate_backend(pg_backend_pid());
            PERFORM pg_sleep(10);
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER doom_delete BEFORE DELETE ON stategraph.checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION doom_delete();
};
my $node = plain_node('stop_executor_dies', qq{stategraph.max_run_recoveries = 1\n});
stop_graph($node);
$node->safe_psql('postgres', $doom);

# CALL sg_work() until the run has ended (at most $max times); the calls made.
sub work_until_ended
{
	my ($rid, $max) = @_;
	for my $i (1 .. $max)
	{
		$node->psql('postgres', 'CALL sg_work()', on_error_stop => 0);
		return $i if $node->safe_psql('postgres', qq{
			SELECT status NOT IN ('pending', 'running') FROM stategraph.runs WHERE run_id = '$rid'}) eq 't';
	}
	return $max + 1;
}

# Two ways a stop is taken up: a run left running by its executor, one pending after its stop failed.
foreach my $how ('running', 'pending')
{
	my $t = "t-$how";
	$node->safe_psql('postgres', qq{SELECT sg_invoke('g', '{"n": 0, "wait": false}', '$t')});
	my $before = $node->safe_psql('postgres', qq{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = '$t'});
	$node->safe_psql('postgres', q{SELECT setval('stop_tries', 1, false)});
	my $rid = $node->safe_psql('postgres', qq{SELECT sg_submit('g', '{"n": 10, "wait": true}', '$t')});
	my ($out, $err) = ('', '');
	my $work = IPC::Run::start(
		[ 'psql', '-X', '-Atq', '-d', $node->connstr('postgres') . ' application_name=stopper', '-c', 'CALL sg_work()' ],
		'>', \$out, '2>', \$err);
	ok($node->poll_query_until('postgres', q{
			SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE application_name = 'stopper'}),
		"$how: the run sleeps in its last step");
	if ($how eq 'running')
	{
		# the rollback ends its executor
		$node->safe_psql('postgres', qq{INSERT INTO doom DEFAULT VALUES; SELECT sg_cancel('$rid', 'rollback'); INSERT INTO go VALUES ('$t')});
		$work->finish;
		like($err, qr/terminating connection/, "$how: the stop ends its executor");
		is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$rid'}), 'running',
			"$how: the run is left running");
	}
	else
	{
		# the rollback fails: the run is pending, to be stopped; then it ends its executor
		$node->safe_psql('postgres', qq{INSERT INTO fault DEFAULT VALUES; SELECT sg_cancel('$rid', 'rollback'); INSERT INTO go VALUES ('$t')});
		$work->finish;
		$node->safe_psql('postgres', qq{DELETE FROM fault; INSERT INTO doom DEFAULT VALUES;
			UPDATE stategraph.runs SET not_before = now() WHERE run_id = '$rid'});
		is($node->safe_psql('postgres', qq{SELECT status || ' ' || stop_request FROM stategraph.runs WHERE run_id = '$rid'}),
			'pending rollback', "$how: the run is pending, to be stopped");
	}
	my $next = $node->safe_psql('postgres', qq{SELECT sg_submit('g', '{"n": 100, "wait": false}', '$t', multitask => 'enqueue')});

	my $calls = work_until_ended($rid, 8);
	cmp_ok($calls, '<=', 4, "$how: the run ends");
	is($node->safe_psql('postgres', qq{SELECT concat_ws(' ', status, error->>'sqlstate', error->>'detail') FROM stategraph.runs WHERE run_id = '$rid'}),
		"error SG014 The run was asked to stop with 'rollback'; its stop was not done.",
		"$how: it ends 'error' (SG014), and says its stop was not done");
	is($node->safe_psql('postgres', q{SELECT last_value FROM stop_tries}), '3',
		"$how: its stop was tried max_run_recoveries (1) + 2 times, not again and again");
	$node->safe_psql('postgres', q{DELETE FROM doom});
	$node->safe_psql('postgres', q{CALL sg_work()});
	is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$next'}), 'success',
		"$how: the run queued behind it goes on");
	cmp_ok($node->safe_psql('postgres', qq{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = '$t'}), '>', 2 * $before,
		"$how: the thread keeps the stopped run's checkpoints");
}

$node->stop;

# A background worker: the rollback ends it (the launcher starts another)
my $wnode = preloaded_node('stop_executor_dies_worker', q{
stategraph.max_workers = 1
stategraph.max_run_recoveries = 1
});
stop_graph($wnode);
$wnode->safe_psql('postgres', $doom);
$wnode->safe_psql('postgres', q{SELECT sg_invoke('g', '{"n": 0, "wait": false}', 'w')});
my $before = $wnode->safe_psql('postgres', q{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 'w'});
my $rid = $wnode->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 10, "wait": true}', 'w')});
ok($wnode->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND wait_event = 'PgSleep'}),
	'worker: the run sleeps in its last step');
my $next = $wnode->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 100, "wait": false}', 'w', multitask => 'rollback')});
$wnode->safe_psql('postgres', q{INSERT INTO doom DEFAULT VALUES; INSERT INTO go VALUES ('w')});
ok($wnode->poll_query_until('postgres', qq{SELECT status NOT IN ('pending', 'running') FROM stategraph.runs WHERE run_id = '$rid'}),
	'worker: the run ends');
is($wnode->safe_psql('postgres', qq{SELECT concat_ws(' ', status, error->>'sqlstate', error->>'detail') FROM stategraph.runs WHERE run_id = '$rid'}),
	"error SG014 The run was asked to stop with 'rollback'; its stop was not done.",
	"worker: it ends 'error' (SG014), and says its stop was not done");
is($wnode->safe_psql('postgres', q{SELECT last_value FROM stop_tries}), '3',
	'worker: its stop was tried max_run_recoveries (1) + 2 times');
# (the worker logs it after its commit, which the poll above may see first: waited for)
ok(eval { $wnode->wait_for_log(qr/background run $rid abandoned: its worker ended 3 times while executing it\n.*DETAIL:  Its stop \('rollback'\) was not done/); 1 },
	'worker: the log says so');
is($wnode->safe_psql('postgres', qq{SELECT status FROM sg_wait('$next', '30 s')}), 'success',
	'worker: the run submitted with rollback goes on');
$wnode->stop;
done_testing();
