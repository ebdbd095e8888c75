# A delayed run of a thread deleted before it came due never runs: the
# background worker, which executes due runs as they come, neither starts
# the thread anew from the run's input (what it did: sg_delete_thread left
# the run pending, and it created the thread again as a new one) nor runs
# the run queued behind it. Both end cancelled with the delete, and sg_wait
# returns them at once. A delayed run of another thread, due at the same
# time, runs: the worker was there.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('delruns', qq{
stategraph.max_workers = 1
});
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE effects (thread text, n int);
    CREATE FUNCTION work(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$
        INSERT INTO effects VALUES (config->>'thread_id', (state->>'n')::int);
        SELECT jsonb_build_object('log', jsonb_build_array(state->'n')) $$;
    SELECT sg_create_graph('g', '{"n": "replace", "log": "append"}');
    SELECT sg_add_node('g', 'a', 'work(jsonb, jsonb)');
    SELECT sg_add_edge('g', '__start__', 'a');
    SELECT sg_add_edge('g', 'a', '__end__');
    SELECT sg_compile('g');
    SELECT sg_invoke('g', '{"n": 1}', 'gone');
});

# (gone's delayed run is due in an hour, not in 2 s: a machine slower than
# that between the submit and the delete had the worker run it first; it is
# made due by hand once deleted, before kept's run comes due)
my ($later, $queued, $kept) = split /\n/, $node->safe_psql('postgres', q{
    SELECT sg_submit('g', '{"n": 2}', 'gone', after => '1 hour');
    SELECT sg_submit('g', '{"n": 3}', 'gone', multitask => 'enqueue');
    SELECT sg_submit('g', '{"n": 4}', 'kept', after => '2 s');
});
$node->safe_psql('postgres', q{SELECT sg_delete_thread('gone')});
$node->safe_psql('postgres', "UPDATE stategraph.runs SET not_before = clock_timestamp() WHERE run_id = '$later'");

is($node->safe_psql('postgres', "SELECT status, error->>'message' FROM sg_wait('$later', interval '1 s')"),
	'cancelled|thread "gone" was deleted', 'the delayed run is cancelled with its thread');
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$queued', interval '1 s')"),
	'cancelled', 'so is the run queued behind it');

# past their due time: the worker ran the other thread's run, and nothing of the deleted one
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$kept', interval '30 s')"),
	'success', 'the delayed run of another thread ran once due');
$node->safe_psql('postgres', 'SELECT pg_sleep(1)');
is($node->safe_psql('postgres', "SELECT count(*) FROM sg_threads() WHERE thread_id = 'gone'"),
	'0', 'the deleted thread stays deleted');
is($node->safe_psql('postgres', "SELECT string_agg(n::text, ',' ORDER BY n) FROM effects WHERE thread = 'gone'"),
	'1', 'no node ran for it after the delete');
is($node->safe_psql('postgres', q{
    SELECT string_agg(status || '/' || attempt || '/' || (started_at IS NULL), ',' ORDER BY seq)
    FROM stategraph.runs WHERE thread_id = 'gone'}),
	'cancelled/0/true,cancelled/0/true', 'the worker never claimed its runs, whose rows stay');

$node->stop;
done_testing();
