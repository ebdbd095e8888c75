# A run asked to stop with 'rollback' whose role was dropped before its
# stop was done (here its executor, the session of CALL sg_work, was
# terminated during a step; a stop retried after a failure waits alike)
# was ended 'error' by the next claim ("role ... does not exist") without
# its rollback: the thread kept the stopped run's checkpoints. A stop
# executes nothing of the role's, so such a run is stopped as the
# session's role (a superuser's: no other sees a dropped role's runs):
# cancelled, its rollback done.
# No preload: only CALL sg_work executes runs here.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('stop_dropped_role');
stop_graph($node);
$node->safe_psql('postgres', 'CREATE ROLE alice');

# a thread of alice's with a finished run
$node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_invoke('g', '{"n": 0, "wait": false}', 't')});
my $before = $node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 't'});

# a run of alice's on it whose executor dies in its last step, once its first committed
my $rid = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('g', '{"n": 10, "wait": true}', 't')});
kill_executor_in_step($node);
is($node->safe_psql('postgres', qq{SET ROLE alice; SELECT sg_cancel('$rid', 'rollback')}), 't', 'alice asks the run to stop');
is($node->safe_psql('postgres', qq{SELECT status || ' ' || stop_request FROM stategraph.runs WHERE run_id = '$rid'}),
	'running rollback', 'the run is to be stopped');

# alice is dropped (her threads and runs left, as a superuser may)
$node->safe_psql('postgres', q{DROP ROLE alice});
$node->safe_psql('postgres', q{CALL sg_work()});
is($node->safe_psql('postgres', qq{SELECT status || ' ' || coalesce(error->>'message', '-') FROM stategraph.runs WHERE run_id = '$rid'}),
	'cancelled -', 'the stopped run is cancelled, not ended with an error');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 't'}), $before,
	"the thread has none of the stopped run's checkpoints");
is($node->safe_psql('postgres', q{SELECT "values"->>'n' FROM sg_get_state('t')}), '2',
	"its state is the finished run's");

$node->stop;
done_testing();
