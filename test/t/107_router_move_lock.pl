# The lock of moves of a router database against an ordinary role.
#
# It was the session-level advisory lock (1397181782, 0): any role that may
# connect to the router database took pg_advisory_lock(1397181782, 0) and
# every stategraph_router.move_partition failed with 55P03 until that
# role's session ended. The key of a move is now made of a secret only the
# extension's owner reads and of the session that moves, and the lock of
# moves is held only by a session holding its own key: here a role holds
# the old key, then takes the keys it sees in pg_locks during moves (its
# wait ends when the move lets go, or when the session of a move that
# stopped ends), and every move still goes through. Moves still run one at
# a time: a session taking the lock (in its transaction), or holding it,
# makes the others' moves 55P03.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('movelock', shards => [ 'sa', 'sb', 'sc' ],
	shard_sql => counter_shard_sql());
my ($host, $port) = ($node->host, $node->port);
sub r { return $node->safe_psql('router', $_[0]); }
sub part_on
{
	return $node->safe_psql($_[0], "SELECT count(*) FROM stategraph.threads WHERE (hashtext(thread_id) & 3) = $_[1]");
}
# a move in a session of its own: '' when it went through, else its error
sub move
{
	my ($part, $db) = @_;
	my ($ret, $out, $err) = $node->psql('router', "CALL stategraph_router.move_partition($part, '$conn{$db}')",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return $err;
}
r(q{SELECT count(sg_invoke('counter', '{"log": [1]}', 'm-' || i)) FROM generate_series(1, 40) i});
my %n = map { $_ => part_on($_ % 2 ? 'sb' : 'sa', $_) } 0 .. 3;
ok((grep { $_ > 0 } values %n) == 4, 'every partition holds threads');

r('CREATE ROLE mallory LOGIN');
my $m = $node->background_psql('router', extra_params => [ '-U', 'mallory' ]);
# the keys of the advisory locks that the router database's sessions other
# than mallory's hold, as mallory sees them in pg_locks
my $seen = q{SELECT l.classid::integer, l.objid::integer FROM pg_locks l
	WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted
	  AND l.pid NOT IN (SELECT a.pid FROM pg_stat_activity a WHERE a.usename = 'mallory')
	  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())};
# a session of mallory that tries the key of $seen (one) until it has it,
# and keeps it; its pid (a transaction that waited for the lock would hold
# the move up too: its last step waits for the transactions of the router
# that began before, which mallory's is)
sub take_seen
{
	my $key = $node->safe_psql('router', "SELECT classid || ', ' || objid FROM ($seen) k", extra_params => [ '-U', 'mallory' ]);
	my $w = $node->background_psql('router', extra_params => [ '-U', 'mallory' ]);
	my $pid = $w->query_safe('SELECT pg_backend_pid()');
	$w->query_until(qr/trying/, "\\echo trying\nDO \$\$ BEGIN WHILE NOT pg_try_advisory_lock($key) LOOP COMMIT; PERFORM pg_sleep(0.01); END LOOP; END \$\$;\n");
	return ($w, $pid);
}
sub keys_held_by
{
	return r("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $_[0]");
}

# 1. the old key, held by an ordinary role
$m->query_safe('SELECT pg_advisory_lock(1397181782, 0)');
is(move(0, 'sc'), '', 'a move goes through while an ordinary role holds pg_advisory_lock(1397181782, 0)');
is(part_on('sc', 0), $n{0}, "partition 0 is on sc ($n{0} threads)");

# 2. the key of a running move, seen in pg_locks: taken when the move lets go
my $admin = $node->background_psql('router', on_error_stop => 0);
my $apid = $admin->query_safe('SELECT pg_backend_pid()');
my $blocker = $node->background_psql('router');
$blocker->query_safe('BEGIN; SELECT 1');     # the move waits for it, holding its lock
$admin->query_until(qr/moving/, "\\echo moving\nCALL stategraph_router.move_partition(1, '$conn{sc}');\n\\echo moved\n");
# (once it froze the partition: it waits for the transactions that began before)
ok($node->poll_query_until('router', q{SELECT connstr LIKE '%read_only=on''' FROM stategraph_router.partitions() WHERE partition = 1}),
	'the move froze partition 1');
