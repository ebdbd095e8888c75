# stategraph.max_workers_per_role across databases: a role's share is
# server-wide, and its runs take it in the order they are due, whichever
# database queued them. A share of one: alice's run of 1 s in postgres,
# then one in database other (its worker refused the share), then five
# more in postgres. The run in other starts when the first one ends,
# before the five queued after it. (The worker that ended alice's run in
# postgres took her next one there at once, before other's worker looked
# again: other's run waited for all five, and would have waited for as
# long as alice queued runs in postgres.)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('per_role_dbs', qq{
stategraph.max_workers = 4
stategraph.max_workers_per_role = 1
});

$node->safe_psql('postgres', q{
CREATE ROLE alice;
CREATE DATABASE other;
});
for my $db ('postgres', 'other')
{
	$node->safe_psql($db, q{
CREATE EXTENSION stategraph;
GRANT USAGE, CREATE ON SCHEMA public TO alice;
} . role_nap_graphs_sql(alice => 'nap'));
}

# alice's run of 1 s in postgres, then one in other, then five more in postgres
$node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('nap', '{"secs": 1}', thread_id => 'p1')});
ok(true_within($node, 30, q{SELECT count(*) = 1 FROM stategraph.runs WHERE status = 'running'}),
	"alice's first run in postgres executes");
my $other = $node->safe_psql('other', q{SET ROLE alice; SELECT sg_submit('nap', '{"secs": 0.1}', thread_id => 'o1')});
$node->safe_psql('postgres', q{
SET ROLE alice;
SELECT sg_submit('nap', '{"secs": 1}', thread_id => 'p' || g) FROM generate_series(2, 6) g;
});
is($node->safe_psql('other', qq{SET ROLE alice; SELECT status FROM sg_wait('$other', interval '60 s')}),
	'success', "alice's run in other succeeds");
ok(true_within($node, 60, q{SELECT count(*) = 6 FROM stategraph.runs WHERE status = 'success'}),
	"alice's runs in postgres succeed");
my $o1 = $node->safe_psql('other', q{SELECT started_at FROM stategraph.runs WHERE thread_id = 'o1'});
is($node->safe_psql('postgres', qq{SELECT count(*) FROM stategraph.runs WHERE started_at < '$o1'}), '1',
	"alice's run in other started after her first run in postgres, before those queued after it");

$node->stop;
done_testing();
