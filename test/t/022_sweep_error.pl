# A retention sweep that fails every time (here a trigger refuses the
# deletion of expired runs) is retried once per sweep_interval, not after
# every run: runs keep flowing at their usual pace, and the failure is
# logged a few times, not once per run. The usual pace is measured first,
# on the same server with nothing to sweep, so that a loaded machine slows
# both measures alike.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use Time::HiRes qw(time);

my $node = preloaded_node('sweeperr', qq{
stategraph.sweep_interval = 3
stategraph.max_workers = 1
});
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION n1(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
    SELECT sg_create_graph('g', '{"n": "replace"}');
    SELECT sg_add_node('g', 'a', 'n1(jsonb)');
    SELECT sg_add_edge('g', '__start__', 'a');
    SELECT sg_add_edge('g', 'a', '__end__');
    SELECT sg_compile('g');
});

# 40 runs one after another (each submitted, then waited for); their time in seconds
sub forty_runs
{
	my ($prefix) = @_;
	my $start = time;
	for my $i (1 .. 40)
	{
		my $run = $node->safe_psql('postgres', "SELECT sg_submit('g', '{}', '$prefix$i')");
		my $status = $node->safe_psql('postgres', "SELECT status FROM sg_wait('$run', interval '60 s')");
		if ($status ne 'success')
		{
			fail("run $prefix$i: $status");
			last;
		}
	}
	return time - $start;
}

ok($node->poll_query_until('postgres', q{SELECT true}, 't'), 'ready');
my $usual = forty_runs('u');
note(sprintf('40 runs one after another, nothing to sweep: %.1f s', $usual));

$node->safe_psql('postgres', q{
    INSERT INTO stategraph.runs (run_id, thread_id, graph, recursion_limit, multitask, status, finished_at)
    VALUES (gen_random_uuid(), 'old', 'g', 25, 'reject', 'success', now() - interval '30 days');
    CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'sweep refused'; END $$;
    CREATE TRIGGER refuse BEFORE DELETE ON stategraph.runs FOR EACH ROW EXECUTE FUNCTION refuse();
});

sleep 4;	# the first sweep (and its failure) is due
my $took = forty_runs('t');
note(sprintf('40 runs one after another, the sweep failing: %.1f s', $took));
cmp_ok($took, '<', 2 * $usual + 2, 'runs are not held up by a sweep that fails (at most twice their usual time, plus 2 s)');
my $log = slurp_file($node->logfile);
my $failures = () = $log =~ /sweep refused/g;
note("sweep failures logged: $failures");
cmp_ok($failures, '<=', 2 * (int($took / 3) + 3), 'the failing sweep is retried once per interval, not after every run');

$node->stop;
done_testing();
