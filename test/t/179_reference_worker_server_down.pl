# The reference worker started while its server is down (a host's boot, a
# worker restarted during the server's restart, a Kubernetes pod up before
# its database): it died at once with a traceback (exit 1) from its first
# connect, where a lost connection later is opened again, backing off.
# systemd and Kubernetes restart such a worker at once, and soon give it up
# (StartLimitBurst, CrashLoopBackOff). Now it waits for the server as after
# a lost connection:
#  - started with the server stopped: it keeps running, says once that it
#    cannot connect, and works the queue once the server is up;
#  - SIGTERM while it waits for the server: a clean exit (0), at once.
# And SIGTERM with a task in hand while the server is down: the worker
# finishes the task first, as it does with the server up, so it waits for
# the server to hand it back. Stopping ended its reconnect, and the result
# was dropped without a word (the log counted the task as handled), the
# task left claimed until its lease lapsed and then done again:
#  - the worker keeps running while the server is down, hands the result
#    back once it is up (the first attempt's), then exits 0.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use POSIX qw(WNOHANG);
use SGWorker qw(start_worker stop_worker);

plan skip_all => 'no /usr/bin/python3 with psycopg' unless SGWorker::worker_usable();

my $node = PostgreSQL::Test::Cluster->new('workerstart');
$node->init;
$node->start;
my $dsn = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres';

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Whether the worker's log $log matches $re within a minute. (A fixed sleep
# before reading it assumed the worker had started, a Python process
# importing psycopg, and tried to connect by then: on a loaded machine it
# had not, had said nothing, and took a SIGTERM before its handler was set.)
sub log_says
{
	my ($log, $re) = @_;
	for (1 .. 600)
	{
		return 1 if -e $log && slurp_file($log) =~ $re;
		usleep(100_000);
	}
	return 0;
}
my $cannot_connect = qr/cannot connect \([^\n]*\): trying again, backing off up to 10 s\n/;

sql(q{
    CREATE EXTENSION stategraph;
    SELECT sg_create_graph('g', '{"answer": "replace"}');
    SELECT sg_add_external_node('g', 'nap', 'q179', '{"max_attempts": 3, "backoff_ms": 0}', '30 seconds');
    SELECT sg_add_edge('g', '__start__', 'nap');
    SELECT sg_add_edge('g', 'nap', '__end__');
    SELECT sg_compile('g');
    SELECT sg_invoke('g', '{}', 't-1');
});
$node->stop('immediate');

# --- started with the server down: waits for it, then works ------------------
my ($w, $log) = start_worker($dsn, queues => ['q179'], env => { SG_NAP => '0.05' });
ok(log_says($log, $cannot_connect), 'started with the server down, the worker says it cannot connect');
sleep 3;    # (its tries again, backing off 1 s, then 2 s)
ok(waitpid($w, WNOHANG) == 0, 'started with the server down, the worker keeps running');
my $text = slurp_file($log);
unlike($text, qr/Traceback/, '... without an exception');
my @said = $text =~ /$cannot_connect/g;
is(scalar(@said), 1, '... and says once that it cannot connect');

$node->start;
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM sg_tasks('q179', 'completed') WHERE thread_id = 't-1'}, '1'),
	'once the server is up, it completes the task waiting for it');
is(sql(q{SELECT attempt FROM sg_tasks('q179') WHERE thread_id = 't-1'}), '1', '... at its first attempt');
like(slurp_file($log), qr/ready: queues q179\n/, 'it said it was ready');
is(stop_worker($w, 'TERM'), 0, 'SIGTERM stops it cleanly');
unlink $log;

# --- SIGTERM while it waits for the server: exits 0 at once ------------------
$node->stop('fast');
($w, $log) = start_worker($dsn, queues => ['q179']);
ok(log_says($log, $cannot_connect), 'started with the server down again: it cannot connect, and backs off');
sleep 1;    # backing off by now
my $t0 = time();
is(stop_worker($w, 'TERM'), 0, 'SIGTERM while it waits for the server: exit 0');
ok(time() - $t0 < 3, '... at once, not after its back-off');
like(slurp_file($log), qr/stopped before it could connect\n/, '... saying so');
unlike(slurp_file($log), qr/Traceback/, '... without an exception');

unlink $log;

# --- SIGTERM with a task in hand, the server down: handed back, then exit 0 --
$node->start;
($w, $log) = start_worker($dsn, queues => ['q179'], env => { SG_NAP => '3' });
sql(q{SELECT sg_invoke('g', '{}', 't-2')});
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM sg_tasks('q179', 'claimed') WHERE thread_id = 't-2'}, '1'),
	'a task in hand (its handler works 3 s)');
$node->stop('fast');
kill 'TERM', $w;
sleep 5;    # the handler is done, the server still down
ok(waitpid($w, WNOHANG) == 0, 'SIGTERM, the server down: the worker waits to hand the task back');
$node->start;
is(stop_worker($w, 'TERM'), 0, 'once the server is up, it exits 0');    # (within 15 s: its back-off is 10 s at most)
is(sql(q{SELECT status || ' ' || attempt || ' ' || (result->>'answer') FROM sg_tasks('q179') WHERE thread_id = 't-2'}),
	'completed 1 nap 1', 'the task was completed with the first attempt\'s result');
unlike(slurp_file($log), qr/Traceback|left to its lease/, '... nothing dropped, no exception');

$node->stop;
done_testing();
