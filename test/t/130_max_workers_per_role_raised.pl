# stategraph.max_workers_per_role raised by a reload (or set to 0) while a
# run waits for its role's share in a database that has no worker: that
# database gets one at once, and the run starts. Two workers, a share of
# one: alice's long run executes in postgres; her short run in database
# other waits for her share, and its worker, refused and idle, gives its
# slot to bob's run in database third. Then a reload raises the share to
# two: other gets a worker back and her short run starts. Again with the
# share lowered to one, then set to 0 (no limit). (Nothing asked for a
# worker of other: her run waited for her long run's end, or other's next
# sweep.)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('per_role_raised', qq{
stategraph.max_workers = 2
stategraph.max_workers_per_role = 1
});

$node->safe_psql('postgres', q{
CREATE ROLE alice;
CREATE ROLE bob;
CREATE DATABASE other1;
CREATE DATABASE third1;
CREATE DATABASE other2;
CREATE DATABASE third2;
});
for my $db ('postgres', 'other1', 'third1', 'other2', 'third2')
{
	$node->safe_psql($db, q{
CREATE EXTENSION stategraph;
GRANT USAGE, CREATE ON SCHEMA public TO alice, bob;
} . role_nap_graphs_sql(alice => 'na', bob => 'nb'));
}
my $workers_of = q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND datname = };

my $long = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('na', '{"secs": 120}', thread_id => 'long')});
ok(true_within($node, 30, q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %'}),
	"alice's long run executes in postgres");

# alice's short run in $other waits for her share, its worker gives its
# slot to bob's run in $third; then a reload sets the share to $share
sub round
{
	my ($other, $third, $share) = @_;
	my $short = $node->safe_psql($other, q{SET ROLE alice; SELECT sg_submit('na', '{"secs": 0}', thread_id => 'short')});
	ok(true_within($node, 30, "SELECT ($workers_of '$other') = 1"), "$other has a worker");
	sleep 1;
	is($node->safe_psql($other, q{SELECT status FROM stategraph.runs WHERE thread_id = 'short'}), 'pending',
		"alice's run in $other waits for her share");
	my $b = $node->safe_psql($third, q{SET ROLE bob; SELECT sg_submit('nb', '{"secs": 0}', thread_id => 'b')});
	is($node->safe_psql($third, qq{SET ROLE bob; SELECT status FROM sg_wait('$b', interval '30 s')}),
		'success', "bob's run in $third succeeds");
	is($node->safe_psql('postgres', "SELECT ($workers_of '$other')"), '0', "$other has no worker left");
	my $reloaded = $node->safe_psql('postgres', qq{
ALTER SYSTEM SET stategraph.max_workers_per_role = $share;
SELECT now() FROM pg_reload_conf();
});
	is($node->safe_psql($other, qq{SET ROLE alice; SELECT status FROM sg_wait('$short', interval '20 s')}),
		'success', "share $share: alice's run in $other succeeds");
	my $waited = $node->safe_psql($other, qq{
SELECT coalesce(extract(epoch FROM started_at - '$reloaded'), 999) FROM stategraph.runs WHERE run_id = '$short'});
	cmp_ok($waited, '>=', 0, "share $share: it started after the reload, not before");
	cmp_ok($waited, '<', 5, "share $share: it started at once after the reload ($waited s; without the wake, at a worker's idle look 10 s later)");
}

round('other1', 'third1', 2);
$node->safe_psql('postgres', q{
ALTER SYSTEM SET stategraph.max_workers_per_role = 1;
SELECT pg_reload_conf();
});
round('other2', 'third2', 0);
is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$long'}), 'running',
	"alice's long run still executes");

$node->stop;

# The share raised while the worker refused it took another run, and the
# database's workers are all busy: a worker starts for the waiting run.
# Three workers, a share of one: alice's long run executes; her short run
# and bob's long one are queued by one transaction, and the worker that
# comes is refused her share and takes bob's run. A reload raises the
# share to two: a third worker starts and takes her short run. (It waited
# for one of the long runs to end.)
$node = preloaded_node('per_role_raised_busy', qq{
stategraph.max_workers = 3
stategraph.max_workers_per_role = 1
});
$node->safe_psql('postgres', extension_and_roles_sql(qw(alice bob)) . role_nap_graphs_sql(alice => 'na', bob => 'nb'));
$long = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('na', '{"secs": 120}', thread_id => 'long')});
ok(true_within($node, 30, q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %'}),
	"busy: alice's long run executes");
my ($short) = split /\n/, $node->safe_psql('postgres', q{
BEGIN;
SET ROLE alice;
SELECT sg_submit('na', '{"secs": 0}', thread_id => 'short');
SET ROLE bob;
SELECT sg_submit('nb', '{"secs": 120}', thread_id => 'bob');
COMMIT;
});
ok(true_within($node, 30, q{SELECT count(*) = 2 FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %'}),
	"busy: bob's long run executes");
sleep 1;
is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$short'}), 'pending',
	"busy: alice's short run waits for her share");
my $reloaded = $node->safe_psql('postgres', q{
ALTER SYSTEM SET stategraph.max_workers_per_role = 2;
SELECT now() FROM pg_reload_conf();
});
is($node->safe_psql('postgres', qq{SET ROLE alice; SELECT status FROM sg_wait('$short', interval '20 s')}),
	'success', "busy: alice's short run succeeds");
my $waited = $node->safe_psql('postgres', qq{
SELECT coalesce(extract(epoch FROM started_at - '$reloaded'), 999) FROM stategraph.runs WHERE run_id = '$short'});
cmp_ok($waited, '<', 5, "busy: it started at once after the reload ($waited s; without the note, when the busy worker's run ended)");
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs WHERE status = 'running'}), '2',
	'busy: while both long runs execute');

$node->stop;
done_testing();
