# The reference worker (examples/worker.py) stops promptly on SIGTERM and
# SIGINT, as systemd and Kubernetes expect, even with a long --wait:
#  - waiting in its long poll (sg_claim with wait): it exits 0 within 2 s,
#    not when the poll's 60 s are over;
#  - with two queues, waiting for a NOTIFY between rounds: the same;
#  - with a task in hand: it finishes the task first, then exits 0;
#  - a signal that comes just before the claim's query reaches the server
#    (whose cancel the server ignores, the backend being idle): the worker
#    cancels again until the claim is over;
#  - a task committed just as the signal comes is never left claimed by the
#    worker that stopped: that worker completed it, or it is still queued
#    and another worker completes it at its first attempt;
#  - a claim cancelled by someone else (pg_cancel_backend, a statement_timeout
#    shorter than --wait) does not stop the worker: it polls again.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep time);
use POSIX qw(WNOHANG);
use SGWorker ();

plan skip_all => 'no /usr/bin/python3 with psycopg' unless SGWorker::worker_usable();

my $node = PostgreSQL::Test::Cluster->new('workerstop');
$node->init;
$node->start;
my $dsn = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres';

$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION make_graph(g text, queue text) RETURNS void LANGUAGE sql AS $$
        SELECT sg_create_graph(g, '{"answer": "replace"}');
        SELECT sg_add_external_node(g, 'nap', queue, '{"max_attempts": 3, "backoff_ms": 0}', '30 seconds');
        SELECT sg_add_edge(g, '__start__', 'nap');
        SELECT sg_add_edge(g, 'nap', '__end__');
        SELECT sg_compile(g) $$;
    SELECT make_graph('ga', 'qa');
    SELECT make_graph('gb', 'qb');
});

sub sql { return $node->safe_psql('postgres', $_[0]); }

my @logs;

# the reference worker on @$queues with a 60 s long poll, each task napping $nap seconds
sub start_worker
{
	my ($nap, @queues) = @_;
	my ($pid, $log) = SGWorker::start_worker($dsn, queues => \@queues, env => { SG_NAP => $nap },
		args => [ '--wait', '60' ]);
	push @logs, $log;
	return $pid;
}

# sends $signal and reaps the worker: its wait status and the seconds it took
# (a worker still running after 15 s is killed, status -1)
sub stop_timed
{
	my ($pid, $signal) = @_;
	my $t0 = time();
	my $status = SGWorker::stop_worker($pid, $signal);
	my $seconds = time() - $t0;
	if ($status == -1)
	{
		kill 'KILL', $pid;
		waitpid($pid, 0);
	}
	return ($status, $seconds);
}

my $in_long_poll = q{SELECT count(*) FROM pg_stat_activity
    WHERE application_name = 'stategraph reference worker' AND state = 'active'
      AND query LIKE '%sg_claim%' AND wait_event_type = 'Extension'};
my $no_worker_left = q{SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'stategraph reference worker%'};

# --- waiting in its long poll ------------------------------------------------------
for my $signal ('TERM', 'INT')
{
	my $w = start_worker('0.05', 'qa');
	ok($node->poll_query_until('postgres', $in_long_poll, '1'), "SIG$signal: the worker waits in its long poll");
	my ($status, $seconds) = stop_timed($w, $signal);
	is($status, 0, "SIG$signal during the long poll: the worker exits with status 0");
	cmp_ok($seconds, '<', 2, "... within 2 s (${\ sprintf('%.2f', $seconds)} s), not when its 60 s wait is over");
	ok($node->poll_query_until('postgres', $no_worker_left, '0'), '... and its connection is gone');
}

