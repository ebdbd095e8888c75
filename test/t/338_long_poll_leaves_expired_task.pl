# A long poll (sg_claim with wait) looks for work again and again in one
# transaction, open for the whole wait. Its looks swept its queue's expired
# leases in that transaction: the task queued again after its backoff
# stayed locked, and requeued, until the poll returned. The worker that
# lost its lease, late but with a result, was held up by it: sg_complete
# waited for the poll and then failed SG010 once the poll claimed the task
# after its backoff (the README promises a late result is taken while
# nobody has claimed the task again); its heartbeat, and new input for the
# thread, waited for the poll's whole wait. Now a look that claims nothing
# is rolled back, and a long poll sweeps only expired tasks whose backoff
# (from the lease's end) is over, which it claims at the same look.
# No background sweep here (sweep_interval 1d): what the poll does alone.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use IPC::Run;
use Time::HiRes qw(time);

my $node = preloaded_node('long_poll_expired', "stategraph.sweep_interval = '1d'\n");
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    SELECT sg_create_graph('gm', '{"a": "replace"}');
    SELECT sg_add_external_node('gm', 'n', 'qm', '{"max_attempts": 3, "backoff_ms": 60000}', '1 s');
    SELECT sg_add_edge('gm', '__start__', 'n');
    SELECT sg_add_edge('gm', 'n', '__end__');
    SELECT sg_compile('gm');
    SELECT sg_create_graph('gs', '{"a": "replace"}');
    SELECT sg_add_external_node('gs', 'n', 'qs', '{"max_attempts": 3, "backoff_ms": 500}', '1 s');
    SELECT sg_add_edge('gs', '__start__', 'n');
    SELECT sg_add_edge('gs', 'n', '__end__');
    SELECT sg_compile('gs');
    SELECT sg_invoke('gm', '{}', 'm1') IS NOT NULL;
    SELECT sg_invoke('gm', '{}', 'm2') IS NOT NULL;
    SELECT sg_invoke('gm', '{}', 'm3') IS NOT NULL;
});

# worker A claims the three tasks, and its leases lapse
my %tok = map { split /\|/ } split /\n/, $node->safe_psql('postgres',
	q{SELECT thread_id || '|' || task_id || ' ' || token FROM sg_claim('qm', 'A', 3)});
is(scalar(keys %tok), 3, 'worker A claimed the three tasks');
sleep 2;

# worker B long-polls the queue
sub long_poll
{
	my ($queue, $worker, $out) = @_;
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-At', '-d', $node->connstr('postgres'), '-c',
		  "SELECT thread_id || '|' || attempt FROM sg_claim('$queue', '$worker', 1, wait => '20 s')" ],
		'>', $out, '2>', \my $err);
	$node->poll_query_until('postgres',
		qq{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event_type = 'Extension' AND query LIKE '%$worker%'})
	  or die 'the claim does not wait';
	return $h;
}
my $out = '';
my $poll = long_poll('qm', 'B', \$out);
sleep 1;	# (some looks, each with its sweep)

# each of A's calls, timed: none waits for the poll
sub timed
{
	my ($sql) = @_;
	my $t0 = time;
	my ($rc, $stdout, $stderr) = $node->psql('postgres', "SET statement_timeout = '5 s'; $sql");
	return ($stdout, $stderr, time - $t0);
}
my ($task, $token) = split / /, $tok{m1};
my ($res, $err, $s) = timed(qq{SELECT sg_complete('$task', '$token', '{"a": "A result"}') IS NULL});
is($err, '', 'the late completion during the long poll is accepted');
cmp_ok($s, '<', 2, sprintf('and at once (%.2f s)', $s));
is($node->safe_psql('postgres', q{SELECT status FROM sg_threads() WHERE thread_id = 'm1'}), 'done',
	'its step went on');

($task, $token) = split / /, $tok{m2};
($res, $err, $s) = timed(qq{SELECT sg_heartbeat('$task', '$token')});
is("$res$err", 't', 'the heartbeat of the lapsed claim says go on');
cmp_ok($s, '<', 2, sprintf('at once (%.2f s)', $s));

($res, $err, $s) = timed(q{SELECT sg_invoke('gm', '{"a": "new"}', 'm3') ? '__waiting__'});
is("$res$err", 't', 'new input for the third thread is taken');
cmp_ok($s, '<', 2, sprintf('at once (%.2f s)', $s));

$poll->finish;
is($out, "m3|1\n", 'the poll took the task of the new input (the lapsed ones are in a backoff of a minute)');
is($node->safe_psql('postgres',
	q{SELECT string_agg(thread_id || ' ' || status || ' ' || coalesce(worker, '-'), ', ' ORDER BY thread_id, status) FROM stategraph.tasks}),
	'm1 completed A, m2 claimed A, m3 cancelled A, m3 claimed B',
	'the tasks: the late result, the claim its heartbeat took back, the one the new input left, its own');

# a long poll still takes a task of its queue whose lease lapsed, once its backoff is over
$node->safe_psql('postgres', q{SELECT sg_invoke('gs', '{}', 's1') IS NOT NULL});
$node->safe_psql('postgres', q{SELECT count(*) FROM sg_claim('qs', 'A', 1)});
my $t0 = time;
$out = '';
$poll = long_poll('qs', 'C', \$out);
$poll->finish;
is($out, "s1|2\n", 'the long poll claimed the task whose lease lapsed (attempt 2)');
cmp_ok(time - $t0, '<', 10, 'once its backoff was over, not at the end of its wait');

# a look that cancels a stale task (its graph dropped and created again by
# another role, whose compile could not see the task) ends the poll with
# no task: its cancel is kept, and must not stay locked while it waits
$node->safe_psql('postgres', q{
    CREATE ROLE carol; CREATE ROLE bob;
    SET ROLE carol;
    SELECT sg_create_graph('gx', '{"a": "replace"}');
    SELECT sg_add_external_node('gx', 'n', 'qx');
    SELECT sg_add_edge('gx', '__start__', 'n');
    SELECT sg_add_edge('gx', 'n', '__end__');
    SELECT sg_compile('gx');
    SET ROLE bob;
    SELECT sg_invoke('gx', '{}', 'x1') IS NOT NULL;
    SET ROLE carol;
    SELECT sg_drop_graph('gx');
    SELECT sg_create_graph('gx', '{"a": "replace"}');
    SELECT sg_add_external_node('gx', 'n', 'qx');
    SELECT sg_add_edge('gx', '__start__', 'n');
    SELECT sg_add_edge('gx', 'n', '__end__');
    SELECT sg_compile('gx');
});
$t0 = time;
my ($rc, $stdout, $stderr) = $node->psql('postgres',
	q{SET ROLE bob; SELECT count(*) FROM sg_claim('qx', 'B', 1, wait => '20 s')});
is("$stdout$stderr", '0', 'the long poll that found the task stale returned no task');
cmp_ok(time - $t0, '<', 10, 'at once, not at the end of its wait');
is($node->safe_psql('postgres', q{SELECT t.status || ' ' || h.status FROM stategraph.tasks t JOIN stategraph.threads h USING (thread_id) WHERE thread_id = 'x1'}),
	'cancelled idle', 'the task is cancelled and its thread idle');

done_testing();
