# A run waiting out the backoff of a failure (pending after its step
# failed with a transient error, here a cancel, until its retry; one whose
# stop fails waits up to a minute) is stopped by a submit with multitask
# => 'interrupt' or 'rollback' at once, as sg_cancel stops it: the submit
# only asked it to stop, and the new run, queued behind it, waited for the
# end of its backoff.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('stop_in_backoff', q{
stategraph.max_workers = 1
});
flaky_graph($node);

foreach my $how ('interrupt', 'rollback')
{
	my $t = "t-$how";
	# a finished run, then one whose second step fails
	$node->safe_psql('postgres', qq{SELECT sg_invoke('g', '{"n": 0}', '$t')});
	my $before = $node->safe_psql('postgres', qq{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = '$t'});
	$node->safe_psql('postgres', qq{INSERT INTO fault VALUES ('$t')});
	my $rid = $node->safe_psql('postgres', qq{SELECT sg_submit('g', '{"n": 10}', '$t')});
	ok($node->poll_query_until('postgres', qq{
			SELECT status = 'pending' AND failures >= 1 FROM stategraph.runs WHERE run_id = '$rid'}),
		"$how: the run failed and waits for its retry");
	# as after a long backoff (the fault is gone, but the run waits for its retry)
	$node->safe_psql('postgres', qq{
		UPDATE stategraph.runs SET not_before = now() + interval '1 hour' WHERE run_id = '$rid' AND status = 'pending';
		DELETE FROM fault});
	is($node->safe_psql('postgres', qq{SELECT status || ' ' || (not_before > now() + interval '30 minutes') FROM stategraph.runs WHERE run_id = '$rid'}),
		'pending true', "$how: its retry is an hour ahead");

	my $next = $node->safe_psql('postgres', qq{SELECT sg_submit('g', '{"n": 100}', '$t', multitask => '$how')});
	is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$next', '20 s')}), 'success',
		"$how: the new run starts at once, and succeeds");
	is($node->safe_psql('postgres', qq{SELECT status || ' ' || stop_request FROM stategraph.runs WHERE run_id = '$rid'}),
		"cancelled $how", "$how: the run in its backoff is stopped");
	my $kept = $node->safe_psql('postgres', qq{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = '$t'});
	if ($how eq 'rollback')
	{
		is($kept, 2 * $before, "$how: the thread has the first run's checkpoints and the last one's, none of the stopped run's");
	}
	else
	{
		cmp_ok($kept, '>', 2 * $before, "$how: the thread keeps the stopped run's checkpoints too");
	}
}

$node->stop;
done_testing();
