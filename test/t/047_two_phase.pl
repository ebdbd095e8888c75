# Runs submitted and stops asked in a prepared transaction (2PC). At
# PREPARE TRANSACTION the session's commit-time wakes are forgotten, and
# COMMIT PREPARED, which may run in any session of the database, knows
# nothing of them: so neither the claims' start (claim_from, worker.c) was
# lowered for the run it queued, nor the stop generation bumped for the stop
# it asked. Both were defects: the run was passed over by every claim until
# the next sweep (an hour here) while later runs went ahead, and a
# running run whose cancel committed that way took all its remaining steps
# before it was stopped at its end. COMMIT PREPARED now counts as a commit
# that may have queued any run and asked any stop.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use SGNode;

my $node = preloaded_node('two_phase', <<'CONF');
max_prepared_transactions = 4
stategraph.max_workers = 2
stategraph.sweep_interval = 3600
CONF
sleepy_loop_graph($node);

# the run's status once it is no longer pending or running, or after $secs seconds
sub status_within
{
	my ($run, $secs) = @_;
	return $node->safe_psql('postgres', "SELECT status FROM sg_wait('$run', interval '$secs s')");
}

# 1. a run submitted in a prepared transaction, later runs claimed before COMMIT PREPARED
my $prep = $node->background_psql('postgres');
my $late = $prep->query_safe(
	q{BEGIN; SELECT sg_submit('loop', '{"i": 0, "steps": 1, "sleep": 0}', thread_id => 'prepared')});
$late =~ s/\s+//g;
$prep->query_safe(q{PREPARE TRANSACTION 'p1'});
$prep->quit;
for my $i (1 .. 3)
{
	my $run = $node->safe_psql('postgres',
		qq{SELECT sg_submit('loop', '{"i": 0, "steps": 1, "sleep": 0}', thread_id => 'after$i')});
	is(status_within($run, 30), 'success', "a run submitted after the prepared one ($i) finishes");
}
$node->safe_psql('postgres', q{COMMIT PREPARED 'p1'});
is(status_within($late, 10), 'success', 'the run submitted in a prepared transaction is claimed after COMMIT PREPARED');
# and later runs do not pass it over either (it is done by now if it was claimed)
my $next = $node->safe_psql('postgres',
	q{SELECT sg_submit('loop', '{"i": 0, "steps": 1, "sleep": 0}', thread_id => 'next')});
is(status_within($next, 30), 'success', 'a run submitted after COMMIT PREPARED finishes');
is(status_within($late, 0), 'success', 'the prepared run is not left behind');

# 2. a long run cancelled in a prepared transaction: stopped at its next step boundary
my $long = $node->safe_psql('postgres',
	q{SELECT sg_submit('loop', '{"i": 0, "steps": 20, "sleep": 0.2}', thread_id => 'long')});
ok($node->poll_query_until('postgres', q{SELECT count(*) >= 3 FROM effects WHERE run = 'long'}),
	'the long run takes steps');
$prep = $node->background_psql('postgres');
is($prep->query_safe("BEGIN; SELECT sg_cancel('$long')"), 't', 'the cancel is asked in a transaction');
$prep->query_safe(q{PREPARE TRANSACTION 'p2'});
$prep->quit;
$node->safe_psql('postgres', q{COMMIT PREPARED 'p2'});
my $committed = time;
my $at_commit = $node->safe_psql('postgres', q{SELECT count(*) FROM effects WHERE run = 'long'});
my $status = status_within($long, 30);
my $took = time - $committed;
my $steps = $node->safe_psql('postgres', q{SELECT count(*) FROM effects WHERE run = 'long'});
note(sprintf('cancelled %.2f s after COMMIT PREPARED, after %d of 20 steps (%d then)', $took, $steps, $at_commit));
is($status, 'cancelled', 'the run cancelled by a prepared transaction ends cancelled');
cmp_ok($steps, '<=', $at_commit + 2, 'it stops at its next step boundary after COMMIT PREPARED, not at its end');

done_testing();
