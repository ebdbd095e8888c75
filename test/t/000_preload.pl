# Every cluster a TAP test creates gets test/stategraph.conf (make
# prove_installcheck sets TEMP_CONFIG to it, as pg_regress's --temp-config
# does for make installcheck): stategraph is loaded at server start, before
# any session uses it, which background workers need.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

ok(defined $ENV{TEMP_CONFIG} && -f $ENV{TEMP_CONFIG}, 'TEMP_CONFIG names a file');

my $node = PostgreSQL::Test::Cluster->new('preload');
$node->init;
$node->start;

is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'), 'stategraph',
	'the server preloads stategraph');
# a new session knows stategraph's settings before it uses the extension:
# only a library loaded at server start has defined them
is($node->safe_psql('postgres', 'SHOW stategraph.lock_wait'), 'on',
	'stategraph.lock_wait is defined in a session that has not used stategraph');

$node->stop;
done_testing();
