# README's "Adding a server": the move refuses a server whose graphs differ.
# stategraph_router.check_definitions() counts as a graph's definition its
# channels, nodes, edges, branches, compiled spec, retention and the code of
# its node and router functions; the move's own check (definitions_at)
# compared channels and compiled specs only. A server whose node function
# had other code, or whose retention of the graph differed, took the
# partition: its threads then ran that code there (check_definitions listed
# the server only once it was too late), or were swept by that retention.
# Here:
#  - a move to a server whose node function has other code is refused
#    (55000) before anything is frozen or copied;
#  - so is one to a server whose custom reducer function has other code
#    (which check_definitions did not compare either: it listed no server
#    whose reducer differed);
#  - so is one to a server whose retention of the graph differs;
#  - once both are the same there, the move goes through and the threads of
#    the partition read and run as before.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my $fn = q{CREATE FUNCTION add_one(state jsonb) RETURNS jsonb LANGUAGE sql
	AS $$ SELECT jsonb_build_object('log', jsonb_build_array(jsonb_array_length(state->'log'))) $$;};
my $reducer = q{CREATE FUNCTION pick(cur jsonb, upd jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT upd $$;};
my $graph = q{
	SELECT sg_create_graph('counter', '{"log": "append"}');
	SELECT sg_add_node('counter', 'a', 'add_one(jsonb)');
	SELECT sg_add_edge('counter', '__start__', 'a');
	SELECT sg_add_edge('counter', 'a', '__end__');
	SELECT sg_compile('counter');
	SELECT sg_create_graph('picks', '{"v": "pick(jsonb,jsonb)"}');
	SELECT sg_add_node('picks', 'a', 'add_one(jsonb)');
	SELECT sg_add_edge('picks', '__start__', 'a');
	SELECT sg_add_edge('picks', 'a', '__end__');
	SELECT sg_compile('picks');
};
my ($node, %conn) = router_node('move_defs', shards => [ 'sa', 'sb', 'sc' ], shard_sql => $fn . $reducer);
sub r { return $node->safe_psql('router', $_[0]); }

r($graph);
r(q{SELECT count(sg_invoke('counter', '{"log": []}', 't-' || i)) FROM generate_series(1, 20) i});
my $in_0 = r(q{SELECT count(*) FROM sg_threads() WHERE hashtext(thread_id) & 3 = 0});
ok($in_0 > 0, "partition 0 holds $in_0 threads");
my $states = q{SELECT string_agg(thread_id || ' ' || (sg_get_state(thread_id))."values"::text, ',' ORDER BY thread_id)
	FROM sg_threads()};
my $before = r($states);

# the new server has the graph, but its node function does something else
$node->safe_psql('sc', $graph . q{CREATE OR REPLACE FUNCTION add_one(state jsonb) RETURNS jsonb LANGUAGE sql
	AS $$ SELECT jsonb_build_object('log', jsonb_build_array(999)) $$;});
my ($rc, $out, $err) = $node->psql('router', "CALL stategraph_router.move_partition(0, '$conn{sc}')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  55000: the graphs of server \Q$conn{sc}\E are not those of partition 0/,
	'a move to a server whose node function has other code is refused (55000)');
is(r('SELECT connstr FROM stategraph_router.partitions() WHERE partition = 0'), $conn{sa},
	'the partition still points at its server, not frozen');
is($node->safe_psql('sc', 'SELECT count(*) FROM stategraph.threads'), '0', 'nothing was copied');

# the same node function, but a reducer of other code there
my $other_reducer = q{CREATE OR REPLACE FUNCTION pick(cur jsonb, upd jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT cur $$;};
$node->safe_psql('sc', ($fn =~ s/CREATE FUNCTION/CREATE OR REPLACE FUNCTION/r) . $other_reducer);
($rc, $out, $err) = $node->psql('router', "CALL stategraph_router.move_partition(0, '$conn{sc}')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  55000: the graphs of server \Q$conn{sc}\E are not those of partition 0/,
	'a move to a server whose reducer function has other code is refused (55000)');
is($node->safe_psql('sc', 'SELECT count(*) FROM stategraph.threads'), '0', 'nothing was copied');
# and check_definitions lists a server of the cluster whose reducer differs
$node->safe_psql('sb', $other_reducer);
# (two servers that differ: neither has the definition of most, both are listed)
is(r('SELECT string_agg(graph || \' \' || problem, \',\') FROM stategraph_router.check_definitions()'),
	'picks different definition (no definition is on most servers),picks different definition (no definition is on most servers)',
	'check_definitions lists the graph whose reducer differs');
$node->safe_psql('sb', $reducer =~ s/CREATE FUNCTION/CREATE OR REPLACE FUNCTION/r);
is(r('SELECT count(*) FROM stategraph_router.check_definitions()'), '0', 'and none once it is the same again');

# the same code, but a retention of one second there
$node->safe_psql('sc', ($reducer =~ s/CREATE FUNCTION/CREATE OR REPLACE FUNCTION/r)
	. q{SELECT sg_set_retention('counter', '1 second');});
($rc, $out, $err) = $node->psql('router', "CALL stategraph_router.move_partition(0, '$conn{sc}')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  55000: the graphs of server \Q$conn{sc}\E are not those of partition 0/,
	'a move to a server whose retention of the graph differs is refused (55000)');
is($node->safe_psql('sc', 'SELECT count(*) FROM stategraph.threads'), '0', 'nothing was copied');

# the same retention everywhere: the move goes through
r(q{SELECT sg_set_retention('counter', '30 days')});
$node->safe_psql('sc', q{SELECT sg_set_retention('counter', '30 days')});
is(r("CALL stategraph_router.move_partition(0, '$conn{sc}')"), $in_0, "the move goes through ($in_0 threads)");
is(r('SELECT count(*) FROM stategraph_router.check_definitions()'), '0', 'and the servers agree');
is(r($states), $before, 'every thread reads as before through the router');
my $t0 = r(q{SELECT thread_id FROM sg_threads() WHERE hashtext(thread_id) & 3 = 0 ORDER BY 1 LIMIT 1});
is(r("SELECT sg_invoke('counter', '{\"log\": []}', '$t0')->'log'"), '[0, 1]', "and $t0 runs as it did on its old server");

$node->stop;
done_testing();
