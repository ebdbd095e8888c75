# The 0.2.0 library with shared_preload_libraries and a database whose
# extension is still at 0.1.0 (no stategraph.runs): its worker leaves the
# database quietly (one LOG line) instead of logging `relation
# "stategraph.runs" does not exist` every minute and keeping its slot, and
# ALTER EXTENSION stategraph UPDATE brings a worker there without a restart.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGLifecycle;

my $node = sg_cluster('w010');
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION stategraph VERSION '0.1.0';
CREATE FUNCTION inc(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('g', '{"n": "add"}');
SELECT sg_add_node('g', 'a', 'inc(jsonb)');
SELECT sg_add_edge('g', '__start__', 'a');
SELECT sg_add_edge('g', 'a', '__end__');
SELECT sg_compile('g');
});
# a restart: the launcher starts a worker for every database, this one too
my $log_from = -s $node->logfile;
$node->restart;
my $waited = 0;
sleep 1 while ++$waited < 60
	&& slurp_file($node->logfile, $log_from) !~ /has no background runs|stategraph\.runs" does not exist/;
sleep 8;	# (before the fix: errors after 1 s, 2 s, 4 s)
my $log = slurp_file($node->logfile, $log_from);
is(scalar(() = $log =~ /relation "stategraph\.runs" does not exist/g), 0,
	'no worker error about stategraph.runs on a 0.1.0 database');
is(scalar(() = $log =~ /stategraph worker leaves database \d+: its extension \(version 0\.1\.0\) has no background runs/g), 1,
	'one LOG line says the worker leaves it');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
    WHERE datname = 'postgres' AND backend_type = 'stategraph worker'}),
	'0', 'and no worker stays in the database');

# the update asks for a worker there again: a submitted run finishes
$node->safe_psql('postgres', 'ALTER EXTENSION stategraph UPDATE');
my $run = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 1}', 't1')});
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$run', '60 s')"), 'success',
	'after ALTER EXTENSION UPDATE a background run finishes without a restart');
is($node->safe_psql('postgres', q{SELECT "values" ->> 'n' FROM sg_get_state('t1')}), '2',
	'with its result');
$log = slurp_file($node->logfile, $log_from);
is(scalar(() = $log =~ /relation "stategraph\.runs" does not exist/g), 0, 'still no such error');

$node->stop;
done_testing();
