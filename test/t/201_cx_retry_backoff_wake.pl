# A node's retry policy waits backoff_ms before its next attempt. The wait
# ended at the first setting of the backend's latch, which many things do
# besides a cancel (a signal such as pg_log_backend_memory_contexts, a
# NOTIFY to a listening session, a worker's wake at another session's
# submit): the node was tried again at once. The wait now lasts its
# backoff whatever wakes it, and a cancel still stops it at once.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use IPC::Run;
use Time::HiRes qw(time usleep);

my $node = plain_node('cx_retry_backoff');
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    -- fails with 40001 at every odd nextval (the sequence is not rolled back with the attempt)
    CREATE SEQUENCE tries;
    CREATE FUNCTION flaky(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        IF nextval('tries') % 2 = 1 THEN
            RAISE EXCEPTION 'try again' USING ERRCODE = '40001';
        END IF;
        RETURN '{"ok": true}';
    END $$;
    SELECT sg_create_graph('fl', '{"ok": "replace"}');
    SELECT sg_add_node('fl', 'f', 'flaky(jsonb)', retry => '{"max_attempts": 2, "backoff_ms": 3000}');
    SELECT sg_add_edge('fl', '__start__', 'f');
    SELECT sg_add_edge('fl', 'f', '__end__');
    SELECT sg_compile('fl');
    -- the same with a backoff of ten minutes, for the cancel: its end tells
    -- a stop at once from a wait for the backoff whatever the machine's load
    SELECT sg_create_graph('fl_long', '{"ok": "replace"}');
    SELECT sg_add_node('fl_long', 'f', 'flaky(jsonb)', retry => '{"max_attempts": 2, "backoff_ms": 600000}');
    SELECT sg_add_edge('fl_long', '__start__', 'f');
    SELECT sg_add_edge('fl_long', 'f', '__end__');
    SELECT sg_compile('fl_long');
});

my $in_backoff = q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE application_name = 'retrier' AND wait_event_type = 'Extension'};

# run graph $graph in another session; while its node waits for its retry,
# wake that backend $wakes times with the latch-setting call $wake. Returns
# its output, its errors, the seconds from its start to its end and those
# from the first wake to its end.
sub invoke_woken
{
	my ($case, $graph, $wake, $wakes) = @_;
	my ($out, $err) = ('', '');
	$node->safe_psql('postgres', q{SELECT setval('tries', 2)});
	my $start = time;
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-At', '-d', $node->connstr('postgres') . ' application_name=retrier',
		  '-c', "SELECT sg_invoke('$graph', '{}', 'th-$case')" ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(900));
	ok($node->poll_query_until('postgres', $in_backoff), "$case: the node waits for its retry");
	my $woken = time;
	for (1 .. $wakes)
	{
		$node->safe_psql('postgres', "SELECT $wake(pid) FROM pg_stat_activity WHERE application_name = 'retrier'");
		usleep(200_000);
	}
	$h->finish;
	return ($out, $err, time - $start, time - $woken);
}

my ($out, $err, $took) = invoke_woken('signalled', 'fl', 'pg_log_backend_memory_contexts', 3);
is("$out|$err", qq({"ok": true}\n|), 'signalled: the retry succeeds');
cmp_ok($took, '>=', 2.9, 'signalled: after its whole backoff, not at the first wake');

# (a backoff of ten minutes: the bound below, far under it, holds on a
# loaded machine; with the 3 s backoff a bound of 2.5 s from the start
# counted psql's start and the poll for the backoff too)
my $since_cancel;
($out, $err, $took, $since_cancel) = invoke_woken('cancelled', 'fl_long', 'pg_cancel_backend', 1);
like($err, qr/canceling statement due to user request/, 'cancelled: a cancel still stops the backoff');
cmp_ok($since_cancel, '<', 60, 'cancelled: at once, not at the end of its 10-minute backoff');
is($node->safe_psql('postgres', q{SELECT count(*) FROM sg_threads() WHERE thread_id = 'th-cancelled'}), '0',
	'cancelled: nothing of the call is stored');

done_testing();
