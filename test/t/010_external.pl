# External nodes with real worker processes (examples/worker.py):
#  - an agent loop: node "agent" on queue llm (the worker's fake model) and
#    node "tools" (SQL), continued with sg_invoke(graph, NULL, thread);
#  - a worker that asks a human (sg_interrupt_task, resume) and one that
#    fails once (sg_fail, retried after the backoff);
#  - 1,000 tasks over 4 worker processes, workers killed with SIGKILL while
#    they hold a claim: every task completed exactly once, none lost;
#  - a server restart with claimed tasks outstanding;
#  - SIGTERM stops a worker cleanly.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use POSIX ":sys_wait_h";
use SGWorker ();

plan skip_all => 'no /usr/bin/python3 with psycopg' unless SGWorker::worker_usable();

my $node = PostgreSQL::Test::Cluster->new('external');
$node->init;
$node->start;
my $dsn = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres';

$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    -- the agent loop
    CREATE FUNCTION run_tools(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
        SELECT jsonb_build_object('messages', jsonb_agg(jsonb_build_object(
            'role', 'tool', 'tool_call_id', c->>'id',
            'content', ((c->'args'->>'a')::int + (c->'args'->>'b')::int)::text)))
        FROM jsonb_array_elements(state->'messages'->-1->'tool_calls') c $$;
    CREATE FUNCTION route_agent(state jsonb) RETURNS text LANGUAGE sql AS $$
        SELECT CASE WHEN jsonb_array_length(COALESCE(state->'messages'->-1->'tool_calls', '[]')) > 0
                    THEN 'tools' ELSE '__end__' END $$;
    SELECT sg_create_graph('agent_loop', '{"messages": "append"}');
    SELECT sg_add_external_node('agent_loop', 'agent', 'llm', lease => '30 seconds');
    SELECT sg_add_node('agent_loop', 'tools', 'run_tools(jsonb)');
    SELECT sg_add_edge('agent_loop', '__start__', 'agent');
    SELECT sg_add_conditional_edges('agent_loop', 'agent', 'route_agent(jsonb)', '["tools", "__end__"]');
    SELECT sg_add_edge('agent_loop', 'tools', 'agent');
    SELECT sg_compile('agent_loop');
    -- asking a human, and failing once
    SELECT sg_create_graph('human', '{"answer": "replace"}');
    SELECT sg_add_external_node('human', 'ask', 'llm');
    SELECT sg_add_edge('human', '__start__', 'ask');
    SELECT sg_add_edge('human', 'ask', '__end__');
    SELECT sg_compile('human');
    SELECT sg_create_graph('slowg', '{"answer": "replace"}');
    SELECT sg_add_external_node('slowg', 'slow', 'llm', lease => '1 second');
    SELECT sg_add_edge('slowg', '__start__', 'slow');
    SELECT sg_add_edge('slowg', 'slow', '__end__');
    SELECT sg_compile('slowg');
    SELECT sg_create_graph('once', '{"answer": "replace"}');
    SELECT sg_add_external_node('once', 'slow', 'one', '{"max_attempts": 1}', '1 second');
    SELECT sg_add_edge('once', '__start__', 'slow');
    SELECT sg_add_edge('once', 'slow', '__end__');
    SELECT sg_compile('once');
    SELECT sg_create_graph('flaky', '{"answer": "replace"}');
    SELECT sg_add_external_node('flaky', 'flaky', 'llm', '{"max_attempts": 3, "backoff_ms": 50}');
    SELECT sg_add_edge('flaky', '__start__', 'flaky');
    SELECT sg_add_edge('flaky', 'flaky', '__end__');
    SELECT sg_compile('flaky');
    -- many tasks: one Send per doc
    CREATE FUNCTION fan(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
        SELECT jsonb_agg(jsonb_build_object('node', 'work', 'arg', jsonb_build_object('doc', d)))
        FROM jsonb_array_elements(state->'docs') d $$;
    SELECT sg_create_graph('bulk', '{"docs": "replace", "done": "append"}');
    SELECT sg_add_external_node('bulk', 'work', 'bulk', '{"max_attempts": 20, "backoff_ms": 0}', '1 second');
    SELECT sg_add_conditional_edges('bulk', '__start__', 'fan(jsonb)');
    SELECT sg_add_edge('bulk', 'work', '__end__');
    SELECT sg_compile('bulk');
});

