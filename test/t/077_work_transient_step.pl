# CALL sg_work whose step fails with a transient error (its caller's
# statement_timeout, a cancel, a deadlock): the error reaches the caller
# and the step is rolled back. The run stayed 'running', so the claim that
# took it again counted a recovery, which is for a run whose executor died:
# with stategraph.max_run_recoveries = 0 the next CALL sg_work ended it
# with SG014 ("its worker ended 1 times"). Now it is recorded as a worker's
# transient failure (TAP 073): the run is pending, tried again after a
# backoff of 1 s, its failure counted.
# No preload: only CALL sg_work executes runs here.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('work_transient', qq{stategraph.max_run_recoveries = 0\n});
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE effects (step int);
    -- a sequence is not rolled back with the step: it counts the tries
    CREATE SEQUENCE tries;
    CREATE FUNCTION ok_step(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO effects VALUES ((state->>'n')::int + 1);
        RETURN jsonb_build_object('n', (state->>'n')::int + 1);
    END $$;
    -- its first try outlasts the caller's statement_timeout
    CREATE FUNCTION slow_once(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO effects VALUES ((state->>'n')::int + 1);
        IF nextval('tries') = 1 THEN
            PERFORM pg_sleep(60);
        END IF;
        RETURN jsonb_build_object('n', (state->>'n')::int + 1);
    END $$;
    SELECT sg_create_graph('g', '{"n": "replace"}');
    SELECT sg_add_node('g', 'first', 'ok_step(jsonb)');
    SELECT sg_add_node('g', 'second', 'slow_once(jsonb)');
    SELECT sg_add_node('g', 'third', 'ok_step(jsonb)');
    SELECT sg_add_edge('g', f, t) FROM (VALUES ('__start__', 'first'), ('first', 'second'),
                                            ('second', 'third'), ('third', '__end__')) e(f, t);
    SELECT sg_compile('g');
});

my $rid = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 0}', 't')});
my ($ret, $out, $err) = $node->psql('postgres', q{SET statement_timeout = '2s'; CALL sg_work()});
like($err, qr/canceling statement due to statement timeout/, "the timeout reaches sg_work's caller");
is($node->safe_psql('postgres', qq{SELECT status || ' ' || failures || ' ' || recoveries || ' ' || stepped FROM stategraph.runs WHERE run_id = '$rid'}),
	'pending 1 0 true', 'the run is pending, its failure counted');
cmp_ok($node->safe_psql('postgres', qq{SELECT extract(epoch FROM not_before - now()) FROM stategraph.runs WHERE run_id = '$rid'}),
	'>', 0, 'it is tried again after a backoff');
ok($node->poll_query_until('postgres', qq{SELECT not_before <= clock_timestamp() FROM stategraph.runs WHERE run_id = '$rid'}),
	'the backoff passes');
$node->safe_psql('postgres', q{CALL sg_work()});
is($node->safe_psql('postgres', qq{SELECT status || ' ' || failures || ' ' || recoveries || ' ' || attempt FROM stategraph.runs WHERE run_id = '$rid'}),
	'success 1 0 2', 'the next CALL sg_work takes it again and it succeeds (no recovery counted)');
is($node->safe_psql('postgres', q{SELECT "values"->>'n' FROM sg_get_state('t')}), '3',
	'the thread went on from its last committed step');
is($node->safe_psql('postgres', q{SELECT string_agg(step::text, ',' ORDER BY step) FROM effects}),
	'1,2,3', "each node's effects happened once (the timed-out try's rolled back)");
like(slurp_file($node->logfile), qr/background run $rid failed: canceling statement due to statement timeout/,
	'the log says why the run is tried again');

$node->stop;
done_testing();
