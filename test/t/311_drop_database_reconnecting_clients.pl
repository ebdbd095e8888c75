# DROP DATABASE of a database that clients connect to again and again,
# each for a short while (a health check, a pool that opens connections
# on demand, workers that poll with short connections). PostgreSQL's
# dropdb locks the database first (AccessExclusiveLock on the database
# object), and a new connection waits for that lock before it counts as
# connected (InitPostgres): so dropdb's wait sees only the sessions already
# there, which soon leave, and the drop succeeds; the late clients then
# fail with "database does not exist". stategraph's hook waited for the
# other sessions before dropdb (to stop the workers only once they are
# gone) without that lock: the clients kept coming, one was always
# connected, and the owner's DROP DATABASE of a database with stategraph
# workers was refused (55006) where PostgreSQL drops it. The hook now takes
# dropdb's lock before its wait, as do the statements that need the
# database alone (ALTER DATABASE RENAME TO, CREATE DATABASE ... TEMPLATE:
# their own locks, taken by PostgreSQL before its check of the sessions).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGNode;

my $node = preloaded_node('drop_database_reconnecting_clients');
$node->safe_psql('postgres', 'CREATE ROLE dbo LOGIN CREATEDB');
my $stop = PostgreSQL::Test::Utils::tempdir() . '/stop';

# clients of $db, one connection every 0.1 s that stays 0.4 s: until
# $stop exists, one is always connected
sub churn
{
	my ($db) = @_;
	unlink $stop;
	my $connstr = $node->connstr($db);
	my $h = IPC::Run::start(
		[ 'bash', '-c', qq{while [ ! -e '$stop' ]; do psql -XAtq -d "$connstr" -c 'SELECT pg_sleep(0.4)' >/dev/null 2>&1 & sleep 0.1; done; wait} ]);
	ok($node->poll_query_until('postgres', qq{SELECT count(*) >= 2 FROM pg_stat_activity
        WHERE datname = '$db' AND backend_type = 'client backend'}), "clients of $db come and go");
	return $h;
}

sub end_churn
{
	my ($h) = @_;
	open(my $fh, '>', $stop) or die "could not create $stop: $!";
	close($fh);
	$h->finish;
	return;
}

sub drop_as_dbo
{
	my ($db) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', "DROP DATABASE $db",
		extra_params => [ '-U', 'dbo', '-v', 'VERBOSITY=verbose' ]);
	return ($rc, $err);
}

# 1. PostgreSQL alone (a database without stategraph has no workers, and
# the hook leaves its drop to dropdb): dropped
$node->safe_psql('postgres', 'CREATE DATABASE plain OWNER dbo');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_stat_activity
    WHERE datname = 'plain' AND backend_type = 'stategraph worker'}), 'no worker in plain');
my $h = churn('plain');
my ($rc, $err) = drop_as_dbo('plain');
end_churn($h);
is($rc, 0, 'PostgreSQL drops a database that clients keep connecting to') or diag($err);

# 2. the same with stategraph in the database, its worker connected: dropped too
$node->safe_psql('postgres', 'CREATE DATABASE app OWNER dbo');
$node->safe_psql('app', 'CREATE EXTENSION stategraph');
ok($node->poll_query_until('postgres', q{SELECT count(*) >= 1 FROM pg_stat_activity
    WHERE datname = 'app' AND backend_type = 'stategraph worker'}), 'a worker of app is connected');
$h = churn('app');
($rc, $err) = drop_as_dbo('app');
end_churn($h);
is($rc, 0, 'DROP DATABASE of a database with stategraph workers that clients keep connecting to succeeds')
	or diag($err);
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'app'}), '0', 'app is dropped');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'stategraph worker'}),
	'0', 'no worker of app is left');

# 3. ALTER DATABASE RENAME TO (PostgreSQL's AccessExclusiveLock) and
# CREATE DATABASE ... TEMPLATE (its ShareLock) likewise
$node->safe_psql('postgres', 'CREATE DATABASE app OWNER dbo');
$node->safe_psql('app', 'CREATE EXTENSION stategraph');
ok($node->poll_query_until('postgres', q{SELECT count(*) >= 1 FROM pg_stat_activity
    WHERE datname = 'app' AND backend_type = 'stategraph worker'}), 'a worker of the new app is connected');
$h = churn('app');
($rc, my $out, $err) = $node->psql('postgres', 'ALTER DATABASE app RENAME TO app2', extra_params => [ '-U', 'dbo' ]);
end_churn($h);
is($rc, 0, 'ALTER DATABASE RENAME TO succeeds while clients keep connecting') or diag($err);
ok($node->poll_query_until('postgres', q{SELECT count(*) >= 1 FROM pg_stat_activity
    WHERE datname = 'app2' AND backend_type = 'stategraph worker'}), 'app2 has its worker back');
$h = churn('app2');
($rc, $out, $err) = $node->psql('postgres', 'CREATE DATABASE copy TEMPLATE app2', extra_params => [ '-U', 'dbo' ]);
end_churn($h);
is($rc, 0, 'CREATE DATABASE ... TEMPLATE succeeds while clients keep connecting') or diag($err);
$node->stop;
done_testing();
