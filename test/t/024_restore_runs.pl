# A dump with pending background runs, restored into a fresh cluster whose
# background workers are running (review rev3life):
#   1. a restore that takes a while: the runs' rows are loaded (name order:
#      runs before threads) some seconds before the threads'. A worker
#      looked for work in between, ran the restored runs as runs of new
#      threads, and the COPY of stategraph.threads then failed on those ids
#      (23505): the restore lost every thread. Now the runs wait for the
#      restoring session to end, and then run on the restored threads.
#      External tasks, loaded before the threads too, are not claimed
#      (sg_claim) before the restore ends either.
#   2. pg_restore -j 4 of a custom dump with every kind of row (threads,
#      LangGraph.js threads, runs pending and finished, external tasks
#      queued and claimed, retention settings, rows of two roles): the
#      pending runs resume, in FIFO order, and the run sequence goes on
#      after the restored runs (stategraph.runs_seq_seq was not dumped: new
#      runs were numbered from 1, before the restored pending ones).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use IPC::Run;
use SGLifecycle;

# the source: no background workers, so that its runs stay pending
my $src = plain_node('restore_src');
$src->safe_psql('postgres', q{CREATE ROLE "Rst Alice" LOGIN; CREATE ROLE rst_bob LOGIN});
make_data($src, 'postgres');
$src->safe_psql('postgres', q{
GRANT CREATE ON SCHEMA public TO PUBLIC;
-- two runs queued on each of three interrupted threads, and one of a new thread
SELECT sg_submit('lc_chat', NULL, 'chat-' || i, resume => to_jsonb('run ' || i), multitask => 'enqueue')
FROM generate_series(9, 11) i;
SELECT sg_submit('lc_chat', '{"n": 1}', 'chat-' || i, multitask => 'enqueue') FROM generate_series(9, 11) i;
SELECT sg_submit('lc_chat', '{"n": 3}', 'fresh-1');
-- a delayed one, and a finished one
SELECT sg_submit('lc_chat', '{"n": 1}', 'later-1', after => '1 hour');
INSERT INTO stategraph.runs (run_id, thread_id, graph, input, recursion_limit, multitask, status, finished_at)
VALUES ('01a00000-0000-7000-8000-000000000001', 'chat-1', 'lc_chat', NULL, 25, 'reject', 'success', now());
SELECT sg_set_retention(NULL, '30 days');
SELECT sg_set_retention('lc_loop', '90 days', 'keep_latest', 2);
-- external tasks: one queued, one claimed
SELECT sg_create_graph('rst_ext', '{"log": "append"}');
SELECT sg_add_external_node('rst_ext', 'model', 'rq');
SELECT sg_add_edge('rst_ext', '__start__', 'model');
SELECT sg_add_edge('rst_ext', 'model', '__end__');
SELECT sg_compile('rst_ext');
SELECT sg_invoke('rst_ext', '{"log": ["q"]}', thread_id => 'ext-' || i) FROM generate_series(1, 2) i;
SELECT count(*) FROM sg_claim('rq', 'w1', lease => '1 hour');
-- a LangGraph.js thread
SELECT sg_lg_put('lg-1', '', NULL,
    '{"v": 4, "id": "1ef00000-0000-6000-8000-0000000000e1", "ts": "x", "channel_values": {"a": 1},
      "channel_versions": {"a": 1}, "versions_seen": {}}', '{"source": "input", "step": -1}', '{"a": 1}');
});
# rows of two more roles, one whose name needs quotes
$src->safe_psql('postgres', q{
SET ROLE "Rst Alice";
SELECT sg_invoke('lc_chat', '{"n": 1}', thread_id => 'alice-1');
SELECT sg_submit('lc_chat', NULL, 'alice-1', resume => '"alice"');
SET ROLE rst_bob;
SELECT sg_invoke('lc_chat', '{"n": 1}', thread_id => 'bob-1');
SELECT sg_submit('lc_chat', NULL, 'bob-1', resume => '"bob"');
});
is($src->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs WHERE status = 'pending'}), '10',
	'the source has pending runs');
