# A run's stop executed after sg_reassign_owned gave the run away
# (fuzzing, test/fuzz/RESULTS.md, "Regression run (2026-12-07)", item 6:
# a background worker ended by signal 11 in the roles mode).
#
# The executor of a run acts as the owner its claim read. A run to be
# stopped (here a run waiting for its external task, asked to roll back by
# a submit with multitask 'rollback') is claimed, the claim commits, and
# the stop then takes the thread's row and the run's (lock_stop_request)
# before it acts as that owner. A reassign of the owner, which waited for
# the claim (its hold on the owner's name), can commit in between: the
# stop then ran as the old owner, from whom row-level security now hides
# the run's and the thread's rows. Its rollback read the first row of an
# empty result (roll_back_thread: the run's start status) and the
# executor died with signal 11, the postmaster restarting every process
# (both parts below, checked before the fix: CALL sg_work lost its
# connection, the worker "was terminated by signal 11"). Now the stop,
# as a step that fails for a change of owner, sees that the run changed
# owner and is tried again as the new one (README, Security): the thread
# is rolled back and the run cancelled, no failure counted.
#
# The order is made certain: a trigger on stategraph.runs holds the claim
# of a run to be stopped (its UPDATE to running) on an advisory lock of
# session h; meanwhile session x locks the thread's row and calls the
# reassign, which waits for the claim's hold on the name. h lets go: the
# claim commits, the reassign goes on and commits, and only then does the
# stop get the thread's row that x held.
#
# 1. CALL sg_work (no preload: it alone executes runs).
# 2. A background worker (preloaded), as in the fuzzing run.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SGNode;
use Test::More;

my $setup = q{
    CREATE EXTENSION stategraph;
    CREATE ROLE ra;
    CREATE ROLE rb;
} . ext_graph_sql() . q{
    CREATE FUNCTION public.hold_stop_claim() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_advisory_xact_lock_shared(4243);
        RETURN NULL;
    END $$;
    CREATE TRIGGER hold_stop_claim AFTER UPDATE ON stategraph.runs FOR EACH ROW
        WHEN (OLD.status = 'pending' AND NEW.status = 'running' AND NEW.stop_request IS NOT NULL)
        EXECUTE FUNCTION public.hold_stop_claim();
};

# Session $app waits for a lock of $type (advisory, transactionid, tuple).
sub waits_for
{
	my ($node, $app, $type) = @_;
	return $node->poll_query_until('postgres', qq{
	SELECT count(*) = 1 FROM pg_stat_activity
	WHERE application_name = '$app' AND wait_event_type = 'Lock' AND wait_event = '$type'});
}

# On $node, whose run $run (of ra, on thread $thread) waits for its task:
# a submit with 'rollback' asks it to stop, and its claim is held until
# session x holds the thread's row and waits in sg_reassign_owned('ra',
# 'rb') for the claim; then the claim goes on. $claimer: the application
# name or backend type that claims (its wait is looked for in
# pg_stat_activity). Returns the reassign's stderr.
sub stop_claim_then_reassign
{
	my ($node, $run, $thread, $claimer_sql, $start_claim) = @_;
	my $h = $node->background_psql('postgres');
	$h->query_safe('SELECT pg_advisory_lock(4243)');
	$node->safe_psql('postgres',
		qq{SET ROLE ra; SELECT sg_submit('ext', '{"answer": "q2"}', '$thread', multitask => 'rollback')});
	$start_claim->() if $start_claim;
	ok($node->poll_query_until('postgres', qq{
	SELECT count(*) = 1 FROM pg_stat_activity
	WHERE $claimer_sql AND wait_event_type = 'Lock' AND wait_event = 'advisory'}),
		"$thread: the claim of the stop waits (trigger)");
	my ($out, $err) = ('', '');
	my $x = IPC::Run::start(
		[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') . ' application_name=x',
		  '-c', 'BEGIN',
		  '-c', qq{SELECT 1 FROM stategraph.threads WHERE thread_id = '$thread' FOR NO KEY UPDATE},
		  '-c', q{SELECT sg_reassign_owned('ra', 'rb')},
		  '-c', 'COMMIT' ],
		'>', \$out, '2>', \$err);
	ok(waits_for($node, 'x', 'advisory'), "$thread: the reassign waits for the claim's hold on ra's name");
	$h->query_safe('SELECT pg_advisory_unlock(4243)');
	$x->finish;
	$h->quit;
	return $err;
}

