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
use IPC::Run;
use File::Temp qw(tempdir);
use SGNode;

plan skip_all => 'gdb is not installed' unless grep { -x "$_/gdb" } split /:/, $ENV{PATH};

my $node = PostgreSQL::Test::Cluster->new('end_lets_go');
$node->init;
$node->append_conf('postgresql.conf', qq{shared_preload_libraries = ''\n});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph;' . ext_graph_sql());
my $dir = tempdir(CLEANUP => 1);

# A session for CALL sg_work, the library loaded (gdb's breakpoints are in it): its pid.
sub executor
{
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(['psql', '-X', '-At', '-d', $node->connstr('postgres')],
		'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(180));
	$in .= "LOAD 'stategraph'; SELECT pg_backend_pid();\n";
	$h->pump until $out =~ /^(\d+)$/m;
	return { h => $h, in => \$in, out => \$out, pid => $1 };
}

# gdb on the executor: once it enters $function, the next LockReleaseAll
# (its commit's) stops it until file $dir/go exists. Returns once gdb is
# attached and the executor goes on; undef if gdb could not attach.
sub hold_commit_after
{
	my ($exec, $function) = @_;
	unlink "$dir/go", "$dir/attached";
	open my $f, '>', "$dir/gdb.cmd" or die;
	print $f <<"EOF";
set pagination off
set breakpoint pending off
break $function
shell touch $dir/attached
continue
break LockReleaseAll
continue
shell touch $dir/held
shell while [ ! -e $dir/go ]; do sleep 0.05; done
detach
quit
EOF
	close $f;
	my $log = '';
	my $gdb = IPC::Run::start(['gdb', '-p', $exec->{pid}, '-batch', '-x', "$dir/gdb.cmd"],
		'<', \undef, '>&', \$log, IPC::Run::timeout(180));
	for (1 .. 300)
	{
		last if -e "$dir/attached" || !$gdb->pumpable;
		select(undef, undef, undef, 0.1);
	}
	return { h => $gdb, log => \$log } if -e "$dir/attached";
	$gdb->finish;
	return undef;
}

# Held in the end's commit: the run as others see it, and its thread.
sub seen_while_held
{
	my ($exec, $gdb, $run, $thread, $want) = @_;
	unlink "$dir/held";
	${ $exec->{in} } .= "CALL sg_work();\n";
	$exec->{h}->pump_nb;
	my $held = 0;
	for (1 .. 600)
	{
		if (-e "$dir/held") { $held = 1; last }
		select(undef, undef, undef, 0.1);
	}
	ok($held, "the executor is held in its commit's LockReleaseAll") or diag ${ $gdb->{log} };
	is($node->safe_psql('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$run'}), $want,
		"the run's end is visible ($want)");
	my $thread_status = $node->safe_psql('postgres', qq{SELECT status FROM sg_threads() WHERE thread_id = '$thread'});
	my ($rc, $stdout, $stderr) = $node->psql('postgres',
		qq{SET lock_timeout = '10s'; SET stategraph.lock_wait = off; SELECT sg_update_state('$thread', '{}')});
	open my $go, '>', "$dir/go" or die;
	close $go;
	$gdb->{h}->finish;
	return ($thread_status, $rc == 0 ? 'free' : $stderr);
}

my $exec = executor();
my $gdb = hold_commit_after($exec, 'stop_run');
plan skip_all => 'gdb cannot attach to a backend here' unless $gdb;

# a waiting run, cancelled: a claim takes it to stop it, and the stop commits with the claim
my $run = $node->safe_psql('postgres', q{SELECT sg_submit('ext', '{}', 'w1')});
$node->safe_psql('postgres', q{CALL sg_work()});
is($node->safe_psql('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$run'}), 'waiting', 'the run waits for its task');
$node->safe_psql('postgres', qq{SELECT sg_cancel('$run', 'interrupt')});
my ($status, $busy) = seen_while_held($exec, $gdb, $run, 'w1', 'cancelled');
is($status, 'idle', "sg_threads shows the stopped run's thread idle (its step next, its task cancelled)");
is($busy, 'free', 'the thread is free: sg_update_state with lock_wait off does not find it busy');

# a run resumed after its external task, ending in that step: the end commits with the claim
$run = $node->safe_psql('postgres', q{SELECT sg_submit('ext', '{}', 'w2')});
$node->safe_psql('postgres', q{CALL sg_work()});
my ($task, $token) = split /\|/, $node->safe_psql('postgres', q{SELECT task_id, token FROM sg_claim('q', 'me')});
$gdb = hold_commit_after($exec, 'record_step');
ok($gdb, 'gdb attaches again');
$node->safe_psql('postgres', qq{SELECT sg_complete('$task', '$token', '{"answer": 42}')});
($status, $busy) = seen_while_held($exec, $gdb, $run, 'w2', 'success');
is($status, 'done', "sg_threads shows the ended run's thread done");
is($busy, 'free', 'the thread is free: sg_update_state with lock_wait off does not find it busy');
is($node->safe_psql('postgres', q{SELECT "values"->>'answer' FROM sg_get_state('w2')}), '42', "the run ended with its task's answer");

${ $exec->{in} } .= "\\q\n";
$exec->{h}->finish;
ok(no_advisory_lock_left($node), 'no advisory lock is left');
$node->stop;
done_testing();
