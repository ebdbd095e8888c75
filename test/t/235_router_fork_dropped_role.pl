# A superuser's sg_fork and sg_update_state (from a checkpoint) of a thread
# whose role was dropped, through the router. On one server the new thread
# belongs to the source's owner (a fork inherits it: branch.c), the dropped
# role's name, which nobody but a superuser reads until a role of that name
# is created again. Across servers, the router copies the source for the
# call (stategraph.import_then_fork / import_then_update_state, through
# stategraph.import_visitor), and that copy went to the importing
# superuser, whose the fork then was: the dropped role's state passed,
# silently, to the superuser, and a role created again under the name did
# not get its fork back. Now the copy keeps the export's owner, and the fork
# is the same on both paths.
#
# Also what a move does with such a thread: sg_import_thread of it is
# refused (42704), so the move stops with the partition frozen until the
# role exists again (README, Portable threads).
#
# One server holds the router database and three shard databases.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('rfdrop', shards => [ 'shard_a', 'shard_b', 'shard_c' ],
	shard_sql => counter_shard_sql() . 'GRANT EXECUTE ON FUNCTION noop(jsonb) TO PUBLIC;');
sub r { return $node->safe_psql('router', $_[0]); }

$node->safe_psql('postgres', 'CREATE ROLE gone LOGIN');
$node->safe_psql($_, 'GRANT USAGE ON SCHEMA public TO gone') for keys %conn;
r('GRANT USAGE ON FOREIGN SERVER stategraph TO gone');

# gone's thread in partition 0 (shard_a); forks into partition 2 (shard_a
# too: one server) and partition 1 (shard_b: across servers)
my $src = thread_of_partition($node, 'src', 0);
my $same = thread_of_partition($node, 'same', 2);
my $far = thread_of_partition($node, 'far', 1);
my $same_u = thread_of_partition($node, 'sameu', 2);
my $far_u = thread_of_partition($node, 'faru', 1);
r(qq{SET ROLE gone; SELECT sg_invoke('counter', '{"log": ["x"]}', '$src')});
my $cp = r("SET ROLE gone; SELECT checkpoint_id FROM sg_get_state('$src')");

$node->safe_psql($_, 'REVOKE USAGE ON SCHEMA public FROM gone') for keys %conn;
r('REVOKE USAGE ON FOREIGN SERVER stategraph FROM gone');
$node->safe_psql('postgres', 'DROP ROLE gone');

# the superuser forks it and updates from it, on one server and across
r("SELECT sg_fork('$src', '$cp', '$same')");
r("SELECT sg_fork('$src', '$cp', '$far')");
r(qq{SELECT sg_update_state('$same_u', '{"log": ["u"]}', checkpoint_id => '$cp')});
r(qq{SELECT sg_update_state('$far_u', '{"log": ["u"]}', checkpoint_id => '$cp')});
sub owner_of
{
	my ($db, $t) = @_;
	return $node->safe_psql($db, "SELECT owner FROM stategraph.threads WHERE thread_id = '$t'");
}
is(owner_of('shard_a', $same), 'gone', "one server: the fork is the dropped role's, as its source");
is(owner_of('shard_b', $far), 'gone', "across servers: the fork is the dropped role's too, not the superuser's");
is(owner_of('shard_a', $same_u), 'gone', 'one server: sg_update_state from the checkpoint, the same');
is(owner_of('shard_b', $far_u), 'gone', 'across servers: sg_update_state from the checkpoint, the same');
is(r("SELECT values FROM sg_get_state('$far')"), '{"log": ["x"]}', 'the fork reads the source state');
is(r("SELECT values FROM sg_get_state('$far_u')"), '{"log": ["x", "u"]}', 'the update applied');
is($node->safe_psql('shard_b', q{SELECT count(*) FROM stategraph.threads WHERE thread_id LIKE '\_\_sg\_visitor\_%'}),
	'0', 'no copy is left');

# created again, the role has all four back, through the router
$node->safe_psql('postgres', 'CREATE ROLE gone LOGIN');
$node->safe_psql($_, 'GRANT USAGE ON SCHEMA public TO gone') for keys %conn;
r('GRANT USAGE ON FOREIGN SERVER stategraph TO gone');
is(r("SET ROLE gone; SELECT string_agg(thread_id, ',' ORDER BY thread_id) FROM sg_threads()"),
	join(',', sort($src, $same, $far, $same_u, $far_u)), 'the role created again sees its source and the forks');
is(r("SELECT count(*) FROM sg_threads() WHERE thread_id <> '$src'"), '4', 'the superuser sees them too');

# a move of partition 0 while the role is dropped: the import of its thread
# is refused, the move stops with the partition frozen; with the role
# created again, the move goes on
$node->safe_psql($_, 'REVOKE USAGE ON SCHEMA public FROM gone') for keys %conn;
r('REVOKE USAGE ON FOREIGN SERVER stategraph FROM gone');
$node->safe_psql('postgres', 'DROP ROLE gone');
my ($ret, $out, $err) = $node->psql('router', "CALL stategraph_router.move_partition(0, '$conn{shard_c}')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/42704.*role "gone" that owns the exported thread does not exist/s,
	"a move stops at a dropped role's thread (42704), nothing silently the superuser's");
like(r("SELECT connstr FROM stategraph_router.partitions() WHERE partition = 0"),
	qr/default_transaction_read_only/, 'the partition stays frozen');
is($node->safe_psql('shard_c', "SELECT count(*) FROM stategraph.threads WHERE thread_id = '$src'"), '0',
	'the thread is not on the new server');
$node->safe_psql('postgres', 'CREATE ROLE gone');
is(r("CALL stategraph_router.move_partition(0, '$conn{shard_c}')"), '1', 'with the role again, the move goes on');
is(owner_of('shard_c', $src), 'gone', 'and the thread keeps its owner');

done_testing();
