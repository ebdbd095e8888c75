# stategraph.max_workers_per_role without a poll: a run waiting for its
# role's share starts as soon as the share frees, whatever frees it and
# whichever worker was refused it. A share of one, alice's long run and
# then her short one, queued by one transaction: the worker that takes
# the long run asks another to help, which is refused the share and
# sleeps. Then:
#  - that refused worker leaves (idle for 10 s) before the long run ends:
#    no worker is left to wake, and the worker that ends it claims again
#    at once (its claim saw the short run queued after the long one, and
#    a claim was refused the share it held), and takes the short run.
#  - the long run ends while commits wait (a synchronous standby that
#    never comes): its worker gives the share back before its last
#    commit, and wakes the refused one, which takes the short run.
#  - the long run is stopped (sg_cancel, at its next step): the short
#    one starts at once.
#  - the long run's worker is terminated (SIGTERM): the share is given
#    back as it exits, and the refused worker (woken) or the one started
#    in its place abandons the long run (stategraph.max_run_recoveries = 0)
#    and takes the short one.
#  - the long run's worker is killed (SIGKILL): the server restarts, and
#    the new workers abandon the long run and take the short one.
# The long run of the first two is held in its step (advisory lock 1, which
# the test holds) until the test lets it end: a run of 13 s, and of 6 s,
# left the test a few seconds to see it still running, too few on a loaded
# machine. "At once" is measured by the server's clock, from the
# statement that frees the share (or the end of the long run) to the short
# run's start, so that a slow test process does not count; an idle
# refused worker looks again within 10 s (stategraph's idle timeout), so
# the bounds of 2 to 4 s still tell a wake from that.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('per_role_wake', qq{
stategraph.max_workers = 3
stategraph.max_workers_per_role = 1
stategraph.max_run_recoveries = 0
restart_after_crash = on
stategraph.worker_sync_steps = on
wal_level = replica
max_wal_senders = 2
});

$node->safe_psql('postgres', extension_and_roles_sql(qw(alice)) . q{
} . role_nap_graphs_sql(alice => 'na') . role_loop_graph_sql('alice')
  . "SET ROLE alice;\n" . held_graph_sql() . "RESET ROLE;\n");
my $gate = $node->background_psql('postgres');
my $workers = q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'stategraph worker'};
ok(true_within($node, 30, "SELECT ($workers) = 1"), 'the database has its first worker');

# alice's long run (graph na for $secs s, graph loop: $secs steps of half
# a second, or with $secs 'held' graph held, whose step waits until the
# test lets advisory lock 1 go) on thread $t-long, then her short one on
# $t-short; returns their ids
sub long_then_short
{
	my ($t, $secs, $loop) = @_;
	my $long_run = $secs eq 'held' ? q{'held', '{}'}
	  : $loop ? qq{'loop', '{"i": 0, "steps": $secs, "secs": 0.5}'} : qq{'na', '{"secs": $secs}'};
	$gate->query_safe('SELECT pg_advisory_lock(1)') if $secs eq 'held';
	my ($long, $short, $submitted) = split /\n/, $node->safe_psql('postgres', qq{
SET ROLE alice;
SELECT sg_submit($long_run, thread_id => '$t-long')::text
UNION ALL SELECT sg_submit('na', '{"secs": 0}', thread_id => '$t-short')::text
UNION ALL SELECT clock_timestamp()::text;
});
	ok(true_within($node, 30, qq{SELECT count(*) = 1 FROM stategraph.runs WHERE run_id = '$long' AND status = 'running'}),
		"$t: the long run executes");
	ok(true_within($node, 30, "SELECT ($workers) >= 2"), "$t: another worker came to help");
	# a worker that executes no run went idle since the submit (a time taken
	# in its transaction): it looked at the short run
	ok($node->poll_query_until('postgres', qq{SELECT EXISTS (SELECT FROM pg_stat_activity
    WHERE backend_type = 'stategraph worker' AND application_name NOT LIKE 'stategraph run %'
      AND state = 'idle' AND state_change > '$submitted')}), "$t: a worker looked at the short run");
	is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$short'}), 'pending',
		"$t: the short run waits for the share");
	return ($long, $short);
}

