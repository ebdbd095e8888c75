# Background runs on a server whose default_transaction_isolation is
# repeatable read (the workers' transactions too). The stop generation
# (worker.c) lets an executor skip reading its run's stop request between
# steps when no commit asked a stop since its last read, which holds only
# if that read's snapshot is taken after the generation is read: in a
# repeatable read step, the snapshot is the step's first, taken before
# its nodes ran, so a cancel committed during a step bumped the
# generation unseen, and every later boundary skipped the read: the run
# took all its remaining steps. (The same held for the start of claims,
# claim_from: a claim's snapshot older than its read of queue_gen could
# move it past a run committed in between; that window is too short to
# hit here, and case 1 only shows that claims still find runs.)
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('repeatable_read', <<'CONF');
default_transaction_isolation = 'repeatable read'
stategraph.max_workers = 2
stategraph.sweep_interval = 3600
CONF
sleepy_loop_graph($node);

# the run's status once it is no longer pending or running (sg_wait needs read committed)
sub status_within
{
	my ($run, $secs) = @_;
	return $node->safe_psql('postgres',
		"SET default_transaction_isolation = 'read committed'; SELECT status FROM sg_wait('$run', interval '$secs s')");
}

my $run = $node->safe_psql('postgres',
	q{SELECT sg_submit('loop', '{"i": 0, "steps": 20, "sleep": 0.3}', thread_id => 'long')});
is(status_within(
	$node->safe_psql('postgres', q{SELECT sg_submit('loop', '{"i": 0, "steps": 1, "sleep": 0}', thread_id => 'short')}), 30),
	'success', 'a run finishes in a repeatable read worker');
ok($node->poll_query_until('postgres', q{SELECT count(*) >= 3 FROM effects WHERE run = 'long'}),
	'the long run takes steps');
is($node->safe_psql('postgres', "SELECT sg_cancel('$run')"), 't', 'the long run is cancelled during a step');
my $at_cancel = $node->safe_psql('postgres', q{SELECT count(*) FROM effects WHERE run = 'long'});
my $status = status_within($run, 30);
my $steps = $node->safe_psql('postgres', q{SELECT count(*) FROM effects WHERE run = 'long'});
note("cancelled after $steps of 20 steps ($at_cancel when asked)");
is($status, 'cancelled', 'it ends cancelled');
cmp_ok($steps, '<=', $at_cancel + 2, 'it stops at its next step boundary, not at its end');

done_testing();
