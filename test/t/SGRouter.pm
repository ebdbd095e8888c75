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
our @EXPORT = qw(router_node counter_shard_sql put_lg_threads thread_of_partition routed_ext_graph ext_threads
  complete_ext_tasks tasks_listed partitions_served hostile_router_owner hijacked_calls);

use Test::More;
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

# Graph 'ext' (START -> external node 'call' on queue 'q' -> END, channel
# x replaced), made through the router and in each database of @dbs (a
# move's targets, which the router does not reach): the tests of external
# tasks across moves.
sub routed_ext_graph
{
	my ($node, @dbs) = @_;
	my $ext = q{SELECT sg_create_graph('ext', '{"x": "replace"}');
	SELECT sg_add_external_node('ext', 'call', 'q');
	SELECT sg_add_edge('ext', '__start__', 'call');
	SELECT sg_add_edge('ext', 'call', '__end__');
	SELECT sg_compile('ext');};
	$node->safe_psql($_, $ext) for ('router', @dbs);
	return;
}

# A thread of each partition of @parts (thread_of_partition with $prefix)
# that routed_ext_graph's graph is invoked on through the router, x = 0:
# each waits with a task queued. Returns the thread ids.
sub ext_threads
{
	my ($node, $prefix, @parts) = @_;
	my @threads = map { thread_of_partition($node, $prefix, $_) } @parts;
	$node->safe_psql('router', qq{SELECT sg_invoke('ext', '{"x": 0}', thread_id => '$_')}) for @threads;
	return @threads;
}

# $n tasks of queue 'q' claimed through the router (worker w1) and each
# completed with {"x": 1}: [task id, token, thread id] of each, in the
# order claimed.
sub complete_ext_tasks
{
	my ($node, $n) = @_;
	my @tasks;
	for (1 .. $n)
	{
		my ($task, $token, $thread) = split / /,
		  $node->safe_psql('router', q{SELECT task_id || ' ' || token || ' ' || thread_id FROM sg_claim('q', 'w1')});
		$node->safe_psql('router', qq{SELECT sg_complete('$task', '$token', '{"x": 1}')});
		push @tasks, [ $task, $token, $thread ];
	}
	return @tasks;
}

# sg_tasks() through the router as one line: each task's id, thread and
# status, by task id (to compare before and after moves).
sub tasks_listed
{
	my ($node) = @_;
	return $node->safe_psql('router',
		q{SELECT string_agg(task_id || ' ' || thread_id || ' ' || status, ',' ORDER BY task_id) FROM sg_tasks()});
}

# How many partitions of the cluster the shard database $db serves: '0'
# once it has left the cluster (its last partition moved).
sub partitions_served
{
	my ($node, $db) = @_;
	return $node->safe_psql('router',
		"SELECT count(*) FROM stategraph_router.partitions() WHERE connstr LIKE '%dbname=$db%'");
}


# The router database $db given to a role of its own, mallory, who sets its
# search path to public, pg_catalog and lays the traps of $traps (SQL run as
# mallory: operators, domains, functions in public that call public.note(what)).
# public.note records what ran, as whom and where (hijacked_calls).
sub hostile_router_owner
{
	my ($node, $db, $traps) = @_;
	$node->safe_psql('postgres', "CREATE ROLE mallory LOGIN; ALTER DATABASE $db OWNER TO mallory");
	$node->safe_psql($db, q{
	ALTER SCHEMA public OWNER TO mallory;
	SET ROLE mallory;
	ALTER DATABASE } . $db . q{ SET search_path = public, pg_catalog;
	CREATE TABLE public.hijacked (what text, who text, ctx text);
	GRANT INSERT ON public.hijacked TO PUBLIC;
	CREATE FUNCTION public.note(what pg_catalog.text) RETURNS boolean LANGUAGE plpgsql AS $$
	DECLARE c pg_catalog.text;
	BEGIN
		GET DIAGNOSTICS c = PG_CONTEXT;
		INSERT INTO public.hijacked VALUES (what, current_user, c);
		RETURN true;
	END $$;
} . $traps);
}

# What of hostile_router_owner's traps ran in $db, as whom ('' for nothing);
# the call stacks go to the test's diagnostics.
sub hijacked_calls
{
	my ($node, $db) = @_;
	my $calls = $node->safe_psql($db, q{SELECT string_agg(DISTINCT what || ' as ' || who, ', ') FROM public.hijacked});
	diag($node->safe_psql($db, q{SELECT string_agg(DISTINCT ctx, E'\n----\n') FROM public.hijacked})) if $calls ne '';
	return $calls;
}

1;
