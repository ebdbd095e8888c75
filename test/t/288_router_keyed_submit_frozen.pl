# A keyed sg_submit through the router while the thread's partition is
# being moved (frozen: its connection string refuses writes) failed with
# 25006, "cannot execute INSERT in a read-only transaction", even for a
# retry whose key already had its run: the shard takes the key's lock (a
# row of stategraph.submit_locks) before it looks the key up, and the
# router's check that the key's run is still there locks its row (FOR KEY
# SHARE), both writes. A key that has its run now gets that run, read on
# its server as sg_submit there would find it; a key that has none yet
# (the run would be written to the frozen partition) is refused with
# SG016, whose hint says to retry once the move is done, with the same key.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('rkfrozen', shards => [ 'shard_a', 'shard_b', 'shard_c', 'shard_d' ],
	shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }
# the SQLSTATE and message of a statement through the router, or 'ok'
r(q{CREATE FUNCTION outcome(q text) RETURNS text LANGUAGE plpgsql AS $$
	DECLARE st text; msg text; hint text;
	BEGIN
		EXECUTE q;
		RETURN 'ok';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
		RETURN st || ': ' || msg || ' HINT: ' || hint;
	END $$});

# partition 3 to shard_c, which then serves it alone
is(r("CALL stategraph_router.move_partition(3, '$conn{shard_c}')"), '0', 'partition 3 moved to shard_c');
my $t3 = thread_of_partition($node, 'k', 3);
my $t0 = thread_of_partition($node, 'k', 0);
my $k1 = r(qq{SELECT sg_submit('counter', '{"log": ["once"]}', '$t3', idempotency_key => 'inv-1')});
is(r("SELECT status FROM sg_wait('$k1', '60 s')"), 'success', 'the keyed run is done');

# a move of partition 3 to shard_d that stops frozen (the thread is on shard_d already, otherwise)
$node->safe_psql('shard_d', qq{SELECT sg_invoke('counter', '{"log": ["other"]}', thread_id => '$t3')});
my ($rc, $out, $err) = $node->psql('router', "CALL stategraph_router.move_partition(3, '$conn{shard_d}')");
like($err, qr/ERROR:  thread "\Q$t3\E" is already on /, 'the move stops');
like(r('SELECT connstr FROM stategraph_router.partitions() WHERE partition = 3'), qr/default_transaction_read_only=on/,
	'partition 3 is frozen');

# a retry of the key: its run, as on one server
is(r(qq{SELECT outcome(\$q\$SELECT sg_submit('counter', '{"log": ["once"]}', '$t3', idempotency_key => 'inv-1')\$q\$)}),
	'ok', 'a retried keyed submit on the frozen partition succeeds');
is(r(qq{SELECT sg_submit('counter', '{"log": ["once"]}', '$t3', idempotency_key => 'inv-1')}), $k1, 'with the key\'s run');
# the key's run is on a server reached only through the frozen partition, the thread elsewhere
is(r(qq{SELECT sg_submit('counter', '{"log": ["once"]}', '$t0', idempotency_key => 'inv-1')}), $k1,
	'the key named with a thread of another server: the key\'s run');
# a bad argument is still the shard's error
like(r(qq{SELECT outcome(\$q\$SELECT sg_submit('counter', '{"log": ["once"]}', '$t3', multitask => 'sometimes', idempotency_key => 'inv-1')\$q\$)}),
	qr/^22023: .*multitask must be/, 'a bad argument: 22023 as before');

# a new key on the frozen partition: SG016, retry
my $new = r(qq{SELECT outcome(\$q\$SELECT sg_submit('counter', '{"log": ["two"]}', '$t3', idempotency_key => 'inv-2')\$q\$)});
like($new, qr/^SG016: thread "\Q$t3\E" cannot take a run now: its partition 3 is being moved/, 'a new key: SG016');
like($new, qr/HINT: Retry .* same idempotency_key/, 'with a hint to retry');
# without a key: still 25006, as any write to the partition (README)
like(r(qq{SELECT outcome(\$q\$SELECT sg_submit('counter', '{"log": ["two"]}', '$t3', multitask => 'enqueue')\$q\$)}),
	qr/^25006/, 'a submit without a key: 25006 as before');
is($node->safe_psql('shard_c', "SELECT count(*) FROM stategraph.runs"), '1', 'nothing was queued on the old server');

# the move done, the new key runs, the old one does not run again
$node->safe_psql('shard_d', qq{SELECT sg_delete_thread('$t3')});
is(r("CALL stategraph_router.move_partition(3, '$conn{shard_d}')"), '1', 'the move goes on');
is(r(qq{SELECT sg_submit('counter', '{"log": ["once"]}', '$t3', idempotency_key => 'inv-1')}), $k1, 'the old key: its run');
my $k2 = r(qq{SELECT sg_submit('counter', '{"log": ["two"]}', '$t3', idempotency_key => 'inv-2')});
is(r("SELECT status FROM sg_wait('$k2', '60 s')"), 'success', 'the retried new key runs');
is(r("SELECT values FROM sg_get_state('$t3')"), '{"log": ["once", "two"]}', 'each key ran once');

done_testing();
