# stategraph_router.move_partition when it is stopped, or misdirected:
#
#  - a move whose last step (deleting the old server's copies) fails is
#    finished by the next call for that partition, as README says ("calling
#    it again goes on from where it stopped"): before, the partition already
#    pointed at the new server, the call returned at once, and the old
#    copies stayed there for ever;
#  - a move to a database of the cluster under a connection string written
#    differently is refused: before, a move to the partition's own database
#    "copied" each thread onto itself, switched, and deleted them all (and
#    one to another partition's database made calls for every server reach
#    it twice);
#  - a move stopped while copying and then sent to another server deletes
#    the partial copies it left on the first (before, they stayed there);
#  - LangGraph.js threads: an export imported through the router without a
#    thread_id lands on the server its id hashes to (before, on a random
#    one, where the router never looked for it again), and a move carries
#    them with the partition (before, they stayed behind, unreachable);
#  - while a server is down, calls for the threads of the others go on:
#    sg_update_state from a checkpoint of the thread itself (it asks only
#    the thread's server), sg_wait, CALL sg_run, sg_claim and sg_complete
#    (they ask every server for the run or task, and the servers that
#    answer are enough when one of them holds it);
#  - sg_fork of an input checkpoint into a thread of another server resumes
#    as on one server, running the input again;
#  - sg_claim's bad arguments are the errors a server gives.
#
# One server holds the router database and two shard databases (PL/Proxy
# reaches each by its connection string, as it would another server).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

# four partitions: 0 and 2 on shard_a, 1 and 3 on shard_b
my ($node, %conn) = router_node('moves', shards => [ 'shard_a', 'shard_b' ],
	shard_sql => q{CREATE FUNCTION noop(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;});
my ($host, $port) = ($node->host, $node->port);
sub r { return $node->safe_psql('router', $_[0]); }
# the threads on a shard database (of one partition), LangGraph.js threads too
sub threads_on
{
	return $node->safe_psql($_[0], "SELECT count(*) FROM (SELECT thread_id FROM stategraph.threads
		  UNION SELECT thread_id FROM stategraph.lg_checkpoints) t"
		  . (defined $_[1] ? " WHERE (hashtext(thread_id) & 3) = $_[1]" : ''));
}

r(q{SELECT sg_create_graph('counter', '{"log": "append"}');
	SELECT sg_add_node('counter', 'noop', 'noop(jsonb)');
	SELECT sg_add_edge('counter', '__start__', 'noop');
	SELECT sg_add_edge('counter', 'noop', '__end__');
	SELECT sg_compile('counter');});
r(q{SELECT count(sg_invoke('counter', '{"log": [1]}', 'm-' || i)) FROM generate_series(1, 40) i});
is(r('SELECT count(*) FROM sg_threads()'), '40', '40 threads through the router');

# 8 LangGraph.js threads, each put on the server its id hashes to (as an
# application that routes its saver by thread does), then exported through
# the router, deleted, and imported back without naming the thread
put_lg_threads($node, 1 .. 8);
is(r('SELECT count(*) FROM sg_threads()'), '48', 'the router lists the LangGraph.js threads too');
r(q{CREATE TABLE lg_exports AS SELECT sg_export_thread('lg-' || i) AS e FROM generate_series(1, 8) i;
	SELECT sg_delete_thread('lg-' || i) FROM generate_series(1, 8) i;});
is(r('SELECT count(*) FROM sg_threads()'), '40', 'deleted through the router');
r(q{SELECT sg_import_thread(e) FROM lg_exports});
is(r(q{SELECT count(*) FROM generate_series(1, 8) i WHERE (sg_get_state('lg-' || i))."values" = jsonb_build_object('x', jsonb_build_array(i))}),
	'8', 'imported through the router without a thread_id, each reads back through the router');
is(r('SELECT count(*) FROM sg_threads()'), '48', 'and is listed');
# sg_fork does not fork a LangGraph.js thread: across servers the router's
# error is a server's (before: 'checkpoint ... does not exist in thread "<NULL>"')
my $lg_cp = r(q{SELECT checkpoint_id FROM sg_get_state('lg-1')});
my $lg_to = r(q{SELECT t FROM generate_series(1, 50) i, LATERAL (SELECT 'lg-fork-' || i AS t) x
	WHERE stategraph_router.shard_of(t) <> stategraph_router.shard_of('lg-1') LIMIT 1});
