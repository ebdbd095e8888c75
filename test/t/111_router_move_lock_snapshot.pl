# The lock of moves when the moving session draws a new secret.
#
# A session whose own key another session holds (a role took it from
# pg_locks during an earlier move of that session: TAP 107) draws a new
# secret in the transaction that takes the lock of moves. A session that
# decided under a snapshot older than that commit (REPEATABLE READ or
# SERIALIZABLE) computed the mover's key from the old secret, saw no
# holder, and took the lock as well: two moves at once. It now reads the
# secret FOR UPDATE: 40001, as for any concurrent update.
#
# And when that transaction aborts (a move that stops before its first
# commit), the new secret is rolled back and the turn passes to another
# session: the session that aborted is then refused while another moves
# (moves still run one at a time), and moves again afterwards.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('movelocksnap', shards => [ 'sa', 'sb', 'sc' ],
	shard_sql => counter_shard_sql());
my ($host, $port) = ($node->host, $node->port);
sub r { return $node->safe_psql('router', $_[0]); }
sub part_on
{
	return $node->safe_psql($_[0], "SELECT count(*) FROM stategraph.threads WHERE (hashtext(thread_id) & 3) = $_[1]");
}
sub keys_held_by
{
	return r("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $_[0]");
}
r(q{SELECT count(sg_invoke('counter', '{"log": [1]}', 's-' || i)) FROM generate_series(1, 40) i});
my %n = map { $_ => part_on($_ % 2 ? 'sb' : 'sa', $_) } 0 .. 3;
ok((grep { $_ > 0 } values %n) == 4, 'every partition holds threads');
my $secret = 'SELECT secret FROM stategraph_router.move_secret';

my $a = $node->background_psql('router', on_error_stop => 0);
my $apid = $a->query_safe('SELECT pg_backend_pid()');
# session x holds a's key (as a role that saw it in pg_locks during an
# earlier move of a and waited for it: TAP 107)
my $x = $node->background_psql('router');
$x->query_safe(qq{SELECT pg_advisory_lock(k.key1, k.key2) FROM pg_stat_activity s,
	stategraph_router.move_key(($secret), s.pid, s.backend_start) k WHERE s.pid = $apid});
my $s0 = r($secret);

# 1. a's move draws a new secret, then stops before its first commit (a
# server that does not answer): the new secret is rolled back
$a->query("CALL stategraph_router.move_partition(3, 'host=$host port=$port dbname=no_such_db')");
like($a->{stderr}, qr/cannot connect/, 'a move stops before its first commit');
is(r($secret), $s0, 'the secret it drew is rolled back');
is(keys_held_by($apid), '1', 'its session still holds a key, under the secret rolled back');
# b moves (its last step waits for an open transaction): a is refused meanwhile
my $blocker = $node->background_psql('router');
$blocker->query_safe('BEGIN; SELECT 1');
my $b = $node->background_psql('router', on_error_stop => 0);
my $bpid = $b->query_safe('SELECT pg_backend_pid()');
$b->query_until(qr/moving/, "\\echo moving\nCALL stategraph_router.move_partition(1, '$conn{sc}');\n\\echo moved\n");
ok($node->poll_query_until('router', q{SELECT connstr LIKE '%read_only=on''' FROM stategraph_router.partitions() WHERE partition = 1}),
	'the turn passed: another session moves (partition 1 frozen)');
$a->{stderr} = '';
$a->query("CALL stategraph_router.move_partition(3, '$conn{sc}')");
like($a->{stderr}, qr/another stategraph_router\.move_partition is running \(process $bpid\)/,
	'the session whose move stopped is refused while it moves');
$a->{stderr} = '';
$a->query_safe('SELECT 1');
$blocker->query_safe('COMMIT');
ok($node->poll_query_until('router', qq{SELECT count(*) = 0 FROM pg_locks WHERE locktype = 'advisory' AND pid = $bpid}),
	'that move ends');
is(part_on('sc', 1), $n{1}, "partition 1 is on sc ($n{1} threads)");
$a->query("CALL stategraph_router.move_partition(3, '$conn{sc}')");
is($a->{stderr}, '', 'then the session whose move stopped moves again');
is(part_on('sc', 3), $n{3}, "partition 3 is on sc ($n{3} threads)");
is(keys_held_by($apid), '1', 'and lets go of its lock (the key of the rolled back secret stays until its session ends)');

# 2. a session deciding under a snapshot older than a's new secret
$x->query_safe(qq{SELECT pg_advisory_unlock_all(); SELECT pg_advisory_lock(k.key1, k.key2) FROM pg_stat_activity s,
	stategraph_router.move_key(($secret), s.pid, s.backend_start) k WHERE s.pid = $apid});
$b->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1');
$a->query_safe('SELECT stategraph_router.move_lock()');
isnt(r($secret), $s0, 'a took the lock of moves, drawing a new secret');
$b->{stderr} = '';
$b->query('SELECT stategraph_router.move_lock()');
like($b->{stderr}, qr/could not serialize access due to concurrent update/,
	'a REPEATABLE READ transaction that began before: serialization failure');
$b->{stderr} = '';
$b->query_safe('ROLLBACK');
is(keys_held_by($bpid), '0', 'it holds no key');
$b->{stderr} = '';
$b->query('SELECT stategraph_router.move_lock()');
like($b->{stderr}, qr/another stategraph_router\.move_partition is running \(process $apid\)/, 'again: refused, naming a');
$a->query_safe('SELECT stategraph_router.move_unlock()');
is(keys_held_by($apid), '1', 'a lets go (the key of the rolled back secret stays)');
$b->{stderr} = '';
$b->query_safe("CALL stategraph_router.move_partition(1, '$conn{sb}')");
is(part_on('sb', 1), $n{1}, 'a move goes through then');
is(r(q{SELECT count(*) FROM sg_threads()}), '40', 'every thread through the router, once');
$_->quit for ($a, $b, $x, $blocker);
$node->stop;
done_testing();
