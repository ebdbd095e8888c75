# Idempotency keys and finished runs of a server that left the cluster:
# every partition it served was moved to other servers (move_partition),
# so it is no partition of PL/Proxy cluster "stategraph" any more, and the
# router, which reaches servers only through partitions, no longer asks
# it. A run stays on the server it was submitted to (a move copies
# threads, not runs), so its key was not found by a retry after that,
# which queued the run again on the thread's new server (the thread ran
# twice), and sg_wait no longer knew the run. The move of a server's last
# partition now gives that server's finished runs to the server the
# partition goes to (stategraph.adopt_runs; TAP 272 has more): the retry
# gets the first run back, and the thread runs once.
#
# While the server still serves one partition, the key is found (TAP 215).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('rkleft', shards => [ 'shard_a', 'shard_b', 'shard_c' ],
	shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }

# a thread of partition 1 (shard_b, with partition 3)
my $t1 = thread_of_partition($node, 'l', 1);
my $r1 = r(qq{SELECT sg_submit('counter', '{"log": ["once"]}', '$t1', idempotency_key => 'bill-1')});
is(r("SELECT status FROM sg_wait('$r1', '60 s')"), 'success', 'the run of the key is done, on shard_b');

# partition 3 moves: shard_b still serves partition 1 and is asked
is(r("CALL stategraph_router.move_partition(3, '$conn{shard_c}')"), '0', 'partition 3 moved to shard_c');
is(r(qq{SELECT sg_submit('counter', '{"log": ["once"]}', '$t1', idempotency_key => 'bill-1')}), $r1,
	'shard_b serves a partition still: a retry gets the run');

# partition 1 moves too: shard_b serves none, and has left the cluster
is(r("CALL stategraph_router.move_partition(1, '$conn{shard_c}')"), '1', 'partition 1 moved to shard_c');
is(partitions_served($node, 'shard_b'), '0', 'shard_b is no partition of the cluster');
is($node->safe_psql('shard_c', "SELECT idempotency_key FROM stategraph.runs WHERE run_id = '$r1'"), 'bill-1',
	'the finished run and its key went to shard_c');
is(r("SELECT status FROM sg_wait('$r1', '1 s')"), 'success', 'sg_wait through the router finds it on shard_c');
is(r(qq{SELECT sg_submit('counter', '{"log": ["once"]}', '$t1', idempotency_key => 'bill-1')}), $r1,
	'a retry after shard_b left: the same run');
is(r("SELECT count(*) FROM sg_runs('$t1')"), '1', 'one run of the thread');
is(r("SELECT values FROM sg_get_state('$t1')"), '{"log": ["once"]}', 'the thread ran once');

done_testing();
