# A router and its shards on one test server, shared by the router tests:
# each shard is a database of its own with stategraph (PL/Proxy reaches it
# by its connection string, as it would another server), and the router
# database has plproxy, stategraph_router and cluster "stategraph" of four
# partitions, 0 and 2 on the first shard, 1 and 3 on the second, with a
# user mapping for PUBLIC (README's configuration).
package SGRouter;

use strict;
use warnings;

use Exporter 'import';
our @EXPORT = qw(router_node counter_shard_sql put_lg_threads thread_of_partition);

use PostgreSQL::Test::Cluster;

# Starts a server named $name with the shard databases @{$opt{shards}}
# (each gets stategraph, then $opt{shard_sql}) and the database "router";
# returns the node and a hash of the shards' connection strings. Shards past
# the first two serve no partition: a move's targets.
sub router_node
{
	my ($name, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->start;
	my ($host, $port) = ($node->host, $node->port);
	my %conn;
	for my $db (@{ $opt{shards} })
	{
		$node->safe_psql('postgres', "CREATE DATABASE $db");
		$node->safe_psql($db, 'CREATE EXTENSION stategraph;' . ($opt{shard_sql} // ''));
		$conn{$db} = "host=$host port=$port dbname=$db";
	}
	my ($a, $b) = @{ $opt{shards} }[ 0, 1 ];
	$node->safe_psql('postgres', 'CREATE DATABASE router');
	$node->safe_psql('router', qq{CREATE EXTENSION plproxy; CREATE EXTENSION stategraph_router;
		CREATE SERVER stategraph FOREIGN DATA WRAPPER plproxy OPTIONS (
			partition_0 '$conn{$a}', partition_1 '$conn{$b}',
			partition_2 '$conn{$a}', partition_3 '$conn{$b}');
		CREATE USER MAPPING FOR PUBLIC SERVER stategraph;});
	return ($node, %conn);
}

# router_node's shard_sql for graph 'counter' on every shard (START -> noop
# -> END, channel log appended), which the tests of moves fill with threads.
sub counter_shard_sql
{
	return q{CREATE FUNCTION noop(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
		SELECT sg_create_graph('counter', '{"log": "append"}');
		SELECT sg_add_node('counter', 'noop', 'noop(jsonb)');
		SELECT sg_add_edge('counter', '__start__', 'noop');
		SELECT sg_add_edge('counter', 'noop', '__end__');
		SELECT sg_compile('counter');};
}

# LangGraph.js threads 'lg-$i' for each $i of @ids, each of one checkpoint
# (channel x = [$i]) put on the server its id hashes to (as an application
# that routes its saver by thread does), found through the router database.
sub put_lg_threads
{
	my ($node, @ids) = @_;
	for my $i (@ids)
	{
		my $db = (split /dbname=/, $node->safe_psql('router', "SELECT stategraph_router.shard_of('lg-$i')"))[1];
		$node->safe_psql($db, qq{SELECT sg_lg_put('lg-$i', '', NULL,
			'{"v": 4, "id": "1ef4f797-8335-6428-8001-8a1503f9b87$i", "ts": "2024-01-01T00:00:00Z",
			  "channel_values": {"x": [$i]}, "channel_versions": {"x": 1}, "versions_seen": {}}',
			'{"step": 0}', '{"x": 1}')});
	}
	return;
}

# The first of the thread ids "$prefix-1" .. "$prefix-100" that the
# router's hash sends to partition $part.
sub thread_of_partition
{
	my ($node, $prefix, $part) = @_;
	return $node->safe_psql('router', qq{SELECT '$prefix-' || i FROM generate_series(1, 100) i
		WHERE stategraph_router.partition_of('$prefix-' || i) = $part ORDER BY i LIMIT 1});
}

1;
