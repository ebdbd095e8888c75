# With the preload, a commit that queues a task sets the latch of the
# sessions long-polling its queue in sg_claim at the same point as every
# other wake of a commit (worker.c: once its invalidation messages are sent
# and its locks released). The woken session must then take the task at
# once: a wake that came too early would find nothing to claim, and the
# long poll would sleep until its next look (250 ms with the preload)
# before taking it. The claim says at DEBUG2 what led to the look that
# claimed (a wake, or the poll's timeout), and that is checked, not a
# time: a claim after the timeout is how a wake that came too early shows.
# (A look on timeout can also, rarely, come between the commit and its
# wake: a round or two of those passes.) Speed is measured in
# test/bench/external; the commit-to-claim times are noted here.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use IPC::Run;

my $node = preloaded_node('wake_at_once', qq{track_commit_timestamp = on\n});
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    SELECT sg_create_graph('og', '{"n": "replace"}');
    SELECT sg_add_external_node('og', 'model', 'oq');
    SELECT sg_add_edge('og', '__start__', 'model');
    SELECT sg_add_edge('og', 'model', '__end__');
    SELECT sg_compile('og');
});

my $rounds = 15;
my @ms;
my $all_claimed = 1;
my $after_wake = 0;
my @looks;
for my $i (1 .. $rounds)
{
	my ($out, $err) = ('', '');
	my $claim = IPC::Run::start(
		[ 'psql', '-X', '-At', '-d', $node->connstr('postgres'), '-c',
		  "SELECT thread_id || '|' || clock_timestamp() FROM sg_claim('oq', 'poller', 1, wait => '60 s')" ],
		'>', \$out, '2>', \$err, init => sub { $ENV{PGOPTIONS} = '-c client_min_messages=debug2' });
	$node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event_type = 'Extension' AND query LIKE '%poller%'})
	  or die 'the claim does not wait';
	# the task comes with other work in its transaction: the wake waits for all of it
	$node->safe_psql('postgres', "BEGIN; SELECT sg_invoke('og', '{\"n\": $i}', 'o$i'); "
		  . "CREATE TEMP TABLE t AS SELECT g FROM generate_series(1, 1000) g; COMMIT;");
	$claim->finish;
	my ($thread, $at) = split /\|/, $out =~ s/\n$//r;
	$all_claimed = 0 unless defined $thread && $thread eq "o$i" && $err !~ /ERROR/;
	my ($look) = $err =~ /sg_claim of queue "oq" claimed at (.*)/;
	push @looks, $look // "(no message: $err)";
	$after_wake++ if defined $look && $look eq 'a look after a wake';
	push @ms, $node->safe_psql('postgres', qq{
		SELECT round(extract(epoch FROM '$at'::timestamptz - pg_xact_commit_timestamp(xmin)) * 1000)
		FROM stategraph.threads WHERE thread_id = 'o$i'});
}
ok($all_claimed, "each of $rounds long polls returned the task committed while it waited");
note("what led to each claim: " . join('; ', @looks));
note("commit to claim (ms): " . join(' ', sort { $a <=> $b } @ms));
cmp_ok($after_wake, '>=', $rounds - 2,
	'the woken long poll takes the task at the look its wake starts, not at its poll\'s next look 250 ms later');
is($node->safe_psql('postgres', q{SELECT count(*) FROM sg_tasks('oq', 'claimed')}), $rounds,
	'every task was claimed once');

done_testing();
