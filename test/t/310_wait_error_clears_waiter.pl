# sg_wait that fails (25001, 55000, a run that does not exist, 40P01...)
# after it has put its backend among the run's waiters must take it out
# again, also when the transaction goes on: a node that catches the error
# (PL/pgSQL EXCEPTION, as 300_wait_cycle's doc allows) runs in a
# subtransaction, and its run commits. sg_wait cleared its waiter only on
# its way out or at a top-level abort, so a worker whose node caught such an
# error kept "waits for run X" in its slot for the rest of its run (and
# after), and sg_wait_cycle of another worker took that stale wait for a
# real one: here run m waits for run p, which naps (no wait at all), and
# got 40P01 "would wait for ever" through p's stale wait for x, whose node
# waits for m. All three must succeed.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('wait_error_clears_waiter', "stategraph.max_workers = 3\n");
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE caught (sqlstate text);
    CREATE SEQUENCE caught_seq;
    -- waits (up to 30 s) for the running run of thread state.other, once there is one (up to 30 s)
    CREATE FUNCTION xwait(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    DECLARE r uuid;
    BEGIN
        FOR i IN 1..600 LOOP
            SELECT run_id INTO r FROM sg_runs(state->>'other') WHERE status = 'running';
            EXIT WHEN r IS NOT NULL;
            PERFORM pg_sleep(0.05);
        END LOOP;
        PERFORM sg_wait(r, '30 s');
        RETURN '{}';
    END $$;
    -- locks the row of the running run of thread state.other, calls sg_wait
    -- for it and catches its 25001; then, without waiting for any run, naps
    -- until a run of thread state.then runs (up to 30 s), and 3 s more
    CREATE FUNCTION xcatch(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    DECLARE r uuid;
    BEGIN
        SELECT run_id INTO r FROM sg_runs(state->>'other') WHERE status = 'running';
        PERFORM 1 FROM stategraph.runs WHERE run_id = r FOR SHARE;
        BEGIN
            PERFORM sg_wait(r);
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO caught VALUES (SQLSTATE);
        END;
        PERFORM nextval('caught_seq');
        FOR i IN 1..600 LOOP
            EXIT WHEN EXISTS (SELECT FROM sg_runs(state->>'then') WHERE status = 'running');
            PERFORM pg_sleep(0.05);
        END LOOP;
        PERFORM pg_sleep(3);
        RETURN '{}';
    END $$;}
	. one_step_graph_sql('xw', '{"other": "replace"}', 'a', 'xwait(jsonb)')
	. one_step_graph_sql('xc', '{"other": "replace", "then": "replace"}', 'a', 'xcatch(jsonb)'));

sub sql { return $node->safe_psql('postgres', $_[0]); }

# x waits for m (once m runs); p catches sg_wait's error for x, then naps;
# m, submitted last (the greatest id), waits for p
sql(q{SELECT sg_submit('xw', '{"other": "m"}', 'x')});
ok(true_within($node, 10, q{SELECT count(*) = 1 FROM sg_runs('x') WHERE status = 'running'}), 'x runs');
sql(q{SELECT sg_submit('xc', '{"other": "x", "then": "m"}', 'p')});
ok(true_within($node, 10, q{SELECT is_called FROM caught_seq}), "p's node caught sg_wait's error and naps");
sql(q{SELECT sg_submit('xw', '{"other": "p"}', 'm')});
ok(true_within($node, 60, q{SELECT bool_and(status IN ('success', 'error')) AND count(*) = 3 FROM sg_runs() WHERE thread_id IN ('x', 'p', 'm')}),
	'the three runs end');
is(sql(q{SELECT sqlstate FROM caught}), '25001', "p's sg_wait was refused (its transaction locked x's row)");
is(sql(q{SELECT string_agg(thread_id || ' ' || status || ' ' || coalesce(error->>'sqlstate', '-'), ',' ORDER BY thread_id)
         FROM sg_runs() WHERE thread_id IN ('x', 'p', 'm')}),
	'm success -,p success -,x success -',
	'no cycle: m waited for p to end, x for m (no 40P01 from the stale wait of p)');

$node->stop;
done_testing();
