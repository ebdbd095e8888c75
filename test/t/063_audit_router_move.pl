# Issue 12 item 3 (rebalancing) and README's "Adding a server": "Prepare the
# new server first: CREATE EXTENSION stategraph, your node functions, and
# the same graphs (... the move refuses a server whose graphs differ)". No
# test moved a partition to a server without its graphs, nor named a
# partition that does not exist (audit rev9audit). Here:
#  - a move to a server that has the extension and the node function but
#    not the graph is refused (55000) before anything is frozen or copied:
#    the partition still points at its server and takes writes, and the new
#    server holds no thread;
#  - a partition the cluster does not have: 22023; a partition moved onto
#    a server of the cluster under another connection string: 22023;
#  - none of these refusals keeps the lock of moves for its session (they
#    did: every other session's move was refused with 55P03 until the
#    session of the refused call ended);
#  - once the same graph is defined there, the move goes through and every
#    thread of the partition reads as before through the router.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my $fn = q{CREATE FUNCTION add_one(state jsonb) RETURNS jsonb LANGUAGE sql
	AS $$ SELECT jsonb_build_object('log', jsonb_build_array(jsonb_array_length(state->'log'))) $$;};
my $graph = q{
	SELECT sg_create_graph('counter', '{"log": "append"}');
	SELECT sg_add_node('counter', 'a', 'add_one(jsonb)');
	SELECT sg_add_edge('counter', '__start__', 'a');
	SELECT sg_add_edge('counter', 'a', '__end__');
	SELECT sg_compile('counter');
};
my ($node, %conn) = router_node('audit_move', shards => [ 'sa', 'sb', 'sc' ], shard_sql => $fn);
sub r { return $node->safe_psql('router', $_[0]); }

r($graph);
r(q{SELECT count(sg_invoke('counter', '{"log": []}', 't-' || i)) FROM generate_series(1, 40) i});
my $in_0 = r(q{SELECT count(*) FROM sg_threads() WHERE hashtext(thread_id) & 3 = 0});
ok($in_0 > 0, "partition 0 holds $in_0 threads");
my $before = r(q{SELECT string_agg(thread_id || ' ' || (sg_get_state(thread_id))."values"::text, ',' ORDER BY thread_id)
	FROM sg_threads()});

# the new server has the node function, not the graph
my ($rc, $out, $err) = $node->psql('router', "CALL stategraph_router.move_partition(0, '$conn{sc}')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  55000: the graphs of server \Q$conn{sc}\E are not those of partition 0/,
	'a move to a server without the graph is refused (55000)');
is(r('SELECT connstr FROM stategraph_router.partitions() WHERE partition = 0'), $conn{sa},
	'the partition still points at its server, not frozen');
is($node->safe_psql('sc', 'SELECT count(*) FROM stategraph.threads'), '0', 'nothing was copied');
my $t0 = r(q{SELECT thread_id FROM sg_threads() WHERE hashtext(thread_id) & 3 = 0 ORDER BY 1 LIMIT 1});
is(r("SELECT sg_invoke('counter', '{\"log\": []}', '$t0')->'log'"), '[0, 1]', 'and its threads take writes');

($rc, $out, $err) = $node->psql('router', "CALL stategraph_router.move_partition(9, '$conn{sc}')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  22023: partition 9 does not exist in cluster "stategraph"/, 'a partition the cluster does not have: 22023');

# a refused call leaves no turn behind: a session still open after its
# refused move does not hold up another session's move (the lock of moves
# was kept until the refused session ended, 55P03 for every other one)
my $typo = $node->background_psql('router', on_error_stop => 0);
my ($host, $port) = ($node->host, $node->port);
my %refused = (
	"move_partition(9, '$conn{sc}')" => qr/22023: partition 9 does not exist/,
	"move_partition(0, '$conn{sc}')" => qr/55000: the graphs of server/,
	"move_partition(1, 'dbname=sa port=$port host=$host')" => qr/22023: server .* is in cluster "stategraph" already/);
$typo->query('\set VERBOSITY verbose');
for my $call (sort keys %refused)
{
	$typo->{stderr} = '';	# (BackgroundPsql keeps stderr across queries)
	$typo->query("CALL stategraph_router.$call");
	like($typo->{stderr}, $refused{$call}, "$call is refused");
	is(scalar $typo->query(q{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()}),
		'0', "a refused $call keeps no lock of moves (no advisory lock at all)");
}

# the same graph there: the move goes through
$node->safe_psql('sc', $graph);
is(r('SELECT count(*) FROM stategraph_router.check_definitions()'), '0', 'the graphs agree');
$before = r(q{SELECT string_agg(thread_id || ' ' || (sg_get_state(thread_id))."values"::text, ',' ORDER BY thread_id)
	FROM sg_threads()});
is(r("CALL stategraph_router.move_partition(0, '$conn{sc}')"), $in_0,
	"the move goes through ($in_0 threads), the session of the refused calls still open");
$typo->quit;
is(r('SELECT connstr FROM stategraph_router.partitions() WHERE partition = 0'), $conn{sc}, 'partition 0 is on the new server');
is($node->safe_psql('sc', 'SELECT count(*) FROM stategraph.threads'), $in_0, 'which holds its threads');
is(r(q{SELECT string_agg(thread_id || ' ' || (sg_get_state(thread_id))."values"::text, ',' ORDER BY thread_id)
	FROM sg_threads()}), $before, 'every thread reads as before through the router');

$node->stop;
done_testing();
