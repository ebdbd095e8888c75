# Background runs leave no MultiXact IDs behind.
#
# A claim locks its candidate run's row in a subtransaction (so that a
# candidate passed over lets go of its row and thread at once), and marked
# the run running with an UPDATE in the parent transaction: a row locked by
# a subtransaction and updated by its parent gets a MultiXact, and so did
# the run's end, two for each run. MultiXacts cost SLRU pages and
# anti-wraparound vacuums, and made TAP 003's pg_upgrade fail when a claim
# made one while pg_upgrade ran the old cluster. The claim now marks the
# run in the subtransaction that locked it.
#
# Runs of a one-step graph, of a loop of several steps, enqueued behind one
# another on one thread, executed by the workers and by CALL sg_work: the
# cluster's next MultiXact ID is the same afterwards.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('no_multixact');
sleepy_loop_graph($node);
my $next_multi = q{CHECKPOINT; SELECT next_multixact_id FROM pg_control_checkpoint()};
my $before = $node->safe_psql('postgres', $next_multi);

$node->safe_psql('postgres', q{
SELECT count(sg_submit('loop', '{"i": 0, "steps": 3, "sleep": 0}', 'm' || i)) FROM generate_series(1, 20) i;
SELECT count(sg_submit('loop', '{"i": 0, "steps": 1, "sleep": 0}', 'fifo', multitask => 'enqueue')) FROM generate_series(1, 10);
});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM stategraph.runs WHERE status <> 'success'}),
	'the workers executed every run to success');
is($node->safe_psql('postgres', q{SELECT count(*) FROM effects}), 20 * 3 + 10, 'each step once');
is($node->safe_psql('postgres', $next_multi), $before, 'and made no MultiXact');

$node->stop;

# the same claims in a session: CALL sg_work without the preload
$node = plain_node('no_multixact_work');
sleepy_loop_graph($node);
$before = $node->safe_psql('postgres', $next_multi);
$node->safe_psql('postgres', q{
SELECT count(sg_submit('loop', '{"i": 0, "steps": 2, "sleep": 0}', 'w' || i)) FROM generate_series(1, 10) i;
SELECT count(sg_submit('loop', '{"i": 0, "steps": 1, "sleep": 0}', 'fifo', multitask => 'enqueue')) FROM generate_series(1, 5);
});
$node->safe_psql('postgres', 'CALL sg_work()');
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT status, ',') || ' ' || count(*) FROM stategraph.runs}),
	'success 15', 'CALL sg_work executed every run to success');
is($node->safe_psql('postgres', $next_multi), $before, 'and made no MultiXact');
$node->stop;
done_testing();
