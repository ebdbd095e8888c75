# The removal of stray LangGraph.js writes (writes of a thread id without
# checkpoints, sent after its thread's delete) read all of
# stategraph.lg_writes at every sg_prune of every thread and every
# retention sweep pass with a ttl (about 1.7 s per million writes), whatever
# the strays. It now reads the writes of the thread ids that put_writes
# noted (stategraph.lg_stray_threads): with 200,000 writes of a stored
# thread, the statements on lg_writes that the prune and the sweep run read
# a few pages, not the table's thousands. Counted with pg_stat_statements
# (track = all: the statements the functions run).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = planned_node('lg_stray_bound');
$node->safe_psql('postgres', q{
    CREATE FUNCTION lgput(thread text) RETURNS boolean LANGUAGE sql AS $$
        SELECT sg_lg_put(thread, '', NULL,
            jsonb_build_object('v', 4, 'id', '1ef00000-0000-6000-8000-000000000001', 'ts', 'x',
                               'channel_values', jsonb_build_object('m', 1),
                               'channel_versions', jsonb_build_object('m', 1), 'versions_seen', jsonb_build_object()),
            jsonb_build_object('source', 'input', 'step', -1), jsonb_build_object('m', 1)) IS NOT NULL $$;
    SELECT lgput('big');
    -- 200,000 writes of a stored thread (of its checkpoint and of ones still to come): no strays
    INSERT INTO stategraph.lg_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, value)
        SELECT 'big', '', '1ef00000-0000-6000-8000-000000000001', 'task-' || i, 0, 'm', to_jsonb('a write ' || i)
          FROM generate_series(1, 200000) i;
    VACUUM ANALYZE stategraph.lg_writes;
});
my $pages = $node->safe_psql('postgres', q{SELECT pg_relation_size('stategraph.lg_writes') / 8192});
cmp_ok($pages, '>', 1000, "lg_writes has $pages pages");

# a stray: a write sent after its thread's delete, of a checkpoint id older than a minute
sub stray
{
	my ($thread) = @_;
	$node->safe_psql('postgres', qq{
        SELECT lgput('$thread');
        SELECT sg_lg_delete_thread('$thread');
        SELECT sg_lg_put_writes('$thread', '', '1ef00000-0000-6000-8000-000000000001', 'late', '[["m", "late"]]');
    });
}

# pages read since the last reset by the statements that look for strays in lg_writes
# (before: "... FROM stategraph.lg_writes w WHERE w.checkpoint_id < $1 ...", a list and a delete)
sub writes_pages
{
	return $node->safe_psql('postgres', q{
        SELECT COALESCE(sum(shared_blks_hit + shared_blks_read), 0) FROM pg_stat_statements
         WHERE query LIKE '%FROM stategraph.lg_writes w WHERE%'});
}

stray('gone');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.lg_stray_threads WHERE thread_id = 'gone'}) > 0 ? 1 : 0,
	1, 'the write of a thread without checkpoints is noted');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.lg_stray_threads WHERE thread_id = 'big'}),
	'0', 'a write of a stored thread is not');
$node->safe_psql('postgres', 'SELECT pg_stat_statements_reset()');
$node->safe_psql('postgres', 'SELECT sg_prune(keep_last => 1)');
my $read = writes_pages();
cmp_ok($read, '<', $pages / 10, "the prune's statements on lg_writes read $read pages, not the table's $pages");
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.lg_writes WHERE thread_id = 'gone'}),
	'0', 'sg_prune of every thread removes the stray');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.lg_stray_threads}), '0', 'and its note');

stray('gone2');
$node->safe_psql('postgres', q{
    SELECT sg_set_retention(NULL, interval '1 day', 'keep_latest', 1);
    SELECT pg_stat_statements_reset();
    CALL sg_work(0, interval '0 s');
});
$read = writes_pages();
cmp_ok($read, '<', $pages / 10, "the sweep's statements on lg_writes read $read pages, not the table's $pages");
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.lg_writes WHERE thread_id = 'gone2'}),
	'0', 'the retention sweep removes the stray');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.lg_stray_threads}), '0', 'and its note');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.lg_writes WHERE thread_id = 'big'}),
	'200000', 'the writes of the stored thread stay');

$node->stop('fast');
done_testing();
