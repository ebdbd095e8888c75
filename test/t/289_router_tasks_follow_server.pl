# A server that leaves the cluster (move_partition moved the last
# partition it served) gave its finished runs to the server taking the
# partition (TAP 272), but not its finished external tasks: a worker's
# retry of sg_complete of a task it had completed there (a lost reply)
# then found no task on any server ("task ... does not exist", 42704),
# where one server, or the router before the move, answers the retry as
# the same completion again (a no-op; TAP 216). The move now gives the
# finished tasks (completed, cancelled) too, as they are (token, result,
# owner), so that each call naming such a task gets the answer it got
# before the moves, and sg_tasks lists them once each.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('rtfollow', shards => [ 'shard_a', 'shard_b', 'shard_c' ],
	shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }
r(q{CREATE FUNCTION outcome(q text) RETURNS text LANGUAGE plpgsql AS $$
	DECLARE st text; msg text; res text;
	BEGIN
		EXECUTE q INTO res;
		RETURN 'ok ' || COALESCE(res, '');
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		RETURN st || ': ' || regexp_replace(msg, '^.*REMOTE ERROR: ', '');
	END $$});

routed_ext_graph($node, 'shard_c');

# threads of partitions 1 and 3 (both on shard_b), each with a task, completed
my @threads = ext_threads($node, 'x', 1, 3);
my @tasks = complete_ext_tasks($node, 2);    # [task, token, thread]
my $listed = tasks_listed($node);

# what a worker's calls of these tasks get with no move
my @calls = map {
	my ($task, $token) = @$_;
	(qq{SELECT sg_complete('$task', '$token', '{"x": 1}')},
	 qq{SELECT sg_heartbeat('$task', '$token')},
	 qq{SELECT sg_complete('$task', '$token', '{"x": 2}')},
	 qq{SELECT sg_fail('$task', '$token', '{"message": "late"}')},
	 qq{SELECT sg_complete('$task', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"x": 1}')})
} @tasks;
my %before = map { my $q = $_; ($q => r("SELECT outcome(\$q\$$q\$q\$)")) } @calls;
like($before{ $calls[0] }, qr/^ok/, 'a retried sg_complete is taken (no move)');

# partition 3 moves (shard_b stays), then partition 1: shard_b leaves the cluster
is(r("CALL stategraph_router.move_partition(3, '$conn{shard_c}')"), '1', 'partition 3 moved to shard_c');
# between the adoption and the switch both servers hold the tasks: listed once
# (an adoption run by hand, as a move stopped there leaves it; the move passes over them)
is(r("SELECT stategraph_router.adopt_tasks('$conn{shard_b}', '$conn{shard_c}')"), '2', 'two tasks adopted by hand');
is(tasks_listed($node), $listed, 'a task held by two servers is listed once');
is(r("SELECT outcome(\$q\$$calls[0]\$q\$)"), $before{ $calls[0] }, 'a retry meanwhile: as before');
is(r("CALL stategraph_router.move_partition(1, '$conn{shard_c}')"), '1', 'partition 1 moved: shard_b left');
is(partitions_served($node, 'shard_b'), '0', 'shard_b is no partition of the cluster');
is($node->safe_psql('shard_c', q{SELECT string_agg(status || ' ' || (result->>'x'), ',') FROM stategraph.tasks}),
	'completed 1,completed 1', 'shard_c has the finished tasks, results kept');

for my $q (@calls)
{
	is(r("SELECT outcome(\$q\$$q\$q\$)"), $before{$q}, "after shard_b left, as before: $q");
}
is(tasks_listed($node), $listed, 'sg_tasks lists the tasks as before, once each');
is(r(qq{SELECT (sg_get_state('$threads[0]'))."values"}), '{"x": 1}', 'the thread is unchanged');

# the adopted tasks' thread goes on: a new task there is queued and claimed as ever
r(qq{SELECT sg_invoke('ext', '{"x": 5}', thread_id => '$threads[0]')});
my ($task, $token) = split / /, r(q{SELECT task_id || ' ' || token FROM sg_claim('q', 'w2')});
r(qq{SELECT sg_complete('$task', '$token', '{"x": 6}')});
is(r(qq{SELECT (sg_get_state('$threads[0]'))."values"}), '{"x": 6}', 'a new task of the thread completes on shard_c');

done_testing();
