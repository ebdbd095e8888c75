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
for my $p (@to_c)
{
	$moved += r("CALL stategraph_router.move_partition($p, '$C->{connstr}')");
}
r('INSERT INTO load_stop VALUES (true)');
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
r(q{SELECT sg_drop_graph('only_a')});
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
