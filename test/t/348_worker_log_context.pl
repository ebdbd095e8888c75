# What a DBA reads in the server log of a server whose background runs fail:
# a worker has no client connection, so log_line_prefix's %d (database) and
# %a (application name) are empty for it, and its messages named at most a
# graph and a thread (a node's failure), a run (a failure outside the
# steps) or a database's OID: with the same graph in two databases nobody
# could tell whose failures filled the log, nor which run a shutdown's
# FATAL interrupted. Each message of a worker now ends with a CONTEXT line
# naming the run, its thread and the database (or the database alone, or
# its retention sweep), as autovacuum's name the table. Also bounded: one
# WARNING per failed run (no line per sweep, per retry of a claim, or while
# nothing happens).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('worker_log_context', qq{
stategraph.max_workers = 2
stategraph.sweep_interval = 1
stategraph.worker_idle_timeout = 1
log_min_messages = warning
});
my $n = 40;
my $graph = q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION public.boom(state jsonb) RETURNS jsonb LANGUAGE plpgsql
        AS $$ BEGIN RAISE EXCEPTION 'tool exploded for %', state->>'k'; END $$;}
  . one_step_graph_sql('bad', '{"k": "replace"}', 'a', 'public.boom(jsonb)');
$node->safe_psql('postgres', 'CREATE DATABASE app2');
$node->safe_psql($_, $graph) for qw(postgres app2);

my $log_at = -s $node->logfile;
my %runs;
for my $db (qw(postgres app2))
{
	$runs{$db} = [ split /\n/, $node->safe_psql($db,
		qq{SELECT sg_submit('bad', jsonb_build_object('k', g), 'bad-' || g) FROM generate_series(1, $n) g}) ];
}
for my $db (qw(postgres app2))
{
	ok(true_within($node, 120, q{SELECT count(*) = } . $n . q{ FROM stategraph.runs WHERE status = 'error'}, $db),
		"the $n failing runs of $db end with status error");
}
# some sweeps that find nothing to do, some idle workers leaving
sleep 4;
my $log = substr(slurp_file($node->logfile), $log_at);

my @warnings = $log =~ /WARNING:  node "a" of graph "bad" failed: tool exploded for \d+\n(?:.*DETAIL:.*\n)?.*CONTEXT:  ((?:.*\n)(?:\t.*\n)*)/g;
is(scalar(@warnings), 2 * $n, 'each failed run is logged once, with a CONTEXT line');
for my $db (qw(postgres app2))
{
	my $named = 0;
	for my $rid (@{ $runs{$db} })
	{
		$named++ if grep { /stategraph background run \Q$rid\E of thread "bad-\d+" in database "\Q$db\E"/ } @warnings;
	}
	is($named, $n, "the CONTEXT of each failure of $db names its run, its thread and the database");
}
my $lines = () = $log =~ /^\S+ \S+ \S+ \[\d+\] (?:LOG|WARNING|ERROR|FATAL):/mg;
note("$lines messages logged for " . 2 * $n . ' failed runs');
cmp_ok($lines, '<=', 2 * $n, 'no more than one message per failed run (none per sweep or while idle)');

# a step that a fast shutdown interrupts: its FATAL names the run
$node->safe_psql('postgres', q{
    CREATE FUNCTION public.nap(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT pg_catalog.pg_sleep(60); SELECT '{}'::jsonb $$;}
  . one_step_graph_sql('nap', '{"k": "replace"}', 'a', 'public.nap(jsonb)'));
my $rid = $node->safe_psql('postgres', q{SELECT sg_submit('nap', '{}', 'napping')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
    WHERE backend_type = 'stategraph worker' AND wait_event = 'PgSleep'}), 'a worker executes the step');
$log_at = -s $node->logfile;
$node->stop('fast');
$log = substr(slurp_file($node->logfile), $log_at);
like($log, qr/FATAL:  terminating background worker "stategraph worker" due to administrator command\n(?:.*\n)*?\tstategraph background run \Q$rid\E of thread "napping" in database "postgres"/,
	'the FATAL of a step interrupted by a fast shutdown names its run');

done_testing();
