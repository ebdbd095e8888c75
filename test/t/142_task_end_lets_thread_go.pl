# Whoever sees what a worker's call or the lease sweep did to a thread finds
# the thread free.
#
# Two calls of tasks.c move a thread on in their own transaction, having
# taken its lock without waiting (sg_try_lock_thread, which no row lock
# lets go): sg_complete of a step's last task, when no background run waits
# for it, continues the step itself; the lease sweep records the failure of
# a task whose attempts ran out, ending the run that waited. A commit
# releases a transaction-level lock only after it has made the transaction
# visible, so a lock still held at that commit left a moment in which the
# thread was seen moved on (done, or error with its run ended) while a
# caller with stategraph.lock_wait off got 55P03 on it. Both let the lock
# go once the thread's row is theirs, as every other holder does.
#
# As in TAP 141, gdb holds the moment open: it stops the session making the
# call in LockReleaseAll, where its commit releases its locks, after the
# commit is visible, while another session reads the thread and writes it.
# Needs gdb and the right to attach to a backend (the test skips otherwise).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use SGGdb;

plan skip_all => gdb_missing() if gdb_missing();

my $node = plain_node('task_end_lets_go');
# one attempt: a lease that expires is the task's failure
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph;' . ext_graph_sql(q{retry => '{"max_attempts": 1}'}));

my $s = gdb_session($node);
my $gdb = hold_commit_after($s, 'sg_complete');
plan skip_all => 'gdb cannot attach to a backend here' unless $gdb;

# a thread a client runs (no background run): the last task's completion continues the step
$node->safe_psql('postgres', q{SELECT sg_invoke('ext', '{}', 'c1')});
my ($task, $token) = split /\|/, $node->safe_psql('postgres', q{SELECT task_id, token FROM sg_claim('q', 'me')});
my ($seen, $busy) = seen_while_held($s, $gdb, qq{SELECT sg_complete('$task', '$token', '{"answer": 42}')},
	q{SELECT t.status || ' ' || (s.values->>'answer') FROM sg_threads() t, sg_get_state('c1') s
	  WHERE t.thread_id = 'c1'}, 'c1');
is($seen, 'done 42', 'the completion is visible, the step gone on to the end with the answer: sg_threads shows the thread done');
is($busy, 'free', 'the thread is free: sg_update_state with lock_wait off does not find it busy');

# a background run waits for a task whose lease expires on its only attempt: the sweep fails it
my $run = $node->safe_psql('postgres', q{SELECT sg_submit('ext', '{}', 's1')});
$node->safe_psql('postgres', q{CALL sg_work()});
is($node->safe_psql('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$run'}), 'waiting', 'the run waits for its task');
$node->safe_psql('postgres', q{SELECT count(*) FROM sg_claim('q', 'me', 1, '1 millisecond')});
$node->poll_query_until('postgres', q{SELECT lease_expires_at < clock_timestamp() FROM sg_tasks('q', 'claimed')})
  or die 'the lease did not expire';
$gdb = hold_commit_after($s, 'sg_sweep_leases');
ok($gdb, 'gdb attaches again');
($seen, $busy) = seen_while_held($s, $gdb, q{SELECT stategraph.sweep_leases(100)},
	qq{SELECT r.status || ' ' || t.status FROM sg_runs() r JOIN sg_threads() t USING (thread_id)
	   WHERE r.run_id = '$run'}, 's1');
is($seen, 'error error', "the sweep's failure is visible: the run ended, the thread in error");
is($busy, 'free', 'the thread is free: sg_update_state with lock_wait off does not find it busy');

end_session($s);
ok(no_advisory_lock_left($node), 'no advisory lock is left');
$node->stop;
done_testing();
