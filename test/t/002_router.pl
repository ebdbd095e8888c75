# The PL/Proxy router (stategraph_router) in front of three shard servers.
#
#  - 1,000 threads written through the router land on the partitions'
#    servers, each on exactly one;
#  - a rebalance from 2 to 3 servers (stategraph_router.move_partition)
#    while a load keeps writing through the router: no thread lost or
#    duplicated, every write that succeeded is in its thread exactly once,
#    untouched threads read exactly as before, and afterwards the threads
#    are spread within 20% of even over the three servers;
#  - the seed walkthrough (sql/seed.sql) through the router prints exactly
#    what it prints on one server;
#  - sg_fork and sg_update_state from a checkpoint of a thread on another
#    server;
#  - background runs through the router: sg_submit on the thread's server
#    (a thread the router names lives where its name hashes to), sg_runs
#    merged, sg_wait/sg_cancel on the server that holds the run,
#    sg_set_retention on every server and compared, and move_partition
#    refusing a partition with a run not finished;
#  - CALL sg_run through the router (submitted and waited for), sg_add_node
#    with a regprocedure, sg_interrupt and CALL sg_work refusing clearly;
#  - sg_reassign_owned on every server, the counts added up;
#  - a shard that is down: calls for its threads fail naming it, the others
#    work, and it serves again once started.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $root = $ENV{SG_TESTROOT} // 'test';
my $nthreads = 1000;
my $nparts = 64;

my @shards;
for my $name ('a', 'b', 'c')
{
	my $node = PostgreSQL::Test::Cluster->new("shard_$name");
	$node->init;
	$node->append_conf('postgresql.conf', "max_connections = 40\n");
	$node->start;
	$node->safe_psql('postgres', "CREATE DATABASE shard_$name");
	push @shards, { node => $node, db => "shard_$name",
		connstr => 'host=' . $node->host . ' port=' . $node->port . " dbname=shard_$name" };
}
my ($A, $B, $C) = @shards;

my $router = PostgreSQL::Test::Cluster->new('router');
$router->init;
$router->start;
$router->safe_psql('postgres', 'CREATE DATABASE router');
$router->safe_psql('postgres', 'CREATE DATABASE single');

sub on_shard
{
	my ($shard, $sql) = @_;
	return $shard->{node}->safe_psql($shard->{db}, $sql);
}

sub r { return $router->safe_psql('router', $_[0]); }

