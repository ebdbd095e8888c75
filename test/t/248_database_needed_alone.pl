# ALTER DATABASE ... RENAME TO, ALTER DATABASE ... SET TABLESPACE and
# CREATE DATABASE ... TEMPLATE need the database with no other session
# connected. A database with stategraph always has a worker connected (the
# first one never leaves; a terminated one is replaced within a second),
# so they failed with 55006 for good. The owner's statement now stops the
# database's workers first, as DROP DATABASE does, and gives the database
# its workers back afterwards, whether the statement succeeded or not.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('database_needed_alone');
$node->safe_psql('postgres', q{CREATE DATABASE app; CREATE ROLE stranger CREATEDB LOGIN});
$node->safe_psql('app', 'CREATE EXTENSION stategraph;' . one_node_graph_sql('g'));

sub worker_in
{
	my ($db) = @_;
	return $node->poll_query_until('postgres', qq{SELECT count(*) > 0 FROM pg_stat_activity
        WHERE backend_type = 'stategraph worker' AND datname = '$db'});
}

sub run_ok
{
	my ($db, $thread, $what) = @_;
	$node->safe_psql($db, qq{SELECT sg_submit('g', '{}', '$thread')});
	ok($node->poll_query_until($db, qq{SELECT status = 'success' FROM sg_runs('$thread')}), $what);
}

ok(worker_in('app'), 'a worker in app');
# a stranger (not the owner) leaves the workers alone: PostgreSQL's own refusal
my ($rc, $out, $err) = $node->psql('postgres', 'ALTER DATABASE app RENAME TO nope', extra_params => [ '-U', 'stranger' ]);
like($err, qr/must be owner/, "a stranger's rename is refused by PostgreSQL");

($rc, $out, $err) = $node->psql('postgres', 'ALTER DATABASE app RENAME TO app2');
is($rc, 0, 'the rename of a database with stategraph workers succeeds') or diag($err);
ok(worker_in('app2'), 'its workers are back');
run_ok('app2', 't1', 'a run executes in the renamed database');

($rc, $out, $err) = $node->psql('postgres', 'CREATE DATABASE copy TEMPLATE app2');
is($rc, 0, 'a database copied from it as a template') or diag($err);
ok(worker_in('app2'), 'its workers are back after the copy');
run_ok('app2', 't2', 'a run executes after the copy');

my $dir = PostgreSQL::Test::Utils::tempdir_short();
$node->safe_psql('postgres', "CREATE TABLESPACE ts LOCATION '$dir'");
($rc, $out, $err) = $node->psql('postgres', 'ALTER DATABASE app2 SET TABLESPACE ts');
is($rc, 0, 'its tablespace moved') or diag($err);
ok(worker_in('app2'), 'its workers are back after the move');
run_ok('app2', 't3', 'a run executes after the move');

# a statement that fails once the workers are gone gives them back too
($rc, $out, $err) = $node->psql('postgres', 'ALTER DATABASE app2 RENAME TO copy');
like($err, qr/already exists/, 'a rename to a name in use fails');
ok(worker_in('app2'), 'its workers are back after the failure');
run_ok('app2', 't4', 'a run executes after the failed rename');

$node->stop;
done_testing();
