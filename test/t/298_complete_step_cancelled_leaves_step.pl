# A completion goes on with its step in the worker's transaction (no
# background run of the thread). When that step's SQL nodes took longer than
# the worker's statement_timeout, the timeout (57014) refused the completion
# itself: the worker's valid result was thrown away, every retry of it met
# the same timeout, the reference worker handed the task back as a failure
# after 5 tries, the model was called again for each attempt, and once the
# attempts ran out the thread ended in error though neither the model nor
# the node failed. Now a step cancelled under way (statement_timeout,
# pg_cancel_backend) leaves the step to a run of the thread's owner (a LOG
# line says so), and the completion is taken:
#  - psql: sg_complete under a statement_timeout shorter than the next
#    node returns; the task is completed at its first attempt, the thread
#    waits with a note of the step, and CALL sg_work goes on with it;
#  - the reference worker under such a statement_timeout (PGOPTIONS)
#    completes its task at the first attempt, with no sg_fail.
# No preload: only CALL sg_work runs a left step here.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use SGWorker ();

my $node = plain_node('complete_step_cancelled');
my $dsn = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres';

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION slow_next(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT pg_sleep(1.5); SELECT '{"after": "slow"}'::jsonb $$;
    SELECT sg_create_graph('g', '{"answer": "replace", "after": "replace"}');
    SELECT sg_add_external_node('g', 'nap', 'q298', '{"max_attempts": 3, "backoff_ms": 0}');
    SELECT sg_add_node('g', 'next', 'slow_next(jsonb)');
    SELECT sg_add_edge('g', '__start__', 'nap');
    SELECT sg_add_edge('g', 'nap', 'next');
    SELECT sg_add_edge('g', 'next', '__end__');
    SELECT sg_compile('g');
});

sub thread_status { return sql("SELECT status FROM stategraph.threads WHERE thread_id = '$_[0]'"); }

# --- psql: sg_complete under a short statement_timeout ------------------------
sql(q{SELECT sg_invoke('g', '{}', 't-1')});
my ($rc, $out, $err) = $node->psql('postgres', q{
    SET statement_timeout = '300ms';
    SELECT sg_complete(task_id, token, '{"answer": "paid"}') FROM sg_claim('q298', 'psql');
});
is($rc, 0, 'sg_complete under a statement_timeout shorter than the next node succeeds');
unlike($err, qr/statement timeout/, '... not canceled by it') or diag($err);
is(sql(q{SELECT status || ' ' || attempt || ' ' || (result->>'answer') FROM stategraph.tasks WHERE thread_id = 't-1'}),
	'completed 1 paid', '... the task is completed with the result, at its first attempt');
is(thread_status('t-1'), 'waiting', '... the thread waits');
is(sql(q{SELECT count(*) FROM stategraph.steps_left WHERE thread_id = 't-1'}), '1', '... with a note of its step');
ok($node->log_contains(qr/the step of thread "t-1" that external task "[^"]+" completed was cancelled under way/),
	'... which the server log says');
sql('CALL sg_work()');
is(thread_status('t-1'), 'done', 'CALL sg_work goes on with the step');
is(sql(q{SELECT (sg_get_state('t-1')).values}), '{"after": "slow", "answer": "paid"}',
	"... with the worker's result");

# --- the reference worker under such a statement_timeout ----------------------
SKIP:
{
	skip 'no /usr/bin/python3 with psycopg', 4 unless SGWorker::worker_usable();
	sql(q{SELECT sg_invoke('g', '{}', 't-2')});
	my ($w, $log) = SGWorker::start_worker($dsn, queues => ['q298'],
		env => { SG_NAP => '0', PGOPTIONS => '-c statement_timeout=300' }, args => [ '--wait', '0.1' ]);
	ok($node->poll_query_until('postgres',
			q{SELECT count(*) FROM stategraph.tasks WHERE thread_id = 't-2' AND status = 'completed'}, '1'),
		'the reference worker under statement_timeout = 300 ms completes its task');
	is(SGWorker::stop_worker($w, 'TERM'), 0, '... and stops cleanly');
	is(sql(q{SELECT attempt || ' ' || (result->>'answer') FROM stategraph.tasks WHERE thread_id = 't-2'}),
		'1 nap 1', '... at its first attempt');
	unlike(slurp_file($log), qr/sg_complete refused|sg_fail/, '... with no refusal and no sg_fail');
}

$node->stop;
done_testing();
