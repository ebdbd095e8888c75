# A hot standby of a server whose background runs are in flight: no
# stategraph process starts there (the launcher waits for the end of
# recovery), the reads of runs, tasks and LangGraph.js checkpoints work,
# sg_wait returns when the primary's end of the run has been replayed, and
# what would write (a submit, a claim, a cancel, CALL sg_work, a sweep)
# fails with 25006. Promoted, the standby executes the runs left in
# flight and the queued and delayed ones, without a restart.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGLifecycle;
use SGNode;

my $primary = sg_cluster('primary', allows_streaming => 1);
$primary->append_conf('postgresql.conf', "stategraph.max_workers = 2\n");
$primary->start;
sleepy_loop_graph($primary);
lg_chain_put($primary);
$primary->safe_psql('postgres', ext_graph_sql() . q{SELECT lgput('lg1', 1); SELECT lgput('lg1', 2);});
# two runs of 8 one-second steps take both workers; one waits behind them
# and is in flight when the primary is lost
my @long = map {
	$primary->safe_psql('postgres', qq{SELECT sg_submit('loop', '{"i": 0, "steps": 8, "sleep": 1}', 't$_')})
} 1 .. 3;
my $short = $primary->safe_psql('postgres',
	q{SELECT sg_submit('loop', '{"i": 0, "steps": 1, "sleep": 0}', 'quick')});
my $delayed = $primary->safe_psql('postgres',
	q{SELECT sg_submit('loop', '{"i": 0, "steps": 1, "sleep": 0}', 'delayed', after => '15 seconds')});
ok($primary->poll_query_until('postgres', q{SELECT count(*) = 2 FROM sg_runs() WHERE status = 'running'}),
	'two runs are in flight on the primary');

$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'stategraph%'}),
	'0', 'no stategraph process on the standby');
like($standby->safe_psql('postgres', q{SELECT string_agg(DISTINCT status, ',' ORDER BY status) FROM sg_runs()}),
	qr/pending/, 'sg_runs reads the runs on the standby');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM sg_tasks()}), '0', 'so does sg_tasks');
is($standby->safe_psql('postgres', q{SELECT sg_lg_get_tuple('lg1') -> 'checkpoint' ->> 'id'}),
	'1ef00000-0000-6000-8000-000000000002', 'and sg_lg_get_tuple');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM sg_lg_list('lg1')}), '2', 'and sg_lg_list');
is($standby->safe_psql('postgres', qq{SELECT status FROM sg_wait('$short', '60 seconds')}), 'success',
	'sg_wait on the standby returns a run the primary ended');
is($standby->safe_psql('postgres', qq{SELECT status FROM sg_wait('$long[0]', '60 seconds')}), 'success',
	'and one that the primary ends while it waits');

for my $write (
	q{SELECT sg_submit('loop', '{"i": 0, "steps": 1, "sleep": 0}', 'standby-run')},
	q{SELECT * FROM sg_claim('q', 'w1')},
	qq{SELECT sg_cancel('$long[2]')},
	q{SELECT stategraph.sweep_leases()},
	q{CALL sg_work(max_time => '1 second')})
{
	my ($rc, $out, $err) = $standby->psql('postgres', "\\set VERBOSITY verbose\n$write");
	like($err, qr/ERROR:  25006/, "25006 on the standby: $write");
}

unlike(slurp_file($standby->logfile), qr/stategraph (launcher|worker)/,
	'the standby\'s log says nothing of stategraph\'s processes');

# the primary is lost with runs in flight
like($standby->safe_psql('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$long[2]'}),
	qr/^(pending|running)$/, 'the third long run is not over yet');
$primary->stop('immediate');
$standby->promote;
ok($standby->poll_query_until('postgres', q{
	SELECT count(*) = 0 FROM sg_runs() WHERE status IN ('pending', 'running')}),
	'promoted, the standby executes the runs left in flight and the delayed one')
  or diag($standby->safe_psql('postgres', q{SELECT thread_id, status, attempt, error FROM sg_runs()}));
is($standby->safe_psql('postgres', q{SELECT string_agg(DISTINCT status, ',') FROM sg_runs()}),
	'success', 'each ended in success');
is($standby->safe_psql('postgres', q{
	SELECT string_agg(t.thread_id || '=' || (s."values"->>'i'), ',' ORDER BY t.thread_id)
	FROM sg_threads() t, LATERAL sg_get_state(t.thread_id) s WHERE t.thread_id LIKE 't_'}),
	't1=8,t2=8,t3=8', 'each long run took its eight steps');
$standby->stop;
done_testing();
