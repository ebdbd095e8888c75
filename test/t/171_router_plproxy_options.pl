# Cluster "stategraph" written with options PL/Proxy takes but the router
# did not read as PL/Proxy does (its cluster.c): partitions named p0, p1,
# ... (PL/Proxy's short form of partition_0, ...), and modular_mapping set
# to any integer but 0 (here '2'; the router took only '1' or 'on', which
# PL/Proxy refuses). Before:
#  - with p0, p1: calls of one thread worked, but sg_threads, sg_runs and
#    check_definitions returned no rows at all, silently;
#  - with modular_mapping '2' and three partitions: PL/Proxy routed by
#    modulus, the router listed by bit mask, and sg_threads kept 9 threads
#    of 30; a move copied and deleted other threads than those of the
#    partition.
#  - a definition (sg_create_graph, ...) while a partition is frozen by a
#    move: RUN ON ALL made it on the server through its other partitions,
#    then failed with 25006 through the frozen one's read-only string, and
#    called again failed with 42710 on every server;
#  - a router database whose encoding is not its servers' (LATIN1 over
#    UTF8): PL/Proxy routes by hashtext of the thread id in the router's
#    encoding, the servers keep the threads of their partitions by
#    hashtext in theirs, and sg_threads listed 3 of 10 threads named
#    'é1' ... 'é10', with nothing to say why; check_definitions now lists
#    such a server, and a move to or from one is refused (55000): it would
#    delete threads it never copied.
# Here, the first two at once: every thread is listed, a move of one partition
# moves exactly the threads PL/Proxy routes to it (option p2 switched),
# and every thread reads as before, on exactly one server.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('plproxy_options', shards => [ 'sa', 'sb', 'sc' ], shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }

# the router database of SGRouter, made again with PL/Proxy's other spellings
r(qq{DROP SERVER stategraph CASCADE;
	CREATE SERVER stategraph FOREIGN DATA WRAPPER plproxy OPTIONS (modular_mapping '2',
		p0 '$conn{sa}', p1 '$conn{sb}', p2 '$conn{sa}');
	CREATE USER MAPPING FOR PUBLIC SERVER stategraph;});
is(r('SELECT string_agg(partition::text, \',\') FROM stategraph_router.partitions()'), '0,1,2',
	'the router reads the partitions p0, p1, p2');
is(r('SELECT stategraph_router.modular()'), 't', "and modular_mapping '2' as modulus, as PL/Proxy does");

r(q{SELECT count(sg_invoke('counter', '{}', thread_id => 't-' || i)) FROM generate_series(1, 30) i});
is(r('SELECT count(*) FROM sg_threads()'), '30', 'sg_threads lists the 30 threads');
is(r(q{SELECT count(*) FROM sg_threads() WHERE stategraph_router.shard_of(thread_id) IS NOT NULL}), '30',
	'each has a server');
my $on = sub {
	my ($db, $part) = @_;
	return $node->safe_psql($db, "SELECT count(*) FROM stategraph.threads WHERE abs(hashtext(thread_id) % 3) = $part");
};
my $in_2 = $on->('sa', 2);
ok($in_2 > 0, "partition 2 holds $in_2 threads on sa (abs(hashtext % 3), PL/Proxy's modulus)");
is($on->('sa', 0) + $on->('sb', 1) + $in_2, 30, 'each thread is where PL/Proxy routed it');
# a definition while partition 0 is frozen (as a move freezes it): made
# once on each server (before: on sa through p2, then 25006 through p0's
# read-only string, reported as an error; again: 42710 everywhere)
r(qq{ALTER SERVER stategraph OPTIONS (SET p0 '$conn{sa} options=''-c default_transaction_read_only=on''')});
my ($rc, $out, $err) = $node->psql('router', q{SELECT sg_create_graph('during', '{"x": "replace"}');
	SELECT sg_add_node('during', 'n', 'noop(jsonb)'); SELECT sg_add_edge('during', '__start__', 'n');
	SELECT sg_add_edge('during', 'n', '__end__');
	SELECT sg_compile('during'); SELECT sg_set_retention('during', '1 day')});
