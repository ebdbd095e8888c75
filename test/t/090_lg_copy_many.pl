# Copies (copyThread, sg_lg_copy_thread) and imports (sg_import_thread) of
# many LangGraph.js threads in one transaction, with the default
# max_locks_per_transaction (64: a shared lock table of some 7,000 entries
# for the whole server). Each held its new thread's writers' lock until
# commit, one entry per thread: 20,000 of them in one statement failed
# with "out of shared memory" (53200), as sg_invoke did before issue #12.
# Now a copy or import lets go of the lock once the thread is stored, and
# a put, put_writes, delete, prune, copy or import of the same id waits
# for its commit on the rows it stored (lgsaver.c, lg_wait_stored).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $n = 20000;
my $node = batch_node('lg_copy_many', "max_connections = 100\nmax_locks_per_transaction = 64\n", 1);
is($node->safe_psql('postgres', 'SHOW max_locks_per_transaction'), '64', 'the default lock table');
lg_chain_put($node);
$node->safe_psql('postgres', q{
    SELECT lgput('src', k) FROM generate_series(1, 3) k;
    SELECT sg_lg_put_writes('src', '', '1ef00000-0000-6000-8000-000000000003', 'task-1',
                            '[["m", "a pending write"]]');
    -- a thread's rows as stored, under any id (sg_export_thread without its id and digest)
    CREATE FUNCTION rows_of(thread text) RETURNS jsonb LANGUAGE sql AS $$
        SELECT sg_export_thread(thread) - 'thread_id' - 'digest' $$;
    CREATE TABLE bk AS SELECT sg_export_thread('src') AS data;
});

# Whether the ids prefix-1 .. prefix-n each read as thread src: each has in
# each table a row like each of src's (all but its thread id and owner), and
# so as many as src (a thread has one row of a key); and a sample of them
# reads src's state.
sub read_as_source
{
	my ($prefix) = @_;
	my @counts;
	for my $table ('lg_checkpoints', 'lg_blobs', 'lg_writes')
	{
		push @counts, $node->safe_psql('postgres', qq{
			SELECT CASE WHEN count(DISTINCT c.thread_id) = $n AND count(*) = $n * (SELECT count(*) FROM stategraph.$table WHERE thread_id = 'src')
			            THEN '$table ok' ELSE '$table: ' || count(DISTINCT c.thread_id) || ' threads, ' || count(*) || ' rows' END
			  FROM stategraph.$table c WHERE c.thread_id LIKE '$prefix-%' AND EXISTS (SELECT 1 FROM stategraph.$table s
			   WHERE s.thread_id = 'src' AND to_jsonb(s) - 'thread_id' - 'owner' = to_jsonb(c) - 'thread_id' - 'owner')});
	}
	my $sample = $node->safe_psql('postgres', qq{
		SELECT count(*) FILTER (WHERE rows_of('$prefix-' || i) = rows_of('src')
		                          AND (SELECT "values" FROM sg_get_state('$prefix-' || i)) = (SELECT "values" FROM sg_get_state('src')))
		  FROM generate_series(1, $n) i WHERE i % 1000 = 7});
	return join(', ', @counts, $sample);
}
my $each = join(', ', 'lg_checkpoints ok', 'lg_blobs ok', 'lg_writes ok', $n / 1000);

my ($ret, $out, $err) = $node->psql('postgres',
	"SELECT count(sg_lg_copy_thread('src', 'copy-' || i)) FROM generate_series(1, $n) i");
is("$ret|$out|$err", "0|$n|", "$n copies in one statement (no 53200)");
is(read_as_source('copy'), $each, 'each copy reads as its source');

($ret, $out, $err) = $node->psql('postgres',
	"SELECT count(sg_import_thread(data, 'imp-' || i)) FROM bk, generate_series(1, $n) i");
is("$ret|$out|$err", "0|$n|", "$n imports in one statement (no 53200)");
is(read_as_source('imp'), $each, 'each import reads as its source');

# several statements of one transaction
($ret, $out, $err) = $node->psql('postgres', qq{
	BEGIN;
	SELECT count(sg_lg_copy_thread('src', 'tx-' || i)) FROM generate_series(1, $n / 2) i;
	SELECT count(sg_import_thread(data, 'tx-' || i)) FROM bk, generate_series($n / 2 + 1, $n) i;
	COMMIT;});
is("$ret|$err", "0|", "$n copies and imports in one transaction") or diag($out);
is(read_as_source('tx'), $each, 'each reads as its source');
ok(no_advisory_lock_left($node), 'no advisory lock left');

$node->stop('fast');
done_testing();
