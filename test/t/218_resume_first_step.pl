# A background run without input (a resume, here) takes a node step first,
# which may last minutes. Its claim committed with that step, so the run
# read 'pending' while its node ran, and sg_cancel (or a multitask submit)
# waited on its row until the step ended. Its claim now commits first: the
# run reads 'running', sg_cancel returns at once, and a worker killed in
# that first step leaves the run to be recovered with its resume value,
# applied once. A run claimed again after its external tasks were done
# commits its claim with the end of their step, before its next node step
# runs: it read running there already, and still does.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('resume_first', qq{
stategraph.max_workers = 1
restart_after_crash = on
});
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE hold ();
    CREATE TABLE effects (answer jsonb);
    CREATE FUNCTION ask(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    DECLARE
        v jsonb := sg_interrupt('"proceed?"');
    BEGIN
        INSERT INTO effects VALUES (v);
        WHILE EXISTS (SELECT FROM hold) LOOP
            PERFORM pg_sleep(0.05);
        END LOOP;
        RETURN jsonb_build_object('answer', v);
    END $$;
    SELECT sg_create_graph('ask', '{"answer": "replace"}');
    SELECT sg_add_node('ask', 'ask', 'ask(jsonb)');
    SELECT sg_add_edge('ask', '__start__', 'ask');
    SELECT sg_add_edge('ask', 'ask', '__end__');
    SELECT sg_compile('ask');
    SELECT sg_invoke('ask', '{"answer": null}', thread_id => 't');
});
is($node->safe_psql('postgres', q{SELECT next FROM sg_get_state('t')}), '{ask}', 'the thread waits for an answer');

# a worker sleeps in the node (other than $not_pid: right after a kill -9
# the dead worker's entry can still be in pg_stat_activity until the
# postmaster has noticed and restarted the server)
sub node_holds
{
	my ($not_pid) = @_;
	$not_pid //= 0;
	return $node->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND wait_event = 'PgSleep'
		   AND pid <> $not_pid});
}

$node->safe_psql('postgres', q{INSERT INTO hold DEFAULT VALUES});
my $rid = $node->safe_psql('postgres', q{SELECT sg_submit('ask', NULL, 't', resume => '"yes"')});
ok(node_holds(), 'the resumed node runs');
is($node->safe_psql('postgres', qq{SELECT status FROM sg_runs('t') WHERE run_id = '$rid'}), 'running',
	'the run reads running during its first step');

# its worker dies in that step: the run is recovered, its node runs again
# with the answer. (Its claim committed asynchronously, as a worker's
# steps do, stategraph.worker_sync_steps: a CHECKPOINT first makes it
# durable, or a kill within the WAL writer's delay lost it, and the run
# was claimed again as the pending one it then was, no recovery counted.)
$node->safe_psql('postgres', 'CHECKPOINT');
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'stategraph worker'});
kill 'KILL', $pid;
ok(back_after_kill($node, $pid), 'the server is back after the worker died');
ok(node_holds($pid), 'the recovered run runs its node again (in another worker)');
is($node->safe_psql('postgres', qq{SELECT concat_ws(' ', status, recoveries) FROM stategraph.runs WHERE run_id = '$rid'}),
	'running 1', 'running again, one recovery counted');

# sg_cancel does not wait for the step (it waited on the run's row)
is($node->safe_psql('postgres', qq{SET lock_timeout = '2s'; SELECT sg_cancel('$rid')}), 't',
	'sg_cancel returns at once during the first step');
$node->safe_psql('postgres', q{DELETE FROM hold});
is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$rid', '60 s')}), 'cancelled',
	'the run stops at the end of the step');
is($node->safe_psql('postgres', q{SELECT concat_ws(' ', "values"->>'answer', array_length(next, 1)) FROM sg_get_state('t')}),
	'yes', 'the step is kept, with the resume value (an interrupt keeps what was checkpointed)');
is($node->safe_psql('postgres', q{SELECT string_agg(answer::text, ',') FROM effects}), '"yes"',
	"the node's effect is stored once (the killed step's was rolled back)");

# a run that goes on after its external task: the same during that step
$node->safe_psql('postgres', q{
    CREATE FUNCTION held(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        WHILE EXISTS (SELECT FROM hold) LOOP
            PERFORM pg_sleep(0.05);
        END LOOP;
        RETURN '{"done": true}';
    END $$;
    SELECT sg_create_graph('ext', '{"x": "replace", "done": "replace"}');
    SELECT sg_add_external_node('ext', 'call', 'q');
    SELECT sg_add_node('ext', 'held', 'held(jsonb)');
    SELECT sg_add_edge('ext', '__start__', 'call');
    SELECT sg_add_edge('ext', 'call', 'held');
    SELECT sg_add_edge('ext', 'held', '__end__');
    SELECT sg_compile('ext');
});
my $ext = $node->safe_psql('postgres', q{SELECT sg_submit('ext', '{"x": 1}', 'e')});
# (not sg_wait: it returns when a run leaves waiting, a minute later here)
ok($node->poll_query_until('postgres', qq{SELECT status FROM sg_runs('e') WHERE run_id = '$ext'}, 'waiting'),
	'the run waits for its task');
$node->safe_psql('postgres', q{INSERT INTO hold DEFAULT VALUES});
$node->safe_psql('postgres', q{SELECT sg_complete(task_id, token, '{"x": 2}') FROM sg_claim('q', 'w1')});
ok(node_holds(), 'the node after the task runs');
is($node->safe_psql('postgres', qq{SELECT status FROM sg_runs('e') WHERE run_id = '$ext'}), 'running',
	'the run reads running during that step');
is($node->safe_psql('postgres', qq{SET lock_timeout = '2s'; SELECT sg_cancel('$ext')}), 't',
	'sg_cancel returns at once during that step');
$node->safe_psql('postgres', q{DELETE FROM hold});
is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$ext', '60 s')}), 'cancelled',
	'the run stops at the end of the step');
is($node->safe_psql('postgres', q{SELECT "values"->>'done' FROM sg_get_state('e')}), 'true', 'the step is kept');

$node->stop;
done_testing();