is($rc, 0, 'a graph is defined while a partition is frozen') or diag($err);
is($node->safe_psql('sa', q{SELECT count(*) FROM stategraph.graphs WHERE graph = 'during' AND spec IS NOT NULL})
	. $node->safe_psql('sb', q{SELECT count(*) FROM stategraph.graphs WHERE graph = 'during' AND spec IS NOT NULL}),
	'11', 'on both servers');
r(qq{ALTER SERVER stategraph OPTIONS (SET p0 '$conn{sa}')});
is(r('SELECT count(*) FROM stategraph_router.check_definitions()'), '0', 'alike');
r(q{SELECT sg_drop_graph('during')});

my $states = q{SELECT string_agg(thread_id || ' ' || (sg_get_state(thread_id))."values"::text, ',' ORDER BY thread_id)
	FROM sg_threads()};
my $before = r($states);

is(r("CALL stategraph_router.move_partition(2, '$conn{sc}')"), $in_2, "moving partition 2 moves its $in_2 threads");
is(r('SELECT connstr FROM stategraph_router.partitions() WHERE partition = 2'), $conn{sc}, 'and switches option p2');
is($node->safe_psql('sc', 'SELECT count(*) FROM stategraph.threads'), $in_2, 'sc holds them');
is($node->safe_psql('sa', 'SELECT count(*) FROM stategraph.threads') + $node->safe_psql('sb', 'SELECT count(*) FROM stategraph.threads')
	+ $in_2, 30, 'and every thread is on exactly one server');
is(r('SELECT count(*) FROM sg_threads()'), '30', 'every thread is listed once');
is(r($states), $before, 'and reads as before');
is(r(q{SELECT count(*) FROM sg_threads() t WHERE (sg_invoke('counter', '{}', thread_id => t.thread_id))->'log' IS NOT NULL}),
	'30', 'and runs');

# a LATIN1 router over UTF8 servers
for my $db ('u1', 'u2', 'u3')
{
	$node->safe_psql('postgres', "CREATE DATABASE $db ENCODING 'UTF8' LOCALE 'C' TEMPLATE template0");
	$node->safe_psql($db, 'CREATE EXTENSION stategraph;' . counter_shard_sql());
}
my ($host, $port) = ($node->host, $node->port);
$node->safe_psql('postgres', "CREATE DATABASE rl ENCODING 'LATIN1' LOCALE 'C' TEMPLATE template0");
$node->safe_psql('rl', qq{CREATE EXTENSION plproxy; CREATE EXTENSION stategraph_router;
	CREATE SERVER stategraph FOREIGN DATA WRAPPER plproxy OPTIONS (
		partition_0 'host=$host port=$port dbname=u1', partition_1 'host=$host port=$port dbname=u2');
	CREATE USER MAPPING FOR PUBLIC SERVER stategraph;});
is($node->safe_psql('rl', q{SELECT string_agg(coalesce(graph, '-') || ' ' || partitions::text || ' ' || problem, ', ' ORDER BY partitions)
	FROM stategraph_router.check_definitions()}),
	q{- {0} encoding UTF8, not the router's LATIN1, - {1} encoding UTF8, not the router's LATIN1},
	'check_definitions lists the servers whose encoding is not the router\'s');
($rc, $out, $err) = $node->psql('rl', "CALL stategraph_router.move_partition(0, 'host=$host port=$port dbname=u3')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  55000: server .*dbname=u3 has encoding UTF8, not the router's LATIN1/,
	'a move to such a server is refused (55000)');
is($node->safe_psql('rl', 'SELECT connstr FROM stategraph_router.partitions() WHERE partition = 0'),
	"host=$host port=$port dbname=u1", 'nothing moved');
is(r('SELECT count(*) FROM stategraph_router.check_definitions()'), '0',
	'a router of the servers\' encoding lists nothing');

$node->stop;
done_testing();
