# sg_tasks through the router after a partition moved: a finished external
# task stays on the server its thread was on (a move copies threads, not
# tasks, as it leaves runs behind), and stays listed until
# stategraph.run_retention. The router kept, of each server's tasks, only
# those of the partitions that server serves: after the move, the
# completed task of a moved thread vanished from sg_tasks while sg_runs
# still listed the runs left behind. Each server is now asked once, for
# all its tasks, as for runs.
#
# One server holds the router database and three shard databases (the
# third one a move's target).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('rtasks', shards => [ 'shard_a', 'shard_b', 'shard_c' ],
	shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }

# graph ext on the two servers of the cluster (through the router) and on the move's target
my $ext = q{SELECT sg_create_graph('ext', '{"x": "replace"}');
	SELECT sg_add_external_node('ext', 'call', 'q');
	SELECT sg_add_edge('ext', '__start__', 'call');
	SELECT sg_add_edge('ext', 'call', '__end__');
	SELECT sg_compile('ext');};
r($ext);
$node->safe_psql('shard_c', $ext);
# a thread of partition 0 (shard_a) and one of partition 1 (shard_b), each with a task
my @threads = map {
	r(qq{SELECT 'e-' || i FROM generate_series(1, 100) i
		WHERE stategraph_router.partition_of('e-' || i) = $_ ORDER BY i LIMIT 1})
} (0, 1);
r(qq{SELECT sg_invoke('ext', '{"x": 0}', thread_id => '$_')}) for @threads;
is(r(q{SELECT count(*) FROM sg_tasks('q', 'queued')}), '2', 'two tasks queued, one on each server');
for (1 .. 2)
{
	my ($task, $token) = split / /, r(q{SELECT task_id || ' ' || token FROM sg_claim('q', 'w1')});
	r(qq{SELECT sg_complete('$task', '$token', '{"x": 1}')});
}
is(r(q{SELECT string_agg(thread_id || ' ' || status, ',' ORDER BY thread_id) FROM sg_tasks()}),
	"$threads[0] completed,$threads[1] completed", 'both completed');
my $listed = r(q{SELECT string_agg(task_id || ' ' || thread_id || ' ' || status, ',' ORDER BY task_id) FROM sg_tasks()});

# partition 0 moves to shard_c; its thread's task stays on shard_a
is(r("CALL stategraph_router.move_partition(0, '$conn{shard_c}')"), '1', 'partition 0 moved');
is(r(qq{SELECT (sg_get_state('$threads[0]'))."values"}), '{"x": 1}', 'its thread reads on the new server');
is($node->safe_psql('shard_a', 'SELECT count(*) FROM stategraph.tasks'), '1', 'its task stays on shard_a');
is(r(q{SELECT string_agg(task_id || ' ' || thread_id || ' ' || status, ',' ORDER BY task_id) FROM sg_tasks()}),
	$listed, 'sg_tasks lists both tasks after the move, once each');
is(r(q{SELECT count(*) FROM sg_tasks('q', 'completed')}), '2', 'by queue and status too');

done_testing();
