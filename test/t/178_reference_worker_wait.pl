# The reference worker's --wait is how long an idle worker's claim waits
# for work. It took any number: with --wait 0 (or under a millisecond, the
# server's unit) an idle worker claimed again at once, without end, some
# 5,000 transactions a second on a core of the server and one of its own;
# a negative, NaN or too long --wait was refused by the first claim, and
# the worker died of the exception. Now --wait out of 0.001 s .. 24 days is
# a usage error (exit 2) before the worker connects, and Worker (as a
# library) refuses such a wait with ValueError; a fractional --wait still
# works.
#
# And a worker killed (SIGKILL, the OOM killer) in its long poll: its
# backend went on waiting, and claimed the next task committed, for nobody
# (the rows wait in the send buffer until the commit, whose flush alone
# found the client gone); the task sat claimed until its lease lapsed, an
# attempt spent. sg_claim now checks its client at every wake of the poll:
#  - a task queued after the kill stays queued, and the next worker
#    claims it at its first attempt.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run ();
use Time::HiRes qw(usleep time);
use SGWorker qw(start_worker wait_worker stop_worker);

plan skip_all => 'no /usr/bin/python3 with psycopg' unless SGWorker::worker_usable();

my $node = PostgreSQL::Test::Cluster->new('workerwait');
$node->init;
$node->start;
my $dsn = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres';
my $worker_py = ($ENV{SG_TESTROOT} // 'test') . '/../examples/worker.py';

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{
    CREATE EXTENSION stategraph;
    SELECT sg_create_graph('g', '{"answer": "replace"}');
    SELECT sg_add_external_node('g', 'nap', 'q178', '{"max_attempts": 3, "backoff_ms": 0}', '30 seconds');
    SELECT sg_add_edge('g', '__start__', 'nap');
    SELECT sg_add_edge('g', 'nap', '__end__');
    SELECT sg_compile('g');
});

# the claims the server saw since the last call
sub claims
{
	sql('SELECT pg_stat_clear_snapshot()');
	my $n = sql(q{SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions WHERE funcname = 'sg_claim'});
	return $n;
}
sql(q{ALTER SYSTEM SET track_functions = 'all'});
$node->reload;

# --- a wait the long poll cannot take: a usage error, no claim --------------
for my $wait ('0', '0.0001', '-1', 'nan', 'inf', '3000000')
{
	my $before = claims();
	my ($w, $log) = start_worker($dsn, queues => ['q178'], args => [ '--wait', $wait ]);
	# a usage error exits by itself (Python's start took over 2 s on a loaded
	# machine); a worker that runs is then killed and reaped
	my $status = wait_worker($w, 20) // stop_worker($w, 'KILL');
	is($status >> 8, 2, "--wait $wait: a usage error (exit 2), not a worker that runs");
	like(slurp_file($log), qr/argument --wait: must be between 0\.001 and 2073600 seconds/,
		"--wait $wait: says what --wait takes");
	sleep 1;    # (the statistics of a backend are reported at its end)
	is(claims() - $before, 0, "--wait $wait: no claim reached the server");
	unlink $log;
}

# --- Worker as a library: the same wait is refused -------------------------
my $library = <<'PY';
import importlib.util, sys
spec = importlib.util.spec_from_file_location("worker", sys.argv[1])
worker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(worker)
try:
    worker.Worker(sys.argv[2], ["q"], "library", 0)
    print("accepted")
except ValueError as e:
    print("ValueError")
PY
my ($out, $err) = ('', '');
IPC::Run::run([ '/usr/bin/python3', '-c', $library, $worker_py, $dsn ], '>', \$out, '2>', \$err);
is($out, "ValueError\n", 'Worker(..., wait 0) as a library: ValueError') or diag($err);

# --- a fractional wait still long-polls and works ---------------------------
my $before = claims();
my ($w, $log) = start_worker($dsn, queues => ['q178'], env => { SG_NAP => '0.05' }, args => [ '--wait', '0.25' ]);
sql(q{SELECT sg_invoke('g', '{}', 't-1')});
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM sg_tasks('q178', 'completed') WHERE thread_id = 't-1'}, '1'),
	'--wait 0.25: the worker completes a task');
sleep 2;
is(stop_worker($w, 'TERM'), 0, '... and stops cleanly');
sleep 1;
my $n = claims() - $before;
ok($n >= 3 && $n <= 20, "... claiming about four times a second when idle ($n claims in about 3 s)");
unlike(slurp_file($log), qr/Traceback/, 'without an exception');

# --- a worker killed in its long poll claims nothing after its death ---------
my $polls = q{SELECT count(*) FROM pg_stat_activity
    WHERE application_name = 'stategraph reference worker' AND state = 'active' AND query LIKE '%sg_claim%'};
($w, $log) = start_worker($dsn, queues => ['q178'], args => [ '--wait', '60' ]);
ok($node->poll_query_until('postgres', $polls, '1'), 'a worker waits in its 60 s long poll');
stop_worker($w, 'KILL');
usleep(500_000);
sql(q{SELECT sg_invoke('g', '{}', 't-ghost')});
sleep 2;
is(sql(q{SELECT status || ' ' || attempt FROM sg_tasks('q178') WHERE thread_id = 't-ghost'}), 'queued 0',
	'a task queued half a second after the kill is not claimed for the dead worker');
# (waited for, up to 30 s: the backend sees the client gone when the task's
# commit wakes its long poll, which a loaded machine may not have run within
# those 2 s; a poll that did not see it ends only at its 60 s, and fails)
my ($ended, $until) = (0, time + 30);
until (($ended = sql($polls) eq '0') || time > $until) { usleep(100_000); }
ok($ended, '... whose long poll has ended (its backend saw the client gone)');
($w, $log) = start_worker($dsn, queues => ['q178'], env => { SG_NAP => '0.05' });
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM sg_tasks('q178', 'completed') WHERE thread_id = 't-ghost'}, '1'),
	'the next worker completes it');
is(sql(q{SELECT attempt FROM sg_tasks('q178') WHERE thread_id = 't-ghost'}), '1', '... at its first attempt');
is(stop_worker($w, 'TERM'), 0, '... and stops cleanly');

$node->stop;
done_testing();
