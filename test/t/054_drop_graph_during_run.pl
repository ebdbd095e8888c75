# A running run keeps the definition of its graph it loaded when it
# started (executor.c, run_create: pinned for the whole run), through every
# step: a recompile between its steps does not change the run's nodes or
# edges, and neither does sg_drop_graph (by another session, or by the
# run's own node). The run ends as that definition says. Only a run that
# starts (or starts again: a waiting run whose task completes, a run taken
# up after its worker died) loads the graph as it is then, and fails with
# 42704 if it is gone. A node function dropped during the run fails its
# next step (its call checks the function). README says so ("An error of
# a step outside its nodes").
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('drop_graph_during_run', <<'CONF');
stategraph.max_workers = 1
CONF
sleepy_loop_graph($node);

sub status_within
{
	my ($run, $secs) = @_;
	return $node->safe_psql('postgres', "SELECT status FROM sg_wait('$run', interval '$secs s')");
}

# 1. dropped by another session between steps: the run takes all its steps
my $run = $node->safe_psql('postgres',
	q{SELECT sg_submit('loop', '{"i": 0, "steps": 12, "sleep": 0.1}', thread_id => 'dropped')});
ok($node->poll_query_until('postgres', q{SELECT count(*) >= 3 FROM effects WHERE run = 'dropped'}),
	'the run takes steps');
$node->safe_psql('postgres', q{SELECT sg_drop_graph('loop')});
is(status_within($run, 60), 'success', 'a run whose graph is dropped between its steps ends as its definition says');
is($node->safe_psql('postgres', q{SELECT count(*) FROM effects WHERE run = 'dropped'}), '12',
	'after all its steps, on the definition it loaded');

# 2. made again, a run of it dropped mid-run: a new submit is refused, the running run goes on
$node->safe_psql('postgres', q{
    SELECT sg_create_graph('loop', '{"i": "replace", "steps": "replace", "sleep": "replace"}');
    SELECT sg_add_node('loop', 'work', 'work(jsonb,jsonb)');
    SELECT sg_add_edge('loop', '__start__', 'work');
    SELECT sg_add_conditional_edges('loop', 'work', 'more(jsonb)', '["work", "__end__"]');
    SELECT sg_compile('loop');
});
$run = $node->safe_psql('postgres',
	q{SELECT sg_submit('loop', '{"i": 0, "steps": 12, "sleep": 0.5}', thread_id => 'late')});
ok($node->poll_query_until('postgres', q{SELECT count(*) >= 1 FROM effects WHERE run = 'late'}),
	'a run of the graph made again starts');
$node->safe_psql('postgres', q{SELECT sg_drop_graph('loop')});
my ($ret, $out, $err) = $node->psql('postgres',
	q{SELECT sg_submit('loop', '{"i": 0, "steps": 1, "sleep": 0}', thread_id => 'after')});
like($err, qr/graph "loop" does not exist/, 'a submit after the drop is refused');
is(status_within($run, 60), 'success', 'the running one still ends as its definition says');

done_testing();
