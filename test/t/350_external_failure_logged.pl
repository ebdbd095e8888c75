# What the server log says when a background run ends in error because an
# external node's task failed for good: a SQL node's failure is one
# WARNING per failed run ("node ... of graph ... failed: ..."), but a task
# whose lease lapsed at its last attempt (the lease sweep fails it) or that
# its worker failed without a retry (sg_fail(..., retry => false), or at
# its last attempt) ended its run in silence: sg_runs said error, the log
# nothing. Now one WARNING of the same kind per run, from the process that
# ends it: a worker's sweep (with the CONTEXT line of a worker's messages,
# TAP 348), or the session of sg_fail (its client sees it too). A failure
# that is retried logs nothing.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('external_failure_logged', qq{
stategraph.max_workers = 2
stategraph.sweep_interval = 1
log_min_messages = warning
});
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph;'
	. ext_graph_sql(q{'{"max_attempts": 2, "backoff_ms": 10}'}));

my $n = 3;
my $fail_re = qr/WARNING:  node "ask" of graph "ext" failed: /;

# New log lines since $at.
sub log_since { return substr(slurp_file($node->logfile), $_[0]); }

# How many failures of node "ask" $log has.
sub failures { my $c = () = $_[0] =~ /$fail_re/g; return $c; }

# Submit a run on each of @threads; returns their run ids once all wait for their task.
sub submit_waiting
{
	my @threads = @_;
	my %run;
	$run{$_} = $node->safe_psql('postgres', qq{SELECT sg_submit('ext', '{}', '$_')}) for @threads;
	my $list = join(', ', map { "'$_'" } @threads);
	ok(true_within($node, 60, qq{SELECT count(*) = } . scalar(@threads)
		. qq{ FROM stategraph.runs WHERE thread_id IN ($list) AND status = 'waiting'}),
		'the runs wait for their tasks');
	return %run;
}

# Claim the tasks of @threads (attempt $attempt) under lease $lease, until all are claimed.
sub claim_all
{
	my ($attempt, $lease, @threads) = @_;
	my $list = join(', ', map { "'$_'" } @threads);
	my $got = 0;
	for (1 .. 100)
	{
		$got += $node->safe_psql('postgres', qq{SELECT count(*) FROM sg_claim('q', 'w1', 10, lease => '$lease')
			WHERE thread_id IN ($list)});
		last if $got >= @threads;
		select(undef, undef, undef, 0.1);
	}
	is($node->safe_psql('postgres', qq{SELECT count(*) FROM stategraph.tasks
		WHERE thread_id IN ($list) AND status = 'claimed' AND attempt = $attempt}),
		scalar(@threads), "the tasks are claimed, attempt $attempt");
}

# --- the lease lapses twice: the worker's lease sweep fails the task ---
my @lapse = map { "lapse-$_" } 1 .. $n;
my $at = -s $node->logfile;
my %lapse_run = submit_waiting(@lapse);
claim_all(1, '1 second', @lapse);
# the leases lapse: retried (a sweep requeues each after its backoff), nothing logged
claim_all(2, '2 seconds', @lapse);
is(failures(log_since($at)), 0, 'a lapsed lease that is retried logs nothing');
my $list = join(', ', map { "'$_'" } @lapse);
ok(true_within($node, 60, qq{SELECT count(*) = $n FROM stategraph.runs WHERE thread_id IN ($list) AND status = 'error'}),
	'the leases lapse again: the runs end with status error');
sleep 2;	# more sweeps, which find nothing
my $log = log_since($at);
my @lines = $log =~ /${fail_re}the lease of the task expired\n(.*DETAIL:.*\n.*CONTEXT:.*\n)/g;
is(scalar(@lines), $n, 'each run its lapsed lease ended is logged once');
is(failures($log), $n, 'and nothing else of the failures');
for my $t (@lapse)
{
	my $rid = $lapse_run{$t};
	is(scalar(grep { /background run \Q$rid\E with status error.*thread "\Q$t\E"/ && /lapsed at its last attempt \(2 of 2\)/ } @lines), 1,
		"the DETAIL of $t names its run, its thread and the attempt");
}
is(scalar(grep { /CONTEXT:  stategraph retention sweep of database "postgres"/ } @lines), $n,
	'the CONTEXT line of the worker that swept names the database');

# --- sg_fail: without a retry at once, or at the last attempt ---
$at = -s $node->logfile;
my %fail_run = submit_waiting('fail-now', 'fail-last');
claim_all(1, '60 seconds', 'fail-now', 'fail-last');
my $fail = sub {
	my ($t, $retry) = @_;
	my ($stderr, $stdout);
	$node->psql('postgres', qq{SELECT sg_fail(task_id, token, '{"message": "model timed out on $t"}', retry => $retry)
		FROM stategraph.tasks WHERE thread_id = '$t'}, stdout => \$stdout, stderr => \$stderr, on_error_die => 1);
	return $stderr;
};
is($fail->('fail-last', 'true'), '', 'a failure that is retried warns nobody');
is(failures(log_since($at)), 0, 'and logs nothing');
my $err = $fail->('fail-now', 'false');
like($err, qr/WARNING:  node "ask" of graph "ext" failed: model timed out on fail-now/,
	'sg_fail without a retry warns its caller, as a failing node warns the caller of sg_invoke');
claim_all(2, '60 seconds', 'fail-last');
$err = $fail->('fail-last', 'true');
like($err, qr/WARNING:  node "ask" of graph "ext" failed: model timed out on fail-last/,
	'sg_fail at the last attempt warns its caller');
is($fail->('fail-last', 'true'), '', 'the same sg_fail again (a no-op) warns nobody');
is($node->safe_psql('postgres', q{SELECT string_agg(status, ',' ORDER BY thread_id) FROM stategraph.runs
	WHERE thread_id IN ('fail-now', 'fail-last')}), 'error,error', 'both runs end with status error');
$log = log_since($at);
@lines = $log =~ /${fail_re}(model timed out on \S+\n.*DETAIL:.*\n)/g;
is(scalar(@lines), 2, 'each run sg_fail ended is logged once');
is(failures($log), 2, 'and nothing else of the failures');
for my $t ('fail-now', 'fail-last')
{
	my $rid = $fail_run{$t};
	my $attempt = $t eq 'fail-now' ? 1 : 2;
	is(scalar(grep { /^model timed out on \Q$t\E\n/ && /Worker "w1" failed task \S+ at attempt $attempt of 2 without a retry, which ended background run \Q$rid\E with status error.*thread "\Q$t\E"/ } @lines), 1,
		"the DETAIL of $t names the worker, its run, its thread and the attempt");
}

done_testing();
