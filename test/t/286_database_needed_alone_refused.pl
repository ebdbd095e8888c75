# ALTER DATABASE ... RENAME TO, ALTER DATABASE ... SET TABLESPACE and
# CREATE DATABASE ... TEMPLATE stop the database's workers first (they need
# it with no other session connected; TAP 248) and give them back after.
# Where PostgreSQL refuses the statement anyway (a new name in use, a
# rename without CREATEDB, a read-only transaction, a transaction block),
# or does it without needing the database alone (a move to the tablespace
# it is in already), they were stopped all the same: a run's step in
# progress was killed, taken again by a new worker and counted as a death
# of its worker (stategraph.max_run_recoveries). The hook now tells these
# cases first and stops nothing.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('database_needed_alone_refused');
$node->safe_psql('postgres', q{CREATE ROLE plainowner LOGIN; CREATE DATABASE app OWNER plainowner});
nap_graph($node, 'nap', 'app');

my $n = 0;
# runs $sql in database postgres (as $user if given) while a step of a run
# of app executes: PostgreSQL's error matches $error, and the worker
# executing the step was left alone
sub refused_untouched
{
	my ($sql, $error, $what, $user) = @_;
	$n++;
	my ($rid, $pid) = nap_step_executes($node, 'app', "t$n", 3, "$what: a step executes in app");
	my ($rc, $out, $err) = $node->psql('postgres', $sql, extra_params => [ $user ? ('-U', $user) : () ]);
	like($err, $error, "$what: refused or done by PostgreSQL");
	nap_run_untouched($node, 'app', $rid, $pid, $what);
}

refused_untouched('ALTER DATABASE app RENAME TO postgres', qr/database "postgres" already exists/, 'rename to a name in use');
refused_untouched('CREATE DATABASE postgres TEMPLATE app', qr/database "postgres" already exists/, 'copy to a name in use');
refused_untouched('ALTER DATABASE app RENAME TO app2', qr/permission denied to rename database/,
	'rename by its owner without CREATEDB', 'plainowner');
refused_untouched("BEGIN;\nCREATE DATABASE copy TEMPLATE app;", qr/CREATE DATABASE cannot run inside a transaction block/,
	'copy in a transaction block');
refused_untouched("BEGIN;\nALTER DATABASE app SET TABLESPACE pg_default;",
	qr/ALTER DATABASE SET TABLESPACE cannot run inside a transaction block/, 'move in a transaction block');
refused_untouched("SET default_transaction_read_only = on;\nALTER DATABASE app RENAME TO app2;",
	qr/cannot execute ALTER DATABASE in a read-only transaction/, 'rename in a read-only transaction');
refused_untouched('ALTER DATABASE app SET TABLESPACE pg_default', qr/^$/, 'move to the tablespace it is in');

# a refusal that comes only once the workers are stopped (another session
# connected) gives them back (248's rename to a name in use, which showed
# it, is now told first)
my $session = $node->background_psql('app');
$session->query_safe('SELECT 1');
my ($rc, $out, $err) = $node->psql('postgres', 'ALTER DATABASE app RENAME TO app2');
like($err, qr/database "app" is being accessed by other users/, 'a rename while a session is connected fails');
$session->quit;
ok($node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pg_stat_activity
    WHERE backend_type = 'stategraph worker' AND datname = 'app'}), "app's workers are back");
my $rid = $node->safe_psql('app', q{SELECT sg_submit('nap', '{"secs": 0}', 'back')});
is($node->safe_psql('app', "SELECT status FROM sg_wait('$rid', '30 s')"), 'success', 'a run executes after the failure');

# the statements PostgreSQL does still stop the workers, and give them back
($rc, $out, $err) = $node->psql('postgres', 'ALTER DATABASE app RENAME TO app2');
is($rc, 0, 'a rename by a superuser succeeds') or diag($err);
($rc, $out, $err) = $node->psql('postgres', 'CREATE DATABASE copy TEMPLATE app2');
is($rc, 0, 'a copy succeeds') or diag($err);
$rid = $node->safe_psql('app2', q{SELECT sg_submit('nap', '{"secs": 0}', 'after')});
is($node->safe_psql('app2', "SELECT status FROM sg_wait('$rid', '30 s')"), 'success', 'a run executes after them');
$node->stop;
done_testing();
