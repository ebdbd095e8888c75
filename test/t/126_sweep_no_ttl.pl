# Without a ttl (no sg_set_retention, the usual case) no thread expires,
# yet every sweep passed over all of stategraph.threads window by window,
# listing their expired ones (1.3 s for 200,000 threads, every
# stategraph.sweep_interval). The sweep now asks whether any retention
# policy sets a ttl first, as the LangGraph.js sweep did: with 20,000
# threads it reads none of them; once a ttl is set, it passes over them and
# removes the expired ones. Counted with pg_stat_statements (track = all).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = planned_node('sweep_no_ttl');
$node->safe_psql('postgres', q{
    INSERT INTO stategraph.threads (thread_id, graph, channels, updated_at)
        SELECT 'th-' || i, 'g', '{}', now() - CASE WHEN i <= 5 THEN interval '2 days' ELSE interval '0' END
          FROM generate_series(1, 20000) i;
    VACUUM ANALYZE stategraph.threads;
});

# calls and pages of the statements that read stategraph.threads for the sweep, since the last reset
sub thread_reads
{
	return $node->safe_psql('postgres', q{
        SELECT COALESCE(sum(calls), 0) || ' ' || COALESCE(sum(shared_blks_hit + shared_blks_read), 0)
          FROM pg_stat_statements WHERE query LIKE '%FROM stategraph.threads t CROSS JOIN LATERAL%'
            OR query LIKE 'SELECT pg_catalog.max(thread_id), pg_catalog.count(*) FROM (SELECT thread_id FROM stategraph.threads%'});
}

$node->safe_psql('postgres', q{
    SELECT pg_stat_statements_reset();
    CALL sg_work(0);
});
is(thread_reads(), '0 0', 'without a ttl, the sweep reads no thread');
is($node->safe_psql('postgres', 'SELECT count(*) FROM stategraph.threads'), '20000', 'and removes none');

$node->safe_psql('postgres', q{
    SELECT sg_set_retention(NULL, interval '1 day', 'delete');
    SELECT pg_stat_statements_reset();
    CALL sg_work(0);
});
my ($calls) = split / /, thread_reads();
cmp_ok($calls, '>', 0, 'with a ttl, the sweep passes over the threads');
is($node->safe_psql('postgres', 'SELECT count(*) FROM stategraph.threads'), '19995', 'and removes the expired ones');

$node->stop('fast');
done_testing();
