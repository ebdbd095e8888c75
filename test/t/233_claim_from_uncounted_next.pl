# The end of a worker's run sends claims back to its thread's next run
# (runs.c, record_step): the next run its role sees, or, for one row-level
# security hides, sg_thread_has_hidden_run. That probe (thread_ids.c,
# active_run_before) counts only runs whose role may act on the thread, so
# a hidden run of a role that may not (queued on the thread id before the
# thread existed: dave's, behind alice's run that then created it) is not
# seen: claims, which passed it while the worker held the thread, stay past
# it, and it waits for the next sweep (an hour here) instead of being taken
# (and ending: the thread is alice's) at once.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('claim_from_uncounted_next', <<'CONF');
stategraph.max_workers = 2
stategraph.sweep_interval = 3600
CONF
go_graphs($node, 1);
$node->safe_psql('postgres', q{CREATE ROLE alice; CREATE ROLE dave});

# alice's run and dave's on the new thread id n1, committed together (alice's first)
my ($alices, $daves) = split /\n/, $node->safe_psql('postgres', q{
	BEGIN;
	SET LOCAL ROLE alice; SELECT sg_submit('long', '{}', 'n1');
	SET LOCAL ROLE dave; SELECT sg_submit('long', '{}', 'n1', multitask => 'enqueue');
	COMMIT;});
ok($node->poll_query_until('postgres',
	qq{SELECT count(*) = 1 FROM stategraph.threads t, pg_stat_activity a
	   WHERE t.thread_id = 'n1' AND t.owner = 'alice' AND a.application_name = 'stategraph run $alices'}),
	"a worker executes alice's run, her thread n1 created");

# a run of another thread is taken: its claim passes dave's queued run
my $other = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{}')});
ok($node->poll_query_until('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$other'}, 'success'),
	'the run of another thread submitted after it runs');
is($node->safe_psql('postgres', qq{SELECT string_agg(owner || ':' || status, ' ' ORDER BY seq) FROM stategraph.runs
	WHERE run_id IN ('$alices', '$daves')}),
	'alice:running dave:pending', "alice's run is still running, dave's waits");

# alice's run ends: dave's is taken at once (and ends), not at the sweep
$node->safe_psql('postgres', q{INSERT INTO go VALUES ('n1')});
ok($node->poll_query_until('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$alices'}, 'success'),
	"alice's run ends");
ok($node->poll_query_until('postgres',
	qq{SELECT status NOT IN ('pending', 'running') FROM stategraph.runs WHERE run_id = '$daves'}),
	"dave's run queued behind it is taken then")
  or diag($node->safe_psql('postgres', qq{SELECT status || ' ' || coalesce(error::text, '') FROM stategraph.runs WHERE run_id = '$daves'}));

$node->stop;
done_testing();
