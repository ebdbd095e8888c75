# stategraph.max_workers_per_role without a poll, when the worker refused
# a share gives its slot to another database. Two workers, a share of
# one: alice's run in postgres (held at a gate); her short run in database other,
# whose worker is refused the share and sleeps; then bob's run in
# database third, which has no worker and no free slot: the idle worker
# of other gives its slot up to it. When alice's long run ends, the
# database other, left without a worker, gets one and her run there
# executes at once. (Her share went back in postgres, whose worker only
# looked again there; other asked for a worker again at its next sweep,
# five minutes later.) Alice's long run waits at a gate (an advisory lock
# the test holds) and ends when the test opens it: a run of 6 s had to
# outlast bob's run in third, a worker started there first, which a loaded
# machine could make longer, and her run in other then ran before the check
# that it still waits.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('per_role_slot_given_up', qq{
stategraph.max_workers = 2
stategraph.max_workers_per_role = 1
});

$node->safe_psql('postgres', q{
CREATE ROLE alice;
CREATE ROLE bob;
CREATE DATABASE other;
CREATE DATABASE third;
});
for my $db ('postgres', 'other', 'third')
{
	$node->safe_psql($db, q{
CREATE EXTENSION stategraph;
GRANT USAGE, CREATE ON SCHEMA public TO alice, bob;
} . role_nap_graphs_sql(alice => 'na', bob => 'nb'));
}
my $workers_of = q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND datname = };
# alice's graph whose node waits at gate 4135
$node->safe_psql('postgres', gated_graph_sql(4135, 'ga', 'alice'));
my $gate = hold_gates($node, 4135);

my $long = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('ga', '{}', thread_id => 'long')});
ok(true_within($node, 30, q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %'}),
	"alice's long run executes in postgres");
my $short = $node->safe_psql('other', q{SET ROLE alice; SELECT sg_submit('na', '{"secs": 0}', thread_id => 'short')});
ok(true_within($node, 30, "SELECT ($workers_of 'other') = 1"), 'other has a worker');
# it is refused alice's share, and sleeps
sleep 1;
is($node->safe_psql('other', q{SELECT status FROM stategraph.runs WHERE thread_id = 'short'}), 'pending',
	"alice's run in other waits for her share");
my $b = $node->safe_psql('third', q{SET ROLE bob; SELECT sg_submit('nb', '{"secs": 0}', thread_id => 'b')});
is($node->safe_psql('third', qq{SET ROLE bob; SELECT status FROM sg_wait('$b', interval '30 s')}),
	'success', "bob's run in third succeeds");
is($node->safe_psql('other', q{SELECT status FROM stategraph.runs WHERE thread_id = 'short'}), 'pending',
	"alice's run in other still waits");
open_gate($gate, 4135);
$gate->quit;
is($node->safe_psql('postgres', qq{SET ROLE alice; SELECT status FROM sg_wait('$long', interval '30 s')}),
	'success', "alice's long run succeeds");
is($node->safe_psql('other', qq{SET ROLE alice; SELECT status FROM sg_wait('$short', interval '10 s')}),
	'success', "then her run in other succeeds at once (not at other's next sweep)");

$node->stop;
done_testing();
