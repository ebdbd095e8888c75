# The retention sweep passes over a thread whose removal fails for what its
# rows hold (a role may write any row of its own threads), with a WARNING,
# until the next pass. A role with many such threads made the sweep write
# one WARNING each, worded by its own rows, into the server's log at every
# pass. Now a round reports the first 10 one by one and the rest as a
# count at its end; the other expired threads are removed as before.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('sweep_warnings');
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
    -- 25 threads, each with a fork whose row refers to a checkpoint that is not there
    -- (removing a thread gives its forks an image of their own, which then fails), and 40 sound ones
    SELECT count(sg_invoke('g', jsonb_build_object('log', jsonb_build_array()), 'bad' || i)) FROM generate_series(1, 25) i;
    SELECT count(sg_fork('bad' || i, (SELECT head FROM stategraph.threads WHERE thread_id = 'bad' || i), 'fork' || i))
      FROM generate_series(1, 25) i;
    UPDATE stategraph.checkpoints SET image_complete = false,
        refs = jsonb_build_object('log', '00000000-0000-0000-0000-000000000000')
    WHERE thread_id LIKE 'fork%' AND parent_thread IS NOT NULL;
    SELECT count(sg_invoke('g', jsonb_build_object('log', jsonb_build_array()), 'good' || i)) FROM generate_series(1, 40) i;
    SELECT sg_set_retention('g', '1 hour');
    UPDATE stategraph.threads SET updated_at = now() - interval '1 day' WHERE thread_id NOT LIKE 'fork%';
});

for my $pass (1, 2)
{
	my ($ret, $out, $err) = $node->psql('postgres', 'CALL sg_work()');
	is($ret, 0, "pass $pass: the sweep ends without an error");
	my @each = ($err =~ /WARNING:  the retention sweep passed over thread "bad\d+"/g);
	is(scalar @each, 10, "pass $pass: 10 of the 25 broken threads are reported one by one");
	like($err, qr/WARNING:  the retention sweep passed over 15 more threads whose removal failed/,
		"pass $pass: the other 15 as a count at the round's end");
	my @all = ($err =~ /WARNING:/g);
	is(scalar @all, 11, "pass $pass: nothing else is logged");
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.threads WHERE thread_id LIKE 'good%'}),
	'0', 'the sound expired threads are removed');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.threads WHERE thread_id LIKE 'bad%'}),
	'25', 'the broken ones stay, for the next pass');

$node->stop;
done_testing();
