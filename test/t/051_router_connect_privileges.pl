# The router's functions that connect to the connection string they are
# given (PL/Proxy CONNECT connstr) are not for PUBLIC: they connect as
# whatever role the string names, from the router's server and with its
# password file (stategraph_router--0.2.0.sql, Privileges). The move's
# helpers added for the recheck against the retention sweep (shape_at,
# shapes_at, delete_thread_at, and recheck_copies, which calls them) were
# left executable by PUBLIC: any role of the router database could delete
# any thread of any server reachable from it, as its superuser
# (delete_thread_at), and read every thread id and head there (shapes_at).
#
# Asserted: an ordinary role of the router database can execute none of
# the router's functions whose body connects to an argument; its calls of
# the new helpers fail with 42501 and the superuser's thread is still
# there; the superuser (the move's administrator) still can.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('connpriv', shards => [ 'shard_a', 'shard_b' ],
	shard_sql => q{CREATE FUNCTION noop(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;});
$node->safe_psql('shard_a', q{
SELECT sg_create_graph('g', '{"log": "append"}'), sg_add_node('g', 'noop', 'noop(jsonb)'),
       sg_add_edge('g', '__start__', 'noop'), sg_add_edge('g', 'noop', '__end__'), sg_compile('g');
SELECT sg_invoke('g', '{"log": [1]}', 'victim');
});
$node->safe_psql('router', 'CREATE ROLE mallory LOGIN');
# the superuser's own connection string: what a caller may pass
my $su = "$conn{shard_a} user=" . $node->safe_psql('postgres', 'SELECT current_user');

is($node->safe_psql('router', q{
SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY p.oid::regprocedure::text)
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.pronamespace = 'stategraph_router'::regnamespace
  AND (l.lanname = 'plproxy' AND p.prosrc ~ 'CONNECT\s+connstr'
       OR p.oid = 'stategraph_router.recheck_copies(text, text, integer, integer, boolean, text[], boolean)'::regprocedure)
  AND has_function_privilege('mallory', p.oid, 'EXECUTE')}),
	'', 'no function that connects to its argument is executable by an ordinary role');

for my $call (
	[ 'delete_thread_at', qq{SELECT stategraph_router.delete_thread_at('$su', 'victim')} ],
	[ 'shape_at',         qq{SELECT stategraph_router.shape_at('$su', 'victim')} ],
	[ 'shapes_at',        qq{SELECT * FROM stategraph_router.shapes_at('$su', 0, 1, true)} ],
	[ 'recheck_copies',
		qq{SELECT stategraph_router.recheck_copies('$conn{shard_b}', '$su', 0, 1, true, ARRAY['victim'], false)} ])
{
	my ($rc, $out, $err) = $node->psql('router', "SET ROLE mallory; $call->[1]",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	like($err, qr/42501/, "an ordinary role's call of $call->[0] is refused (42501)");
}
is($node->safe_psql('shard_a', q{SELECT count(*) FROM stategraph.threads WHERE thread_id = 'victim'}),
	'1', "the superuser's thread is still there");

# the administrator still reads the shape
like($node->safe_psql('router', qq{SELECT stategraph_router.shape_at('$su', 'victim')}),
	qr{^[0-9a-f-]{36}/\d+/\w+$}, 'the superuser still calls them');

$node->stop;
done_testing();
