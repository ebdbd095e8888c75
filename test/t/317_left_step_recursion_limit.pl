# A step its last task's completion continues counts the recursion limit of
# the call that left the thread waiting (pg_regress external, section 17).
# A step the completion leaves instead (the completer holds an advisory
# lock, TAP 304; or may not run the graph, or another session holds the
# thread) is continued by a run of the thread's owner, which counted a
# fresh limit of 25 from the thread's head: an agent loop invoked with
# recursion_limit 3 whose completions were left went on for 13 model calls
# (with limit 30, it stopped at 26 steps). Now the run counts the limit the
# completion would have counted, and stops where the in-line case stops.
# A run that finds the thread moved on from the step it was queued for
# (another call went on with it first) counts that limit from where it
# starts, as any run does. Without the preload: CALL sg_work queues and
# executes the run.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('left_step_recursion_limit');
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE ROLE app LOGIN;
} . agent_loop_graph_sql());

sub sql { return $node->safe_psql('postgres', $_[0]); }
my $answer = q{'{"messages": [{"role": "assistant"}]}'};

# the worker (a superuser, not the owner) answers the model call of $thread
# holding an advisory lock: its completion leaves the step to a run of app
sub answer_left
{
	my ($thread) = @_;
	return sql(qq{
        SELECT pg_advisory_lock(317);
        SELECT count(sg_complete(task_id, token, $answer)) FROM sg_claim('llm', 'w') WHERE thread_id = '$thread';
        SELECT count(*) FROM stategraph.steps_left WHERE thread_id = '$thread';
    });
}

# CALL sg_work and answer the run's model calls (at most 20) until it ends; how many were answered
sub drive
{
	my ($thread) = @_;
	my $answered = 0;
	for (1 .. 20)
	{
		sql('CALL sg_work()');
		last if sql(qq{SELECT count(*) FROM sg_runs('$thread') WHERE status = 'waiting'}) eq '0';
		$answered += sql(qq{SELECT count(sg_complete(task_id, token, $answer)) FROM sg_claim('llm', 'w')
            WHERE thread_id = '$thread'});
	}
	return $answered;
}

sub outcome
{
	my ($thread) = @_;
	return sql(qq{SELECT s.step, h.status, s.tasks->0->'error'->>'message'
        FROM sg_get_state('$thread') s, sg_threads() h WHERE h.thread_id = '$thread'});
}

# --- the limit of the call that left the thread waiting counts -------------
for my $case ([3, 2, 3], [30, 15, 30])
{
	my ($limit, $calls, $step) = @$case;
	my $t = "left-$limit";
	sql(qq{SET ROLE app; SELECT sg_invoke('loop', '{"messages": []}', '$t', recursion_limit => $limit)});
	is((split /\n/, answer_left($t))[-1], '1', "limit $limit: the first call's completion leaves its step");
	my $answered = 1 + drive($t);
	is($answered, $calls, "... a run of app goes on with it: $calls model calls in all, as when the completion goes on");
	is(outcome($t), "$step|error|Recursion limit of $limit reached without hitting a stop condition",
		"... and it stops after step $step with SG004 of limit $limit");
	is(sql(qq{SELECT recursion_limit || '/' || last_step || '/' || status FROM stategraph.runs WHERE thread_id = '$t'}),
		"$limit/$step/error", "... the run's row says the limit it counted");
}

# --- a run that finds the thread moved on counts its limit from its start ---
# (CALL sg_work(max_runs => 0) queues the run of the left step, and executes none)
sql(q{SET ROLE app; SELECT sg_invoke('loop', '{"messages": []}', 'moved', recursion_limit => 3)});
answer_left('moved');
sql('CALL sg_work(max_runs => 0)');
is(sql(q{SELECT status || '/' || recursion_limit || '/' || last_step FROM stategraph.runs WHERE thread_id = 'moved'}),
	'pending/3/3', 'a run of app is queued for the left step, with the limit of the call that left it');
# app goes on with the step itself meanwhile, and waits for the model at step 3
is(sql(q{SET ROLE app; SELECT sg_invoke('loop', NULL, 'moved', recursion_limit => 10) ? '__waiting__'}), 't',
	'... app goes on with the step itself before the run starts');
# the run then goes on from step 2 as a run of limit 3 from there does
# (it takes the step over, as a call that goes on with a waiting step
# does): steps 3 to 6, model calls in 3 and 5. Counting on the left step's
# last step (3) from a step it does not go on with, it stopped after one.
is(drive('moved'), 2, '... the run, finding the thread moved on, counts its limit from where it starts: 2 model calls');
is(outcome('moved'), '6|error|Recursion limit of 3 reached without hitting a stop condition',
	'... and stops after step 6');
is(sql(q{SELECT coalesce(last_step::text, 'none') FROM stategraph.runs WHERE thread_id = 'moved'}), 'none',
	"... the left step's last step dropped from its row when it started");

$node->stop;
done_testing();
