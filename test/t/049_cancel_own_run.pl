# A node that cancels the run it is a step of (sg_cancel of its own run
# id): the run stops at that step's boundary, as a cancel committed by
# another session before the boundary. The stop generation (worker.c) is
# bumped only when the asking transaction commits, and the executor read
# it before that commit, unchanged, so it skipped reading the stop request
# its own step had written: the run took one step more.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('cancel_own_run', "stategraph.max_workers = 1\n");
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE effects (run text, i int);
    CREATE FUNCTION work(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO effects VALUES (config->>'thread_id', (state->>'i')::int);
        IF (state->>'i')::int = (state->>'stop_at')::int THEN
            PERFORM sg_cancel(r.run_id) FROM sg_runs(config->>'thread_id') r WHERE r.status = 'running';
        END IF;
        RETURN jsonb_build_object('i', (state->>'i')::int + 1);
    END $$;
    CREATE FUNCTION more(state jsonb) RETURNS text LANGUAGE sql
        AS $$ SELECT CASE WHEN (state->>'i')::int < 10 THEN 'work' ELSE '__end__' END $$;
    SELECT sg_create_graph('loop', '{"i": "replace", "stop_at": "replace"}');
    SELECT sg_add_node('loop', 'work', 'work(jsonb,jsonb)');
    SELECT sg_add_edge('loop', '__start__', 'work');
    SELECT sg_add_conditional_edges('loop', 'work', 'more(jsonb)', '["work", "__end__"]');
    SELECT sg_compile('loop');
});

my $run = $node->safe_psql('postgres', q{SELECT sg_submit('loop', '{"i": 0, "stop_at": 3}', thread_id => 'own')});
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$run', interval '30 s')"), 'cancelled',
	'the run that cancelled itself ends cancelled');
is($node->safe_psql('postgres', q{SELECT string_agg(i::text, ',' ORDER BY i) FROM effects WHERE run = 'own'}),
	'0,1,2,3', 'it stops at the boundary of the step that cancelled it');

done_testing();
