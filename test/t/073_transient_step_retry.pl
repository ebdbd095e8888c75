# A background run whose step fails with a transient error (a cancel, a
# serialization failure or a deadlock outside its nodes...) is rolled back
# and taken again after a backoff, its failure counted. It stayed 'running'
# until then, so the claim that took it again counted a recovery, which is
# for a run whose worker died: with stategraph.max_run_recoveries = 0 the
# retry ended it with SG014 ("its worker ended 1 times"), and any run so
# retried, or retried after a rename of its role (not counted as a
# failure), used up its recoveries. Now a run to be tried again is
# 'pending' until then (one that has taken steps is stopped by sg_cancel
# and interrupting submits as a running one).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('transient', q{
stategraph.max_workers = 1
stategraph.max_run_recoveries = 0
});
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE effects (thread text, step int);
    -- a sequence is not rolled back with the step: it counts the tries
    CREATE SEQUENCE tries;
    CREATE FUNCTION ok_step(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO effects VALUES (config->>'thread_id', (state->>'n')::int + 1);
        RETURN jsonb_build_object('n', (state->>'n')::int + 1);
    END $$;
    -- its first try waits for the cancel
    CREATE FUNCTION slow_once(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO effects VALUES (config->>'thread_id', (state->>'n')::int + 1);
        IF nextval('tries') = 1 THEN
            PERFORM pg_sleep(120);
        END IF;
        RETURN jsonb_build_object('n', (state->>'n')::int + 1);
    END $$;
    SELECT sg_create_graph('g', '{"n": "replace"}');
    SELECT sg_add_node('g', 'first', 'ok_step(jsonb,jsonb)');
    SELECT sg_add_node('g', 'second', 'slow_once(jsonb,jsonb)');
    SELECT sg_add_node('g', 'third', 'ok_step(jsonb,jsonb)');
    SELECT sg_add_edge('g', f, t) FROM (VALUES ('__start__', 'first'), ('first', 'second'),
                                            ('second', 'third'), ('third', '__end__')) e(f, t);
    SELECT sg_compile('g');
});

my $rid = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 0}', 't')});
ok($node->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND wait_event = 'PgSleep'}),
	'the second step waits');
is($node->safe_psql('postgres', q{
		SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND wait_event = 'PgSleep'}),
	't', 'its worker is cancelled');
# the second try comes after a backoff of 1 s
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$rid', '30 s')"), 'success',
	'the run is taken again, and succeeds');
is($node->safe_psql('postgres', "SELECT failures, attempt, recoveries FROM stategraph.runs WHERE run_id = '$rid'"),
	'1|2|0', 'its failure counted, as an attempt, and not as a recovery');
is($node->safe_psql('postgres', q{SELECT "values"->>'n' FROM sg_get_state('t')}), '3',
	'the thread went on from its last committed step');
is($node->safe_psql('postgres', q{SELECT string_agg(step::text, ',' ORDER BY step) FROM effects WHERE thread = 't'}),
	'1,2,3', "each node's effects happened once (the cancelled try's rolled back)");
is($node->safe_psql('postgres', q{SELECT last_value FROM tries}), '2', 'the second step was taken twice');
like(slurp_file($node->logfile), qr/background run $rid failed: canceling statement due to user request/,
	'the log says why the run was tried again');
unlike(slurp_file($node->logfile), qr/exited with exit code/, 'the worker never exited');

$node->stop('fast');
done_testing();
