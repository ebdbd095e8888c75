# Runs queued on threads whose 'waiting' run (its external tasks out) is
# ahead of them cannot be claimed until that run ends. A claim tries at
# most 64 candidates (SG_CLAIM_TRIES), and each such run was one: with 64
# threads so held up, or more, every claim gave up before it reached a run
# of a free thread due after them, which stayed pending for as long as the
# backlog lasted. Such runs are read past, not tried. Both executors: a
# background worker and CALL sg_work. And so for runs whose thread a
# client session holds (CALL sg_run): with 64 such threads or more, a run
# of a free thread was not taken either.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGNode;

my $n = 100;					# threads held up, more than a claim's tries
my $held = 70;					# threads held by client sessions, more than a claim's tries too

my $graphs = q{
    CREATE EXTENSION stategraph;
} . ext_graph_sql() . note_graph_sql() . nap_done_graph_sql();

my $worker = preloaded_node('claim_blocked_backlog_worker', q{
stategraph.max_workers = 1
max_connections = 100
});
$worker->safe_psql('postgres', $graphs);
my $plain = plain_node('claim_blocked_backlog_work', qq{max_connections = 100\n});
$plain->safe_psql('postgres', $graphs);

foreach my $path ('worker', 'sg_work')
{
	my $node = $path eq 'worker' ? $worker : $plain;

	# $n threads, each with a run waiting for its external task and a run queued behind it
	$node->safe_psql('postgres', qq{SELECT sg_submit('ext', '{}', 'w' || i) FROM generate_series(1, $n) i});
	$node->safe_psql('postgres', q{CALL sg_work()}) if $path eq 'sg_work';
	ok($node->poll_query_until('postgres', qq{SELECT count(*) = $n FROM stategraph.runs WHERE status = 'waiting'}),
		"$path: $n runs wait for their tasks");
	$node->safe_psql('postgres',
		qq{SELECT sg_submit('ext', '{}', 'w' || i, multitask => 'enqueue') FROM generate_series(1, $n) i});

	# a run of a free thread, due after them
	my $rid = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{}', 'free')});
	$node->safe_psql('postgres', q{CALL sg_work()}) if $path eq 'sg_work';
	is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$rid', '20 s')}), 'success',
		"$path: the run of a free thread is taken past the runs held up");
	is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs WHERE status = 'pending'}), $n,
		"$path: the runs queued behind the waiting ones are still pending");

	# a waiting run's task completes: the run behind it goes on too
	$node->safe_psql('postgres', qq{
		SELECT sg_complete(t.task_id, t.token, '{"answer": "yes"}') FROM sg_claim('q', 'test', $n) t
		WHERE t.thread_id = 'w1'});
	$node->safe_psql('postgres', q{CALL sg_work()}) if $path eq 'sg_work';
	ok($node->poll_query_until('postgres', q{
			SELECT count(*) = 1 FROM stategraph.runs WHERE thread_id = 'w1' AND status = 'success'}),
		"$path: the waiting run whose task completed ends");
	ok($node->poll_query_until('postgres', q{
			SELECT count(*) = 1 FROM stategraph.runs WHERE thread_id = 'w1' AND status = 'waiting'}),
		"$path: the run queued behind it starts");

	# $held client sessions each hold a thread (CALL sg_run, in a step), a run submitted on each
	my @clients;
	for my $i (1 .. $held)
	{
		push @clients, IPC::Run::start([ 'psql', '-X', '-Atq', '-d', $node->connstr('postgres'), '-c',
			qq{CALL sg_run('nap', '{"secs": 60}', 'h$i')} ], '>', \my $o, '2>', \my $e);
	}
	ok($node->poll_query_until('postgres', qq{
			SELECT count(*) = $held FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE 'CALL sg_run%'}),
		"$path: $held client sessions hold their threads");
	$node->safe_psql('postgres', qq{SELECT sg_submit('nap', '{"secs": 0}', 'h' || i) FROM generate_series(1, $held) i});
	$rid = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{}', 'free-2')});
	$node->safe_psql('postgres', q{CALL sg_work()}) if $path eq 'sg_work';
	is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$rid', '20 s')}), 'success',
		"$path: the run of a free thread is taken past the runs of held threads");
	$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'CALL sg_run%'});
	$_->finish for @clients;
}

$worker->stop;
$plain->stop;
done_testing();
