# sg_claim's long poll (wait) looks at its queue again at every wake and
# several times a second: each look kept its SPI results (8 kB contexts)
# until the call returned, so the memory of a backend in a long poll grew
# by some 60 kB a second for as long as it waited (a wait may last 24
# days). Its memory now stays flat however long it waits.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use IPC::Run;
use Time::HiRes qw(usleep);

my $node = preloaded_node('claim_wait_memory_flat');
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph;');

my ($out, $err) = ('', '');
my $h = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $node->connstr('postgres') . ' application_name=waiter',
	  '-c', "SELECT count(*) FROM sg_claim('nothing', 'w1', wait => '15 s')" ],
	'>', \$out, '2>', \$err);
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE application_name = 'waiter' AND wait_event_type = 'Extension'}), 'sg_claim waits');
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE application_name = 'waiter'});

# the waiter's memory contexts, as it logs them: (SPI results kept, bytes used)
sub dump_contexts
{
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', "SELECT pg_log_backend_memory_contexts($pid)");
	my $log = '';
	for (1 .. 100)
	{
		$log = slurp_file($node->logfile, $offset);
		last if $log =~ /\[$pid\].*Grand total/;
		usleep(100_000);
	}
	my @lines = grep { /\[$pid\]/ } split /\n/, $log;
	my $tuptables = grep { /SPI TupTable/ } @lines;
	my ($used) = map { /Grand total:.*; (\d+) used/ ? $1 : () } @lines;
	return ($tuptables, $used);
}

# (after its first looks: the fifth makes the statement's generic plan, once)
usleep(6_000_000);
my ($t1, $u1) = dump_contexts();
usleep(6_000_000);
my ($t2, $u2) = dump_contexts();
note "SPI results kept: $t1, then $t2; bytes used: $u1, then $u2";
cmp_ok($t2, '<=', 1, 'the looks of a long poll keep no SPI results');
cmp_ok($u2 - $u1, '<', 16384, "the waiter's memory does not grow while it waits");

$h->finish;
is($out, "0\n", 'the long poll returns no task at its timeout');
is($err, '', 'without an error');
$node->stop;
done_testing();
