# The reference worker's heartbeats with --lease: each beat extends the
# lease by the lease the worker claimed with (sg_heartbeat(..., extend =>
# lease)), never by the node's. It beat without extend; a server that then
# extends by the node's lease (as this one did before tasks.claim_lease)
# cut a 30 s claim of a node whose lease is 2 s down to 2 s at its first
# beat, another worker took the task over, and the model call ran three
# times.
#  - a node of lease 2 s, two workers with --lease 9s (beats every 3 s), a
#    handler that works 7 s: the task completes at its first attempt, by
#    the worker that claimed it, and every beat asked for 9 s;
#  - the same where the server knows no claim's lease (tasks.claim_lease
#    cleared after the claim, as a server before it had it): the same outcome.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGWorker qw(start_worker stop_worker);

plan skip_all => 'no /usr/bin/python3 with psycopg' unless SGWorker::worker_usable();

my $node = PostgreSQL::Test::Cluster->new('workerlease');
$node->init;
$node->append_conf('postgresql.conf', "log_statement = 'all'");
$node->start;
my $dsn = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres';

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{
    CREATE EXTENSION stategraph;
    SELECT sg_create_graph('g', '{"answer": "replace"}');
    SELECT sg_add_external_node('g', 'nap', 'q', '{"max_attempts": 3, "backoff_ms": 0}', '2 seconds');
    SELECT sg_add_edge('g', '__start__', 'nap');
    SELECT sg_add_edge('g', 'nap', '__end__');
    SELECT sg_compile('g');
});

# a beat's extend as the server log shows it: 9 s
my $nine = qr/(?:9s|00:00:09)/;

my %opt = (queues => ['q'], env => { SG_NAP => '7' });

# runs thread $t with worker w1 claiming its task and w2 waiting beside it;
# $between (SQL) runs once w1 holds the task. The task once completed:
# "attempt worker answer", and the heartbeats' extend parameters, from the server log
sub run_thread
{
	my ($t, $between) = @_;
	my $offset = -s $node->logfile;
	my ($w1) = start_worker($dsn, %opt, args => [ '--lease', '9s', '--name', 'w1' ]);
	sql("SELECT sg_invoke('g', '{}', '$t')");
	$node->poll_query_until('postgres', "SELECT count(*) FROM sg_tasks('q', 'claimed') WHERE thread_id = '$t' AND worker = 'w1'", '1')
	  or die "w1 did not claim the task of $t";
	sql($between) if $between;
	my ($w2) = start_worker($dsn, %opt, args => [ '--lease', '9s', '--name', 'w2' ]);
	$node->poll_query_until('postgres', "SELECT count(*) FROM sg_tasks('q', 'completed') WHERE thread_id = '$t'", '1')
	  or die "the task of $t did not complete";
	my $done = sql("SELECT attempt || ' ' || worker || ' ' || (result->>'answer') FROM sg_tasks('q') WHERE thread_id = '$t'");
	is(stop_worker($w1, 'TERM'), 0, "$t: w1 stops cleanly");
	is(stop_worker($w2, 'TERM'), 0, "$t: w2 stops cleanly");
	my $log = substr(slurp_file($node->logfile), $offset);
	my @beats = $log =~ /execute [^\n]*: SELECT sg_heartbeat\(([^\n]*)\)\n[^\n]*DETAIL:  parameters: ([^\n]*)/g;
	my @extend;
	while (my ($call, $params) = splice(@beats, 0, 2))
	{
		push @extend, $params =~ /\$3 = '([^']*)'/ ? $1 : 'none';
	}
	return ($done, join(',', @extend));
}

# --- this server: a beat without extend extends by the claim's lease ---------
my ($done, $extend) = run_thread('t-1');
is($done, '1 w1 nap 1', 'a task longer than the node\'s lease completes at its first attempt, by the worker that claimed it');
like($extend, qr/^$nine(,$nine)+$/, "every beat extended by the claim's 9 s ($extend)");

# --- a server that extends a beat without extend by the node's lease --------
($done, $extend) = run_thread('t-2', q{UPDATE stategraph.tasks SET claim_lease = NULL WHERE thread_id = 't-2'});
is($done, '1 w1 nap 1', 'where the server knows no claim\'s lease: still the first attempt, by w1 (never taken over)');
like($extend, qr/^$nine(,$nine)+$/, "every beat extended by 9 s ($extend)");
is(sql(q{SELECT (sg_get_state('t-2'))."values"->>'answer'}), 'nap 1', 'the thread has the first attempt\'s answer');

$node->stop;
done_testing();
