# A started test cluster that preloads stategraph, with the settings a TAP
# test adds, for the tests of background workers (which need the preload
# from the server's start).
package SGNode;

use strict;
use warnings;

use Exporter 'import';
our @EXPORT = qw(preloaded_node);

use PostgreSQL::Test::Cluster;

# A new cluster named $name with shared_preload_libraries = 'stategraph'
# and the lines of $conf in postgresql.conf, started.
sub preloaded_node
{
	my ($name, $conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'stategraph'\n" . ($conf // ''));
	$node->start;
	return $node;
}

1;