# The seconds by the server's clock from $since (a timestamptz the server
# gave) until run $id started
sub started_after
{
	my ($id, $since) = @_;
	return $node->safe_psql('postgres', qq{
SELECT extract(epoch FROM started_at - '$since'::timestamptz) FROM stategraph.runs WHERE run_id = '$id'});
}

# Whether run $id succeeded within $max seconds
sub succeeded_within
{
	my ($id, $max) = @_;
	return ok(true_within($node, $max, qq{SELECT status = 'success' FROM stategraph.runs WHERE run_id = '$id'}),
		'the short run succeeds');
}

my $executor = q{SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %'};

# the refused worker leaves first
my ($long, $short) = long_then_short('left', 'held');
ok(true_within($node, 60, "SELECT ($workers) = 1"), 'left: the refused worker leaves, idle');
is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$long'}), 'running',
	'left: before the long run ends');
$gate->query_safe('SELECT pg_advisory_unlock(1)');
is($node->safe_psql('postgres', qq{SET ROLE alice; SELECT status FROM sg_wait('$long', interval '30 s')}),
	'success', 'left: the long run succeeds');
ok(true_within($node, 10, qq{SELECT status = 'success' FROM stategraph.runs WHERE run_id = '$short'}),
	'left: the short run succeeds');
my $gap = $node->safe_psql('postgres', qq{
SELECT extract(epoch FROM s.started_at - l.finished_at) FROM stategraph.runs s, stategraph.runs l
WHERE s.run_id = '$short' AND l.run_id = '$long'});
cmp_ok($gap, '<', 2, "left: it started at once after the long run ended ($gap s)");

# the long run ends while commits wait (for a synchronous standby that never comes)
($long, $short) = long_then_short('wait', 'held');
$node->safe_psql('postgres', q{ALTER SYSTEM SET synchronous_standby_names = 'nobody'});
$node->reload;
ok(true_within($node, 10, q{SELECT current_setting('synchronous_standby_names') = 'nobody'}), 'wait: commits wait');
is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$long'}), 'running',
	'wait: before the long run ends');
$gate->query_safe('SELECT pg_advisory_unlock(1)');
ok(true_within($node, 20, q{SELECT count(*) >= 1 FROM pg_stat_activity
		WHERE wait_event = 'SyncRep' AND application_name = 'stategraph worker'}),
	"wait: the long run ended, its worker's commit waits");
ok(true_within($node, 2, qq{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'stategraph run $short'}),
	'wait: the short run starts meanwhile, at once');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET synchronous_standby_names});
$node->reload;
ok(true_within($node, 30, qq{SELECT status = 'success' FROM stategraph.runs WHERE run_id = '$short'}),
	'wait: the short run succeeds');
$gate->quit;

# the long run is stopped
($long, $short) = long_then_short('stop', 120, 1);
my $t0 = $node->safe_psql('postgres', qq{SET ROLE alice; SELECT clock_timestamp() FROM sg_cancel('$long')});
succeeded_within($short, 10);
cmp_ok(started_after($short, $t0), '<', 3, 'stop: the short run started at once');

# the long run's worker is terminated
($long, $short) = long_then_short('term', 60);
my $terminated;
($terminated, $t0) = split /\|/, $node->safe_psql('postgres', "SELECT pg_terminate_backend(($executor)), clock_timestamp()");
is($terminated, 't', 'term: its worker is terminated');
succeeded_within($short, 10);
cmp_ok(started_after($short, $t0), '<', 4, 'term: the short run started at once');
is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$long'}), 'error',
	'term: the long run was abandoned');

# the long run's worker is killed
($long, $short) = long_then_short('kill', 60);
my $pid;
($pid, $t0) = split /\|/, $node->safe_psql('postgres', "SELECT ($executor), clock_timestamp()");
kill 'KILL', $pid;
$node->poll_query_until('postgres', 'SELECT 1', '1');
succeeded_within($short, 30);
cmp_ok(started_after($short, $t0), '<', 15, 'kill: the short run started once the server restarted');
is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$long'}), 'error',
	'kill: the long run was abandoned');

$node->stop;
done_testing();
