# A retention sweep that fails every time (here a trigger refuses the
# deletion of expired runs) is retried once per sweep_interval, not after
# every run: runs keep flowing at their usual pace, and the failure is
# logged a few times, not once per run. The usual pace is measured first,
# on the same server with nothing to sweep. The pace is the server's: the
# time from each run's submit to its end (runs' created_at, finished_at),
# which the test's own psql processes, most of the time of forty runs one
# after another, do not count in: a loaded machine slowed them during one
# measure and not the other (forty runs took 19 s, then 9.5 s), and the
# bound, which a worker held up by a backoff (seconds at a time) exceeds,
# was no bound of the worker's pace.
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
log_min_messages = debug1
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

# 40 runs one after another (each submitted, then waited for); the test's
# time for them in seconds, and the server's: the sum of each run's time
# from its submit to its end
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
	my $took = time - $start;
	return ($took, $node->safe_psql('postgres', qq{
SELECT extract(epoch FROM sum(finished_at - created_at)) FROM stategraph.runs WHERE thread_id LIKE '$prefix%'}));
}

ok($node->poll_query_until('postgres', q{SELECT true}, 't'), 'ready');
my ($usual_took, $usual) = forty_runs('u');
note(sprintf('40 runs one after another, nothing to sweep: %.1f s (the server: %.2f s)', $usual_took, $usual));

$node->safe_psql('postgres', q{
    INSERT INTO stategraph.runs (run_id, thread_id, graph, recursion_limit, multitask, status, finished_at)
    VALUES (gen_random_uuid(), 'old', 'g', 25, 'reject', 'success', now() - interval '30 days');
    CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'sweep refused'; END $$;
    CREATE TRIGGER refuse BEFORE DELETE ON stategraph.runs FOR EACH ROW EXECUTE FUNCTION refuse();
});

# the first sweep (and its failure) is due
$node->wait_for_log(qr/sweep refused/);
my ($took, $server) = forty_runs('t');
note(sprintf('40 runs one after another, the sweep failing: %.1f s (the server: %.2f s)', $took, $server));
cmp_ok($server, '<', 2 * $usual + 2, 'runs are not held up by a sweep that fails (at most twice their usual time, plus 2 s)');
my $log = slurp_file($node->logfile);
my $failures = () = $log =~ /sweep refused/g;
note("sweep failures logged: $failures");
cmp_ok($failures, '<=', 2 * (int($took / 3) + 3), 'the failing sweep is retried once per interval, not after every run');
# the worker's backoff after each failure is the first of a row (1 s):
# the iterations between two sweeps end without an error, which breaks the
# row (it once doubled with every failure of the worker's life, up to 64 s):
# three failures at least are waited for (about 3 s apart)
my $backoff = qr/backs off (\d+) ms \(unrecorded errors in a row: (\d+)\)/;
my @backoffs;
for (my $waited = 0; $waited < 90; $waited++)
{
	@backoffs = slurp_file($node->logfile) =~ /$backoff/g;
	last if @backoffs >= 2 * 3;
	sleep 1;
}
cmp_ok(scalar(@backoffs) / 2, '>=', 3, 'the worker backed off after three failing sweeps');
my %in_a_row = @backoffs;
is_deeply([ sort keys %in_a_row ], [1000], 'each failing sweep is backed off from for 1 s, not longer each time')
  or diag(explain(\@backoffs));

$node->stop;
done_testing();
