# The reference worker when its claim (or its lease sweep) is refused with
# an error that is neither transient nor a lost connection: EXECUTE on
# sg_claim revoked from its role meanwhile (42501), the extension being
# updated, a bad --lease. It died with a traceback (a ProgrammingError out
# of run()), and after a grant given back it stayed dead. Now it says so in
# one line, polls again backing off up to 10 s (not a busy loop), and once
# the grant is back it works the queue again:
#  - EXECUTE on sg_claim revoked from the worker's role: the worker keeps
#    running, logging the refusal with its SQLSTATE, a few lines only;
#  - a task queued meanwhile: completed at its first attempt once EXECUTE
#    is given back;
#  - the same for EXECUTE on stategraph.sweep_leases (the worker's sweep).
# And a heartbeat refused so (EXECUTE on sg_heartbeat revoked for a while,
# or the role's membership in the thread's owner): the heartbeat thread
# ended at the first refusal, so the lease lapsed even once the grant was
# back, another worker took the task over and the model call was paid
# twice (the first result refused, SG010). Now the beats are tried again
# while the handler runs:
#  - EXECUTE on sg_heartbeat revoked for 3 s during a task of 10 s whose
#    node's lease is 6 s, a second worker on the queue: the task completes
#    at its first attempt, by the worker that claimed it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use POSIX qw(WNOHANG);
use SGWorker qw(start_worker stop_worker);

plan skip_all => 'no /usr/bin/python3 with psycopg' unless SGWorker::worker_usable();

my $node = PostgreSQL::Test::Cluster->new('workerrefused');
$node->init;
$node->start;
my $dsn = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=alice_w';

sub sql { return $node->safe_psql('postgres', $_[0]); }

my $claim = 'sg_claim(text, text, integer, interval, interval)';
my $sweep = 'stategraph.sweep_leases(integer)';
sql(qq{
    CREATE EXTENSION stategraph;
    CREATE ROLE alice LOGIN;
    CREATE ROLE alice_w LOGIN;
    GRANT alice TO alice_w;                -- the worker of alice's threads
    REVOKE EXECUTE ON FUNCTION $claim FROM PUBLIC;
    REVOKE EXECUTE ON FUNCTION $sweep FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION $claim TO alice_w;
    GRANT EXECUTE ON FUNCTION $sweep TO alice_w;
    SET ROLE alice;
    SELECT sg_create_graph('g', '{"answer": "replace"}');
    SELECT sg_add_external_node('g', 'nap', 'q180', '{"max_attempts": 3, "backoff_ms": 0}', '30 seconds');
    SELECT sg_add_edge('g', '__start__', 'nap');
    SELECT sg_add_edge('g', 'nap', '__end__');
    SELECT sg_compile('g');
});

my ($w, $log) = start_worker($dsn, queues => ['q180'], env => { SG_NAP => '0.05' }, args => [ '--sweep-every', '0' ]);
sub alive { return waitpid($w, WNOHANG) == 0; }

# EXECUTE on $fn revoked from the worker's role for about 6 s, a task
# queued meanwhile, EXECUTE given back
sub revoked
{
	my ($fn, $t) = @_;
	my $from = -s $log // 0;
	sql("REVOKE EXECUTE ON FUNCTION $fn FROM alice_w");
	sleep 6;
	my $text = substr(slurp_file($log), $from);
	ok(alive(), "EXECUTE on $fn revoked: the worker keeps running");
	my @lines = $text =~ /poll refused \(42501 permission denied for function \w+\): polling again in \d+ s\n/g;
	ok(@lines >= 2 && @lines <= 5, "... says each refusal in one line, backing off (" . scalar(@lines) . ' in 6 s)');
	sql(qq{SET ROLE alice; SELECT sg_invoke('g', '{}', '$t')});
	sql("GRANT EXECUTE ON FUNCTION $fn TO alice_w");
	ok($node->poll_query_until('postgres', "SELECT count(*) FROM sg_tasks('q180', 'completed') WHERE thread_id = '$t'", '1'),
		"EXECUTE given back: the task queued meanwhile is completed");
	is(sql("SELECT attempt FROM sg_tasks('q180') WHERE thread_id = '$t'"), '1', '... at its first attempt');
}

sql(q{SET ROLE alice; SELECT sg_invoke('g', '{}', 't-0')});
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM sg_tasks('q180', 'completed') WHERE thread_id = 't-0'}, '1'),
	'the worker works its queue');
revoked($claim, 't-1');
revoked($sweep, 't-2');

is(stop_worker($w, 'TERM'), 0, 'SIGTERM stops it cleanly');
unlike(slurp_file($log), qr/Traceback/, 'no exception ended it');

# --- a heartbeat refused for a while: beaten again, never taken over ---------
my $beat = 'sg_heartbeat(text, uuid, interval)';
sql(qq{
    REVOKE EXECUTE ON FUNCTION $beat FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION $beat TO alice_w;
    SET ROLE alice;
    SELECT sg_create_graph('gb', '{"answer": "replace"}');
    SELECT sg_add_external_node('gb', 'nap', 'qb180', '{"max_attempts": 3, "backoff_ms": 0}', '6 seconds');
    SELECT sg_add_edge('gb', '__start__', 'nap');
    SELECT sg_add_edge('gb', 'nap', '__end__');
    SELECT sg_compile('gb');
});
# (beats every 2 s, a refused one tried again within 1 s: the revoke of 3 s
# meets at least one beat, and the lease of 6 s outlasts it under load; with
# a lease of 3 s and 2 s revoked the margin was under a second, and the lease
# lapsed once on a busy machine)
my ($w1, $log1) = start_worker($dsn, queues => ['qb180'], env => { SG_NAP => '10' }, args => [ '--name', 'w1' ]);
sql(q{SET ROLE alice; SELECT sg_invoke('gb', '{}', 'b-1')});
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM sg_tasks('qb180', 'claimed') WHERE thread_id = 'b-1'}, '1'),
	'w1 claims a task of 10 s, its lease 6 s');
my ($w2, $log2) = start_worker($dsn, queues => ['qb180'], env => { SG_NAP => '10' }, args => [ '--name', 'w2' ]);
sql("REVOKE EXECUTE ON FUNCTION $beat FROM alice_w");
sleep 3;
sql("GRANT EXECUTE ON FUNCTION $beat TO alice_w");
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM sg_tasks('qb180', 'completed') WHERE thread_id = 'b-1'}, '1'),
	'EXECUTE on sg_heartbeat revoked for 3 s: the task completes');
is(sql(q{SELECT attempt || ' ' || worker || ' ' || (result->>'answer') FROM sg_tasks('qb180') WHERE thread_id = 'b-1'}),
	'1 w1 nap 1', '... at its first attempt, by the worker that claimed it (never taken over)');
my $text = slurp_file($log1);
like($text, qr/heartbeat of \S+ refused \(42501 permission denied for function sg_heartbeat\): trying again while the handler runs\n/,
	'the worker says its beat was refused, in one line');
like($text, qr/heartbeat of \S+ taken again\n/, '... and when it was taken again');
is(stop_worker($w1, 'TERM'), 0, 'w1 stops cleanly');
is(stop_worker($w2, 'TERM'), 0, 'w2 stops cleanly');
unlike(slurp_file($log1), qr/Traceback/, 'no exception');

$node->stop;
done_testing();
