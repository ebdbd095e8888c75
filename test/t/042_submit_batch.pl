# Batches of any size in one statement, for sg_submit (issues 9 and 12):
# SELECT sg_submit(...) FROM orders pushes a table into background runs in
# one transaction. A submit with a thread_id or an idempotency_key holds a
# row lock of stategraph.submit_locks until commit, not an entry of the
# shared lock table: with an advisory lock per thread (0.2.0 before this
# test) the statement failed with 53200 "out of shared memory" after a few
# thousand threads. The server here keeps the default lock table
# (max_locks_per_transaction 64 x max_connections 100: 6,400 entries a
# kind), and each statement submits 100,000 keys, then the background
# workers run everything it queued. (The one advisory lock a batch holds is
# its role name's, against sg_reassign_owned (src/reassign.c): objsubid
# 21071, 'RO', one per role, whatever the number of threads.)
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SGNode;
use Test::More;

my $n = 100000;
my $node = preloaded_node('submit_batch');

$node->safe_psql('postgres', qq{
	CREATE EXTENSION stategraph;
	CREATE FUNCTION inc(state jsonb) RETURNS jsonb LANGUAGE sql
		AS \$\$ SELECT jsonb_build_object('n', COALESCE((state->>'n')::int, 0) + 1) \$\$;
	SELECT sg_create_graph('batch', '{"n": "replace"}');
	SELECT sg_add_node('batch', 'inc', 'inc(jsonb)');
	SELECT sg_add_edge('batch', '__start__', 'inc');
	SELECT sg_add_edge('batch', 'inc', '__end__');
	SELECT sg_compile('batch');
	CREATE TABLE orders AS SELECT i AS id FROM generate_series(1, $n) i;
});
my $table = $node->safe_psql('postgres',
	"SELECT current_setting('max_locks_per_transaction')::int * current_setting('max_connections')::int");
is($table, 6400, 'the default lock table');

# wait until no run is pending or running; returns the runs by status
sub finished
{
	my ($what) = @_;
	ok($node->poll_query_until('postgres',
			q{SELECT count(*) = 0 FROM stategraph.runs WHERE status IN ('pending', 'running')}, 't'),
		"the workers finish $what");
	return $node->safe_psql('postgres', 'SELECT status, count(*) FROM stategraph.runs GROUP BY 1 ORDER BY 1');
}

# 1. one statement submits to $n new threads named by the caller
my ($ret, $out, $err) = $node->psql('postgres', q{
	BEGIN;
	SELECT count(DISTINCT sg_submit('batch', jsonb_build_object('n', o.id), thread_id => 'o' || o.id)) FROM orders o;
	SELECT count(*) FILTER (WHERE objsubid <> 21071) || ' ' || count(*) FILTER (WHERE objsubid = 21071)
	  FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory';
	COMMIT;
});
is("$ret|$out|$err", "0|$n\n0 1|", "one statement submits to $n threads, holding no advisory lock but its role name's");
is($node->safe_psql('postgres', q{SELECT count(*), count(DISTINCT thread_id) FROM stategraph.runs}),
	"$n|$n", 'every run is stored, one per thread');
is(finished('the threads\' runs'), "success|$n", 'every run succeeded');
is($node->safe_psql('postgres',
		q{SELECT count(*), count(*) FILTER (WHERE ("values"->>'n')::int = o.id + 1) FROM orders o, sg_get_state('o' || o.id)}),
	"$n|$n", 'each thread ran once on its own input');

# 2. one statement with $n idempotency keys (each run on a thread of its own), then the same statement again
($ret, $out, $err) = $node->psql('postgres',
	q{SELECT count(DISTINCT sg_submit('batch', jsonb_build_object('n', o.id), idempotency_key => 'k' || o.id)) FROM orders o});
is("$ret|$out|$err", "0|$n|", "one statement submits $n runs with idempotency keys");
is($node->safe_psql('postgres', q{
		SELECT count(DISTINCT sg_submit('batch', jsonb_build_object('n', o.id), idempotency_key => 'k' || o.id)) FROM orders o;
		SELECT count(*), count(DISTINCT idempotency_key) FROM stategraph.runs WHERE idempotency_key IS NOT NULL;
		SELECT count(*) FROM (SELECT sg_submit('batch', jsonb_build_object('n', o.id), idempotency_key => 'k' || o.id) AS r
			FROM orders o) s JOIN stategraph.runs r ON r.run_id = s.r AND r.idempotency_key = 'k' || (r.input->>'n')}),
	"$n\n$n|$n\n$n", 'submitting the keys again returns their runs and stores nothing new');
is(finished('the keyed runs'), "success|" . (2 * $n), 'every keyed run succeeded');

# 3. a mixed batch in one transaction: half the thread ids exist, half are new
#    ($m threads: three times the lock table, at a fifth of the workers' time).
#    Each existing thread first gets a run (n = -1), so that the batch's run
#    (n = id, enqueue) queues behind it: in FIFO order the thread ends at
#    id + 1, the other way round at 0.
my $m = 20000;
my $half = $m / 2;
($ret, $out, $err) = $node->psql('postgres', qq{
	BEGIN;
	SELECT count(sg_submit('batch', '{"n": -1}', thread_id => 'o' || o.id)) FROM orders o WHERE o.id <= $half;
	SELECT count(sg_submit('batch', jsonb_build_object('n', o.id),
	                       thread_id => CASE WHEN o.id <= $half THEN 'o' ELSE 'p' END || o.id,
	                       multitask => 'enqueue', idempotency_key => 'm' || o.id)) FROM orders o WHERE o.id <= $m;
	SELECT count(*) FILTER (WHERE objsubid <> 21071) || ' ' || count(*) FILTER (WHERE objsubid = 21071)
	  FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory';
	COMMIT;
});
is("$ret|$out|$err", "0|$half\n$m\n0 1|", 'a batch over existing and new threads, with keys, in one transaction');
is(finished('the mixed batch'), "success|" . (2 * $n + $m + $half), 'every run of the mixed batch succeeded');
is($node->safe_psql('postgres', qq{
		SELECT count(*) FILTER (WHERE o.id <= $half), count(*) FILTER (WHERE o.id > $half)
		FROM orders o, sg_get_state(CASE WHEN o.id <= $half THEN 'o' ELSE 'p' END || o.id)
		WHERE o.id <= $m AND ("values"->>'n')::int = o.id + 1}),
	"$half|$half", 'existing threads ran both their runs in FIFO order, new threads their one');

# 4. a submit of one of these threads still refuses a second active run (multitask reject)
$node->safe_psql('postgres', q{SELECT sg_submit('batch', NULL, thread_id => 'o1', after => '1 hour')});
($ret, $out, $err) = $node->psql('postgres', q{SELECT sg_submit('batch', NULL, thread_id => 'o1')});
like($err, qr/thread "o1" already has an active run/, 'reject still refuses a second active run of a thread');

# 5. the sweep empties the lock rows nobody holds
ok($node->safe_psql('postgres', 'SELECT count(*) FROM stategraph.submit_locks') > 0, 'the submits left lock rows');
$node->safe_psql('postgres', 'CALL sg_work(0)');
is($node->safe_psql('postgres', 'SELECT count(*) FROM stategraph.submit_locks'), '0',
	'CALL sg_work sweeps them away');

$node->stop;
done_testing();
