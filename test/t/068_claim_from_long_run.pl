# A run that a background worker executes for a long time, or a run queued
# behind it on its thread ('enqueue'), does not make every claim meanwhile
# read the dead index entries of all the runs that ended after it began.
# Claims read the queue from claim_from, the due time of the first run they
# found pending or running; such runs kept it back for as long as the long
# run ran. Now a claim passes the running runs that live workers execute
# and the runs queued behind them (worker.c, sg_worker_executes_run and
# _thread); the end of a run lowers claim_from to its thread's next run,
# and a worker that leaves during a run (terminated: a FATAL error) to the
# queue's start, so that either run is taken up at once rather than at the
# next sweep (an hour here).
# Autovacuum is off, so the dead entries stay; pg_stat_statements gives
# the buffers a claim's candidate scan reads (as in TAP 045).
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('claim_from_long', <<'CONF');
shared_preload_libraries = 'stategraph,pg_stat_statements'
pg_stat_statements.track = all
autovacuum = off
stategraph.max_workers = 3
stategraph.sweep_interval = 3600
CONF
go_graphs($node);
$node->safe_psql('postgres', 'CREATE EXTENSION pg_stat_statements');

# 1. two long runs, each executed by one of the three workers; a run is
# queued behind the second on its thread
my $long = $node->safe_psql('postgres', q{SELECT sg_submit('long', '{}', 'long-1')});
my $chat = $node->safe_psql('postgres', q{SELECT sg_submit('long', '{}', 'chat')});
my $queued = $node->safe_psql('postgres', q{SELECT sg_submit('long', '{}', 'chat', multitask => 'enqueue')});
ok($node->poll_query_until('postgres',
	qq{SELECT count(*) = 2 FROM pg_stat_activity WHERE application_name IN ('stategraph run $long', 'stategraph run $chat')}),
	'two workers execute the long runs');

# 2. meanwhile 10,000 runs finish (their dead index entries kept: no VACUUM)
$node->safe_psql('postgres', q{SELECT count(sg_submit('g', jsonb_build_object('n', i))) FROM generate_series(1, 10000) i});
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM sg_runs() WHERE status <> 'success' AND graph = 'g'}, '0'),
	'10,000 runs finish while the long runs run');
# (the first claim after them reads their entries once, as in TAP 045;
# the long run's open transaction keeps them from being marked dead)
my $first = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 0}')});
$node->safe_psql('postgres', qq{SELECT sg_wait('$first')});
$node->safe_psql('postgres', 'SELECT pg_stat_statements_reset()');
for my $i (1 .. 40)
{
	$node->safe_psql('postgres', "SELECT sg_submit('g', '{\"n\": $i}')");
}
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM sg_runs() WHERE status <> 'success' AND graph = 'g'}, '0'),
	'40 more runs finish');
my $per_claim = claim_scan_buffers($node);
my $pages = $node->safe_psql('postgres', q{SELECT pg_relation_size('stategraph.runs_todo') / 8192});
note("candidate scan: $per_claim buffers per call, runs_todo $pages pages");
cmp_ok($per_claim, '<', 8,
	'a claim reads a few pages of the queue, not the dead entries of the 10,000 runs that ended during the long runs');
is($node->safe_psql('postgres', qq{SELECT string_agg(status, ' ' ORDER BY seq) FROM stategraph.runs WHERE run_id IN ('$long', '$chat', '$queued')}),
	'running running pending', 'the long runs are still running, the queued run waits');

# 3. the long run of thread chat ends: the run queued behind it starts at once
$node->safe_psql('postgres', q{INSERT INTO go VALUES ('chat')});
ok($node->poll_query_until('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$queued'}, 'success'),
	'the run queued behind the long run of its thread ran once that ended');

# 4. the worker of the other long run is terminated: the run is taken up again at once (not at
# the sweep, an hour away), and ends once let go
my $pid = $node->safe_psql('postgres',
	qq{SELECT pid FROM pg_stat_activity WHERE application_name = 'stategraph run $long'});
$node->safe_psql('postgres', qq{SELECT pg_terminate_backend($pid)});
ok($node->poll_query_until('postgres',
	qq{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'stategraph run $long' AND pid <> $pid}),
	'another worker took the long run up again after its worker was terminated');
$node->safe_psql('postgres', q{INSERT INTO go VALUES ('long-1')});
ok($node->poll_query_until('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$long'}, 'success'),
	'the long run ends');
is($node->safe_psql('postgres', qq{SELECT recoveries FROM stategraph.runs WHERE run_id = '$long'}), '1',
	'counted as one recovery');

$node->stop;
done_testing();
