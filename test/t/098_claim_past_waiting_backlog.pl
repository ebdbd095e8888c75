# A claim reads at most 10,000 candidates (SG_CLAIM_READ). Runs queued
# behind 'waiting' runs (their external tasks out) are read past, not
# tried (TAP 093), but they kept claim_from (where claims start reading)
# back: with more than 10,000 of them due before it, a run of a free
# thread was never read, and stayed pending for as long as the backlog
# lasted (a worker, and CALL sg_work). They no longer keep claim_from
# back: a waiting run lowers it again when it leaves 'waiting', also when
# its task fails and the run ends (tasks.c end_waiting_run), after which
# the next run of its thread starts. Past 10,000 of them due at the same
# time (queued by one transaction), a claim reads on by seq.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $threads = 10;
my $batches = 11;				# of 100 runs per thread: 11,000 runs queued behind waiting runs
my $blocked = $threads * $batches * 100;

my $graphs = q{
    CREATE EXTENSION stategraph;
} . ext_graph_sql() . note_graph_sql();

my $worker = preloaded_node('claim_past_waiting_worker', q{
stategraph.max_workers = 1
});
$worker->safe_psql('postgres', $graphs);
my $plain = plain_node('claim_past_waiting_work');
$plain->safe_psql('postgres', $graphs);

foreach my $path ('worker', 'sg_work')
{
	my $node = $path eq 'worker' ? $worker : $plain;

	$node->safe_psql('postgres', qq{SELECT sg_submit('ext', '{}', 'w' || i) FROM generate_series(1, $threads) i});
	$node->safe_psql('postgres', q{CALL sg_work()}) if $path eq 'sg_work';
	ok($node->poll_query_until('postgres', qq{SELECT count(*) = $threads FROM stategraph.runs WHERE status = 'waiting'}),
		"$path: $threads runs wait for their tasks");
	$node->safe_psql('postgres', q{CREATE TABLE toks AS SELECT task_id, token, thread_id FROM sg_claim('q', 'test', 100)});
	# queued behind them, in $batches transactions (each its own due time)
	for (1 .. $batches)
	{
		$node->safe_psql('postgres', qq{
			SELECT count(sg_submit('ext', '{}', 'w' || i, multitask => 'enqueue'))
			FROM generate_series(1, $threads) i, generate_series(1, 100) j});
	}

	# a run of a free thread, due after them
	my $rid = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{}', 'free')});
	$node->safe_psql('postgres', q{CALL sg_work()}) if $path eq 'sg_work';
	ok(true_within($node, 20, qq{SELECT status = 'success' FROM stategraph.runs WHERE run_id = '$rid'}),
		"$path: the run of a free thread is taken past $blocked runs queued behind waiting ones");
	is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs WHERE status = 'pending'}), $blocked,
		"$path: those are still pending");
	# and the next one at once
	$rid = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{}', 'free-2')});
	$node->safe_psql('postgres', q{CALL sg_work()}) if $path eq 'sg_work';
	ok(true_within($node, 20, qq{SELECT status = 'success' FROM stategraph.runs WHERE run_id = '$rid'}),
		"$path: so is the next");
	# 10,500 more queued by one transaction: all due at the same time
	$node->safe_psql('postgres', qq{
		SELECT count(sg_submit('ext', '{}', 'w' || i, multitask => 'enqueue'))
		FROM generate_series(1, $threads) i, generate_series(1, 1050) j});
	$rid = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{}', 'free-3')});
	$node->safe_psql('postgres', q{CALL sg_work()}) if $path eq 'sg_work';
	ok(true_within($node, 20, qq{SELECT status = 'success' FROM stategraph.runs WHERE run_id = '$rid'}),
		"$path: and one due after 10,500 more, queued by one transaction");

	# a waiting run's task fails: the run ends, and the next run of its thread starts (and waits)
	$node->safe_psql('postgres', q{
		SELECT sg_fail(t.task_id, t.token, '{"message": "no"}', false) FROM toks t WHERE t.thread_id = 'w1'});
	is($node->safe_psql('postgres', q{
			SELECT status FROM stategraph.runs WHERE thread_id = 'w1' AND finished_at IS NOT NULL}), 'error',
		"$path: the waiting run whose task failed ends");
	$node->safe_psql('postgres', q{CALL sg_work(max_runs => 1)}) if $path eq 'sg_work';
	ok(true_within($node, 20, q{SELECT count(*) = 1 FROM stategraph.runs WHERE thread_id = 'w1' AND status = 'waiting'}),
		"$path: the run queued behind it starts");
	# and so when a task completes
	$node->safe_psql('postgres', q{
		SELECT sg_complete(t.task_id, t.token, '{"answer": "yes"}') FROM toks t WHERE t.thread_id = 'w2'});
	$node->safe_psql('postgres', q{CALL sg_work(max_runs => 2)}) if $path eq 'sg_work';
	ok(true_within($node, 20, q{SELECT count(*) = 1 FROM stategraph.runs WHERE thread_id = 'w2' AND status = 'success'}),
		"$path: the waiting run whose task completed ends");
	ok(true_within($node, 20, q{SELECT count(*) = 1 FROM stategraph.runs WHERE thread_id = 'w2' AND status = 'waiting'}),
		"$path: the run queued behind it starts");
}

$worker->stop;
$plain->stop;
done_testing();
