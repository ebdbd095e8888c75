# Whoever sees a background run's end finds its thread free.
#
# A run's executor lets its thread go before the commit that makes the
# run's end visible. A commit releases a transaction-level lock only after
# it has made the transaction visible, so an executor that still held the
# claim's transaction lock on the thread at that commit left a moment in
# which sg_runs said the run had ended while sg_threads said its thread was
# running (and a caller with stategraph.lock_wait off got 55P03 on it).
# Two ends commit with the claim: the stop of a run that had not begun in
# its executor (a waiting run cancelled), and a run resumed after its
# external task that ends in that step. The regression test
# revlife_prune_waiting saw the first once in CI, its poll landing in that
# moment.
#
# Here the moment is held open: gdb stops the executor (a session's CALL
# sg_work) in LockReleaseAll, where that commit releases its transaction
# locks, after the end is visible; meanwhile another session reads the
# run and the thread. Needs gdb and the right to attach to a backend (the
# test skips otherwise). No preload: only CALL sg_work executes runs.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use SGGdb;

plan skip_all => gdb_missing() if gdb_missing();

my $node = plain_node('end_lets_go');
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph;' . ext_graph_sql());

# what another session sees of run $run and its thread
sub run_and_thread
{
	my ($run) = @_;
	return qq{SELECT r.status || ' ' || t.status FROM sg_runs() r JOIN sg_threads() t USING (thread_id)
	          WHERE r.run_id = '$run'};
}

my $exec = gdb_session($node);
my $gdb = hold_commit_after($exec, 'stop_run');
plan skip_all => 'gdb cannot attach to a backend here' unless $gdb;

# a waiting run, cancelled: a claim takes it to stop it, and the stop commits with the claim
my $run = $node->safe_psql('postgres', q{SELECT sg_submit('ext', '{}', 'w1')});
$node->safe_psql('postgres', q{CALL sg_work()});
is($node->safe_psql('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$run'}), 'waiting', 'the run waits for its task');
$node->safe_psql('postgres', qq{SELECT sg_cancel('$run', 'interrupt')});
my ($seen, $busy) = seen_while_held($exec, $gdb, q{CALL sg_work()}, run_and_thread($run), 'w1');
is($seen, 'cancelled idle', "the run's end is visible, and sg_threads shows its thread idle (its step next, its task cancelled)");
is($busy, 'free', 'the thread is free: sg_update_state with lock_wait off does not find it busy');

# a run resumed after its external task, ending in that step: the end commits with the claim
$run = $node->safe_psql('postgres', q{SELECT sg_submit('ext', '{}', 'w2')});
$node->safe_psql('postgres', q{CALL sg_work()});
my ($task, $token) = split /\|/, $node->safe_psql('postgres', q{SELECT task_id, token FROM sg_claim('q', 'me')});
$gdb = hold_commit_after($exec, 'record_step');
ok($gdb, 'gdb attaches again');
$node->safe_psql('postgres', qq{SELECT sg_complete('$task', '$token', '{"answer": 42}')});
($seen, $busy) = seen_while_held($exec, $gdb, q{CALL sg_work()}, run_and_thread($run), 'w2');
is($seen, 'success done', "the run's end is visible, and sg_threads shows its thread done");
is($busy, 'free', 'the thread is free: sg_update_state with lock_wait off does not find it busy');
is($node->safe_psql('postgres', q{SELECT "values"->>'answer' FROM sg_get_state('w2')}), '42', "the run ended with its task's answer");

end_session($exec);
ok(no_advisory_lock_left($node), 'no advisory lock is left');
$node->stop;
done_testing();
