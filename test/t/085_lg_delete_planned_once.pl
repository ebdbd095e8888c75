# deleteThread (sg_lg_delete_thread), sg_delete_thread of a LangGraph.js
# thread and the retention sweep delete one thread with a kept scalar
# statement, planned once per session (the plan cache's first custom
# plans, then its generic one), as lg_hold_owner and lg_drop_strays do:
# the = ANY form of a one-element array, one-off, was planned again at
# every call. Counted with pg_stat_statements (track_planning).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = planned_node('lg_delete_planned_once');
$node->safe_psql('postgres', q{
    CREATE FUNCTION lgput(thread text) RETURNS boolean LANGUAGE sql AS $$
        SELECT sg_lg_put(thread, '', NULL,
            jsonb_build_object('v', 4, 'id', '1ef00000-0000-6000-8000-000000000001', 'ts', 'x',
                               'channel_values', jsonb_build_object('m', '["a message long enough to be a row of its own"]'::jsonb),
                               'channel_versions', jsonb_build_object('m', 1), 'versions_seen', jsonb_build_object()),
            jsonb_build_object('source', 'input', 'step', -1), jsonb_build_object('m', 1)) IS NOT NULL $$;
});

# calls and plans of the delete of LangGraph.js threads' rows, since the last reset
sub delete_counts
{
	return $node->safe_psql('postgres', q{
		SELECT COALESCE(sum(calls), 0) || ' ' || COALESCE(sum(plans), 0) FROM pg_stat_statements
		 WHERE query LIKE 'WITH b AS (DELETE FROM stategraph.lg_blobs WHERE thread_id%'});
}

my $n = 50;
for my $how ('sg_lg_delete_thread', 'sg_delete_thread')
{
	$node->safe_psql('postgres', "SELECT count(lgput('$how-' || i)) FROM generate_series(1, $n) i");
	$node->safe_psql('postgres', 'SELECT pg_stat_statements_reset()');
	$node->safe_psql('postgres', "SELECT count($how('$how-' || i)) FROM generate_series(1, $n) i");
	my ($calls, $plans) = split / /, delete_counts();
	is($calls, $n, "$how: $n deletes");
	cmp_ok($plans, '<=', 6, "$how: planned once (five custom plans, then the generic one), not at every call");
	is($node->safe_psql('postgres', "SELECT count(*) FROM stategraph.lg_checkpoints WHERE thread_id LIKE '$how-%'"),
		'0', "$how: the threads are gone");
}

# the sweep's deletes of expired threads
$node->safe_psql('postgres', "SELECT count(lgput('old-' || i)) FROM generate_series(1, $n) i");
$node->safe_psql('postgres', q{
    UPDATE stategraph.lg_checkpoints SET created_at = now() - interval '2 days';
    SELECT sg_set_retention(NULL, interval '1 day', 'delete');
    SELECT pg_stat_statements_reset();
});
$node->safe_psql('postgres', 'CALL sg_work(0)');	# a round of batches (30 threads a batch at most)
my ($calls, $plans) = split / /, delete_counts();
is($calls, $n, "the sweep: $n deletes");
cmp_ok($plans, '<=', 6, 'the sweep: planned once, not at every thread');
is($node->safe_psql('postgres', 'SELECT count(*) FROM stategraph.lg_checkpoints'), '0', 'the sweep: the threads are gone');

$node->stop('fast');
done_testing();
