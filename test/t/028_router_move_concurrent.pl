# stategraph_router.move_partition called twice at once.
#
# Before, a second move of a partition already being moved went ahead: it
# found the partition frozen, took the frozen server for the partition's
# own, waited for the first move's copy and then copied the partition's
# threads to its own target, deleting the first move's copies as "partial
# copies of an earlier move" meanwhile. Whichever switched last won: the
# writes made on the first target after its switch were lost with that
# switch, and the loser's copies stayed behind, listed nowhere. Moves now
# run one at a time per router database: a second one is refused at once
# with 55P03, changing nothing, and the session of a move that stopped
# keeps the lock until it calls again (and goes on) or ends.
#
# One server holds the router database and four shard databases (PL/Proxy
# reaches each by its connection string, as it would another server).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGRouter;

my ($node, %conn) = router_node('moveconc', shards => [ 'shard_a', 'shard_b', 'shard_c', 'shard_d' ],
	shard_sql => q{CREATE FUNCTION noop(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;});
my ($host, $port) = ($node->host, $node->port);
sub r { return $node->safe_psql('router', $_[0]); }
# the threads of partition p (of 4) on a shard database
sub part_on
{
	return $node->safe_psql($_[0],
		"SELECT count(*) FROM stategraph.threads WHERE (hashtext(thread_id) & 3) = $_[1]");
}
for my $db ('shard_a', 'shard_b', 'shard_c', 'shard_d')
{
	$node->safe_psql($db, q{SELECT sg_create_graph('counter', '{"log": "append"}');
		SELECT sg_add_node('counter', 'noop', 'noop(jsonb)');
		SELECT sg_add_edge('counter', '__start__', 'noop');
		SELECT sg_add_edge('counter', 'noop', '__end__');
		SELECT sg_compile('counter');});
}
r(q{SELECT count(sg_invoke('counter', '{"log": [1]}', 'm-' || i)) FROM generate_series(1, 40) i});
my $n0 = part_on('shard_a', 0);
ok($n0 > 0, "partition 0 holds $n0 threads on shard_a");

# a transaction of the router open before the first move holds it at its
# first wait (calls that began before the freeze end first)
my $blocker = $node->background_psql('router');
$blocker->query_safe('BEGIN; SELECT 1');
my ($out1, $err1) = ('', '');
my $first = IPC::Run::start(
	[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('router'),
	  '-c', "CALL stategraph_router.move_partition(0, '$conn{shard_c}')" ],
	'>', \$out1, '2>', \$err1);
ok($node->poll_query_until('router', q{SELECT connstr LIKE '%read_only=on''' FROM stategraph_router.partitions() WHERE partition = 0}),
	'the first move froze partition 0');

# the second move, to another server, is refused at once and changes nothing
my ($ret, $out2, $err2) = $node->psql('router',
	"SET statement_timeout = '20s'; CALL stategraph_router.move_partition(0, '$conn{shard_d}')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err2, qr/55P03: .*move_partition is running/, 'a second move while one runs: 55P03 at once');
is(r(q{SELECT count(*) FROM stategraph_router.pending_copies WHERE connstr LIKE '%shard_d'}), '0',
	'it noted no copy to its target');
# so is a move of another partition (moves wait for each other's calls)
($ret, $out2, $err2) = $node->psql('router',
	"SET statement_timeout = '20s'; CALL stategraph_router.move_partition(1, '$conn{shard_d}')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err2, qr/55P03: .*move_partition is running/, 'and one of another partition');

$blocker->query_safe('COMMIT');
$blocker->quit;
$first->finish;
is($err1, '', 'the first move ends without error');
like(r('SELECT connstr FROM stategraph_router.partitions() WHERE partition = 0'), qr/dbname=shard_c$/,
	'partition 0 is on shard_c');
is(part_on('shard_c', 0) . '|' . part_on('shard_a', 0) . '|' . part_on('shard_d', 0), "$n0|0|0",
	'its threads are on shard_c only: none left on shard_a, none copied to shard_d');
is(r(q{SELECT count(*) FROM sg_threads()}), '40', 'every thread through the router');

# the second move, called again once the first is over, goes ahead
r("CALL stategraph_router.move_partition(0, '$conn{shard_d}')");
is(part_on('shard_d', 0) . '|' . part_on('shard_c', 0), "$n0|0", 'then partition 0 moves on to shard_d');

# a move that stops keeps the lock for its session: another session is
# refused, naming it; the same session goes on with another call
my $admin = $node->background_psql('router', on_error_stop => 0);
my $pid = $admin->query_safe('SELECT pg_backend_pid()');
# (a server that does not answer; later queries of $admin read its stderr again: query, not query_safe)
$admin->query("CALL stategraph_router.move_partition(2, 'host=$host port=$port dbname=no_such_db')");
($ret, $out2, $err2) = $node->psql('router', "CALL stategraph_router.move_partition(2, '$conn{shard_c}')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err2, qr/55P03: .*process $pid/, 'a move that stopped keeps the lock, for its session');
$admin->query("CALL stategraph_router.move_partition(2, '$conn{shard_c}')");
my $n2 = part_on('shard_c', 2);
ok($n2 > 0 && part_on('shard_a', 2) eq '0', "that session moves partition 2 ($n2 threads) with its next call");
r("CALL stategraph_router.move_partition(3, '$conn{shard_c}')");
ok(part_on('shard_c', 3) > 0, 'which released the lock: another session moves partition 3');
$admin->quit;
is(r(q{SELECT count(*) FROM sg_threads()}), '40', 'every thread through the router, once');

# and back: partition 0 returns to shard_a (which still serves partition 2),
# written to on the way, then to shard_d again
my $t0 = r(q{SELECT min(thread_id) FROM sg_threads() WHERE stategraph_router.partition_of(thread_id) = 0});
r("SELECT sg_invoke('counter', '{\"log\": [2]}', '$t0')");
r("CALL stategraph_router.move_partition(0, '$conn{shard_a}')");
r("SELECT sg_invoke('counter', '{\"log\": [3]}', '$t0')");
is(part_on('shard_a', 0) . '|' . part_on('shard_d', 0), "$n0|0", 'partition 0 moves back to shard_a');
r("CALL stategraph_router.move_partition(0, '$conn{shard_d}')");
is(part_on('shard_d', 0) . '|' . part_on('shard_a', 0), "$n0|0", 'and to shard_d again');
is(r("SELECT (sg_get_state('$t0'))." . '"values"' . "->>'log'"), '[1, 2, 3]', "thread $t0 kept every write of its trips");
is(r(q{SELECT count(*) FROM sg_threads()}), '40', 'every thread through the router, once');

done_testing();
