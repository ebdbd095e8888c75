# Every TAP test creates its clusters with PostgreSQL::Test::Cluster's init,
# which runs initdb: about 1.3 s of CPU each time, over 250 times in a run of
# the suite on 2 cores. PostgreSQL 17's test modules copy one initdb made
# once per run instead (INITDB_TEMPLATE); this does the same for PostgreSQL
# 15. Only the plain initdb that init runs (`initdb -D dir -A trust -N`, no
# extra arguments) is replaced; the configuration init then appends
# (TEMP_CONFIG, the test's own) is written to each copy as before.
#
# A copy has the template's system identifier, and its databases get the
# same OIDs: the router tells servers apart by the two (identity_at), and
# took a test's second cluster for its first when both were copies of one
# template. So the n-th cluster a test makes is a copy of the n-th
# template, each made by its own initdb once per run: a test's clusters are
# each their own system, as with initdb (the router tests make four).
#
# Loaded into every test file's perl through PERL5OPT (the Makefile's
# prove_installcheck), and active only in a test file of test/t, so that
# other perl programs the tests start are left alone.
package SGTemplate;

use strict;
use warnings;
use Fcntl qw(:flock);

my $copies = 0;	# clusters of this test made from a template

if ($0 =~ m{(^|/)t/[^/]+\.pl$})
{
	require PostgreSQL::Test::Utils;
	no warnings 'redefine';
	my $system_or_bail = \&PostgreSQL::Test::Utils::system_or_bail;
	*PostgreSQL::Test::Utils::system_or_bail = sub {
		my @cmd = @_;
		if (@cmd == 6 && $cmd[0] eq 'initdb' && $cmd[1] eq '-D' && "@cmd[3..5]" eq '-A trust -N'
			&& !-e $cmd[2])
		{
			my $template = template($system_or_bail, ++$copies);
			return $system_or_bail->('cp', '-RPp', $template, $cmd[2]);
		}
		return $system_or_bail->(@cmd);
	};
}

# The data directory that plain initdb makes, the $n-th of them, made once
# per tmp_check (make prove_installcheck starts with an empty one) and per
# initdb found in PATH; tests running side by side wait for the first.
sub template
{
	my ($system_or_bail, $n) = @_;
	my $initdb = (grep { -x "$_/initdb" } split /:/, $ENV{PATH})[0] // 'none';
	(my $key = $initdb) =~ s{[^A-Za-z0-9]+}{_}g;
	my $dir = "$PostgreSQL::Test::Utils::tmp_check/initdb_template$key" . ($n > 1 ? "_$n" : '');
	open(my $lock, '>', "$dir.lock") or die "cannot open $dir.lock: $!";
	flock($lock, LOCK_EX) or die "cannot lock $dir.lock: $!";
	unless (-e "$dir/PG_VERSION")
	{
		PostgreSQL::Test::Utils::system_log('rm', '-rf', "$dir.new");
		$system_or_bail->('initdb', '-D', "$dir.new", '-A', 'trust', '-N');
		rename("$dir.new", $dir) or die "cannot rename $dir.new: $!";
	}
	close $lock;
	return $dir;
}

1;
