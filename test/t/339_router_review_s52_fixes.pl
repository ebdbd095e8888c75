# Findings of a review of the router's fixes of TAP 328 (session 52):
#
#  1. sg_update_state through the router from a checkpoint id that one
#     role holds on two servers: the router chose the first holder by
#     thread_id of all servers', as one server does, but the target server
#     imported it as '__sg_visitor_...' and chose again among its own
#     holders, where a copy whose id sorts before '_' (a capital, a digit)
#     won: the update forked another copy than one server would have. The
#     copy is now imported under its own thread's id (which no thread of
#     the target server has: it routes elsewhere).
#  2. stategraph_router.fork (PUBLIC) started a role's new thread on the
#     source's server whatever the new thread's partition, where the router
#     never finds it (and the next move of that partition stopped on it),
#     as stategraph_router.submit did (TAP 328): refused now (22023), sg_fork
#     works as before.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('rreview52b', shards => [ 'shard_a', 'shard_b' ],
	shard_sql => counter_shard_sql());
$node->safe_psql('postgres', 'CREATE ROLE alice LOGIN');
$node->safe_psql('router', 'GRANT USAGE ON FOREIGN SERVER stategraph TO PUBLIC');
sub r { return $node->safe_psql('router', $_[0]); }

sub as
{
	my ($db, $role, $sql) = @_;
	my ($out, $err) = ('', '');
	$node->psql($db, ($role ? "SET ROLE $role;\n" : '') . $sql, stdout => \$out, stderr => \$err,
		on_error_stop => 0, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return ($out, $err);
}

my $redigest = q{jsonb_set(:'e', '{digest}', to_jsonb(md5(COALESCE((:'e'::jsonb)->'thread', 'null')::text
	|| COALESCE((:'e'::jsonb)->'checkpoints', 'null')::text || COALESCE((:'e'::jsonb)->'fork_writes', 'null')::text)))};

# ---------------------------------------------------------------------------
# 1. one role's two copies of a checkpoint on two servers
# ---------------------------------------------------------------------------
my $src = thread_of_partition($node, 'A', 1);    # shard_b: the first holder by thread_id
my $copy = thread_of_partition($node, 'B', 0);   # shard_a: alice's edited copy
my $t = thread_of_partition($node, 't', 2);      # shard_a: updated from the checkpoint
is(r("SELECT stategraph_router.shard_of('$copy') = stategraph_router.shard_of('$t')
	AND stategraph_router.shard_of('$src') <> stategraph_router.shard_of('$t')"), 't',
	'the copy is on the updated thread\'s server, the first holder on the other');
as('router', 'alice', qq{SELECT sg_invoke('counter', '{"log": ["a"]}', '$src')});
my $cp = r("SELECT checkpoint_id FROM sg_get_state('$src')");
my ($out, $err) = as('router', 'alice', qq{SELECT replace(sg_export_thread('$src')::text, '["a"]', '["b"]')::jsonb AS e \\gset
	SELECT sg_import_thread($redigest, '$copy')});
is($err, '', 'alice imports an edited copy of her thread');
($out, $err) = as('router', 'alice', qq{SELECT sg_update_state('$t', '{}', as_node => 'noop', checkpoint_id => '$cp') IS NOT NULL;
	SELECT values FROM sg_get_state('$t')});
is($err, '', 'an update from the checkpoint both hold');
like($out, qr/\{"log": \["a"\]\}/, 'forks the first holder by thread_id, as one server does');
is($node->safe_psql('shard_a', "SELECT count(*) FROM stategraph.threads WHERE thread_id = '$src' OR thread_id LIKE '__sg_visitor_%'"),
	'0', 'no copy of the first holder is left on the updated thread\'s server');

# ---------------------------------------------------------------------------
# 2. stategraph_router.fork into a thread of another server
# ---------------------------------------------------------------------------
my $new = thread_of_partition($node, 'nf', 0);   # shard_a
($out, $err) = as('router', 'alice', qq{SELECT stategraph_router.fork('$src', '$cp', '$new')});
like($err, qr/ERROR:  22023: thread "$new" is not on the server of thread "$src"/,
	'fork into a thread of another server: 22023');
is($node->safe_psql('shard_b', "SELECT count(*) FROM stategraph.threads WHERE thread_id = '$new'"), '0',
	'no thread started on the source\'s server');
($out, $err) = as('router', 'alice', qq{SELECT sg_fork('$src', '$cp', '$new') IS NOT NULL;
	SELECT values FROM sg_get_state('$new')});
is($err, '', 'sg_fork across servers works as before');
like($out, qr/\{"log": \["a"\]\}/, 'and the fork reads its source');
my $same = thread_of_partition($node, 'nf', 3);  # shard_b, as the source
($out, $err) = as('router', 'alice', qq{SELECT stategraph_router.fork('$src', '$cp', '$same') IS NOT NULL});
is($err, '', 'fork on one server still works');

done_testing();
