# A design limit of move_partition, stated in README (Adding a server): the
# freeze of a partition is of the router's connection string only
# (default_transaction_read_only). A write that reaches the old server
# directly (a client connected to it, CALL sg_run at shard_of, a
# LangGraph.js saver pointed at it) is not refused, and one that comes
# after the move's last check of the copies is lost: the switch routes to
# the copy, and step 5 deletes the old server's threads of the partition,
# a thread created there meanwhile too. This test shows it, so that README
# keeps saying so (and a change of it is seen).
#
# The move is held at its switch, after its last check, by a router session
# that locks pg_foreign_server (as TAP 039).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('rdirect', shards => [ 'shard_a', 'shard_b', 'shard_c' ],
	shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }

my $held = thread_of_partition($node, 'h', 0);
my $kept = thread_of_partition($node, 'k', 0);
my $new = thread_of_partition($node, 'n', 0);
r(qq{SELECT sg_invoke('counter', '{"log": [1]}', t) FROM unnest(ARRAY['$held', '$kept']) t});

# the move of partition 0 (shard_a) to shard_c, held at the import of $held
# until a router session locks pg_foreign_server, then at its switch
my $b = $node->background_psql('shard_c');
$b->query_safe(qq{BEGIN; SELECT sg_invoke('counter', '{"log": [9]}', '$held')});
my ($out, $err) = ('', '');
my $move = IPC::Run::start(
	[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('router'),
	  '-c', "CALL stategraph_router.move_partition(0, '$conn{shard_c}')" ],
	'>', \$out, '2>', \$err);
ok($node->poll_query_until('shard_c', q{SELECT count(*) > 0 FROM pg_stat_activity
	WHERE datname = 'shard_c' AND wait_event_type = 'Lock'}), 'the move is copying');
my $lock = $node->background_psql('router');
$lock->query_safe('BEGIN; LOCK TABLE pg_catalog.pg_foreign_server IN EXCLUSIVE MODE');
$b->query_safe('ROLLBACK');
$b->quit;
ok($node->poll_query_until('router', q{SELECT count(*) > 0 FROM pg_stat_activity
	WHERE datname = 'router' AND wait_event_type = 'Lock' AND query LIKE '%move_partition%'}),
	'it has checked its copies and waits at its switch');

# through the router the partition is frozen; on the old server directly it is not
my ($ret, $o, $e) = $node->psql('router', qq{SELECT sg_invoke('counter', '{"log": [2]}', '$kept')},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($e, qr/25006/, 'a write through the router is refused (25006)');
is($node->safe_psql('shard_a', qq{SELECT sg_invoke('counter', '{"log": [2]}', '$kept') ->> 'log'}), '[1, 2]',
	'a write on the old server directly is not');
is($node->safe_psql('shard_a', qq{SELECT sg_invoke('counter', '{"log": [3]}', '$new') ->> 'log'}), '[3]',
	'nor is a new thread of the partition there');

$lock->query_safe('COMMIT');
$lock->quit;
$move->finish;
is($err, '', 'the move ends');
is(r("SELECT values ->> 'log' FROM sg_get_state('$kept')"), '[1]', 'the direct write after the last check is lost');
($ret, $o, $e) = $node->psql('router', "SELECT sg_get_state('$new')");
like($e, qr/does not exist/, 'and so is the thread created directly');
is($node->safe_psql('shard_a', "SELECT count(*) FROM stategraph.threads WHERE thread_id IN ('$kept', '$new')"), '0',
	"step 5 deleted both from the old server");

done_testing();
