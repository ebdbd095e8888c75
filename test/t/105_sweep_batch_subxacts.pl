# The retention sweep removes each expired thread in subtransactions of its
# own (a thread that fails is passed over), whose ids stay with the batch's
# transaction to its commit. A transaction holding more than 64 of them
# (PGPROC_MAX_CACHED_SUBXIDS) makes every other session's snapshots look in
# pg_subtrans while it lasts, so a batch tries at most 30 threads, whatever
# stategraph.sweep_limit is (1000 by default), and the sweep goes on batch
# after batch, each its own transaction. Seen here as the commits of
# CALL sg_work() on a server without the preload (no workers): 300 expired
# threads take at least 10 transactions (one did them all before).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = PostgreSQL::Test::Cluster->new('subxacts');
$node->init;
$node->append_conf('postgresql.conf', "autovacuum = off\n");
$node->start;
$node->safe_psql('postgres', sweep_graph_sql());
$node->safe_psql('postgres', q{
    SELECT count(sg_invoke('sg', jsonb_build_object('n', i), thread_id => 't' || i)) FROM generate_series(1, 600) i;
    SELECT sg_set_retention('sg', '1 hour');
    UPDATE stategraph.threads SET updated_at = now() - interval '2 hours' WHERE substr(thread_id, 2)::int % 2 = 0;
});
is($node->safe_psql('postgres', 'SHOW stategraph.sweep_limit'), '1000', 'the default sweep_limit');

# each session ends before the next reads pg_stat_database: its counts are in
my $commits = q{SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'};
my $before = $node->safe_psql('postgres', $commits);
$node->safe_psql('postgres', 'CALL sg_work()');
my $after = $node->safe_psql('postgres', $commits);

is($node->safe_psql('postgres',
		q{SELECT count(*) FROM stategraph.threads WHERE substr(thread_id, 2)::int % 2 = 0}),
	'0', 'every expired thread is gone');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM stategraph.threads WHERE substr(thread_id, 2)::int % 2 = 1}),
	'300', 'threads that are not expired stay');
cmp_ok($after - $before, '>=', 10,
	'300 expired threads are removed in batches of at most 30, each its own transaction');

$node->stop;
done_testing();
