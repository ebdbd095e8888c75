# The end of a run that a background worker executes sends claims back to
# its thread's next run (runs.c, record_step), which claims pass while the
# worker holds the thread (worker.c, worker_executes). The statement that
# ends the run runs as the run's role, under row-level security: a run of
# a member role queued on its parent role's thread ('enqueue') is one that
# the parent's run does not see. The end found no next run, claims stayed
# past the member's run, and it waited for the next sweep (an hour here).
# Part 4: a run of the parent queued behind the member's is the next run
# the parent's run sees; claims were sent to it, past the member's run,
# which is first, and both waited for the sweep.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('claim_from_hidden_next', <<'CONF');
stategraph.max_workers = 2
stategraph.sweep_interval = 3600
CONF
# (graph 'long': a first step that creates the thread, then one that waits)
go_graphs($node, 1);
$node->safe_psql('postgres', q{CREATE ROLE alice; CREATE ROLE bob IN ROLE alice});

# 1. a worker executes alice's run on her thread, past its first step
my $alices = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('long', '{}', 'a-1')});
ok($node->poll_query_until('postgres',
	qq{SELECT count(*) = 1 FROM stategraph.threads t, pg_stat_activity a
	   WHERE t.thread_id = 'a-1' AND a.application_name = 'stategraph run $alices'}),
	"a worker executes alice's run, her thread created");

# 2. bob (a member of alice) queues a run behind it; then a run of another
# thread is submitted and executed (its claim passes bob's run)
my $bobs = $node->safe_psql('postgres', q{SET ROLE bob; SELECT sg_submit('long', '{}', 'a-1', multitask => 'enqueue')});
my $other = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{}')});
ok($node->poll_query_until('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$other'}, 'success'),
	'the run of another thread submitted after it runs');
is($node->safe_psql('postgres', qq{SELECT string_agg(owner || ':' || status, ' ' ORDER BY seq) FROM stategraph.runs
	WHERE run_id IN ('$alices', '$bobs')}),
	'alice:running bob:pending', "alice's run is still running, bob's waits");

# 3. alice's run ends: bob's starts at once, not at the sweep
$node->safe_psql('postgres', q{INSERT INTO go VALUES ('a-1')});
ok($node->poll_query_until('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$alices'}, 'success'),
	"alice's run ends");
ok($node->poll_query_until('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$bobs'}, 'success'),
	"bob's run queued behind it runs then");

# 4. the same with a run of alice queued behind bob's: her run's end sees
# that one (not bob's), and sent claims to its due time, past bob's run,
# which is first; both waited for the sweep
$alices = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('long', '{}', 'a-2')});
ok($node->poll_query_until('postgres',
	qq{SELECT count(*) = 1 FROM stategraph.threads t, pg_stat_activity a
	   WHERE t.thread_id = 'a-2' AND a.application_name = 'stategraph run $alices'}),
	"a worker executes alice's run on a second thread");
$bobs = $node->safe_psql('postgres', q{SET ROLE bob; SELECT sg_submit('long', '{}', 'a-2', multitask => 'enqueue')});
my $alices2 = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('long', '{}', 'a-2', multitask => 'enqueue')});
$other = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{}')});
ok($node->poll_query_until('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$other'}, 'success'),
	'the run of another thread submitted after them runs');
$node->safe_psql('postgres', q{INSERT INTO go VALUES ('a-2')});
ok($node->poll_query_until('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$alices2'}, 'success'),
	"alice's second run, queued behind bob's, runs");
is($node->safe_psql('postgres', qq{SELECT string_agg(owner || ':' || status, ' ' ORDER BY seq) FROM stategraph.runs
	WHERE run_id IN ('$alices', '$bobs', '$alices2')}),
	'alice:success bob:success alice:success', 'the three runs of the thread ran in the order queued');

$node->stop;
done_testing();
