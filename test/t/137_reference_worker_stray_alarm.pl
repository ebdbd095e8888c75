# The reference worker (examples/worker.py) uses SIGALRM only to cancel its
# long poll again while it stops (cancel_poll). A SIGALRM that comes while
# it does not stop (kill -ALRM, an alarm(2) of code around it) is no stop:
# its long poll goes on. It cancelled that poll, and then, its 0.2 s timer
# re-armed by each cancel, every poll after it, for good: an idle worker
# claimed about three times a second instead of once per --wait.
#
# Used as a library (Worker without on_signals()), it never arms SIGALRM:
# stop() did, and when the cancelled claim took over 0.2 s to end, the
# default action of SIGALRM ended the application's process.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use POSIX qw(WNOHANG);
use IPC::Run ();
use SGWorker ();

plan skip_all => 'no /usr/bin/python3 with psycopg' unless SGWorker::worker_usable();

my $node = PostgreSQL::Test::Cluster->new('workeralarm');
$node->init;
$node->start;
my $dsn = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres';

$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    SELECT sg_create_graph('g', '{"answer": "replace"}');
    SELECT sg_add_external_node('g', 'nap', 'q', '{"max_attempts": 3, "backoff_ms": 0}', '30 seconds');
    SELECT sg_add_edge('g', '__start__', 'nap');
    SELECT sg_add_edge('g', 'nap', '__end__');
    SELECT sg_compile('g');
});

my $long_poll = q{SELECT query_start FROM pg_stat_activity
    WHERE application_name = 'stategraph reference worker' AND state = 'active'
      AND query LIKE '%sg_claim%' AND wait_event_type = 'Extension'};

my ($w, $log) = SGWorker::start_worker($dsn, queues => ['q'], env => { SG_NAP => '0.05' },
	args => [ '--wait', '60' ]);
ok($node->poll_query_until('postgres', "SELECT count(*) FROM ($long_poll) p", '1'),
	'the worker waits in its 60 s long poll');
my $began = $node->safe_psql('postgres', $long_poll);

kill 'ALRM', $w;
sleep 2;
ok(waitpid($w, WNOHANG) == 0, 'a stray SIGALRM: the worker goes on');    # (not exited: kill 0 finds a zombie too)
is($node->safe_psql('postgres', $long_poll), $began, '... in the same long poll, not cancelled');
unlike(slurp_file($log), qr/claim cancelled/, '... and says of no cancelled claim');

$node->safe_psql('postgres', q{SELECT sg_invoke('g', '{}', 'after-alarm')});
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM sg_tasks('q', 'completed') WHERE thread_id = 'after-alarm'}, '1'),
	'it completes the next task');
is(SGWorker::stop_worker($w, 'TERM'), 0, 'SIGTERM still stops it cleanly');
unlike(slurp_file($log), qr/Traceback/, 'without an exception');

# --- the worker as a library: an application's thread runs it, and stops it
my $library = <<'PY';
import importlib.util, signal, sys, threading, time
spec = importlib.util.spec_from_file_location("worker", sys.argv[1])
worker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(worker)
w = worker.Worker(sys.argv[2], ["q"], "library", 60.0)
t = threading.Thread(target=w.run)
t.start()
deadline = time.monotonic() + 20
while not w.polling and time.monotonic() < deadline:
    time.sleep(0.01)
time.sleep(0.5)                     # its long poll is at the server
polling = w.polling
w.stop()
armed = signal.getitimer(signal.ITIMER_REAL)[0] > 0
t.join(10)
print(f"polling={polling} armed={armed} alive={t.is_alive()}")
PY
my $worker_py = ($ENV{SG_TESTROOT} // 'test') . '/../examples/worker.py';
my ($out, $err) = ('', '');
IPC::Run::run([ '/usr/bin/python3', '-c', $library, $worker_py, $dsn ], '>', \$out, '2>', \$err);
is($out, "polling=True armed=False alive=False\n",
	'as a library: stop() ends its long poll without arming SIGALRM, whose default action would end the process')
  or diag($err);

$node->stop;
done_testing();
