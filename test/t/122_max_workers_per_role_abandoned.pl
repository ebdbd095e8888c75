# stategraph.max_workers_per_role: a run abandoned at its claim (beyond
# stategraph.max_run_recoveries) gives its role's share back at once. A
# share of one: alice's long run, then her short one, whose worker is
# refused the share. Commits then wait (a synchronous standby that never
# comes), the long run's worker is terminated, and the next claim of the
# long run abandons it (max_run_recoveries = 0), its commit waiting: the
# short run starts all the same (its worker shows it in
# pg_stat_activity). (The share stayed with the worker that abandoned the
# run until its next claim: here, until its commit was done.)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('per_role_abandoned', qq{
stategraph.max_workers = 3
stategraph.max_workers_per_role = 1
stategraph.max_run_recoveries = 0
stategraph.worker_sync_steps = on
wal_level = replica
max_wal_senders = 2
});

$node->safe_psql('postgres', extension_and_roles_sql(qw(alice)) . q{
} . role_nap_graphs_sql(alice => 'na'));
my $workers = q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'stategraph worker'};
ok(true_within($node, 30, "SELECT ($workers) = 1"), 'the database has its first worker');

my ($long, $short) = split /\n/, $node->safe_psql('postgres', q{
SET ROLE alice;
SELECT sg_submit('na', '{"secs": 60}', thread_id => 'long')
UNION ALL SELECT sg_submit('na', '{"secs": 0}', thread_id => 'short');
});
ok(true_within($node, 30, qq{SELECT count(*) = 1 FROM stategraph.runs WHERE run_id = '$long' AND status = 'running'}),
	'the long run executes');
ok(true_within($node, 30, "SELECT ($workers) = 2"), 'another worker came to help');
sleep 1;
is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$short'}), 'pending',
	'the short run waits for the share');

# from now on commits that wrote wait for a standby that never comes
$node->safe_psql('postgres', q{ALTER SYSTEM SET synchronous_standby_names = 'nobody'});
$node->reload;
ok(true_within($node, 10, q{SELECT current_setting('synchronous_standby_names') = 'nobody'}), 'commits wait');
sleep 1;
is($node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name LIKE 'stategraph run %'}), 't', "the long run's worker is terminated");
ok(true_within($node, 10, q{SELECT count(*) >= 1 FROM pg_stat_activity WHERE wait_event = 'SyncRep'}),
	'the long run is abandoned by a claim, whose commit waits');
ok(true_within($node, 10, qq{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'stategraph run $short'}),
	'the short run starts meanwhile');

$node->safe_psql('postgres', q{ALTER SYSTEM RESET synchronous_standby_names});
$node->reload;
ok(true_within($node, 30, qq{SELECT status = 'success' FROM stategraph.runs WHERE run_id = '$short'}),
	'the short run succeeds');
is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$long'}), 'error',
	'the long run was abandoned');

$node->stop;
done_testing();
