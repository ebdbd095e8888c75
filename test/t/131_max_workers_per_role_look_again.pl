# stategraph.max_workers_per_role: the worker that gives a share back
# claims again at once when a claim was refused that share while it held
# it and no worker is left to take the refused run (look_again). Three
# workers, a share of one. Carol's run of 60 s keeps the first worker
# busy. Bob (a member of alice) runs on alice's thread t (3 s); then one
# statement queues alice's short run behind it on t and her long run
# (held at a gate) on another thread, both due a second later: a worker waits for
# that second and takes the long run. When bob's run ends, its worker
# takes the thread's next run, the short one, and is refused her share;
# it sleeps, and after 10 s idle it leaves. When the long run ends, its
# worker claims again and takes the short run at once. Nothing else makes
# it look: no commit woke workers since its claim, which saw no run after
# the long one; no delayed run came due since; the worker it would wake
# instead is the busy first one. (Without look_again the short run
# started 10 s later, at the worker's next idle look.) The long run waits
# at a gate (an advisory lock the test holds) and ends when the test opens
# it, once the refused worker has left: a run of 18 s had to outlast bob's
# run, the wait for its due second, and the refused worker's 10 s idle and
# exit, which a loaded machine could make longer.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('per_role_look_again', qq{
stategraph.max_workers = 3
stategraph.max_workers_per_role = 1
});

$node->safe_psql('postgres', extension_and_roles_sql(qw(alice bob carol)) . q{
GRANT alice TO bob;
CREATE FUNCTION public.quick(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"done": false}'::jsonb $$;
GRANT EXECUTE ON FUNCTION public.quick(jsonb) TO PUBLIC;
} . role_nap_graphs_sql(alice => 'na', carol => 'nc') . q{
SET ROLE alice;
-- a quick step first: the claim of a run commits with it
SELECT sg_create_graph('qn', '{"done": "replace", "secs": "replace"}'), sg_add_node('qn', 'quick', 'public.quick(jsonb)'),
       sg_add_node('qn', 'nap', 'public.nap(jsonb)'), sg_add_edge('qn', '__start__', 'quick'),
       sg_add_edge('qn', 'quick', 'nap'), sg_add_edge('qn', 'nap', '__end__'), sg_compile('qn');
RESET ROLE;
} . gated_graph_sql(4131, 'ga', 'alice'));  # her long run's graph: its node waits at gate 4131
my $workers = q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'stategraph worker'};
my $executing = q{SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %'};

my $first = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('qn', '{"secs": 0}', thread_id => 't')});
is($node->safe_psql('postgres', qq{SET ROLE alice; SELECT status FROM sg_wait('$first', interval '30 s')}),
	'success', "alice's thread t is made");
$node->safe_psql('postgres', q{SET ROLE carol; SELECT sg_submit('nc', '{"secs": 60}', thread_id => 'c')});
ok(true_within($node, 30, "SELECT ($executing) = 1"), "carol's run executes");

my $gate = hold_gates($node, 4131);
my $by_bob = $node->safe_psql('postgres', q{SET ROLE bob; SELECT sg_submit('qn', '{"secs": 3}', thread_id => 't')});
ok(true_within($node, 30, qq{SELECT status = 'running' FROM stategraph.runs WHERE run_id = '$by_bob'}),
	"bob's run on t executes");
my ($short, $long) = split /\n/, $node->safe_psql('postgres', q{
SET ROLE alice;
SELECT sg_submit('qn', '{"secs": 0}', thread_id => 't', multitask => 'enqueue', after => interval '1 s')
UNION ALL SELECT sg_submit('ga', '{}', thread_id => 'long', after => interval '1 s');
});
is($node->safe_psql('postgres', qq{SET ROLE bob; SELECT status FROM sg_wait('$by_bob', interval '30 s')}),
	'success', "bob's run on t succeeds");
ok(true_within($node, 5, qq{SELECT status = 'running' FROM stategraph.runs WHERE run_id = '$long'}),
	"alice's long run executes");
sleep 1;
is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$short'}), 'pending',
	"alice's short run waits for her share");
ok(true_within($node, 60, "SELECT ($workers) = 2"), 'the refused worker leaves, idle');
is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$long'}), 'running',
	'before the long run ends');
open_gate($gate, 4131);
$gate->quit;
is($node->safe_psql('postgres', qq{SET ROLE alice; SELECT status FROM sg_wait('$short', interval '30 s')}),
	'success', "alice's short run succeeds");
my $gap = $node->safe_psql('postgres', qq{
SELECT extract(epoch FROM s.started_at - l.finished_at) FROM stategraph.runs s, stategraph.runs l
WHERE s.run_id = '$short' AND l.run_id = '$long'});
cmp_ok($gap, '>=', 0, 'it started after the long run ended, not before');
cmp_ok($gap, '<', 2, "it started at once after the long run ended ($gap s)");
is($node->safe_psql('postgres', q{SELECT status FROM stategraph.runs WHERE thread_id = 'c'}), 'running',
	"while carol's run still executes");

$node->stop;
done_testing();
