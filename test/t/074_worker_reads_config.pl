# A background worker reads the configuration files as it starts. It
# inherits its settings from the postmaster when it is forked, and a
# reload the postmaster signals between that fork and the worker's SIGHUP
# handler is lost (PostgreSQL starts a background worker with SIGHUP
# ignored, which discards a pending one): the first worker of a database,
# which never leaves, kept the statement_timeout it was forked with for
# good (TAP 038 failed so now and then: a node meant to be cancelled after
# 2 s ran its 30 s). That instant cannot be hit at will, so this test
# makes the same gap wide: the file is changed without a reload, and a
# worker started afterwards must run under the file's setting, not the
# postmaster's older one.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('reads_config', '');
nap_graph($node, 'nap');
my $first = $node->safe_psql('postgres', q{SELECT sg_submit('nap', '{"secs": 0}', 'first')});
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$first', '30 s')"), 'success', 'a worker runs');

# the file says 2 s; the postmaster, not reloaded, still has no timeout
$node->append_conf('postgresql.conf', "statement_timeout = '2s'\n");
is($node->safe_psql('postgres', 'SHOW statement_timeout'), '0', 'the server has not reloaded its file');
my $old = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'stategraph worker'});
$node->safe_psql('postgres', "SELECT pg_terminate_backend($old)");
ok($node->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND pid <> $old}),
	'a new worker starts in its place');

my $long = $node->safe_psql('postgres', q{SELECT sg_submit('nap', '{"secs": 30}', 'long')});
is($node->safe_psql('postgres', "SELECT status || ' ' || COALESCE(error->>'sqlstate', '-') FROM sg_wait('$long', '120 s')"),
	'error 57014', "the new worker runs under the file's statement_timeout: the 30 s node is cancelled");

$node->stop('fast');
done_testing();
