# A worker whose lease lapsed on the task's last attempt is told to go on
# while its result is still taken.
#
# A lease that expires while nobody claims the task again does not throw a
# correct result away: sg_complete accepts the late result, also once the
# attempts have run out and the lease sweep has recorded the failure (the
# failure is taken back, README). But a heartbeat that came after that sweep
# returned false, which tells a worker to stop ("cancelled, or claimed by
# another worker"): the reference worker then dropped the result it had
# paid for, and the thread stayed in error. The heartbeat of such a lost
# failure is now true (there is no lease to extend: nobody else can claim
# the task until a resume queues it again, which replaces the token), and
# false again once a resume has queued the task anew.
# No preload: nothing but this test sweeps.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('heartbeat_lost');
# one attempt: a lease that expires is the task's failure
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph;' . ext_graph_sql(q{retry => '{"max_attempts": 1}'}));

# a thread waits for its task; the worker's lease lapses, and the sweep records the failure
$node->safe_psql('postgres', q{SELECT sg_invoke('ext', '{}', 'h1')});
my ($task, $token) = split /\|/, $node->safe_psql('postgres', q{SELECT task_id, token FROM sg_claim('q', 'slow', 1, '1 millisecond')});
$node->poll_query_until('postgres', q{SELECT lease_expires_at < clock_timestamp() FROM sg_tasks('q', 'claimed')})
  or die 'the lease did not expire';
is($node->safe_psql('postgres', q{SELECT stategraph.sweep_leases()}), '1', 'the sweep finds the expired lease');
is($node->safe_psql('postgres', q{SELECT k.status || ' ' || t.status FROM sg_tasks() k JOIN sg_threads() t USING (thread_id)}),
	'failed error', 'the failure is recorded: the task failed, the thread in error');

# the worker's next heartbeat: go on, its result is still taken
is($node->safe_psql('postgres', qq{SELECT sg_heartbeat('$task', '$token')}), 't',
	"the heartbeat of the lost failure's worker says go on");
is($node->safe_psql('postgres', q{SELECT status FROM sg_tasks()}), 'failed', 'the heartbeat changes nothing: the task is still failed');
$node->safe_psql('postgres', qq{SELECT sg_complete('$task', '$token', '{"answer": 42}')});
is($node->safe_psql('postgres', q{SELECT t.status || ' ' || (s.values->>'answer') FROM sg_threads() t, sg_get_state('h1') s}),
	'done 42', 'its late result is taken: the failure taken back, the step gone on');

# a resume queues the task of a lost failure anew: its old claim's heartbeat says stop
$node->safe_psql('postgres', q{SELECT sg_invoke('ext', '{}', 'h2')});
($task, $token) = split /\|/, $node->safe_psql('postgres', q{SELECT task_id, token FROM sg_claim('q', 'slow', 1, '1 millisecond')});
$node->poll_query_until('postgres', q{SELECT lease_expires_at < clock_timestamp() FROM sg_tasks('q', 'claimed')})
  or die 'the lease did not expire';
$node->safe_psql('postgres', q{SELECT stategraph.sweep_leases()});
$node->safe_psql('postgres', q{SELECT sg_invoke('ext', NULL, 'h2')});
is($node->safe_psql('postgres', q{SELECT status FROM sg_tasks() WHERE thread_id = 'h2'}), 'queued', 'the resume queued the task again');
is($node->safe_psql('postgres', qq{SELECT sg_heartbeat('$task', '$token')}), 'f',
	"the old claim's heartbeat says stop once a resume queued the task again");

$node->stop;
done_testing();
