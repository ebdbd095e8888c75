# A delayed run that comes due while its database's only worker executes
# a long run starts on time when slots are free. The delayed submit's
# commit started a second worker, which slept until the due time but left
# at its idle timeout (it is not its database's first); only a worker
# that gave its slot up asked the launcher for a worker at the due time,
# so nobody watched it and the run waited for the long one's end (34 s,
# once 100 s, late). Case 2: the first worker, idle, sees the delayed
# submit itself (no second worker starts), then claims a long run: the
# delayed run came due during it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('due_busy', qq{
stategraph.max_workers = 4
stategraph.worker_idle_timeout = 1
stategraph.sweep_interval = 3600
});
nap_graph($node, 'nap');
my $workers = q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'stategraph worker'};
ok(true_within($node, 60, "SELECT ($workers) = 1"), 'one idle worker');

# how late (s) run $rid started after it came due, once it ended
sub lateness
{
	my ($rid) = @_;
	is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$rid', interval '60 s')"), 'success',
		"run $rid succeeds");
	return $node->safe_psql('postgres',
		"SELECT extract(epoch FROM started_at - not_before)::numeric(10,1) FROM stategraph.runs WHERE run_id = '$rid'");
}

# 1: the busy run first; the delayed submit starts a second worker
my $busy = $node->safe_psql('postgres', q{SELECT sg_submit('nap', '{"secs": 15}', 'busy-1')});
ok(true_within($node, 30, q{SELECT count(*) = 1 FROM pg_stat_activity
    WHERE backend_type = 'stategraph worker' AND wait_event = 'PgSleep'}), 'the first worker executes the long run');
my $due = $node->safe_psql('postgres', q{SELECT sg_submit('nap', '{"secs": 0}', 'due-1', after => '5 s')});
my $late = lateness($due);
note("case 1: started $late s after it came due");
cmp_ok($late, '<', 4, 'case 1: the delayed run starts on time, not after the long run');
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$busy', interval '60 s')"), 'success', 'the long run succeeds');
ok(true_within($node, 60, "SELECT ($workers) = 1"), 'one idle worker again');

# 2: the delayed run first (the idle worker sees it), then the busy run
$due = $node->safe_psql('postgres', q{SELECT sg_submit('nap', '{"secs": 0}', 'due-2', after => '5 s')});
sleep 1;
$busy = $node->safe_psql('postgres', q{SELECT sg_submit('nap', '{"secs": 15}', 'busy-2')});
$late = lateness($due);
note("case 2: started $late s after it came due");
cmp_ok($late, '<', 4, 'case 2: the delayed run starts on time, not after the long run');
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$busy', interval '60 s')"), 'success', 'the long run succeeds');

$node->stop;
done_testing();
