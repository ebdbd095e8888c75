# Holding a backend inside its commit with gdb, for the tests of what other
# sessions see between a commit becoming visible and its transaction's
# locks being released (TAP 141-143).
#
# PostgreSQL makes a commit visible before it releases the transaction's
# locks (LockReleaseAll, in ResourceOwnerRelease): gdb stops the backend
# there, and the test reads and writes from another session meanwhile.
# Needs gdb and the right to attach to a backend: a test skips otherwise
# (gdb_missing, and hold_commit_after returning undef).
package SGGdb;

use strict;
use warnings;

use Exporter 'import';
our @EXPORT = qw(gdb_missing gdb_session gdb_attach appears hold_commit_after seen_while_held end_session);

use Test::More;
use IPC::Run;
use File::Temp qw(tempdir);

# Why a test cannot run here, or undef.
sub gdb_missing
{
	return (grep { -x "$_/gdb" } split /:/, $ENV{PATH}) ? undef : 'gdb is not installed';
}

# A psql session on $node with the library loaded (gdb's breakpoints are
# in it): its handle, its pid and a directory for gdb's files.
sub gdb_session
{
	my ($node) = @_;
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(['psql', '-X', '-At', '-d', $node->connstr('postgres')],
		'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(180));
	$in .= "LOAD 'stategraph'; SELECT pg_backend_pid();\n";
	$h->pump until $out =~ /^(\d+)$/m;
	return { node => $node, h => $h, in => \$in, out => \$out, pid => $1, dir => tempdir(CLEANUP => 1) };
}

# gdb on the session with the commands $commands, after $first (which sets
# the first breakpoint): returns once gdb is attached and the session goes
# on, with gdb's handle and its output; undef if gdb could not attach.
sub gdb_attach
{
	my ($s, $first, $commands) = @_;
	my $dir = $s->{dir};
	unlink "$dir/attached";
	open my $f, '>', "$dir/gdb.cmd" or die;
	print $f "set pagination off\nset breakpoint pending off\n$first\nshell touch $dir/attached\n$commands";
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

# Whether file $file appears in directory $dir within a minute (gdb's
# commands touch one where they stop the session).
sub appears
{
	my ($dir, $file) = @_;
	for (1 .. 600)
	{
		return 1 if -e "$dir/$file";
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

# gdb on the session: once it enters $function, the next LockReleaseAll
# (its commit's) stops it until the test lets it go. As gdb_attach.
sub hold_commit_after
{
	my ($s, $function) = @_;
	my $dir = $s->{dir};
	unlink "$dir/go";
	return gdb_attach($s, "break $function", <<"CMD");
continue
break LockReleaseAll
continue
shell touch $dir/held
shell while [ ! -e $dir/go ]; do sleep 0.05; done
detach
quit
CMD
}

# The session runs $sql, held in its commit: what another session reads
# ($read) meanwhile, and 'free' if it can write $thread with
# stategraph.lock_wait off (else the error it got).
sub seen_while_held
{
	my ($s, $gdb, $sql, $read, $thread) = @_;
	my ($node, $dir) = ($s->{node}, $s->{dir});
	unlink "$dir/held";
	${ $s->{in} } .= "$sql;\n";
	$s->{h}->pump_nb;
	ok(appears($dir, 'held'), "the session is held in its commit's LockReleaseAll") or diag ${ $gdb->{log} };
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

# Ends the session.
sub end_session
{
	my ($s) = @_;
	${ $s->{in} } .= "\\q\n";
	$s->{h}->finish;
}

1;
