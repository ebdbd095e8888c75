# A DROP DATABASE (or a statement that needs the database alone: ALTER
# DATABASE ... RENAME TO, TAP 248) first stops the database's workers,
# marking the database as being dropped (shared->dropping: the launcher
# starts no worker there). A statement_timeout or a pg_cancel_backend that
# ended the statement while it waited for the workers to leave left that
# mark, as the hook gave the workers back only for an error of
# PostgreSQL's statement: the database, still there, never got a worker
# again (its runs stayed pending) until a restart, or another database's
# statement replaced the mark. Nor was the mark taken off after a
# DROP DATABASE that succeeded: a database created afterwards with the
# same OID got no worker either.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use SGNode;

my $node = preloaded_node('cancelled_drop_database_workers');
$node->safe_psql('postgres', 'CREATE DATABASE app');
nap_graph($node, 'nap', 'app');

my $n = 0;

# a new run in $db is done within a few seconds (a worker of $db takes it)
sub run_done
{
	my ($db, $what) = @_;
	$n++;
	my $rid = $node->safe_psql($db, qq{SELECT sg_submit('nap', '{"secs": 0}', 't$n')});
	is($node->safe_psql($db, "SELECT status FROM sg_wait('$rid', '5 s')"), 'success', $what);
	return;
}

sub worker_pid
{
	my ($db) = @_;
	return $node->safe_psql('postgres', qq{SELECT pid FROM pg_stat_activity
        WHERE backend_type = 'stategraph worker' AND datname = '$db' LIMIT 1});
}

sub gone
{
	my ($pid) = @_;
	for (1 .. 30)
	{
		return 1 if $node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid") eq '0';
		usleep(100_000);
	}
	return 0;
}

# $sql cut by a statement_timeout of 1 ms, until the timeout lands while
# the hook waits for app's workers to leave (the worker was stopped; it
# may land before, in the hook's own checks, which stop nothing): app
# gets a worker again at once
sub cancelled_while_stopping
{
	my ($sql, $what) = @_;
	my $hit = 0;
	for my $try (1 .. 20)
	{
		run_done('app', "$what (try $try): app has a worker");
		my $pid = worker_pid('app') || 0;
		my ($rc, $out, $err) = $node->psql('postgres', "SET statement_timeout = '1ms';\n$sql",
			extra_params => [ '-v', 'VERBOSITY=verbose' ]);
		like($err, qr/57014: canceling statement due to statement timeout/, "$what (try $try): cut by statement_timeout");
		if (gone($pid))
		{
			$hit = 1;
			last;
		}
	}
	ok($hit, "$what: the timeout landed while app's workers were being stopped");
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'app'}), '1',
		"$what: app is still there");
	run_done('app', "$what: a new run in app is done (app has a worker again)");
	return;
}

# 1. DROP DATABASE
cancelled_while_stopping('DROP DATABASE app', 'DROP DATABASE cancelled');

# 2. ALTER DATABASE ... RENAME TO (a restart first: shared memory anew,
# so that this case fails or passes on its own)
$node->restart;
cancelled_while_stopping('ALTER DATABASE app RENAME TO app2', 'RENAME cancelled');

# 3. a DROP DATABASE that succeeds, then a database with the same OID
$node->restart;
run_done('app', 'app has a worker');
my $oid = $node->safe_psql('postgres', q{SELECT oid FROM pg_database WHERE datname = 'app'});
my ($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE app');
is($rc, 0, 'DROP DATABASE app succeeds') or diag($err);
$node->safe_psql('postgres', "CREATE DATABASE app3 OID = $oid");
is($node->safe_psql('postgres', q{SELECT oid FROM pg_database WHERE datname = 'app3'}), $oid,
	'app3 has the OID app had');
nap_graph($node, 'nap', 'app3');
run_done('app3', 'a run in the database with the dropped one\'s OID is done');

# and a plain DROP DATABASE of it still stops its workers and drops it
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE app3');
is($rc, 0, 'DROP DATABASE app3 succeeds') or diag($err);
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_stat_activity
    WHERE backend_type = 'stategraph worker'}), 'no worker of app3 is left');

$node->stop;
done_testing();