my %workers;    # pid -> log file

# the reference worker on one queue; %env for its environment
sub start_worker
{
	my ($queue, %env) = @_;
	my ($pid, $log) = SGWorker::start_worker($dsn, queues => [$queue], env => \%env);
	$workers{$pid} = $log;
	return $pid;
}

sub stop_worker
{
	my ($pid, $signal) = @_;
	delete $workers{$pid};
	return SGWorker::stop_worker($pid, $signal);
}

sub sql { return $node->safe_psql('postgres', $_[0]); }

# continue thread $t until its step no longer waits (no background workers here)
sub run_to_end
{
	my ($graph, $t) = @_;
	for (1 .. 300)
	{
		my $r = sql("SELECT sg_invoke('$graph', NULL, '$t') ? '__waiting__'");
		return 1 if $r eq 'f';
		usleep(50_000);
	}
	return 0;
}

# --- an agent loop in psql plus the reference worker ------------------------
# (the worker starts after the check: the reference worker claims, answers and
# completes at once, and sg_complete runs the thread on, so a worker started
# before could finish the whole loop before the check looked)
sql(q{SELECT sg_invoke('agent_loop', '{"messages": [{"role": "user", "content": "what is 2 plus 40?"}]}', 'chat-1')});
is(sql("SELECT status FROM sg_threads() WHERE thread_id = 'chat-1'"), 'waiting', 'the agent step waits for a worker');
my $w = start_worker('llm');
ok(run_to_end('agent_loop', 'chat-1'), 'the agent loop runs to the end with the worker');
is(sql(q{SELECT (sg_get_state('chat-1'))."values"->'messages'->-1->>'content'}), 'The answer is 42.',
	'the fake model answered after the SQL tool ran');
is(sql(q{SELECT string_agg(tasks->0->>'name', ',' ORDER BY step DESC) FROM sg_get_state_history('chat-1')
          WHERE jsonb_array_length(tasks) > 0}),
	'agent,tools,agent,__start__', 'history: agent, tools, agent');
is(sql("SELECT count(*) FROM sg_tasks('llm', 'completed') WHERE thread_id = 'chat-1'"), '2',
	'two model calls, both completed');

# --- a worker asks a human; resume hands it the answer -----------------------
sql(q{SELECT sg_invoke('human', '{}', 'h-1')});
ok($node->poll_query_until('postgres', "SELECT status FROM sg_threads() WHERE thread_id = 'h-1'", 'interrupted'),
	'the worker paused the thread with sg_interrupt_task');
is(sql(q{SELECT interrupts->0->'value'->>'question' FROM sg_get_state('h-1')}), 'go ahead?', 'the question is shown');
sql(q{SELECT sg_invoke('human', NULL, 'h-1', resume => '"yes"')});
ok(run_to_end('human', 'h-1'), 'resumed, the task was queued again and done');
is(sql(q{SELECT (sg_get_state('h-1'))."values"->>'answer'}), 'yes', 'the worker got the answer in resume');
# an answer of JSON null is an answer too (task["resumed"]): the worker asked again, for ever
sql(q{SELECT sg_invoke('human', '{}', 'h-2')});
ok($node->poll_query_until('postgres', "SELECT status FROM sg_threads() WHERE thread_id = 'h-2'", 'interrupted'),
	'the worker paused the second thread');
sql(q{SELECT sg_invoke('human', NULL, 'h-2', resume => 'null')});
ok(run_to_end('human', 'h-2'), 'resumed with null, the task was done');
is(sql(q{SELECT (sg_get_state('h-2'))."values"->'answer'}), 'null', 'the worker got null as the answer');
is(sql(q{SELECT status FROM sg_threads() WHERE thread_id = 'h-2'}), 'done', 'and did not ask again');

# --- a failed attempt is retried after the backoff ----------------------------
sql(q{SELECT sg_invoke('flaky', '{}', 'f-1')});
ok(run_to_end('flaky', 'f-1'), 'the flaky task finished');
is(sql(q{SELECT (sg_get_state('f-1'))."values"->>'answer'}), 'attempt 2', 'its second attempt succeeded');
# --- cancel mid-task: the heartbeat tells the running handler to stop ---------
sql(q{SELECT sg_invoke('slowg', '{}', 'slow-1')});
ok($node->poll_query_until('postgres', "SELECT count(*) FROM sg_tasks('llm', 'claimed') WHERE thread_id = 'slow-1'", '1'),
	'the slow task is being worked on');
