# Claims pass the runs queued behind a run that a background worker
# executes (worker.c, worker_executes): its end sends them back to its
# thread's next run (runs.c, record_step). A run whose step fails with a
# transient error leaves its worker without an end: pending until its
# retry, claims no longer pass its thread's next runs, but they had passed
# them. One whose first step failed (here: cancelled while it waited for a
# lock) has taken no step, and sg_cancel cancels it at once, without a
# worker: the run queued behind it waited for the next sweep (an hour
# here). Now the failure sends claims back to the queue's start.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use Time::HiRes qw(usleep);

my $node = preloaded_node('failure_next_run', <<'CONF');
stategraph.max_workers = 2
stategraph.sweep_interval = 3600
CONF
# (graph 'long': one step that waits until its thread is in table go)
go_graphs($node, 0);

sub executing
{
	my ($run) = @_;
	return $node->poll_query_until('postgres',
		qq{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'stategraph run $run'});
}

# 1. a worker claims run A of thread t-1, whose first step waits for a
# lock held here; run B is queued behind it
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN');
$locker->query_safe('LOCK TABLE stategraph.checkpoints IN EXCLUSIVE MODE');
my $ra = $node->safe_psql('postgres', q{SELECT sg_submit('long', '{}', 't-1')});
ok($node->poll_query_until('postgres', qq{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE application_name = 'stategraph run $ra' AND wait_event_type = 'Lock'}),
	'a worker executes A, its first step waiting');
my $rb = $node->safe_psql('postgres', q{SELECT sg_submit('long', '{}', 't-1', multitask => 'enqueue')});

# 2. the other worker claims C (passing B, queued behind a worker's run); D waits for a worker
my $rc = $node->safe_psql('postgres', q{SELECT sg_submit('long', '{}', 'c-1')});
ok(executing($rc), 'the other worker executes C, submitted after B');
my $rd = $node->safe_psql('postgres', q{SELECT sg_submit('long', '{}', 'd-1')});

# 3. A's first step is cancelled: A is pending, to be tried again after 1 s; its worker takes D
is($node->safe_psql('postgres', qq{SELECT pg_cancel_backend(pid) FROM pg_stat_activity
	WHERE application_name = 'stategraph run $ra'}), 't', "A's worker is cancelled");
ok(executing($rd), "A's worker executes D");
is($node->safe_psql('postgres', qq{SELECT status || ' ' || failures || ' ' || stepped FROM stategraph.runs WHERE run_id = '$ra'}),
	'pending 1 false', 'A is pending, its failure counted, no step taken');

# 4. A is cancelled (at once: it has taken no step); C and D end
is($node->safe_psql('postgres', qq{SELECT sg_cancel('$ra')}), 't', 'A is cancelled');
$locker->query_safe('COMMIT');
$locker->quit;
$node->safe_psql('postgres', q{INSERT INTO go VALUES ('t-1'), ('c-1'), ('d-1')});
ok($node->poll_query_until('postgres', qq{SELECT count(*) = 2 FROM sg_runs() WHERE run_id IN ('$rc', '$rd') AND status = 'success'}),
	'C and D end');

# 5. B runs now, not at the next sweep
my $status;
for (my $i = 0; $i < 300; $i++)
{
	$status = $node->safe_psql('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$rb'});
	last if $status eq 'success';
	usleep(100_000);
}
is($status, 'success', "B, the next run of A's thread, runs without waiting for the sweep");

$node->stop;
done_testing();