is(r("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $apid"), '1', 'it holds its lock');
is($node->safe_psql('router', "SELECT count(*) FROM ($seen) k", extra_params => [ '-U', 'mallory' ]), '1',
	'mallory sees the key of the move in pg_locks');
my ($w1, $pid1) = take_seen();
my ($ret, $out, $err) = $node->psql('router', "CALL stategraph_router.move_partition(2, '$conn{sc}')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/55P03: another stategraph_router\.move_partition is running \(process $apid\)/,
	'another move meanwhile: 55P03, naming the session that moves');
$blocker->query_safe('COMMIT');
$blocker->quit;
ok($node->poll_query_until('router', qq{SELECT count(*) = 0 FROM pg_locks WHERE locktype = 'advisory' AND pid = $apid}),
	'the move ends, letting go of its lock');
ok($node->poll_query_until('router', qq{SELECT count(*) = 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $pid1}),
	'mallory holds the key the move held');
is(part_on('sc', 1), $n{1}, "partition 1 is on sc ($n{1} threads)");
is(move(2, 'sc'), '', 'a move of another session goes through');
# the session whose key mallory holds moves again (it draws a new secret)
$admin->{stderr} = '';
$admin->query("CALL stategraph_router.move_partition(2, '$conn{sa}')");
is($admin->{stderr}, '', 'so does a move of the session whose key mallory took');
is(part_on('sa', 2), $n{2}, 'partition 2 is back on sa');
$admin->query_safe("CALL stategraph_router.move_partition(2, '$conn{sc}')");
is(part_on('sc', 2), $n{2}, 'and moves again from that session');

# 3. the key of a move that stopped: taken when its session ends
$admin->{stderr} = '';
$admin->query("CALL stategraph_router.move_partition(3, 'host=$host port=$port dbname=no_such_db')");
like($admin->{stderr}, qr/could not connect|cannot connect/, 'a move stops (a server that does not answer)');
like(move(3, 'sc'), qr/55P03: .*process $apid/, 'its session keeps the lock: another session\'s move is 55P03');
my ($w2, $pid2) = take_seen();
is(keys_held_by($pid2), '0', 'mallory tries the key of the stopped move');
$admin->quit;
ok($node->poll_query_until('router', qq{SELECT count(*) = 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $pid2}),
	'the session of the stopped move ends: mallory holds its key');
is(move(3, 'sc'), '', 'a move of another session goes through');
is(part_on('sc', 3), $n{3}, "partition 3 is on sc ($n{3} threads)");

# 4. one at a time still: a session taking the lock (in the transaction
# that takes it), then holding it, makes another session's move 55P03
my $su = $node->background_psql('router');
my $supid = $su->query_safe('SELECT pg_backend_pid()');
$su->query_safe('BEGIN; SELECT stategraph_router.move_lock()');
like(move(0, 'sa'), qr/55P03: another stategraph_router\.move_partition is running \(process $supid\)/,
	'a session taking the lock: another move is 55P03, naming it');
$su->query_safe('COMMIT');
like(move(0, 'sa'), qr/55P03: another stategraph_router\.move_partition is running \(process $supid\)/,
	'and while it holds it');
$su->query_safe('SELECT stategraph_router.move_unlock()');
is(keys_held_by($supid), '0', 'it lets go');
is(move(0, 'sa'), '', 'then a move goes through');
is(part_on('sa', 0), $n{0}, 'partition 0 is back on sa');
$su->quit;

# mallory may not read the secret nor take or let go of the lock of moves
for my $q ('SELECT * FROM stategraph_router.move_secret', 'SELECT stategraph_router.move_lock()',
	'SELECT stategraph_router.move_unlock()', 'SELECT stategraph_router.move_holder()')
{
	($ret, $out, $err) = $node->psql('router', $q, extra_params => [ '-U', 'mallory', '-v', 'VERBOSITY=verbose' ]);
	like($err, qr/42501: permission denied/, "mallory: $q is 42501");
}
is(r(q{SELECT count(*) FROM sg_threads()}), '40', 'every thread through the router, once');
$w1->quit;
$w2->quit;
$m->quit;
$node->stop;
done_testing();
