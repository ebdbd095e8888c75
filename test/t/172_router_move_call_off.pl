# A move that stopped while copying, sent back to the partition's own
# server to call it off. README: "a move that stopped while copying may
# also be sent to another server instead"; sent to its own server, the
# call went on as a move onto itself (the partition's frozen connection
# string is not the plain one): every thread was "copied" onto itself,
# the partition switched, and step 5 deleted every thread of the partition
# on its server, which was where they lived. Here:
#  - the move of partition 0 from sa to sb stops at its last thread (sb
#    refuses that import), the partition frozen, some copies on sb;
#  - move_partition(0, <sa>) moves nothing, unfreezes the partition,
#    deletes the partial copies on sb, and every thread of the partition
#    is still on sa, reads as before and takes writes;
#  - the move to sb then goes through.
# sa serves partition 0 only: while it is frozen, sa is reached through its
# read-only string alone, and the calls for every server that write there
# must skip it (a move refuses a partition with tasks or runs out): sg_claim
# failed every worker's claim with 25006 for the time of the move, after
# claiming, for no one, the tasks of the servers it had asked before; and
# sg_cancel of a run on no server was that 25006 instead of 42704.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('move_call_off', shards => [ 'sa', 'sb' ], shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }
sub in_0 { return $node->safe_psql($_[0], 'SELECT count(*) FROM stategraph.threads WHERE hashtext(thread_id) & 3 = 0'); }

r(qq{ALTER SERVER stategraph OPTIONS (SET partition_2 '$conn{sb}')});
r(q{SELECT count(sg_invoke('counter', '{"log": ["a"]}', thread_id => 't-' || i)) FROM generate_series(1, 30) i});
# an external task of a thread on sb
r(q{SELECT sg_create_graph('ext', '{"x": "replace"}');
	SELECT sg_add_external_node('ext', 'call', 'q');
	SELECT sg_add_edge('ext', '__start__', 'call');
	SELECT sg_add_edge('ext', 'call', '__end__');
	SELECT sg_compile('ext');
	SELECT sg_invoke('ext', '{"x": 0}', thread_id => 'e-3');});
is(r(q{SELECT count(*) FROM sg_tasks('q')}), '1', 'thread e-3 waits on an external task');
my $in_0 = in_0('sa');
cmp_ok($in_0, '>', 2, "partition 0 holds $in_0 threads on sa");
my $last = r(q{SELECT max(thread_id COLLATE "C") FROM sg_threads() WHERE hashtext(thread_id) & 3 = 0});
my $states = q{SELECT string_agg(thread_id || ' ' || (sg_get_state(thread_id))."values"::text, ',' ORDER BY thread_id)
	FROM sg_threads() WHERE thread_id LIKE 't-%'};
my $before = r($states);

# sb refuses the import of the partition's last thread: the move stops there
$node->safe_psql('sb', qq{CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \$\$
	BEGIN IF NEW.thread_id = '$last' THEN RAISE EXCEPTION 'sb refuses $last'; END IF; RETURN NEW; END \$\$;
	CREATE TRIGGER refuse BEFORE INSERT ON stategraph.threads FOR EACH ROW EXECUTE FUNCTION refuse();});
my $mover = $node->background_psql('router', on_error_stop => 0);
$mover->query("CALL stategraph_router.move_partition(0, '$conn{sb}')");
like($mover->{stderr}, qr/sb refuses \Q$last\E/, 'the move stops at the last thread');
like(r('SELECT connstr FROM stategraph_router.partitions() WHERE partition = 0'), qr/default_transaction_read_only/,
	'the partition is frozen');
is(in_0('sb'), $in_0 - 1, 'sb holds the partial copies');

# meanwhile, workers claim the tasks of sb
my ($rc, $out, $err) = $node->psql('router', q{SELECT task_id || ' ' || token FROM sg_claim('q', 'w1')});
my ($task, $token) = split / /, $out;
ok(defined $token, 'sg_claim hands out the task on sb while sa is frozen') or diag($err);
($rc, $out, $err) = $node->psql('router', qq{SELECT sg_complete('$task', '$token', '{"x": 1}')});
is($rc, 0, 'and sg_complete of that task works') or diag($err);
is(r(q{SELECT (sg_get_state('e-3'))."values"->'x'}), '1', 'its thread went on');
($rc, $out, $err) = $node->psql('router', q{SELECT * FROM sg_claim('q', 'w1', wait => '0.2 s')});
is($rc . $out, '0', 'a claim that finds nothing returns nothing');
unlike($err, qr/ERROR/, 'without an error');
($rc, $out, $err) = $node->psql('router', q{SELECT sg_cancel('00000000-0000-7000-8000-000000000000')},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  42704: run 00000000-0000-7000-8000-000000000000 does not exist/,
	'sg_cancel of a run on no server is 42704');

# sg_reassign_owned is refused while the partition is moved, as sg_prune of
# every thread is (before: made on sb, then 25006 through sa's read-only
# string; and on a server outside the cluster, the copies made before kept
# the old owner, which the switch gave them)
$node->safe_psql('postgres', 'CREATE ROLE alice; CREATE ROLE bob');
my $al = r(q{SELECT min('al-' || i) FROM generate_series(1, 20) i WHERE hashtext('al-' || i) & 3 <> 0});
$node->safe_psql('sb', qq{SET ROLE alice; SELECT sg_invoke('counter', '{}', thread_id => '$al')});
($rc, $out, $err) = $node->psql('router', q{SELECT sg_reassign_owned('alice', 'bob')},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  25006: partition 0 is being moved/, 'sg_reassign_owned is refused while partition 0 is moved (25006)');
is($node->safe_psql('sb', qq{SELECT owner FROM stategraph.threads WHERE thread_id = '$al'}), 'alice',
	'and changes nothing on the other servers');

# called off, in the session of the move (which keeps the turn)
$mover->{stderr} = '';
is(scalar $mover->query("CALL stategraph_router.move_partition(0, '$conn{sa}')"), '0',
	'sent back to its own server, the move moves nothing');
unlike($mover->{stderr}, qr/ERROR/, 'without an error');
$mover->quit;
is(r('SELECT connstr FROM stategraph_router.partitions() WHERE partition = 0'), $conn{sa},
	'the partition is on sa, unfrozen');
is(in_0('sa'), $in_0, "sa still holds the $in_0 threads of the partition");
is(in_0('sb'), '0', 'the partial copies on sb are deleted');
is(r('SELECT count(*) FROM stategraph_router.pending_copies') . r('SELECT count(*) FROM stategraph_router.pending_deletes'),
	'00', 'nothing is pending');
is($node->safe_psql('sa', 'SELECT count(*) FROM stategraph.partition_holds'), '0', 'nor held on sa');
is(r($states), $before, 'every thread reads as before');
is(r(qq{SELECT sg_invoke('counter', '{"log": ["b"]}', thread_id => '$last')->'log'}), '["a", "b"]',
	"and $last takes writes");

# the move itself, once sb takes every thread
$node->safe_psql('sb', 'DROP TRIGGER refuse ON stategraph.threads');
is(r("CALL stategraph_router.move_partition(0, '$conn{sb}')"), $in_0, "then the move to sb moves the $in_0 threads");
is(in_0('sa') . '/' . in_0('sb'), "0/$in_0", 'they are on sb only');
is(r('SELECT count(*) FROM sg_threads()'), '32', 'every thread is listed once');
is(r(q{SELECT sg_reassign_owned('alice', 'bob')}), '1', 'sg_reassign_owned works once no partition is moved');

$node->stop;
done_testing();
