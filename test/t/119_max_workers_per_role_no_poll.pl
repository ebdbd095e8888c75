# stategraph.max_workers_per_role: the idle workers do not poll while a
# role's runs wait for its share. A share of one: alice's run of 30 s,
# then 3,000 more of hers queued behind it (each on its own thread). The
# workers refused her share sleep, and no worker claims (nor uses CPU)
# until her run ends; then her runs are taken one after the other, the
# first at once. (The idle workers read the queue again each second, and
# each such claim read the 3,000 runs refused a share: about 5% of a core
# with 12,000 of them and four workers.)
# stategraph.worker_idle_timeout keeps the idle workers through the
# measure: leaving after the default 10 s, one changed what was measured
# when a loaded machine made the measure end late.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $queued = 3000;
my $node = preloaded_node('per_role_no_poll', qq{
stategraph.max_workers = 4
stategraph.max_workers_per_role = 1
stategraph.worker_idle_timeout = '10min'
});

$node->safe_psql('postgres', extension_and_roles_sql(qw(alice)) . q{
} . role_nap_graphs_sql(alice => 'na'));

# (30 s: it must outlast the 3,000 submits, 2 s, the 6 s measure and the
# checks after it; with 12 s a loaded machine's slower submits let it end
# first, and her runs were no longer all waiting)
my $long = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('na', '{"secs": 30}', thread_id => 'long')});
ok(true_within($node, 30, q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %'}),
	"alice's long run executes");
$node->safe_psql('postgres', qq{
SET ROLE alice;
SELECT count(sg_submit('na', '{"secs": 0}', thread_id => 'q' || g)) FROM generate_series(1, $queued) g;
});
# the workers woken by the submit are refused her share, and sleep
sleep 2;
my $workers = q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'stategraph worker' ORDER BY pid};
my @pids = split /\n/, $node->safe_psql('postgres', $workers);
my $idle = q{SELECT string_agg(pid || ' ' || state_change, ',' ORDER BY pid) FROM pg_stat_activity
             WHERE backend_type = 'stategraph worker' AND application_name = 'stategraph worker'};
my $before = $node->safe_psql('postgres', $idle);
isnt($before, '', 'a worker is idle');
my $ticks = 0;
$ticks -= cpu_ticks($_) for @pids;
sleep 6;
$ticks += cpu_ticks($_) for @pids;
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs WHERE status = 'pending'}), $queued,
	"alice's runs wait for her share");
is($node->safe_psql('postgres', $idle), $before,
	'the idle workers did not look for work again while her runs waited (no poll every second)');
cmp_ok($ticks, '<=', 3, "the workers used no CPU in 6 s ($ticks ticks)");

is($node->safe_psql('postgres', qq{SET ROLE alice; SELECT status FROM sg_wait('$long', interval '60 s')}),
	'success', "alice's long run succeeds");
ok(true_within($node, 5, q{SELECT count(*) > 0 FROM stategraph.runs WHERE thread_id = 'q1' AND started_at IS NOT NULL}),
	'her first queued run starts at once');
ok(true_within($node, 180, qq{SELECT count(*) = $queued FROM stategraph.runs WHERE status = 'success' AND thread_id LIKE 'q%'}),
	'and all of them succeed');

$node->stop;
done_testing();
