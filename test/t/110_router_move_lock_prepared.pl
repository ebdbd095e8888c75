# The lock of moves against a role that locks its table without reading it.
#
# move_lock decides under the EXCLUSIVE lock of the secret's table
# (stategraph_router.move_secret), taken NOWAIT; when that failed and no
# session held the table's EXCLUSIVE lock (no move taking its turn), it
# tried again at once, for ever. Any role may hold a weaker lock of that
# table for as long as its transaction lasts, without the privilege to
# read it: PREPARE of a statement naming the table locks it (its privileges
# are checked when it runs). Such a transaction left open made every
# move_partition spin on a core, with no error, until it ended. Now the
# move waits for it as its lock waits on the servers are bounded
# (stategraph_router.lock_timeout), then fails with 55P03 naming it.
#
# The session taking the lock of moves was looked for in pg_locks by the
# table's oid alone: a database copied from the router database (CREATE
# DATABASE ... TEMPLATE) has the same oid, and a move there taking its lock
# was named instead (55P03 "another move_partition is running" at once).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('movelockprep', shards => [ 'sa', 'sb', 'sc' ],
	shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }
r(q{SELECT count(sg_invoke('counter', '{"log": [1]}', 'p-' || i)) FROM generate_series(1, 20) i});
my $n0 = $node->safe_psql('sa', 'SELECT count(*) FROM stategraph.threads WHERE (hashtext(thread_id) & 3) = 0');
ok($n0 > 0, "partition 0 holds threads ($n0)");

r('CREATE ROLE mallory LOGIN');
$node->safe_psql('postgres', 'CREATE DATABASE router2 TEMPLATE router');
my $oid = q{SELECT 'stategraph_router.move_secret'::regclass::oid};
is($node->safe_psql('router2', $oid), r($oid), 'a copy of the router database: its table of the secret has the same oid');
my $m = $node->background_psql('router', extra_params => [ '-U', 'mallory' ]);
my $mpid = $m->query_safe('SELECT pg_backend_pid()');
$m->query_safe('BEGIN');
$m->query_safe('PREPARE p AS SELECT 1 FROM stategraph_router.move_secret FOR UPDATE');
is(r(qq{SELECT mode FROM pg_locks WHERE pid = $mpid AND relation = 'stategraph_router.move_secret'::regclass}),
	'RowShareLock', 'mallory, who may not read the table, holds a lock of it in an open transaction');
my ($ret, $out, $err) = $node->psql('router', "SELECT 1 FROM stategraph_router.move_secret",
	extra_params => [ '-U', 'mallory', '-v', 'VERBOSITY=verbose' ]);
like($err, qr/42501: permission denied/, 'nor may mallory run that statement');

# a session of the copy taking its own lock of moves meanwhile
my $other = $node->background_psql('router2');
my $opid = $other->query_safe('SELECT pg_backend_pid()');
$other->query_safe('BEGIN; SELECT stategraph_router.move_lock()');

# a move meanwhile: bounded by stategraph_router.lock_timeout (the
# statement_timeout only stops the spin of the code before)
($ret, $out, $err) = $node->psql('router',
	"SET statement_timeout = '60s'; SET stategraph_router.lock_timeout = '2s'; CALL stategraph_router.move_partition(0, '$conn{sc}')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/55P03: the lock of moves is held up by process $mpid/, 'a move meanwhile: 55P03 naming that session, after the bound');
like($err, qr/waited 2s \(stategraph_router\.lock_timeout\)/, 'saying how long it waited');
is(r(q{SELECT connstr LIKE '%read_only=on''' FROM stategraph_router.partitions() WHERE partition = 0}), 'f',
	'nothing frozen');
$other->query_safe('ROLLBACK');
$other->quit;

# with the default bound, the move waits for the lock (not on a core) and
# goes on when mallory's transaction ends
my $admin = $node->background_psql('router', on_error_stop => 0);
my $apid = $admin->query_safe('SELECT pg_backend_pid()');
$admin->query_safe("SET statement_timeout = '60s'");
$admin->query_until(qr/moving/, "\\echo moving\nCALL stategraph_router.move_partition(0, '$conn{sc}');\n\\echo moved\n");
ok($node->poll_query_until('router', qq{SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $apid}),
	'the move waits for a lock');
is(r(qq{SELECT pg_blocking_pids($apid)::text}), "{$mpid}", 'blocked by mallory\'s session');
$m->query_safe('COMMIT');
ok($node->poll_query_until('router', qq{SELECT state = 'idle' FROM pg_stat_activity WHERE pid = $apid}), 'the move ends');
$admin->{stderr} = '';
$admin->query('SELECT 1');
is($admin->{stderr}, '', 'without an error');
is($node->safe_psql('sc', 'SELECT count(*) FROM stategraph.threads WHERE (hashtext(thread_id) & 3) = 0'), $n0,
	"partition 0 is on sc ($n0 threads)");
is(r(qq{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $apid}), '0', 'the move let go of its lock');
is(r(q{SELECT count(*) FROM sg_threads()}), '20', 'every thread through the router, once');
$admin->quit;
$m->quit;
$node->stop;
done_testing();