# 64 partitions over servers a and b, as a cluster starts before it grows
my @opts = map { "partition_$_ '" . ($_ % 2 == 0 ? $A : $B)->{connstr} . "'" } 0 .. $nparts - 1;
r('CREATE EXTENSION plproxy; CREATE EXTENSION stategraph_router;
   CREATE SERVER stategraph FOREIGN DATA WRAPPER plproxy OPTIONS (' . join(', ', @opts) . ');
   CREATE USER MAPPING FOR PUBLIC SERVER stategraph;');
is(r('SELECT count(*) FROM pg_extension WHERE extname = \'stategraph\''), '0',
	'the router database has no stategraph, only the router');

# The seed's own functions and table on every shard: run the seed there,
# then remove its graphs and threads (the router makes them again)
my $seed = slurp_file("$root/../sql/seed.sql");
for my $s (@shards)
{
	$s->{node}->safe_psql($s->{db}, $seed);
	on_shard($s, q{
		SELECT sg_delete_thread(thread_id) FROM sg_threads();
		SELECT sg_drop_graph(graph) FROM stategraph.graphs;
		UPDATE flaky_switch SET broken = true;
		CREATE FUNCTION test_exec(q text) RETURNS SETOF int LANGUAGE plpgsql AS $$
		BEGIN EXECUTE q; RETURN NEXT 1; END $$;
		CREATE FUNCTION noop(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
	});
}
r(q{CREATE FUNCTION test_exec(q text) RETURNS SETOF int LANGUAGE plproxy AS $$
	CLUSTER 'stategraph'; RUN ON ALL; $$;});

# ---------------------------------------------------------------------------
# 1,000 threads through the router
# ---------------------------------------------------------------------------
r(q{SELECT sg_create_graph('counter', '{"log": "append"}');
	SELECT sg_add_node('counter', 'noop', 'noop(jsonb)');
	SELECT sg_add_edge('counter', '__start__', 'noop');
	SELECT sg_add_edge('counter', 'noop', '__end__');
	SELECT sg_compile('counter');});
is(r('SELECT count(*) FROM stategraph_router.check_definitions()'), '0',
	'every server has the same definition of graph counter');
r("SELECT count(sg_invoke('counter', '{\"log\": [0]}', 'th-' || i)) FROM generate_series(0, $nthreads - 1) i");
is(r("SELECT count(*) FROM sg_threads('counter')"), $nthreads, 'sg_threads lists the 1,000 threads once each');
my @before = map { on_shard($_, "SELECT count(*) FROM stategraph.threads WHERE thread_id LIKE 'th-%'") } @shards;
is($before[0] + $before[1], $nthreads, 'servers a and b hold every thread');
is($before[2], '0', 'server c holds none yet');

# the threads the load will not touch, as history shows them
my $untouched_sql = q{SELECT string_agg(h::text, E'\n' ORDER BY h.thread_id, h.checkpoint_id)
	FROM generate_series(500, 999) i, sg_get_state_history('th-' || i) h};
my $untouched_before = r($untouched_sql);

# ---------------------------------------------------------------------------
# Rebalance from 2 to 3 servers under a running load
# ---------------------------------------------------------------------------
r(q{CREATE TABLE load_log (thread text, i int, ok boolean, err text);
	CREATE TABLE load_stop (stop boolean);
	CREATE PROCEDURE load() LANGUAGE plpgsql AS $$
	DECLARE
		i int := 0;
		t text;
		ok boolean;
		e text;
	BEGIN
		WHILE NOT EXISTS (SELECT 1 FROM load_stop) LOOP
			i := i + 1;
			t := 'th-' || (i % 500);
			BEGIN
				PERFORM sg_invoke('counter', jsonb_build_object('log', jsonb_build_array(i)), t);
				ok := true; e := NULL;
			EXCEPTION WHEN OTHERS THEN
				ok := false; e := SQLSTATE || ' ' || SQLERRM;
			END;
			INSERT INTO load_log VALUES (t, i, ok, e);
			COMMIT;
		END LOOP;
	END $$;});
my ($lout, $lerr) = ('', '');
my $load = IPC::Run::start(
	[ 'psql', '-X', '-q', '-d', $router->connstr('router'), '-c', 'CALL load()' ],
	'>', \$lout, '2>', \$lerr);
# let it run a little before the move starts
$router->poll_query_until('router', 'SELECT count(*) >= 50 FROM load_log') or die 'load does not run';

# a new server gets the extension, the node functions and the graphs first
on_shard($C, q{SELECT sg_create_graph('counter', '{"log": "append"}');
	SELECT sg_add_node('counter', 'noop', 'noop(jsonb)');
	SELECT sg_add_edge('counter', '__start__', 'noop');
	SELECT sg_add_edge('counter', 'noop', '__end__');
	SELECT sg_compile('counter');});
my @to_c = grep { $_ % 3 == 2 } 0 .. $nparts - 1;
my $moved = 0;
# What every server is doing, for a move that takes too long (one once took
# over five minutes here, never again): every session of the four servers,
# what it waits on, and the locks not granted.
sub activity
{
	my $report = '';
	for my $n ([ 'router', $router ], map { [ $_->{db}, $_->{node} ] } @shards)
	{
		$report .= "--- $n->[0]\n" . $n->[1]->safe_psql('postgres', q{
			SELECT string_agg(format('%s %s %s %s/%s xact %s: %s', a.pid, a.datname, a.state, a.wait_event_type, a.wait_event,
			                         a.xact_start, left(regexp_replace(a.query, '\s+', ' ', 'g'), 150)), E'\n' ORDER BY a.pid)
			FROM pg_stat_activity a WHERE a.pid <> pg_backend_pid()})
		  . "\n" . $n->[1]->safe_psql('postgres', q{
			SELECT string_agg(format('waits: %s %s %s (database %s, %s/%s/%s)', l.pid, l.locktype, l.mode, l.database,
			                         l.classid, l.objid, l.objsubid), E'\n')
			FROM pg_locks l WHERE NOT l.granted}) . "\n";
	}
	return $report;
}
for my $p (@to_c)
{
	my $timed_out = 0;
	my ($rc, $out, $err) = $router->psql('router', "CALL stategraph_router.move_partition($p, '$C->{connstr}')",
		timeout => 240, timed_out => \$timed_out);
	if ($timed_out || $rc != 0)
	{
		diag("the move of partition $p " . ($timed_out ? 'took over 240 s' : "failed: $err") . "; the servers:\n" . activity());
		fail("the move of partition $p");
		last;
	}
	$moved += $out;
}
r('INSERT INTO load_stop VALUES (true)');
$router->poll_query_until('router', q{SELECT count(*) = 0 FROM pg_stat_activity WHERE query = 'CALL load()'})
  or diag("the load does not stop; the servers:\n" . activity());
$load->finish;
(my $lerr_real = $lerr) =~ s/^NOTICE:  PL\/Proxy: dropping stale conn\n//mg;
is($lerr_real, '', 'the load ran without a client error');

my ($oks, $fails) = split /\|/, r('SELECT count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok) FROM load_log');
ok($oks > 100, "the load kept writing during the move ($oks writes succeeded, $fails refused)");
is(r(q{SELECT count(*) FROM load_log WHERE NOT ok AND err NOT LIKE '25006 %'}), '0',
	'writes refused during the move were refused only as read-only (25006), to be retried')
  or diag(r(q{SELECT string_agg(DISTINCT err, E'\n') FROM load_log WHERE NOT ok}));
diag("rebalance: $moved threads moved in " . scalar(@to_c) . " partitions; load: $oks writes, $fails refused");

my @after = map { on_shard($_, "SELECT count(*) FROM stategraph.threads WHERE thread_id LIKE 'th-%'") } @shards;
is($after[0] + $after[1] + $after[2], $nthreads, "every thread is on exactly one server (@after)");
is($moved, $after[2], 'move_partition reports the threads it moved');
my $even = $nthreads / 3;
for my $i (0 .. 2)
{
	ok($after[$i] >= 0.8 * $even && $after[$i] <= 1.2 * $even,
		"server $shards[$i]{db} holds $after[$i] threads, within 20% of even");
}
my %seen;
for my $s (@shards)
{
	$seen{$_}++ for split /\n/, on_shard($s, "SELECT thread_id FROM stategraph.threads WHERE thread_id LIKE 'th-%'");
}
is(scalar(grep { $seen{$_} != 1 } keys %seen), 0, 'no thread is on two servers');
is(r("SELECT count(*) FROM sg_threads('counter')"), $nthreads, 'sg_threads still lists each thread once');

# every successful write is in its thread exactly once, in order; nothing else is
is(r(q{SELECT count(*) FROM generate_series(0, 499) k,
		LATERAL (SELECT (sg_get_state('th-' || k))."values"->'log' AS log) s,
		LATERAL (SELECT jsonb_build_array(0) || COALESCE(jsonb_agg(l.i ORDER BY l.i), '[]') AS want
		         FROM load_log l WHERE l.thread = 'th-' || k AND l.ok) w
		WHERE s.log IS DISTINCT FROM w.want}), '0',
	'each loaded thread holds exactly the writes that succeeded, once each');
is(r($untouched_sql), $untouched_before, 'threads the load did not touch read exactly as before the move');
is(r('SELECT count(*) FROM stategraph_router.check_definitions()'), '0', 'definitions still agree');
on_shard($A, q{SELECT sg_create_graph('only_a', '{"x": "append"}')});
on_shard($B, q{SELECT sg_create_graph('only_a', '{"x": "append"}')});
is(r('SELECT graph, server, problem FROM stategraph_router.check_definitions()'),
	"only_a|$C->{connstr}|missing",
	'check_definitions names the server that lacks a graph');
on_shard($C, q{SELECT sg_create_graph('only_a', '{"x": "replace"}')});
is(r('SELECT graph, server, problem FROM stategraph_router.check_definitions()'),
	"only_a|$C->{connstr}|different definition",
	'and the server whose definition differs from the others');
# one definition on A, another on C, none on B: no definition is on most
# servers, and every server is listed (one of A and C was picked before)
on_shard($B, q{SELECT sg_drop_graph('only_a')});
is(r(q{SELECT string_agg(server || ' ' || problem, ', ' ORDER BY server) FROM stategraph_router.check_definitions() WHERE graph = 'only_a'}),
	join(', ', sort map { "$_->{connstr} " . ($_ == $B ? 'missing' : 'different definition (no definition is on most servers)') } ($A, $B, $C)),
	'a definition on as many servers as another: every server is listed');
on_shard($_, q{SELECT sg_drop_graph('only_a')}) for ($A, $C);
is(r('SELECT count(*) FROM stategraph_router.check_definitions()'), '0', 'sg_drop_graph through the router drops it everywhere');

# ---------------------------------------------------------------------------
# The seed walkthrough through the router prints what it prints on one server
# ---------------------------------------------------------------------------
my $single_out = $router->safe_psql('single', $seed);
my $routed = $seed;
$routed =~ s/^CREATE EXTENSION stategraph;\n//m;
$routed =~ s/^UPDATE flaky_switch SET broken = false;$/\\o \/dev\/null\nSELECT test_exec('UPDATE flaky_switch SET broken = false');\n\\o/m
  or die 'seed.sql changed: no UPDATE flaky_switch';
my $router_out = r($routed);
ok(length($single_out) > 1000, 'the seed walkthrough printed its results on one server');
is($router_out, $single_out, 'the seed walkthrough through the router prints exactly the same');

# ---------------------------------------------------------------------------
# Branching across servers
# ---------------------------------------------------------------------------
# a source thread and targets on two other servers
sub thread_on
{
	my ($shard, $prefix) = @_;
	return r("SELECT t FROM generate_series(1, 1000) i, LATERAL (SELECT '$prefix' || i AS t) x
		WHERE stategraph_router.shard_of(t) = '$shard->{connstr}' LIMIT 1");
}
my $src = thread_on($A, 'src-');
my $fork = thread_on($B, 'fork-');
my $upd = thread_on($C, 'upd-');
r("SELECT sg_invoke('workflow', '{\"messages\": [], \"step\": 0, \"data\": {\"user\": \"x\"}}', '$src')");
my $cp = r("SELECT checkpoint_id FROM sg_get_state_history('$src') WHERE (\"values\"->>'step')::int = 1");
my $src_history = r("SELECT string_agg(h::text, E'\\n') FROM sg_get_state_history('$src') h");
isnt(r("SELECT sg_fork('$src', '$cp', '$fork')"), '', "sg_fork from a thread on server a into one on server b");
is(r("SELECT parent_checkpoint_id = '$cp' AND \"values\" = (sg_get_state('$src', '$cp')).\"values\" FROM sg_get_state('$fork')"),
	't', 'the fork starts at the checkpoint, with its values');
is(r("SELECT sg_invoke('workflow', NULL, '$fork')->'messages'"),
	'["Step 1 complete", "Step 2 complete", "Step 3 complete"]', 'the fork runs on from step 1');
r("SELECT sg_update_state('$upd', '{\"data\": {\"branch\": \"feature\"}}', checkpoint_id => '$cp')");
is(r("SELECT sg_invoke('workflow', NULL, '$upd')->'data'"), '{"branch": "feature"}',
	'sg_update_state from a checkpoint of a thread on server a into one on server c');
is(r("SELECT sg_draw_history('$fork', 'dot')"), on_shard($B, "SELECT sg_draw_history('$fork', 'dot')"),
	'sg_draw_history through the router draws what the thread\'s server draws');
is(r("SELECT string_agg(h::text, E'\\n') FROM sg_get_state_history('$src') h"), $src_history,
	'the source thread is unchanged');
is(on_shard($B, "SELECT count(*) FROM stategraph.threads WHERE thread_id LIKE '\\_\\_sg\\_visitor%'")
	  + on_shard($C, "SELECT count(*) FROM stategraph.threads WHERE thread_id LIKE '\\_\\_sg\\_visitor%'"),
	0, 'no copy of the source is left on the other servers');

# ---------------------------------------------------------------------------
# External tasks through the router: a queue spans every server
# ---------------------------------------------------------------------------
r(q{SELECT sg_create_graph('ext', '{"log": "append"}');
	SELECT sg_add_external_node('ext', 'model', 'llm');
	SELECT sg_add_edge('ext', '__start__', 'model');
	SELECT sg_add_edge('ext', 'model', '__end__');
	SELECT sg_compile('ext');});
is(r(q{SELECT count(*) FILTER (WHERE sg_invoke('ext', '{"log": ["hi"]}', 'x-' || i) ? '__waiting__')
	FROM generate_series(1, 12) i}), '12', 'twelve threads wait for an external task');
is(r(q{SELECT count(DISTINCT stategraph_router.shard_of(thread_id)) FROM sg_tasks('llm', 'queued')}), '3',
	'sg_tasks lists the queued tasks of every server');
r(q{CREATE TABLE claimed AS SELECT * FROM sg_claim('llm', 'worker-1', 12)});
is(r(q{SELECT count(*) FROM claimed}), '12', 'one sg_claim takes tasks from every server');
is(r(q{SELECT count(*) FROM sg_claim('llm', 'worker-2', 5, wait => '100 ms')}), '0', 'nothing is claimed twice');
is(r(q{SELECT bool_and(sg_heartbeat(task_id, token)) FROM claimed}), 't', 'sg_heartbeat reaches each task');
r(q{SELECT count(*) FROM claimed, LATERAL sg_complete(task_id, token, '{"log": ["done"]}') c});
is(r(q{SELECT count(*) FILTER (WHERE sg_invoke('ext', NULL, 'x-' || i)->'log' = '["hi", "done"]')
	FROM generate_series(1, 12) i}), '12', 'sg_complete reaches each task, and every thread goes on');
is(r(q{SELECT count(*) FROM sg_tasks('llm', 'completed')}), '12', 'every task is completed');

# ---------------------------------------------------------------------------
# Background runs and retention through the router (RUNTIME.md)
# ---------------------------------------------------------------------------
# the server a thread lives on, asked of the servers themselves
sub holder
{
	my ($thread) = @_;
	my @on = grep { on_shard($_, "SELECT count(*) FROM stategraph.threads WHERE thread_id = '$thread'") == 1 } @shards;
	return join(',', map { $_->{db} } @on);
}
my %bg;
for my $s (@shards)
{
	my $t = thread_on($s, 'bg-');
	my $run = r("SELECT sg_submit('counter', '{\"log\": [7]}', '$t')");
	is(r("SELECT status FROM sg_wait('$run', '60 s')"), 'success', "sg_submit and sg_wait for a thread on $s->{db}");
	is(on_shard($s, "SELECT count(*) FROM stategraph.runs WHERE run_id = '$run' AND thread_id = '$t'"), '1',
		"the run of $t is on $s->{db}");
	is(holder($t), $s->{db}, "and its thread too, only there");
	is(r("SELECT sg_get_state('$t') IS NOT NULL AND (sg_get_state('$t')).\"values\"->'log' = '[7]'"), 't',
		"the run's checkpoints read through the router");
	$bg{$s->{db}} = [ $t, $run ];
}
my $allruns = r('SELECT count(*) FROM sg_runs()');
is($allruns, on_shard($A, 'SELECT count(*) FROM stategraph.runs') + on_shard($B, 'SELECT count(*) FROM stategraph.runs')
	  + on_shard($C, 'SELECT count(*) FROM stategraph.runs'), "sg_runs lists the runs of every server once ($allruns)");
is(r("SELECT string_agg(run_id::text, ',') FROM sg_runs('$bg{shard_b}[0]')"), $bg{shard_b}[1], 'sg_runs(thread_id) lists that thread\'s run');
is(r(q{SELECT count(*) FROM sg_runs(status => 'success')}), $allruns, 'sg_runs(status => ...) filters on every server');

# without a thread_id, the router names the thread, and it lives where its name hashes to
# (48 random names: all on two of the three servers once in 10^8 runs; 12 were once in 40)
my @anon = split /\n/, r(q{SELECT sg_submit('counter', jsonb_build_object('log', jsonb_build_array(i))) FROM generate_series(1, 48) i});
is(scalar(@anon), 48, '48 submits without a thread');
# (one statement for the 48 waits, one per server for where the threads are, one
# for where the router says they live: a statement per run and thread, 240 in
# all, took 20 s and more)
r("SELECT count(*) FROM unnest(ARRAY['" . join("','", @anon) . "']::uuid[]) run, sg_wait(run, '60 s')");
my @anon_threads = split /\n/, r("SELECT thread_id FROM sg_runs() WHERE run_id IN ('" . join("','", @anon) . "') ORDER BY thread_id");
my $anon_list = "'" . join("','", @anon_threads) . "'";
my %anon_on;	# thread => the servers that hold it, as holder() names them
for my $s (@shards)
{
	push @{ $anon_on{$_} }, $s->{db}
	  for split /\n/, on_shard($s, "SELECT thread_id FROM stategraph.threads WHERE thread_id IN ($anon_list)");
}
my %anon_shard = map { split /\|/, $_, 2 } split /\n/,
  r("SELECT t, stategraph_router.shard_of(t) FROM unnest(ARRAY[$anon_list]) t");
is(scalar(grep { my $db = join(',', @{ $anon_on{$_} // [] }); ($anon_shard{$_} // '') =~ /dbname=\Q$db\E$/ } @anon_threads),
	48, 'each thread named by the router is on the server its name hashes to, and only there');
is(r("SELECT count(DISTINCT stategraph_router.shard_of(thread_id)) FROM sg_runs() WHERE run_id IN ('" . join("','", @anon) . "')"),
	'3', 'and they spread over the three servers');
is(r("SELECT count(*) FROM sg_runs() r WHERE r.run_id IN ('" . join("','", @anon) . "') AND r.status = 'success'
	AND (sg_get_state(r.thread_id)).\"values\"->'log' IS NOT NULL"), '48', 'every one ran, and its thread reads through the router');
my $k1 = r(q{SELECT sg_submit('counter', '{"log": [1]}', idempotency_key => 'order-17', after => '1 hour')});
is(r(q{SELECT sg_submit('counter', '{"log": [1]}', idempotency_key => 'order-17', after => '1 hour')}), $k1,
	'the same idempotency key without a thread gives the same run back');
is(r("SELECT count(*) FROM sg_runs() WHERE thread_id = (SELECT thread_id FROM sg_runs() WHERE run_id = '$k1')"), '1',
	'and nothing new');

# sg_cancel and sg_wait find the run on its server
my $later = thread_on($C, 'later-');
my $lrun = r("SELECT sg_submit('counter', '{\"log\": [1]}', '$later', after => '1 hour')");
is(r("SELECT status FROM sg_wait('$lrun', '10 ms')"), 'pending', 'sg_wait with a timeout returns a pending run as it is');
is(r("SELECT sg_cancel('$lrun')"), 't', 'sg_cancel of a pending run on server c');
is(on_shard($C, "SELECT status FROM stategraph.runs WHERE run_id = '$lrun'"), 'cancelled', 'the run is cancelled on server c');
is(r("SELECT sg_cancel('$lrun')"), 'f', 'a second sg_cancel returns false');
is(r("SELECT sg_cancel('$k1', 'rollback')"), 't', 'sg_cancel of the idempotent run');
# while a partition of server a is being moved (its connection string then refuses writes),
# calls for every server reach server a once, through a partition that accepts writes
my $fpart = r("SELECT min(partition) FROM stategraph_router.partitions() WHERE connstr = '$A->{connstr}'");
r("ALTER SERVER stategraph OPTIONS (SET partition_$fpart " . $router->safe_psql('router', "SELECT quote_literal(stategraph_router.frozen('$A->{connstr}'))") . ")");
is(r('SELECT count(*) FROM sg_runs()'), $allruns + scalar(@anon) + 2, 'with a partition of server a frozen, sg_runs lists each run once');
is(r("SELECT sg_cancel('$bg{shard_a}[1]')"), 'f', 'and sg_cancel reaches server a through a partition that accepts writes');
r("ALTER SERVER stategraph OPTIONS (SET partition_$fpart '$A->{connstr}')");
# unfrozen(): frozen()'s inverse, by exact suffix only
is(r("SELECT stategraph_router.unfrozen(stategraph_router.frozen('$A->{connstr}'))"), $A->{connstr},
	'unfrozen(frozen(c)) is c');
is(r("SELECT stategraph_router.unfrozen('$A->{connstr}')"), $A->{connstr}, 'unfrozen(c) without the suffix is c');
is(r(q{SELECT stategraph_router.unfrozen($$host=h options='-c default_transactionXread_only=on'$$)}),
	q{host=h options='-c default_transactionXread_only=on'}, 'a suffix that differs by one character (a LIKE wildcard) stays');
is(r(q{SELECT stategraph_router.unfrozen($$host=h options='-c default_transaction_read_only=on' dbname=d$$)}),
	q{host=h options='-c default_transaction_read_only=on' dbname=d}, 'the suffix in the middle stays');
is(r(q{SELECT stategraph_router.unfrozen(stategraph_router.frozen(stategraph_router.frozen('c')))}),
	q{c options='-c default_transaction_read_only=on'}, 'one suffix is taken off at a time');
is(r(q{SELECT stategraph_router.unfrozen(NULL) IS NULL AND stategraph_router.unfrozen('') = ''}), 't', 'NULL and empty stay');
is(r(q{SELECT provolatile::text || ' ' || obj_description(oid, 'pg_proc') FROM pg_proc WHERE oid = 'stategraph_router.unfrozen(text)'::regprocedure}),
	'i the inverse of frozen(): the connection string without its suffix, unchanged when it has none', 'unfrozen is IMMUTABLE and has a comment');
my ($wrc, $wout, $werr) = $router->psql('router', q{SELECT sg_wait('01a22a00-0000-7000-8000-000000000000')});
like($werr, qr/run 01a22a00-0000-7000-8000-000000000000 does not exist/, 'sg_wait of a run no server holds is an error naming the run');
($wrc, $wout, $werr) = $router->psql('router', q{SELECT sg_wait(NULL)});
like($werr, qr/run_id must not be null/, 'sg_wait(NULL) gets the shard\'s own error');
($wrc, $wout, $werr) = $router->psql('router', "SELECT sg_cancel('$lrun', 'pause')");
like($werr, qr/action must be 'interrupt' or 'rollback'/, 'a bad sg_cancel action gets the shard\'s own error');

# retention is set on every server and compared by check_definitions
r(q{SELECT sg_set_retention('counter', '30 days', 'keep_latest', 2); SELECT sg_set_retention(NULL, '90 days')});
is(join(',', map { on_shard($_, q{SELECT string_agg(COALESCE(graph, '*') || ' ' || ttl || ' ' || strategy || ' ' || COALESCE(keep_last::text, '-'), ';' ORDER BY graph NULLS FIRST) FROM stategraph.retention}) } @shards),
	join(',', ('* 90 days delete -;counter 30 days keep_latest 2') x 3), 'sg_set_retention sets the same retention on every server');
is(r('SELECT count(*) FROM stategraph_router.check_definitions()'), '0', 'and definitions agree');
on_shard($B, q{SELECT sg_set_retention('counter', '31 days', 'keep_latest', 2)});
is(r(q{SELECT string_agg(server || ' ' || problem, ',') FROM stategraph_router.check_definitions() WHERE graph = 'counter'}),
	"$B->{connstr} different definition", 'check_definitions names a server whose retention differs');
r(q{SELECT sg_set_retention('counter', NULL)});
is(r('SELECT count(*) FROM stategraph_router.check_definitions()'), '0', 'setting it through the router again makes them agree');

# a partition whose threads have a run not finished is not moved (the run lives on the old server)
my $busy = thread_on($A, 'busy-');
my $bpart = r("SELECT stategraph_router.partition_of('$busy')");
my $bconn = r("SELECT connstr FROM stategraph_router.partitions() WHERE partition = $bpart");
r("SELECT sg_invoke('counter', '{\"log\": [0]}', '$busy')");
my $brun = r("SELECT sg_submit('counter', '{\"log\": [1]}', '$busy', after => '1 hour')");
($wrc, $wout, $werr) = $router->psql('router', "CALL stategraph_router.move_partition($bpart, '$C->{connstr}')");
like($werr, qr/partition $bpart has 1 background runs not finished and 0 external tasks still out/,
	'move_partition refuses a partition with a run not finished');
is(r("SELECT connstr FROM stategraph_router.partitions() WHERE partition = $bpart"), $bconn, 'and leaves it where it was, not frozen');
r("SELECT sg_cancel('$brun')");
is(r("CALL stategraph_router.move_partition($bpart, '$C->{connstr}')") > 0, 1, 'once the run is cancelled, the partition moves');
is(holder($busy), 'shard_c', 'its thread is on server c now');
is(r("SELECT (sg_get_state('$busy')).\"values\"->>'log'"), '[0]', 'and reads as before');
is(r("SELECT status FROM sg_runs('$busy')"), 'cancelled', 'and its finished run is still listed, from server a');

# and one whose thread waits on an external task (the task lives on the old server)
my $waiting = thread_on($B, 'ext-busy-');
my $wpart = r("SELECT stategraph_router.partition_of('$waiting')");
r("SELECT sg_invoke('ext', '{\"log\": [\"q\"]}', '$waiting')");
($wrc, $wout, $werr) = $router->psql('router', "CALL stategraph_router.move_partition($wpart, '$C->{connstr}')");
like($werr, qr/partition $wpart has 0 background runs not finished and 1 external tasks still out/,
	'move_partition refuses a partition with an external task still out');
r(q{SELECT count(*) FROM sg_claim('llm', 'worker-3', 5) c, LATERAL sg_complete(c.task_id, c.token, '{"log": ["a"]}') x});
is(r("SELECT sg_invoke('ext', NULL, '$waiting')->>'log'"), '["q", "a"]', 'once the task is completed and the thread goes on,');
r("CALL stategraph_router.move_partition($wpart, '$C->{connstr}')");
is(holder($waiting), 'shard_c', 'the partition moves');

# ---------------------------------------------------------------------------
# The rest of API.md through the router: CALL sg_run, the regprocedure forms,
# sg_interrupt and CALL sg_work (test/pgtap/00_contract.sql checks the signatures)
# ---------------------------------------------------------------------------
# CALL sg_run: submitted to the thread's server and waited for; its steps committed there
my $ct = thread_on($B, 'call-');
r("CALL sg_run('counter', '{\"log\": [3]}', '$ct')");
is(r("SELECT (sg_get_state('$ct')).\"values\"->>'log'"), '[3]', 'CALL sg_run through the router runs the graph on the thread');
is(on_shard($B, "SELECT string_agg(status, ',') FROM stategraph.runs WHERE thread_id = '$ct'"), 'success',
	'as a run on the thread\'s server');
r("CALL sg_run(graph => 'counter', input => '{\"log\": [4]}', thread_id => '$ct', recursion_limit => 5, on_error => 'raise')");
is(r("SELECT (sg_get_state('$ct')).\"values\"->>'log'"), '[3, 4]', 'CALL sg_run with named arguments');
($wrc, $wout, $werr) = $router->psql('router', "CALL sg_run('counter', '{\"log\": [1]}', NULL)");
like($werr, qr/thread_id must not be null/, 'CALL sg_run without a thread: the error of one server');
($wrc, $wout, $werr) = $router->psql('router', "CALL sg_run('counter', '{\"log\": [1]}', '$ct', on_error => 'ignore')");
like($werr, qr/on_error must be 'raise' or 'return', not 'ignore'/, 'a bad on_error is refused before anything is submitted');
is(on_shard($B, "SELECT count(*) FROM stategraph.runs WHERE thread_id = '$ct'"), '2', 'and nothing is submitted');

# a node function on the servers and on the router, given as a regprocedure
my $boom = q{CREATE FUNCTION boom(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $b$
	BEGIN RAISE EXCEPTION 'boom at %', state->'log' USING ERRCODE = '22012'; END $b$};
r("SELECT count(*) FROM test_exec(\$x\$$boom\$x\$)");
r($boom);
r(q{SELECT sg_create_graph('boom', '{"log": "append"}');
	SELECT sg_add_node('boom', 'a', 'boom(jsonb)'::regprocedure);
	SELECT sg_add_edge('boom', '__start__', 'a');
	SELECT sg_add_edge('boom', 'a', '__end__');
	SELECT sg_compile('boom');});
is(r('SELECT count(*) FROM stategraph_router.check_definitions()'), '0',
	'sg_add_node with a regprocedure defines the node on every server');
my $bt = thread_on($C, 'boom-');
($wrc, $wout, $werr) = $router->psql('router', "CALL sg_run('boom', '{\"log\": [1]}', '$bt')");
like($werr, qr/ERROR:  boom at \[1\]/, 'a node error of CALL sg_run through the router is raised with its message');
is(on_shard($C, "SELECT status || ' ' || (error->>'sqlstate') FROM stategraph.runs WHERE thread_id = '$bt'"), 'error 22012',
	'the run failed on its server');
($wrc, $wout, $werr) = $router->psql('router', "CALL sg_run('boom', '{\"log\": [2]}', '$bt', on_error => 'return')");
is($wrc, 0, 'with on_error => \'return\' the call ends normally');
like($werr, qr/WARNING:  node "a" of graph "boom" failed: boom at \[1, 2\]/, 'and warns, naming the node as one server does');

($wrc, $wout, $werr) = $router->psql('router', q{SELECT sg_interrupt('"?"')});
like($werr, qr/sg_interrupt\(\) can only be called by a node of a running graph/, 'sg_interrupt on the router: the error outside a node');
($wrc, $wout, $werr) = $router->psql('router', q{CALL sg_work(max_runs => 1)});
like($werr, qr/CALL sg_work\(\) cannot run through the router/, 'CALL sg_work on the router says it cannot run there');

# sg_reassign_owned: on every server, the counts added up (here the
# superuser's rows go to a role of each server, then back)
my $me = r('SELECT current_user');
my $owned_sql = q{SELECT (SELECT count(*) FROM stategraph.graphs WHERE owner = '%1$s')
	+ (SELECT count(*) FROM stategraph.threads WHERE owner = '%1$s')
	+ (SELECT count(*) FROM stategraph.runs WHERE owner = '%1$s')
	+ (SELECT count(*) FROM stategraph.tasks WHERE owner = '%1$s')
	+ (SELECT count(DISTINCT thread_id) FROM stategraph.lg_checkpoints WHERE owner = '%1$s')};
my @owned = map { on_shard($_, sprintf($owned_sql, $me)) } @shards;
cmp_ok($owned[$_], '>', 0, "server $_ holds rows of $me") for 0 .. 2;
$_->{node}->safe_psql('postgres', 'CREATE ROLE sg_heir') for @shards;
is(r("SELECT sg_reassign_owned('$me', 'sg_heir')"), $owned[0] + $owned[1] + $owned[2],
	'sg_reassign_owned through the router reassigns the rows of every server');
is(join(',', map { on_shard($_, sprintf($owned_sql, 'sg_heir')) } @shards), join(',', @owned),
	'each server\'s rows now belong to the new role');
is(r("SELECT sg_reassign_owned('sg_heir', '$me')"), $owned[0] + $owned[1] + $owned[2], 'and back');

# ---------------------------------------------------------------------------
# A shard down
# ---------------------------------------------------------------------------
my $on_a = thread_on($A, 'th-');
my $on_c = thread_on($C, 'th-');
$C->{node}->stop;
my ($rc, $out, $err) = $router->psql('router', "SELECT sg_get_state('$on_c')");
isnt($rc, 0, 'a call for a thread on a stopped server fails');
like($err, qr/shard_c/, 'the error names the server');
is(r("SELECT (sg_get_state('$on_a')).thread_id"), $on_a, 'threads on other servers keep working');
r("SELECT sg_invoke('counter', '{\"log\": [1]}', '$on_a')");
$C->{node}->start;
is(r("SELECT (sg_get_state('$on_c')).thread_id"), $on_c, 'the server serves its threads again once started');

done_testing();
