# The wait of the owner's DROP DATABASE (and of the statements that need a
# database alone) for the other sessions to leave (others_stay_connected,
# TAP 313) can be interrupted: a pg_cancel_backend or a statement_timeout
# during it ends the statement before any worker is stopped, so the
# database keeps its workers and a step in progress goes on in its first
# attempt. The wait's count of prepared transactions (an SPI query) also
# works for a DROP DATABASE sent on a logical replication connection.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);
use SGNode;

my $node = preloaded_node('drop_database_wait_interrupted', "max_prepared_transactions = 2\nmax_wal_senders = 2\nwal_level = replica\n");

sub make_app
{
	$node->safe_psql('postgres', 'CREATE DATABASE app');
	$node->safe_psql('app', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION public.nap(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT pg_catalog.pg_sleep((state->>'secs')::float8); SELECT '{"n": 1}'::jsonb $$;
    SELECT sg_create_graph('nap', '{"n": "add", "secs": "replace"}');
    SELECT sg_add_node('nap', 'nap', 'public.nap(jsonb)');
    SELECT sg_add_edge('nap', '__start__', 'nap');
    SELECT sg_add_edge('nap', 'nap', '__end__');
    SELECT sg_compile('nap');
});
	$node->safe_psql('app', held_graph_sql());
}

# the client session connected to app
my $session;

# a run of $secs s in app, once its step executes: its id and its worker's pid
sub busy_run
{
	my ($thread, $secs) = @_;
	my $rid = $node->safe_psql('app', qq{SELECT sg_submit('nap', '{"secs": $secs}', '$thread')});
	ok($node->poll_query_until('postgres', qq{SELECT count(*) = 1 FROM pg_stat_activity
        WHERE backend_type = 'stategraph worker' AND datname = 'app' AND wait_event = 'PgSleep'}),
		"the step of run $thread executes");
	my $pid = $node->safe_psql('postgres', qq{SELECT pid FROM pg_stat_activity
        WHERE backend_type = 'stategraph worker' AND datname = 'app' AND wait_event = 'PgSleep'});
	return ($rid, $pid);
}

# a run of graph held in app, its step holding on until untouched lets go
# of the session's lock: its id and its worker's pid
sub held_run
{
	my ($thread) = @_;
	return held_step_executes($node, $session, 'app', $thread);
}

# the interrupted statement left the busy worker of held_run alone, and its
# run ends in its first attempt once the session lets the lock go
sub untouched
{
	my ($rid, $pid, $what) = @_;
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'app'}), '1',
		"$what: app is still there");
	held_run_untouched($node, $session, 'app', $rid, $pid, $what);
	return;
}

make_app();
$session = $node->background_psql('app');
$session->set_query_timer_restart;
$session->query_safe('SELECT 1');

# 1. DROP DATABASE cancelled during its wait for the session
my ($rid, $pid) = held_run('t1');
my ($dout, $derr) = ('', '');
my $dropper = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-d', $node->connstr('postgres'), '-c', 'DROP DATABASE app' ],
	'>', \$dout, '2>', \$derr);
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
    WHERE query = 'DROP DATABASE app' AND state = 'active'}), 'DROP DATABASE is under way');
usleep(500_000);	# within the hook's 5 s wait
is($node->safe_psql('postgres', q{SELECT count(pg_catalog.pg_cancel_backend(pid)) FROM pg_stat_activity
    WHERE query = 'DROP DATABASE app' AND state = 'active'}), '1', 'the drop is cancelled');
$dropper->finish;
like($derr, qr/57014: canceling statement due to user request/, 'DROP DATABASE ends with 57014');
untouched($rid, $pid, 'cancelled DROP DATABASE');

# 2. ALTER DATABASE RENAME ended by statement_timeout during its wait
($rid, $pid) = held_run('t2');
my ($rc, $out, $err) = $node->psql('postgres', "SET statement_timeout = '1s'; ALTER DATABASE app RENAME TO app2",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/57014: canceling statement due to statement timeout/, 'RENAME ends with a statement timeout');
untouched($rid, $pid, 'RENAME cut by statement_timeout');

# 3. DROP DATABASE on a logical replication connection (a walsender runs
# the statement), nobody else connected: dropped, workers gone
$session->quit;
($rid, $pid) = busy_run('t3', 30);
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE app', replication => 'database');
is($rc, 0, 'DROP DATABASE on a replication connection succeeds') or diag($err);
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'app'}), '0', 'app is dropped');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_stat_activity
    WHERE backend_type = 'stategraph worker'}), 'no worker of app is left');

done_testing();
