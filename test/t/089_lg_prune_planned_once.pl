# sg_prune(thread_id => ...) of a LangGraph.js thread, the retention sweep's
# keep_latest of each expired one and LangGraph.js's prune([thread]) run
# kept statements for one thread, planned once per session (the plan
# cache's first custom plans, then its generic one): the prune's own
# statement was planned at every call (its "thread_id = $1 OR $1 IS NULL"
# had no generic plan worth taking), and lg_collect's four statements and
# the rewrite of a value whose base went were one-off, planned again at
# every thread (some 1.5 ms a call). Counted with pg_stat_statements
# (track_planning), as in 085.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = planned_node('lg_prune_planned_once');
lg_chain_put($node);
$node->safe_psql('postgres', q{
    CREATE FUNCTION lgthreads(prefix text, n int) RETURNS bigint LANGUAGE sql AS $$
        SELECT count(*) FROM (SELECT lgput(prefix || '-' || i, k) FROM generate_series(1, n) i, generate_series(1, 3) k
                               ORDER BY i, k) x $$;
});

# the statements of a prune of one thread: [name, what its text begins with]
my @statements = (
	[ 'the prune',                 'WITH RECURSIVE k AS (SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id,%' ],
	[ 'prune(keep_latest)',        'WITH RECURSIVE delta_needs %DELETE FROM stategraph.lg_checkpoints c WHERE c.thread_id%' ],
	[ 'values taking their write', 'UPDATE stategraph.lg_blobs b SET value = COALESCE%' ],
	[ 'values to rewrite whole',   'WITH live AS (%SELECT b.thread_id, b.checkpoint_ns, b.channel, b.writer FROM%' ],
	[ 'the rewrite',               'UPDATE stategraph.lg_blobs SET base = %' ],
	[ 'values no longer read',     'WITH live AS (%DELETE FROM stategraph.lg_blobs b%' ],
	[ 'writes of removed ones',    'DELETE FROM stategraph.lg_writes w WHERE w.thread_id%' ]);

# calls and plans of a statement since the last reset
sub counts
{
	my ($like) = @_;
	return split / /, $node->safe_psql('postgres', qq{
		SELECT COALESCE(sum(calls), 0) || ' ' || COALESCE(sum(plans), 0) FROM pg_stat_statements
		 WHERE query LIKE '$like'});
}

# each statement the prunes of n threads ran (all but those in @skip) ran n times, planned at most 6
sub check_planned_once
{
	my ($how, $n, @skip) = @_;
	for my $s (@statements)
	{
		my ($name, $like) = @$s;
		next if grep { $_ eq $name } @skip;
		my ($calls, $plans) = counts($like);
		is($calls, $n, "$how: $name, once a thread");
		cmp_ok($plans, '<=', 6, "$how: $name, planned once (five custom plans, then the generic one)");
	}
}

# what every thread of prefix reads: its checkpoints and the messages of its newest
sub left
{
	my ($prefix) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT count(*) || ' ' || count(DISTINCT s.values::text) || ' ' || min(jsonb_array_length(s.values -> 'm'))
		  FROM stategraph.lg_checkpoints c, sg_get_state(c.thread_id) s WHERE c.thread_id LIKE '$prefix-%'});
}

my $n = 50;

$node->safe_psql('postgres', "SELECT lgthreads('sgp', $n)");
$node->safe_psql('postgres', 'SELECT pg_stat_statements_reset()');
is($node->safe_psql('postgres', "SELECT sum(sg_prune(keep_last => 1, thread_id => 'sgp-' || i)) FROM generate_series(1, $n) i"),
	2 * $n, "sg_prune of each of $n threads");
check_planned_once('sg_prune(thread_id)', $n, 'prune(keep_latest)');
is(left('sgp'), "$n 1 3", 'each keeps its newest checkpoint, which reads its three messages');

$node->safe_psql('postgres', "SELECT lgthreads('lgp', $n)");
$node->safe_psql('postgres', 'SELECT pg_stat_statements_reset()');
is($node->safe_psql('postgres', "SELECT sum(sg_lg_prune(ARRAY['lgp-' || i], 'keep_latest')) FROM generate_series(1, $n) i"),
	2 * $n, "prune([thread], keep_latest) of each of $n threads");
check_planned_once('sg_lg_prune', $n, 'the prune');
is(left('lgp'), "$n 1 3", 'each keeps its newest checkpoint, which reads its three messages');

# the sweep's keep_latest of expired threads
$node->safe_psql('postgres', "SELECT lgthreads('old', $n)");
$node->safe_psql('postgres', q{
    UPDATE stategraph.lg_checkpoints SET created_at = now() - interval '2 days' WHERE thread_id LIKE 'old-%';
    SELECT sg_set_retention(NULL, interval '1 day', 'keep_latest', 1);
    SELECT pg_stat_statements_reset();
});
$node->safe_psql('postgres', 'CALL sg_work(0)');	# a round of batches (30 threads a batch at most)
check_planned_once('the sweep', $n, 'prune(keep_latest)');
is(left('old'), "$n 1 3", 'the sweep: each keeps its newest checkpoint, which reads its three messages');

$node->stop('fast');
done_testing();
