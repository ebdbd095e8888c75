# A server that leaves the cluster (move_partition moved the last
# partition it served) keeps its finished runs, and with them their
# idempotency keys, where the router no longer asks: a retried sg_submit
# with a key queued its run again on the thread's new server, and the
# thread ran twice (TAP 237 stated that). The move of a server's last
# partition now gives its finished runs to the server the partition goes
# to (stategraph.adopt_runs), so that keys, sg_wait and sg_runs still find
# them there, once each; owners kept, and the new server's background
# workers are not held off by the rows (as a restore's rows would hold
# them, restore.c).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('rkfollow', shards => [ 'shard_a', 'shard_b', 'shard_c' ],
	shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }

$node->safe_psql('postgres', 'CREATE ROLE clerk LOGIN');
$node->safe_psql('router', 'GRANT USAGE ON FOREIGN SERVER stategraph TO clerk');
$node->safe_psql($_, 'GRANT USAGE ON SCHEMA public TO clerk; GRANT EXECUTE ON FUNCTION noop(jsonb) TO clerk')
	for keys %conn;
sub as_clerk { return $node->safe_psql('router', "SET ROLE clerk; $_[0]"); }

# threads of partitions 1 and 3, both on shard_b
my $t1 = thread_of_partition($node, 'f', 1);
my $t3 = thread_of_partition($node, 'f', 3);
my $tc = thread_of_partition($node, 'c', 1);
my $k1 = r(qq{SELECT sg_submit('counter', '{"log": ["once"]}', '$t1', idempotency_key => 'bill-1')});
my $k3 = r(qq{SELECT sg_submit('counter', '{"log": ["three"]}', '$t3', idempotency_key => 'bill-3')});
my $plain = r(qq{SELECT sg_submit('counter', '{"log": ["plain"]}', '$t1', multitask => 'enqueue')});
my $ck = as_clerk(qq{SELECT sg_submit('counter', '{"log": ["clerk"]}', '$tc', idempotency_key => 'bill-1')});
is(r("SELECT status FROM sg_wait('$_', '60 s')"), 'success', "run $_ done") for ($k1, $k3, $plain);
is(as_clerk("SELECT status FROM sg_wait('$ck', '60 s')"), 'success', "clerk's run done");
my $before = r("SELECT string_agg(run_id || ' ' || thread_id || ' ' || status, ', ' ORDER BY run_id) FROM sg_runs()");

# partition 3 moves: shard_b still serves partition 1, nothing of its runs moves
is(r("CALL stategraph_router.move_partition(3, '$conn{shard_c}')"), '1', 'partition 3 moved to shard_c');
is($node->safe_psql('shard_c', 'SELECT count(*) FROM stategraph.runs'), '0',
	'a server that stays in the cluster keeps its runs');

# partition 1 moves too: shard_b leaves the cluster, its finished runs go to shard_c
# (in a session kept open: its connections to the servers stay, as a router's do)
my $mover = $node->background_psql('router');
is($mover->query_safe("CALL stategraph_router.move_partition(1, '$conn{shard_c}')"), '2', 'partition 1 moved to shard_c');
is(partitions_served($node, 'shard_b'), '0', 'shard_b is no partition of the cluster');
is($node->safe_psql('shard_c', q{SELECT string_agg(owner || ' ' || idempotency_key, ', ' ORDER BY owner, idempotency_key)
	FROM stategraph.runs WHERE idempotency_key IS NOT NULL}),
	'clerk bill-1, postgres bill-1, postgres bill-3', 'shard_c has the keyed runs, owners kept');

is(r(qq{SELECT sg_submit('counter', '{"log": ["once"]}', '$t1', idempotency_key => 'bill-1')}), $k1,
	'a retry of a key after its server left: the same run');
is(r(qq{SELECT sg_submit('counter', '{"log": ["three"]}', '$t3', idempotency_key => 'bill-3')}), $k3,
	'and of the other key');
is(as_clerk(qq{SELECT sg_submit('counter', '{"log": ["clerk"]}', '$tc', idempotency_key => 'bill-1')}), $ck,
	"another role's key: its own run");
is(r("SELECT status FROM sg_wait('$k1', '1 s')"), 'success', 'sg_wait finds the run');
is(r("SELECT status FROM sg_wait('$plain', '1 s')"), 'success', 'and a run without a key');
is(r("SELECT string_agg(run_id || ' ' || thread_id || ' ' || status, ', ' ORDER BY run_id) FROM sg_runs()"), $before,
	'sg_runs lists the same runs as before the moves, once each');
is(r("SELECT values FROM sg_get_state('$t1')"), '{"log": ["once", "plain"]}', 'the thread ran once for the key');
is(r("SELECT values FROM sg_get_state('$t3')"), '{"log": ["three"]}', 'so did the other');

# the adopted rows do not hold shard_c's background workers off while the
# mover's connection lasts (a superuser's rows of stategraph.runs written
# other than by sg_submit are a restore's, which hold them off until its
# session ends: restore.c)
my $next = r(qq{SELECT sg_submit('counter', '{"log": ["next"]}', '$t1', multitask => 'enqueue')});
is(r("SELECT status FROM sg_wait('$next', '30 s')"), 'success', "shard_c's workers run a new run at once");
$mover->quit;

done_testing();