# --- 1. CALL sg_work -----------------------------------------------------

my $node = plain_node('stop_reassign_work');
$node->safe_psql('postgres', $setup);
my $run = $node->safe_psql('postgres', q{SET ROLE ra; SELECT sg_submit('ext', '{"answer": "q1"}', 't-1')});
$node->safe_psql('postgres', 'CALL sg_work()');
is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$run'}), 'waiting',
	'the run waits for its task');

my ($wout, $werr) = ('', '');
my $work;
my $err = stop_claim_then_reassign($node, $run, 't-1', q{application_name = 'work_session'}, sub {
	$work = IPC::Run::start(
		[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
		  '-c', 'SET application_name = work_session', '-c', 'CALL sg_work()' ],
		'>', \$wout, '2>', \$werr);
});
is($err, '', 'the reassign succeeds');
$work->finish;
is($werr, '', 'CALL sg_work ends without error (its session did not die)');
is($node->safe_psql('postgres', qq{SELECT status || ' ' || owner || ' ' || failures FROM stategraph.runs WHERE run_id = '$run'}),
	'cancelled rb 0', 'the run was stopped as its new owner, no failure counted');
is($node->safe_psql('postgres', q{SELECT string_agg(status || ' ' || owner, ', ' ORDER BY seq) FROM stategraph.runs WHERE thread_id = 't-1'}),
	'cancelled rb, waiting rb', 'the rollback\'s run then started on the thread rolled back, as rb');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 't-1'}),
	'2', 'the stopped run\'s checkpoints are gone (rolled back): the thread has the new run\'s two');
ok($node->log_contains(qr/background run $run failed outside its graph's steps: the role of background run $run was renamed, or the run given to another role, during its stop/),
	'the stop as the old owner was taken again');
unlike(slurp_file($node->logfile), qr/terminated by signal/, 'no server process died');
$node->stop;

# --- 2. A background worker ------------------------------------------------

$node = preloaded_node('stop_reassign_worker', "stategraph.max_workers = 1\n");
$node->safe_psql('postgres', $setup);
$run = $node->safe_psql('postgres', q{SET ROLE ra; SELECT sg_submit('ext', '{"answer": "q1"}', 'w-1')});
ok($node->poll_query_until('postgres', qq{SELECT status = 'waiting' FROM stategraph.runs WHERE run_id = '$run'}),
	'the worker\'s run waits for its task');
$err = stop_claim_then_reassign($node, $run, 'w-1', q{backend_type = 'stategraph worker'});
is($err, '', 'the reassign succeeds');
ok($node->poll_query_until('postgres', q{
	SELECT string_agg(status || ' ' || owner, ', ' ORDER BY seq) = 'cancelled rb, waiting rb'
	FROM stategraph.runs WHERE thread_id = 'w-1'}),
	'the worker stopped the run as rb, then started the rollback\'s run as rb');
is($node->safe_psql('postgres', qq{SELECT failures FROM stategraph.runs WHERE run_id = '$run'}), '0',
	'no failure counted');
ok($node->log_contains(qr/background run $run failed outside its graph's steps: the role of background run $run was renamed, or the run given to another role, during its stop/),
	'the stop as the old owner was taken again');
unlike(slurp_file($node->logfile), qr/terminated by signal/, 'the worker did not die');
$node->stop;
done_testing();
