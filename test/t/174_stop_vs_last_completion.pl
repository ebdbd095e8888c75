# A background run waiting for external tasks is asked to stop (sg_submit
# with multitask 'rollback' or 'interrupt') in a transaction that a
# worker's sg_complete of the step's last task then waits for: the
# completion holds its task's row and waits for the run's row (to wake the
# run), and when the stop request commits, a background worker claims the
# run to stop it and cancels the thread's tasks, which waits for the task
# row. The completion followed the run row's newest version to that claim,
# so each waited for the other, and the deadlock detector rolled one back:
# the worker's sg_complete with 40P01, or the stop ("failed outside its
# graph's steps: deadlock detected"), about one time in four. The stop now
# gives way first (its wait for a task row is bounded below
# deadlock_timeout; it is tried again), so neither is a deadlock.
# A race, tried 15 times: before the fix, one with no deadlock at all came
# about 1 time in 70.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGNode;

my $node = preloaded_node('stop_vs_complete');
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION fan(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
        SELECT jsonb_agg(jsonb_build_object('node', 'work', 'arg', jsonb_build_object('doc', d)))
        FROM jsonb_array_elements(state->'docs') d $$;
    CREATE FUNCTION settle(thread text) RETURNS text LANGUAGE plpgsql AS $$
    DECLARE s text;
    BEGIN
        FOR i IN 1 .. 3000 LOOP
            SELECT status INTO s FROM sg_runs(thread) ORDER BY created_at DESC LIMIT 1;
            EXIT WHEN s NOT IN ('pending', 'running');
            PERFORM pg_sleep(0.01);
        END LOOP;
        RETURN s;
    END $$;
    SELECT sg_create_graph('g', '{"docs": "replace", "out": "append"}');
    SELECT sg_add_external_node('g', 'work', 'q');
    SELECT sg_add_conditional_edges('g', '__start__', 'fan(jsonb)');
    SELECT sg_add_edge('g', 'work', '__end__');
    SELECT sg_compile('g');
    CREATE TABLE claimed (thread text, task_id text, token uuid, doc text);
});

my $n = 15;
my ($refused, $log_from) = (0, -s $node->logfile);
for my $i (1 .. $n)
{
	my $t = "t$i";
	my $how = $i % 2 ? 'rollback' : 'interrupt';
	is($node->safe_psql('postgres', qq{
        SELECT sg_submit('g', '{"docs": ["a", "b"]}', '$t') IS NOT NULL;
        SELECT settle('$t');
        INSERT INTO claimed SELECT '$t', task_id, token, input->>'doc' FROM sg_claim('q', 'w', 2);
        SELECT 1 FROM sg_complete((SELECT task_id FROM claimed WHERE thread = '$t' AND doc = 'b'),
                                  (SELECT token FROM claimed WHERE thread = '$t' AND doc = 'b'), '{"out": ["b"]}');
        SELECT string_agg(doc, ' ' ORDER BY doc) FROM claimed WHERE thread = '$t';}),
		"t\nwaiting\n1\na b", "$t: the run waits for task a");

	my $stop = $node->background_psql('postgres');
	$stop->query_safe(qq{BEGIN; SELECT sg_submit('g', '{"docs": ["x"]}', '$t', multitask => '$how')});
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-At', '-v', 'VERBOSITY=verbose', '-d', $node->connstr('postgres'), '-c',
		  qq{SELECT sg_complete(task_id, token, '{"out": ["a"]}') FROM claimed WHERE thread = '$t' AND doc = 'a'} ],
		'>', \my $out, '2>', \my $err);
	ok($node->poll_query_until('postgres',
			q{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%sg_complete%'}),
		"$t: the last completion waits for the stop request");
	$stop->query_safe('COMMIT');
	$stop->quit;
	$h->finish;
	$refused++ if $err =~ /40P01/;
	is($node->safe_psql('postgres', qq{
        SELECT (SELECT status FROM sg_wait(r.run_id, '60 s')) || ' ' || settle('$t')
        FROM sg_runs('$t') r ORDER BY r.created_at LIMIT 1}), 'cancelled waiting', "$t ($how): stopped, and the new run waits for its task")
	  or diag $err;
	$node->safe_psql('postgres', qq{SELECT sg_delete_thread('$t')});	# and its task: the next claim is of the next thread
}
is($refused, 0, "no completion was rolled back by a deadlock ($n tries)");
my $log = slurp_file($node->logfile, $log_from);
unlike($log, qr/deadlock detected/, 'nor was a stop');

done_testing();
