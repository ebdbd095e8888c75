# What the owner's DROP DATABASE waits for before it stops the database's
# workers is what PostgreSQL's dropdb waits for (CountOtherDBBackends),
# minus the workers themselves:
#   1. a prepared transaction of the database makes dropdb refuse (55006)
#      as a connected session does: the workers are left alone (stopped
#      first, a run's step in progress was killed, taken again by a new
#      worker and counted as a death of its worker, for a drop that did
#      not happen);
#   2. the parallel workers of a worker's step are the worker's: they are
#      not sessions to wait for (waited for, the drop was refused), and the
#      database is dropped.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('drop_database_prepared_parallel', "max_prepared_transactions = 2\n");
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', q{
    CREATE EXTENSION stategraph;
    -- its sleep in a parallel worker (force_parallel_mode: a Gather over it)
    CREATE FUNCTION public.par(state jsonb) RETURNS jsonb LANGUAGE plpgsql
        SET force_parallel_mode = on
        AS $$ BEGIN PERFORM pg_catalog.pg_sleep((state->>'secs')::float8); RETURN '{"n": 1}'; END $$;
    SELECT sg_create_graph('par', '{"n": "add", "secs": "replace"}');
    SELECT sg_add_node('par', 'step', 'public.par(jsonb)');
    SELECT sg_add_edge('par', '__start__', 'step');
    SELECT sg_add_edge('par', 'step', '__end__');
    SELECT sg_compile('par');
    -- a step that waits for table gate, which the prepared transaction of 1. locks
    CREATE TABLE public.gate ();
    CREATE FUNCTION public.gated(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT count(*) FROM public.gate; SELECT '{"n": 1}'::jsonb $$;
    SELECT sg_create_graph('gated', '{"n": "add"}');
    SELECT sg_add_node('gated', 'step', 'public.gated(jsonb)');
    SELECT sg_add_edge('gated', '__start__', 'step');
    SELECT sg_add_edge('gated', 'step', '__end__');
    SELECT sg_compile('gated');
});

# 1. a prepared transaction of app, a worker executing a step: the step
# waits for table gate, which the prepared transaction holds locked until
# its ROLLBACK PREPARED after the checks (for as long as they need however
# slow the machine, and no longer: a 20 s nap was waited out)
$node->safe_psql('app', "BEGIN; CREATE TABLE public.pending (); LOCK TABLE public.gate; PREPARE TRANSACTION 'p1';");
my $rid = $node->safe_psql('app', q{SELECT sg_submit('gated', '{}', 't1')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
    WHERE backend_type = 'stategraph worker' AND datname = 'app' AND wait_event = 'relation'}),
	'the step of run t1 executes');
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity
    WHERE backend_type = 'stategraph worker' AND datname = 'app' AND wait_event = 'relation'});
my ($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE app', extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/55006: database "app" is being accessed by other users/,
	'DROP DATABASE is refused (55006) while a prepared transaction of the database is left');
like($err, qr/DETAIL:  There is 1 prepared transaction using the database\./, 'for the prepared transaction');
like($err, qr/LOCATION:  refuse_drop_database_in_use/, "refused at the end of the hook's wait, not after dropdb's too");
is($node->safe_psql('postgres', qq{SELECT count(*) FROM pg_stat_activity
    WHERE pid = $pid AND backend_type = 'stategraph worker' AND wait_event = 'relation'}), '1',
	'the worker executing a step was left alone, and its step still executes');
$node->safe_psql('app', "ROLLBACK PREPARED 'p1'");
is($node->safe_psql('app', "SELECT status || ' ' || attempt FROM sg_wait('$rid', '30 s')"), 'success 1',
	'the run ends in its first attempt');
is($node->safe_psql('app', "SELECT recoveries FROM stategraph.runs WHERE run_id = '$rid'"), '0',
	'no death of its worker counted');

# 2. a worker's step executes in a parallel worker
$node->safe_psql('app', q{SELECT sg_submit('par', '{"secs": 60}', 't2')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity p
    JOIN pg_stat_activity l ON l.pid = p.leader_pid
    WHERE p.backend_type = 'parallel worker' AND p.datname = 'app' AND p.wait_event = 'PgSleep'
      AND l.backend_type = 'stategraph worker'}),
	"the step of run t2 executes in a parallel worker of the run's worker");
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE app');
is($rc, 0, "DROP DATABASE succeeds, the parallel worker of a worker's step not waited for") or diag($err);
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
    WHERE backend_type IN ('stategraph worker', 'parallel worker')}), '0', 'no worker left');
$node->stop;
done_testing();
