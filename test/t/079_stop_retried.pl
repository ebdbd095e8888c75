# A run stopped with 'rollback' (a later submit's multitask => 'rollback',
# or sg_cancel(run, 'rollback')) whose stop fails (here a trigger on
# stategraph.checkpoints that raises lock_not_available while table fault
# has a row, as a lock timeout would) is retried after a backoff. It
# failed like any error around the steps: at its third failure the run
# ended 'error' without its rollback, the thread kept its checkpoints, and
# the run submitted with 'rollback' started on top of them. Now a failure
# of a run that has a stop request does not end it: the stop is tried
# again (the backoff grows with its failures, up to a minute) until it is
# done, and the runs queued behind it wait.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('stop_retried', q{
stategraph.max_workers = 1
});
stop_graph($node);

# For each way to stop: a thread with a finished run, a run on it
# stopped with 'rollback' during its last step, whose rollback fails
# until the fault is gone.
foreach my $how ('submit', 'cancel')
{
	my $t = "t-$how";
	$node->safe_psql('postgres', qq{SELECT sg_invoke('g', '{"n": 0, "wait": false}', '$t')});
	my $before = $node->safe_psql('postgres', qq{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = '$t'});
	$node->safe_psql('postgres', q{INSERT INTO fault DEFAULT VALUES});
	my $rid = $node->safe_psql('postgres', qq{SELECT sg_submit('g', '{"n": 10, "wait": true}', '$t')});
	ok($node->poll_query_until('postgres', q{
			SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND wait_event = 'PgSleep'}),
		"$how: the run waits in its last step");
	my $next = '';
	if ($how eq 'submit')
	{
		$next = $node->safe_psql('postgres',
			qq{SELECT sg_submit('g', '{"n": 100, "wait": false}', '$t', multitask => 'rollback')});
	}
	else
	{
		$node->safe_psql('postgres', qq{SELECT sg_cancel('$rid', 'rollback')});
		$next = $node->safe_psql('postgres', qq{SELECT sg_submit('g', '{"n": 100, "wait": false}', '$t', multitask => 'enqueue')});
	}
	$node->safe_psql('postgres', qq{INSERT INTO go VALUES ('$t')});
	# failures after 0, 1, 2 and 4 s: one more than a run's SG_RUN_MAX_FAILURES (3)
	ok($node->poll_query_until('postgres', qq{
			SELECT failures >= 4 OR status NOT IN ('pending', 'running') FROM stategraph.runs WHERE run_id = '$rid'}),
		"$how: the stop failed again and again");
	is($node->safe_psql('postgres', qq{SELECT status || ' ' || stop_request FROM stategraph.runs WHERE run_id = '$rid'}),
		'pending rollback', "$how: after four failures the run is still to be stopped");
	is($node->safe_psql('postgres', qq{SELECT status || ' ' || (started_at IS NULL) FROM stategraph.runs WHERE run_id = '$next'}),
		'pending true', "$how: the next run has not started");
	cmp_ok($node->safe_psql('postgres', qq{SELECT extract(epoch FROM not_before - clock_timestamp()) FROM stategraph.runs WHERE run_id = '$rid'}),
		'>', 4, "$how: the backoff grows");
	like(slurp_file($node->logfile), qr/background run $rid failed outside its graph's steps: checkpoints are locked/,
		"$how: the log says why");
	$node->safe_psql('postgres', q{DELETE FROM fault});
	is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$next', '60 s')}), 'success',
		"$how: once the fault is gone, the next run succeeds");
	is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$rid'}), 'cancelled',
		"$how: after the stopped run's rollback");
	is($node->safe_psql('postgres', qq{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = '$t'}), 2 * $before,
		"$how: the thread has the first run's checkpoints and the last one's, none of the stopped run's");
	is($node->safe_psql('postgres', qq{SELECT "values"->>'n' FROM sg_get_state('$t')}), '102',
		"$how: the last run went on from the first one's state");
}

$node->stop;
done_testing();
