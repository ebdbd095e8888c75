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
$node->safe_psql('app', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION public.nap(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT pg_catalog.pg_sleep((state->>'secs')::float8); SELECT '{"n": 1}'::jsonb $$;
    SELECT sg_create_graph('nap', '{"n": "add", "secs": "replace"}');
    SELECT sg_add_node('nap', 'nap', 'public.nap(jsonb)');
    SELECT sg_add_edge('nap', '__start__', 'nap');
    SELECT sg_add_edge('nap', 'nap', '__end__');
    SELECT sg_compile('nap');
});
my $rid = $node->safe_psql('app', q{SELECT sg_submit('nap', '{"secs": 3}', 't')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'stategraph worker' AND datname = 'app' AND wait_event = 'PgSleep'}), "the run's step executes");
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'stategraph worker' AND datname = 'app' AND wait_event = 'PgSleep'});

my ($rc, $out, $err) = $node->psql('app', 'DROP DATABASE app');
like($err, qr/cannot drop the currently open database/, 'PostgreSQL refuses to drop the current database');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid"), '1',
	"the database's worker was left alone");
is($node->safe_psql('app', "SELECT status || ' ' || attempt FROM sg_wait('$rid', '30 s')"), 'success 1',
	'the run ends in its first attempt');
is($node->safe_psql('app', "SELECT recoveries FROM stategraph.runs WHERE run_id = '$rid'"), '0',
	'no death of its worker counted');

# the owner's DROP DATABASE from elsewhere still stops the workers and drops it
$rid = $node->safe_psql('app', q{SELECT sg_submit('nap', '{"secs": 30}', 't2')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'stategraph worker' AND datname = 'app' AND wait_event = 'PgSleep'}), 'a long step executes');
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE app');
is($rc, 0, 'DROP DATABASE from another database succeeds') or diag($err);

# a rollback asked of a run whose worker then dies: the rollback is done
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION public.nap(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT pg_catalog.pg_sleep((state->>'secs')::float8); SELECT '{"n": 1}'::jsonb $$;
    SELECT sg_create_graph('nap', '{"n": "add", "secs": "replace"}');
    SELECT sg_add_node('nap', 'nap', 'public.nap(jsonb)');
    SELECT sg_add_edge('nap', '__start__', 'nap');
    SELECT sg_add_edge('nap', 'nap', '__end__');
    SELECT sg_compile('nap');
});
$rid = $node->safe_psql('postgres', q{SELECT sg_submit('nap', '{"secs": 30}', 'rb')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'stategraph worker' AND wait_event = 'PgSleep'}), "a run's step executes");
is($node->safe_psql('postgres', "SELECT sg_cancel('$rid', 'rollback')"), 't', 'its rollback is asked');
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE backend_type = 'stategraph worker' AND wait_event = 'PgSleep'});
is($node->safe_psql('postgres', "SELECT status || ' ' || COALESCE(error->>'sqlstate', '-') FROM sg_wait('$rid', '30 s')"),
	'cancelled -', 'max_run_recoveries 2147483647: the run is stopped after its worker died, not abandoned');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.threads WHERE thread_id = 'rb'}), '0',
	'its rollback is done (the thread it created is gone)');
$node->stop;
done_testing();
