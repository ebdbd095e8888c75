# revlast: a worker whose own sweep made runs claimable looks for work
# again at once (worker.c worker_iteration, TAP 099). That must not turn
# into a loop when what the sweep made claimable cannot be taken: the
# worker stays idle (its CPU near nothing) with a sweep every second,
# runs queued behind waiting runs whose tasks are out, a waiting run
# ended by its task's expired lease, and while a restore holds the workers
# off (a session that wrote stategraph.runs rows other than through
# sg_submit and stays connected), and while a client session holds the
# thread of a due run (CALL sg_run).
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGNode;

my $node = preloaded_node('idle_after_sweep_requeue', <<'CONF');
stategraph.max_workers = 1
stategraph.sweep_interval = 1
CONF
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph;' . ext_graph_sql(q{'{"max_attempts": 1, "backoff_ms": 0}', '1 hour'}) . nap_done_graph_sql());

sub worker_pid
{
	return $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND datname = 'postgres' ORDER BY pid LIMIT 1});
}

# 200 threads: a run waiting for its task, a run queued behind it
$node->safe_psql('postgres', q{SELECT sg_submit('ext', '{}', 'w' || i) FROM generate_series(1, 200) i});
ok(true_within($node, 60, q{SELECT count(*) = 200 FROM stategraph.runs WHERE status = 'waiting'}),
	'200 runs wait for their tasks');
$node->safe_psql('postgres', q{SELECT sg_submit('ext', '{}', 'w' || i, multitask => 'enqueue') FROM generate_series(1, 200) i});
# thread w1's task: one attempt, a lease of a second: the worker's sweep ends the waiting run
is($node->safe_psql('postgres', q{SELECT count(*) FROM sg_claim('q', 'gone', 1, lease => '1 second') WHERE thread_id = 'w1'}),
	'1', 'one task is claimed');
ok(true_within($node, 30, q{SELECT count(*) = 1 FROM stategraph.runs WHERE thread_id = 'w1' AND status = 'error'}),
	'the sweep ends the waiting run');
ok(true_within($node, 10, q{SELECT count(*) = 1 FROM stategraph.runs WHERE thread_id = 'w1' AND status = 'waiting'}),
	'the run queued behind it starts');
my $pid = worker_pid();
like($pid, qr/^\d+$/, 'a worker');
my $t0 = cpu_ticks($pid);
sleep 10;
my $t1 = cpu_ticks($pid);
ok($t0 >= 0 && $t1 - $t0 <= 50, "idle over 200 runs queued behind waiting ones, a sweep a second: " . ($t1 - $t0) . " CPU ticks in 10 s");
is(worker_pid(), $pid, 'the same worker');

# a restore holds the workers off; a task's lease expires meanwhile
# (a lease of 5 s: the restore session must hold before the lease ends and a
# sweep a second ends the run; the 10 s below outlast the lease)
is($node->safe_psql('postgres', q{SELECT count(*) FROM sg_claim('q', 'gone', 1, lease => '5 seconds') WHERE thread_id = 'w2'}),
	'1', 'another task is claimed');
my $restore = IPC::Run::start([ 'psql', '-X', '-Atq', '-d', $node->connstr('postgres'), '-c',
	q{INSERT INTO stategraph.runs OVERRIDING SYSTEM VALUE SELECT * FROM stategraph.runs WHERE false}, '-c', q{SELECT pg_sleep(15)} ],
	'>', \my $o, '2>', \my $e);
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(15)'}),
	'a restore session holds the workers off');
$pid = worker_pid();
$t0 = cpu_ticks($pid);
sleep 10;
$t1 = cpu_ticks($pid);
ok($t0 >= 0 && $t1 - $t0 <= 50, "idle while a restore holds the workers off: " . ($t1 - $t0) . " CPU ticks in 10 s");
is($node->safe_psql('postgres', q{SELECT status FROM stategraph.runs WHERE thread_id = 'w2' ORDER BY seq LIMIT 1}),
	'waiting', 'nothing swept meanwhile');
is($node->safe_psql('postgres', q{SELECT lease_expires_at < clock_timestamp() FROM stategraph.tasks WHERE thread_id = 'w2' AND status = 'claimed'}),
	't', 'though its task\'s lease has expired');
$restore->finish;
ok(true_within($node, 30, q{SELECT count(*) = 1 FROM stategraph.runs WHERE thread_id = 'w2' AND status = 'error'}),
	'the sweep ends the waiting run once the restore session is gone');
ok(true_within($node, 10, q{SELECT count(*) = 1 FROM stategraph.runs WHERE thread_id = 'w2' AND status = 'waiting'}),
	'and the run queued behind it starts');
$pid = worker_pid();
$t0 = cpu_ticks($pid);
sleep 5;
$t1 = cpu_ticks($pid);
ok($t0 >= 0 && $t1 - $t0 <= 25, "idle again: " . ($t1 - $t0) . " CPU ticks in 5 s");


# a client session holds a thread (CALL sg_run, in a step) whose next run is due
my $client = IPC::Run::start([ 'psql', '-X', '-Atq', '-d', $node->connstr('postgres'), '-c',
	q{CALL sg_run('nap', '{"secs": 20}', 'h')} ], '>', \my $co, '2>', \my $ce);
ok($node->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE 'CALL sg_run%'}),
	'a client session holds thread h');
my $rid = $node->safe_psql('postgres', q{SELECT sg_submit('nap', '{"secs": 0}', 'h')});
$pid = worker_pid();
$t0 = cpu_ticks($pid);
sleep 10;
$t1 = cpu_ticks($pid);
ok($t0 >= 0 && $t1 - $t0 <= 50, "idle while a due run's thread is held: " . ($t1 - $t0) . " CPU ticks in 10 s");
is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$rid', '30 s')}), 'success',
	'the run is taken once the client lets its thread go');
$client->finish;

$node->stop;
done_testing();