my ($lrc, $lout, $lerr) = $node->psql('router', "SELECT sg_fork('lg-1', '$lg_cp', '$lg_to')");
like($lerr, qr/REMOTE ERROR: thread "lg-1" is a LangGraph.js thread/, 'sg_fork of a LangGraph.js thread across servers: the error of one server (42809)');
is(r('SELECT count(*) FROM sg_threads()'), '48', 'and stores nothing');
# nor does sg_update_state start a thread from a LangGraph.js checkpoint, on
# the checkpoint's server or brought over from it (before: 42704 "does not exist")
my $lg_near = r(q{SELECT t FROM generate_series(1, 50) i, LATERAL (SELECT 'lg-near-' || i AS t) x
	WHERE stategraph_router.shard_of(t) = stategraph_router.shard_of('lg-1') LIMIT 1});
for my $into ($lg_near, $lg_to)
{
	($lrc, $lout, $lerr) = $node->psql('router', "SELECT sg_update_state('$into', '{}', checkpoint_id => '$lg_cp')");
	like($lerr, qr/REMOTE ERROR: checkpoint \Q$lg_cp\E belongs to LangGraph.js thread "lg-1"/,
		"sg_update_state into $into from a LangGraph.js checkpoint: 42809");
}
is(r('SELECT count(*) FROM sg_threads()'), '48', 'and stores nothing');

# ---------------------------------------------------------------------------
# A server that is down: time travel on a thread of another server goes on
# ---------------------------------------------------------------------------
# (before, sg_update_state with a checkpoint_id asked every server which
# thread holds it, reading all their checkpoints, even for a checkpoint of
# the thread itself: one server down failed it for every thread)
my $t = r(q{SELECT min(thread_id) FROM sg_threads() WHERE stategraph_router.shard_of(thread_id) LIKE '%dbname=shard_b'
	AND thread_id LIKE 'm-%'});
my $first = r(qq{SELECT checkpoint_id FROM sg_get_state_history('$t') ORDER BY checkpoint_id LIMIT 1});
# an external task of a thread on shard_b
r(q{SELECT sg_create_graph('ext', '{"x": "replace"}');
	SELECT sg_add_external_node('ext', 'call', 'q');
	SELECT sg_add_edge('ext', '__start__', 'call');
	SELECT sg_add_edge('ext', 'call', '__end__');
	SELECT sg_compile('ext');});
my $et = r(q{SELECT min('e-' || i) FROM generate_series(1, 20) i WHERE stategraph_router.shard_of('e-' || i) LIKE '%dbname=shard_b'});
r(qq{SELECT sg_invoke('ext', '{"x": 0}', thread_id => '$et')});
is(r(q{SELECT count(*) FROM sg_tasks('q')}), '1', "thread $et waits on an external task");
$node->safe_psql('postgres', 'ALTER DATABASE shard_a WITH ALLOW_CONNECTIONS false');
my ($rc, $out, $err) = $node->psql('router', 'SELECT count(*) FROM sg_threads()');
like($err, qr/shard_a/, 'with shard_a down, a listing fails naming it');
($rc, $out, $err) = $node->psql('router',
	qq{SELECT sg_update_state('$t', '{"log": ["back"]}', checkpoint_id => '$first') IS NOT NULL});
is($out, 't', "sg_update_state from a checkpoint of $t itself works on shard_b") or diag($err);
is(r(qq{SELECT (sg_get_state('$t'))."values"->'log'}), '["back"]', 'and the thread went back to it');
# (before, calls naming a run or a task failed while any server was down)
($rc, $out, $err) = $node->psql('router', q{SELECT task_id || ' ' || token FROM sg_claim('q', 'w1', wait => '5 s')});
my ($task, $token) = split / /, $out;
ok(defined $token, "sg_claim hands out the task on shard_b") or diag($err);
($rc, $out, $err) = $node->psql('router', qq{SELECT sg_complete('$task', '$token', '{"x": 1}')});
is($rc, 0, 'sg_complete of that task works') or diag($err);
is(r(qq{SELECT (sg_get_state('$et'))."values"->'x'}), '1', 'and its thread went on');
($rc, $out, $err) = $node->psql('router',
	qq{SELECT status FROM sg_wait(sg_submit('counter', '{"log": ["run"]}', thread_id => '$t'), '60 s')});
