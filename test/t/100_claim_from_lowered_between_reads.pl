# A claim that has read 10,000 runs queued behind waiting runs reads on
# from where they end (claim_run), and raises claim_from (where claims
# start reading) as it goes, but only if no commit lowered claim_from since
# the claim read the queue's generation before its first snapshot: such a
# commit (a waiting run pending again, a run queued) may have made a run
# before claim_from claimable. The claim read the generation again before
# reading on, and its raises then went through: claim_from passed the run
# made claimable during its first 10,000, which waited for the next sweep
# (an hour here). Here a waiting run's task completes while a worker's
# claim reads 40,000 such runs (on as many threads, rows written as a
# restore does); the run, pending again, must go on.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('claim_from_lowered_between_reads', <<'CONF');
stategraph.max_workers = 1
stategraph.sweep_interval = 3600
CONF
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph;' . ext_graph_sql());

my $wa = $node->safe_psql('postgres', q{SELECT sg_submit('ext', '{}', 'a')});
ok(true_within($node, 30, qq{SELECT status = 'waiting' FROM stategraph.runs WHERE run_id = '$wa'}), 'run a waits for its task');
$node->safe_psql('postgres', q{CREATE TABLE toks AS SELECT task_id, token FROM sg_claim('q', 'test', 1)});
# queued behind it, due first
$node->safe_psql('postgres', q{SELECT sg_submit('ext', '{}', 'a', multitask => 'enqueue')});
# 40,000 threads with a waiting run and a run queued behind it
$node->safe_psql('postgres', q{
    INSERT INTO stategraph.runs (run_id, thread_id, graph, recursion_limit, multitask, status, not_before)
    SELECT gen_random_uuid(), 'f' || i, 'ext', 25, 'enqueue', s::stategraph.run_status, clock_timestamp()
    FROM generate_series(1, 40000) i, unnest(ARRAY['waiting', 'pending']) s});
# a run due after them, waiting for its task too
my $zz = $node->safe_psql('postgres', q{SELECT sg_submit('ext', '{}', 'zz')});
ok(true_within($node, 60, qq{SELECT status = 'waiting' FROM stategraph.runs WHERE run_id = '$zz'}), 'run zz waits for its task');

# Its cancel sends claims back to the start: the worker's claim reads the
# 40,000 (past 10,000, on from where they end) to take zz's stop; meanwhile
# a's task completes, and run a is pending again.
$node->safe_psql('postgres', qq{SELECT sg_cancel('$zz')});
select(undef, undef, undef, 0.3);
$node->safe_psql('postgres', q{SELECT sg_complete(t.task_id, t.token, '{"answer": "yes"}') FROM toks t});
ok(true_within($node, 60, qq{SELECT status = 'cancelled' FROM stategraph.runs WHERE run_id = '$zz'}), 'run zz is stopped');
ok(true_within($node, 20, qq{SELECT status = 'success' FROM stategraph.runs WHERE run_id = '$wa'}),
	'run a, pending again while a claim read on, goes on');

$node->stop;
done_testing();
