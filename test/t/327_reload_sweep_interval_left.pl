# A database whose worker gave its slot up to another (stategraph.max_workers
# reached) asks for one again when its next sweep is due. A reload that
# lowered stategraph.sweep_interval did not reach that time: the database
# was swept by the old interval (here 5 minutes; days at the longest),
# although the README says a reload takes the setting up (a review found
# it). The launcher now moves such times to the new interval.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('reload_sweep', qq{
stategraph.max_workers = 1
stategraph.sweep_interval = 300
});
for my $db ('a', 'b')
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	nap_graph($node, 'nap', $db);
}
my $workers_of = q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND datname = };

# b's run, then a's: b's worker gives its one slot up to a, and asks for it
# again in 5 minutes (its next sweep)
my $b = $node->safe_psql('b', q{SELECT sg_submit('nap', '{"secs": 0}', 'b-1')});
is($node->safe_psql('b', "SELECT status FROM sg_wait('$b', interval '60 s')"), 'success', "b's run is done");
my $a = $node->safe_psql('a', q{SELECT sg_submit('nap', '{"secs": 0}', 'a-1')});
is($node->safe_psql('a', "SELECT status FROM sg_wait('$a', interval '60 s')"), 'success', "a's run is done, by the one worker");
ok(true_within($node, 30, "SELECT ($workers_of 'b') = 0 AND ($workers_of 'a') = 1"), "b's worker left");

# finished runs expire at once, swept every 2 s from now on
$node->append_conf('postgresql.conf', "stategraph.sweep_interval = 2\nstategraph.run_retention = 0\n");
$node->reload;
ok(true_within($node, 60, q{SELECT count(*) = 0 FROM stategraph.runs}, 'b'),
	"b's finished run is swept within a minute of the reload (by the old interval: 5 minutes)");

$node->stop;
done_testing();
