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
our @EXPORT = qw(router_node);

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

1;
