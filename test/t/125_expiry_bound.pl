# The expiry of finished runs and tasks (after stategraph.run_retention,
# at every sweep batch) compared finished_at with clock_timestamp(), a
# volatile function, which cannot bound an index scan: each batch read all
# of stategraph.runs and all of stategraph.tasks, however few had expired
# (350 ms for a million finished runs, ten of them expired). The time is now
# a parameter, and the statements walk runs_finished and tasks_finished
# from their oldest entries: with 100,000 finished runs and tasks, five of
# each expired, about a hundred pages a sweep (the first plans' catalog
# reads included), not the tables' thousands. Counted with
# pg_stat_statements (track = all: the statements of the sweep).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = planned_node('expiry_bound');
$node->safe_psql('postgres', q{
    INSERT INTO stategraph.runs (run_id, thread_id, graph, recursion_limit, multitask, status, finished_at)
        SELECT gen_random_uuid(), 'th-' || i, 'g', 25, 'reject', 'success',
               now() - CASE WHEN i <= 5 THEN interval '8 days' ELSE i * interval '1 s' END
          FROM generate_series(1, 100000) i;
    INSERT INTO stategraph.tasks (task_id, queue, graph, thread_id, checkpoint_id, node, step, status,
                                  max_attempts, backoff_ms, lease, config, finished_at)
        SELECT 'task-' || i, 'q', 'g', 'th-' || i, gen_random_uuid(), 'n', 1, 'completed', 3, 100, interval '1 min', '{}',
               now() - CASE WHEN i <= 5 THEN interval '8 days' ELSE i * interval '1 s' END
          FROM generate_series(1, 100000) i;
    VACUUM ANALYZE stategraph.runs;
    VACUUM ANALYZE stategraph.tasks;
});
my $runs_pages = $node->safe_psql('postgres', q{SELECT pg_relation_size('stategraph.runs') / 8192});
my $tasks_pages = $node->safe_psql('postgres', q{SELECT pg_relation_size('stategraph.tasks') / 8192});

# pages read by the statements whose text begins so, since the last reset
sub pages
{
	my ($like) = @_;
	return $node->safe_psql('postgres', qq{
        SELECT COALESCE(sum(shared_blks_hit + shared_blks_read), 0) FROM pg_stat_statements WHERE query LIKE '$like'});
}

# two sweeps (the second with the plans kept from the first)
$node->safe_psql('postgres', q{
    SELECT pg_stat_statements_reset();
    CALL sg_work(0);
    CALL sg_work(0);
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs}), '99995', 'the expired runs are gone');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.tasks}), '99995', 'the expired tasks are gone');
my $runs = pages('DELETE FROM stategraph.runs WHERE run_id%');
cmp_ok($runs, '<', $runs_pages / 4, "the runs' expiry read $runs pages in two sweeps, not twice the table's $runs_pages");
my $tasks = pages('DELETE FROM stategraph.tasks WHERE task_id%');
cmp_ok($tasks, '<', $tasks_pages / 4, "the tasks' expiry read $tasks pages in two sweeps, not twice the table's $tasks_pages");

$node->stop('fast');
done_testing();
