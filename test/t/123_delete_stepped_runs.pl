# sg_delete_thread cancels the thread's runs that have taken steps but are
# not executing: one pending again after a failure (here a step cancelled
# by statement_timeout, retried after a backoff) and one left running by
# an executor that died (recovered by the next claim). Both went on: the
# next claim found the thread gone and the run ended with an error
# instead of cancelled. A run executing at the delete is not touched: the
# delete waits for it, and it ends as it would. CALL sg_work executes the
# runs, while the one background worker is kept busy by another run, so
# that nothing claims them in between.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use SGNode;

my $node = preloaded_node('delete_stepped', qq{
stategraph.max_workers = 1
});
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE effects (thread text, step text);
    -- a sequence is not rolled back with the step, nor with a backend that dies: it counts the tries
    CREATE SEQUENCE tries;
    CREATE FUNCTION ok_step(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO effects VALUES (config->>'thread_id', 'first');
        RETURN jsonb_build_object('n', (state->>'n')::int + 1);
    END $$;
    -- state.how: 'block' (the worker's run: 300 s), 'nap' (1.5 s), or on the
    -- first try only 'sleep' (cancelled by statement_timeout), 'die'
    CREATE FUNCTION once(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO effects VALUES (config->>'thread_id', 'second');
        IF state->>'how' = 'block' THEN
            PERFORM pg_sleep(300);
        ELSIF state->>'how' = 'nap' THEN
            PERFORM pg_sleep(1.5);
        ELSIF nextval('tries') = 1 THEN
            IF state->>'how' = 'sleep' THEN
                PERFORM pg_sleep(60);
            ELSE
                PERFORM pg_terminate_backend(pg_backend_pid());
            END IF;
        END IF;
        RETURN jsonb_build_object('n', (state->>'n')::int + 1);
    END $$;
    SELECT sg_create_graph('g', '{"n": "replace", "how": "replace"}');
    SELECT sg_add_node('g', 'first', 'ok_step(jsonb,jsonb)');
    SELECT sg_add_node('g', 'second', 'once(jsonb,jsonb)');
    SELECT sg_add_edge('g', f, t) FROM (VALUES ('__start__', 'first'), ('first', 'second'),
                                            ('second', '__end__')) e(f, t);
    SELECT sg_compile('g');
});

# the background worker executes a run of another thread meanwhile
$node->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 0, "how": "block"}', 'blocker')});
ok($node->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND wait_event = 'PgSleep'}),
	'the worker is busy');

# ---- after a failure: pending again, its retry after a backoff
my $failed = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 0, "how": "sleep"}', 'failed')});
my ($ret, $out, $err) = $node->psql('postgres', q{SET statement_timeout = '1s'; CALL sg_work(1)});
like($err, qr/canceling statement due to statement timeout/, 'the second step is cancelled');
is($node->safe_psql('postgres', "SELECT status, stepped, failures FROM stategraph.runs WHERE run_id = '$failed'"),
	'pending|t|1', 'the run is pending again, its failure counted');
$node->safe_psql('postgres', q{SELECT sg_delete_thread('failed')});
is($node->safe_psql('postgres', "SELECT status, error->>'message' FROM sg_wait('$failed', interval '1 s')"),
	'cancelled|thread "failed" was deleted', 'the delete cancels it');
# (a run left pending would be the next CALL sg_work's: ended here, so that the next case stands alone)
$node->safe_psql('postgres', "UPDATE stategraph.runs SET status = 'error' WHERE run_id = '$failed' AND status <> 'cancelled'");

# ---- after its executor died: left running
$node->safe_psql('postgres', q{ALTER SEQUENCE tries RESTART});
my $died = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 0, "how": "die"}', 'died')});
($ret, $out, $err) = $node->psql('postgres', q{CALL sg_work(1)});
isnt($ret, 0, 'the session executing the run dies in its second step');
is($node->safe_psql('postgres', "SELECT status, stepped FROM stategraph.runs WHERE run_id = '$died'"),
	'running|t', 'the run is left running');
$node->safe_psql('postgres', q{SELECT sg_delete_thread('died')});
is($node->safe_psql('postgres', "SELECT status, error->>'message' FROM sg_wait('$died', interval '1 s')"),
	'cancelled|thread "died" was deleted', 'the delete cancels it');
$node->safe_psql('postgres', "UPDATE stategraph.runs SET status = 'error' WHERE run_id = '$died' AND status <> 'cancelled'");

# past the failed run's backoff: nothing is claimed, nothing runs again
usleep(1_500_000);
$node->safe_psql('postgres', q{CALL sg_work()});
is($node->safe_psql('postgres', q{SELECT count(*) FROM sg_threads() WHERE thread_id IN ('failed', 'died')}),
	'0', 'the deleted threads stay deleted');
is($node->safe_psql('postgres', q{SELECT string_agg(thread || ':' || step, ',' ORDER BY thread, step) FROM effects
		WHERE thread IN ('failed', 'died')}),
	'died:first,failed:first', 'no step ran after the delete (the second steps were rolled back)');
is($node->safe_psql('postgres', q{SELECT last_value FROM tries}), '1', 'the second step was not tried again');
is($node->safe_psql('postgres', qq{SELECT string_agg(status || '/' || recoveries, ',' ORDER BY run_id = '$died')
		FROM stategraph.runs WHERE run_id IN ('$failed', '$died')}),
	'cancelled/0,cancelled/0', 'no claim took them again');

# ---- executing at the delete: the delete waits for it, and it ends as it would
my $busy = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 0, "how": "nap"}', 'busy')});
my $bg = $node->background_psql('postgres');
$bg->query_until(qr/started/, q{\echo started
CALL sg_work(1);
});
ok($node->poll_query_until('postgres', "SELECT status = 'running' FROM stategraph.runs WHERE run_id = '$busy'"),
	'the run executes');
$node->safe_psql('postgres', q{SELECT sg_delete_thread('busy')});
is($node->safe_psql('postgres', "SELECT status, error FROM stategraph.runs WHERE run_id = '$busy'"),
	'success|', 'a run executing when the delete came ends as it would');
is($node->safe_psql('postgres', q{SELECT count(*) FROM sg_threads() WHERE thread_id = 'busy'}),
	'0', 'and the delete, which waited for it, removed the thread');
$bg->quit;

$node->stop;
done_testing();
