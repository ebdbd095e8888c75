# What pg_stat_activity shows of a worker executing a run: its state is
# 'active' and its query names the run, as its application_name does. The
# worker reported its activity only for its retention sweeps: once it had
# swept, it showed state 'idle' and query 'stategraph retention sweep' for
# good, also while a node of a run executed for minutes (an administrator
# looking for busy sessions, or for what a worker does, was misled).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('worker_activity', "stategraph.sweep_interval = 1\n");
nap_graph($node, 'nap');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'stategraph worker' AND query = 'stategraph retention sweep'}), 'the worker has swept');

my $rid = $node->safe_psql('postgres', q{SELECT sg_submit('nap', '{"secs": 30}', 't')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'stategraph worker' AND wait_event = 'PgSleep'}), "the run's node sleeps");
is($node->safe_psql('postgres', q{SELECT state || ' | ' || query FROM pg_stat_activity
	WHERE backend_type = 'stategraph worker' AND wait_event = 'PgSleep'}),
	"active | stategraph run $rid", 'the worker is active, executing the run');

$node->safe_psql('postgres', "SELECT sg_cancel('$rid')");
$node->safe_psql('postgres', q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity
	WHERE backend_type = 'stategraph worker' AND wait_event = 'PgSleep'});
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$rid', '30 s')"), 'cancelled', 'the run is stopped');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'stategraph worker' AND state = 'idle'}), 'then the worker is idle');
$node->stop;
done_testing();
