# On a hot standby every write entry point of stategraph failed with 25006,
# but the error named one of its internal statements ("cannot execute
# SELECT FOR UPDATE in a read-only transaction", "cannot execute INSERT in
# a read-only transaction") and its CONTEXT showed stategraph's own SQL.
# Each write entry point now checks first, as PostgreSQL's own commands do
# (PreventCommandDuringRecovery): 25006, "cannot execute sg_submit during
# recovery", before any statement of its own. The reads (sg_get_state,
# sg_runs, sg_wait, sg_lg_get_tuple, sg_export_thread, sg_invoke and
# sg_stream without a thread, ...) still work there. (The same check in a
# read-only transaction on a primary: pg_regress read_only_writes.)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGLifecycle;
use SGNode;

my $primary = sg_cluster('primary', allows_streaming => 1);
$primary->append_conf('postgresql.conf', "stategraph.max_workers = 1\n");
$primary->start;
make_data($primary, 'postgres');
lg_chain_put($primary);
$primary->safe_psql('postgres', ext_graph_sql() . q{
	SELECT lgput('lg1', 1); SELECT lgput('lg1', 2);
	CREATE ROLE sg_old; CREATE ROLE sg_new;});
# a run that waits for an external task: a task to heartbeat, complete, fail
my $run = $primary->safe_psql('postgres', q{SELECT sg_submit('ext', '{"answer": "?"}', 'ext-1')});
ok($primary->poll_query_until('postgres', q{SELECT count(*) = 1 FROM sg_tasks('q')}),
	'the run waits for its external task');
my $task = $primary->safe_psql('postgres', q{SELECT task_id FROM sg_tasks('q')});
my $done = $primary->safe_psql('postgres', q{SELECT sg_submit('lc_loop', '{"n": 1}', 'loop-1')});
my $ended = $primary->safe_psql('postgres', qq{SELECT status FROM sg_wait('$done', '60 seconds')});
like($ended, qr/^(success|interrupted)$/, 'a run of the primary ends');

$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
my $export = $standby->safe_psql('postgres', q{SELECT sg_export_thread('chat-1')::text});
like($export, qr/chat-1/, 'sg_export_thread works on the standby');
$export =~ s/'/''/g;
my $token = '00000000-0000-4000-8000-000000000001';

