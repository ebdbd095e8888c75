# The reference worker (examples/worker.py) when the server refuses a
# task's hand-back (sg_complete, sg_interrupt_task, sg_fail) with an error
# other than a fence (SG010-SG012) or a lost connection: it died with a
# traceback, the task left claimed until its lease lapsed, and the next
# worker died the same way on it.
#  - a result jsonb cannot hold (a NUL in a text: 22P05), from sg_complete
#    and from sg_interrupt_task: the task fails at once, without a retry,
#    with an error naming the SQLSTATE;
#  - a handler's exception with a NUL in its message: the NUL is replaced,
#    and the task is retried as its node says;
#  - sg_complete under lock_timeout while another transaction holds the
#    task's row (55P03): run again, and the task completes at its first
#    attempt; still refused after a few runs: the task is handed back
#    (sg_fail, retried), and completes at its second attempt;
#  - through all of it the worker keeps running, says what happened in one
#    line each, and goes on with the next tasks.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use POSIX qw(WNOHANG);
use SGWorker qw(start_worker stop_worker);

plan skip_all => 'no /usr/bin/python3 with psycopg' unless SGWorker::worker_usable();

my $node = PostgreSQL::Test::Cluster->new('workererrors');
$node->init;
$node->start;
# the worker's statements wait 200 ms at most for a lock
my $dsn = 'host=' . $node->host . ' port=' . $node->port . " dbname=postgres options='-c lock_timeout=200'";

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION make_graph(g text, node text, attempts int) RETURNS void LANGUAGE sql AS $$
        SELECT sg_create_graph(g, '{"answer": "replace"}');
        SELECT sg_add_external_node(g, node, 'q', jsonb_build_object('max_attempts', attempts, 'backoff_ms', 0),
                                    '30 seconds');
        SELECT sg_add_edge(g, '__start__', node);
        SELECT sg_add_edge(g, node, '__end__');
        SELECT sg_compile(g) $$;
    SELECT make_graph('gnul', 'nul', 3);
    SELECT make_graph('gerr', 'nul_error', 2);
    SELECT make_graph('gask', 'nul_question', 3);
    SELECT make_graph('gnap', 'nap', 3);
});

my ($w, $log) = start_worker($dsn, queues => ['q'], env => { SG_NAP => '1' });

sub alive { return waitpid($w, WNOHANG) == 0; }

# the task of thread $t once it is $status (else 'timed out'): "attempt sqlstate"
# (the SQLSTATE of the error object the worker gave sg_fail, kept as error.error)
sub task_when
{
	my ($t, $status) = @_;
	$node->poll_query_until('postgres', "SELECT count(*) FROM sg_tasks('q', '$status') WHERE thread_id = '$t'", '1')
	  or return 'timed out';
	return sql("SELECT attempt || ' ' || coalesce(error->'error'->>'sqlstate', '-') FROM sg_tasks('q') WHERE thread_id = '$t'");
}

# --- sg_complete of an update with a NUL: 22P05, failed without a retry ------
sql(q{SELECT sg_invoke('gnul', '{}', 'nul-1')});
is(task_when('nul-1', 'failed'), '1 22P05', 'an update with a NUL: the task fails at its first attempt, with its SQLSTATE');
is(sql(q{SELECT error->'error'->>'type' || ': ' || (error->'error'->>'message') FROM sg_tasks('q') WHERE thread_id = 'nul-1'}),
	'UntranslatableCharacter: unsupported Unicode escape sequence', '... and the message of the refusal');
ok(alive(), 'the worker keeps running');
like(slurp_file($log), qr/task \S+: sg_complete refused \(22P05 [^\n]*\): the result cannot be stored; the task fails without a retry\n/,
	'and says so in its log');
is(sql(q{SELECT (sg_get_state('nul-1'))."values"->>'answer' IS NULL}), 't', 'the thread got no answer');