is($out, 'success', "a background run of $t, submitted and waited for") or diag($err);
($rc, $out, $err) = $node->psql('router', qq{CALL sg_run('counter', '{"log": ["call"]}', '$t')});
is($rc, 0, "CALL sg_run on $t") or diag($err);
is(r(qq{SELECT (sg_get_state('$t'))."values"->'log'}), '["back", "run", "call"]', 'both ran');
($rc, $out, $err) = $node->psql('router', q{SELECT sg_wait(gen_random_uuid())});
like($err, qr/shard_a/, 'a run on no server that answered: the error names the one that did not');
($rc, $out, $err) = $node->psql('router', q{SELECT sg_claim('q', 'w1')});
like($err, qr/shard_a/, 'so does a claim that finds nothing elsewhere');
$node->safe_psql('postgres', 'ALTER DATABASE shard_a WITH ALLOW_CONNECTIONS true');
($rc, $out, $err) = $node->psql('router', q{SELECT sg_wait(gen_random_uuid())});
like($err, qr/ERROR:  run .* does not exist/, 'with every server up, an unknown run is the usual error');
r(qq{SELECT sg_delete_thread('$et')});
# a checkpoint of another thread is still found wherever it is
my $other = r(q{SELECT min(thread_id) FROM sg_threads() WHERE stategraph_router.shard_of(thread_id) LIKE '%dbname=shard_a'
	AND thread_id LIKE 'm-%'});
my $other_first = r(qq{SELECT checkpoint_id FROM sg_get_state_history('$other') ORDER BY checkpoint_id LIMIT 1});
ok(r(qq{SELECT sg_update_state('$t', '{"log": ["from $other"]}', checkpoint_id => '$other_first') IS NOT NULL}),
	"sg_update_state of $t from a checkpoint of $other on shard_a");
is(r(qq{SELECT (sg_get_state('$t'))."values"->'log'}), qq{["from $other"]}, "and $t reads from it");

# ---------------------------------------------------------------------------
# A fork of an input checkpoint into a thread of another server
# ---------------------------------------------------------------------------
# (resumed, a fork of an input checkpoint runs that input again, as on one
# server; before, the fork made across servers lost the input)
r(q{SELECT sg_invoke('counter', '{"log": ["in"]}', thread_id => 'fi-src')});
my $src_server = r(q{SELECT stategraph_router.shard_of('fi-src')});
my ($same, $across) = split /\|/, r(qq{SELECT min(t) FILTER (WHERE stategraph_router.shard_of(t) = '$src_server'),
	min(t) FILTER (WHERE stategraph_router.shard_of(t) <> '$src_server')
	FROM (SELECT 'fi-' || i AS t FROM generate_series(1, 20) i) x});
my $input = r(q{SELECT checkpoint_id FROM sg_get_state_history('fi-src') WHERE source = 'input'});
r(qq{SELECT sg_fork('fi-src', '$input', '$same'), sg_fork('fi-src', '$input', '$across')});
is(r(qq{SELECT (SELECT jsonb_agg(to_jsonb(h) - 'thread_id' - 'checkpoint_id' - 'parent_checkpoint_id' - 'created_at' - 'tasks')
	FROM sg_get_state_history('$across') h)
	= (SELECT jsonb_agg(to_jsonb(h) - 'thread_id' - 'checkpoint_id' - 'parent_checkpoint_id' - 'created_at' - 'tasks')
	FROM sg_get_state_history('$same') h)}), 't', "the fork on the other server ($across) reads as the one on the same server ($same)");
is(r(qq{SELECT sg_invoke('counter', NULL, thread_id => '$same')}), '{"log": ["in"]}',
	'the fork on the same server, resumed, runs the input again');
is(r(qq{SELECT sg_invoke('counter', NULL, thread_id => '$across')}), '{"log": ["in"]}',
	'so does the fork on the other server');
# a checkpoint the source does not have: the error names the source, as on one server
my $across2 = r(qq{SELECT min(t) FROM (SELECT 'fj-' || i AS t FROM generate_series(1, 20) i) x
	WHERE stategraph_router.shard_of(t) <> '$src_server'});
($rc, $out, $err) = $node->psql('router',
	qq{SELECT sg_fork('fi-src', '00000000-0000-7000-8000-000000000000', '$across2')});
like($err, qr/REMOTE ERROR: checkpoint 00000000-0000-7000-8000-000000000000 does not exist in thread "fi-src"/,
	'a fork across servers from a checkpoint the source lacks names the source');
r(qq{SELECT sg_delete_thread(t) FROM unnest(ARRAY['fi-src', '$same', '$across']) t});

