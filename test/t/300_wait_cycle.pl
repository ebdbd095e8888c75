# Nodes of background runs that wait (sg_wait) for each other's runs: run A
# waits for B while B waits for A (or A -> B -> C -> A). None can end
# before the others, and without a timeout they held their workers and
# threads for good (only a superuser's pg_cancel_backend ended it). The
# worker whose run has the greatest id in the cycle now gets 40P01 in its
# sg_wait (the run ends with that error unless the node catches it), and
# the others go on; also when a run of the cycle is queued behind one
# (waiting for a run that cannot start before the waiter's own ends). A
# wait that is no cycle (A waits for B, which waits for nothing) waits as
# before.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('wait_cycle', q{
stategraph.max_workers = 4
});
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    -- waits for the running (or state.whose) run of thread state.other (once there is one), up to 30 s;
    -- without state.other, sleeps a second
    CREATE FUNCTION xwait(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    DECLARE r uuid;
    BEGIN
        IF state->>'other' IS NULL THEN
            PERFORM pg_sleep(1);
            RETURN '{}';
        END IF;
        FOR i IN 1..100 LOOP
            SELECT run_id INTO r FROM sg_runs(state->>'other') WHERE status = coalesce(state->>'whose', 'running');
            EXIT WHEN r IS NOT NULL;
            PERFORM pg_sleep(0.05);
        END LOOP;
        PERFORM sg_wait(r, '30 s');
        RETURN '{}';
    END $$;}
	. one_step_graph_sql('xw', '{"other": "replace", "whose": "replace"}', 'a', 'xwait(jsonb)'));

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub outcomes
{
	my ($like) = @_;
	return sql(qq{SELECT string_agg(status || ' ' || coalesce(error->>'sqlstate', '-'), ',' ORDER BY status)
	              FROM sg_runs() WHERE thread_id LIKE '$like'});
}

# two runs waiting for each other
sql(q{SELECT sg_submit('xw', '{"other": "a2"}', 'a1'), sg_submit('xw', '{"other": "a1"}', 'a2')});
ok(true_within($node, 10, q{SELECT bool_and(status IN ('success', 'error')) FROM sg_runs() WHERE thread_id LIKE 'a_'}),
	'two runs waiting for each other: both end within seconds');
is(outcomes('a_'), 'error 40P01,success -', 'one with 40P01, the other goes on');
is(sql(q{SELECT thread_id FROM sg_runs() WHERE thread_id LIKE 'a_' AND status = 'error'}),
	sql(q{SELECT thread_id FROM sg_runs() WHERE thread_id LIKE 'a_' ORDER BY run_id DESC LIMIT 1}),
	'the one told is the run with the greater id');
like(sql(q{SELECT error->>'message' || ' / ' || (error->>'detail') FROM sg_runs() WHERE thread_id LIKE 'a_' AND status = 'error'}),
	qr/^sg_wait of run \S+ would wait for ever \/ The runs wait for each other in sg_wait: \S+ -> \S+ -> \S+\.$/,
	'its message and the cycle');

# three: b1 -> b2 -> b3 -> b1
sql(q{SELECT sg_submit('xw', '{"other": "b2"}', 'b1'), sg_submit('xw', '{"other": "b3"}', 'b2'),
             sg_submit('xw', '{"other": "b1"}', 'b3')});
ok(true_within($node, 10, q{SELECT bool_and(status IN ('success', 'error')) FROM sg_runs() WHERE thread_id LIKE 'b_'}),
	'a cycle of three: all end within seconds');
is(outcomes('b_'), 'error 40P01,success -,success -', 'one with 40P01, two go on');

# through a thread's queue: p (on d1) waits for q2, queued on d2 behind q1, which waits for p
sql(q{SELECT sg_submit('xw', '{"other": "d1"}', 'd2')});
sql(q{SELECT sg_submit('xw', '{"other": null}', 'd2', multitask => 'enqueue')});
sql(q{SELECT sg_submit('xw', '{"other": "d2", "whose": "pending"}', 'd1')});
ok(true_within($node, 10, q{SELECT bool_and(status IN ('success', 'error')) FROM sg_runs() WHERE thread_id LIKE 'd_'}),
	'a cycle through a queued run: all end within seconds');
is(outcomes('d1'), 'error 40P01', 'the run waiting for the queued one is told (the greatest id of those executed)');
is(outcomes('d2'), 'success -,success -', 'the runs of the other thread go on');
like(sql(q{SELECT error->>'detail' FROM sg_runs('d1')}), qr/ \(behind \S+\) -> /, 'the cycle names the run the queued one is behind');

# no cycle: c1 waits for c2, which sleeps
sql(q{SELECT sg_submit('xw', '{"other": "c2"}', 'c1'), sg_submit('xw', '{}', 'c2')});
ok(true_within($node, 10, q{SELECT bool_and(status IN ('success', 'error')) FROM sg_runs() WHERE thread_id LIKE 'c_'}),
	'a wait that is no cycle ends');
is(outcomes('c_'), 'success -,success -', 'both succeed');

$node->stop;
done_testing();
