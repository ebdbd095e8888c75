# A run asked to stop with 'rollback' whose last step's node failed keeps
# the node's error on the run until its stop is done (TAP 092, 124). When
# the stop failed (its rollback's SQL raised: the trigger of stop_graph,
# while table fault has a row), the run is pending again, to be stopped,
# the node's error on it; sg_delete_thread of its thread then cancels it
# (cancel_stepped_runs) and wrote its own error ('thread "..." was
# deleted') over the node's, which, the thread gone, was nowhere else.
# It keeps the node's error now. CALL sg_work executes the run (no
# background worker), so that nothing tries the stop again before the
# delete.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGNode;

my $node = plain_node('delete_keeps_stop_error');
stop_graph($node);
$node->safe_psql('postgres', wait_then_fail_graph('h'));

my $t = 'doomed';
$node->safe_psql('postgres', qq{SELECT sg_invoke('h', '{"n": 0, "wait": false, "fail": false}', '$t')});
my $rid = $node->safe_psql('postgres', qq{SELECT sg_submit('h', '{"n": 10, "wait": true, "fail": true}', '$t')});
my ($out, $err) = ('', '');
my $work = wait_in_last_step($node, 'sg_work', 'sg_work', \$out, \$err);
# asked to stop with 'rollback', which fails; then its node fails
$node->safe_psql('postgres', q{INSERT INTO fault DEFAULT VALUES});
is($node->safe_psql('postgres', qq{SELECT sg_cancel('$rid', 'rollback')}), 't', 'the run is asked to stop');
$node->safe_psql('postgres', qq{INSERT INTO go VALUES ('$t')});
$work->finish;
is($node->safe_psql('postgres', qq{
		SELECT concat_ws(' ', status, stop_request, failures, error->>'sqlstate', error->>'message')
		FROM stategraph.runs WHERE run_id = '$rid'}),
	'pending rollback 1 22000 the tool failed', "the stop failed: pending again, the node's error on it");

# the thread deleted before the stop is tried again
$node->safe_psql('postgres', q{DELETE FROM fault});
$node->safe_psql('postgres', qq{SELECT sg_delete_thread('$t')});
is($node->safe_psql('postgres', qq{
		SELECT concat_ws(' ', status, finished_at IS NOT NULL, error->>'sqlstate', error->>'node',
			error->>'message', error->>'detail')
		FROM stategraph.runs WHERE run_id = '$rid'}),
	'cancelled t 22000 second the tool failed It gave no answer.',
	"the run is cancelled with the node's error");
is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$rid', '10 s')}), 'cancelled', 'sg_wait returns it');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = '$t'}), '0',
	'the thread is deleted');

$node->stop;
done_testing();
