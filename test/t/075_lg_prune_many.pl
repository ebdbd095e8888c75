# The LangGraph.js saver's removals of many threads in one statement, with
# the default max_locks_per_transaction (64: a shared lock table of some
# 7,000 entries for the whole server). Each removal took its thread's
# writers' lock (lg_lock_thread) and kept it until commit, one entry per
# thread: a prune (sg_lg_prune) or deleteForRuns (sg_lg_delete_for_runs) of
# 20,000 threads, sg_delete_thread of each of 20,000 threads or sg_prune of
# each of 10,000 in one statement, and a retention sweep's batch of 20,000
# (stategraph.sweep_limit) failed with "out of shared memory" (53200). Now
# a removal lets go of each thread's lock once it has removed its rows (at
# most a batch of 100 are held at a time).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('lg_prune_many');
$node->init;
$node->start;
is($node->safe_psql('postgres', 'SHOW max_locks_per_transaction'), '64', 'the default lock table');
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    -- n LangGraph.js threads prefix-1..n, each of two root checkpoints of run 'r-' || prefix
    CREATE FUNCTION lg_threads(prefix text, n int) RETURNS bigint LANGUAGE sql AS $$
        INSERT INTO stategraph.lg_checkpoints (thread_id, checkpoint_id, parent_checkpoint_id, checkpoint, metadata, blobs)
        SELECT prefix || '-' || i, ('1ef00000-0000-6000-8000-00000000000' || k)::uuid,
               CASE WHEN k = 2 THEN '1ef00000-0000-6000-8000-000000000001'::uuid END,
               '{"v": 4}', jsonb_build_object('source', 'loop', 'step', k, 'run_id', 'r-' || prefix), '{}'
          FROM generate_series(1, n) i, generate_series(1, 2) k;
        SELECT count(*) FROM stategraph.lg_checkpoints WHERE thread_id LIKE prefix || '-%' $$;
    CREATE FUNCTION lg_ids(prefix text, n int) RETURNS text[] LANGUAGE sql AS $$
        SELECT array_agg(prefix || '-' || i) FROM generate_series(1, n) i $$;
    CREATE FUNCTION lg_left(prefix text) RETURNS bigint LANGUAGE sql AS $$
        SELECT count(*) FROM stategraph.lg_checkpoints WHERE thread_id LIKE prefix || '-%' $$;
});

my $n = 20000;
my ($ret, $out, $err);

$node->safe_psql('postgres', "SELECT lg_threads('keep', $n)");
($ret, $out, $err) = $node->psql('postgres', "SELECT sg_lg_prune(lg_ids('keep', $n), 'keep_latest')");
is($out, $n, "prune(keep_latest) of $n threads in one statement") or diag($err);
is($node->safe_psql('postgres', "SELECT lg_left('keep')"), $n, 'each keeps its newest checkpoint');

$node->safe_psql('postgres', "SELECT lg_threads('del', $n)");
($ret, $out, $err) = $node->psql('postgres', "SELECT sg_lg_prune(lg_ids('del', $n), 'delete')");
is($out, 2 * $n, "prune(delete) of $n threads in one statement") or diag($err);

$node->safe_psql('postgres', "SELECT lg_threads('runs', $n)");
($ret, $out, $err) = $node->psql('postgres', "SELECT sg_lg_delete_for_runs(ARRAY['r-runs'])");
is($out, 2 * $n, "deleteForRuns of a run with checkpoints in $n threads") or diag($err);

$node->safe_psql('postgres', "SELECT lg_threads('sgd', $n)");
($ret, $out, $err) = $node->psql('postgres',
	"SELECT count(sg_delete_thread(t)) FROM unnest(lg_ids('sgd', $n)) t");
is($out, $n, "sg_delete_thread of $n LangGraph.js threads in one statement") or diag($err);
is($node->safe_psql('postgres', "SELECT lg_left('sgd')"), '0', 'they are gone');

# (10,000: each sg_prune of one LangGraph.js thread takes some milliseconds)
my $m = 10000;
$node->safe_psql('postgres', "SELECT lg_threads('sgp', $m)");
($ret, $out, $err) = $node->psql('postgres',
	"SELECT sum(sg_prune(keep_last => 1, thread_id => t)) FROM unnest(lg_ids('sgp', $m)) t");
is($out, $m, "sg_prune of each of $m LangGraph.js threads in one statement") or diag($err);

# sg_prune of every thread: it held no lock per thread already (it relies
# on the puts' locks of the checkpoints they extend)
$node->safe_psql('postgres', "SELECT lg_threads('all', $n)");
($ret, $out, $err) = $node->psql('postgres', 'SELECT sg_prune(keep_last => 1)');
is($out, $n, "sg_prune of every thread ($n LangGraph.js threads)") or diag($err);

# the retention sweep of 20,000 expired threads with sweep_limit 20,000: a
# batch tries 30 threads at most now whatever sweep_limit says
# (SG_SWEEP_BATCH_THREADS, TAP 105), so the round of batches is what runs
$node->safe_psql('postgres', "SELECT lg_threads('old', $n)");
$node->safe_psql('postgres', q{
    UPDATE stategraph.lg_checkpoints SET created_at = now() - interval '2 days' WHERE thread_id LIKE 'old-%';
    SELECT sg_set_retention(NULL, interval '1 day', 'delete');
});
($ret, $out, $err) = $node->psql('postgres', "SET stategraph.sweep_limit = $n; CALL sg_work(0)");
is($ret, 0, "a sweep of $n expired threads") or diag($err);
is($node->safe_psql('postgres', "SELECT lg_left('old')"), '0', 'the sweep deleted them all');

$node->stop('fast');
done_testing();
