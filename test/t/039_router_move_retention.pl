# stategraph_router.move_partition and the old server's retention sweep.
#
# While a partition moves, its connection string refuses writes, but the
# old server's own retention sweep does not go through the router: it can
# remove (or prune) an expired thread after the move copied it. Before,
# the copy then lived on the new server, routed to and listed, until that
# server's sweep removed it (and for good if a write reached it first): a
# thread retention had removed came back. The move now checks, once every
# thread is copied and before the switch, that each copy's original is
# still as it was copied: a copy whose original is gone is deleted, one
# whose original was pruned is copied again.
#
# A move that stopped while copying and is called again checks the copies
# the first call left too (one of them may be of a thread the sweep
# deleted before the second call listed the partition).
#
# The sweep is run by hand (CALL sg_work(), no background workers here) at
# the moment the move is held in its copy: a session of the new server
# inserts the partition's last thread but one (in thread_id order) without
# committing, so the move's import of it waits until that session rolls
# back. The threads before it are copied by then; the last one is listed,
# not copied yet: the sweep deletes it too, and the move passes it over
# (before, its export failed and the move stopped).
#
# From before that last check until the switch is committed, the move
# holds the partition on the old server (stategraph.hold_partition): both
# sweeps pass over its threads, and sweep other partitions as before. The
# sweep is run at the switch (held there by a router session that locks
# pg_foreign_server), and a move killed there lets go of its hold with
# its session. Before, a thread the sweep deleted in that window stayed
# on the new server, routed to.
#
# One server holds the router database and three shard databases (PL/Proxy
# reaches each by its connection string, as it would another server).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGRouter;

