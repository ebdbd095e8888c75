# A pg_dump of a 0.1.0 database restored on a server whose default version
# is 0.2.0: the dump's CREATE EXTENSION names no version, so a plain
# restore makes 0.2.0 and its data-only COPY of 0.1.0 rows bypasses the
# update's migrations (it fails on branches: routers lost; node functions
# left unbound). README's procedure: create the extension at VERSION
# '0.1.0' in the target first, pg_restore, then ALTER EXTENSION UPDATE.
# This runs exactly that on a graph with conditional edges, a node function
# owned by another role and threads, and checks that the restored database
# reads and runs as the source does after its own update in place.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGLifecycle;

my $node = sg_cluster('r010');
$node->start;
$node->safe_psql('postgres', q{CREATE ROLE alice; CREATE DATABASE src});
make_data($node, 'src', q{CREATE EXTENSION stategraph VERSION '0.1.0'});
$node->safe_psql('src', q{
CREATE FUNCTION alice_step(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('n', 10, 'log', '["alice"]'::jsonb) $$;
ALTER FUNCTION alice_step(jsonb) OWNER TO alice;
SELECT sg_create_graph('lc_alice', '{"n": "add", "log": "append"}');
SELECT sg_add_node('lc_alice', 'a', 'alice_step(jsonb)');
SELECT sg_add_node('lc_alice', 'b', 'lc_step(jsonb,jsonb)');
SELECT sg_add_edge('lc_alice', '__start__', 'a');
SELECT sg_add_edge('lc_alice', 'a', 'b');
SELECT sg_add_conditional_edges('lc_alice', 'b', 'lc_more(jsonb)', '["a", "__end__"]');
SELECT sg_compile('lc_alice', interrupt_before => ARRAY['b']);
SELECT sg_invoke('lc_alice', '{"n": 0}', thread_id => 'alice-1');
});
is($node->safe_psql('src', q{SELECT extversion FROM pg_extension WHERE extname = 'stategraph'}), '0.1.0',
	'the source is at 0.1.0');

my $dir = PostgreSQL::Test::Utils::tempdir();
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/src.dump", '-d', $node->connstr('src') ], 'pg_dump of the 0.1.0 database');

# a plain restore (the target's default version, 0.2.0) fails loudly
$node->safe_psql('postgres', 'CREATE DATABASE plain');
my ($stdout, $stderr) = ('', '');
my $ok = PostgreSQL::Test::Utils::run_log(
	[ 'pg_restore', '-d', $node->connstr('plain'), "$dir/src.dump" ], '>', \$stdout, '2>', \$stderr);
ok(!$ok, 'a plain restore of a 0.1.0 dump into 0.2.0 fails');
like($stderr, qr/null value in column "ordinal"/, 'on the routers the update would have numbered');

# README's procedure
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->safe_psql('dst', q{CREATE EXTENSION stategraph VERSION '0.1.0'});
$node->command_ok([ 'pg_restore', '-d', $node->connstr('dst'), "$dir/src.dump" ],
	'pg_restore into a target whose extension was created at 0.1.0');
$node->safe_psql('dst', 'ALTER EXTENSION stategraph UPDATE');
# the reference: the source updated in place
$node->safe_psql('src', 'ALTER EXTENSION stategraph UPDATE');
is($node->safe_psql('dst', q{SELECT extversion FROM pg_extension WHERE extname = 'stategraph'}), '0.2.0',
	'the target is at 0.2.0');

my $defs = q{
SELECT string_agg(format('%s %s %s %s', graph, node, fn, fn_owner), E'\n' ORDER BY graph, node) FROM stategraph.nodes;
SELECT string_agg(format('%s %s %s %s %s', graph, source, router, router_owner, ordinal), E'\n' ORDER BY graph, ordinal) FROM stategraph.branches;
SELECT string_agg(e::text, E'\n' ORDER BY e::text) FROM stategraph.edges e;
SELECT string_agg(format('%s %s %s', graph, owner, spec), E'\n' ORDER BY graph) FROM stategraph.graphs;
};
my $src_defs = $node->safe_psql('src', $defs);
like($src_defs, qr/lc_alice a public\.alice_step\(pg_catalog\.jsonb\) alice/, 'the source binds the node to alice\'s function');
like($src_defs, qr/lc_loop a public\.lc_side\(pg_catalog\.jsonb\) postgres 2/, 'and numbers its routers');
is($node->safe_psql('dst', $defs), $src_defs, 'the restored graphs are the source\'s (nodes, owners, routers, edges, specs)');
is(snapshot($node, 'dst'), snapshot($node, 'src'), 'every history reads as the source\'s');

# and they run as the source's
for my $q (q{SELECT sg_invoke('lc_alice', '{"n": 0}', thread_id => 'alice-2')},
	q{SELECT sg_invoke('lc_alice', NULL, thread_id => 'alice-1')},
	q{SELECT sg_invoke('lc_loop', '{"n": 0}', thread_id => 'loop-new')},
	q{SELECT sg_invoke('lc_loop', NULL, thread_id => 'loop-2')},
	q{SELECT sg_invoke('lc_chat', NULL, thread_id => 'chat-12', resume => '"later"')})
{
	my $want = $node->safe_psql('src', $q);
	is($node->safe_psql('dst', $q), $want, "restored: $q");
}
like($node->safe_psql('dst', q{SELECT "values" ->> 'log' FROM sg_get_state('alice-2')}), qr/alice/,
	'alice\'s node function runs in the restored database');
my $states = q{SELECT string_agg(format('%s %s %s %s', t.thread_id, t.status, s."values", s.next), E'\n' ORDER BY t.thread_id)
    FROM sg_threads() t, LATERAL sg_get_state(t.thread_id) s};
is($node->safe_psql('dst', $states), $node->safe_psql('src', $states), 'and every thread\'s state is then the source\'s');

$node->stop;
done_testing();
