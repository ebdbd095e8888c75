# What a move (stategraph_router.move_partition) waits for is bounded, and
# says what it waited on.
#
#  - A move's import or delete waits for a thread's lock on a server (here:
#    a session of the new server left in a transaction that writes the
#    thread the move imports). The move's own connections to both servers
#    have a lock_timeout (stategraph_router.lock_timeout, a minute unless
#    set): past it, the move stops with SQLSTATE 55P03 naming the server's
#    database, the partition stays frozen, and calling the move again goes
#    on once the session is gone. Before, it waited for ever, the partition
#    frozen (a move of test/t/002_router.pl once took over five minutes).
#  - The wait for the router's calls that began before a freeze or a switch
#    (stategraph_router.wait_for_calls) names, when it gives up, the
#    sessions it waited for.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('movewait', shards => [ 'shard_a', 'shard_b', 'shard_c' ],
	shard_sql => q{CREATE FUNCTION noop(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
		SELECT sg_create_graph('counter', '{"log": "append"}'), sg_add_node('counter', 'noop', 'noop(jsonb)'),
		       sg_add_edge('counter', '__start__', 'noop'), sg_add_edge('counter', 'noop', '__end__'), sg_compile('counter');});
sub r { return $node->safe_psql('router', $_[0]); }
sub on { return $node->safe_psql($_[0], $_[1]); }

r(q{SELECT count(sg_invoke('counter', '{"log": [1]}', 'm-' || i)) FROM generate_series(1, 40) i});
my $t = r(q{SELECT min(t) FROM (SELECT 'm-' || i AS t FROM generate_series(1, 40) i) s WHERE stategraph_router.partition_of(t) = 0});
my $n0 = r('SELECT count(*) FROM sg_threads() WHERE stategraph_router.partition_of(thread_id) = 0');

# a session of shard_c writes the thread the move will import, and stays in its transaction
my $blocker = $node->background_psql('shard_c');
$blocker->query_safe("BEGIN; SELECT sg_invoke('counter', '{\"log\": [9]}', '$t')");
my $start = time;
my ($rc, $out, $err) = $node->psql('router',
	"SET stategraph_router.lock_timeout = '2s'; CALL stategraph_router.move_partition(0, '$conn{shard_c}')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ], timeout => 120);
my $took = time - $start;
like($err, qr/55P03: .*\[shard_c\].*lock timeout/s, 'the move stops at its lock_timeout, naming the server (55P03)');
ok($took < 60, "after its bound, not later ($took s)");
like(r('SELECT connstr FROM stategraph_router.partitions() WHERE partition = 0'), qr/default_transaction_read_only=on/,
	'the partition stays frozen');
$blocker->query_safe('ROLLBACK');
$blocker->quit;
is(r("CALL stategraph_router.move_partition(0, '$conn{shard_c}')"), $n0, 'called again, the move goes on');
is(r('SELECT count(*) FROM sg_threads()'), '40', 'every thread, once');
is(on('shard_c', "SELECT count(*) FROM stategraph.threads WHERE (hashtext(thread_id) & 3) = 0") . '|'
	. on('shard_a', "SELECT count(*) FROM stategraph.threads WHERE (hashtext(thread_id) & 3) = 0"),
	"$n0|0", 'partition 0 is on shard_c only');

# a session of the router in a transaction: the wait for it gives up naming it
my $open = $node->background_psql('router');
$open->query_safe('BEGIN; SELECT 1');
my $pid = $open->query_safe('SELECT pg_backend_pid()');
($rc, $out, $err) = $node->psql('router', "SELECT stategraph_router.wait_for_calls(clock_timestamp(), '1 s')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ], timeout => 120);
like($err, qr/55P03: transactions of this router that began before .* are still open/, 'the wait for calls gives up (55P03)');
like($err, qr/DETAIL:  Open: $pid \(idle in transaction since [^)]*\): SELECT pg_backend_pid\(\)[ ;]*\./,
	'naming the session it waited for, its state and its last statement');
$open->query_safe('COMMIT');
$open->quit;

done_testing();
