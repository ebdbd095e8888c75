# A step whose last task completed while another transaction held the
# thread's row goes on once that transaction ends.
#
# Without a background run, sg_complete of a step's last task continues the
# step itself, having locked the thread's row without waiting. When another
# transaction holds that row (sg_fork from one of its checkpoints, a prune,
# a sweep, sg_reassign_owned; here a plain SELECT ... FOR UPDATE stands for
# them), it cannot: waiting could deadlock with a session that holds the
# row to take the result itself (a continuing sg_invoke). The step stayed
# waiting, with no task out, until somebody called sg_invoke(graph, NULL,
# thread). The completion now notes the step (stategraph.steps_left), and
# once the holder has committed the server goes on with it: a background
# run queued as the thread's owner, by a worker soon after the commit or by
# CALL sg_work. A step the holder went on with itself gets no run.
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
	my ($node, $thread, $user) = @_;
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(['psql', '-X', '-At', '-d', $node->connstr('postgres'), '-U', $user],
		'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(180));
	$in .= "BEGIN; SELECT 'held' FROM stategraph.threads WHERE thread_id = '$thread' FOR UPDATE;\n";
	$h->pump until $out =~ /^held$/m;
	return { h => $h, in => \$in, out => \$out };
}

sub run_in
{
	my ($s, $sql, $mark) = @_;
	${ $s->{in} } .= "$sql; SELECT '$mark';\n";
	$s->{h}->pump until ${ $s->{out} } =~ /^$mark$/m;
}

sub end_session
{
	my ($s) = @_;
	${ $s->{in} } .= "\\q\n";
	$s->{h}->finish;
}

# The thread waits for its one task, claimed and completed while the row is held.
sub complete_while_held
{
	my ($node, $thread, $user) = @_;
	$node->safe_psql('postgres', qq{SELECT sg_invoke('ext', '{}', '$thread')}, extra_params => ['-U', $user]);
	my ($task, $token) = split /\|/,
	  $node->safe_psql('postgres', q{SELECT task_id, token FROM sg_claim('q', 'me')}, extra_params => ['-U', $user]);
	my $holder = hold_row($node, $thread, $user);
	$node->safe_psql('postgres', qq{SELECT sg_complete('$task', '$token', '{"answer": 42}')}, extra_params => ['-U', $user]);
	return $holder;
}

# the thread's stored status: sg_threads lists a thread whose row another
# session holds as running (TAP 187), as the holder here does
my $state = q{SELECT t.status || ' ' || COALESCE(s.values->>'answer', '-') FROM stategraph.threads t, sg_get_state(t.thread_id) s WHERE t.thread_id = };

# without the preload: CALL sg_work goes on with it
my $node = plain_node('left_step');
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph; CREATE ROLE alice LOGIN;'
	  . 'GRANT CREATE ON SCHEMA public TO alice;');
$node->safe_psql('postgres', 'SET ROLE alice;' . ext_graph_sql());

my $holder = complete_while_held($node, 'l1', 'alice');
is($node->safe_psql('postgres', "$state 'l1'"), 'waiting -',
	'the completion could not go on with the step while the row was held: the thread waits');
is($node->safe_psql('postgres', q{SELECT thread_id || ' ' || owner FROM stategraph.steps_left}), 'l1 alice',
	'the step is noted as left, with the thread owner');
$node->safe_psql('postgres', 'CALL sg_work()');
is($node->safe_psql('postgres', "$state 'l1'"), 'waiting -', 'while the holder holds the row, CALL sg_work leaves it');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.steps_left}), '1', 'and keeps its note');
run_in($holder, 'COMMIT', 'committed');
end_session($holder);
$node->safe_psql('postgres', 'CALL sg_work()', extra_params => ['-U', 'alice']);
is($node->safe_psql('postgres', "$state 'l1'"), 'done 42', "once the holder committed, the owner's CALL sg_work went on with the step");
is($node->safe_psql('postgres', q{SELECT r.status || ' ' || r.owner FROM stategraph.runs r WHERE thread_id = 'l1'}),
	'success alice', 'with one background run, queued as the thread owner');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.steps_left}), '0', 'the note is gone');
is($node->safe_psql('postgres', q{SELECT string_agg(source || ':' || step, ' ' ORDER BY step) FROM sg_get_state_history('l1')}),
	'input:-1 loop:0 loop:1', 'the history is that of a step gone on at once');

# a note of another role does not count: bob may write notes, but only his
# own (row-level security), and a note whose owner is not the thread's
# gets no run (else any role could have another's thread go on)
$node->safe_psql('postgres', 'CREATE ROLE bob LOGIN');
$holder = complete_while_held($node, 'l3', 'alice');
run_in($holder, 'COMMIT', 'committed');
end_session($holder);
my $head = $node->safe_psql('postgres', q{SELECT head FROM stategraph.threads WHERE thread_id = 'l3'});
$node->safe_psql('postgres', q{DELETE FROM stategraph.steps_left WHERE thread_id = 'l3'});
my ($rc, $out, $err) = $node->psql('postgres',
	qq{INSERT INTO stategraph.steps_left (thread_id, checkpoint_id, owner) VALUES ('l3', '$head', 'alice')},
	extra_params => ['-U', 'bob']);
