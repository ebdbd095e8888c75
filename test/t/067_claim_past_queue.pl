# A run of an idle thread starts at once even when another thread has a
# long queue of runs due before it ('enqueue': they wait, in order, behind
# that thread's running run). A claim tried its first 64 candidates and
# gave up: with a thread's running run and 63 runs queued behind it first
# in the queue, a run of any other thread waited until that queue was
# almost empty (here: until 38 of the 100 had run). A claim now tries one
# candidate per thread: a thread whose run it could not take has no later
# run it could take (claim_run, thread_passed_over). "Later" is by seq,
# not by due time: a thread's first run may be due after the runs queued
# behind it (delayed by after, or by a retry), and must still be taken.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('claim_past_queue', qq{stategraph.max_workers = 4\n});

$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE ran (n serial, thread text, tag int);
    CREATE FUNCTION work(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO ran (thread, tag) VALUES (config->>'thread_id', (state->>'tag')::int);
        PERFORM pg_sleep(0.05);
        RETURN '{}';
    END $$;
    SELECT sg_create_graph('g', '{"tag": "replace"}'), sg_add_node('g', 'w', 'work(jsonb,jsonb)'),
           sg_add_edge('g', '__start__', 'w'), sg_add_edge('g', 'w', '__end__'), sg_compile('g');
});

# 100 runs queued on thread A (one statement), then one on thread B
$node->safe_psql('postgres', q{
    SELECT count(sg_submit('g', jsonb_build_object('tag', i), 'A', multitask => 'enqueue'))
    FROM generate_series(1, 100) i});
# (a row of ran marks the submit: A's runs counted from there, not from
# A's first, leave out how long a loaded machine takes to start psql for
# B's submit: 11 of A's runs, once, counted from A's first. The claim that
# gave up after 64 candidates started B after about 36 of them.)
my $b = $node->safe_psql('postgres', q{
    INSERT INTO ran (thread, tag) VALUES ('B submitted', 0);
    SELECT sg_submit('g', '{"tag": 0}', 'B')});
is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$b', interval '60 seconds')}), 'success',
	'the run of thread B finished');
my $before = $node->safe_psql('postgres',
	q{SELECT count(*) FROM ran WHERE thread = 'A' AND n > (SELECT n FROM ran WHERE thread = 'B submitted')
	  AND n < (SELECT n FROM ran WHERE thread = 'B')});
cmp_ok($before, '<=', 10, "thread B's run started at once, after $before more of thread A's 100 queued runs");

# thread A's queue still runs in order, one at a time, all of it
ok($node->poll_query_until('postgres', q{SELECT count(*) = 100 FROM ran WHERE thread = 'A'}),
	"thread A's 100 runs ran");
is($node->safe_psql('postgres', q{
	SELECT bool_and(tag = rn) FROM (SELECT tag, row_number() OVER (ORDER BY n) rn FROM ran WHERE thread = 'A') x}),
	't', "thread A's runs ran in the order they were queued");
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM sg_runs() WHERE status <> 'success'}),
	'every run succeeded');

# thread C: its first run delayed 2 seconds, a second queued behind it but
# due at once; the claims meet the second first (by due time), cannot take
# it (not first of its thread), and must still take the first when due
my $c1 = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"tag": 1}', 'C', after => '2 seconds')});
my $c2 = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"tag": 2}', 'C', multitask => 'enqueue')});
is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$c2', interval '60 seconds')}), 'success',
	'the run due first ran, after the delayed run queued before it');
is($node->safe_psql('postgres', q{SELECT string_agg(tag::text, ',' ORDER BY n) FROM ran WHERE thread = 'C'}), '1,2',
	'thread C ran its delayed first run, then the second');

$node->stop;
done_testing();