# --- two queues: waiting for a NOTIFY between rounds -----------------------------------
{
	my $w = start_worker('0.05', 'qa', 'qb');
	ok( $node->poll_query_until('postgres', q{SELECT count(*) FROM pg_stat_activity
        WHERE application_name LIKE 'stategraph reference worker%' AND state = 'idle'}, '2'),
		'a worker of two queues is idle between rounds');
	usleep(300_000);    # in its wait for a NOTIFY
	my ($status, $seconds) = stop_timed($w, 'TERM');
	is($status, 0, 'SIGTERM while it waits for a NOTIFY: the worker exits with status 0');
	cmp_ok($seconds, '<', 2, "... within 2 s (${\ sprintf('%.2f', $seconds)} s)");
}

# --- a task in hand --------------------------------------------------------------------
{
	my $w = start_worker('1.5', 'qa');
	ok($node->poll_query_until('postgres', $in_long_poll, '1'), 'a worker waits in its long poll');
	sql(q{SELECT sg_invoke('ga', '{}', 'in-hand')});
	ok($node->poll_query_until('postgres', "SELECT count(*) FROM sg_tasks('qa', 'claimed') WHERE thread_id = 'in-hand'", '1'),
		'it claims the task and works on it (1.5 s)');
	my ($status, $seconds) = stop_timed($w, 'TERM');
	is($status, 0, 'SIGTERM with a task in hand: the worker exits with status 0');
	cmp_ok($seconds, '<', 3.5, "... once the task is done (${\ sprintf('%.2f', $seconds)} s)");
	is(sql("SELECT status || ' ' || attempt || ' ' || worker FROM sg_tasks('qa') WHERE thread_id = 'in-hand'"),
		"completed 1 worker-$w", 'it finished the task in hand before it stopped');
}

