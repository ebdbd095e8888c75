# stategraph.max_workers above the background worker processes the
# postmaster has free (max_worker_processes counts pg_cron's, logical
# replication's, parallel query's too): a database whose runs came once
# the processes were taken waited for ever, the launcher trying again
# every second while the other databases' idle first workers stayed (a
# review found it). Now, as when no slot of max_workers is free, an idle
# worker of another database gives its process up, and the launcher says
# once what is short.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

# the launcher and the logical replication launcher take two of the
# three processes: one is left for stategraph's workers, max_workers 4
my $node = preloaded_node('no_process', qq{
max_worker_processes = 3
max_parallel_workers = 0
max_parallel_workers_per_gather = 0
stategraph.max_workers = 4
});
for my $db ('one', 'two')
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	nap_graph($node, 'nap', $db);
}
my $one = $node->safe_psql('one', q{SELECT sg_submit('nap', '{"secs": 0}', 'one-1')});
is($node->safe_psql('one', "SELECT status FROM sg_wait('$one', interval '60 s')"), 'success',
	"database one's run is done; its first worker stays, idle, on the one process left");
ok(true_within($node, 30, q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'stategraph worker'}),
	'one worker, idle');

my $two = $node->safe_psql('two', q{SELECT sg_submit('nap', '{"secs": 0}', 'two-1')});
is($node->safe_psql('two', "SELECT status FROM sg_wait('$two', interval '60 s')"), 'success',
	"database two's run is done too: the idle worker of database one gave its process up");
ok(eval { $node->wait_for_log(qr/stategraph could not start a background worker for database \d+: no background worker process is free/); 1 },
	'the launcher says what is short');

$node->stop;
done_testing();
