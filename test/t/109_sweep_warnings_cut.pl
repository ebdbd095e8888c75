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
use SGNode;

my $node = PostgreSQL::Test::Cluster->new('sweep_warnings_cut');
$node->init;
$node->append_conf('postgresql.conf', "autovacuum = off\n");
$node->start;
# 40 broken threads (SGNode::broken_threads_sql), all expired
$node->safe_psql('postgres', broken_threads_sql(map { sprintf('bad%02d', $_) } 1 .. 40));
$node->safe_psql('postgres', q{
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
