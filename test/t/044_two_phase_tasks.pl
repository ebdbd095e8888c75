# Tasks queued in a prepared transaction (2PC). Queueing or re-queueing an
# external task (sg_invoke reaching an external node, sg_claim's lease
# sweep re-queueing another worker's expired task, sg_fail with retry)
# sent NOTIFY stategraph_tasks at once, and PostgreSQL refuses to prepare a
# transaction that has notified (0A000 "cannot PREPARE a transaction that
# has executed LISTEN, UNLISTEN, or NOTIFY"). The NOTIFY is now sent at
# commit (XACT_EVENT_PRE_COMMIT); a prepared transaction drops it, and
# COMMIT PREPARED, from any session, notifies every queue with queued work
# and wakes every long poll. A normal commit notifies as before, and an
# aborted savepoint's queue is not notified.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use IPC::Run;
use SGNode;

my $node = preloaded_node('two_phase_tasks', <<'CONF');
max_prepared_transactions = 4
stategraph.sweep_interval = 3600
CONF
$node->safe_psql('postgres', q{
	CREATE EXTENSION stategraph;
	SELECT sg_create_graph('xa', '{"n": "replace"}');
	SELECT sg_add_external_node('xa', 'x', 'xaq');
	SELECT sg_add_edge('xa', '__start__', 'x');
	SELECT sg_add_edge('xa', 'x', '__end__');
	SELECT sg_compile('xa');
	SELECT sg_create_graph('xs', '{"n": "replace"}');
	SELECT sg_add_external_node('xs', 'x', 'xsq');
	SELECT sg_add_edge('xs', '__start__', 'x');
	SELECT sg_add_edge('xs', 'x', '__end__');
	SELECT sg_compile('xs');
});

my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN stategraph_tasks');

# whether the listener hears of queue $q within $secs seconds
sub heard
{
	my ($q, $secs) = @_;
	my $until = time + $secs;
	while (time < $until)
	{
		my $out = $listener->query_safe('SELECT 1');
		return 1 if $out =~ /Asynchronous notification "stategraph_tasks" with payload "$q"/;
		usleep(50_000);
	}
	return 0;
}

# 1. a normal commit still notifies; an aborted savepoint's queue is not
$node->safe_psql('postgres', q{SELECT sg_invoke('xa', '{"n": 0}', 'xa0')});
ok(heard('xaq', 5), 'a commit that queues a task notifies its queue');
$node->safe_psql('postgres', q{
	BEGIN; SAVEPOINT s; SELECT sg_invoke('xs', '{"n": 0}', 'xs0'); ROLLBACK TO s;
	SELECT sg_invoke('xa', '{"n": 0}', 'xa00'); COMMIT});
ok(heard('xaq', 5), 'the queue of the kept work is notified');
ok(!heard('xsq', 1), 'the queue of a rolled back savepoint is not');
$node->safe_psql('postgres', q{SELECT count(*) FROM sg_claim('xaq', 'w0', n => 10)});

# 2. sg_invoke queueing a task, prepared; a long poll and the listener get it at COMMIT PREPARED
my ($out, $err) = ('', '');
my $poll = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $node->connstr('postgres'), '-c',
	  q{SELECT thread_id FROM sg_claim('xaq', 'poller', 1, wait => '60 s')} ],
	'>', \$out, '2>', \$err);
$node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event_type = 'Extension' AND query LIKE '%poller%'})
  or die 'the claim does not wait';
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	q{BEGIN; SELECT sg_invoke('xa', '{"n": 1}', 'xa1'); PREPARE TRANSACTION 'xa_a'});
is($ret, 0, 'a transaction that queued a task can be prepared') or diag($stderr);
heard('xaq', 0.01);	# (nothing yet: drained)
my $committed = time;
$node->safe_psql('postgres', q{COMMIT PREPARED 'xa_a'});
ok(heard('xaq', 5), 'COMMIT PREPARED notifies the queue of the prepared task');
$poll->finish;
my $took = time - $committed;
is($out =~ s/\n$//r, 'xa1', 'the long poll claims the prepared task') or diag($err);
cmp_ok($took, '<', 10, 'promptly after COMMIT PREPARED');

# 3. an sg_claim whose lease sweep re-queues another worker's expired task
$node->safe_psql('postgres', q{SELECT sg_invoke('xa', '{"n": 2}', 'xa2')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM sg_claim('xaq', 'w1', n => 5, lease => '1 second')}),
	'1', 'w1 claims with a short lease');
sleep 2;
heard('xaq', 0.01);
($ret, $stdout, $stderr) = $node->psql('postgres',
	q{BEGIN; SELECT count(*) FROM sg_claim('xsq', 'w2'); SELECT count(*) FROM sg_claim('xaq', 'w2', lease => '1 second'); PREPARE TRANSACTION 'xa_b'});
is($ret, 0, 'a claim whose sweep re-queued an expired task can be prepared') or diag($stderr);
$node->safe_psql('postgres', q{ROLLBACK PREPARED 'xa_b'});
ok(!heard('xaq', 1), 'ROLLBACK PREPARED notifies nothing');

# 4. sg_fail with retry, prepared
$node->safe_psql('postgres', q{SELECT sg_invoke('xa', '{"n": 3}', 'xa3')});
heard('xaq', 0.01);
my $tok = $node->safe_psql('postgres', q{SELECT task_id || ' ' || token FROM sg_claim('xaq', 'w3', n => 5, lease => '1 minute') WHERE thread_id = 'xa3'});
my ($task, $token) = split / /, $tok;
($ret, $stdout, $stderr) = $node->psql('postgres',
	qq{BEGIN; SELECT sg_fail('$task', '$token', '{"e": 1}', retry => true); PREPARE TRANSACTION 'xa_c'});
is($ret, 0, 'a failure that queues its task again can be prepared') or diag($stderr);
$node->safe_psql('postgres', q{COMMIT PREPARED 'xa_c'});
ok(heard('xaq', 5), 'and COMMIT PREPARED notifies its queue');

$listener->quit;
done_testing();
