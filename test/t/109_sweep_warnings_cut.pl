# The retention sweep reports the first 10 threads it passes over in a
# round one by one and the rest as a count at the round's end (TAP 104).
# A round that max_time cuts short (CALL sg_work(0, '0 s') sweeps one
# batch) never got to its end: the next call starts a new round, and the
# count of the threads it passed over beyond the first 10 was dropped,
# never reported. Now a round cut short reports its count too.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('sweep_warnings_cut');
$node->init;
$node->append_conf('postgresql.conf', "autovacuum = off\n");
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION one(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT jsonb_build_object('log', jsonb_build_array(1)) $$;
    SELECT sg_create_graph('g', jsonb_build_object('log', 'append'));
    SELECT sg_add_node('g', 'one', 'one(jsonb)');
    SELECT sg_add_edge('g', '__start__', 'one');
    SELECT sg_add_edge('g', 'one', '__end__');
    SELECT sg_compile('g');
    -- 40 threads, each with a fork whose row refers to a checkpoint that is not there
    -- (removing a thread gives its forks an image of their own, which then fails)
    SELECT count(sg_invoke('g', jsonb_build_object('log', jsonb_build_array()), 'bad' || lpad(i::text, 2, '0')))
      FROM generate_series(1, 40) i;
    SELECT count(sg_fork('bad' || lpad(i::text, 2, '0'),
                         (SELECT head FROM stategraph.threads WHERE thread_id = 'bad' || lpad(i::text, 2, '0')),
                         'fork' || i))
      FROM generate_series(1, 40) i;
    UPDATE stategraph.checkpoints SET image_complete = false,
        refs = jsonb_build_object('log', '00000000-0000-0000-0000-000000000000')
    WHERE thread_id LIKE 'fork%' AND parent_thread IS NOT NULL;
    SELECT sg_set_retention('g', '1 hour');
    UPDATE stategraph.threads SET updated_at = now() - interval '1 day' WHERE thread_id NOT LIKE 'fork%';
});

# one batch (30 threads tried, all broken), the round cut short by max_time
my ($ret, $out, $err) = $node->psql('postgres', q{CALL sg_work(0, '0 s')});
is($ret, 0, 'the sweep ends without an error');
my @each = ($err =~ /WARNING:  the retention sweep passed over thread "bad\d+"/g);
is(scalar @each, 10, '10 of the 30 broken threads tried are reported one by one');
like($err, qr/WARNING:  the retention sweep passed over 20 more threads whose removal failed/,
	'the other 20 as a count, though the round was cut short');

# the next call: a new round, which goes on with the pass (the other 10), and ends
($ret, $out, $err) = $node->psql('postgres', q{CALL sg_work()});
is($ret, 0, 'the next sweep ends without an error');
@each = ($err =~ /WARNING:  the retention sweep passed over thread "bad\d+"/g);
ok(scalar @each >= 10, 'the next round reports its first 10 one by one again');
unlike($err, qr/passed over 20 more threads/, 'the count of the round cut short is not reported twice');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.threads WHERE thread_id LIKE 'bad%'}),
	'40', 'the broken threads stay, for the next pass');

$node->stop;
done_testing();
