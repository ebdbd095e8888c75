# Issue 9, Tests: "kill -9 of a worker and an immediate server stop at
# random points of many runs: all runs finish, every SQL node's effect
# exactly once (counter table); max_workers never exceeded". TAP
# 002_background does it with 6 runs and 8 kills; this does it with 30
# runs over 30 threads (more runs than workers, so that kills also land on
# runs waiting for a worker, claims and run ends) and up to 14 kills (at
# least 6), alternating
# kill -9 of a running worker and an immediate stop of the server (audit
# rev9audit). Each step adds one to a counter row of its thread in the
# node's own transaction: a step done twice would count twice.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use Time::HiRes qw(usleep time);

my $max_workers = 3;
my $node = preloaded_node('crash_many', qq{
stategraph.max_workers = $max_workers
restart_after_crash = on
});

my ($runs, $steps) = (30, 10);
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE counter (thread text PRIMARY KEY, n int NOT NULL DEFAULT 0, most int NOT NULL DEFAULT 0);
    CREATE TABLE effects (thread text, step int);
    CREATE FUNCTION work(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    DECLARE
        running int := (SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %');
    BEGIN
        INSERT INTO counter AS c (thread, n, most) VALUES (config->>'thread_id', 1, running)
            ON CONFLICT (thread) DO UPDATE SET n = c.n + 1, most = greatest(c.most, running);
        INSERT INTO effects VALUES (config->>'thread_id', (config->>'step')::int);
        PERFORM pg_sleep(0.05);
        RETURN jsonb_build_object('i', (state->>'i')::int + 1);
    END $$;
    CREATE FUNCTION more(state jsonb) RETURNS text LANGUAGE sql
        AS $$ SELECT CASE WHEN (state->>'i')::int < (state->>'steps')::int THEN 'work' ELSE '__end__' END $$;
    SELECT sg_create_graph('loop', '{"i": "replace", "steps": "replace"}');
    SELECT sg_add_node('loop', 'work', 'work(jsonb,jsonb)');
    SELECT sg_add_edge('loop', '__start__', 'work');
    SELECT sg_add_conditional_edges('loop', 'work', 'more(jsonb)', '["work", "__end__"]');
    SELECT sg_compile('loop');
});
$node->safe_psql('postgres', qq{
	SELECT sg_submit('loop', jsonb_build_object('i', 0, 'steps', $steps), 'crash-' || k, recursion_limit => 100)
	FROM generate_series(1, $runs) k});

my $kills = 0;
for my $i (1 .. 14)
{
	usleep(int(150_000 + rand(450_000)));
	if ($i % 2)
	{
		my $pid = $node->safe_psql('postgres',
			"SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'stategraph run %' ORDER BY random() LIMIT 1");
		next unless $pid =~ /^\d+$/;
		kill 'KILL', $pid;
		back_after_kill($node, $pid) or die 'server did not come back';
	}
	else
	{
		$node->stop('immediate');
		$node->start;
	}
	$kills++;
	last if $node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs WHERE status IN ('pending', 'running')}) eq '0';
}
ok($kills >= 6, "killed a worker or stopped the server $kills times while the runs went on");

my $deadline = time + 240;
my $left;
while (time < $deadline)
{
	$left = $node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs WHERE status IN ('pending', 'running')});
	last if $left eq '0';
	usleep(200_000);
}
is($left, '0', 'every run went on by itself after the kills');
is($node->safe_psql('postgres', q{SELECT status || ' ' || count(*) FROM sg_runs() GROUP BY status}), "success $runs",
	"all $runs runs succeeded")
  or diag($node->safe_psql('postgres', q{SELECT thread_id, status, attempt, error FROM stategraph.runs WHERE status <> 'success'}));
ok($node->safe_psql('postgres', q{SELECT max(attempt) FROM sg_runs()}) > 1, 'some runs were taken up again after a kill');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM counter WHERE n = $steps}), $runs,
	"each thread's counter is $steps: every step's effect once");
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT thread, step FROM effects GROUP BY 1, 2 HAVING count(*) <> 1) d}), '0',
	'no step of any run was done twice or lost');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM effects}), $runs * $steps, "$runs x $steps steps in all");
my $most = $node->safe_psql('postgres', q{SELECT max(most) FROM counter});
ok($most >= 1 && $most <= $max_workers, "at most stategraph.max_workers = $max_workers runs at once (saw $most)");
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM sg_threads() t, LATERAL sg_get_state(t.thread_id) s
	WHERE (s."values"->>'i')::int = (s."values"->>'steps')::int AND s.next = '{}'}), $runs,
	'every thread ends at its last step');

$node->stop('fast');
unlike(slurp_file($node->logfile), qr/TRAP:|terminated by signal 11/, 'no process failed an assertion or crashed by itself');
done_testing();
