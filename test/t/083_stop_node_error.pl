# A run asked to stop (sg_cancel, or a submit with multitask =>
# 'interrupt' or 'rollback') whose last step's node fails ends as its stop
# says (cancelled, rolled back for a 'rollback'), and the node's error is
# its 'error', as an 'error' run has it. It ended with error NULL: the
# node's failure went only to the server log (a WARNING), and a rollback
# removed it from the thread too. Both executors: a background worker
# and CALL sg_work.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGNode;

my $graph = q{
    CREATE EXTENSION stategraph;
    CREATE TABLE go (thread text);
    CREATE FUNCTION ok_step(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT jsonb_build_object('n', (state->>'n')::int + 1) $$;
};

# The run's error: status, sqlstate, node and message.
sub run_error
{
	my ($node, $rid) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT concat_ws(' ', status, error->>'sqlstate', error->>'node', error->>'message', error->>'detail')
		FROM stategraph.runs WHERE run_id = '$rid'});
}

# The keys of the run's error.
sub error_keys
{
	my ($node, $rid) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT string_agg(k, ',' ORDER BY k) FROM stategraph.runs, jsonb_object_keys(error) k WHERE run_id = '$rid'});
}

my ($worker, $plain) = worker_and_plain('stop_node_error', $graph, wait_then_fail_graph('g'));

foreach my $path ('worker', 'sg_work')
{
	my $node = $path eq 'worker' ? $worker : $plain;

	# a run that fails without a stop: what an 'error' run records
	my $failed = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 0, "wait": false, "fail": true}', 'plain')});
	$node->safe_psql('postgres', q{CALL sg_work()}) if $path eq 'sg_work';
	is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$failed', '30 s')}), 'error',
		"$path: a run whose node fails ends 'error'");
	is(run_error($node, $failed), 'error 22000 second the tool failed It gave no answer.',
		"$path: with the node's error");

	foreach my $how ('interrupt', 'rollback')
	{
		my $t = "t-$how";
		$node->safe_psql('postgres', qq{SELECT sg_invoke('g', '{"n": 0, "wait": false, "fail": false}', '$t')});
		my $before = $node->safe_psql('postgres', qq{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = '$t'});
		my $rid = $node->safe_psql('postgres', qq{SELECT sg_submit('g', '{"n": 10, "wait": true, "fail": true}', '$t')});
		my ($out, $err) = ('', '');
		my $work = wait_in_last_step($node, $path, "$path $how", \$out, \$err);
		# asked to stop, then its node fails
		is($node->safe_psql('postgres', qq{SELECT sg_cancel('$rid', '$how')}), 't', "$path $how: the run is asked to stop");
		$node->safe_psql('postgres', qq{INSERT INTO go VALUES ('$t')});
		$work->finish if $work;
		is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$rid', '30 s')}), 'cancelled',
			"$path $how: the run ends as its stop says");
		is(run_error($node, $rid), 'cancelled 22000 second the tool failed It gave no answer.',
			"$path $how: the node's error is the run's");
		is(error_keys($node, $rid), error_keys($node, $failed), "$path $how: as an 'error' run has it");
		is($node->safe_psql('postgres', qq{SELECT count(*) > 0 FROM sg_runs('$t') WHERE run_id = '$rid' AND error->>'message' = 'the tool failed'}),
			't', "$path $how: sg_runs shows it");
		my $now = $node->safe_psql('postgres', qq{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = '$t'});
		if ($how eq 'rollback')
		{
			is($now, $before, "$path $how: the thread has none of the stopped run's checkpoints");
		}
		else
		{
			cmp_ok($now, '>', $before, "$path $how: the thread keeps the stopped run's checkpoints");
		}
	}
}

$worker->stop;
$plain->stop;
done_testing();
