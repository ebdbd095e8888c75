# Batches of any size in one statement: a transaction may write any number
# of threads, because a thread's writer holds its row lock until commit,
# not an entry of the shared lock table (src/checkpoint.c, Thread locks).
#
# The server gets a lock table of about 300 entries (max_connections 10,
# max_locks_per_transaction 10, plus the background processes), and one
# statement writes 20,000 threads: 60 times what an entry per thread would
# allow, as a million threads is 100 times the default table (6,400
# entries). 065_million_batch runs a million-thread statement on a default
# server.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGNode;

my $n = 20000;
my $node = batch_node('batch', "max_connections = 10\nmax_locks_per_transaction = 10\nmax_wal_senders = 0\n", $n);
my $table = $node->safe_psql('postgres',
	"SELECT setting::int * (SELECT setting::int FROM pg_settings WHERE name = 'max_connections') FROM pg_settings WHERE name = 'max_locks_per_transaction'");
ok($table < $n / 50, "the lock table is small ($table entries per lock kind)");

# new threads, one statement
is($node->safe_psql('postgres',
		"SELECT count(sg_invoke('batch', jsonb_build_object('n', o.id), thread_id => o.id::text)) FROM orders o"),
	$n, "one statement starts $n threads");
is($node->safe_psql('postgres', "SELECT count(*), sum((\"values\"->>'n')::int - id) FROM orders o, sg_get_state(o.id::text)"),
	"$n|$n", 'each thread ran once on its own input');

# existing threads, several statements in one transaction, holding no lock per thread
my $out = $node->safe_psql('postgres', q{
	BEGIN;
	SELECT count(sg_invoke('batch', '{"n": 0}', thread_id => o.id::text)) FROM orders o;
	SELECT count(sg_update_state(o.id::text, '{"n": 100}')) FROM orders o;
	SELECT count(sg_fork(o.id::text, (sg_get_state(o.id::text)).checkpoint_id, 'fork-' || o.id)) FROM orders o WHERE o.id <= 5000;
	SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory';
	COMMIT;
});
is($out, "$n\n$n\n5000\n0", 'invoke, update_state and fork over every thread in one transaction; no advisory lock kept');
is($node->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE ("values"->>'n')::int = 100), count(*)
		FROM orders o, sg_get_state(o.id::text)}), "$n|$n", 'every update is there');
is($node->safe_psql('postgres', q{SELECT count(*) FROM sg_threads('batch')}), $n + 5000, 'and every fork');

# one writer per thread still: a batch waits for another session's uncommitted run of one of its threads
my $bg = $node->background_psql('postgres');
$bg->query_safe("BEGIN; SELECT sg_invoke('batch', '{\"n\": 1000}', thread_id => '7')");
my ($bout, $berr) = ('', '');
my $batch = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $node->connstr('postgres'), '-c',
	  q{SELECT count(sg_invoke('batch', '{}', thread_id => o.id::text)) FROM orders o WHERE o.id BETWEEN 1 AND 10} ],
	'>', \$bout, '2>', \$berr);
ok($node->poll_query_until('postgres',
		q{SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%BETWEEN 1 AND 10%'}),
	'the batch waits for the thread another session is writing');
$bg->query_safe('COMMIT');
$bg->quit;
$batch->finish;
is("$bout|$berr", "10\n|", 'the batch goes on when that session commits');
is($node->safe_psql('postgres', q{SELECT "values"->>'n' FROM sg_get_state('7')}), '1002',
	'then runs on top of what that session committed');

done_testing();
