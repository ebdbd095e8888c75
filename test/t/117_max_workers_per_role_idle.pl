# stategraph.max_workers_per_role does not make idle workers poll while a
# role at its share only executes its runs. A share of one: bob's short
# run, then alice's long run on another worker, each held at a gate (an
# advisory lock the test holds) until the test opens it: bob's once
# alice's run executes beside it (a run of 1 s once ended before the second
# worker started, and 3 s was still a guess), alice's once the idle worker
# has been watched (15 s had to outlast that). Once bob's run ended, its
# worker, idle, has nothing to take, and sleeps: no claim every second for
# as long as alice's run goes on. (A claim that met alice's running run
# asked for her share before seeing its thread held by its executor, and,
# refused, took the run for a pending one that waits for a share: the idle
# workers looked again every second, and the first worker of the database,
# which never leaves, did so for as long as her run went on.)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('per_role_idle', qq{
stategraph.max_workers = 3
stategraph.max_workers_per_role = 1
});

$node->safe_psql('postgres', extension_and_roles_sql(qw(alice bob)) . q{
} . role_nap_graphs_sql(alice => 'na', bob => 'nb')
  # runs that wait at the gate their state names
  . gated_graph_sql(q{(state->>'gate')::bigint}, 'ga', 'alice', '"gate": "replace"')
  . q{
SET ROLE bob;} . one_step_graph_sql('gb', '{"done": "replace", "gate": "replace"}', 'gated', 'public.gated(jsonb)') . q{
RESET ROLE;});
my $gate = hold_gates($node, 41171, 41172);

my $bob_run = $node->safe_psql('postgres', q{SET ROLE bob; SELECT sg_submit('gb', '{"gate": 41171}', thread_id => 'b')});
ok(true_within($node, 30, q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %'}),
	"bob's run executes");
my $alice_run = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('ga', '{"gate": 41172}', thread_id => 'a')});
ok(true_within($node, 30, q{SELECT count(*) = 2 FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %'}),
	"alice's run executes beside bob's");
open_gate($gate, 41171);
is($node->safe_psql('postgres', qq{SET ROLE bob; SELECT status FROM sg_wait('$bob_run', interval '30 s')}),
	'success', "bob's run succeeds");
# its worker looks once more (alice's run was submitted meanwhile), then sleeps:
# wait (not a fixed second, which a loaded machine can outlast) until the idle
# workers have not looked for a second
my $idle_where = q{FROM pg_stat_activity
             WHERE backend_type = 'stategraph worker' AND application_name = 'stategraph worker'};
ok(true_within($node, 10, qq{SELECT count(*) >= 1 AND bool_and(state = 'idle' AND state_change < clock_timestamp() - interval '1 s') $idle_where}),
	'its worker is idle');
my $idle = qq{SELECT pid || ' ' || state_change $idle_where};
my $before = $node->safe_psql('postgres', $idle);
isnt($before, '', 'a worker is idle');
sleep 4;
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %'}),
	'1', "alice's run still executes");
is($node->safe_psql('postgres', $idle), $before,
	"the idle worker did not look for work again while alice's run executed (no poll every second)");
open_gate($gate, 41172);
$gate->quit;
is($node->safe_psql('postgres', qq{SET ROLE alice; SELECT status FROM sg_wait('$alice_run', interval '30 s')}),
	'success', "alice's run succeeds");

$node->stop;
done_testing();
