# stategraph.max_workers changes with a reload (ALTER SYSTEM and
# pg_reload_conf, no restart):
#
#  - raised from 1 to 3: runs that wait execute three at a time;
#  - lowered from 3 to 1 while three runs execute: those runs finish, the
#    workers beyond 1 leave, and the runs that start afterwards execute one
#    at a time;
#  - every run succeeds, each node's effect once.
#
# Each node records how many runs were executing when it started
# (pg_stat_activity names a worker's backend after its run).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('max_workers_reload', q{
stategraph.max_workers = 1
});

$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE effects (thread text, phase text, started timestamptz, running int);
    CREATE FUNCTION work(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO effects VALUES (config->>'thread_id', state->>'phase', clock_timestamp(),
            (SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %'));
        IF state->>'phase' = 'down' THEN    -- the gate (lock 4025), held by the test while it lowers
            PERFORM pg_advisory_lock_shared(4025);
            PERFORM pg_advisory_unlock_shared(4025);
        END IF;
        PERFORM pg_sleep((state->>'sleep')::float8);
        RETURN '{}';
    END $$;
    SELECT sg_create_graph('slow', '{"phase": "replace", "sleep": "replace"}');
    SELECT sg_add_node('slow', 'work', 'work(jsonb,jsonb)');
    SELECT sg_add_edge('slow', '__start__', 'work');
    SELECT sg_add_edge('slow', 'work', '__end__');
    SELECT sg_compile('slow');
});

sub sql { return $node->safe_psql('postgres', $_[0]); }

# submits n runs of phase p, each sleeping s seconds in its node
sub submit
{
	my ($p, $n, $s) = @_;
	sql(join('', map { "SELECT sg_submit('slow', '{\"phase\": \"$p\", \"sleep\": $s}', '$p-$_');\n" } 1 .. $n));
}

sub most { return sql("SELECT coalesce(max(running), 0) FROM effects WHERE $_[0]"); }

# --- 1 worker -----------------------------------------------------------------
submit('one', 4, 0.3);
ok($node->poll_query_until('postgres', q{SELECT count(*) = 4 FROM sg_runs() WHERE status = 'success'}), 'four runs finished with max_workers = 1');
is(most(q{phase = 'one'}), '1', 'they executed one at a time');

# --- raised to 3 by a reload ----------------------------------------------------
sql(q{ALTER SYSTEM SET stategraph.max_workers = 3});
sql(q{SELECT pg_reload_conf()});
ok($node->poll_query_until('postgres', q{SELECT current_setting('stategraph.max_workers') = '3'}), 'the reload took the new value');
submit('three', 9, 1);
ok($node->poll_query_until('postgres', q{SELECT count(*) = 9 FROM sg_runs() WHERE status = 'success' AND thread_id LIKE 'three-%'}),
	'nine runs finished with max_workers = 3');
my $three = most(q{phase = 'three'});
ok($three >= 2 && $three <= 3, "they executed more than one, at most three, at a time (saw $three)");

# --- lowered to 1 while three runs execute ---------------------------------------
# The runs wait at a gate the test opens once the new value is in place:
# without it, on a loaded machine the nine runs could mostly be done by
# the time the workers took the reload, leaving too few to watch.
my $gate = hold_gates($node, 4025);
submit('down', 9, 1);
ok($node->poll_query_until('postgres', q{SELECT count(*) >= 2 FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %'}),
	'several runs execute at once');
sql(q{ALTER SYSTEM SET stategraph.max_workers = 1});
sql(q{SELECT pg_reload_conf()});
ok($node->poll_query_until('postgres', q{SELECT current_setting('stategraph.max_workers') = '1'}), 'the reload took the new value');
open_gate($gate, 4025);
$gate->quit;
# the workers beyond the new number leave after the runs they execute (and
# no worker starts beyond it): from then on, one at a time (polled, not
# timed: a loaded machine may take long for the runs of the reload)
ok($node->poll_query_until('postgres', q{SELECT count(*) <= 1 FROM pg_stat_activity WHERE backend_type = 'stategraph worker'}),
	'the workers beyond max_workers = 1 left');
my $lowered = sql(q{SELECT clock_timestamp()});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 9 FROM sg_runs() WHERE status = 'success' AND thread_id LIKE 'down-%'}),
	'the nine runs finished after max_workers was lowered to 1');
my $late = sql(qq{SELECT count(*) FROM effects WHERE phase = 'down' AND started > '$lowered'::timestamptz});
cmp_ok($late, '>=', 3, "runs started after the others left ($late)");
is(most(qq{phase = 'down' AND started > '$lowered'::timestamptz}), '1',
	'they executed one at a time');
is(sql(q{SELECT count(*) FROM effects}), '22', 'each run\'s node ran once');
is(sql(q{SELECT count(*) FROM sg_runs() WHERE status <> 'success'}), '0', 'no run failed');

$node->stop;
done_testing();
