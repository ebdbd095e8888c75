# A retention sweep that fails every time (here a trigger refuses the
# deletion of expired runs) is retried once per sweep_interval, not after
# every run: runs keep flowing at their usual pace, and the failure is
# logged a few times, not once per run.
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
    INSERT INTO stategraph.runs (run_id, thread_id, graph, recursion_limit, multitask, status, finished_at)
    VALUES (gen_random_uuid(), 'old', 'g', 25, 'reject', 'success', now() - interval '30 days');
    CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'sweep refused'; END $$;
    CREATE TRIGGER refuse BEFORE DELETE ON stategraph.runs FOR EACH ROW EXECUTE FUNCTION refuse();
});

ok($node->poll_query_until('postgres', q{SELECT true}, 't'), 'ready');
sleep 4;	# the first sweep (and its failure) is due
my $start = time;
for my $i (1 .. 40)
{
	my $run = $node->safe_psql('postgres', "SELECT sg_submit('g', '{}', 't$i')");
	my $status = $node->safe_psql('postgres', "SELECT status FROM sg_wait('$run', interval '60 s')");
	if ($status ne 'success')
	{
		fail("run $i: $status");
		last;
	}
}
my $took = time - $start;
note(sprintf('40 runs one after another: %.1f s', $took));
cmp_ok($took, '<', 10, 'runs are not held up by a sweep that fails');
my $log = slurp_file($node->logfile);
my $failures = () = $log =~ /sweep refused/g;
note("sweep failures logged: $failures");
cmp_ok($failures, '<=', 2 * (int($took / 3) + 3), 'the failing sweep is retried once per interval, not after every run');

$node->stop;
done_testing();
