# A stopped run whose role was dropped lets its thread go before its stop
# commits.
#
# A run asked to stop whose role was dropped meanwhile is stopped by the
# claim's session as its own role (TAP 081): its claim commits, the thread
# held across that commit by the claim's transaction lock, and the stop
# commits next. That stop kept the lock to its commit, which releases it
# only after making the stop visible, so for a moment the run was seen
# cancelled while sg_threads said its thread was running and a caller with
# stategraph.lock_wait off got 55P03 on it: every other end of a run lets
# the thread go first (let_thread_go, TAP 141).
#
# As in TAP 141, gdb holds the moment open: it stops the executor (a
# session's CALL sg_work) in the LockReleaseAll of the stop's commit, while
# another session reads the run and the thread and writes the thread.
# Needs gdb and the right to attach to a backend (the test skips otherwise).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use SGGdb;

plan skip_all => gdb_missing() if gdb_missing();

my $node = plain_node('dropped_role_stop');
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph; CREATE ROLE alice;' . ext_graph_sql());

my $s = gdb_session($node);
my $gdb = hold_commit_after($s, 'stop_run');
plan skip_all => 'gdb cannot attach to a backend here' unless $gdb;

# a run of alice's waits for its task; she asks it to stop, and is dropped (her runs and threads left)
my $run = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('ext', '{}', 'd1')});
$node->safe_psql('postgres', q{CALL sg_work()});
is($node->safe_psql('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$run'}), 'waiting', 'the run waits for its task');
is($node->safe_psql('postgres', qq{SET ROLE alice; SELECT sg_cancel('$run', 'interrupt')}), 't', 'alice asks the run to stop');
$node->safe_psql('postgres', q{DROP ROLE alice});

my ($seen, $busy) = seen_while_held($s, $gdb, q{CALL sg_work()},
	qq{SELECT r.status || ' ' || t.status FROM sg_runs() r JOIN sg_threads() t USING (thread_id)
	   WHERE r.run_id = '$run'}, 'd1');
is($seen, 'cancelled idle', "the stop is visible: the run cancelled, its thread idle (its task cancelled)");
is($busy, 'free', 'the thread is free: sg_update_state with lock_wait off does not find it busy');

end_session($s);
ok(no_advisory_lock_left($node), 'no advisory lock is left');
$node->stop;
done_testing();
