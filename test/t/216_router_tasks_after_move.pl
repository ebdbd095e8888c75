# sg_tasks through the router after a partition moved: a finished external
# task stays on the server its thread was on (a move copies threads, not
# tasks, as it leaves runs behind), and stays listed until
# stategraph.run_retention. The router kept, of each server's tasks, only
# those of the partitions that server serves: after the move, the
# completed task of a moved thread vanished from sg_tasks while sg_runs
# still listed the runs left behind. Each server is now asked once, for
# all its tasks, as for runs. And a task-scoped call (sg_complete,
# sg_heartbeat) of such a task went by its thread to the new server, which
# said it did not exist: it now goes to the task's server.
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
routed_ext_graph($node, 'shard_c');
# a thread of partition 0 (shard_a) and one of partition 1 (shard_b), each with a task
my @threads = ext_threads($node, 'e', 0, 1);
is(r(q{SELECT count(*) FROM sg_tasks('q', 'queued')}), '2', 'two tasks queued, one on each server');
my %claim = map { $_->[2] => $_ } complete_ext_tasks($node, 2);    # thread => [task, token, thread]
is(r(q{SELECT string_agg(thread_id || ' ' || status, ',' ORDER BY thread_id) FROM sg_tasks()}),
	"$threads[0] completed,$threads[1] completed", 'both completed');
my $listed = tasks_listed($node);

# partition 0 moves to shard_c; its thread's task stays on shard_a
is(r("CALL stategraph_router.move_partition(0, '$conn{shard_c}')"), '1', 'partition 0 moved');
is(r(qq{SELECT (sg_get_state('$threads[0]'))."values"}), '{"x": 1}', 'its thread reads on the new server');
is($node->safe_psql('shard_a', 'SELECT count(*) FROM stategraph.tasks'), '1', 'its task stays on shard_a');
is(tasks_listed($node), $listed, 'sg_tasks lists both tasks after the move, once each');
is(r(q{SELECT count(*) FROM sg_tasks('q', 'completed')}), '2', 'by queue and status too');

# a worker's retry of its sg_complete (same update) after the move: the
# task's own server takes it as one server does (a no-op); the router sent
# it by the task's thread to the new server, which said the task did not
# exist (42704)
my ($task, $token) = @{ $claim{ $threads[0] } };
my ($rc, $out, $err) = $node->psql('router', qq{SELECT sg_complete('$task', '$token', '{"x": 1}')});
is($rc, 0, 'a retry of sg_complete after the move is taken as on one server') or diag($err);
($rc, $out, $err) = $node->psql('router', qq{SELECT sg_heartbeat('$task', '$token')});
is($out, 'f', 'sg_heartbeat of that task: false, as on one server') or diag($err);
($rc, $out, $err) = $node->psql('router', qq{SELECT sg_complete('$task', '$token', '{"x": 2}')});
like($err, qr/was completed already with another update/, 'another update: refused as on one server');
is(r(qq{SELECT (sg_get_state('$threads[0]'))."values"}), '{"x": 1}', 'the thread is unchanged');
($rc, $out, $err) = $node->psql('router', qq{SELECT sg_complete('no-such-task', '$token', '{"x": 1}')});
like($err, qr/task "no-such-task" does not exist/, 'an unknown task: 42704 still');

# a task of a thread that did not move still goes by its thread's partition:
# frozen, it refuses the call (25006) as any write to the partition
my ($task1, $token1) = @{ $claim{ $threads[1] } };
my $p1 = r("SELECT connstr FROM stategraph_router.partitions() WHERE partition = 1");
r(qq{ALTER SERVER stategraph OPTIONS (SET partition_1 '} . "$p1 options=''-c default_transaction_read_only=on''" . q{')});
($rc, $out, $err) = $node->psql('router', qq{SELECT sg_complete('$task1', '$token1', '{"x": 1}')});
like($err, qr/read-only transaction/, 'a task of a frozen partition: refused as a write to it');
r(qq{ALTER SERVER stategraph OPTIONS (SET partition_1 '$p1')});

done_testing();