# --- a signal just before the claim's query is sent --------------------------------------
# worker.py's Worker, its conn.execute sending itself SIGTERM before the
# claim's query: the first cancel finds the backend idle
my $examples = ($ENV{SG_TESTROOT} // 'test') . '/../examples';
my $script = "$PostgreSQL::Test::Utils::tmp_check/signal_before_claim.py";
append_to_file($script, <<'PY');
import os, signal, sys, time
sys.path.insert(0, sys.argv[1])
import worker

class SignalBeforeClaim(worker.Worker):
    def connect(self):
        super().connect()
        execute = self.conn.execute
        def execute_signalled(query, params=None):
            if "sg_claim" in query:
                self.signalled_at = time.monotonic()
                os.kill(os.getpid(), signal.SIGTERM)   # handled before the query is sent
            return execute(query, params)
        self.conn.execute = execute_signalled

w = SignalBeforeClaim(sys.argv[2], ["qa"], "signal-before-claim", 20.0)
w.on_signals()
w.run()
print(f"{time.monotonic() - w.signalled_at:.2f}")
PY
{
	my ($out, $err);
	my $ok = IPC::Run::run([ '/usr/bin/python3', $script, $examples, $dsn ], '>', \$out, '2>', \$err);
	chomp $out;
	ok($ok, 'SIGTERM just before the claim\'s query is sent: the worker exits with status 0');
	cmp_ok($out, '<', 2, "... within 2 s of the signal ($out s), not when its 20 s wait is over");
	like($err, qr/stopped after 0 tasks/, '... having claimed nothing');
	unlike($err, qr/Traceback/, '... and without an exception');
}

# --- a task committed as the signal comes --------------------------------------------------
# the signal lands just before or after the task's commit, which ends the
# long poll: the claim is cancelled (rolled back) or its task done
my @race = map { "race-$_" } 0 .. 7;
my $left_claimed = 0;
my $slow_stops = 0;
for my $i (0 .. $#race)
{
	my $w = start_worker('0.05', 'qa');
	$node->poll_query_until('postgres', $in_long_poll, '1') or die 'the worker does not poll';
	my $t0 = time();
	if ($i % 2)
	{
		sql("SELECT sg_invoke('ga', '{}', '$race[$i]')");
		usleep(4_000 * $i);
		kill 'TERM', $w;
	}
	else
	{
		kill 'TERM', $w;
		usleep(4_000 * $i);
		sql("SELECT sg_invoke('ga', '{}', '$race[$i]')");
	}
	my ($status) = stop_timed($w, 0);
	my $seconds = time() - $t0;
	$slow_stops++ if $status != 0 || $seconds >= 2;
	my $task = sql("SELECT status || ' ' || attempt FROM sg_tasks('qa') WHERE thread_id = '$race[$i]'");
	note("$race[$i]: the worker stopped in ${\ sprintf('%.2f', $seconds)} s, status $status; its task: $task");
	$left_claimed++ if $task =~ /^claimed/;
}
is($slow_stops, 0, 'a signal as a task comes: every worker exits with status 0 within 2 s');
is($left_claimed, 0, '... and leaves no task claimed (done, or queued again)');

my $other = start_worker('0.05', 'qa');
ok( $node->poll_query_until('postgres', "SELECT count(*) FROM sg_tasks('qa', 'completed') WHERE thread_id LIKE 'race-%'",
		scalar @race),
	'another worker completes the tasks the stopped ones left');
is(sql("SELECT max(attempt) FROM sg_tasks('qa') WHERE thread_id LIKE 'race-%'"), '1', '... each at its first attempt');
ok($node->poll_query_until('postgres', $in_long_poll, '1'), 'that worker waits in its long poll');
is((stop_timed($other, 'TERM'))[0], 0, 'that worker stops cleanly too');

# --- a cancel it did not ask for ----------------------------------------------------------
# pg_cancel_backend of its long poll, or a statement_timeout shorter than
# --wait: the claim is rolled back (nothing taken) and the worker polls
# again; it died of the QueryCanceled before
{
	my $w = start_worker('0.05', 'qb');
	ok($node->poll_query_until('postgres', $in_long_poll, '1'), 'a worker of qb waits in its long poll');
	sql(q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity
        WHERE application_name = 'stategraph reference worker' AND query LIKE '%sg_claim%'});
	usleep(500_000);
	ok(waitpid($w, WNOHANG) == 0, 'pg_cancel_backend of its long poll: the worker goes on');
	ok($node->poll_query_until('postgres', $in_long_poll, '1'), '... and waits in a long poll again');
	sql(q{SELECT sg_invoke('gb', '{}', 'after-cancel')});
	ok($node->poll_query_until('postgres', "SELECT count(*) FROM sg_tasks('qb', 'completed') WHERE thread_id = 'after-cancel'", '1'),
		'... and completes the next task');
	is((stop_timed($w, 'TERM'))[0], 0, '... and stops cleanly');
	like(slurp_file($logs[-1]), qr/claim cancelled \(.*\): polling again/, '... having said why its claim ended');
}
{
	sql(q{ALTER DATABASE postgres SET statement_timeout = '1s'});
	my $w = start_worker('0.05', 'qb');    # (its own log: SGWorker names one per start)
	ok($node->poll_query_until('postgres', $in_long_poll, '1'), 'with statement_timeout 1 s, a worker waits in its 60 s long poll');
	sleep 3;
	ok(waitpid($w, WNOHANG) == 0, '... and is still there after 3 s (its polls cancelled by the timeout)');
	sql(q{SELECT sg_invoke('gb', '{}', 'under-timeout')});
	ok($node->poll_query_until('postgres', "SELECT count(*) FROM sg_tasks('qb', 'completed') WHERE thread_id = 'under-timeout'", '1'),
		'... and completes a task');
	is((stop_timed($w, 'TERM'))[0], 0, '... and stops cleanly');
	my $said = () = slurp_file($logs[-1]) =~ /claim cancelled/g;
	is($said, 1, '... having said once why its claims end');
	sql(q{ALTER DATABASE postgres RESET statement_timeout});
}

unlike(join('', map { slurp_file($_) } @logs), qr/Traceback/, 'no worker died of an exception');

done_testing();
