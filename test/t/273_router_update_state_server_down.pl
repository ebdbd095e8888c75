# sg_update_state through the router from a checkpoint of another thread
# looks the checkpoint's thread up on every server (it may be on any). A
# server that did not answer failed that look-up, and with it an update of
# a thread of a server that is up from a checkpoint of another such thread:
# a shard down made calls fail that involve none of its threads (issue 12:
# calls for other threads go on). The look-up now asks the servers that
# answer, one by one, when a server does not; it fails naming the server
# that is down only when no other holds the checkpoint.
#
# The server down is a partition whose connection string names a database
# that does not exist (PL/Proxy's error is the same as for a server down).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('rupdown', shards => [ 'shard_a', 'shard_b' ],
	shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }

my $ta = thread_of_partition($node, 'u', 0);    # shard_a
my $tb = thread_of_partition($node, 'u', 1);    # shard_b
my $ta2 = thread_of_partition($node, 'v', 2);   # shard_a
r(qq{SELECT sg_invoke('counter', '{"log": ["a"]}', '$ta')});
my $cp = r("SELECT checkpoint_id FROM sg_get_state('$ta')");

# partition 3 (shard_b's other one) goes to a server that is down
my ($host, $port) = ($node->host, $node->port);
r("ALTER SERVER stategraph OPTIONS (SET partition_3 'host=$host port=$port dbname=shard_down')");
my ($ret, $out, $err) = $node->psql('router', 'SELECT count(*) FROM sg_threads()');
like($err, qr/\[shard_down\]/, 'a listing fails naming the server that is down');

# updates between threads of servers that answer
is(r(qq{SELECT sg_update_state('$tb', '{"log": ["b"]}', as_node => 'noop', checkpoint_id => '$cp') IS NOT NULL}), 't',
	'an update from a checkpoint of another server, with a third server down');
is(r("SELECT values FROM sg_get_state('$tb')"), '{"log": ["a", "b"]}', 'the thread starts from that checkpoint');
is(r(qq{SELECT sg_update_state('$ta2', '{"log": ["c"]}', as_node => 'noop', checkpoint_id => '$cp') IS NOT NULL}), 't',
	'an update from a checkpoint of another thread of the same server');
is(r("SELECT values FROM sg_get_state('$ta2')"), '{"log": ["a", "c"]}', 'that thread starts from it too');

# a checkpoint no server that answers holds: it may be on the one that is down
($ret, $out, $err) = $node->psql('router',
	qq{SELECT sg_update_state('$tb', '{"log": ["x"]}', checkpoint_id => '01a24949-0000-7000-8000-000000000000')});
like($err, qr/\[shard_down\]/, 'a checkpoint found nowhere else: the error names the server that is down');
is(r("SELECT values FROM sg_get_state('$tb')"), '{"log": ["a", "b"]}', 'and nothing changed');

done_testing();
