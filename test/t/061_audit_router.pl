# Issue 12: "listings (sg_threads, sg_runs, sg_tasks) and sg_prune run on
# all shards and merge" (audit rev9audit). TAP 002_router checks the
# listings; sg_prune of every thread went through the router only in the
# seed walkthrough, where it removes nothing (older_than 30 days), so a
# router that pruned one server, or added the counts wrongly, passed.
# Here: threads on both servers of the router (SGRouter: partitions 0 and
# 2 on one, 1 and 3 on the other), sg_prune(keep_last => 1) through the
# router prunes every thread on every server once and returns the sum of
# what each server removed; sg_threads through the router lists every
# thread once, in thread_id order, as one server does.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('audit_router', shards => [ 'sa', 'sb' ]);
sub r { return $node->safe_psql('router', $_[0]); }

# a node function on each server (definitions through the router need it there)
for my $db ('sa', 'sb')
{
	$node->safe_psql($db, q{CREATE FUNCTION add_one(state jsonb) RETURNS jsonb LANGUAGE sql
		AS $$ SELECT jsonb_build_object('log', jsonb_build_array(jsonb_array_length(state->'log'))) $$;});
}
$node->safe_psql('router', q{CREATE FUNCTION add_one(state jsonb) RETURNS jsonb LANGUAGE sql
	AS $$ SELECT jsonb_build_object('log', jsonb_build_array(jsonb_array_length(state->'log'))) $$;});
r(q{
	SELECT sg_create_graph('counter', '{"log": "append"}');
	SELECT sg_add_node('counter', 'a', 'add_one(jsonb)');
	SELECT sg_add_edge('counter', '__start__', 'a');
	SELECT sg_add_edge('counter', 'a', '__end__');
	SELECT sg_compile('counter');
});
is(r('SELECT count(*) FROM stategraph_router.check_definitions()'), '0', 'the graph is defined on both servers');

# 40 threads, three invokes each: 9 checkpoints a thread (input, loop, loop three times)
my $n = 40;
r("SELECT count(sg_invoke('counter', '{\"log\": []}', 't-' || lpad(i::text, 2, '0'))) FROM generate_series(1, $n) i") for 1 .. 3;
my %on;
my %kept;
for my $db ('sa', 'sb')
{
	$on{$db} = $node->safe_psql($db, 'SELECT count(*) FROM stategraph.threads');
	$kept{$db} = $node->safe_psql($db, 'SELECT count(*) FROM stategraph.checkpoints');
}
ok($on{sa} > 0 && $on{sb} > 0 && $on{sa} + $on{sb} == $n, "the threads are on both servers ($on{sa} and $on{sb})");
my $per = $node->safe_psql('sa', 'SELECT DISTINCT count(*) FROM stategraph.checkpoints GROUP BY thread_id');
is($per, '9', 'each thread has 9 checkpoints');

# sg_threads through the router: every thread once, sorted as on one server
is(r(q{SELECT string_agg(thread_id, ',') FROM sg_threads('counter')}),
	join(',', map { sprintf('t-%02d', $_) } 1 .. $n), 'sg_threads through the router lists each thread once, in thread_id order');
is(r(q{SELECT sum(checkpoints) FROM sg_threads()}), $kept{sa} + $kept{sb}, 'with the checkpoints of both servers');

# sg_prune of every thread through the router
is(r('SELECT sg_prune(keep_last => 1)'), $n * 8, 'sg_prune(keep_last => 1) through the router returns what both servers removed');
for my $db ('sa', 'sb')
{
	is($node->safe_psql($db, 'SELECT count(*) FROM stategraph.checkpoints'), $on{$db},
		"server $db keeps the newest checkpoint of each of its threads");
}
is(r('SELECT sg_prune(keep_last => 1)'), '0', 'a second prune through the router removes nothing');
is(r(q{SELECT count(*) FILTER (WHERE (sg_get_state(thread_id))."values"->'log' = '[0, 1, 2]') FROM sg_threads()}), $n,
	'every pruned thread reads its newest state through the router');
is(r(q{SELECT count(*) FILTER (WHERE sg_invoke('counter', NULL, thread_id) IS NOT NULL) FROM sg_threads()}), $n,
	'and goes on');

$node->stop;
done_testing();