sql(q{SELECT sg_update_state('slow-1', '{"answer": "by hand"}', as_node => 'slow')});
my $dropped = 0;
for (1 .. 100)
{
	$dropped = 1, last if slurp_file($workers{$w}) =~ /was cancelled or taken over: dropped/;
	usleep(50_000);
}
ok($dropped, 'the worker learned of the cancel from its heartbeat and dropped the task');
is(sql("SELECT status FROM sg_tasks('llm') WHERE thread_id = 'slow-1'"), 'cancelled', 'the task is cancelled');
is(sql(q{SELECT sg_invoke('slowg', NULL, 'slow-1')->>'answer'}), 'by hand', 'the thread went on without it');
sql(q{SELECT sg_invoke('flaky', '{}', 'f-2')});
ok(run_to_end('flaky', 'f-2'), 'the worker goes on with the next task');
is(stop_worker($w, 'TERM'), 0, 'SIGTERM stops the worker cleanly');

# --- a worker dies holding a task with no attempt left: a node failure, never "started" forever
my $a = start_worker('one');
sql(q{SELECT sg_invoke('once', '{}', 'once-1')});
ok($node->poll_query_until('postgres', "SELECT count(*) FROM sg_tasks('one', 'claimed')", '1'),
	'the task is claimed');
stop_worker($a, 'KILL');
my $b = start_worker('one');
ok($node->poll_query_until('postgres', "SELECT status FROM sg_threads() WHERE thread_id = 'once-1'", 'error'),
	'another worker\'s sweep found the expired lease and recorded the failure');
is(sql(q{SELECT tasks->0->'error'->>'message' FROM sg_get_state('once-1')}), 'the lease of the task expired',
	'tasks[].error says why');
is(stop_worker($b, 'TERM'), 0, 'the second worker stops cleanly');

# --- 1,000 tasks over 4 workers, some killed with SIGKILL while holding a claim
my $threads = 10;
my $per = 100;
for my $i (1 .. $threads)
{
	sql("SELECT sg_invoke('bulk', jsonb_build_object('docs', (SELECT jsonb_agg('t$i-' || g) FROM generate_series(1, $per) g)), 'bulk-$i')");
}
is(sql("SELECT count(*) FROM sg_tasks('bulk', 'queued')"), $threads * $per, '1,000 tasks queued');
start_worker('bulk', SG_WORK_MAX_SLEEP => '0.1') for 1 .. 4;
my $killed = 0;
my $t0 = time();
while ($killed < 4 && time() - $t0 < 60)
{
	# kill a worker that holds a claim right now: mid-task. It may finish
	# that task between this query and the kill (and be between tasks);
	# only a kill that left a task claimed by the dead worker counts (that
	# one or its next: on a loaded machine the query, the kill and the
	# check take longer than a task, and the one queried was mostly done)
	my ($victim) =
	  sql("SELECT substr(worker, 8) FROM stategraph.tasks WHERE status = 'claimed' AND worker LIKE 'worker-%' LIMIT 1");
	if (defined $victim && $victim ne '' && $workers{$victim})
	{
		stop_worker($victim, 'KILL');
		$killed++
		  if sql("SELECT count(*) > 0 FROM stategraph.tasks WHERE status = 'claimed' AND worker = 'worker-$victim'") eq 't';
		start_worker('bulk', SG_WORK_MAX_SLEEP => '0.1');
	}
	usleep(100_000);
}
is($killed, 4, 'four workers were killed with SIGKILL while holding a claim');
my $done = 0;
$t0 = time();
while (time() - $t0 < 240)
{
	$done = sql("SELECT count(*) FROM sg_tasks('bulk', 'completed')");
	last if $done == $threads * $per;
	usleep(200_000);
}
is($done, $threads * $per, 'every task was completed');
ok(sql("SELECT count(*) FROM stategraph.tasks WHERE queue = 'bulk' AND attempt > 1") > 0,
	'the killed workers\' tasks were claimed again after their leases expired');
