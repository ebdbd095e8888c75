# sg_claim's long poll (wait) looks at its queue again at every wake and
# several times a second: each look kept its SPI results (8 kB contexts)
# until the call returned, so the memory of a backend in a long poll grew
# by some 60 kB a second for as long as it waited (a wait may last 24
# days). Its memory now stays flat however long it waits.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use Test::More;
use SGNode;

my $node = preloaded_node('claim_wait_memory_flat');
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph;');

my ($out, $err) = waiter_memory_flat($node, "SELECT count(*) FROM sg_claim('nothing', 'w1', wait => '15 s')",
	'sg_claim waits', 'a long poll');
is($out, "0\n", 'the long poll returns no task at its timeout');
is($err, '', 'without an error');
$node->stop;
done_testing();
