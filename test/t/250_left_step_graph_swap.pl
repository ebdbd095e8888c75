# A left step (stategraph.steps_left) goes on only with the graph its tasks
# were queued for, not with another graph created under its name since.
#
# When a task's completion cannot go on with its step (another transaction
# holds the thread's row), it notes the step, and the server's sweep (a
# background worker, CALL sg_work) queues a run of the thread's owner that
# goes on from the thread's head. That run was queued for the graph the
# thread names as it stands at the sweep: a graph the owner had dropped
# meanwhile and another role (bob) had created again under the same name
# with functions of his own ran on the owner's thread as the owner (alice),
# bob's code with alice's rights. A background run already queued, and an
# external task, are held to the generation of their graph (pg_regress
# newcomer_runs, tasks' SG011); the sweep's run now is too: it is not queued
# (a LOG line says why), and the thread waits for its owner's
# sg_invoke(graph, NULL, thread), as when the graph is gone. A left step
# whose graph is the same goes on as before (TAP 146).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGNode;

# A psql session in a transaction that holds $thread's row.
sub hold_row
{
	my ($node, $thread) = @_;
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(['psql', '-X', '-At', '-d', $node->connstr('postgres')],
		'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(180));
	$in .= "BEGIN; SELECT 'held' FROM stategraph.threads WHERE thread_id = '$thread' FOR UPDATE;\n";
	$h->pump until $out =~ /^held$/m;
	return { h => $h, in => \$in, out => \$out };
}

sub release
{
	my ($s) = @_;
	${ $s->{in} } .= "COMMIT; SELECT 'committed';\n";
	$s->{h}->pump until ${ $s->{out} } =~ /^committed$/m;
	${ $s->{in} } .= "\\q\n";
	$s->{h}->finish;
}

# alice's thread waits for its task; the task is claimed and completed while the row is held
sub left_step
{
	my ($node, $thread) = @_;
	$node->safe_psql('postgres', qq{SELECT sg_invoke('ext', '{}', '$thread')}, extra_params => ['-U', 'alice']);
	my ($task, $token) = split /\|/,
	  $node->safe_psql('postgres', q{SELECT task_id, token FROM sg_claim('q', 'me')}, extra_params => ['-U', 'alice']);
	my $holder = hold_row($node, $thread);
	$node->safe_psql('postgres', qq{SELECT sg_complete('$task', '$token', '{"answer": 42}')},
		extra_params => ['-U', 'alice']);
	return $holder;
}

my $alice_graph = q{
    CREATE FUNCTION alice_after(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT jsonb_build_object('by', 'alice_after as ' || current_user) $$;
    SELECT sg_create_graph('ext', '{"answer": "replace", "by": "replace"}');
    SELECT sg_add_external_node('ext', 'ask', 'q');
    SELECT sg_add_node('ext', 'after', 'alice_after(jsonb)');
    SELECT sg_add_edge('ext', '__start__', 'ask');
    SELECT sg_add_edge('ext', 'ask', 'after');
    SELECT sg_add_edge('ext', 'after', '__end__');
    SELECT sg_compile('ext');
};

# without the preload: CALL sg_work is the sweep
my $node = plain_node('left_step_swap');
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE ROLE alice LOGIN;
    CREATE ROLE bob LOGIN;
    GRANT CREATE ON SCHEMA public TO alice, bob;
    CREATE TABLE public.loot (who text);
    GRANT INSERT ON public.loot TO PUBLIC;
});
$node->safe_psql('postgres', "SET ROLE alice; $alice_graph");
# bob's functions: what they would do as whoever runs them
$node->safe_psql('postgres', q{
    SET ROLE bob;
    CREATE FUNCTION bob_node(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO public.loot VALUES (current_user);
        RETURN jsonb_build_object('by', 'bob_node as ' || current_user);
    END $$;
});

my $state = q{SELECT t.status || ' ' || COALESCE(s.values->>'by', '-') FROM stategraph.threads t, sg_get_state(t.thread_id) s WHERE t.thread_id = };

# the same graph: the left step goes on (TAP 146)
my $holder = left_step($node, 's1');
release($holder);
$node->safe_psql('postgres', 'CALL sg_work()');
is($node->safe_psql('postgres', "$state 's1'"), 'done alice_after as alice', 'a left step goes on with its own graph');

# alice drops her graph while a step of hers is left, bob creates one of that name
$holder = left_step($node, 's2');
is($node->safe_psql('postgres', q{SELECT thread_id || ' ' || owner FROM stategraph.steps_left}), 's2 alice',
	'the step is noted as left');
$node->safe_psql('postgres', q{SELECT sg_drop_graph('ext')}, extra_params => ['-U', 'alice']);
$node->safe_psql('postgres', q{
    SELECT sg_create_graph('ext', '{"answer": "replace", "by": "replace"}');
    SELECT sg_add_node('ext', 'ask', 'bob_node(jsonb)');
    SELECT sg_add_node('ext', 'after', 'bob_node(jsonb)');
    SELECT sg_add_edge('ext', '__start__', 'ask');
    SELECT sg_add_edge('ext', 'ask', 'after');
    SELECT sg_add_edge('ext', 'after', '__end__');
    SELECT sg_compile('ext');
}, extra_params => ['-U', 'bob']);
release($holder);
$node->safe_psql('postgres', 'CALL sg_work()');
is($node->safe_psql('postgres', q{SELECT count(*) FROM public.loot}), '0', "bob's function did not run as alice");
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs WHERE thread_id = 's2'}), '0',
	'no run was queued for the step');
is($node->safe_psql('postgres', "$state 's2'"), 'waiting -', "alice's thread still waits at its step");
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.steps_left}), '0', 'the note is dropped');
like(slurp_file($node->logfile), qr/could not continue the step of thread "s2" that its last task left: graph "ext" was dropped and created again/,
	'the LOG line says why');

# bob's own thread on his graph is his to run, as ever
$node->safe_psql('postgres', q{SELECT sg_invoke('ext', '{}', 'b1')}, extra_params => ['-U', 'bob']);
is($node->safe_psql('postgres', q{SELECT string_agg(who, ',') FROM public.loot}), 'bob,bob', "bob's graph runs as bob");

$node->stop;
done_testing();
