# The retention sweep of LangGraph.js threads, once it holds a batch's
# threads (at most 30) and their rows, looks at them again (written since
# they were listed?) and checks the router's holds of their partitions in
# one statement of each kind for the batch, not one for each thread:
# those per-thread statements, whose start and end cost more than the few
# rows they read, made the sweep slower than the build before
# (test/bench/RESULTS.md, "The sweep's deletes mended"). Counted with
# pg_stat_statements.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = planned_node('lg_sweep_statements');
$node->safe_psql('postgres', q{
    CREATE FUNCTION lgput(thread text) RETURNS boolean LANGUAGE sql AS $$
        SELECT sg_lg_put(thread, '', NULL,
            jsonb_build_object('v', 4, 'id', '1ef00000-0000-6000-8000-000000000001', 'ts', 'x',
                               'channel_values', jsonb_build_object('m', '["a message"]'::jsonb),
                               'channel_versions', jsonb_build_object('m', 1), 'versions_seen', jsonb_build_object()),
            jsonb_build_object('source', 'input', 'step', -1), jsonb_build_object('m', 1)) IS NOT NULL $$;
});

my $n = 90;
$node->safe_psql('postgres', "SELECT count(lgput('old-' || i)) FROM generate_series(1, $n) i");
$node->safe_psql('postgres', "SELECT count(lgput('new-' || i)) FROM generate_series(1, 5) i");
$node->safe_psql('postgres', q{
    UPDATE stategraph.lg_checkpoints SET created_at = now() - interval '2 days' WHERE thread_id LIKE 'old-%';
    SELECT sg_set_retention(NULL, interval '1 day', 'delete');
    SELECT pg_stat_statements_reset();
});
$node->safe_psql('postgres', 'CALL sg_work(0)');	# a round of batches, 30 threads each at most
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.lg_checkpoints WHERE thread_id LIKE 'old-%'}),
	'0', 'every expired thread is gone');
is($node->safe_psql('postgres', q{SELECT count(DISTINCT thread_id) FROM stategraph.lg_checkpoints WHERE thread_id LIKE 'new-%'}),
	'5', 'the threads written within the ttl stay');

# calls of the sweep's statements of a kind, since the reset
sub calls
{
	my ($where) = @_;
	return $node->safe_psql('postgres', "SELECT COALESCE(sum(calls), 0) FROM pg_stat_statements WHERE $where");
}
my $deletes = calls(q{query LIKE 'WITH b AS (DELETE FROM stategraph.lg_blobs WHERE thread_id%'});
is($deletes, $n, "$n deletes, one for each thread");
# the batch's listing has "thread_id <= $2" (its window's last thread); the look again has not
# (both compare the ttl with "<=" since the sweeps cap it: SG_SWEEP_TTL)
my $again = calls(q{query LIKE 'SELECT l.thread_id, p.strategy%' AND query NOT LIKE '%thread_id OPERATOR(pg_catalog.<=) $2%'});
cmp_ok($again, '>', 0, 'the locked threads are looked at again');
cmp_ok($again, '<=', 6, "looked at again in one statement for each batch ($again), not one for each thread");
my $holds = calls(q{query LIKE '%FROM stategraph.partition_holds h%'});
cmp_ok($holds, '>', 0, "the router's holds are checked");
cmp_ok($holds, '<=', 6, "the router's holds are checked in one statement for each batch ($holds)");

$node->stop('fast');
done_testing();
