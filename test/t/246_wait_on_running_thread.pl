# A node that calls sg_wait on its own run, or on a run queued behind it on
# its thread, waits for something that cannot happen before it returns:
# without a timeout the run stayed 'running' for good, holding its worker
# (and the database's only worker with it). sg_wait refuses at once
# (55000); timeout => '0 s' still reads the row. Also in CALL sg_work.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('wait_on_running_thread', q{
stategraph.max_workers = 1
});

my $plain = plain_node('wait_on_running_thread_work');
my $setup = q{
    CREATE EXTENSION stategraph;
    CREATE TABLE seen (thread text, status text);
    -- waits (no timeout) for the run of its thread that state.whose names
    CREATE FUNCTION waiter(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    DECLARE r uuid; s text;
    BEGIN
        SELECT run_id INTO r FROM sg_runs(config->>'thread_id')
         WHERE status = CASE state->>'whose' WHEN 'own' THEN 'running' ELSE 'pending' END;
        IF state->>'peek' = 'yes' THEN
            SELECT status INTO s FROM sg_wait(r, timeout => '0 s');
            INSERT INTO seen VALUES (config->>'thread_id', s);
        ELSIF r IS NOT NULL THEN
            PERFORM sg_wait(r);
        END IF;
        RETURN '{}';
    END $$;
    SELECT sg_create_graph('g', '{"whose": "replace", "peek": "replace"}');
    SELECT sg_add_node('g', 'w', 'waiter(jsonb,jsonb)');
    SELECT sg_add_edge('g', '__start__', 'w');
    SELECT sg_add_edge('g', 'w', '__end__');
    SELECT sg_compile('g');
};
$_->safe_psql('postgres', $setup) foreach ($node, $plain);

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{SELECT sg_submit('g', '{"whose": "own"}', 'own')});
ok(true_within($node, 10, q{SELECT status = 'error' FROM sg_runs('own')}), 'waiting for its own run: the run ends');
is(sql(q{SELECT error->>'sqlstate' || ' ' || (error->>'message') FROM sg_runs('own')}),
	'55000 sg_wait cannot wait for a run of thread "own", which this session is running', 'with 55000');

# a run queued behind the waiting one (in the same transaction: the first cannot start before)
sql(q{BEGIN; SELECT sg_submit('g', '{"whose": "next"}', 'next');
      SELECT sg_submit('g', '{"whose": "none"}', 'next', multitask => 'enqueue'); COMMIT;});
ok(true_within($node, 10, q{SELECT count(*) = 2 FROM sg_runs('next') WHERE status IN ('error', 'success')}),
	'waiting for the run queued behind it: both runs end');
is(sql(q{SELECT string_agg(status || ' ' || coalesce(error->>'sqlstate', ''), ',' ORDER BY created_at) FROM sg_runs('next')}),
	'error 55000,success ', 'the waiter failed with 55000, the queued run went on');

sql(q{SELECT sg_submit('g', '{"whose": "own", "peek": "yes"}', 'peek')});
ok(true_within($node, 10, q{SELECT status = 'success' FROM sg_runs('peek')}), "timeout => '0 s' reads the row");
is(sql(q{SELECT status FROM seen WHERE thread = 'peek'}), 'running', 'its own run, running');

# CALL sg_work in a session (no preload): refused too
$plain->safe_psql('postgres', q{SELECT sg_submit('g', '{"whose": "own"}', 'work')});
$plain->psql('postgres', q{SET statement_timeout = '20s'; CALL sg_work()});
is($plain->safe_psql('postgres', q{SELECT status || ' ' || (error->>'sqlstate') FROM sg_runs('work')}),
	'error 55000', 'CALL sg_work: the run ends with 55000');
$plain->stop;
$node->stop;
done_testing();
