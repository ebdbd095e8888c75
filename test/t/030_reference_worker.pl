# The reference worker (examples/worker.py) where production takes it:
#  - several queues (--queue twice): claimed in turn, woken by NOTIFY;
#  - a burst of notifications larger than a socket buffer: no worker
#    connection is left unread (its backend blocked writing, the server's
#    notification queue kept from being truncated);
#  - a server restart: the workers connect again and go on;
#  - its connection ended while a handler runs: the result is handed back
#    on a new connection with the same token, one attempt only;
#  - an update JSON cannot hold: failed without a retry;
#  - SIGTERM while the server is down: a clean exit.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use POSIX ":sys_wait_h";
use SGWorker qw(stop_worker);

plan skip_all => 'no /usr/bin/python3 with psycopg' unless SGWorker::worker_usable();

my $node = PostgreSQL::Test::Cluster->new('refworker');
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
    SELECT make_graph('gs', 'qs');
    SELECT sg_create_graph('gj', '{"answer": "replace"}');
    SELECT sg_add_external_node('gj', 'notjson', 'qs', '{"max_attempts": 3, "backoff_ms": 0}');
    SELECT sg_add_edge('gj', '__start__', 'notjson');
    SELECT sg_add_edge('gj', 'notjson', '__end__');
    SELECT sg_compile('gj');
});

my %logs;

# the reference worker on @queues, each task of theirs napping $nap seconds
sub start_worker
{
	my ($nap, @queues) = @_;
	my ($pid, $log) = SGWorker::start_worker($dsn, queues => \@queues, env => { SG_NAP => $nap });
	$logs{$pid} = $log;
	return $pid;
}

sub alive { return waitpid($_[0], WNOHANG) == 0; }

sub sql { return $node->safe_psql('postgres', $_[0]); }

# runs graph g on thread t until it no longer waits for its task; its answer
sub answer
{
	my ($g, $t) = @_;
	sql("SELECT sg_invoke('$g', '{}', '$t')") unless sql("SELECT count(*) FROM sg_threads() WHERE thread_id = '$t'");
	for (1 .. 300)
	{
		return sql(qq{SELECT (sg_get_state('$t'))."values"->>'answer'})
		  if sql("SELECT sg_invoke('$g', NULL, '$t') ? '__waiting__'") eq 'f';
		usleep(50_000);
	}
	return 'still waiting';
}

my $multi = start_worker('0.05', 'qa', 'qb');
my $single = start_worker('0.05', 'qs');

# --- two queues ------------------------------------------------------------
is(answer('ga', 'a-1'), 'nap 1', 'a worker of two queues does the first queue\'s task');
is(answer('gb', 'b-1'), 'nap 1', '... and the second\'s');
ok(alive($multi), 'and keeps running (psycopg 3.1 has no notifies(timeout=...))');

# --- a burst of notifications ------------------------------------------------
# 60 notifications of 7 kB (400 kB, more than a socket buffer holds): a
# LISTEN connection that is never read leaves its backend blocked writing
sql(join('', map { "NOTIFY stategraph_tasks, '" . ('x' x 7000) . "';" } 1 .. 60));
# (1.5 s for an unread connection's backend to fill its socket and block,
# then waited for: a loaded machine may take longer than that to read
# them all, and a connection never read stays in ClientWrite for good)
usleep(1_500_000);
ok($node->poll_query_until('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'stategraph reference worker%' AND wait_event = 'ClientWrite'",
	'0'), 'no worker connection is left unread after a burst of notifications');
is(answer('gs', 's-1'), 'nap 1', 'the one-queue worker goes on');
is(answer('gb', 'b-2'), 'nap 1', 'the two-queue worker goes on');

# --- an update JSON cannot hold: the handler's bug, not retried ------------------
sql(q{SELECT sg_invoke('gj', '{}', 'j-1')});
ok($node->poll_query_until('postgres', "SELECT count(*) FROM sg_tasks('qs', 'failed') WHERE thread_id = 'j-1'", '1'),
	'a task whose update is not JSON fails');
is(sql("SELECT max(attempt) FROM sg_tasks('qs') WHERE thread_id = 'j-1'"), '1', 'after one attempt (the handler is not run again)');

# --- a server restart ----------------------------------------------------------
$node->restart;
is(answer('gs', 's-2'), 'nap 1', 'after a server restart the one-queue worker goes on');
is(answer('ga', 'a-2'), 'nap 1', '... and the two-queue worker');
ok(alive($single) && alive($multi), 'both are still running');
like(slurp_file($logs{$single}), qr/connected again/, 'the worker says it connected again');

# --- its connection ended while a handler runs ---------------------------------
is(stop_worker($single, 'TERM'), 0, 'the one-queue worker stops on SIGTERM');
$single = start_worker('1.5', 'qs');
sql(q{SELECT sg_invoke('gs', '{}', 's-3')});
ok($node->poll_query_until('postgres', "SELECT count(*) FROM sg_tasks('qs', 'claimed') WHERE thread_id = 's-3'", '1'),
	'the task is in hand');
is(sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'stategraph reference worker'"),
	'2', 'both workers\' connections are ended while the handler runs');
ok($node->poll_query_until('postgres', "SELECT count(*) FROM sg_tasks('qs', 'completed') WHERE thread_id = 's-3'", '1'),
	'the result is handed back on a new connection');
is(sql("SELECT max(attempt) FROM sg_tasks('qs') WHERE thread_id = 's-3'"), '1', 'with the same claim: one attempt');
is(answer('gs', 's-3'), 'nap 1', 'the thread gets the answer of attempt 1');

# --- SIGTERM while the server is down ------------------------------------------
$node->stop('fast');
usleep(500_000);
is(stop_worker($single, 'TERM'), 0, 'SIGTERM while the server is down: the worker exits cleanly');
is(stop_worker($multi, 'TERM'), 0, '... the two-queue one too');
unlike(slurp_file($logs{$multi}) . slurp_file($logs{$single}), qr/Traceback/, 'no worker died of an exception');

done_testing();
