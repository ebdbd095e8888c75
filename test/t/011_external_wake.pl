# External nodes: a long poll (sg_claim(..., wait => ...)) returns as soon
# as work is committed, not when its wait runs out; work queued in a
# transaction that is still open, or rolled back, does not hand it a task.
# Once with the preload (the committing backend sets the claimer's latch)
# and once without it (the documented 10 ms poll). The bound checked
# (returned well inside a 60 s wait) is a behaviour, not a speed: speed is
# measured in test/bench/external.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use IPC::Run;
use Time::HiRes qw(time usleep);

my $node = preloaded_node('wake');
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    SELECT sg_create_graph('wg', '{"n": "replace"}');
    SELECT sg_add_external_node('wg', 'model', 'wq');
    SELECT sg_add_edge('wg', '__start__', 'model');
    SELECT sg_add_edge('wg', 'model', '__end__');
    SELECT sg_compile('wg');
});

# the poller's backend is still executing its claim
my $still_polling = q{SELECT count(*) FROM pg_stat_activity
	WHERE state = 'active' AND query LIKE '%''poller''%' AND pid <> pg_backend_pid()};

# one long poll of 60 s against work queued by another session; returns the claim's output
# and the seconds from the commit of the work to the claim's return
sub long_poll_against
{
	my ($case, $thread) = @_;
	my ($out, $err) = ('', '');
	my $claim = IPC::Run::start(
		[ 'psql', '-X', '-At', '-d', $node->connstr('postgres'), '-c',
		  "SELECT thread_id FROM sg_claim('wq', 'poller', 1, wait => '60 s')" ],
		'>', \$out, '2>', \$err);
	ok($node->poll_query_until('postgres',
			q{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event_type = 'Extension' AND query LIKE '%poller%'}),
		"$case: the claim waits for work");

	# work queued in a transaction still open, then rolled back: no task for the claim
	my $bg = $node->background_psql('postgres');
	$bg->query_safe("BEGIN; SELECT sg_invoke('wg', '{\"n\": 1}', 'rolled-back')");
	usleep(300_000);
	# still in the call (without the preload it looks every 10 ms, so it is
	# not always asleep at the instant of a sample: ask whether it returned)
	is($node->safe_psql('postgres', $still_polling), '1', "$case: uncommitted work does not end the wait");
	$bg->query_safe('ROLLBACK');
	$bg->quit;
	usleep(300_000);
	is($node->safe_psql('postgres', $still_polling), '1', "$case: rolled-back work does not end the wait");

	$node->safe_psql('postgres', "SELECT sg_invoke('wg', '{\"n\": 1}', '$thread')");
	my $committed = time;
	$claim->finish;
	my $took = time - $committed;
	is("$out|$err", "$thread\n|", "$case: the claim returns the committed task");
	cmp_ok($took, '<', 20, "$case: as soon as it was committed, not when its 60 s wait ran out");
	return;
}

long_poll_against('with the preload', 'w1');

$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$node->restart;
long_poll_against('without the preload', 'w2');

is($node->safe_psql('postgres', q{SELECT string_agg(thread_id || ':' || status, ',' ORDER BY thread_id) FROM sg_tasks('wq')}),
	'w1:claimed,w2:claimed', 'each poll claimed its task; the rolled-back work left no task');

done_testing();
