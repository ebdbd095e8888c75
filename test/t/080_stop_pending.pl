# Runs asked to stop with 'rollback' (sg_cancel) are stopped, their
# rollback done, however long that takes.
#
# One whose executor died (here the
# session of CALL sg_work, terminated during a step) more than
# stategraph.max_run_recoveries times was abandoned: the next claim ended
# it 'error' (SG014) without its rollback, the thread kept the stopped
# run's checkpoints and the run queued behind it started on them. A stop
# takes no step of the graph (what the abandon guards against), so such a
# run is stopped as any other: cancelled, its rollback done.
#
# One whose stop fails again and again (here a trigger on
# stategraph.checkpoints that raises while table fault has a row) is
# retried after a backoff of 2^failures seconds, at most a minute: past
# 1023 failures (17 hours of a minute each) 2^failures overflowed, the
# failure could not be recorded (the caller saw "value out of range"),
# and the run was never tried again. The backoff's exponent is capped.
# sg_cancel(run, 'interrupt'), which turns such a stop into one that
# keeps the run's checkpoints, waited for that backoff (up to a minute).
# And each failed stop warned "you don't own a lock of type ExclusiveLock"
# (the claim's transaction lock on the thread released as a session lock).
# No preload: only CALL sg_work executes runs here.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGNode;

my $node = plain_node('stop_pending', qq{stategraph.max_run_recoveries = 0\n});
stop_graph($node);

# a thread with a finished run
$node->safe_psql('postgres', q{SELECT sg_invoke('g', '{"n": 0, "wait": false}', 't')});
my $before = $node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 't'});

# a run on it whose executor dies in its last step, once its first committed
my $rid = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 10, "wait": true}', 't')});
kill_executor_in_step($node);
is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$rid'}), 'running',
	'the run is left running');

# stopped with 'rollback', a run queued behind it
is($node->safe_psql('postgres', qq{SELECT sg_cancel('$rid', 'rollback')}), 't', 'the run is asked to stop');
my $next = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 100, "wait": false}', 't', multitask => 'enqueue')});

$node->safe_psql('postgres', q{CALL sg_work()});
is($node->safe_psql('postgres', qq{SELECT status || ' ' || coalesce(error->>'sqlstate', '-') FROM stategraph.runs WHERE run_id = '$rid'}),
	'cancelled -', 'the stopped run is cancelled, not abandoned');
is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$next'}), 'success',
	'the next run succeeds');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 't'}), 2 * $before,
	"the thread has the first run's checkpoints and the last one's, none of the stopped run's");

# a run stopped at the end of its last step whose rollback fails
$node->safe_psql('postgres', q{SELECT sg_invoke('g', '{"n": 0, "wait": false}', 'u')});
$before = $node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 'u'});
$rid = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 10, "wait": true}', 'u')});
my ($wout, $werr) = ('', '');
my $work = IPC::Run::start(
	[ 'psql', '-X', '-Atq', '-d', $node->connstr('postgres') . ' application_name=stopper', '-c', 'CALL sg_work()' ],
	'>', \$wout, '2>', \$werr);
ok($node->poll_query_until('postgres', q{
		SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE application_name = 'stopper'}),
	'the second run sleeps in its last step');
$node->safe_psql('postgres', qq{INSERT INTO fault DEFAULT VALUES; SELECT sg_cancel('$rid', 'rollback'); INSERT INTO go VALUES ('u')});
$work->finish;
like($werr, qr/checkpoints are locked/, "its stop's failure reaches sg_work's caller");
is($node->safe_psql('postgres', qq{SELECT status || ' ' || failures || ' ' || stop_request FROM stategraph.runs WHERE run_id = '$rid'}),
	'pending 1 rollback', 'the run is to be stopped, its failure counted');
# as after 17 hours of failures
$node->safe_psql('postgres', qq{UPDATE stategraph.runs SET failures = 1100, not_before = now() WHERE run_id = '$rid'});
my ($ret, $out, $err) = $node->psql('postgres', 'CALL sg_work()', on_error_stop => 0);
like($err, qr/checkpoints are locked/, "the stop's failure reaches the caller again");
unlike($err, qr/out of range/, 'its backoff is computed');
unlike($err, qr/you don't own a lock/, 'no warning about the thread\'s lock');
is($node->safe_psql('postgres', qq{SELECT status || ' ' || failures FROM stategraph.runs WHERE run_id = '$rid'}),
	'pending 1101', 'the failure is counted');
cmp_ok($node->safe_psql('postgres', qq{SELECT extract(epoch FROM not_before - clock_timestamp()) FROM stategraph.runs WHERE run_id = '$rid'}),
	'<=', 60, 'it is tried again within a minute');
# the rollback cannot be done: sg_cancel(..., 'interrupt') stops it keeping its checkpoints, at once
my $kept = $node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 'u'});
cmp_ok($kept, '>', $before, 'the thread has the stopped run\'s checkpoints');
is($node->safe_psql('postgres', qq{SELECT sg_cancel('$rid', 'interrupt')}), 't', 'the stop is turned into an interrupt');
$node->safe_psql('postgres', q{CALL sg_work()});
is($node->safe_psql('postgres', qq{SELECT status || ' ' || stop_request FROM stategraph.runs WHERE run_id = '$rid'}),
	'cancelled interrupt', 'the run is stopped at once, not after its backoff');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 'u'}), $kept,
	'the thread keeps its checkpoints');
unlike(slurp_file($node->logfile), qr/you don't own a lock/, 'none in the server log');

$node->stop;
done_testing();
