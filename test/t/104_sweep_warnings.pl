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
use SGNode;

my $node = PostgreSQL::Test::Cluster->new('sweep_warnings');
$node->init;
$node->append_conf('postgresql.conf', "autovacuum = off\n");
$node->start;
# 25 broken threads (SGNode::broken_threads_sql) and 40 sound ones, all expired
$node->safe_psql('postgres', broken_threads_sql(map { "bad$_" } 1 .. 25));
$node->safe_psql('postgres', q{
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