my ($node, %conn) = router_node('moveret', shards => [ 'shard_a', 'shard_b', 'shard_c' ],
	shard_sql => q{CREATE FUNCTION noop(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;});
sub r { return $node->safe_psql('router', $_[0]); }
sub on { return $node->safe_psql($_[0], $_[1]); }
# the threads of partition $_[1] (of 4) on a shard database
sub part_on
{
	return on($_[0], "SELECT count(*) FROM stategraph.threads WHERE (hashtext(thread_id) & 3) = $_[1]");
}

# two graphs on every server, the same retention: 'counter' threads are
# deleted after a day, 'kept' threads keep their newest checkpoint
for my $db ('shard_a', 'shard_b', 'shard_c')
{
	on($db, q{SELECT sg_create_graph(g, '{"log": "append"}'), sg_add_node(g, 'noop', 'noop(jsonb)'),
			sg_add_edge(g, '__start__', 'noop'), sg_add_edge(g, 'noop', '__end__'), sg_compile(g)
		FROM unnest(ARRAY['counter', 'kept']) g;
		SELECT sg_set_retention('counter', '1 day');
		SELECT sg_set_retention('kept', '1 day', 'keep_latest', 1);});
}
is(r('SELECT count(*) FROM stategraph_router.check_definitions()'), '0', 'the servers agree');

# in partition 0 (on shard_a), in thread_id order: an expired 'counter'
# thread, an expired 'kept' thread, the one the move is held at, and an
# expired 'counter' thread, the last
sub first_in_part
{
	return r("SELECT min(t) FROM (SELECT '$_[0]' || i AS t FROM generate_series(1, 200) i) s
		WHERE stategraph_router.partition_of(t) = $_[1]");
}
my ($gone, $pruned, $held, $after) = map { first_in_part($_, 0) } ('e-', 'p-', 'y-', 'zz-');
r(q{SELECT count(sg_invoke('counter', '{"log": [1]}', 'm-' || i)) FROM generate_series(1, 40) i});
r("SELECT sg_invoke('counter', '{\"log\": [1]}', t) FROM unnest(ARRAY['$gone', '$held', '$after']) t");
r("SELECT sg_invoke('kept', jsonb_build_object('log', jsonb_build_array(i)), '$pruned') FROM generate_series(1, 3) i");
is(r("SELECT string_agg(thread_id, ',' ORDER BY thread_id) FROM sg_threads()
	WHERE stategraph_router.partition_of(thread_id) = 0 AND thread_id >= '$held'"), "$held,$after",
	"$held is the last thread of partition 0 but one, $after the last");
my $total = r('SELECT count(*) FROM sg_threads()');
my $n0 = part_on('shard_a', 0);
my $cps = on('shard_a', "SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = '$pruned'");
ok($cps > 1, "$pruned has $cps checkpoints");
on('shard_a', "UPDATE stategraph.threads SET updated_at = now() - interval '2 days' WHERE thread_id IN ('$gone', '$pruned', '$after')");

# the move, held at the import of the last thread but one
my $blocker = $node->background_psql('shard_c');
$blocker->query_safe("BEGIN; SELECT sg_invoke('counter', '{\"log\": [9]}', '$held')");
my ($out, $err) = ('', '');
my $move = IPC::Run::start(
	[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('router'),
	  '-c', "CALL stategraph_router.move_partition(0, '$conn{shard_c}')" ],
	'>', \$out, '2>', \$err);
ok($node->poll_query_until('shard_c', q{SELECT count(*) > 0 FROM pg_stat_activity
	WHERE datname = 'shard_c' AND wait_event_type = 'Lock'}), 'the move waits at the import of the last thread but one');
is(on('shard_c', "SELECT string_agg(thread_id, ',' ORDER BY thread_id) FROM stategraph.threads WHERE thread_id IN ('$gone', '$pruned')"),
	"$gone,$pruned", 'the two expired threads are copied already');

# the old server's retention sweep, now
on('shard_a', 'CALL sg_work()');
is(on('shard_a', "SELECT count(*) FROM stategraph.threads WHERE thread_id IN ('$gone', '$after')"), '0',
	"the old server's sweep deleted $gone and $after");
is(on('shard_a', "SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = '$pruned'"), '1',
	"and pruned $pruned to its newest checkpoint");
my $pruned_export = on('shard_a', "SELECT sg_export_thread('$pruned')");

$blocker->query_safe('ROLLBACK');
$blocker->quit;
$move->finish;
chomp $out;
is($err, '', 'the move ends without error');
is($out, $n0 - 2, 'it moved the threads of partition 0 but the two the sweep deleted');
like(r('SELECT connstr FROM stategraph_router.partitions() WHERE partition = 0'), qr/dbname=shard_c$/,
	'partition 0 is on shard_c');
is(on('shard_c', "SELECT count(*) FROM stategraph.threads WHERE thread_id = '$gone'"), '0',
	"the copy of $gone is not on shard_c (before: it was, routed to)");
is(r("SELECT count(*) FROM sg_threads() WHERE thread_id = '$gone'"), '0', 'nor listed through the router');
is(on('shard_c', "SELECT sg_export_thread('$pruned')"), $pruned_export,
	"$pruned on shard_c is the pruned original, exactly");
is(on('shard_c', "SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = '$pruned'"), '1',
	'with its one checkpoint');
is(on('shard_c', "SELECT count(*) FROM stategraph.threads WHERE thread_id = '$after'"), '0',
	"$after, deleted before it was copied, is not either");
is(part_on('shard_c', 0) . '|' . part_on('shard_a', 0), ($n0 - 2) . '|0',
	'partition 0 is on shard_c only');
is(r('SELECT count(*) FROM sg_threads()'), $total - 2, 'every other thread through the router');
is(r("SELECT (sg_get_state('$held')).\"values\"->>'log'"), '[1]', "$held reads as written, without the rolled back write");

# ---- a move that stopped while copying, then called again ---------------
# The first call stops (statement_timeout) after copying a thread that the
# old server's sweep then deletes. The second call, to the same server,
# does not list it any more: the copy the first call left there is checked
# too, and deleted (partition 1, on shard_b).
my ($gone1, $held1) = map { first_in_part($_, 1) } ('e2-', 'y2-');
r("SELECT sg_invoke('counter', '{\"log\": [1]}', t) FROM unnest(ARRAY['$gone1', '$held1']) t");
is(r("SELECT max(thread_id) FROM sg_threads() WHERE stategraph_router.partition_of(thread_id) = 1"), $held1,
	"$held1 is the last thread of partition 1");
my $n1 = part_on('shard_b', 1);
on('shard_b', "UPDATE stategraph.threads SET updated_at = now() - interval '2 days' WHERE thread_id = '$gone1'");
$blocker = $node->background_psql('shard_c');
$blocker->query_safe("BEGIN; SELECT sg_invoke('counter', '{\"log\": [9]}', '$held1')");
my ($rc, $o, $e) = $node->psql('router',
	"SET statement_timeout = '5s'; CALL stategraph_router.move_partition(1, '$conn{shard_c}')");
like($e, qr/statement timeout/, "a move held at the import of $held1 stops at its timeout");
is(on('shard_c', "SELECT count(*) FROM stategraph.threads WHERE thread_id = '$gone1'"), '1', "having copied $gone1");
is(r('SELECT connstr FROM stategraph_router.pending_copies WHERE partition = 1'), $conn{shard_c},
	'the copy to shard_c is noted');
$blocker->query_safe('ROLLBACK');
$blocker->quit;
# The old server's sweep (shard_b) deletes $gone, expired; the move of
# partition $part, called again, deletes the copy of it that it made before.
sub sweep_then_move_again
{
	my ($part, $gone, $n) = @_;
	on('shard_b', 'CALL sg_work()');
	is(on('shard_b', "SELECT count(*) FROM stategraph.threads WHERE thread_id = '$gone'"), '0',
		"the old server's sweep deleted $gone");
	is(r("CALL stategraph_router.move_partition($part, '$conn{shard_c}')"), $n, 'called again, the move goes on to shard_c');
	is(on('shard_c', "SELECT count(*) FROM stategraph.threads WHERE thread_id = '$gone'"), '0',
		"the copy of $gone the first call made is deleted (before: it stayed, routed to)");
}
sweep_then_move_again(1, $gone1, $n1 - 1);
is(part_on('shard_c', 1) . '|' . part_on('shard_b', 1), ($n1 - 1) . '|0', 'partition 1 is on shard_c only');
is(r('SELECT count(*) FROM sg_threads()'), $total - 2 + 2 - 1, 'every other thread through the router (two deleted, two added, one deleted)');


# ---- the sweep between the move's last check and its switch ------------
# The move holds the partition on its old server (stategraph.hold_partition)
# from before its last check of the copies until the switch is committed on
# the router: the old server's sweeps (of both kinds of thread) pass over
# its threads meanwhile, and sweep the other partitions' as before. Before,
# a thread the sweep deleted in that window stayed on the new server,
# routed to. The move is held at its switch by a router session that locks
# pg_foreign_server (ALTER SERVER waits for it), after its copy began.
my $lgput = sub {
	my ($db, $t) = @_;
	on($db, qq{SELECT sg_lg_put('$t', '', NULL,
		'{"v": 4, "id": "1ef4f797-8335-6428-8001-8a1503f9b871", "ts": "2024-01-01T00:00:00Z",
		  "channel_values": {"x": [1]}, "channel_versions": {"x": 1}, "versions_seen": {}}',
		'{"step": 0}', '{"x": 1}');
		UPDATE stategraph.lg_checkpoints SET created_at = now() - interval '2 days' WHERE thread_id = '$t'});
};
# LangGraph.js threads have the default retention: the same on every server
on($_, q{SELECT sg_set_retention(NULL, '1 day')}) for ('shard_a', 'shard_b', 'shard_c');
my ($held2, $gone2, $lg2, $kept2) = map { first_in_part($_, 2) } ('a3-', 'e3-', 'lg3-', 'k3-');
my $other = first_in_part('o3-', 0);   # partition 0 is on shard_c now: written on shard_a directly
r("SELECT sg_invoke('counter', '{\"log\": [1]}', t) FROM unnest(ARRAY['$held2', '$gone2']) t");
$lgput->('shard_a', $lg2);
on('shard_a', "SELECT sg_invoke('counter', '{\"log\": [1]}', '$other')");
r("SELECT sg_invoke('kept', jsonb_build_object('log', jsonb_build_array(i)), '$kept2') FROM generate_series(1, 3) i");
on('shard_a', "UPDATE stategraph.threads SET updated_at = now() - interval '2 days' WHERE thread_id IN ('$gone2', '$other', '$kept2')");
my $n2 = r('SELECT count(*) FROM sg_threads() WHERE stategraph_router.partition_of(thread_id) = 2');
my $gone2_export = r("SELECT sg_export_thread('$gone2')");
my $lg2_export = r("SELECT sg_export_thread('$lg2')");
my $kept2_export = r("SELECT sg_export_thread('$kept2')");
my $kept2_cps = on('shard_a', "SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = '$kept2'");

# Starts the move of partition $part to shard_c, held at the import of
# $held (a session of shard_c writes it) until a router session locks
# pg_foreign_server, then at its switch; returns that router session.
sub move_to_switch
{
	my ($part, $held) = @_;
	my $b = $node->background_psql('shard_c');
	$b->query_safe("BEGIN; SELECT sg_invoke('counter', '{\"log\": [9]}', '$held')");
	($out, $err) = ('', '');
	$move = IPC::Run::start(
		[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('router'),
		  '-c', "CALL stategraph_router.move_partition($part, '$conn{shard_c}')" ],
		'>', \$out, '2>', \$err);
	ok($node->poll_query_until('shard_c', q{SELECT count(*) > 0 FROM pg_stat_activity
		WHERE datname = 'shard_c' AND wait_event_type = 'Lock'}), "the move of partition $part is copying");
	my $lock = $node->background_psql('router');
	$lock->query_safe('BEGIN; LOCK TABLE pg_catalog.pg_foreign_server IN EXCLUSIVE MODE');
	$b->query_safe('ROLLBACK');
	$b->quit;
	ok($node->poll_query_until('router', q{SELECT count(*) > 0 FROM pg_stat_activity
		WHERE datname = 'router' AND wait_event_type = 'Lock' AND query LIKE '%move_partition%'}),
		'it has checked its copies and waits at its switch');
	return $lock;
}
my $switch = move_to_switch(2, $held2);
# (psql, not safe_psql: the test goes on, and fails further, on a server without holds)
my (undef, $holds) = $node->psql('shard_a', q{SELECT string_agg(h.partition || '/' || h.partitions || '/' || h.modular, ',')
	FROM stategraph.partition_holds h
	WHERE EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.classid = 1397180495 AND l.objid = h.partition AND l.granted)});
is($holds, '2/4/false', 'it holds partition 2 on shard_a');

on('shard_a', 'CALL sg_work()');
my $outlived = on('shard_a', "SELECT count(*) FROM stategraph.threads WHERE thread_id = '$gone2'")
	+ on('shard_a', "SELECT count(DISTINCT thread_id) FROM stategraph.lg_checkpoints WHERE thread_id = '$lg2'");
is(on('shard_a', "SELECT count(*) FROM stategraph.threads WHERE thread_id = '$gone2'"), '1',
	"the old server's sweep, now, passes over $gone2 (before: it deleted it, and its copy was switched to)");
is(on('shard_a', "SELECT count(*) FROM stategraph.lg_checkpoints WHERE thread_id = '$lg2'"), '1',
	"and over the LangGraph.js thread $lg2");
is(on('shard_a', "SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = '$kept2'"), $kept2_cps,
	"and does not prune $kept2 (keep_latest, $kept2_cps checkpoints) either");
is(on('shard_a', "SELECT count(*) FROM stategraph.threads WHERE thread_id = '$other'"), '0',
	"but deletes $other, of another partition, as before");
my ($prc, $pout, $perr) = $node->psql('router', 'SELECT sg_prune(keep_last => 1)', extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($perr, qr/25006: partition 2 is being moved/, 'an sg_prune of every thread through the router is refused meanwhile (25006)');
for my $call ("sg_delete_thread('$gone2')", "sg_prune(keep_last => 1, thread_id => '$kept2')")
{
	($prc, $pout, $perr) = $node->psql('router', "SELECT $call", extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	like($perr, qr/25006: .*read-only transaction/, "and so is $call, as every write to the partition (retry it)");
}
my $busy = first_in_part('w3-', 3);
is(r("SELECT sg_invoke('counter', '{\"log\": [2]}', '$busy') ->> 'log'"), '[2]', "other partitions are written as before ($busy, partition 3)");

$switch->query_safe('COMMIT');
$switch->quit;
$move->finish;
chomp $out;
is($err, '', 'the move ends without error');
is(on('shard_c', "SELECT count(*) FROM stategraph.threads WHERE thread_id = '$gone2'")
	+ on('shard_c', "SELECT count(DISTINCT thread_id) FROM stategraph.lg_checkpoints WHERE thread_id = '$lg2'"), $outlived,
	"of $gone2 and $lg2, shard_c has those that outlived the old server's sweep, no other");
is($out, $n2, "it moved every thread of partition 2, $gone2 and $lg2 too");
is(r("SELECT sg_export_thread('$gone2')") . '|' . r("SELECT sg_export_thread('$lg2')") . '|' . r("SELECT sg_export_thread('$kept2')"),
	"$gone2_export|$lg2_export|$kept2_export", "the three read through the router exactly as before");
is(on('shard_a', "SELECT count(*) FROM stategraph.threads WHERE (hashtext(thread_id) & 3) = 2")
	. '|' . on('shard_a', 'SELECT count(*) FROM stategraph.lg_checkpoints')
	. '|' . ($node->psql('shard_a', 'SELECT count(*) FROM stategraph.partition_holds'))[1]
	. '|' . on('shard_a', 'SELECT count(*) FROM pg_locks WHERE locktype = \'advisory\' AND classid = 1397180495'),
	'0|0|0|0', 'shard_a keeps no thread of partition 2, and no hold');
on('shard_c', 'CALL sg_work()');
is(r("SELECT count(*) FROM sg_threads() WHERE thread_id IN ('$gone2', '$lg2')")
	. '|' . on('shard_c', "SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = '$kept2'"), '0|1',
	"expired on shard_c too, they are swept there ($kept2 pruned to its newest checkpoint)");

# ---- a move that stopped in that window lets go --------------------------
# Its session ends (terminated here while it waits at its switch): its
# connection to the old server ends with it, and so does its hold. The old
# server's sweep then deletes an expired thread of the partition, and the
# next call of the move, from another session, deletes the copy the first
# one made (partition 3, from shard_b).
my ($held3, $gone3) = (first_in_part('a4-', 3), first_in_part('e4-', 3));
r("SELECT sg_invoke('counter', '{\"log\": [1]}', t) FROM unnest(ARRAY['$held3', '$gone3']) t");
on('shard_b', "UPDATE stategraph.threads SET updated_at = now() - interval '2 days' WHERE thread_id = '$gone3'");
my $n3 = part_on('shard_b', 3);
$switch = move_to_switch(3, $held3);
is(on('shard_b', 'SELECT count(*) FROM pg_locks WHERE locktype = \'advisory\' AND classid = 1397180495 AND objid = 3 AND granted'),
	'1', 'holding partition 3 on shard_b');
r(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE datname = 'router' AND query LIKE '%move_partition%' AND pid <> pg_backend_pid()});
$move->finish;
like($err, qr/terminat/, 'the move is terminated');
ok($node->poll_query_until('shard_b', q{SELECT count(*) = 0 FROM pg_locks
	WHERE locktype = 'advisory' AND classid = 1397180495}), 'its hold on shard_b ends with its session');
$switch->query_safe('COMMIT');
$switch->quit;
is(on('shard_c', "SELECT count(*) FROM stategraph.threads WHERE thread_id = '$gone3'"), '1', "it had copied $gone3");
sweep_then_move_again(3, $gone3, $n3 - 1);
is(part_on('shard_c', 3) . '|' . part_on('shard_b', 3) . '|' . on('shard_b', 'SELECT count(*) FROM stategraph.partition_holds'),
	($n3 - 1) . '|0|0', 'partition 3 is on shard_c only, and shard_b keeps no hold');

done_testing();
