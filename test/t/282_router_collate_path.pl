# The router's sg_threads sorts by collation pg_catalog."C". Named "C"
# unqualified, it sorted by a collation "C" of an earlier schema where the
# router database's search path names pg_catalog after it (a database
# owner's ALTER DATABASE ... SET search_path = public, pg_catalog, as TAP
# 152 has): here ICU's root collation, which sorts 'a' before 'B'.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('router_collate', shards => [ 'sa', 'sb' ], shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }
r(q{SELECT count(sg_invoke('counter', '{"log": [1]}', t)) FROM unnest(ARRAY['a-1', 'B-1', 'b-2', 'A-2']) t});
is(r(q{SELECT string_agg(thread_id, ' ') FROM sg_threads()}), 'A-2 B-1 a-1 b-2', 'sg_threads in byte order');
$node->safe_psql('router', q{
	CREATE SCHEMA hostile;
	CREATE COLLATION hostile."C" (provider = icu, locale = 'und');
	ALTER DATABASE router SET search_path = hostile, pg_catalog, public;
});
is(r(q{SELECT string_agg(thread_id, ' ') FROM sg_threads()}), 'A-2 B-1 a-1 b-2',
	'and so with a collation "C" in a schema before pg_catalog');
$node->stop;
done_testing();
