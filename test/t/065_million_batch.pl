# A million threads in one statement (issue #12, "batches of any size"):
# `SELECT sg_invoke(...) FROM <a million rows>` on a server with the default
# lock table (max_connections 100, max_locks_per_transaction 64: 6,400
# entries per lock kind). A thread's writer holds its thread's row lock, not
# an entry of the shared lock table (src/checkpoint.c, Thread locks), so the
# statement needs no lock entry per thread; before 0.2.0 it failed with
# 53200 "out of shared memory" after about 10,000 threads. 003_batch checks
# the same with a tiny lock table and 20,000 threads, and the details (one
# writer per thread, several statements in one transaction); this test
# shows the size the issue names. It takes a few minutes.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $n = 1_000_000;
my $node = batch_node('million', "max_connections = 100\nmax_locks_per_transaction = 64\n", $n);
my $table = $node->safe_psql('postgres',
	"SELECT setting::int * (SELECT setting::int FROM pg_settings WHERE name = 'max_connections') FROM pg_settings WHERE name = 'max_locks_per_transaction'");
is($table, 6400, 'the default lock table: 6,400 entries per lock kind');

# one statement, one transaction: a million new threads
my $t0 = time;
my ($ret, $out, $err) = $node->psql('postgres',
	"SELECT count(sg_invoke('batch', jsonb_build_object('n', o.id), thread_id => o.id::text)) FROM orders o");
is("$ret|$out|$err", "0|$n|", "one statement starts $n threads (no 53200)");
note('the statement took ' . (time - $t0) . ' s');

is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.threads}), $n, 'a million threads stored');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM stategraph.threads t LEFT JOIN stategraph.checkpoints c
		  ON c.thread_id = t.thread_id AND c.checkpoint_id = t.head WHERE c.checkpoint_id IS NULL}),
	0, 'each with its head checkpoint');
# every thread's state, read with sg_get_state for a sample spread over the whole table
is($node->safe_psql('postgres',
		q{SELECT count(*), count(*) FILTER (WHERE ("values"->>'n')::int = o.id + 1 AND next = '{}')
		  FROM orders o, sg_get_state(o.id::text) WHERE o.id % 1000 = 7}),
	'1000|1000', 'a thousand threads across the batch each ran once on its own input');
ok(no_advisory_lock_left($node), 'no advisory lock left');

done_testing();
