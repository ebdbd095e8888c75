# Findings of a review of the router (session 52), each shown as it was
# and as it is now:
#
#  1. sg_update_state through the router from a checkpoint id held by
#     threads of two roles took any holder on another server (LIMIT 1, in
#     no order, no role looked at): a superuser's update from alice's
#     checkpoint forked a copy bob had planted on another server (his own
#     export, one checkpoint id set to alice's, digest made again, imported).
#     One server refuses such an id (42P08, branch.c); the router now does
#     the same, and of one role's holders takes the first by thread_id.
#  2. move_partition took a thread already on the target for the copy when
#     its head and checkpoint count matched, whoever made it there: bob's
#     doctored import under alice's thread id and head id replaced alice's
#     thread at the switch, and step 5 deleted hers. A thread on the target
#     that no move of the partition copied is refused (42710); copies are
#     compared with their role too, so a resumed move copies the original
#     again over another role's.
#  3. stategraph_router.submit (PUBLIC, an explicit partition hash) started
#     a role's thread on a server that does not serve the thread's
#     partition; it is refused now (22023), sg_submit works as before.
#  4. check_definitions asked every connection string: a server one of
#     whose partitions was frozen (being moved) counted twice, and the
#     server that differed was the only one listed.
#  5. CALL sg_run(..., on_error => 'return') through the router warned with
#     SQLSTATE 01000 and the node's message alone; as on one server, the
#     WARNING has the node's SQLSTATE and names the node and graph.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('rreview52', shards => [ 'shard_a', 'shard_b', 'shard_c' ],
	shard_sql => counter_shard_sql() . q{
		CREATE FUNCTION boom(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $b$
		BEGIN RAISE EXCEPTION 'boom %', jsonb_array_length(state->'log') USING ERRCODE = 'P0042'; END $b$;});
$node->safe_psql('postgres', 'CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN');
$node->safe_psql('router', 'GRANT USAGE ON FOREIGN SERVER stategraph TO PUBLIC');
sub r { return $node->safe_psql('router', $_[0]); }