# --- sg_interrupt_task of a value with a NUL: the same -------------------------
sql(q{SELECT sg_invoke('gask', '{}', 'ask-1')});
is(task_when('ask-1', 'failed'), '1 22P05', 'a question with a NUL: the task fails at its first attempt');
like(slurp_file($log), qr/task \S+: sg_interrupt_task refused \(22P05 /, 'the worker says sg_interrupt_task was refused');
ok(alive(), 'and keeps running');

# --- a handler's exception with a NUL: sg_fail stores it, retried --------------
sql(q{SELECT sg_invoke('gerr', '{}', 'err-1')});
is(task_when('err-1', 'failed'), '2 -', 'a failure whose message has a NUL: retried, failed after its two attempts');
is(sql(q{SELECT error->>'message' = 'model said a' || chr(65533) || 'b' FROM sg_tasks('q') WHERE thread_id = 'err-1'}),
	't', 'its message stored with the NUL replaced by U+FFFD');
ok(alive(), 'the worker keeps running');

# --- sg_complete under lock_timeout: run again -------------------------------
# another transaction holds the task's row when the handler is done, and
# lets it go once the worker says its sg_complete was refused. The hold
# must come while the handler naps (1 s from the claim): the holder's own
# session waits for the claim and locks the row at once (a poll of psql
# processes, then a session started, took over a second on a loaded
# machine: the task completed, nothing was refused, and the wait for the
# worker's word ran out), and the hold counts only if the task is still
# claimed under it; else it is let go and tried again on a new thread.
# Returns the thread of the task held, and whether the worker said $seen.
sub hold_task_until
{
	my ($base, $seen) = @_;
	for my $try (1 .. 5)
	{
		my $t = $try == 1 ? $base : "$base-$try";
		my $holder = $node->background_psql('postgres');
		$holder->set_query_timer_restart;
		sql("SELECT sg_invoke('gnap', '{}', '$t')");
		my $status = $holder->query_safe(qq{
			BEGIN;
			DO \$\$ BEGIN
				FOR i IN 1 .. 6000 LOOP
					EXIT WHEN EXISTS (SELECT FROM stategraph.tasks WHERE thread_id = '$t' AND status <> 'queued');
					PERFORM pg_sleep(0.01);
				END LOOP;
			END \$\$;
			SELECT status FROM stategraph.tasks WHERE thread_id = '$t' FOR UPDATE;});
		if ($status ne 'claimed')
		{
			note("try $try: the task of $t was $status before the hold; again");
			$holder->query_safe('ROLLBACK');
			$holder->quit;
			next;
		}
		my $found = 0;
		for (1 .. 600)
		{
			last if ($found = slurp_file($log) =~ $seen);
			usleep(50_000);
		}
		$holder->query_safe('COMMIT');
		$holder->quit;
		return ($t, $found);
	}
	return ('none held', 0);
}

my ($t1, $found1) = hold_task_until('lock-1', qr/sg_complete refused \(55P03 [^\n]*\): again in/);
ok($found1, 'sg_complete meets lock_timeout; the worker says it runs it again');
is(task_when($t1, 'completed'), '1 -', 'the task completes at its first attempt once the row is let go');
ok(alive(), 'the worker keeps running');

# --- still refused after a few runs: handed back ------------------------------
my ($t2, $found2) = hold_task_until('lock-2', qr/sg_complete refused \(55P03 [^\n]*\) 5 times: the task is handed back/);
ok($found2, 'refused five times: the worker hands the task back');
like(task_when($t2, 'completed'), qr/^2 /, 'it completes at its second attempt');
is(sql(qq{SELECT (sg_get_state('$t2'))."values"->>'answer'}), 'nap 2', 'the thread has the second attempt\'s answer');

# --- and goes on with the next tasks -------------------------------------------
sql(q{SELECT sg_invoke('gnap', '{}', 'after-1')});
is(task_when('after-1', 'completed'), '1 -', 'the worker completes the next task');
ok(alive(), 'it is still running');
my $text = slurp_file($log);
unlike($text, qr/Traceback/, 'no exception ended it');
is(stop_worker($w, 'TERM'), 0, 'SIGTERM stops it cleanly');

$node->stop;
done_testing();
