# ALTER EXTENSION stategraph UPDATE from 0.1.0 rewrites neither threads nor
# checkpoints (nor graphs). It rewrote threads twice over: an UPDATE gave
# every row its owner (a new version of every row and of its index
# entries), and the change of status to the domain stategraph.thread_status,
# which has a CHECK, rewrote the table and rebuilt its indexes under an
# ACCESS EXCLUSIVE lock (PostgreSQL rewrites for a domain with
# constraints). Now the owner is a constant default stored once, the column
# becomes the domain before the domain has its CHECK, and the CHECK comes by
# ALTER DOMAIN, which reads the rows but writes none: the file nodes stay.
# nodes and branches are still rewritten (their function columns change
# from regprocedure to text, every value changes); they hold graph
# definitions, not threads. A status that breaks the domain's CHECK stops
# the update with 23514; 0.1.0's own CHECK on threads.status keeps one from
# being stored, so the test makes one by replacing that CHECK with a NOT
# VALID one.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGLifecycle;

my $node = sg_cluster('update_in_place');
$node->start;
make_data($node, 'postgres', q{CREATE EXTENSION stategraph VERSION '0.1.0'});
# more threads, each a copy of one made through the 0.1.0 API
$node->safe_psql('postgres', q{
    INSERT INTO stategraph.threads
    SELECT t.thread_id || '-copy-' || k, t.graph, t.channels, t.head, t.forked_from, t.status, t.created_at, t.updated_at
    FROM stategraph.threads t, generate_series(1, 200) k;
});
my $files_query = q{
    SELECT string_agg(c.relname || ' ' || pg_relation_filenode(c.oid), ', ' ORDER BY c.relname)
    FROM pg_class c
    WHERE c.relnamespace = 'stategraph'::regnamespace AND c.relkind IN ('r', 'i')
      AND c.relname IN ('threads', 'threads_pkey', 'checkpoints', 'checkpoints_pkey', 'graphs', 'graphs_pkey')};
my $files = $node->safe_psql('postgres', $files_query);
my $versions_query = q{SELECT md5(string_agg(thread_id || ' ' || xmin, ',' ORDER BY thread_id)) FROM stategraph.threads};
my $versions = $node->safe_psql('postgres', $versions_query);
my $threads = $node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.threads});
cmp_ok($threads, '>', 3000, "a 0.1.0 database with $threads threads");

$node->safe_psql('postgres', 'ALTER EXTENSION stategraph UPDATE');
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'stategraph'}),
	'0.2.0', 'updated to 0.2.0');
is($node->safe_psql('postgres', $files_query), $files,
	'threads, checkpoints, graphs and their primary keys keep their files: nothing was rewritten');
is($node->safe_psql('postgres', $versions_query), $versions,
	'and every row of threads is the version 0.1.0 wrote (its xmin): none was updated');
is($node->safe_psql('postgres', q{
    SELECT format_type(atttypid, atttypmod) FROM pg_attribute
    WHERE attrelid = 'stategraph.threads'::regclass AND attname = 'status'}),
	'stategraph.thread_status', 'threads.status is the domain');
is($node->safe_psql('postgres', q{
    SELECT count(*) || ' ' || count(DISTINCT owner) || ' ' || min(owner) FROM stategraph.threads}),
	"$threads 1 postgres", 'every thread of 0.1.0 belongs to the extension owner');
my ($rc, $out, $err) = $node->psql('postgres', q{UPDATE stategraph.threads SET status = 'lost' WHERE thread_id = 'chat-1'});
like($err, qr/value for domain stategraph.thread_status violates check constraint "thread_status_check"/,
	'the domain refuses an unknown status (23514)');
$node->safe_psql('postgres', q{UPDATE stategraph.threads SET status = 'waiting' WHERE thread_id = 'chat-1-copy-1'});
$node->safe_psql('postgres', q{CREATE ROLE newcomer; GRANT USAGE ON SCHEMA public TO newcomer});
is($node->safe_psql('postgres', q{
    SET ROLE newcomer;
    SELECT sg_invoke('lc_chat', '{"n": 1}', thread_id => 'new-1') IS NOT NULL;
    RESET ROLE;
    SELECT owner FROM stategraph.threads WHERE thread_id = 'new-1'}),
	"t\nnewcomer", 'a new thread belongs to the role that made it');

# a 0.1.0 database where a bad status got in: the update stops, nothing changes
$node->safe_psql('postgres', 'CREATE DATABASE bad');
make_data($node, 'bad', q{CREATE EXTENSION stategraph VERSION '0.1.0'});
$node->safe_psql('bad', q{
    ALTER TABLE stategraph.threads DROP CONSTRAINT threads_status_check;
    UPDATE stategraph.threads SET status = 'lost' WHERE thread_id = 'chat-2';
    ALTER TABLE stategraph.threads ADD CONSTRAINT threads_status_check
        CHECK (status = ANY (ARRAY['idle', 'running', 'interrupted', 'error', 'done'])) NOT VALID;
});
($rc, $out, $err) = $node->psql('bad', 'ALTER EXTENSION stategraph UPDATE', on_error_stop => 0);
like($err, qr/ERROR:  column "status" of table "threads" contains values that violate the new constraint/,
	'the update of a database with a bad status fails, naming the column');
is($node->safe_psql('bad', q{SELECT extversion FROM pg_extension WHERE extname = 'stategraph'}),
	'0.1.0', 'and leaves the extension at 0.1.0');
is($node->safe_psql('bad', q{SELECT status || ' ' || pg_typeof(status) FROM stategraph.threads WHERE thread_id = 'chat-2'}),
	'lost text', 'with its data as it was');

done_testing();
