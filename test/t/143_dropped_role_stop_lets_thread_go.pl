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
use IPC::Run;
use File::Temp qw(tempdir);
use SGNode;

plan skip_all => 'gdb is not installed' unless grep { -x "$_/gdb" } split /:/, $ENV{PATH};

my $node = PostgreSQL::Test::Cluster->new('dropped_role_stop');
$node->init;
$node->append_conf('postgresql.conf', qq{shared_preload_libraries = ''\n});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph; CREATE ROLE alice;' . ext_graph_sql());
my $dir = tempdir(CLEANUP => 1);

# A session with the library loaded (gdb's breakpoints are in it): its pid.
sub session
{
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(['psql', '-X', '-At', '-d', $node->connstr('postgres')],
		'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(180));
	$in .= "LOAD 'stategraph'; SELECT pg_backend_pid();\n";
	$h->pump until $out =~ /^(\d+)$/m;
	return { h => $h, in => \$in, out => \$out, pid => $1 };
}

# gdb on the session: once it enters $function, the next LockReleaseAll
# (its commit's) stops it until file $dir/go exists. Returns once gdb is
# attached and the session goes on; undef if gdb could not attach.
sub hold_commit_after
{
	my ($s, $function) = @_;
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
	my $gdb = IPC::Run::start(['gdb', '-p', $s->{pid}, '-batch', '-x', "$dir/gdb.cmd"],
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

# The session runs $sql, held in its commit: what another session reads
# ($read) meanwhile, and whether it can write the thread with lock_wait off.
sub seen_while_held
{
	my ($s, $gdb, $sql, $read, $thread) = @_;
	unlink "$dir/held";
	${ $s->{in} } .= "$sql;\n";
	$s->{h}->pump_nb;
	my $held = 0;
	for (1 .. 600)
	{
		if (-e "$dir/held") { $held = 1; last }
		select(undef, undef, undef, 0.1);
	}
	ok($held, "the session is held in its commit's LockReleaseAll") or diag ${ $gdb->{log} };
	# (the session is let go whatever happens here: a test that dies holding it cannot stop its server)
	my ($seen, $rc, $stdout, $stderr);
	eval {
		$seen = $node->safe_psql('postgres', $read);
		($rc, $stdout, $stderr) = $node->psql('postgres',
			qq{SET lock_timeout = '10s'; SET stategraph.lock_wait = off; SELECT sg_update_state('$thread', '{}')});
	};
	my $failed = $@;
	open my $go, '>', "$dir/go" or die;
	close $go;
	$gdb->{h}->finish;
	die $failed if $failed;
	return ($seen, $rc == 0 ? 'free' : $stderr);
}

my $s = session();
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

${ $s->{in} } .= "\\q\n";
$s->{h}->finish;
ok(no_advisory_lock_left($node), 'no advisory lock is left');
$node->stop;
done_testing();
