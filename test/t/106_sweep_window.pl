# The retention sweep goes over the threads in windows of 1,000 ids, a
# batch of at most 30 threads at a time, each batch its own transaction;
# the next batch goes on in the window the last one stopped in, without
# reading it again. A window is a range of ids, not a list: a thread
# created in it after it was read, ahead of the sweep's cursor, is swept
# in the same pass; one created behind the cursor waits for the next
# pass; none is lost. Each CALL sg_work(0, '0') takes one batch and the
# cursor stays with the session, so the pass is stopped inside the first
# window here.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = PostgreSQL::Test::Cluster->new('sweep_window');
$node->init;
$node->append_conf('postgresql.conf', "autovacuum = off\n");
$node->start;
$node->safe_psql('postgres', sweep_graph_sql());
$node->safe_psql('postgres', q{
    SELECT count(sg_invoke('sg', jsonb_build_object('n', i), thread_id => 'a' || lpad(i::text, 4, '0')))
      FROM generate_series(1, 2400) i;
    SELECT sg_set_retention('sg', '1 hour');
    -- every third thread is kept; 1,600 expire
    UPDATE stategraph.threads SET updated_at = now() - interval '2 hours' WHERE substr(thread_id, 2, 4)::int % 3 <> 0;
});

# one session: three batches, then threads created around the cursor, then the rest of the pass
my $out = $node->safe_psql('postgres', q{
    CALL sg_work(0, '0');
    CALL sg_work(0, '0');
    CALL sg_work(0, '0');
    SELECT count(*) FROM stategraph.threads WHERE substr(thread_id, 2, 4)::int % 3 <> 0;
    SELECT count(sg_invoke('sg', '{"n": 0}', thread_id => t)) FROM unnest(ARRAY['a0010x', 'a0700x', 'a2000x']) t;
    UPDATE stategraph.threads SET updated_at = now() - interval '2 hours' WHERE thread_id LIKE '%x';
    CALL sg_work(0);
    SELECT string_agg(thread_id, ',' ORDER BY thread_id) FROM stategraph.threads WHERE thread_id LIKE '%x';
    SELECT count(*) FROM stategraph.threads WHERE thread_id NOT LIKE '%x' AND substr(thread_id, 2, 4)::int % 3 <> 0;
    SELECT count(*) FROM stategraph.threads WHERE thread_id NOT LIKE '%x' AND substr(thread_id, 2, 4)::int % 3 = 0;
    CALL sg_work(0);
    SELECT count(*) FROM stategraph.threads WHERE thread_id LIKE '%x';
});
my @r = split /\n/, $out;
is($r[0], 1600 - 90, 'three batches removed 90 expired threads, all in the first window');
is($r[1], 3, 'three threads created during the pass');
is($r[2], 'a0010x',
	'the pass removed the thread created ahead of its cursor in its window and the one in a later window, '
	. 'not the one behind its cursor');
is($r[3], 0, 'every thread that was expired when the pass started is gone');
is($r[4], 800, 'no thread that was not expired was removed');
is($r[5], 0, 'the next pass removed the thread created behind the cursor');

$node->stop;
done_testing();
