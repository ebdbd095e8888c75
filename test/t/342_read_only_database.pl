# ALTER DATABASE ... SET default_transaction_read_only = on, then RESET: a
# worker connected while it was on (each session reads the database's
# settings as it connects) failed its claims (25006) for good, the first
# of its database never leaving: runs submitted after the RESET stayed
# pending, a line logged every 10 s, until the worker was terminated. A
# worker whose own statement fails read-only now leaves, and the launcher
# starts one again after a backoff (up to 10 s), which reads the setting
# anew: the runs wait while it is on and run after the RESET, and the
# exits are logged once.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('read_only_db', qq{
stategraph.max_workers = 2
stategraph.sweep_interval = 3600
});
nap_graph($node, 'nap');
my $rw = 'SET default_transaction_read_only = off;';
my $workers = q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND datname = 'postgres'};
ok(true_within($node, 60, "SELECT count(*) = 1 FROM ($workers) w"), 'one worker');

$node->safe_psql('postgres', 'ALTER DATABASE postgres SET default_transaction_read_only = on');
my $log_at = -s $node->logfile;
# the worker reconnects: it reads the setting on
$node->safe_psql('postgres', "$rw SELECT pg_terminate_backend(pid) FROM ($workers) w");
sleep 2;
my @runs = split /\n/, $node->safe_psql('postgres',
	qq{$rw SELECT sg_submit('nap', '{"secs": 0}', 'ro' || g) FROM generate_series(1, 3) g});
sleep 15;
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs WHERE status = 'pending'}), '3',
	'runs submitted while the database is read-only stay pending');

$node->safe_psql('postgres', "$rw ALTER DATABASE postgres RESET default_transaction_read_only");
my $t0 = time;
ok(true_within($node, 30, q{SELECT count(*) = 3 FROM stategraph.runs WHERE status = 'success'}),
	'after the RESET the runs succeed');
my $took = time - $t0;
note("the runs succeeded $took s after the RESET");
cmp_ok($took, '<=', 15, 'within seconds');

my $log = substr(slurp_file($node->logfile), $log_at);
my $lines = () = $log =~ /read-only transaction/g;
note("$lines log lines of a read-only transaction");
cmp_ok($lines, '>=', 1, 'the read-only worker is logged');
cmp_ok($lines, '<=', 2, 'not again at every try');

# a run submitted now runs at once
my $run = $node->safe_psql('postgres', q{SELECT sg_submit('nap', '{"secs": 0}', 'rw')});
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$run', interval '30 s')"), 'success',
	'a run submitted after the RESET succeeds');

$node->stop;
done_testing();
