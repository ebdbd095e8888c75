# Claims read the queue (the runs_todo index, by due time and seq) from
# claim_from, the due time of the first run they last found pending or
# running (worker.c), not from its start: every finished run leaves dead
# index entries before the live ones until VACUUM, and claims that read
# them all grew slower with every run since the last VACUUM. Nor do they
# read runs delayed far ahead (sg_submit's after). The start must never pass a run that becomes
# claimable after it moved: a run whose submitting transaction commits
# late, a waiting run whose external task completes, a waiting run
# cancelled. Each case here would wait for the next sweep (an hour) if its
# commit did not lower claim_from. Autovacuum is off, so the dead entries
# stay; pg_stat_statements (updated as each statement ends, workers' too)
# gives the buffers a claim's candidate scan reads.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('claim_from', <<'CONF');
shared_preload_libraries = 'stategraph,pg_stat_statements'
pg_stat_statements.track = all
autovacuum = off
stategraph.max_workers = 2
stategraph.sweep_interval = 3600
CONF
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE EXTENSION pg_stat_statements;
    CREATE FUNCTION note(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"done": true}'::jsonb $$;
    SELECT sg_create_graph('g', '{"n": "replace", "done": "replace"}');
    SELECT sg_add_node('g', 'a', 'note(jsonb)');
    SELECT sg_add_edge('g', '__start__', 'a');
    SELECT sg_add_edge('g', 'a', '__end__');
    SELECT sg_compile('g');
    SELECT sg_create_graph('x', '{"n": "replace"}');
    SELECT sg_add_external_node('x', 'model', 'xq');
    SELECT sg_add_edge('x', '__start__', 'model');
    SELECT sg_add_edge('x', 'model', '__end__');
    SELECT sg_compile('x');
});

# finished within the poll's timeout (3 minutes by default; the next sweep is an hour away)
sub finished
{
	my ($run_id, $status, $what) = @_;
	ok($node->poll_query_until('postgres', "SELECT status FROM sg_runs() WHERE run_id = '$run_id'", $status),
		$what);
}

# 1. 10,000 finished runs, their dead index entries kept (no VACUUM)
$node->safe_psql('postgres', q{SELECT count(sg_submit('g', jsonb_build_object('n', i))) FROM generate_series(1, 10000) i});
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM sg_runs() WHERE status <> 'success'}, '0'),
	'10,000 runs finish');
my $dead = $node->safe_psql('postgres', q{SELECT pg_relation_size('stategraph.runs_todo') / 8192});
note("runs_todo: $dead pages");
# The first claim after the batch reads its entries once (they share one due
# time, where the claims of the batch left claim_from), and on a loaded
# machine the next may too, when a submit commits between a claim's start
# and its move of claim_from: measured from the second run on, as TAP 068.
my $first = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 0}')});
$node->safe_psql('postgres', qq{SELECT sg_wait('$first')});
$node->safe_psql('postgres', 'SELECT pg_stat_statements_reset()');
for my $i (1 .. 40)
{
	$node->safe_psql('postgres', "SELECT sg_submit('g', '{\"n\": $i}')");
}
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM sg_runs() WHERE status <> 'success'}, '0'),
	'40 more runs finish');
my $per_claim = claim_scan_buffers($node);
note("candidate scan: $per_claim buffers per call, runs_todo $dead pages");
cmp_ok($per_claim, '<', 8, 'a claim reads a few pages of the queue, not the dead entries of 10,000 finished runs');

# 1b. 5,000 runs delayed an hour, queued before others: claims do not read them
$node->safe_psql('postgres', q{SELECT count(sg_submit('g', jsonb_build_object('n', i), after => '1 hour')) FROM generate_series(1, 5000) i});
$node->safe_psql('postgres', 'SELECT pg_stat_statements_reset()');
my $done = $node->safe_psql('postgres', q{SELECT count(*) FROM sg_runs() WHERE status = 'success'});
for my $i (1 .. 40)
{
	$node->safe_psql('postgres', "SELECT sg_submit('g', '{\"n\": $i}')");
}
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM sg_runs() WHERE status = 'success'}, $done + 40),
	'40 runs queued behind 5,000 delayed ones finish');
$per_claim = claim_scan_buffers($node);
note("candidate scan with 5,000 delayed runs: $per_claim buffers per call");
cmp_ok($per_claim, '<', 8, 'a claim does not read the runs delayed an hour');
$node->safe_psql('postgres', q{SELECT count(sg_cancel(run_id)) FROM sg_runs() WHERE status = 'pending'});

# 2. a run whose submitting transaction commits after later runs were claimed
my $late = $node->background_psql('postgres');
my $late_id = $late->query_safe(q{BEGIN; SELECT sg_submit('g', '{"n": -1}', thread_id => 'late')});
$late_id =~ s/\s+//g;
$node->safe_psql('postgres', q{SELECT count(sg_submit('g', jsonb_build_object('n', i))) FROM generate_series(1, 50) i});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM sg_runs() WHERE status IN ('pending', 'running') AND thread_id <> 'late'}, '0'),
	'the runs submitted after it, committed first, finish');
$late->query_safe('COMMIT');
$late->quit;
finished($late_id, 'success', 'the run whose submit committed last is claimed at once');

# 3. a waiting run whose external task completes after later runs were claimed
my $waiting = $node->safe_psql('postgres', q{SELECT sg_submit('x', '{"n": 1}', thread_id => 'ext')});
finished($waiting, 'waiting', 'a run waits for its external task');
$node->safe_psql('postgres', q{SELECT count(sg_submit('g', jsonb_build_object('n', i))) FROM generate_series(1, 50) i});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM sg_runs() WHERE status IN ('pending', 'running')}, '0'),
	'later runs finish');
$node->safe_psql('postgres', q{
	SELECT sg_complete(task_id, token, '{"n": 2}') FROM sg_claim('xq', 'w', 1)});
finished($waiting, 'success', 'the run whose task completed goes on at once');

# 4. a waiting run cancelled after later runs were claimed
$waiting = $node->safe_psql('postgres', q{SELECT sg_submit('x', '{"n": 1}', thread_id => 'ext2')});
finished($waiting, 'waiting', 'another run waits for its external task');
$node->safe_psql('postgres', q{SELECT count(sg_submit('g', jsonb_build_object('n', i))) FROM generate_series(1, 50) i});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM sg_runs() WHERE status IN ('pending', 'running')}, '0'),
	'later runs finish');
is($node->safe_psql('postgres', "SELECT sg_cancel('$waiting')"), 't', 'the waiting run is cancelled');
finished($waiting, 'cancelled', 'a worker stops it at once');

done_testing();