my $exact = 1;
for my $i (1 .. $threads)
{
	$exact = 0 unless run_to_end('bulk', "bulk-$i");
	my $r = sql(qq{SELECT jsonb_array_length(v->'done') || ',' || (SELECT count(DISTINCT x) FROM jsonb_array_elements(v->'done') x)
	               || ',' || (v->'done' = v->'docs')
	               FROM (SELECT (sg_get_state('bulk-$i'))."values" AS v) s});
	$exact = 0 unless $r eq "$per,$per,true";
	diag("bulk-$i: $r") unless $r eq "$per,$per,true";
}
ok($exact, 'each thread has each task\'s result exactly once, in Send order');
stop_worker($_, 'TERM') for keys %workers;

# --- a server restart with claimed tasks outstanding ---------------------------
sql(q{SELECT sg_invoke('bulk', '{"docs": ["r1", "r2"]}', 'restart-1')});
my @claims = split /\n/, sql(q{SELECT task_id || '|' || token || '|' || (input->>'doc')
                                FROM sg_claim('bulk', 'before-restart', 2, lease => '2 seconds') ORDER BY input->>'doc'});
is(scalar(@claims), 2, 'two tasks claimed');
$node->restart;
is(sql("SELECT status FROM sg_threads() WHERE thread_id = 'restart-1'"), 'waiting', 'after the restart the thread still waits');
is(sql("SELECT count(*) FROM sg_tasks('bulk', 'claimed') WHERE thread_id = 'restart-1'"), '2', 'both claims survived');
my ($id1, $tok1) = split /\|/, $claims[0];
sql("SELECT sg_complete('$id1', '$tok1', '{\"done\": [\"r1\"]}')");
is(sql("SELECT status || ' ' || (result->'done')::text FROM stategraph.tasks WHERE task_id = '$id1'"), 'completed ["r1"]',
	'a claim taken before the restart completes after it');
my ($id_other) = split /\|/, $claims[1];
$node->poll_query_until('postgres',
	"SELECT lease_expires_at < clock_timestamp() FROM stategraph.tasks WHERE task_id = '$id_other'")
  or die 'the other lease does not expire';
my $again = sql(q{SELECT attempt || '|' || task_id || '|' || token FROM sg_claim('bulk', 'after-restart')});
my ($attempt, $id2, $tok2) = split /\|/, $again;
is($attempt, '2', 'the expired claim is claimed again as attempt 2');
sql("SELECT sg_complete('$id2', '$tok2', '{\"done\": [\"r2\"]}')");
my ($id_old, $tok_old) = split /\|/, $claims[1];
my ($rc, $out, $err) = $node->psql('postgres', "SELECT sg_complete('$id_old', '$tok_old', '{\"done\": [\"stale\"]}')",
	extra_params => ['-v', 'VERBOSITY=sqlstate']);
like($err, qr/SG010/, 'the token of the expired claim is refused (SG010)');
my $before = sql("SELECT result::text || updated_at::text FROM stategraph.tasks WHERE task_id = '$id1'");
sql("SELECT sg_complete('$id1', '$tok1', '{\"done\": [\"r1\"]}')");
is(sql("SELECT result::text || updated_at::text FROM stategraph.tasks WHERE task_id = '$id1'"), $before,
	'the same completion again is a no-op (the task row is left as it was)');

# a late completion whose lease expired while nobody claimed the task again is accepted
sql(q{SELECT sg_invoke('bulk', '{"docs": ["late"]}', 'late-1')});
my ($lid, $ltok) = split /\|/, sql(q{SELECT task_id || '|' || token FROM sg_claim('bulk', 'slowpoke', lease => '200 ms')});
usleep(400_000);
is(sql(q{SELECT stategraph.sweep_leases()}), '1', 'the lease expired and was swept');
sql("SELECT sg_complete('$lid', '$ltok', '{\"done\": [\"late\"]}')");
ok(run_to_end('bulk', 'late-1'), 'the late result was accepted and the run finished');
ok(run_to_end('bulk', 'restart-1'), 'the thread goes on');
is(sql(q{SELECT (sg_get_state('restart-1'))."values"->'done'}), '["r1", "r2"]', 'with both results');

$node->stop;
done_testing();