# psql in $db as $role (a superuser's session with SET ROLE; '' for the
# superuser); returns (stdout, stderr), errors verbose
sub as
{
	my ($db, $role, $sql) = @_;
	my ($out, $err) = ('', '');
	$node->psql($db, ($role ? "SET ROLE $role;\n" : '') . $sql, stdout => \$out, stderr => \$err,
		on_error_stop => 0, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return ($out, $err);
}

# SQL of an export $e (a psql variable) with its digest made again, as
# anyone who edits an export can
my $redigest = q{jsonb_set(:'e', '{digest}', to_jsonb(md5(COALESCE((:'e'::jsonb)->'thread', 'null')::text
	|| COALESCE((:'e'::jsonb)->'checkpoints', 'null')::text || COALESCE((:'e'::jsonb)->'fork_writes', 'null')::text)))};

# ---------------------------------------------------------------------------
# 1. sg_update_state from a checkpoint id that threads of two roles hold
# ---------------------------------------------------------------------------
my $a1 = thread_of_partition($node, 'al', 0);     # shard_a
my $a2 = thread_of_partition($node, 'al', 1);     # shard_b: alice's own copy
my $a3 = thread_of_partition($node, 'am', 2);     # shard_a: updated from her checkpoint
my $b1 = thread_of_partition($node, 'bo', 3);     # shard_b
my $bp = thread_of_partition($node, 'bp', 1);     # shard_b: bob's planted copy
my $su = thread_of_partition($node, 'su', 0);     # shard_a: the superuser's update
as('router', 'alice', qq{SELECT sg_invoke('counter', '{"log": ["alice"]}', '$a1')});
my $cp = r("SELECT checkpoint_id FROM sg_get_state('$a1')");
# alice's copy of her thread on the other server: one role holds the checkpoint twice
my ($out, $err) = as('router', 'alice', qq{SELECT sg_export_thread('$a1') AS e \\gset
	SELECT sg_import_thread(:'e', '$a2')});
is($err, '', 'alice copies her thread to the other server');
($out, $err) = as('router', 'alice', qq{SELECT sg_update_state('$a3', '{"log": ["x"]}', as_node => 'noop', checkpoint_id => '$cp') IS NOT NULL;
	SELECT values FROM sg_get_state('$a3')});
is($err, '', 'an update from a checkpoint that two threads of one role hold works');
like($out, qr/\{"log": \["alice", "x"\]\}/, 'from that checkpoint');

# bob's thread, its first checkpoint id set to alice's (older than bob's
# others, as an import requires), made again under another id on shard_b
as('router', 'bob', qq{SELECT sg_invoke('counter', '{"log": ["bob"]}', '$b1')});
($out, $err) = as('router', 'bob', qq{SELECT replace(sg_export_thread('$b1')::text,
		sg_export_thread('$b1') #>> '{checkpoints,0,checkpoint_id}', '$cp')::jsonb AS e \\gset
	SELECT sg_import_thread($redigest, '$bp')});
is($err, '', 'bob imports a copy of his thread that holds alice\'s checkpoint id');
($out, $err) = as('router', '', qq{SELECT string_agg(owner || ' ' || role, ', ' ORDER BY owner) FROM stategraph_router.checkpoint_owners('$cp')});
is($out, "$a1 alice, $a2 alice, $bp bob", 'checkpoint_owners gives each holder\'s role');

($out, $err) = as('router', '', qq{SELECT sg_update_state('$su', '{}', checkpoint_id => '$cp')});
like($err, qr/ERROR:  42P08: checkpoint $cp is held by threads of more than one role/,
	'a superuser\'s update through the router from that checkpoint id: 42P08, as on one server');
like($err, qr/DETAIL:  Threads "$a1" and "$bp" hold it \(an imported copy keeps its checkpoint ids\)\./, 'with its detail');
like($err, qr/HINT:  Name the thread: sg_fork\(thread_id, checkpoint_id, new_thread_id\)\./, 'and its hint');
is(r("SELECT count(*) FROM sg_threads() WHERE thread_id = '$su'"), '0', 'nothing stored');
($out, $err) = as('router', '', qq{SELECT sg_fork('$a1', '$cp', '$su') IS NOT NULL});
is($err, '', 'naming the thread (sg_fork) still works');

# ---------------------------------------------------------------------------
# 3. stategraph_router.submit with a partition that is not the thread's
# ---------------------------------------------------------------------------
my $v = thread_of_partition($node, 'vv', 0);     # shard_a
my $w = thread_of_partition($node, 'vw', 1);     # shard_b
($out, $err) = as('router', 'bob', qq{SELECT stategraph_router.submit(1, 'counter', '{"log": ["bob"]}', '$v',
	NULL, NULL, 25, 'reject', NULL, NULL)});
like($err, qr/ERROR:  22023: thread "$v" is not on partition 1/, 'submit to a partition that is not the thread\'s: 22023');
is($node->safe_psql('shard_b', "SELECT count(*) FROM stategraph.threads WHERE thread_id = '$v'"), '0',
	'no thread started on that server');
($out, $err) = as('router', 'bob', q{SELECT stategraph_router.submit(1, 'counter', '{"log": ["bob"]}', NULL,
	NULL, NULL, 25, 'reject', NULL, NULL)});
like($err, qr/ERROR:  22023: a submit of a new thread needs its thread_id here/,
	'submit of a new thread without its thread_id: 22023');
is($node->safe_psql('shard_b', "SELECT count(*) FROM stategraph.runs WHERE owner = 'bob'"), '0', 'no run queued');
($out, $err) = as('router', 'bob', qq{SELECT status FROM sg_wait(sg_submit('counter', '{"log": ["bob"]}', '$v'));
	SELECT status FROM sg_wait(sg_submit('counter', '{"log": ["bob"]}', '$w', idempotency_key => 'k1'));
	SELECT status FROM sg_wait(sg_submit('counter', '{"log": ["bob"]}', idempotency_key => 'k2'));
	SELECT status FROM sg_wait(stategraph_router.submit(5, 'counter', '{"log": ["bob"]}', '$w', NULL, NULL, 25, 'reject', NULL, NULL))});
is($err, '', 'sg_submit, and submit with any hash of the thread\'s partition, work as before');
is($out, "success\nsuccess\nsuccess\nsuccess", 'their runs succeed');

# ---------------------------------------------------------------------------
# 4. check_definitions while a partition is frozen
# ---------------------------------------------------------------------------
$node->safe_psql('shard_a', q{SELECT sg_create_graph('g', '{"a": "append"}')});
$node->safe_psql('shard_b', q{SELECT sg_create_graph('g', '{"b": "append"}')});
my $defs = q{SELECT string_agg(server || ' ' || partitions::text || ': ' || problem, '; ' ORDER BY server)
	FROM stategraph_router.check_definitions() WHERE graph = 'g'};
my $both = "$conn{shard_a} {0,2}: different definition (no definition is on most servers); "
  . "$conn{shard_b} {1,3}: different definition (no definition is on most servers)";
is(r($defs), $both, 'graph g differs on two servers: both are listed');
my $frozen = r(qq{SELECT stategraph_router.frozen('$conn{shard_b}')}) =~ s/'/''/gr;
r(qq{ALTER SERVER stategraph OPTIONS (SET partition_1 '$frozen')});
is(r($defs), $both, 'and so they are while a partition of one of them is frozen');
r(qq{ALTER SERVER stategraph OPTIONS (SET partition_1 '$conn{shard_b}')});
$node->safe_psql($_, q{SELECT sg_drop_graph('g')}) for ('shard_a', 'shard_b');

# ---------------------------------------------------------------------------
# 2. move_partition onto a server where another role put the thread
# ---------------------------------------------------------------------------
my $b9 = thread_of_partition($node, 'b9', 1);
my $m = thread_of_partition($node, 'mv', 0);     # shard_a, to move to shard_c
as('router', 'bob', qq{SELECT sg_invoke('counter', '{"log": ["bob"]}', '$b9')});
as('router', 'alice', qq{SELECT sg_invoke('counter', '{"log": ["alice"]}', '$m')});
my $head = r("SELECT checkpoint_id FROM sg_get_state('$m')");
# bob's thread as alice's: her thread id, her head id, as many checkpoints
($out, $err) = as('router', 'bob', qq{SELECT replace(sg_export_thread('$b9')::text,
		sg_export_thread('$b9') #>> '{thread,head}', '$head')::jsonb AS e \\gset
	\\c shard_c
	SET ROLE bob;
	SELECT sg_import_thread($redigest, '$m')});
is($err, '', 'bob puts a thread of his on shard_c under alice\'s thread id and head');
is($node->safe_psql('shard_c', "SELECT owner || ' ' || head FROM stategraph.threads WHERE thread_id = '$m'"),
	"bob $head", 'it is there, his');

($out, $err) = as('router', '', qq{CALL stategraph_router.move_partition(0, '$conn{shard_c}')});
like($err, qr/ERROR:  42710: thread "$m" is already on \Q$conn{shard_c}\E/,
	'the move of partition 0 there stops at it (42710), not taking it for the copy');
is($node->safe_psql('shard_a', "SELECT owner FROM stategraph.threads WHERE thread_id = '$m'"), 'alice',
	'alice\'s thread is still on shard_a');
# called again, the move goes on from its copies, and checks each against
# its original, role included: bob's is replaced by a copy of alice's
($out, $err) = as('router', '', qq{CALL stategraph_router.move_partition(0, '$conn{shard_c}')});
is($err, '', 'called again, the move ends');
is(r("SELECT connstr FROM stategraph_router.partitions() WHERE partition = 0"), $conn{shard_c}, 'partition 0 is on shard_c');
is($node->safe_psql('shard_c', "SELECT owner || ' ' || head FROM stategraph.threads WHERE thread_id = '$m'"),
	"alice $head", 'the thread there is alice\'s copy');
($out, $err) = as('router', 'alice', qq{SELECT values FROM sg_get_state('$m')});
is($out, '{"log": ["alice"]}', 'alice reads her thread through the router');

# ---------------------------------------------------------------------------
# 5. CALL sg_run(..., on_error => 'return') through the router
# ---------------------------------------------------------------------------
r(q{SELECT sg_create_graph('gb', '{"log": "append"}');
	SELECT sg_add_node('gb', 'boom', 'boom(jsonb)');
	SELECT sg_add_edge('gb', '__start__', 'boom');
	SELECT sg_add_edge('gb', 'boom', '__end__');
	SELECT sg_compile('gb');});
my $rt = thread_of_partition($node, 'rt', 1);
($out, $err) = as('router', '', qq{CALL sg_run('gb', '{"log": [1, 2, 3, 4, 5, 6]}', '$rt', on_error => 'return')});
my ($direct_out, $direct_err) = as('shard_b', '', q{CALL sg_run('gb', '{"log": [1, 2, 3, 4, 5, 6]}', 'rt-direct', on_error => 'return')});
like($direct_err, qr/WARNING:  P0042: node "boom" of graph "gb" failed: boom 6$/m, 'on one server: the node\'s SQLSTATE and the node named');
like($err, qr/WARNING:  P0042: node "boom" of graph "gb" failed: boom 6$/m, 'through the router: the same');

done_testing();
