# sg_import_thread of many stategraph threads in one transaction, with the
# default max_locks_per_transaction. An import holds its new thread's row,
# as sg_invoke does (src/checkpoint.c, Thread locks), not a lock entry per
# thread, so it had no limit there (090 is the LangGraph.js side); but each
# import read every thread of the table: the kept plan of its checkpoints'
# insert looked up a fork's source thread with a hashed subplan, built from
# a scan of stategraph.threads at every import, for any export, so that
# 2,000 imports in one transaction read the table 4,000 times and 20,000
# took many minutes (time growing with the square of their number). The
# lookup is one index probe per fork row now (portable.c, store).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = batch_node('import_many', "max_connections = 100\nmax_locks_per_transaction = 64\n", 1);
is($node->safe_psql('postgres', 'SHOW max_locks_per_transaction'), '64', 'the default lock table');
$node->safe_psql('postgres', q{
    SELECT sg_invoke('batch', '{"n": 1}', thread_id => 'src');
    SELECT sg_fork('src', (SELECT head FROM stategraph.threads WHERE thread_id = 'src'), 'fork');
    CREATE TABLE bk AS SELECT sg_export_thread('src') AS data, sg_export_thread('fork') AS fork;
});

# the scans of stategraph.threads by 2,000 imports in one transaction
my $m = 2000;
my ($ret, $out, $err) = $node->psql('postgres', qq{
	BEGIN;
	SELECT count(sg_import_thread(data, 'a-' || i)) FROM bk, generate_series(1, $m) i;
	SELECT seq_scan FROM pg_stat_xact_user_tables WHERE schemaname = 'stategraph' AND relname = 'threads';
	COMMIT;});
my ($imported, $scans) = split /\n/, $out;
is("$ret|$imported|$err", "0|$m|", "$m imports in one transaction");
cmp_ok($scans, '<', 100, "they do not each read every thread ($scans scans of stategraph.threads)");

# 20,000 in one statement, and a fork's link kept where its source exists
my $n = 20000;
($ret, $out, $err) = $node->psql('postgres',
	"SELECT count(sg_import_thread(data, 'b-' || i)) FROM bk, generate_series(1, $n) i");
is("$ret|$out|$err", "0|$n|", "$n imports in one statement (no 53200)");
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM generate_series(1, $n) i, sg_get_state('b-' || i) s WHERE s."values" = '{"n": 2}'}),
	$n, 'each reads as its source');
is($node->safe_psql('postgres', q{SELECT sg_import_thread(fork, 'f') FROM bk}), 'f', 'a fork imported');
is($node->safe_psql('postgres', q{SELECT forked_from FROM stategraph.threads WHERE thread_id = 'f'}),
	'{src}', 'it keeps its link to its source, which exists here');

$node->stop('fast');
done_testing();
