# The reference worker (examples/worker.py) on several queues claims them in
# turn, as README says: each round started again at the first --queue, so a
# busy first queue starved the others (with --queue qa --queue qb, an older
# task of qb stayed queued while the worker did every task of qa). A round
# now starts at the queue after the one it served last.
#
# And --max-tasks below 0 (which ran one task and exited 0) or --sweep-every
# NaN or infinite (after which the worker never swept) are usage errors
# (exit 2) before the worker connects, as a bad --wait is.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGWorker qw(start_worker wait_worker stop_worker);

plan skip_all => 'no /usr/bin/python3 with psycopg' unless SGWorker::worker_usable();

my $node = PostgreSQL::Test::Cluster->new('workerqueues');
$node->init;
$node->start;
my $dsn = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres';

sub sql { return $node->safe_psql('postgres', $_[0]); }

# --- arguments the worker cannot use: a usage error, nothing started --------
for my $case ([ '--max-tasks', '-1', qr/argument --max-tasks: must be 0 \(no limit\) or more, not -1/ ],
	[ '--max-tasks', 'two', qr/argument --max-tasks: must be a whole number/ ],
	[ '--sweep-every', 'nan', qr/argument --sweep-every: must be a finite number of seconds/ ],
	[ '--sweep-every', 'inf', qr/argument --sweep-every: must be a finite number of seconds/ ],
	[ '--sweep-every', '-1', qr/argument --sweep-every: must be a finite number of seconds/ ])
{
	my ($opt, $value, $says) = @$case;
	my ($w, $log) = start_worker($dsn, queues => ['qa'], args => [ $opt, $value ]);
	my $status = wait_worker($w, 20) // stop_worker($w, 'KILL');
	is($status >> 8, 2, "$opt $value: a usage error (exit 2)");
	like(slurp_file($log), $says, "$opt $value: says what it takes");
	unlink $log;
}

# --- two queues: the second is served while the first still has work --------
sql(q{
    CREATE EXTENSION stategraph;
    SELECT sg_create_graph('ga', '{"doc": "replace", "done": "append"}');
    SELECT sg_add_external_node('ga', 'work', 'qa');
    SELECT sg_add_edge('ga', '__start__', 'work');
    SELECT sg_add_edge('ga', 'work', '__end__');
    SELECT sg_compile('ga');
    SELECT sg_create_graph('gb', '{"answer": "replace"}');
    SELECT sg_add_external_node('gb', 'nap', 'qb');
    SELECT sg_add_edge('gb', '__start__', 'nap');
    SELECT sg_add_edge('gb', 'nap', '__end__');
    SELECT sg_compile('gb');
    -- qb's task is the oldest of all; qa has more work than the worker will do
    SELECT sg_invoke('gb', '{}', thread_id => 'b1');
    SELECT sg_invoke('ga', jsonb_build_object('doc', i), thread_id => 'a' || i) FROM generate_series(1, 6) i;
});

my ($w, $log) = start_worker($dsn, queues => [ 'qa', 'qb' ], env => { SG_NAP => '0.01' },
	args => [ '--max-tasks', '4' ]);
my $status = wait_worker($w, 60) // stop_worker($w, 'KILL');
is($status >> 8, 0, 'the worker did its 4 tasks and exited 0');
is(sql(q{SELECT status FROM sg_tasks() WHERE thread_id = 'b1'}), 'completed',
	"the second queue's task was done while the first queue still had work");
is(sql(q{SELECT count(*) FROM sg_tasks() WHERE queue = 'qa' AND status = 'completed'}), '3',
	'the rounds went qa, qb, qa, qa: three of qa');
unlink $log;

$node->stop;
done_testing();
