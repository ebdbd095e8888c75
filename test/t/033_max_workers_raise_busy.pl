# stategraph.max_workers raised by a reload while the only worker executes a
# long run and another run waits behind it (its submit asked for no worker:
# none was free): the raise starts a worker for it, instead of leaving it
# queued until the long run ends.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('max_workers_raise_busy', q{
stategraph.max_workers = 1
});

$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE gate (open bool);
    CREATE TABLE effects (thread text);
    -- the long run's node waits until the test opens the gate (each look a new snapshot)
    CREATE FUNCTION work(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        WHILE state->>'hold' = 'yes' AND NOT EXISTS (SELECT FROM gate) LOOP
            PERFORM pg_sleep(0.05);
        END LOOP;
        INSERT INTO effects VALUES (config->>'thread_id');
        RETURN '{}';
    END $$;
    SELECT sg_create_graph('g', '{"hold": "replace"}');
    SELECT sg_add_node('g', 'work', 'work(jsonb,jsonb)');
    SELECT sg_add_edge('g', '__start__', 'work');
    SELECT sg_add_edge('g', 'work', '__end__');
    SELECT sg_compile('g');
});

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{SELECT sg_submit('g', '{"hold": "yes"}', 'long')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %'}),
	'the long run executes');
sql(q{SELECT sg_submit('g', '{"hold": "no"}', 'short')});
sql(q{ALTER SYSTEM SET stategraph.max_workers = 2});
sql(q{SELECT pg_reload_conf()});
# the long run holds the only worker until the gate opens: only a new worker can run the short one
ok($node->poll_query_until('postgres', q{SELECT status = 'success' FROM sg_runs() WHERE thread_id = 'short'}),
	'the waiting run executed in a worker started by the raise');
is(sql(q{SELECT count(*) FROM gate}), '0', 'while the long run still held its worker');
sql(q{INSERT INTO gate VALUES (true)});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 2 FROM sg_runs() WHERE status = 'success'}), 'both runs succeeded');
is(sql(q{SELECT string_agg(thread, ',' ORDER BY thread) FROM effects}), 'long,short', 'each node ran once');

$node->stop;
done_testing();
