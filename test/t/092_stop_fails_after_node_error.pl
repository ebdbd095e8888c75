# A run asked to stop with 'rollback' whose last step's node fails keeps
# the node's error in its 'error' (TAP 083). But when the stop then failed
# too (its rollback's SQL raised: here the trigger of stop_graph on
# stategraph.checkpoints, while table fault has a row), the transaction
# that held the node's error rolled back, and the stop, retried after a
# backoff (TAP 079), ended the run cancelled with error NULL: the node's
# error was lost. Both executors: a background worker and CALL sg_work.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGNode;


# The run's error: status, sqlstate, node, message and detail.
sub run_error
{
	my ($node, $rid) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT concat_ws(' ', status, error->>'sqlstate', error->>'node', error->>'message', error->>'detail')
		FROM stategraph.runs WHERE run_id = '$rid'});
}

# graph 'h': as stop_graph's 'g', but its node 'second' fails (with state.fail) once it may go on
my ($worker, $plain) = worker_and_plain('stop_fails_node_error', \&stop_graph, wait_then_fail_graph('h'));

foreach my $path ('worker', 'sg_work')
{
	my $node = $path eq 'worker' ? $worker : $plain;
	my $t = "t-$path";

	$node->safe_psql('postgres', qq{SELECT sg_invoke('h', '{"n": 0, "wait": false, "fail": false}', '$t')});
	my $before = $node->safe_psql('postgres', qq{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = '$t'});
	my $rid = $node->safe_psql('postgres', qq{SELECT sg_submit('h', '{"n": 10, "wait": true, "fail": true}', '$t')});
	my ($out, $err) = ('', '');
	my $work = wait_in_last_step($node, $path, $path, \$out, \$err);
	# asked to stop with 'rollback', which fails; then its node fails
	$node->safe_psql('postgres', q{INSERT INTO fault DEFAULT VALUES});
	is($node->safe_psql('postgres', qq{SELECT sg_cancel('$rid', 'rollback')}), 't', "$path: the run is asked to stop");
	$node->safe_psql('postgres', qq{INSERT INTO go VALUES ('$t')});
	$work->finish if $work;
	ok($node->poll_query_until('postgres', qq{SELECT failures >= 1 FROM stategraph.runs WHERE run_id = '$rid'}),
		"$path: the stop failed");
	# (pending until its stop is tried again, running while it is)
	is($node->safe_psql('postgres', qq{
			SELECT concat_ws(' ', status IN ('pending', 'running'), stop_request, error->>'sqlstate', error->>'node',
				error->>'message') FROM stategraph.runs WHERE run_id = '$rid'}),
		't rollback 22000 second the tool failed', "$path: the run is to be stopped again, the node's error on it");
	like($err, qr/checkpoints are locked/, "$path: CALL sg_work tells the stop's error") if $path eq 'sg_work';

	# the stop is done once the fault is gone
	$node->safe_psql('postgres', q{DELETE FROM fault});
	if ($path eq 'sg_work')
	{
		ok($node->poll_query_until('postgres', qq{SELECT not_before <= clock_timestamp() FROM stategraph.runs WHERE run_id = '$rid'}),
			"$path: the stop's backoff passes");
		$node->safe_psql('postgres', q{CALL sg_work()});
	}
	is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$rid', '60 s')}), 'cancelled',
		"$path: the run ends as its stop says");
	is(run_error($node, $rid), 'cancelled 22000 second the tool failed It gave no answer.',
		"$path: the node's error is the run's");
	is($node->safe_psql('postgres', qq{SELECT count(*) > 0 FROM sg_runs('$t') WHERE run_id = '$rid' AND error->>'message' = 'the tool failed'}),
		't', "$path: sg_runs shows it");
	is($node->safe_psql('postgres', qq{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = '$t'}), $before,
		"$path: the thread has none of the stopped run's checkpoints");
}

$worker->stop;
$plain->stop;
done_testing();
