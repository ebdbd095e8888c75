# A TAP test's clusters are copies of initdbs made once per run
# (SGTemplate.pm). Copies share their template's database system
# identifier, which a real initdb makes anew for each cluster, so that
# what tells servers apart by it took them all for one server: the
# router's move_partition to another test server was refused as "in
# cluster stategraph already" (TAP 002_router). A test's n-th cluster is a
# copy of the n-th template: each has an identifier of its own, and a copy
# starts, runs and restarts as a cluster of its own.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my @nodes = map { preloaded_node("identity_$_") } 1 .. 3;
my @ids = map { $_->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()') } @nodes;
my %distinct = map { $_ => 1 } @ids;
is(scalar(keys %distinct), 3, 'three clusters, three system identifiers') or diag("@ids");

$nodes[0]->safe_psql('postgres', 'CREATE TABLE t AS SELECT 1 AS x; CHECKPOINT');
$nodes[0]->restart;
is($nodes[0]->safe_psql('postgres', 'SELECT x FROM t'), '1', 'a copy keeps its data over a restart');
$nodes[1]->stop('immediate');
$nodes[1]->start;
is($nodes[1]->safe_psql('postgres', 'SELECT 1'), '1', 'and recovers after an immediate stop');
is($nodes[1]->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()'), $ids[1],
	'with its own identifier');

$_->stop for @nodes;
done_testing();
