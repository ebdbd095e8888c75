# stategraph.max_workers_per_role and runs queued behind 'waiting' runs
# (TAP 098): a claim reads past them, and on from where they end, also
# when their role has its share of the workers. A share of one: alice's
# runs wait for their external tasks on 10 threads, her long run takes
# her share, then 11,000 more of hers are queued behind the waiting ones,
# and bob's run after them. (A claim asked for her share before it knew
# that those runs were queued behind waiting ones: refused, they were in
# the way, the claim read 10,000 of them and stopped, and bob's run
# waited for as long as her long run went on.)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $threads = 10;
my $batches = 11;				# of 100 runs per thread: 11,000 runs queued behind waiting runs
my $blocked = $threads * $batches * 100;

my $node = preloaded_node('per_role_waiting_backlog', q{
stategraph.max_workers = 2
stategraph.max_workers_per_role = 1
});
$node->safe_psql('postgres', extension_and_roles_sql(qw(alice bob)) . q{
} . role_nap_graphs_sql(alice => 'na') . q{SET ROLE alice;} . ext_graph_sql() . q{RESET ROLE; SET ROLE bob;}
	. note_graph_sql() . q{RESET ROLE;});

$node->safe_psql('postgres', qq{SET ROLE alice; SELECT sg_submit('ext', '{}', 'w' || i) FROM generate_series(1, $threads) i});
ok(true_within($node, 30, qq{SELECT count(*) = $threads FROM stategraph.runs WHERE status = 'waiting'}),
	"$threads runs of alice wait for their tasks");
my $long = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('na', '{"secs": 120}', thread_id => 'long')});
ok(true_within($node, 30, qq{SELECT status = 'running' FROM stategraph.runs WHERE run_id = '$long'}),
	"alice's long run takes her share");
for (1 .. $batches)
{
	$node->safe_psql('postgres', qq{
		SET ROLE alice;
		SELECT count(sg_submit('ext', '{}', 'w' || i, multitask => 'enqueue'))
		FROM generate_series(1, $threads) i, generate_series(1, 100) j});
}
my $rid = $node->safe_psql('postgres', q{SET ROLE bob; SELECT sg_submit('g', '{}', 'free')});
ok(true_within($node, 20, qq{SELECT status = 'success' FROM stategraph.runs WHERE run_id = '$rid'}),
	"bob's run is taken past $blocked runs of alice queued behind waiting ones, while she has her share");
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs WHERE status = 'pending'}), $blocked,
	'those are still pending');
is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$long'}), 'running',
	"alice's long run still executes");

$node->stop;
done_testing();
