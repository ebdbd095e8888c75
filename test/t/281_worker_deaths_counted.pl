# Deaths of a run's worker, as stategraph.max_run_recoveries counts them.
#
# DROP DATABASE of the database the session is connected to is always
# refused by PostgreSQL ("cannot drop the currently open database"), but
# stategraph's hook, which stops a database's workers before its owner's
# DROP DATABASE, stopped them first: a run's step in progress was killed,
# taken again by a new worker, and counted as a death of its worker
# (stategraph.max_run_recoveries). The hook now leaves the workers of the
# current database alone, as it does for ALTER DATABASE ... RENAME.
#
# max_run_recoveries at its largest (2147483647, never give up): a run
# asked to stop is given one more try than the setting, counted in int, so
# the bound wrapped around to a negative number and such a run was
# abandoned (SG014, "its stop was not done") at the first death of its
# worker, its rollback never done.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('worker_deaths_counted', "stategraph.max_run_recoveries = 2147483647\n");
$node->safe_psql('postgres', 'CREATE DATABASE app');
nap_graph($node, 'nap', 'app');
my ($rid, $pid) = nap_step_executes($node, 'app', 't', 3, "the run's step executes");

my ($rc, $out, $err) = $node->psql('app', 'DROP DATABASE app');
like($err, qr/cannot drop the currently open database/, 'PostgreSQL refuses to drop the current database');
nap_run_untouched($node, 'app', $rid, $pid, 'DROP DATABASE of the current database');

# the owner's DROP DATABASE from elsewhere still stops the workers and drops it
nap_step_executes($node, 'app', 't2', 30, 'a long step executes');
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE app');
is($rc, 0, 'DROP DATABASE from another database succeeds') or diag($err);

# a rollback asked of a run whose worker then dies: the rollback is done
nap_graph($node, 'nap');
($rid) = nap_step_executes($node, 'postgres', 'rb', 30, "a run's step executes");
is($node->safe_psql('postgres', "SELECT sg_cancel('$rid', 'rollback')"), 't', 'its rollback is asked');
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE backend_type = 'stategraph worker' AND wait_event = 'PgSleep'});
is($node->safe_psql('postgres', "SELECT status || ' ' || COALESCE(error->>'sqlstate', '-') FROM sg_wait('$rid', '30 s')"),
	'cancelled -', 'max_run_recoveries 2147483647: the run is stopped after its worker died, not abandoned');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.threads WHERE thread_id = 'rb'}), '0',
	'its rollback is done (the thread it created is gone)');
$node->stop;
done_testing();
