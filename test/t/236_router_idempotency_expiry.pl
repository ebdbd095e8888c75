# sg_submit with an idempotency key through the router while the key's run
# expires (stategraph.run_retention: the retention sweep deletes it). The
# router asks every server for the key and sends the submit to the server
# of its run, also when the call names a thread of another server (the key
# is per role and graph, not per thread). If the run expired between the
# look-up and the call, that server's sg_submit found no key and queued a
# new run there, for a thread whose partition it does not serve: the
# thread was started where the router never routes it (its reads went to
# the other server, which had no such thread), a second copy in the
# cluster. Now the key's server returns the run only if it is still there
# (its row share-locked, which the sweep passes over), and otherwise the
# submit goes to the thread's server: a new run, as on one server once the
# key has expired.
#
# The sweep is stood in for by a transaction on the key's server that holds
# the key's submit lock (as a submit of the key does) while it deletes the
# run, as the sweep does, and commits once the router's call waits for it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('ridemx', shards => [ 'shard_a', 'shard_b' ],
	shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }

# a thread of partition 0 (shard_a) and one of partition 1 (shard_b)
my $t0 = thread_of_partition($node, 'x', 0);
my $t1 = thread_of_partition($node, 'x', 1);

my $r1 = r(qq{SELECT sg_submit('counter', '{"log": ["first"]}', '$t0', idempotency_key => 'ship-1')});
is(r("SELECT status FROM sg_wait('$r1', '60 s')"), 'success', 'the run of the key is done, on shard_a');
is(r(qq{SELECT sg_submit('counter', '{"log": ["again"]}', '$t1', idempotency_key => 'ship-1')}), $r1,
	'a retry naming a thread of shard_b gets that run');

# the run expires while a retry is on its way to shard_a
my $sweep = $node->background_psql('shard_a');
$sweep->query_safe('BEGIN');
$sweep->query_safe(q{INSERT INTO stategraph.submit_locks (owner, kind, graph, name)
	VALUES (CURRENT_USER, 'k', 'counter', 'ship-1') ON CONFLICT (owner, kind, name, graph) DO UPDATE SET kind = EXCLUDED.kind});
$sweep->query_safe("DELETE FROM stategraph.runs WHERE run_id = '$r1'");
my ($out, $err) = ('', '');
my $retry = IPC::Run::start(
	[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('router'),
	  '-c', qq{SELECT sg_submit('counter', '{"log": ["again"]}', '$t1', idempotency_key => 'ship-1')} ],
	'>', \$out, '2>', \$err);
ok($node->poll_query_until('postgres', q{SELECT EXISTS (SELECT 1 FROM pg_stat_activity
	WHERE datname = 'shard_a' AND wait_event_type = 'Lock' AND query LIKE '%sg_submit%')}),
	"the retry reached shard_a, the key's server, and waits there");
$sweep->query_safe('COMMIT');
$sweep->quit;
$retry->finish;
chomp $out;
is($err, '', 'the retry succeeds');
like($out, qr/^[0-9a-f-]{36}$/, 'with a run');
isnt($out, $r1, 'a new one: the key had expired');
is($node->safe_psql('shard_a', "SELECT count(*) FROM stategraph.runs WHERE thread_id = '$t1'"), '0',
	"no run for the thread on shard_a, which does not serve its partition");
is($node->safe_psql('shard_b', "SELECT count(*) FROM stategraph.runs WHERE thread_id = '$t1' AND run_id = '$out'"), '1',
	"the run is on the thread's server");
is(r("SELECT status FROM sg_wait('$out', '60 s')"), 'success', 'and runs');
is($node->safe_psql('shard_a', "SELECT count(*) FROM stategraph.threads WHERE thread_id = '$t1'"), '0',
	'no thread started on shard_a');
is(r("SELECT values FROM sg_get_state('$t1')"), '{"log": ["again"]}', 'the router reads what the run wrote');

# with the key still there, a retry naming shard_b's thread gets the run
# from shard_a as before
my $r2 = r(qq{SELECT sg_submit('counter', '{"log": ["two"]}', '$t0', idempotency_key => 'ship-2')});
is(r(qq{SELECT sg_submit('counter', '{"log": ["two"]}', '$t1', idempotency_key => 'ship-2')}), $r2,
	'a key still there: its run, from the other server');
is(r("SELECT count(*) FROM sg_runs() WHERE run_id <> '$r2' AND thread_id IN ('$t0', '$t1') AND created_at > (SELECT created_at FROM sg_runs() WHERE run_id = '$r2')"),
	'0', 'nothing else queued');

done_testing();
