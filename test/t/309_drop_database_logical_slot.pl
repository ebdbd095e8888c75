# PostgreSQL's dropdb refuses at once (55006, "database ... is used by an
# active logical replication slot") to drop a database whose logical slot
# a walsender is streaming, before it looks for other sessions. The
# walsender is a session connected to that database, so stategraph's
# DROP DATABASE hook waited its 5 s for it to leave (and for the client
# sessions) before dropdb gave that error. The hook now leaves such a drop
# to dropdb at once, as it leaves the other statements dropdb refuses
# anyway, and the workers' runs go on untouched. Once the slot is no longer
# streamed (and the sessions have left), the database is dropped.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time);
use SGNode;

my $node = preloaded_node('drop_database_logical_slot',
	"wal_level = logical\nmax_replication_slots = 4\nmax_wal_senders = 4\n");
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', 'CREATE EXTENSION stategraph;' . held_graph_sql());
$node->safe_psql('app', q{SELECT pg_create_logical_replication_slot('app_slot', 'test_decoding')});

# a walsender streaming app's slot
my ($rout, $rerr) = ('', '');
my $receiver = IPC::Run::start(
	[ 'pg_recvlogical', '-d', $node->connstr('app'), '-S', 'app_slot', '--start', '-f', '-' ],
	'>', \$rout, '2>', \$rerr);
ok($node->poll_query_until('postgres', q{SELECT active FROM pg_replication_slots WHERE slot_name = 'app_slot'}),
	'a walsender streams the slot of app');

# a worker of app executing a step, held by the lock of a client session of app
my $session = $node->background_psql('app');
$session->set_query_timer_restart;
my ($rid, $pid) = held_step_executes($node, $session, 'app', 't1');

my $start = time();
my ($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE app', extra_params => [ '-v', 'VERBOSITY=verbose' ]);
my $took = time() - $start;
like($err, qr/55006: database "app" is used by an active logical replication slot/,
	"DROP DATABASE is refused (55006) with dropdb's error for the active slot");
# the hook's wait for the walsender and the client session lasted 5 s
cmp_ok($took, '<', 4.5, 'refused at once, not after a wait for the sessions to leave') or diag("took $took s");
held_run_untouched($node, $session, 'app', $rid, $pid, 'DROP DATABASE');

# the slot no longer streamed and the session gone: dropped (its slot with it)
$receiver->kill_kill;
$receiver->finish;
ok($node->poll_query_until('postgres', q{SELECT NOT active FROM pg_replication_slots WHERE slot_name = 'app_slot'}),
	'the slot is no longer streamed');
$session->quit;
$node->safe_psql('postgres', 'DROP DATABASE app');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'app'}), '0', 'app is dropped');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots}), '0', 'and its slot');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'stategraph worker'}),
	'0', 'no worker of app is left');

$node->stop;
done_testing();
