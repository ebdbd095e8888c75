# sg_wait looks at its run again at every wake, and at least once a second:
# each look kept its SPI result (an 8 kB context) and a copy of the run's row
# until the call returned, so the memory of a backend in sg_wait grew by
# about 8 kB a second for as long as it waited (some 700 MB for a wait of a
# day). Its memory now stays flat however long it waits.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use Test::More;
use SGNode;

my $node = preloaded_node('wait_memory_flat');
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph;' . one_node_graph_sql('g'));
# a run due tomorrow: sg_wait waits for it until its timeout
my $rid = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{}', 't', after => '1 day')});

my ($out, $err) = waiter_memory_flat($node, "SELECT status FROM sg_wait('$rid', '15 s')",
	'sg_wait sleeps', 'a long sg_wait');
is($out, "pending\n", 'sg_wait returns the row of the run still pending at its timeout');
is($err, '', 'without an error');
$node->stop;
done_testing();
