# A node that calls pg_advisory_unlock_all() let go of the background run's
# session lock of its thread, all that keeps other executors off it between
# steps: a claim (here CALL sg_work in a client session) then took the run
# for one whose executor died and ran it too, at the same time, and nodes b
# and c ran twice, two checkpoints at each of their steps (a review found
# it; isolation node_unlocks_all shows the lost update it also made). The
# run now takes its lock again at each step's end, and writes the thread's
# head only if it is still the one it left: one of the two executors has
# its step refused (40001, rolled back with its effects), the other goes
# on. Every node's effect once, one checkpoint per step, the run a success.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('unlocks_all', qq{
stategraph.max_workers = 1
});
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE effects (node text, pid int);
    -- a: lets go of every advisory lock of its session, then takes 3 s
    CREATE FUNCTION adv_a(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO effects VALUES ('a', pg_backend_pid());
        PERFORM pg_advisory_unlock_all();
        PERFORM pg_sleep(3);
        RETURN '{"l": ["a"]}';
    END $$;
    CREATE FUNCTION adv_b(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO effects VALUES ('b', pg_backend_pid()); RETURN '{"l": ["b"]}'; END $$;
    CREATE FUNCTION adv_c(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO effects VALUES ('c', pg_backend_pid()); RETURN '{"l": ["c"]}'; END $$;
    SELECT sg_create_graph('adw', '{"l": "append"}');
    SELECT sg_add_node('adw', 'a', 'adv_a(jsonb)');
    SELECT sg_add_node('adw', 'b', 'adv_b(jsonb)');
    SELECT sg_add_node('adw', 'c', 'adv_c(jsonb)');
    SELECT sg_add_edge('adw', '__start__', 'a');
    SELECT sg_add_edge('adw', 'a', 'b');
    SELECT sg_add_edge('adw', 'b', 'c');
    SELECT sg_add_edge('adw', 'c', '__end__');
    SELECT sg_compile('adw');
});

my $run = $node->safe_psql('postgres', q{SELECT sg_submit('adw', '{}', 'adw1')});
ok(true_within($node, 60, q{SELECT EXISTS (SELECT 1 FROM pg_stat_activity
    WHERE backend_type = 'stategraph worker' AND wait_event = 'PgSleep')}), 'the worker is in node a, its lock let go');
# a client's CALL sg_work while the worker is in node a: it finds the run
# running and its thread's lock free
my ($rc, $out, $err) = $node->psql('postgres', q{CALL sg_work(max_runs => 1)});
note("CALL sg_work: rc $rc, $err");
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$run', interval '120 s')"), 'success', 'the run succeeds');
# a run left for a retry (the refused step's) has nothing to do after that
$node->safe_psql('postgres', q{CALL sg_work()});
is($node->safe_psql('postgres', q{SELECT string_agg(node || ' ' || n, ', ' ORDER BY node)
    FROM (SELECT node, count(*) AS n FROM effects GROUP BY node) x}), 'a 1, b 1, c 1', "every node's effect once");
is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT step FROM sg_get_state_history('adw1')
    GROUP BY step HAVING count(*) > 1) x}), '0', 'one checkpoint per step: no executor wrote beside the other');
is($node->safe_psql('postgres', q{SELECT values FROM sg_get_state('adw1')}), '{"l": ["a", "b", "c"]}', 'the thread reads the run once');
my $log = slurp_file($node->logfile);
ok($log =~ /was taken by another writer during a step of this run/ || $err =~ /was taken by another writer/,
	'one executor had its step refused')
  or diag($err);

$node->stop;
done_testing();
