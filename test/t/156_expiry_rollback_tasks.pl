# The expiry of finished tasks (stategraph.run_retention) and a rollback
# (helper-121's attack). A thread waited on two external tasks; one
# completed, then a new input's run went on from there (the other task
# cancelled). The expiry removed the old step's task rows while that run
# was active, and its rollback went back to a step with no task out and
# no completed result: the thread read 'waiting' for good, nothing to
# claim, and the paid call's result was gone. Tasks of the head an active
# run's rollback goes back to are kept now, as those of the head are.
# No preload: CALL sg_work does the runs, the expiry and the rollback.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('expiry_rollback_tasks');
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION post(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"log": ["post"]}'::jsonb $$;
    SELECT sg_create_graph('ex2', '{"log": "append", "x": "replace"}');
    SELECT sg_add_external_node('ex2', 'l1', 'q2');
    SELECT sg_add_external_node('ex2', 'l2', 'q2');
    SELECT sg_add_node('ex2', 'post', 'post(jsonb)');
    SELECT sg_add_edge('ex2', '__start__', 'l1');
    SELECT sg_add_edge('ex2', '__start__', 'l2');
    SELECT sg_add_edge('ex2', 'l1', 'post');
    SELECT sg_add_edge('ex2', 'l2', 'post');
    SELECT sg_add_edge('ex2', 'post', '__end__');
    SELECT sg_compile('ex2');
    SELECT sg_invoke('ex2', '{}', 't2') IS NOT NULL;
    SELECT count(sg_complete(task_id, token, '{"log": ["L1"]}')) FROM sg_claim('q2', 'w', 10) WHERE node = 'l1';
});
my $r1 = $node->safe_psql('postgres', q{SELECT sg_submit('ex2', '{"x": 1}', 't2')});
$node->safe_psql('postgres', q{CALL sg_work()});
is($node->safe_psql('postgres', qq{SELECT status FROM sg_runs('t2') WHERE run_id = '$r1'}), 'waiting',
	'the new input\'s run waits on its own tasks');
sleep(1);
# every finished task is past a retention of 0: the old step's are what the rollback goes back to
$node->safe_psql('postgres', q{SET stategraph.run_retention = 0; CALL sg_work()});
$node->safe_psql('postgres', qq{SELECT sg_cancel('$r1', 'rollback')});
$node->safe_psql('postgres', q{CALL sg_work()});
is($node->safe_psql('postgres', qq{SELECT status FROM sg_runs('t2') WHERE run_id = '$r1'}), 'cancelled',
	'the run is rolled back');
is($node->safe_psql('postgres', q{SELECT status || ' ' || next::text FROM sg_threads() WHERE thread_id = 't2'}),
	'waiting {l1,l2}', 'the thread waits on its first step again');
is($node->safe_psql('postgres', q{SELECT string_agg(node || ':' || status, ',' ORDER BY node) FROM stategraph.tasks
    WHERE thread_id = 't2' AND checkpoint_id = (SELECT head FROM stategraph.threads WHERE thread_id = 't2')}),
	'l1:completed,l2:queued', 'l1\'s result is kept and l2 is out to claim again');
$node->safe_psql('postgres', q{
    SELECT count(sg_complete(task_id, token, '{"log": ["L2"]}')) FROM sg_claim('q2', 'w', 10) WHERE node = 'l2';
    CALL sg_work();
});
is($node->safe_psql('postgres', q{SELECT "values"->'log' FROM sg_get_state('t2')}), '["L1", "L2", "post"]',
	'the step goes on with both results, l1 not called again');

$node->stop;
done_testing();
