# sg_submit's idempotency_key through the router: the key is per role and
# graph (not per thread), and a run stays on the server it was submitted
# to. The router sent a submit to its thread's server only, which did not
# know a key whose run was on another server: after the thread's partition
# moved (move_partition), a client's retry of the submit queued the run
# again on the new server, and the thread ran twice; so did a retry naming
# a thread of another server, where one server returns the first run.
# The router now sends a submit whose key has a run to that run's server.
#
# One server holds the router database and three shard databases (the
# third one a move's target).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('ridem', shards => [ 'shard_a', 'shard_b', 'shard_c' ],
	shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }

# a thread of partition 0 (shard_a) and one of partition 1 (shard_b)
my $t0 = thread_of_partition($node, 'i', 0);
my $t1 = thread_of_partition($node, 'i', 1);

my $r1 = r(qq{SELECT sg_submit('counter', '{"log": ["once"]}', '$t0', idempotency_key => 'order-1')});
is(r("SELECT status FROM sg_wait('$r1', '60 s')"), 'success', 'the run with the key is done');
is(r(qq{SELECT sg_submit('counter', '{"log": ["once"]}', '$t0', idempotency_key => 'order-1')}), $r1,
	'a retry on the same server: the same run');
is(r(qq{SELECT sg_submit('counter', '{"log": ["once"]}', '$t1', idempotency_key => 'order-1')}), $r1,
	'a retry naming a thread of another server: the same run, as on one server');
is(r("SELECT count(*) FROM sg_runs('$t1')"), '0', 'nothing queued for that thread');

# the thread's partition moves to shard_c; its run stays on shard_a
is(r("CALL stategraph_router.move_partition(0, '$conn{shard_c}')"), '1', 'partition 0 moved');
is(r(qq{SELECT sg_submit('counter', '{"log": ["once"]}', '$t0', idempotency_key => 'order-1')}), $r1,
	'a retry after the move: the same run');
is($node->safe_psql('shard_c', 'SELECT count(*) FROM stategraph.runs'), '0', 'no run queued on the new server');
is(r("SELECT count(*) FROM sg_runs('$t0')"), '1', 'one run of the thread');
is(r("SELECT values FROM sg_get_state('$t0')"), '{"log": ["once"]}', 'the thread ran once');

# a thread the router names from the key: its partition moves too
my $r2 = r(q{SELECT sg_submit('counter', '{"log": ["named"]}', idempotency_key => 'order-2')});
is(r("SELECT status FROM sg_wait('$r2', '60 s')"), 'success', 'a run in a thread the router names');
my $named = r("SELECT thread_id FROM sg_runs() WHERE run_id = '$r2'");
my $part = r("SELECT stategraph_router.partition_of('$named')");
my $target = $part == 0 ? $conn{shard_a} : $conn{shard_c};
r("CALL stategraph_router.move_partition($part, '$target')");
is(r(q{SELECT sg_submit('counter', '{"log": ["named"]}', idempotency_key => 'order-2')}), $r2,
	'its retry after the move: the same run');
is(r("SELECT values FROM sg_get_state('$named')"), '{"log": ["named"]}', 'that thread ran once');

# a new key and another role's key are not found elsewhere: a run each
my $r3 = r(qq{SELECT sg_submit('counter', '{"log": ["two"]}', '$t0', idempotency_key => 'order-3')});
isnt($r3, $r1, 'a new key: a new run');
is(r("SELECT status FROM sg_wait('$r3', '60 s')"), 'success', 'which runs');
$node->safe_psql('postgres', 'CREATE ROLE other LOGIN');
$node->safe_psql($_, 'GRANT USAGE ON SCHEMA public TO other') for keys %conn;
r('GRANT USAGE ON FOREIGN SERVER stategraph TO other');
my $r4 = $node->safe_psql('router', qq{SET ROLE other;
	SELECT sg_submit('counter', '{"log": ["x"]}', 'other-1', idempotency_key => 'order-1')});
isnt($r4, $r1, "another role's key is its own");

done_testing();
