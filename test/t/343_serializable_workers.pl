# Background runs in a database whose default_transaction_isolation is
# serializable (the workers' transactions too). Runs of unrelated threads
# ended with status error, 40001 (pivot): the claims and end records of
# the workers conflicted with each other, and each serialization failure
# counted as one of a run's 3 failures (33 errors in 300 runs). A
# serialization failure or a deadlock is now tried again after a short
# backoff without counting (up to a bound), and the record of a failure
# runs at read committed: 200 runs over 20 threads, enqueued, all succeed.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('serializable', qq{
stategraph.max_workers = 4
stategraph.sweep_interval = 3600
});
sleepy_loop_graph($node);
$node->safe_psql('postgres', q{ALTER DATABASE postgres SET default_transaction_isolation = 'serializable'});
# workers connected before see it too
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'stategraph worker'});
my $rc = q{SET default_transaction_isolation = 'read committed';};

for my $batch (1 .. 10)
{
	$node->safe_psql('postgres', qq{$rc
SELECT sg_submit('loop', '{"i": 0, "steps": 2, "sleep": 0}', 'thread' || g, multitask => 'enqueue')
FROM generate_series(1, 20) g});
	select undef, undef, undef, 0.2;
}
ok(true_within($node, 240, qq{$rc SELECT count(*) = 0 FROM stategraph.runs WHERE status IN ('pending', 'running')}),
	'the 200 runs end');
my $errors = $node->safe_psql('postgres', qq{$rc
SELECT count(*) || ' ' || coalesce(string_agg(DISTINCT error->>'sqlstate', ','), '')
FROM stategraph.runs WHERE status <> 'success'});
note("runs not successful, sqlstates: $errors");
is((split / /, $errors)[0], '0', 'all 200 runs succeed under serializable');
is($node->safe_psql('postgres', qq{$rc SELECT count(*) FROM effects}), '400', 'each run took its 2 steps once');

$node->stop;
done_testing();
