# Every slot in use (stategraph.max_workers = 2: one worker in database
# other, the only worker of postgres executing a long run) when a run is
# submitted in postgres: the submit asks for no worker (none is free), and
# the busy worker will look after its run. A slot then frees (database
# other dropped, its worker gone): the waiting run starts in a worker of
# that slot at once, instead of waiting for the long run's end with a
# slot unused.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('freed_slot_busy_database', q{
stategraph.max_workers = 2
});

my $setup = q{
    CREATE EXTENSION stategraph;
    CREATE TABLE gate (open bool);
    CREATE TABLE effects (thread text);
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
};
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql($_, $setup) foreach ('postgres', 'other');

sub sql { return $node->safe_psql('postgres', $_[0]); }

ok($node->poll_query_until('postgres', q{SELECT count(DISTINCT datname) = 2 FROM pg_stat_activity
    WHERE backend_type = 'stategraph worker'}), 'a worker in each database: both slots in use');
sql(q{SELECT sg_submit('g', '{"hold": "yes"}', 'long')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %'}),
	'the long run executes');
sql(q{SELECT sg_submit('g', '{"hold": "no"}', 'short')});
is(sql(q{SELECT status FROM sg_wait((SELECT run_id FROM sg_runs('short')), timeout => '1 s')}), 'pending',
	'no slot free: the short run waits');
sql(q{DROP DATABASE other});
ok(true_within($node, 10, q{SELECT status = 'success' FROM sg_runs('short')}),
	'the freed slot executed the waiting run');
is(sql(q{SELECT count(*) FROM gate}), '0', 'while the long run still held its worker');
sql(q{INSERT INTO gate VALUES (true)});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 2 FROM sg_runs() WHERE status = 'success'}), 'both runs succeeded');
is(sql(q{SELECT string_agg(thread, ',' ORDER BY thread) FROM effects}), 'long,short', 'each node ran once');

$node->stop;
done_testing();
