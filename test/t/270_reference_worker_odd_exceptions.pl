# The reference worker (examples/worker.py) when a handler's failure cannot
# be put into words or JSON: an exception whose str() raises, or an
# Interrupt whose value is nested too deep for json.dumps (RecursionError).
# The worker died of it with a traceback, its task left claimed until its
# lease lapsed, and each retry killed the next worker the same way. Now
# the first is an sg_fail naming the exception's type (retried as its node
# says), the second a failure without a retry (the question is not JSON),
# and the worker goes on with the next tasks.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use POSIX qw(WNOHANG);
use SGWorker qw(start_worker stop_worker);

plan skip_all => 'no /usr/bin/python3 with psycopg' unless SGWorker::worker_usable();

my $node = PostgreSQL::Test::Cluster->new('oddexceptions');
$node->init;
$node->start;
my $dsn = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres';

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
    SELECT make_graph('gstr', 'unprintable', 2);
    SELECT make_graph('gdeep', 'deep_question', 3);
    SELECT make_graph('gnap', 'nap', 3);
});

my ($w, $log) = start_worker($dsn, queues => ['q'], env => { SG_NAP => '0.1' });

sub alive { return waitpid($w, WNOHANG) == 0; }

# the task of thread $t once it is $status (else 'timed out'): "attempt error.error.type"
sub task_when
{
	my ($t, $status) = @_;
	$node->poll_query_until('postgres', "SELECT count(*) FROM sg_tasks('q', '$status') WHERE thread_id = '$t'", '1')
	  or return 'timed out';
	return sql("SELECT attempt || ' ' || coalesce(error->'error'->>'type', '-') FROM sg_tasks('q') WHERE thread_id = '$t'");
}

# --- an exception whose str() raises: an sg_fail, retried, then failed ------
sql(q{SELECT sg_invoke('gstr', '{}', 'str-1')});
is(task_when('str-1', 'failed'), '2 Unprintable', 'an exception whose str() raises: failed after its 2 attempts, naming its type');
like(sql(q{SELECT error->'error'->>'message' FROM sg_tasks('q') WHERE thread_id = 'str-1'}),
	qr/^Unprintable \(its message could not be read: RuntimeError/, '... and saying its message could not be read');
ok(alive(), 'the worker keeps running');

# --- an Interrupt whose value json.dumps cannot write: failed, no retry ------
sql(q{SELECT sg_invoke('gdeep', '{}', 'deep-1')});
is(task_when('deep-1', 'failed'), '1 Fatal', 'a question too deep for JSON: the task fails at its first attempt');
like(sql(q{SELECT error->'error'->>'message' FROM sg_tasks('q') WHERE thread_id = 'deep-1'}),
	qr/^the interrupt's value is not JSON/, '... saying why');
ok(alive(), 'the worker keeps running');

# --- and the next task is done --------------------------------------------------
sql(q{SELECT sg_invoke('gnap', '{}', 'nap-1')});
is(task_when('nap-1', 'completed'), '1 -', 'the next task completes');
ok(alive(), 'the worker is still there');
unlike(slurp_file($log), qr/Traceback/, 'no traceback in its log');

is(stop_worker($w, 'TERM'), 0, 'SIGTERM stops it cleanly');
$node->stop;
done_testing();
