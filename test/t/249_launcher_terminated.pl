# A superuser's pg_terminate_backend of every stategraph process (as an
# administrator ending every other session before maintenance does): the
# launcher exited with code 0, so the postmaster never started it again,
# no database got a worker any more and every background run stayed
# pending until the server restarted. It exits with 1 now, and the
# postmaster starts it again after its restart time (5 s).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('launcher_terminated');
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph;' . one_node_graph_sql('g'));

sub sql { return $node->safe_psql('postgres', $_[0]); }

ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'stategraph worker'}),
	'a worker');
my $launcher = sql(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'stategraph launcher'});
is(sql(q{SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE backend_type IN ('stategraph launcher', 'stategraph worker')) t}), '2', 'launcher and worker terminated');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'stategraph worker'}),
	'the worker is gone');
ok(true_within($node, 15, qq{SELECT count(*) = 1 FROM pg_stat_activity
    WHERE backend_type = 'stategraph launcher' AND pid <> $launcher}), 'a new launcher started');
sql(q{SELECT sg_submit('g', '{}', 't')});
ok(true_within($node, 15, q{SELECT status = 'success' FROM sg_runs('t')}), 'a run submitted then executes');

# a new database gets its worker from the new launcher too
$node->safe_psql('postgres', 'CREATE DATABASE later');
$node->safe_psql('later', 'CREATE EXTENSION stategraph;' . one_node_graph_sql('g') . q{SELECT sg_submit('g', '{}', 't');});
ok($node->poll_query_until('later', q{SELECT status = 'success' FROM sg_runs('t')}), 'and one in a database made since');

$node->stop;
done_testing();