my $src_seq = $src->safe_psql('postgres', q{SELECT max(seq) FROM stategraph.runs});
my $src_threads = $src->safe_psql('postgres', q{SELECT string_agg(thread_id, ',' ORDER BY thread_id) FROM stategraph.threads});
my $before = snapshot($src, 'postgres');
my $tasks = q{SELECT string_agg(format('%s %s %s %s', thread_id, status, attempt, owner), E'\n' ORDER BY thread_id) FROM stategraph.tasks};
my $runs = q{SELECT string_agg(format('%s %s %s %s', seq, thread_id, status, owner), E'\n' ORDER BY seq) FROM stategraph.runs};
my $others = q{SELECT string_agg(format('%s %s %s %s', graph, ttl, strategy, keep_last), E'\n' ORDER BY graph NULLS FIRST) FROM stategraph.retention;
               SELECT sg_lg_get_tuple('lg-1')::jsonb #>> '{channel_values,a}';
               SELECT string_agg(DISTINCT owner, ',' ORDER BY owner) FROM stategraph.threads};
my ($src_tasks, $src_runs, $src_others) = map { $src->safe_psql('postgres', $_) } ($tasks, $runs, $others);
like($src_others, qr/Rst Alice,postgres,rst_bob/, 'with rows of three roles');

my $dir = PostgreSQL::Test::Utils::tempdir();
my $roles = "$dir/roles.sql";
$src->command_ok([ 'pg_dumpall', '--roles-only', '-f', $roles, '-d', $src->connstr('postgres') ], 'pg_dumpall --roles-only');
$src->command_ok([ 'pg_dump', '-Fp', '-f', "$dir/plain.sql", '-d', $src->connstr('postgres') ], 'pg_dump plain');
$src->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/custom.dump", '-d', $src->connstr('postgres') ], 'pg_dump custom');
$src->stop;

# the target: a fresh cluster with its background workers
my $dst = sg_cluster('restore_dst');
$dst->start;
$dst->command_ok([ 'psql', '-X', '-q', '-f', $roles, '-d', $dst->connstr('postgres') ], 'roles restored');

