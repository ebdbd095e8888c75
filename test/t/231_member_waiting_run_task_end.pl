# A background run of a member role (bob, IN ROLE alice) on its parent
# role's thread waits for its external task; the task belongs to the
# thread's owner (alice), who completes, fails, or moves the thread on.
# Row-level security hides bob's run from alice, so whatever alice's
# statement does to "the thread's waiting run" (tasks.c: STEP_STATE's look
# for a run, runs.c runs_step_ready, tasks.c end_waiting_run) misses it.
# The run must leave 'waiting' when its step is over, as it does when the
# owner's own run waited.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('member_waiting_run_task_end', <<'CONF');
stategraph.max_workers = 2
stategraph.sweep_interval = 3600
CONF
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE ROLE alice;
    CREATE ROLE bob IN ROLE alice;
    SET ROLE alice;
} . ext_graph_sql(q{'{"max_attempts": 1}'}));

# alice's threads t1, t2, t3 (each waits at 'ask' once, which alice answers)
for my $t (qw(t1 t2 t3 t4))
{
	$node->safe_psql('postgres', qq{SET ROLE alice; SELECT sg_invoke('ext', '{}', '$t')});
	$node->safe_psql('postgres', q{SET ROLE alice;
		SELECT sg_complete(task_id, token, '{"answer": 0}') FROM sg_claim('q', 'me')});
}
is($node->safe_psql('postgres', q{SELECT string_agg(thread_id || ':' || owner || ':' || status, ' ' ORDER BY thread_id) FROM stategraph.threads}),
	't1:alice:done t2:alice:done t3:alice:done t4:alice:done', "alice's four threads, done");

# bob submits a run on each: a worker executes it, and it waits for its task
my %bobs;
for my $t (qw(t1 t2 t3 t4))
{
	$bobs{$t} = $node->safe_psql('postgres', qq{SET ROLE bob; SELECT sg_submit('ext', '{}', '$t')});
}
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 4 FROM stategraph.runs WHERE owner = 'bob' AND status = 'waiting'}),
	"bob's four runs wait for their tasks");

# t1: alice (the tasks' owner) completes the task
$node->safe_psql('postgres', q{SET ROLE alice;
	SELECT sg_complete(task_id, token, '{"answer": 1}') FROM sg_claim('q', 'me') WHERE thread_id = 't1'});
ok($node->poll_query_until('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$bobs{t1}'}, 'success'),
	"t1: bob's run goes on and ends once alice completed its task")
  or diag($node->safe_psql('postgres', q{SELECT r.status || ' / thread ' || t.status FROM stategraph.runs r
	  JOIN stategraph.threads t USING (thread_id) WHERE r.owner = 'bob' AND r.thread_id = 't1'}));

# t2: alice's own run is queued behind bob's; alice completes bob's task
my $alices = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('ext', '{}', 't2', multitask => 'enqueue')});
$node->safe_psql('postgres', q{SET ROLE alice;
	SELECT sg_complete(task_id, token, '{"answer": 2}') FROM sg_claim('q', 'me') WHERE thread_id = 't2'});
ok($node->poll_query_until('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$bobs{t2}'}, 'success'),
	"t2: bob's run goes on and ends once alice completed its task")
  or diag($node->safe_psql('postgres', q{SELECT string_agg(owner || ':' || status, ' ' ORDER BY seq) FROM stategraph.runs WHERE thread_id = 't2'}));
ok($node->poll_query_until('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$alices'}, 'waiting'),
	"t2: alice's run queued behind it starts then (and waits for its own task)");

# t3: alice moves her thread on (sg_update_state as node 'ask'): the task is cancelled, the step done
$node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_update_state('t3', '{"answer": 3}', as_node => 'ask')});
ok($node->poll_query_until('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$bobs{t3}'}, 'success'),
	"t3: bob's run goes on and ends once alice's update (as the node) cancelled its task")
  or diag($node->safe_psql('postgres', q{SELECT r.status || ' / thread ' || t.status || ' / tasks ' ||
	  (SELECT string_agg(status, ',') FROM stategraph.tasks k WHERE k.thread_id = 't3')
	  FROM stategraph.runs r JOIN stategraph.threads t USING (thread_id) WHERE r.owner = 'bob' AND r.thread_id = 't3'}));

# t4: alice fails the task for good (sg_fail, no retry): the thread is in error
$node->safe_psql('postgres', q{SET ROLE alice;
	SELECT sg_fail(task_id, token, '{"message": "no"}', retry => false) FROM sg_claim('q', 'me') WHERE thread_id = 't4'});
ok($node->poll_query_until('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$bobs{t4}'}, 'error'),
	"t4: bob's run ends with status error once alice failed its task, as its thread did")
  or diag($node->safe_psql('postgres', q{SELECT r.status || ' / thread ' || t.status
	  FROM stategraph.runs r JOIN stategraph.threads t USING (thread_id) WHERE r.owner = 'bob' AND r.thread_id = 't4'}));

# (not a test: whether a sweep mends it) sweeps every second for 3 s
$node->append_conf('postgresql.conf', "stategraph.sweep_interval = 1\n");
$node->reload;
sleep 3;
diag('after sweeps: ' . $node->safe_psql('postgres', q{SELECT string_agg(thread_id || ' ' || owner || ':' || status, ', ' ORDER BY thread_id, seq)
	FROM stategraph.runs}));

$node->stop;
done_testing();
