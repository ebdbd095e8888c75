# stategraph.max_workers_per_role: runs that sg_reassign_owned gives to a
# role with a free share start at once. A share of one: alice's long run
# executes in database other; her short run in postgres waits for her
# share, its worker refused and asleep. sg_reassign_owned gives alice's
# rows in postgres to bob, who has no run: the short run, now bob's,
# starts as the reassign commits. (Nothing woke a worker: it started at
# the refused worker's next look, up to 10 s later.)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('per_role_reassign', qq{
stategraph.max_workers = 3
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
} . role_nap_graphs_sql(alice => 'na'));
}

my $long = $node->safe_psql('other', q{SET ROLE alice; SELECT sg_submit('na', '{"secs": 30}', thread_id => 'long')});
ok(true_within($node, 30, q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %'}),
	"alice's long run executes in other");
my $short = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('na', '{"secs": 0}', thread_id => 'short')});
# its worker is refused alice's share, and sleeps
sleep 1;
is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$short'}), 'pending',
	"alice's short run in postgres waits for her share");

my $reassigned = $node->safe_psql('postgres', q{SELECT now() FROM sg_reassign_owned('alice', 'bob')});
is($node->safe_psql('postgres', qq{SET ROLE bob; SELECT status FROM sg_wait('$short', interval '30 s')}),
	'success', "the short run, now bob's, succeeds");
my $waited = $node->safe_psql('postgres', qq{
SELECT extract(epoch FROM started_at - '$reassigned') FROM stategraph.runs WHERE run_id = '$short'});
cmp_ok($waited, '<', 5, "it started at once after the reassign ($waited s; without the wake, at a worker's idle look 10 s later)");
is($node->safe_psql('other', qq{SELECT status FROM stategraph.runs WHERE run_id = '$long'}), 'running',
	"while alice's long run still executes");

$node->stop;
done_testing();
