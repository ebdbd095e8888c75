# Review (found beside TAP 315): stategraph_router.owners_by_server, the
# look-up of a checkpoint's thread server by server when a server does not
# answer (TAP 273), declared "down text": the type name text unqualified,
# resolved by the caller's search path when the body is compiled. The
# router database's owner (not a superuser) may ALTER DATABASE ... SET
# search_path = public, pg_catalog (TAP 283), and a domain public.text,
# whose CHECK calls a function of that owner, then ran as the role calling
# sg_update_state from another thread's checkpoint while a server was
# down (here a superuser): on the variable's initialisation to NULL.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('router_owners_down_path', shards => [ 'shard_a', 'shard_b' ],
	shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }

my $ta = thread_of_partition($node, 'u', 0);    # shard_a
my $tb = thread_of_partition($node, 'u', 1);    # shard_b
r(qq{SELECT sg_invoke('counter', '{"log": ["a"]}', '$ta')});
my $cp = r("SELECT checkpoint_id FROM sg_get_state('$ta')");

# partition 3 (shard_b's other one) goes to a server that is down (as TAP 273)
my ($host, $port) = ($node->host, $node->port);
r("ALTER SERVER stategraph OPTIONS (SET partition_3 'host=$host port=$port dbname=shard_down')");

hostile_router_owner($node, 'router', q{
	CREATE DOMAIN public.text AS pg_catalog.text CHECK (public.note('domain text'));
});

is(r(qq{SELECT sg_update_state('$tb', '{"log": ["b"]}', as_node => 'noop', checkpoint_id => '$cp') IS NOT NULL}), 't',
	'an update from a checkpoint of another server, with a third server down');
is(r("SELECT values FROM sg_get_state('$tb')"), '{"log": ["a", "b"]}', 'the thread starts from that checkpoint');
is(hijacked_calls($node, 'router'), '', "no function of the router database's owner ran as the caller");
$node->stop;
done_testing();