like($err, qr/row-level security/, "bob may not write a note in alice's name");
$node->safe_psql('postgres', qq{INSERT INTO stategraph.steps_left (thread_id, checkpoint_id) VALUES ('l3', '$head')},
	extra_params => ['-U', 'bob']);
$node->safe_psql('postgres', 'CALL sg_work()');
is($node->safe_psql('postgres', "$state 'l3'") . ' ' . $node->safe_psql('postgres',
		q{SELECT count(*) FROM stategraph.runs WHERE thread_id = 'l3'}),
	'waiting - 0', "bob's own note for alice's thread gets no run");
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.steps_left}), '0', 'and is dropped');
$node->safe_psql('postgres', q{SELECT sg_invoke('ext', NULL, 'l3')}, extra_params => ['-U', 'alice']);

# a member of the thread owner goes on with the owner's thread: its task,
# the note and the run are the thread owner's (a task belongs to its
# thread's owner, whoever ran the step: TAP 162)
$node->safe_psql('postgres', 'CREATE ROLE app LOGIN IN ROLE alice');
$node->safe_psql('postgres', q{SELECT sg_invoke('ext', '{}', 'm1')}, extra_params => ['-U', 'alice']);
$node->safe_psql('postgres', q{SELECT sg_complete(task_id, token, '{"answer": 1}') FROM sg_claim('q', 'me')},
	extra_params => ['-U', 'alice']);
$holder = complete_while_held($node, 'm1', 'app');
is($node->safe_psql('postgres', q{SELECT owner FROM stategraph.tasks WHERE thread_id = 'm1' ORDER BY seq DESC LIMIT 1})
	  . ' ' . $node->safe_psql('postgres', q{SELECT owner FROM stategraph.steps_left WHERE thread_id = 'm1'}),
	'alice alice', "the member's task is the owner's, and left the step noted as the owner's");
run_in($holder, 'COMMIT', 'committed');
end_session($holder);
$node->safe_psql('postgres', 'CALL sg_work()');
is($node->safe_psql('postgres', "$state 'm1'") . ' ' . $node->safe_psql('postgres',
		q{SELECT string_agg(owner, ',') FROM stategraph.runs WHERE thread_id = 'm1'}),
	'done 42 alice', 'CALL sg_work went on with it, with a run of the owner');

# the holder was a session going on with the step itself: no run
$node->safe_psql('postgres', q{SELECT sg_invoke('ext', '{}', 'l2')}, extra_params => ['-U', 'alice']);
my ($task, $token) = split /\|/,
  $node->safe_psql('postgres', q{SELECT task_id, token FROM sg_claim('q', 'me')}, extra_params => ['-U', 'alice']);
$holder = hold_row($node, 'l2', 'alice');
$node->safe_psql('postgres', qq{SELECT sg_complete('$task', '$token', '{"answer": 7}')}, extra_params => ['-U', 'alice']);
run_in($holder, q{SELECT sg_invoke('ext', NULL, 'l2')}, 'continued');
run_in($holder, 'COMMIT', 'committed');
end_session($holder);
is($node->safe_psql('postgres', "$state 'l2'"), 'done 7', 'the session that held the row went on with the step itself');
$node->safe_psql('postgres', 'CALL sg_work()');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs WHERE thread_id = 'l2'}), '0',
	'CALL sg_work queued no run for it');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.steps_left}), '0', 'and dropped its note');
$node->stop;

# with the preload: a worker goes on with it, soon after the holder commits
$node = preloaded_node('left_step_workers');
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph; CREATE ROLE alice LOGIN;'
	  . 'GRANT CREATE ON SCHEMA public TO alice;');
$node->safe_psql('postgres', 'SET ROLE alice;' . ext_graph_sql());
$holder = complete_while_held($node, 'w1', 'alice');
sleep 2;
is($node->safe_psql('postgres', "$state 'w1'"), 'waiting -', 'the workers leave the step while the row is held');
run_in($holder, 'COMMIT', 'committed');
end_session($holder);
ok($node->poll_query_until('postgres', "$state 'w1'", 'done 42'), 'a worker went on with the step once the holder committed');
is($node->safe_psql('postgres', q{SELECT r.status || ' ' || r.owner FROM stategraph.runs r WHERE thread_id = 'w1'}),
	'success alice', 'with a background run of the thread owner');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.steps_left}), '0', 'the note is gone');
$node->stop;
done_testing();
