# The reference worker's heartbeat refused by the statement itself (55P03
# under lock_timeout, while another transaction holds the task's row; so
# would 57014 or 40P01): the beat's connection is fine, and is kept. The
# worker closed it at every such refusal (taking it for a lost connection),
# so each beat tried again opened a new connection (a backend), and said
# so at every try; now it says once that the beat was refused, once that
# it was taken again, and keeps one connection.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGWorker qw(start_worker stop_worker);

plan skip_all => 'no /usr/bin/python3 with psycopg' unless SGWorker::worker_usable();

my $node = PostgreSQL::Test::Cluster->new('beatrefused');
$node->init;
$node->append_conf('postgresql.conf', "log_connections = on");
$node->start;
# the worker's statements wait 200 ms at most for a lock
my $dsn = 'host=' . $node->host . ' port=' . $node->port . " dbname=postgres options='-c lock_timeout=200'";

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{
    CREATE EXTENSION stategraph;
    SELECT sg_create_graph('g', '{"answer": "replace"}');
    SELECT sg_add_external_node('g', 'nap', 'q', '{"max_attempts": 3, "backoff_ms": 0}', '3 seconds');
    SELECT sg_add_edge('g', '__start__', 'nap');
    SELECT sg_add_edge('g', 'nap', '__end__');
    SELECT sg_compile('g');
});

my ($w, $log) = start_worker($dsn, queues => ['q'], env => { SG_NAP => '5' });
$node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pg_stat_activity
    WHERE application_name = 'stategraph reference worker'}) or die 'the worker did not connect';

sql(q{SELECT sg_invoke('g', '{}', 't')});
$node->poll_query_until('postgres', q{SELECT count(*) FROM sg_tasks('q', 'claimed')}, '1')
  or die 'the task was not claimed';

# another transaction holds the task's row for 3 s, past two beats (every 1 s)
my $holder = IPC::Run::start(
	[ 'psql', '-X', '-q', '-h', $node->host, '-p', $node->port, '-d', 'postgres', '-c',
	  'BEGIN; SELECT 1 FROM stategraph.tasks FOR UPDATE; SELECT pg_sleep(3); COMMIT;' ],
	'>', \my $out, '2>', \my $err);

$node->poll_query_until('postgres', q{SELECT count(*) FROM sg_tasks('q', 'completed')}, '1')
  or die 'the task did not complete';
$holder->finish;

is(sql(q{SELECT attempt FROM sg_tasks('q')}), '1', 'the task completed at its first attempt');
my $text = slurp_file($log);
my $refused = () = $text =~ /heartbeat of \S+ refused \(55P03 /g;
is($refused, 1, 'the refused beat is said once');
like($text, qr/heartbeat of \S+ taken again/, 'and that it was taken again');
unlike($text, qr/heartbeat of \S+: [^\n]*; again/, 'not as a lost connection');
my $beats = () = slurp_file($node->logfile) =~ /connection authorized: [^\n]*application_name=stategraph reference worker heartbeat/g;
is($beats, 1, 'one heartbeat connection throughout');

is(stop_worker($w, 'TERM'), 0, 'SIGTERM stops it cleanly');
$node->stop;
done_testing();
