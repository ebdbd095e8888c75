# A thread of 10,000 checkpoints through its lifecycle: forks of its oldest
# checkpoint and of a fork, an update from one of its checkpoints into a
# new thread, export and import, sg_prune with a large keep_last, and
# sg_delete_thread of the source. Every checkpoint that remains reads as
# before (sampled), nothing hits a stack depth limit, and the prune keeping
# 5,000 checkpoints takes no longer than one keeping 1: it compared every
# checkpoint with each of the newest keep_last, and gave each of the 300
# rows that referred to a removed row for an unchanged channel a complete
# image of the whole state (30 times slower, and as many copies of it).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use SGNode;

my $node = preloaded_node('long_thread_lifecycle');
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    -- n counts up to 10,000; big is written at the start only (stored by reference later on)
    CREATE FUNCTION long_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
        SELECT jsonb_build_object('n', COALESCE((state->>'n')::int, 0) + 1,
                                  'log', jsonb_build_array(COALESCE((state->>'n')::int, 0) % 7)) $$;
    CREATE FUNCTION long_route(state jsonb) RETURNS text LANGUAGE sql AS $$
        SELECT CASE WHEN (state->>'n')::int % 10000 = 0 THEN '__end__' ELSE 'step' END $$;
    SELECT sg_create_graph('long', '{"n": "replace", "big": "replace", "log": "append"}');
    SELECT sg_add_node('long', 'step', 'long_step(jsonb)');
    SELECT sg_add_edge('long', '__start__', 'step');
    SELECT sg_add_conditional_edges('long', 'step', 'long_route(jsonb)', '["step", "__end__"]');
    SELECT sg_compile('long');
    SET stategraph.state_cache = 0;
    SELECT sg_invoke('long', jsonb_build_object('big', repeat('b', 200)), thread_id => 'long',
                     recursion_limit => 20000);
    -- what the sampled checkpoints read: every 250th step, and the oldest ones
    CREATE TABLE sample AS
    SELECT h.checkpoint_id, h.step, to_jsonb(h) - 'thread_id' AS snap
      FROM sg_get_state_history('long') h WHERE h.step % 250 = 0 OR h.step < 3;
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 'long'}),
	'10002', 'a thread of 10,002 checkpoints');

# forks of its oldest checkpoints, a fork of a fork, an update from step 5000 into a new thread
$node->safe_psql('postgres', q{
    SELECT sg_fork('long', (SELECT checkpoint_id FROM sample WHERE step = 0), 'fork-0');
    SELECT sg_fork('fork-0', (SELECT checkpoint_id FROM sg_get_state('fork-0')), 'fork-of-fork');
    SELECT sg_update_state('fork-of-fork', '{"n": 9998}');
    SELECT sg_invoke('long', NULL, thread_id => 'fork-of-fork');
    SELECT sg_update_state('update-5000', '{"n": -1}', checkpoint_id => (SELECT checkpoint_id FROM sample WHERE step = 5000));
    CREATE TABLE others AS
    SELECT t.thread_id, h.checkpoint_id, to_jsonb(h) AS snap
      FROM unnest(ARRAY['fork-0', 'fork-of-fork', 'update-5000']) t(thread_id), sg_get_state_history(t.thread_id) h;
});
is($node->safe_psql('postgres', q{SELECT string_agg(thread_id || ' ' || n, ', ' ORDER BY thread_id)
	FROM (SELECT thread_id, count(*) n FROM others GROUP BY 1) x}),
	'fork-0 1, fork-of-fork 4, update-5000 2', 'the forks and the update read');

# what still reads as before: the sampled checkpoints left of thread $t, and the others' checkpoints
sub reads_alike
{
	my ($t) = @_;
	return $node->safe_psql('postgres', qq{
		SET stategraph.state_cache = 0;
		SELECT count(*) FILTER (WHERE to_jsonb(sg_get_state('$t', s.checkpoint_id)) - 'thread_id' = s.snap)
		       || ' of ' || count(*)
		  FROM sample s WHERE EXISTS (SELECT FROM stategraph.checkpoints c
		                              WHERE c.thread_id = '$t' AND c.checkpoint_id = s.checkpoint_id);
		SELECT count(*) FILTER (WHERE to_jsonb(sg_get_state(o.thread_id, o.checkpoint_id)) = o.snap
		                          AND to_jsonb(h) = o.snap) || ' of ' || count(*)
		  FROM others o LEFT JOIN LATERAL (SELECT * FROM sg_get_state_history(o.thread_id) x
		                                   WHERE x.checkpoint_id = o.checkpoint_id) h ON true});
}
is(reads_alike('long'), "44 of 44\n7 of 7", 'all read as they did');

# a copy through export and import reads the same
$node->safe_psql('postgres', q{SELECT sg_import_thread(sg_export_thread('long'), 'copy')});
is(reads_alike('copy'), "44 of 44\n7 of 7", 'the imported copy reads as the thread');

# sg_prune keeping 5,000 takes no longer than one keeping 1 (which removes twice as many)
my $t0 = time;
$node->safe_psql('postgres', q{BEGIN; SELECT sg_prune(keep_last => 1, thread_id => 'copy'); ROLLBACK});
my $keep1 = time - $t0;
$t0 = time;
is($node->safe_psql('postgres', q{SELECT sg_prune(keep_last => 5000, thread_id => 'long')}),
	'5002', 'sg_prune(keep_last => 5000) removes the 5,002 older checkpoints');
my $keep5000 = time - $t0;
note(sprintf('sg_prune keep_last 1: %.3f s, keep_last 5000: %.3f s', $keep1, $keep5000));
cmp_ok($keep5000, '<', 3 * $keep1 + 0.5, 'pruning with a large keep_last is as fast as with keep_last 1');
# "big", unchanged since the first step, is stored as a reference every 16
# rows: the oldest row left gets a complete image (its parent is gone), one
# row referring to "big" gets its value, and the others refer to that row
is($node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE image_complete) || ' ' || count(*) FILTER (WHERE NOT image_complete AND image ? 'big')
	       || ' ' || count(DISTINCT refs->>'big')
	  FROM stategraph.checkpoints WHERE thread_id = 'long'}),
	'1 1 1', 'the prune stored one complete image and one copy of the unchanged value');
is(reads_alike('long'), "20 of 20\n7 of 7", 'what remains reads as before, forks of removed checkpoints too');

# the pruned thread exported and imported; the source deleted; the copy pruned to one
$node->safe_psql('postgres', q{SELECT sg_import_thread(sg_export_thread('long'), 'pruned-copy')});
is(reads_alike('pruned-copy'), "20 of 20\n7 of 7", 'an import of the pruned thread reads as it');
$node->safe_psql('postgres', q{SELECT sg_delete_thread('long')});
is(reads_alike('copy'), "44 of 44\n7 of 7", 'the source deleted, the forks read as before');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 'long'}),
	'0', 'the deleted thread left no checkpoint');
is($node->safe_psql('postgres', q{SELECT sg_prune(keep_last => 1, thread_id => 'copy')}),
	'10001', 'the copy pruned to its newest');
is(reads_alike('copy'), "1 of 1\n7 of 7", 'its newest reads as before');

$node->stop;
done_testing();