# 1. a slow restore: the threads' rows come 12 seconds after the runs'
open(my $in, '<', "$dir/plain.sql") or die;
my $plain = do { local $/; <$in> };
close $in;
ok($plain =~ s/^(COPY stategraph\.threads )/SELECT pg_catalog.pg_sleep(12);\n$1/m, 'a pause before the threads');
ok(index($plain, 'COPY stategraph.runs ') < index($plain, 'pg_sleep(12)'), 'after the runs');
open(my $out, '>', "$dir/slow.sql") or die;
print $out $plain;
close $out;
$dst->safe_psql('postgres', 'CREATE DATABASE r_slow');
my $t0 = $dst->safe_psql('postgres', 'SELECT now()');
my ($stdout, $stderr) = ('', '');
my $h = IPC::Run::start([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', "$dir/slow.sql", '-d', $dst->connstr('r_slow') ],
	'>', \$stdout, '2>', \$stderr);
# meanwhile the external tasks are loaded (before the threads): none is
# handed out to an application's worker until the restore ends
ok($dst->poll_query_until('r_slow', q{SELECT count(*) = 2 FROM stategraph.tasks}), 'the tasks are loaded');
is($dst->safe_psql('r_slow', q{SELECT count(*) FROM sg_claim('rq', 'w9')}), '0',
	'no task is claimed during the restore');
my $ok = $h->finish;
ok($ok, 'the slow restore succeeds') or diag($stderr);
is($dst->safe_psql('r_slow', q{SELECT count(*) FROM sg_claim('rq', 'w9')}), '1', 'and then the queued task is');
is($dst->safe_psql('r_slow', q{SELECT string_agg(thread_id, ',' ORDER BY thread_id) FROM stategraph.threads WHERE thread_id <> 'fresh-1'}),
	$src_threads, 'with every thread');
is($dst->safe_psql('r_slow', qq{SELECT count(*) FROM stategraph.runs WHERE started_at < '$t0'::timestamptz + interval '12 s'}),
	'0', 'no run started during the restore');
ok($dst->poll_query_until('r_slow', q{SELECT count(*) = 0 FROM stategraph.runs WHERE status IN ('pending', 'running') AND not_before < now()}),
	'after it, the restored runs are done');
is($dst->safe_psql('r_slow', q{SELECT string_agg(thread_id || ' ' || status, ',' ORDER BY seq) FROM stategraph.runs WHERE error IS NOT NULL}),
	'', 'without errors');
is($dst->safe_psql('r_slow', q{SELECT "values" ->> 'answer' FROM sg_get_state('chat-10')}), 'run 10',
	'a restored run resumed its restored thread');

# 2. pg_restore -j 4 of the custom dump
$dst->safe_psql('postgres', 'CREATE DATABASE r_par');
$dst->command_ok([ 'pg_restore', '-j', '4', '-d', $dst->connstr('r_par'), "$dir/custom.dump" ], 'pg_restore -j 4');
my $restored_at = $dst->safe_psql('postgres', 'SELECT now()');
ok($dst->poll_query_until('r_par', q{SELECT count(*) = 0 FROM stategraph.runs WHERE status IN ('pending', 'running') AND not_before < now()}),
	'the pending runs resume after the restore');
# (the worker that CREATE EXTENSION woke had found nothing to do and slept:
# the restored runs waited until something else woke it, 10 s and more)
is($dst->safe_psql('r_par', qq{SELECT count(*) FROM stategraph.runs WHERE started_at > '$restored_at'::timestamptz + interval '4 s'}),
	'0', 'at once');
is($dst->safe_psql('r_par', q{SELECT string_agg(thread_id || ' ' || status, ',' ORDER BY seq) FROM stategraph.runs}),
	'chat-9 success,chat-10 success,chat-11 success,chat-9 interrupted,chat-10 interrupted,chat-11 interrupted,'
	. 'fresh-1 interrupted,later-1 pending,chat-1 success,alice-1 success,bob-1 success',
	'they end as they would have in the source (the delayed one waits, the finished one stays)');
is($dst->safe_psql('r_par', q{SELECT string_agg(run_id::text, ',' ORDER BY started_at) FROM stategraph.runs WHERE thread_id = 'chat-9'}),
	$dst->safe_psql('r_par', q{SELECT string_agg(run_id::text, ',' ORDER BY seq) FROM stategraph.runs WHERE thread_id = 'chat-9'}),
	'in FIFO order');
is($dst->safe_psql('r_par', q{SELECT "values" -> 'log' FROM sg_get_state('chat-9')}),
	'["a", "ask", "b", "a"]', 'the resume ran before the new input');
is($dst->safe_psql('r_par', q{SELECT string_agg(thread_id || ' ' || owner, ',' ORDER BY thread_id) FROM stategraph.runs WHERE thread_id IN ('alice-1', 'bob-1')}),
	'alice-1 Rst Alice,bob-1 rst_bob', 'runs keep their owners');
is($dst->safe_psql('r_par', q{SELECT "values" ->> 'answer' FROM sg_get_state('alice-1')}), 'alice',
	'and ran as them');
my $run = $dst->safe_psql('r_par', q{SELECT sg_submit('lc_chat', '{"n": 1}', 'after-restore')});
cmp_ok($dst->safe_psql('r_par', "SELECT seq FROM stategraph.runs WHERE run_id = '$run'"), '>', $src_seq,
	'a new run is numbered after the restored ones');
is($dst->safe_psql('r_par', "SELECT status FROM sg_wait('$run', '60 s')"), 'interrupted', 'and runs');
is($dst->safe_psql('r_par', $tasks), $src_tasks, 'external tasks are restored as they were');
is($dst->safe_psql('r_par', $others), $src_others, 'retention, LangGraph.js threads and owners too');
is($dst->safe_psql('r_par', q{SELECT count(*) FROM sg_claim('rq', 'w2') c, LATERAL sg_complete(c.task_id, c.token, '{"log": ["a"]}') x}),
	'1', 'the queued task is claimed and completed');
is($dst->safe_psql('r_par', q{SET ROLE "Rst Alice"; SELECT string_agg(thread_id, ',' ORDER BY thread_id) FROM sg_threads()}),
	'alice-1', 'a role sees its own restored threads only');

# the histories written before the dump read the same (runs have added to some threads since)
my $restored = snapshot($dst, 'r_par');
my @same = grep { !/^\(?(chat-9|chat-10|chat-11|alice-1|bob-1|ext-\d)\b/ } split /\n/, $before;
my %restored_lines = map { $_ => 1 } split /\n/, $restored;
cmp_ok(scalar(@same), '>', 50, 'many histories are untouched');
my @changed = grep { !$restored_lines{$_} } @same;
is(scalar(@changed), 0, 'every untouched history reads the same') or diag(join("\n", @changed));

$dst->stop;
done_testing();
