# Idempotency keys and finished runs of a server that left the cluster:
# every partition it served was moved to other servers (move_partition),
# so it is no partition of PL/Proxy cluster "stategraph" any more, and the
# router, which reaches servers only through partitions, no longer asks
# it. A run stays on the server it was submitted to (a move copies
# threads, not runs), so its key is not found by a retry after that, which
# queues the run again on the thread's new server; sg_wait and sg_runs no
# longer know the old run. This is a known limit (README, Adding a server:
# keep a server in the cluster, serving a partition, until its runs have
# expired, stategraph.run_retention). The checks state what happens now,
# so that a change of it is seen; a fix (the move carrying the server's
# keys, or the router asking servers that left) would give the first run
# back to the retry, and the thread would run once.
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
is(r("SELECT count(*) FROM stategraph_router.partitions() WHERE connstr LIKE '%dbname=shard_b%'"), '0',
	'shard_b is no partition of the cluster');
is($node->safe_psql('shard_b', "SELECT count(*) FROM stategraph.runs WHERE run_id = '$r1'"), '1',
	'the finished run (and its key) stayed on shard_b');
my ($ret, $out, $err) = $node->psql('router', "SELECT status FROM sg_wait('$r1', '1 s')");
like($err, qr/run \Q$r1\E does not exist/, 'sg_wait through the router no longer finds it');
my $again = r(qq{SELECT sg_submit('counter', '{"log": ["once"]}', '$t1', idempotency_key => 'bill-1')});
r("SELECT status FROM sg_wait('$again', '60 s')") if $again ne $r1;
# what happens now, stated so that a change of it is seen
isnt($again, $r1, 'now: the retry queued a second run on shard_c');
is(r("SELECT values FROM sg_get_state('$t1')"), '{"log": ["once", "once"]}', 'now: the thread ran twice');

done_testing();
