# The owner's DROP DATABASE of a database that client sessions stay
# connected to must leave the database's workers alone. PostgreSQL's
# dropdb waits up to 5 s for the other sessions to leave and then refuses
# with 55006 ("database ... is being accessed by other users"), but
# stategraph's hook stopped the database's workers first all the same: a
# run's step in progress was killed, taken again by a new worker and
# counted as a death of its worker, for a drop that did not happen. The
# hook now waits as dropdb would until no session but the workers is
# connected, and stops nothing if some stay. A session that leaves during
# that wait lets the drop go on (the workers stopped after it left), and
# The refusal of DROP DATABASE is made at the end of that wait, with
# dropdb's error: left to dropdb, it came after 5 s more of its own wait.
# WITH (FORCE), which terminates the other sessions, stops the workers
# first as before: a role that is not a superuser may not terminate them
# (they connect as the bootstrap superuser). The statements that need
# the database alone too (ALTER DATABASE ... RENAME TO, CREATE DATABASE ...
# TEMPLATE of it: TAP 248) likewise wait for the other sessions before
# they stop its workers, and stop nothing if some stay (PostgreSQL refuses
# them with 55006 as well).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);
use SGNode;

my $node = preloaded_node('drop_database_sessions_connected');
$node->safe_psql('postgres', 'CREATE ROLE dbo LOGIN CREATEDB');

# database app, owned by dbo, with graph nap whose one step sleeps state.secs
sub make_app
{
	$node->safe_psql('postgres', 'CREATE DATABASE app OWNER dbo');
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

# a run of $secs s submitted in app, once its step executes: its id and its worker's pid
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

# the client session connected to app
my $session;

# a run of graph held in app, its step holding on until untouched lets go
# of the session's lock: its id and its worker's pid
sub held_run
{
	my ($thread) = @_;
	return held_step_executes($node, $session, 'app', $thread);
}

sub app_exists
{
	return $node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'app'});
}

make_app();

# the refused statement left the busy worker of held_run alone, and its run
# ends in its first attempt once the session lets the lock go
sub untouched
{
	my ($rid, $pid, $what) = @_;
	is(app_exists(), '1', "$what: app is still there");
	held_run_untouched($node, $session, 'app', $rid, $pid, $what);
	return;
}

# 1. a client session stays connected while a worker executes a step
$session = $node->background_psql('app');
$session->set_query_timer_restart;	# its timeout for each query, not for the whole session
$session->query_safe('SELECT 1');
my ($rid, $pid) = held_run('t1');
my ($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE app',
	extra_params => [ '-U', 'dbo', '-v', 'VERBOSITY=verbose' ]);
like($err, qr/55006: database "app" is being accessed by other users/,
	'DROP DATABASE is refused (55006) while a client session stays connected');
like($err, qr/DETAIL:  There is 1 other session using the database\./, 'for the one other session');
# refused by stategraph's hook after its 5 s wait, not by dropdb after 5 s more of its own
like($err, qr/LOCATION:  refuse_drop_database_in_use/, 'refused at the end of the first wait, not after a second');
untouched($rid, $pid, 'DROP DATABASE');

# the statements that need the database alone (TAP 248) wait for the session too
($rid, $pid) = held_run('t1r');
($rc, $out, $err) = $node->psql('postgres', 'ALTER DATABASE app RENAME TO app2',
	extra_params => [ '-U', 'dbo', '-v', 'VERBOSITY=verbose' ]);
like($err, qr/55006: database "app" is being accessed by other users/,
	'ALTER DATABASE RENAME TO is refused (55006) while a client session stays connected');
untouched($rid, $pid, 'RENAME');
($rid, $pid) = held_run('t1c');
($rc, $out, $err) = $node->psql('postgres', 'CREATE DATABASE copy TEMPLATE app',
	extra_params => [ '-U', 'dbo', '-v', 'VERBOSITY=verbose' ]);
like($err, qr/55006: source database "app" is being accessed by other users/,
	'CREATE DATABASE ... TEMPLATE is refused (55006) while a client session stays connected');
untouched($rid, $pid, 'TEMPLATE');
$rid = $node->safe_psql('app', q{SELECT sg_submit('nap', '{"secs": 0}', 't1b')});
is($node->safe_psql('app', "SELECT status FROM sg_wait('$rid', '30 s')"), 'success',
	'a new run is done after the refused drop');

# 2. the session leaves while DROP DATABASE waits for it: the drop succeeds
($rid, $pid) = busy_run('t2', 60);
my ($dout, $derr) = ('', '');
my $dropper = IPC::Run::start(
	[ 'psql', '-XAtq', '-U', 'dbo', '-d', $node->connstr('postgres'), '-c', 'DROP DATABASE app' ],
	'>', \$dout, '2>', \$derr);
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
    WHERE query = 'DROP DATABASE app' AND state = 'active'}), 'DROP DATABASE is under way');
usleep(500_000);	# within the 5 s the drop waits
$session->query_safe('SELECT 1');	# still connected
$session->quit;
ok($dropper->finish && $derr eq '', 'DROP DATABASE succeeds once the session has left') or diag($derr);
is(app_exists(), '0', 'app is dropped');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
    WHERE backend_type = 'stategraph worker'}), '0', 'no worker of app is left');

# 3. WITH (FORCE), a session of dbo connected and a run in progress: dropped
make_app();
$session = $node->background_psql('app', extra_params => [ '-U', 'dbo' ]);
$session->query_safe('SELECT 1');
($rid, $pid) = busy_run('t3', 60);
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE app WITH (FORCE)', extra_params => [ '-U', 'dbo' ]);
is($rc, 0, 'DROP DATABASE WITH (FORCE) succeeds with a session connected and a run in progress')
	or diag($err);
is(app_exists(), '0', 'app is dropped');
$session->quit;	# its backend was terminated

# a database that nobody else is connected to is dropped at once, as before
make_app();
($rid, $pid) = busy_run('t4', 60);
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE app', extra_params => [ '-U', 'dbo' ]);
is($rc, 0, 'DROP DATABASE of a database only its workers are connected to succeeds') or diag($err);
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'stategraph worker'}),
	'0', 'no worker left');
$node->stop;
done_testing();
