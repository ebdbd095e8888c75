# stategraph.worker_idle_timeout: how long an idle background worker waits
# for work before it leaves, a database's first worker excepted. Four runs
# at once start four workers; with a timeout of 1 s the three others leave
# once the runs end. Reloaded with 10 minutes, four workers started again
# stay idle (checked 12 s after their runs end: longer than the default
# 10 s, which the timeout was before it could be set), and lowered back to
# 1 s by a reload, they leave (a reload not taken up would keep them for
# minutes).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('idle_timeout', qq{
stategraph.max_workers = 4
stategraph.worker_idle_timeout = 1
});
nap_graph($node, 'nap');
my $workers = q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'stategraph worker'};

# four runs at once, each on its own thread: four workers; then their end
sub four_runs
{
	my ($round) = @_;
	my @runs = split /\n/, $node->safe_psql('postgres', qq{
SELECT sg_submit('nap', '{"secs": 2}', thread_id => '$round' || g) FROM generate_series(1, 4) g});
	ok(true_within($node, 60, "SELECT ($workers) = 4"), "$round: four workers execute the four runs");
	is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$_', interval '60 s')"), 'success',
		"$round: run $_ succeeds") for @runs;
	return;
}

four_runs('a');
ok(true_within($node, 60, "SELECT ($workers) = 1"), 'with a timeout of 1 s, the idle workers leave but the first');

$node->append_conf('postgresql.conf', "stategraph.worker_idle_timeout = '10min'\n");
$node->reload;
workers_took_reload($node, 'stategraph.worker_idle_timeout', '10min', 'the remaining worker took the reload');
four_runs('b');
sleep 12;
is($node->safe_psql('postgres', $workers), '4', 'with 10 minutes, the four workers stay idle 12 s after their runs');

$node->append_conf('postgresql.conf', "stategraph.worker_idle_timeout = 1\n");
$node->reload;
ok(true_within($node, 60, "SELECT ($workers) = 1"), 'lowered back to 1 s by a reload, the idle workers leave but the first');

$node->stop;
done_testing();
