# A role's CALL sg_work sees only the runs row-level security shows it (its
# own, and its roles'), so the first pending run it reads is no proof that
# nothing is pending before it. Its claim moved claim_from (worker.c: where
# claims start reading the queue) past the other roles' runs due earlier,
# and the background workers left those runs until the next sweep
# (stategraph.sweep_interval, an hour here). Only a claim that sees every
# run (a worker, a superuser's or a BYPASSRLS role's CALL sg_work) may move
# it now.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use SGNode;
use Test::More;
use IPC::Run;

my $node = preloaded_node('claim_from_rls', <<'CONF');
stategraph.max_workers = 1
stategraph.sweep_interval = 3600
CONF
# graph 'loop' (SGNode) of the superuser, which alice and bob run on threads of their own
sleepy_loop_graph($node);
$node->safe_psql('postgres', q{CREATE ROLE alice; CREATE ROLE bob; GRANT INSERT, SELECT ON effects TO PUBLIC;});

# the one worker busy with a run of the superuser's for a few seconds
my $long = $node->safe_psql('postgres', q{SELECT sg_submit('loop', '{"i": 0, "steps": 1, "sleep": 3}', 'long')});
ok($node->poll_query_until('postgres', "SELECT status = 'running' FROM sg_runs() WHERE run_id = '$long'"),
	'the only worker executes a run of 3 s');

# bob's run queued first, then alice's, which takes 10 s
my $bobs = $node->safe_psql('postgres', q{SET ROLE bob; SELECT sg_submit('loop', '{"i": 0, "steps": 1, "sleep": 0}', 'b-1')});
my $alices = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('loop', '{"i": 0, "steps": 1, "sleep": 10}', 'a-1')});

# alice's CALL sg_work takes hers, the only one she sees (its sweep at the end
# would let the workers read the whole queue again: the defect lasted as long
# as her run)
my ($out, $err) = ('', '');
my $work = IPC::Run::start(
	[ 'psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
	  '-c', 'SET ROLE alice', '-c', 'CALL sg_work(max_runs => 1)' ],
	'>', \$out, '2>', \$err);
ok($node->poll_query_until('postgres', "SELECT status = 'running' FROM sg_runs() WHERE run_id = '$alices'"),
	"alice's CALL sg_work executes her run");

# once the superuser's run ends, the worker takes bob's, while alice's runs on
ok($node->poll_query_until('postgres', "SELECT status = 'success' FROM sg_runs() WHERE run_id = '$long'"),
	"the superuser's run ends");
ok($node->poll_query_until('postgres', "SELECT status <> 'pending' FROM sg_runs() WHERE run_id = '$bobs'"),
	"bob's run is taken");
$work->finish;
is("$out|$err", '|', "alice's CALL sg_work ends");
is($node->safe_psql('postgres',
		"SELECT b.started_at < a.finished_at FROM sg_runs() b, sg_runs() a WHERE b.run_id = '$bobs' AND a.run_id = '$alices'"),
	't', "the worker started bob's run before alice's ended, not when her CALL sg_work swept");
ok($node->poll_query_until('postgres', "SELECT status = 'success' FROM sg_runs() WHERE run_id = '$bobs'"),
	"bob's run succeeds");
is($node->safe_psql('postgres', q{SELECT string_agg(run || ':' || i, ' ' ORDER BY run) FROM effects}),
	'a-1:0 b-1:0 long:0', 'each run did its step once');

$node->stop;
done_testing();