my $lg_on_a = $node->safe_psql('shard_a', 'SELECT count(DISTINCT thread_id) FROM stategraph.lg_checkpoints');
ok($lg_on_a > 0, "$lg_on_a of them on shard_a, where partitions 0 and 2 will move from");

my $states_sql = q{SELECT string_agg(s::text, E'\n' ORDER BY s.thread_id)
	FROM (SELECT 'm-' || i FROM generate_series(1, 40) i UNION ALL SELECT 'lg-' || i FROM generate_series(1, 8) i) t(id),
	     sg_get_state(t.id) s};
my $states = r($states_sql);

# ---------------------------------------------------------------------------
# The same database under another connection string
# ---------------------------------------------------------------------------
my $in_1 = threads_on('shard_b', 1);
ok($in_1 > 0, "partition 1 holds $in_1 threads on shard_b");
($rc, $out, $err) = $node->psql('router', "CALL stategraph_router.move_partition(1, 'dbname=shard_b port=$port host=$host')");
like($err, qr/ERROR:  server .* is in cluster "stategraph" already/,
	'a move to the same database written differently is refused');
is(threads_on('shard_b', 1), $in_1, 'and deletes nothing there');
is(r('SELECT connstr FROM stategraph_router.partitions() WHERE partition = 1'), $conn{shard_b},
	'the partition keeps its connection string');
my $in_0_before = threads_on('shard_a', 0);
($rc, $out, $err) = $node->psql('router', "CALL stategraph_router.move_partition(0, 'dbname=shard_b port=$port host=$host')");
like($err, qr/HINT:  Pass it as the cluster has it: '\Q$conn{shard_b}\E'/,
	'so is a move to a database that serves other partitions, written differently');
is(threads_on('shard_a', 0), $in_0_before, 'nothing moves');
is(threads_on('shard_b', 0), '0', 'nothing is copied');
is(r('SELECT count(*) FROM sg_threads()'), '48', 'every thread is still listed');
is(r($states_sql), $states, 'and reads as before');

# ---------------------------------------------------------------------------
# A move stopped in its last step, then called again
# ---------------------------------------------------------------------------
my $in_0 = threads_on('shard_a', 0);
ok($in_0 > 0, "partition 0 holds $in_0 threads on shard_a");
# deleting on shard_a fails (as a server that went away between the switch and the delete)
$node->safe_psql('shard_a', q{CREATE FUNCTION no_delete() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN RAISE EXCEPTION 'shard_a refuses deletes'; END $$;
	CREATE TRIGGER no_delete BEFORE DELETE ON stategraph.threads FOR EACH ROW EXECUTE FUNCTION no_delete();});
($rc, $out, $err) = $node->psql('router', "CALL stategraph_router.move_partition(0, '$conn{shard_b}')");
isnt($rc, 0, 'the move fails in its last step');
like($err, qr/shard_a refuses deletes/, 'with the old server\'s error');
is(r('SELECT connstr FROM stategraph_router.partitions() WHERE partition = 0'), $conn{shard_b},
	'the partition was switched to shard_b before');
is(threads_on('shard_a', 0), $in_0, 'the old copies are still on shard_a');
is(r('SELECT count(*) FROM sg_threads()'), '48', 'each thread is listed once meanwhile');
is(r($states_sql), $states, 'and reads as before');

$node->safe_psql('shard_a', 'DROP TRIGGER no_delete ON stategraph.threads');
is(r("CALL stategraph_router.move_partition(0, '$conn{shard_b}')"), '0', 'calling it again moves nothing more');
is(threads_on('shard_a', 0), '0', 'but deletes the old copies on shard_a');
is(threads_on('shard_b', 0), $in_0, 'shard_b holds the partition\'s threads');
is(r('SELECT count(*) FROM stategraph_router.pending_deletes'), '0', 'nothing is left to delete');
is(r('SELECT count(*) FROM sg_threads()'), '48', 'every thread is listed once');
is(r($states_sql), $states, 'every thread reads as before');
is(threads_on('shard_a') + threads_on('shard_b'), '48', 'and is on exactly one server');

# an ordinary move still deletes its old copies at once
my $in_2 = threads_on('shard_a', 2);
is(r("CALL stategraph_router.move_partition(2, '$conn{shard_b}')"), $in_2, "a move of partition 2 moves its $in_2 threads");
is(threads_on('shard_a', 2), '0', 'and deletes them on shard_a');
is($node->safe_psql('shard_a', 'SELECT count(*) FROM stategraph.lg_checkpoints'), '0',
	'no LangGraph.js thread is left on shard_a');
