# sg_delete_thread of a thread whose run is executing, with runs queued
# behind it ('enqueue'): the delete waits for the executing run, and the
# queued ones end cancelled, none executed. The delete waits for the
# thread's lock holding none of its locks, and used to let that lock go
# again at once, before it took its locks anew: the worker that ended the
# run claimed the next queued run in between, the delete waited for that
# run too, and so on (1 to 5 of 10 deletes let runs execute; here, the
# delete held up where it takes its locks anew by a trigger on the submit
# locks' table, in its session only, 2 to 4 of 4, most of them all five).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('delete_queued', qq{
stategraph.max_workers = 2
});
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE effects (seq serial, thread text, n int);
    CREATE FUNCTION work(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO effects (thread, n) VALUES (config->>'thread_id', (state->>'n')::int);
        PERFORM pg_sleep((state->>'sleep')::float8);
        RETURN '{}';
    END $$;
    SELECT sg_create_graph('jobs', '{"n": "replace", "sleep": "replace"}');
    SELECT sg_add_node('jobs', 'a', 'work(jsonb, jsonb)');
    SELECT sg_add_edge('jobs', '__start__', 'a');
    SELECT sg_add_edge('jobs', 'a', '__end__');
    SELECT sg_compile('jobs');
    CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('test.slow_delete', true) = 'on' THEN
            PERFORM pg_sleep(0.3);
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER slow BEFORE INSERT ON stategraph.submit_locks FOR EACH ROW EXECUTE FUNCTION slow();
});

my $tries = 4;
my @leaked;
for my $k (1 .. $tries)
{
	my $t = "q$k";
	$node->safe_psql('postgres', qq{
        SELECT sg_submit('jobs', '{"n": 1, "sleep": 1.5}', '$t');
        SELECT sg_submit('jobs', jsonb_build_object('n', i, 'sleep', 0.2), '$t', multitask => 'enqueue')
        FROM generate_series(2, 6) i;
    });
	# run 1 executing: its step sleeps (its rows are seen only once it commits)
	$node->poll_query_until('postgres',
		q{SELECT EXISTS (SELECT FROM pg_stat_activity WHERE wait_event = 'PgSleep')})
	  or die "run 1 of $t did not start";
	$node->safe_psql('postgres', qq{SET test.slow_delete = on; SELECT sg_delete_thread('$t')});
	my $runs = $node->safe_psql('postgres', qq{
        SELECT string_agg(status, ',' ORDER BY created_at, seq) FROM stategraph.runs WHERE thread_id = '$t'});
	my $done = $node->safe_psql('postgres', qq{
        SELECT string_agg(n::text, ',' ORDER BY seq) FROM effects WHERE thread = '$t'});
	push @leaked, "$t: runs $runs, executed $done"
	  if $runs ne 'success,cancelled,cancelled,cancelled,cancelled,cancelled' || $done ne '1';
}
is(join('; ', @leaked), '', "the queued runs end cancelled, none executed ($tries deletes)");
is($node->safe_psql('postgres', q{SELECT count(*) FROM sg_threads() WHERE thread_id LIKE 'q%'}), '0',
	'the threads are deleted');

$node->stop;
done_testing();
