# Two sg_submit calls with one idempotency key, at the same time, through
# the router, naming threads of two servers. On one server the second call
# returns the first one's run (the key is looked up under a lock). Through
# the router each call asked every server for the key, found none, and went
# to its own thread's server: two runs for one key. The router now holds a
# transaction lock of the (role, graph, key) from before it asks until its
# transaction ends, after the run's server committed it, so the second call
# waits and then finds the first one's run.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('ridemc', shards => [ 'shard_a', 'shard_b' ],
	shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }

# a thread of partition 0 (shard_a) and one of partition 1 (shard_b)
my $t0 = thread_of_partition($node, 'c', 0);
my $t1 = thread_of_partition($node, 'c', 1);

# the first call, its router transaction left open after the submit
my $first = $node->background_psql('router');
$first->query_safe('BEGIN');
my $r1 = $first->query_safe(qq{SELECT sg_submit('counter', '{"log": ["once"]}', '$t0', idempotency_key => 'pay-7')});
like($r1, qr/^[0-9a-f-]{36}$/, 'the first submit returned a run');
is($node->safe_psql('shard_a', "SELECT count(*) FROM stategraph.runs WHERE idempotency_key = 'pay-7'"), '1',
	'its server committed the run (PL/Proxy calls commit on their own)');

# the second call, naming a thread of the other server
my ($out, $err) = ('', '');
my $second = IPC::Run::start(
	[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('router'),
	  '-c', qq{SELECT sg_submit('counter', '{"log": ["once"]}', '$t1', idempotency_key => 'pay-7')} ],
	'>', \$out, '2>', \$err);
ok($node->poll_query_until('router', q{SELECT EXISTS (SELECT 1 FROM pg_stat_activity
	WHERE datname = 'router' AND wait_event_type = 'Lock' AND query LIKE '%pay-7%')}),
	'the second submit of the key waits for the first one');

$first->query_safe('COMMIT');
$first->quit;
$second->finish;
chomp $out;
is($out, $r1, 'then returns the first run');
is($err, '', 'without an error');
is($node->safe_psql('shard_b', "SELECT count(*) FROM stategraph.runs WHERE idempotency_key = 'pay-7'"), '0',
	'nothing queued on the other server');
is(r("SELECT status FROM sg_wait('$r1', '60 s')"), 'success', 'the run is done');
is(r("SELECT count(*) FROM sg_runs() WHERE thread_id IN ('$t0', '$t1')"), '1', 'one run in the cluster');

# submits without a key, or with another key, do not wait for an open one
$first = $node->background_psql('router');
$first->query_safe('BEGIN');
$first->query_safe(qq{SELECT sg_submit('counter', '{"log": ["a"]}', '$t0', multitask => 'enqueue', idempotency_key => 'pay-8')});
my $r9 = $node->safe_psql('router', qq{SET lock_timeout = '5s';
	SELECT sg_submit('counter', '{"log": ["b"]}', '$t1', multitask => 'enqueue', idempotency_key => 'pay-9')});
like($r9, qr/^[0-9a-f-]{36}$/, 'another key: no wait');
my $rn = $node->safe_psql('router', qq{SET lock_timeout = '5s';
	SELECT sg_submit('counter', '{"log": ["c"]}', '$t1', multitask => 'enqueue')});
like($rn, qr/^[0-9a-f-]{36}$/, 'no key: no wait');
$first->query_safe('COMMIT');
$first->quit;

done_testing();
