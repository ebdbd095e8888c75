# The reference worker (examples/worker.py) as a child process of a TAP
# test, shared by the external-node tests: started on some queues with an
# environment of its own and its stderr in a log file of tmp_check (one
# per test file and start: tmp_check is shared by the test files that
# make prove_installcheck runs two at a time), stopped
# with a signal and reaped, so that a test can kill one mid-claim and look
# at how it ended.
package SGWorker;

use strict;
use warnings;

use Exporter 'import';
our @EXPORT = qw(worker_usable start_worker wait_worker stop_worker);

use POSIX ':sys_wait_h';
use Time::HiRes qw(usleep time);
use PostgreSQL::Test::Utils;

my $worker_py = ($ENV{SG_TESTROOT} // 'test') . '/../examples/worker.py';
my $test_pid = $$;
my %running;    # pid of each worker started and not yet reaped
my $started = 0;    # workers this test file has started

# A test that dies leaves its workers behind otherwise: they would go on
# trying to reach the stopped server, for as long as the rest of the suite
# runs, on its machine's two cores.
END
{
	if ($$ == $test_pid)
	{
		local $?;    # the test's exit status, which waitpid would overwrite
		kill 'KILL', keys %running;
		waitpid($_, 0) for keys %running;
	}
}

# Whether the worker can run here (it needs the system Python's psycopg).
sub worker_usable
{
	return system('/usr/bin/python3', '-c', 'import psycopg') == 0;
}

# Starts the worker on $dsn for the queues in $opt{queues}, with the
# variables of $opt{env} set and the options of $opt{args} after the
# defaults (a later --wait wins); returns its pid and its log file's path.
sub start_worker
{
	my ($dsn, %opt) = @_;
	my @queues = @{ $opt{queues} };
	# the test file's name and the start's number in it: named by the queues
	# alone, the log of queue q was shared by four tests (137, 157, 270 and
	# 271, the last two side by side in CI), appended to by each, and read
	# whole by each (271 counts the lines saying a beat was refused)
	my ($test) = $0 =~ m{([^/]+)\.pl\z};
	my $log = sprintf('%s/worker-%s-%s-%d.log', $PostgreSQL::Test::Utils::tmp_check,
		$test // 'test', join('-', @queues), ++$started);
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		my %env = %{ $opt{env} // {} };
		$ENV{$_} = $env{$_} for keys %env;
		delete $ENV{PGAPPNAME};    # the worker names its connections (fallback_application_name)
		open(STDERR, ">>", $log) or POSIX::_exit(126);
		{
			no warnings 'exec';
			exec('/usr/bin/python3', $worker_py, '--dsn', $dsn, (map { ('--queue', $_) } @queues),
				'--wait', '0.5', '--sweep-every', '0.5', @{ $opt{args} // [] });
		}
		print STDERR "exec: $!\n";
		POSIX::_exit(127);    # not die: the test's END blocks (its clusters' teardown) are the parent's
	}
	$running{$pid} = 1;
	return ($pid, $log);
}

# Waits up to $seconds for the worker to exit by itself and reaps it: its
# wait status, or undef if it still runs.
sub wait_worker
{
	my ($pid, $seconds) = @_;
	my $t0 = time();
	while (waitpid($pid, WNOHANG) == 0)
	{
		return undef if time() - $t0 > $seconds;
		usleep(20_000);
	}
	delete $running{$pid};
	return $?;
}

# Sends $signal to the worker and reaps it: its wait status, or -1 if it
# was still running 15 seconds later.
sub stop_worker
{
	my ($pid, $signal) = @_;
	kill $signal, $pid;
	my $t0 = time();
	while (waitpid($pid, WNOHANG) == 0)
	{
		return -1 if time() - $t0 > 15;
		usleep(20_000);
	}
	delete $running{$pid};
	return $?;
}

1;