# [name in the message, statement]
my @writes = (
	[ 'sg_submit', q{SELECT sg_submit('lc_loop', '{"n": 1}', 'standby-run')} ],
	[ 'sg_submit', q{SELECT sg_submit('lc_loop', '{"n": 1}')} ],
	[ 'sg_claim', q{SELECT * FROM sg_claim('q', 'w1')} ],
	[ 'sg_cancel', qq{SELECT sg_cancel('$run')} ],
	[ 'sg_complete', qq{SELECT sg_complete('$task', '$token', '{"answer": "!"}')} ],
	[ 'sg_fail', qq{SELECT sg_fail('$task', '$token', '{"message": "no"}')} ],
	[ 'sg_heartbeat', qq{SELECT sg_heartbeat('$task', '$token')} ],
	[ 'sg_interrupt_task', qq{SELECT sg_interrupt_task('$task', '$token', '"why?"')} ],
	[ 'sg_work', q{CALL sg_work(max_time => '1 second')} ],
	[ 'sg_invoke with a thread_id', q{SELECT sg_invoke('lc_chat', '{"n": 1}', thread_id => 'standby-1')} ],
	[ 'sg_invoke with a thread_id', q{SELECT sg_invoke('lc_chat', NULL, thread_id => 'chat-12', resume => '"x"')} ],
	[ 'sg_stream with a thread_id', q{SELECT * FROM sg_stream('lc_loop', '{"n": 1}', thread_id => 'standby-2')} ],
	[ 'sg_run', q{CALL sg_run('lc_chat', '{"n": 1}', 'standby-3')} ],
	[ 'sg_update_state', q{SELECT sg_update_state('chat-1', '{"n": 5}')} ],
	[ 'sg_fork', q{SELECT sg_fork('chat-1', (SELECT checkpoint_id FROM sg_get_state('chat-1')), 'chat-copy')} ],
	[ 'sg_delete_thread', q{SELECT sg_delete_thread('chat-1')} ],
	[ 'sg_prune', q{SELECT sg_prune(keep_last => 1, thread_id => 'chat-1')} ],
	[ 'sg_prune', q{SELECT sg_prune(older_than => '1 day')} ],
	[ 'sg_import_thread', qq{SELECT sg_import_thread('$export', 'chat-imported')} ],
	[ 'sg_set_retention', q{SELECT sg_set_retention('lc_chat', '1 day')} ],
	[ 'sg_create_graph', q{SELECT sg_create_graph('standby_graph', '{"n": "add"}')} ],
	[ 'sg_add_node', q{SELECT sg_add_node('lc_loop', 'new', 'lc_step(jsonb,jsonb)')} ],
	[ 'sg_add_external_node', q{SELECT sg_add_external_node('lc_loop', 'new', 'q')} ],
	[ 'sg_add_edge', q{SELECT sg_add_edge('lc_loop', 'a', 'c')} ],
	[ 'sg_add_edge', q{SELECT sg_add_edge('lc_loop', ARRAY['a', 'c'], 'join')} ],
	[ 'sg_add_conditional_edges', q{SELECT sg_add_conditional_edges('lc_loop', 'a', 'lc_more(jsonb)')} ],
	[ 'sg_compile', q{SELECT sg_compile('lc_chat')} ],
	[ 'sg_drop_graph', q{SELECT sg_drop_graph('lc_chat')} ],
	[ 'sg_lg_put', q{SELECT sg_lg_put('lg1', '', '1ef00000-0000-6000-8000-000000000002',
		'{"v": 4, "id": "1ef00000-0000-6000-8000-000000000003", "ts": "x", "channel_values": {},
		  "channel_versions": {}, "versions_seen": {}}', '{}', '{}')} ],
	[ 'sg_lg_put_writes', q{SELECT sg_lg_put_writes('lg1', '', '1ef00000-0000-6000-8000-000000000002', 'task-1',
		'[["m", 1]]')} ],
	[ 'sg_lg_delete_thread', q{SELECT sg_lg_delete_thread('lg1')} ],
	[ 'sg_lg_prune', q{SELECT sg_lg_prune(ARRAY['lg1'])} ],
	[ 'sg_lg_copy_thread', q{SELECT sg_lg_copy_thread('lg1', 'lg2')} ],
	[ 'sg_lg_delete_for_runs', q{SELECT sg_lg_delete_for_runs(ARRAY['r1'])} ],
	[ 'sg_reassign_owned', q{SELECT sg_reassign_owned('sg_old', 'sg_new')} ],
	[ 'stategraph.sweep_leases', q{SELECT stategraph.sweep_leases()} ],
	[ 'stategraph.adopt_runs', q{SELECT stategraph.adopt_runs('[]')} ],
	[ 'sg_import_thread', qq{SELECT stategraph.import_visitor('$export', 'chat-visit')} ]);

my $n = $standby->safe_psql('postgres', q{SELECT (SELECT count(*) FROM stategraph.checkpoints) || '/' ||
	(SELECT count(*) FROM stategraph.runs) || '/' || (SELECT count(*) FROM stategraph.lg_checkpoints)});
for my $w (@writes)
{
	my ($name, $sql) = @$w;
	my $label = length($sql) > 90 ? substr($sql, 0, 90) . '...' : $sql;
	my ($rc, $out, $err) = $standby->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	like($err, qr/ERROR:  25006: cannot execute \Q$name\E during recovery\n/, "$name refused up front: $label");
	# sg_reassign_owned is PL/pgSQL: its context is its call of the check
	$err =~ s/^CONTEXT:  SQL statement "SELECT stategraph.reassign_hold\(old_role, new_role\)"\n//m;
	unlike($err, qr/QUERY:|SQL statement|SELECT FOR|INSERT|UPDATE|DELETE|stategraph\.(runs|tasks|checkpoints|threads|graphs|lg_)/,
		"no internal statement in the error: $label");
}
is($standby->safe_psql('postgres', q{SELECT (SELECT count(*) FROM stategraph.checkpoints) || '/' ||
	(SELECT count(*) FROM stategraph.runs) || '/' || (SELECT count(*) FROM stategraph.lg_checkpoints)}),
	$n, 'nothing changed');

# the reads work on the standby
is($standby->safe_psql('postgres', q{SELECT "values" ->> 'n' IS NOT NULL FROM sg_get_state('chat-1')}), 't',
	'sg_get_state');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM sg_get_state_history('chat-1', "limit" => 2)}), '2',
	'sg_get_state_history');
is($standby->safe_psql('postgres', q{SELECT status FROM sg_threads() WHERE thread_id = 'chat-12'}),
	'interrupted', 'sg_threads');
is($standby->safe_psql('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$done'}), $ended, 'sg_runs');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM sg_tasks('q')}), '1', 'sg_tasks');
is($standby->safe_psql('postgres', qq{SELECT status FROM sg_wait('$done', '10 seconds')}), $ended, 'sg_wait');
is($standby->safe_psql('postgres', q{SELECT sg_lg_get_tuple('lg1') -> 'checkpoint' ->> 'id'}),
	'1ef00000-0000-6000-8000-000000000002', 'sg_lg_get_tuple');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM sg_lg_list('lg1')}), '2', 'sg_lg_list');
like($standby->safe_psql('postgres', q{SELECT sg_draw('lc_loop', 'dot')}), qr/^digraph/, 'sg_draw');
like($standby->safe_psql('postgres', q{SELECT sg_invoke('lc_loop', '{"n": 2}')::text}), qr/"w3"/,
	'sg_invoke without a thread');
like($standby->safe_psql('postgres', q{SELECT string_agg(node, ',') FROM sg_stream('lc_loop', '{"n": 3}')}),
	qr/worker/, 'sg_stream without a thread');

$standby->stop;
$primary->stop;
done_testing();
