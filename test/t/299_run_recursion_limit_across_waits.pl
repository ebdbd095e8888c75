# recursion_limit counts the super-steps of a whole background run. A run
# that goes on after its external tasks (pending again once they are done)
# counted its limit again from the thread's head: an agent loop whose
# model is an external node (the README's agent loop) never reached its
# limit, and a run with recursion_limit 3 went on for as long as its
# worker answered (16 steps and more). Now it fails with SG004 at the step
# the limit forbids, as sg_invoke and a run without external nodes do:
# with a worker, with CALL sg_work, and for a later run of the thread
# counted from where that run began.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('run_recursion_limit_across_waits');
my $plain = plain_node('run_recursion_limit_across_waits_work');
my $setup = q{
    CREATE EXTENSION stategraph;
} . agent_loop_graph_sql() . q{
    -- the same loop in SQL only, for comparison
    SELECT sg_create_graph('sqlloop', '{"messages": "append"}');
    SELECT sg_add_node('sqlloop', 'agent', 'tools(jsonb)');
    SELECT sg_add_node('sqlloop', 'tools', 'tools(jsonb)');
    SELECT sg_add_edge('sqlloop', '__start__', 'agent');
    SELECT sg_add_edge('sqlloop', 'agent', 'tools');
    SELECT sg_add_edge('sqlloop', 'tools', 'agent');
    SELECT sg_compile('sqlloop');
};
$_->safe_psql('postgres', $setup) foreach ($node, $plain);

my $complete = q{SELECT count(sg_complete(task_id, token, '{"messages": [{"role": "assistant"}]}')) FROM sg_claim('llm', worker => 'w')};

# answer the run's model calls (at most 10) until it ends; how many were answered
sub drive
{
	my ($n, $thread, $work) = @_;
	my $answered = 0;
	for (1 .. 10)
	{
		$n->safe_psql('postgres', 'CALL sg_work()') if $work;
		last unless true_within($n, 10,
			qq{SELECT bool_and(status NOT IN ('pending', 'running')) FROM sg_runs('$thread')});
		last if $n->safe_psql('postgres', qq{SELECT count(*) FROM sg_runs('$thread') WHERE status = 'waiting'}) eq '0';
		$answered += $n->safe_psql('postgres', $complete);
	}
	return $answered;
}

sub outcome
{
	my ($n, $thread) = @_;
	return $n->safe_psql('postgres', qq{
		SELECT string_agg(status || ' ' || coalesce(error->>'sqlstate', '-'), ',' ORDER BY created_at) FROM sg_runs('$thread')});
}

sub last_step
{
	my ($n, $thread) = @_;
	return $n->safe_psql('postgres', qq{SELECT max(step) FROM sg_get_state_history('$thread')});
}

# the baseline: the SQL loop with recursion_limit 3 takes steps 0..3, fails at 4
$node->safe_psql('postgres', q{SELECT sg_submit('sqlloop', '{"messages": []}', 's', recursion_limit => 3)});
ok(true_within($node, 10, q{SELECT status = 'error' FROM sg_runs('s')}), 'the SQL loop ends');
is(outcome($node, 's'), 'error SG004', 'with SG004');
is(last_step($node, 's'), '3', 'after step 3');

# the same loop through an external node: as many steps, then SG004
$node->safe_psql('postgres', q{SELECT sg_submit('loop', '{"messages": []}', 'x', recursion_limit => 3)});
is(drive($node, 'x', 0), 2, 'a worker: the model was called in steps 1 and 3 only');
is(outcome($node, 'x'), 'error SG004', 'the run ends with SG004');
is(last_step($node, 'x'), '3', 'after step 3, as the SQL loop');
is($node->safe_psql('postgres', q{SELECT error->>'message' FROM sg_runs('x')}),
	'Recursion limit of 3 reached without hitting a stop condition', "the limit's message");

# a later run with input on that thread counts from its own input checkpoint (step 4): steps 5..8
$node->safe_psql('postgres', q{SELECT sg_submit('loop', '{"messages": []}', 'x', recursion_limit => 3)});
is(drive($node, 'x', 0), 2, 'the next run: two model calls');
is(outcome($node, 'x'), 'error SG004,error SG004', 'it ends with SG004 too');
is(last_step($node, 'x'), '8', 'after step 8');

# time travel: a run from checkpoint 1 of the first run (next: tools) goes on from its copy, step 2:
# limit 3 allows steps 3 (tools), 4 (agent), 5 (tools) and 6 (agent), not 7
$node->safe_psql('postgres', q{
    SELECT sg_submit('loop', NULL, 'x', recursion_limit => 3,
                     checkpoint_id => (SELECT checkpoint_id FROM sg_get_state_history('x') WHERE step = 1
                                       ORDER BY checkpoint_id LIMIT 1))});
is(drive($node, 'x', 0), 2, 'time travel: two model calls');
is(outcome($node, 'x'), 'error SG004,error SG004,error SG004', 'it ends with SG004');
is($node->safe_psql('postgres', q{SELECT step FROM sg_get_state('x')}), '6', 'after step 6');

# a larger limit is not cut short: limit 6, three calls, then the limit
$node->safe_psql('postgres', q{SELECT sg_submit('loop', '{"messages": []}', 'y', recursion_limit => 6)});
is(drive($node, 'y', 0), 3, 'limit 6: the model was called in steps 1, 3 and 5');
is(last_step($node, 'y'), '6', 'the run ended after step 6');

# CALL sg_work (no preload)
$plain->safe_psql('postgres', q{SELECT sg_submit('loop', '{"messages": []}', 'w', recursion_limit => 3)});
is(drive($plain, 'w', 1), 2, 'CALL sg_work: two model calls');
is(outcome($plain, 'w'), 'error SG004', 'CALL sg_work: SG004');
is(last_step($plain, 'w'), '3', 'CALL sg_work: after step 3');

$plain->stop;
$node->stop;
done_testing();
