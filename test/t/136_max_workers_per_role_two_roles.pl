# stategraph.max_workers_per_role without a poll, when one claim is
# refused the shares of two roles. A share of one: alice's run (held at a gate) and
# bob's of 60 s in postgres; then, in database other, bob's run and
# alice's, whose worker is refused both shares and sleeps. When alice's
# run in postgres ends, her run in other executes at once. (Its worker's
# slot recorded only the first role it was refused, bob's: alice's share
# went back in postgres, whose worker looked again there only, and her
# run in other waited for its worker's next look, 10 s after it slept.)
# Alice's long run waits at a gate (an advisory lock the test holds) and
# ends when the test opens it: a run of 4 s had to outlast the checks up
# to the one that her run in other still waits, which a loaded machine
# could make longer (2.4 s of the 4 unloaded beside another test).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('per_role_two_roles', qq{
stategraph.max_workers = 4
stategraph.max_workers_per_role = 1
});

$node->safe_psql('postgres', q{
CREATE ROLE alice;
CREATE ROLE bob;
CREATE DATABASE other;
});
for my $db ('postgres', 'other')
{
	$node->safe_psql($db, q{
CREATE EXTENSION stategraph;
GRANT USAGE, CREATE ON SCHEMA public TO alice, bob;
} . role_nap_graphs_sql(alice => 'na', bob => 'nb'));
}
# alice's graph whose node waits at gate 4136
$node->safe_psql('postgres', gated_graph_sql(4136, 'ga', 'alice'));
my $gate = hold_gates($node, 4136);
my $running = q{SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %'};

my $long = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('ga', '{}', thread_id => 'a-long')});
$node->safe_psql('postgres', q{SET ROLE bob; SELECT sg_submit('nb', '{"secs": 60}', thread_id => 'b-long')});
ok(true_within($node, 30, "SELECT ($running) = 2"), "alice's and bob's long runs execute in postgres");
my $short = $node->safe_psql('other', q{
BEGIN;
SET LOCAL ROLE bob;
SELECT FROM sg_submit('nb', '{"secs": 0}', thread_id => 'b-short');
SET LOCAL ROLE alice;
SELECT sg_submit('na', '{"secs": 0}', thread_id => 'a-short');
COMMIT;
});
ok(true_within($node, 30, q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'stategraph worker'
                            AND datname = 'other' AND application_name = 'stategraph worker'}),
	'the worker of other is idle');
is($node->safe_psql('other', q{SELECT string_agg(status, ',' ORDER BY thread_id) FROM stategraph.runs}),
	'pending,pending', "alice's and bob's runs in other wait for their shares");
open_gate($gate, 4136);
$gate->quit;
is($node->safe_psql('postgres', qq{SET ROLE alice; SELECT status FROM sg_wait('$long', interval '30 s')}),
	'success', "alice's long run succeeds");
is($node->safe_psql('other', qq{SET ROLE alice; SELECT status FROM sg_wait('$short', interval '3 s')}),
	'success', 'then her run in other succeeds at once');
is($node->safe_psql('other', q{SELECT status FROM stategraph.runs WHERE thread_id = 'b-short'}), 'pending',
	"bob's run in other still waits for his share");

$node->stop;
done_testing();
