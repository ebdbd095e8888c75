# Durable runs survive crashes: CALL sg_run commits every super-step with the
# database writes of its nodes, so killing the server at any moment leaves
# each thread at its last committed step, and resuming it finishes the run
# with every node's effect applied exactly once.
#
# The graph loops a node 30 times; the node records its effect in a table.
# Runs are started in the background and the server is killed at random
# moments, either by kill -9 of the running backend (the postmaster then
# restarts every backend) or by an immediate shutdown; then the runs resume.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $crashes = $ENV{SG_CRASHES} // 20;
my $threads = 6;
my $steps = 30;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', "restart_after_crash = on\n");
$node->start;

$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE effects (thread text, step int, node text, at timestamptz DEFAULT clock_timestamp());
    CREATE FUNCTION work(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO effects (thread, step, node) VALUES (config->>'thread_id', (config->>'step')::int, config->>'node');
        PERFORM pg_sleep(0.02);
        RETURN jsonb_build_object('n', (state->>'n')::int + 1, 'log', jsonb_build_array((state->>'n')::int + 1));
    END $$;
    CREATE FUNCTION more(state jsonb) RETURNS text LANGUAGE sql
        AS $$ SELECT CASE WHEN (state->>'n')::int < 30 THEN 'work' ELSE '__end__' END $$;
    SELECT sg_create_graph('loop', '{"n": "replace", "log": "append"}');
    SELECT sg_add_node('loop', 'work', 'work(jsonb,jsonb)');
    SELECT sg_add_edge('loop', '__start__', 'work');
    SELECT sg_add_conditional_edges('loop', 'work', 'more(jsonb)', '["work", "__end__"]');
    SELECT sg_compile('loop');
});

sub thread_exists
{
	my ($t) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM stategraph.threads WHERE thread_id = '$t'") eq '1';
}

sub thread_done
{
	my ($t) = @_;
	return thread_exists($t)
	  && $node->safe_psql('postgres', "SELECT next = '{}' FROM sg_get_state('$t')") eq 't';
}

# the statement that starts or resumes thread $t
sub run_sql
{
	my ($t) = @_;
	return thread_exists($t)
	  ? "CALL sg_run('loop', NULL, '$t', recursion_limit => 100)"
	  : "CALL sg_run('loop', '{\"n\": 0}', '$t', recursion_limit => 100)";
}

sub wait_until_up
{
	# poll_query_until gives psql its query on stdin: a psql that the server,
	# still in recovery, turns away can exit before reading it, and IPC::Run
	# then dies of a broken pipe. That only means "not up yet": ask again.
	for (1 .. 100)
	{
		my $up = eval { $node->poll_query_until('postgres', 'SELECT true') };
		return if $up;
		die "the server did not come back" if defined $up;
		usleep(100_000);
	}
	die "the server did not come back";
}

my $killed = 0;
my $midrun = 0;		# crashes after which the thread was part way through
for my $i (1 .. $crashes)
{
	my @open = grep { !thread_done($_) } map { "t$_" } 1 .. $threads;
	last unless @open;
	my $t = $open[ int(rand(@open)) ];
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', run_sql($t) ],
		'>', \$out, '2>', \$err);

	# let it run for a random while, then kill it
	usleep(int(50_000 + rand(250_000)));
	if ($i % 2)
	{
		my $pid = $node->safe_psql('postgres',
			"SELECT pid FROM pg_stat_activity WHERE query LIKE 'CALL sg_run%' AND pid <> pg_backend_pid()");
		if ($pid =~ /^\d+$/)
		{
			kill 'KILL', $pid;
			$killed++;
		}
		$h->finish;
		wait_until_up();
	}
	else
	{
		$node->stop('immediate');
		$h->finish;
		$node->start;
		$killed++;
	}
	$midrun++ if thread_exists($t) && !thread_done($t);
}
ok($killed >= $crashes / 2, "killed the server or a running backend $killed times");
ok($midrun >= 1, "$midrun of the crashes left a thread part way through its run");

# finish every thread without interruptions
for my $t (map { "t$_" } 1 .. $threads)
{
	my $tries = 0;
	until (thread_done($t) || $tries++ > 3)
	{
		$node->safe_psql('postgres', run_sql($t));
	}
	ok(thread_done($t), "thread $t finished");
}

# what every thread holds: the right final state, a history with contiguous
# steps and a linear parent chain, and each loop step's effect exactly once
for my $t (map { "t$_" } 1 .. $threads)
{
	is($node->safe_psql('postgres', "SELECT \"values\"->>'n', jsonb_array_length(\"values\"->'log') FROM sg_get_state('$t')"),
		"$steps|$steps", "$t: the final state counts $steps steps");
	is($node->safe_psql('postgres', qq{
		SELECT count(*) = max(step) + 2 AND min(step) = -1 AND count(DISTINCT step) = count(*)
		FROM sg_get_state_history('$t')}),
		't', "$t: steps -1..N, each once");
	is($node->safe_psql('postgres', qq{
		SELECT bool_and(parent_checkpoint_id IS NOT DISTINCT FROM p)
		FROM (SELECT parent_checkpoint_id, lead(checkpoint_id) OVER () AS p FROM sg_get_state_history('$t')) h}),
		't', "$t: each checkpoint's parent is the one before it");
	is($node->safe_psql('postgres', qq{SELECT count(*) FROM effects WHERE thread = '$t'}),
		$steps, "$t: the node's effect is in the table once per step, $steps times");
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM (SELECT step FROM effects WHERE thread = '$t' GROUP BY step HAVING count(*) > 1) d}),
		'0', "$t: no step's effect was applied twice");
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM sg_get_state_history('$t') h
		WHERE h.source = 'loop' AND h.step >= 1
		  AND NOT EXISTS (SELECT 1 FROM effects e WHERE e.thread = '$t' AND e.step = h.step)}),
		'0', "$t: every stored step has its effect (none lost)");
	is($node->safe_psql('postgres', qq{SELECT status FROM sg_threads() WHERE thread_id = '$t'}),
		'done', "$t: status done");
}

$node->stop;
done_testing();
