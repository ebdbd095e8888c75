# A worker keeps its database's extension OID across its transactions
# (start_worker_transaction; a relcache callback on stategraph.runs forgets
# it). The extension dropped and created again while the worker idles,
# in one transaction or in two, and behind a flood of invalidations (a
# reset of the worker's caches): the same worker runs the next run on the
# new extension, with no error in the log; a plain DROP EXTENSION still
# makes it leave.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('recreated', "stategraph.max_workers = 1\n");
my $graph = "CREATE EXTENSION stategraph;\n" . one_node_graph_sql('g');
$node->safe_psql('postgres', $graph);

sub run_ok
{
	my ($thread, $name) = @_;
	my $run = $node->safe_psql('postgres', "SELECT sg_submit('g', '{}', '$thread')");
	my $st = $node->safe_psql('postgres', "SELECT status FROM sg_wait('$run', '60 s')");
	is($st, 'success', $name);
}

sub worker_pid
{
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND datname = 'postgres'");
}

my $drop_graph = "DROP EXTENSION stategraph CASCADE; DROP FUNCTION IF EXISTS one(jsonb);\n";

run_ok('t1', 'a first run');
my $pid = worker_pid();
ok($pid ne '', 'a worker serves the database');

# drop and create in one transaction: the old runs table's relcache
# invalidation reaches the worker at its next transaction
$node->safe_psql('postgres', "BEGIN;\n$drop_graph$graph\nCOMMIT;");
run_ok('t2', 'a run after DROP and CREATE EXTENSION in one transaction');
is(worker_pid(), $pid, 'the same worker ran it');

# two transactions, then a flood of invalidations (the idle worker's
# sinval queue overflows: its caches are reset)
$node->safe_psql('postgres', $drop_graph);
$node->safe_psql('postgres', $graph);
$node->safe_psql('postgres', q{
    DO $$ BEGIN FOR i IN 1..3000 LOOP EXECUTE format('CREATE TABLE zz%s (a int)', i); END LOOP; END $$;
    DO $$ BEGIN FOR i IN 1..3000 LOOP EXECUTE format('DROP TABLE zz%s', i); END LOOP; END $$;
});
run_ok('t3', 'a run after DROP and CREATE EXTENSION, and a reset of the caches');

# a plain DROP EXTENSION: the worker leaves
$node->safe_psql('postgres', $drop_graph);
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND datname = 'postgres'"),
	'the worker leaves after DROP EXTENSION');
$node->safe_psql('postgres', $graph);
run_ok('t4', 'a worker comes back with CREATE EXTENSION');

my $log = slurp_file($node->logfile);
unlike($log, qr/ERROR|FATAL/, 'no error in the server log');

done_testing();
