# A run queued behind a waiting run (its external task out) starts as soon
# as that run ends. When the task's last lease expires, the sweep fails it
# and ends the waiting run (tasks.c end_waiting_run), and the thread's next
# run is due. In a background worker's own sweep no commit woke that
# worker (nor another: there is none), and the next run waited for the
# next sweep or any other wake-up (up to stategraph.sweep_interval, 20 s
# here; five minutes by default).
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('lease_sweep_next_run', <<'CONF');
stategraph.max_workers = 1
stategraph.sweep_interval = 20
CONF
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph;' . ext_graph_sql(q{'{"max_attempts": 1, "backoff_ms": 0}', '1 hour'}));

my $first = $node->safe_psql('postgres', q{SELECT sg_submit('ext', '{}', 'x')});
ok(true_within($node, 30, qq{SELECT status = 'waiting' FROM stategraph.runs WHERE run_id = '$first'}), 'the first run waits for its task');
my $next = $node->safe_psql('postgres', q{SELECT sg_submit('ext', '{}', 'x', multitask => 'enqueue')});
# its task's one attempt, with a lease of a second; no sg_claim after it (its sweep would end the run)
is($node->safe_psql('postgres', q{SELECT count(*) FROM sg_claim('q', 'gone', 1, lease => '1 second')}), '1',
	'its task is claimed');
# the worker's sweep (within 20 s) fails the task and ends the run
ok(true_within($node, 45, qq{SELECT status = 'error' FROM stategraph.runs WHERE run_id = '$first'}),
	'the waiting run ends when its lease expires');
ok(true_within($node, 5, qq{SELECT status = 'waiting' FROM stategraph.runs WHERE run_id = '$next'}),
	'the run queued behind it starts at once, not at the next sweep');

$node->stop;
done_testing();
