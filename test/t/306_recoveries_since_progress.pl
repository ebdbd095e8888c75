# stategraph.max_run_recoveries bounds the deaths of a run's worker with no
# step committed in between (a node that crashes the server, again and
# again), not its deaths over the run's whole life. Counted over its life,
# a long run that committed steps after each death (server restarts over
# days) was abandoned (SG014) at its max_run_recoveries + 1-th death: here
# at its second, with max_run_recoveries = 1. Now a committed step starts
# the count again (the thread's head at each death is kept on the run):
# the run survives three deaths, two by kill -9 of its worker and one by
# an immediate restart, each after a committed step, and finishes. A run
# whose worker dies twice in the same step is still abandoned.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

# steps commit synchronously: a crash keeps every step that committed; a
# kill -9 of the worker restarts the server (off in TAP clusters)
my $node = preloaded_node('recoveries_since_progress',
	"stategraph.max_run_recoveries = 1\nstategraph.worker_sync_steps = on\nrestart_after_crash = on\n");
sleepy_loop_graph($node);

my $sleeping = q{SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'stategraph worker' AND wait_event = 'PgSleep'};
my $steps_done = q{SELECT count(*) FROM effects WHERE run = 'long'};

my $rid = $node->safe_psql('postgres',
	q{SELECT sg_submit('loop', '{"i": 0, "steps": 5, "sleep": 1.5}', 'long')});
my $done = 0;
for my $death (1 .. 3)
{
	ok($node->poll_query_until('postgres', "SELECT ($steps_done) > $done AND EXISTS ($sleeping)"),
		"death $death: the run has committed a step since the last death, and sleeps in the next");
	if ($death == 3)
	{
		$node->stop('immediate');
		$node->start;
	}
	else
	{
		my $pid = $node->safe_psql('postgres', $sleeping);
		like($pid, qr/^\d+$/, "death $death: its worker");
		kill 'KILL', $pid;
		$node->poll_query_until('postgres', 'SELECT true') or die 'the server did not come back';
	}
	$done = $node->safe_psql('postgres', $steps_done);
	ok($done >= $death, "death $death: after $done committed steps");
}
is($node->safe_psql('postgres', "SELECT status || ' ' || COALESCE(error->>'sqlstate', '-') FROM sg_wait('$rid', '90 s')"),
	'success -', 'max_run_recoveries 1: the run survives three deaths, each after a committed step, and finishes');
is($node->safe_psql('postgres', q{SELECT "values"->>'i' FROM sg_get_state('long')}), '5', 'all its steps done');
is($node->safe_psql('postgres', "SELECT recoveries, attempt FROM stategraph.runs WHERE run_id = '$rid'"), '1|4',
	'the deaths since its last committed step: 1; taken up three times');

# two deaths in one step, nothing committed in between: abandoned
$rid = $node->safe_psql('postgres', q{SELECT sg_submit('loop', '{"i": 0, "steps": 1, "sleep": 3}', 'stuck')});
for my $death (1 .. 2)
{
	ok($node->poll_query_until('postgres', "SELECT EXISTS ($sleeping)"), "stuck death $death: the step executes");
	my $pid = $node->safe_psql('postgres', $sleeping);
	kill 'KILL', $pid;
	$node->poll_query_until('postgres', 'SELECT true') or die 'the server did not come back';
}
is($node->safe_psql('postgres', "SELECT status || ' ' || (error->>'sqlstate') FROM sg_wait('$rid', '60 s')"),
	'error SG014', 'two deaths with no step committed in between: abandoned at the second');
is($node->safe_psql('postgres', "SELECT recoveries FROM stategraph.runs WHERE run_id = '$rid'"), '2',
	'both counted');
is($node->safe_psql('postgres', "SELECT error->>'detail' FROM stategraph.runs WHERE run_id = '$rid'"),
	'No step of the run committed between those ends.', 'the error says so');
is($node->safe_psql('postgres', q{SELECT count(*) FROM effects WHERE run = 'stuck'}), '0', 'its step never committed');

$node->stop;
done_testing();