is(r('SELECT count(*) FROM sg_threads()'), '48', 'every thread is listed once');
is(r($states_sql), $states, 'every thread reads as before');

# ---------------------------------------------------------------------------
# A move stopped while copying, then sent to another server
# ---------------------------------------------------------------------------
# (before, the first target kept the threads it had been sent for ever)
$node->safe_psql('postgres', 'CREATE DATABASE shard_c');
$node->safe_psql('shard_c', q{CREATE EXTENSION stategraph;
	CREATE FUNCTION noop(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
	SELECT sg_create_graph('counter', '{"log": "append"}');
	SELECT sg_add_node('counter', 'noop', 'noop(jsonb)');
	SELECT sg_add_edge('counter', '__start__', 'noop');
	SELECT sg_add_edge('counter', 'noop', '__end__');
	SELECT sg_compile('counter');
	SELECT sg_create_graph('ext', '{"x": "replace"}');
	SELECT sg_add_external_node('ext', 'call', 'q');
	SELECT sg_add_edge('ext', '__start__', 'call');
	SELECT sg_add_edge('ext', 'call', '__end__');
	SELECT sg_compile('ext');
	-- the third thread imported fails (as a server that went away mid-copy)
	CREATE FUNCTION third_fails() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		IF (SELECT count(*) FROM stategraph.threads) >= 2 THEN RAISE EXCEPTION 'shard_c is full'; END IF;
		RETURN NEW;
	END $$;
	CREATE TRIGGER third_fails BEFORE INSERT ON stategraph.threads FOR EACH ROW EXECUTE FUNCTION third_fails();});
$conn{shard_c} = "host=$host port=$port dbname=shard_c";
my $in_3 = threads_on('shard_b', 3);
cmp_ok($in_3, '>', 2, "partition 3 holds $in_3 threads on shard_b");
($rc, $out, $err) = $node->psql('router', "CALL stategraph_router.move_partition(3, '$conn{shard_c}')");
like($err, qr/shard_c is full/, 'a move to shard_c stops while copying');
cmp_ok(threads_on('shard_c', 3), '>=', 2, 'leaving partial copies there');
is(r('SELECT connstr FROM stategraph_router.partitions() WHERE partition = 3'),
	"$conn{shard_b} options='-c default_transaction_read_only=on'", 'the partition stays on shard_b, frozen');
is(r("CALL stategraph_router.move_partition(3, '$conn{shard_a}')"), $in_3,
	'the move sent to shard_a instead moves every thread of the partition');
is(threads_on('shard_c', 3), '0', 'and deletes the partial copies on shard_c');
is(threads_on('shard_a', 3), $in_3, 'shard_a holds the partition\'s threads');
is(threads_on('shard_b', 3), '0', 'shard_b none');
is(r('SELECT count(*) FROM stategraph_router.pending_copies'), '0', 'no copy is pending');
is(r('SELECT connstr FROM stategraph_router.partitions() WHERE partition = 3'), $conn{shard_a},
	'the partition is on shard_a, not frozen');
is(r('SELECT count(*) FROM sg_threads()'), '48', 'every thread is listed once');
is(r($states_sql), $states, 'every thread reads as before');

# ---------------------------------------------------------------------------
# sg_claim's arguments through the router: the errors a server gives
# ---------------------------------------------------------------------------
# (before, n <= 0 and a negative or NULL wait returned no row through the router;
# a wait over 24 days, the bound of a lease, was waited, or out of range)
for my $args ("'q', 'w', 0", "'q', 'w', -1", "'q', 'w', 1, NULL, '-1 s'", "'q', 'w', 1, NULL, NULL",
	"'q', 'w', 1, NULL, '25 days'", "'q', 'w', 1, NULL, '1000000 years'")
{
	for my $verbosity ('sqlstate', 'terse')
	{
		my $sql = "\\set VERBOSITY $verbosity\nSET statement_timeout = '10s';\nSELECT * FROM sg_claim($args)";
		my (undef, undef, $direct) = $node->psql('shard_b', $sql);
		my (undef, undef, $routed) = $node->psql('router', $sql);
		like($direct, qr/ERROR:  /, "sg_claim($args) is an error on a server ($direct)");
		is($routed, $direct, "and the same error through the router ($verbosity)");
	}
}

$node->stop;
done_testing();
