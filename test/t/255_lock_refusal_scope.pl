# The refusal of LOCK TABLE ... IN SHARE MODE (and above) of stategraph's
# tables (TAP 247) looked at the schema's name only: in a database without
# the extension, a schema that happens to be named stategraph had its
# tables' LOCKs refused (42501) to every role but their owner, though
# their owner had granted UPDATE to that role. Only the extension's own
# tables are refused now; they still are.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('lock_refusal_scope');
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE ROLE alice LOGIN;
    CREATE ROLE bob LOGIN;
    CREATE DATABASE other;
});
$node->safe_psql('other', q{
    CREATE SCHEMA stategraph AUTHORIZATION alice;
    SET ROLE alice;
    CREATE TABLE stategraph.runs (x int);
    GRANT USAGE ON SCHEMA stategraph TO bob;
    GRANT UPDATE ON stategraph.runs TO bob;
});

# the statement's SQLSTATE (empty when it succeeds), as bob
sub as_bob
{
	my ($db, $sql) = @_;
	my ($rc, $out, $err) = $node->psql($db, "\\set VERBOSITY sqlstate\nBEGIN;\n$sql;\nROLLBACK;",
		extra_params => [ '-U', 'bob' ]);
	return $err =~ /ERROR:\s+(\w{5})/ ? $1 : '';
}

is(as_bob('other', 'LOCK TABLE stategraph.runs IN SHARE MODE'), '',
	'a table alice shared in a schema named stategraph, no extension: bob may lock it as PostgreSQL lets him');
is(as_bob('other', 'LOCK TABLE stategraph.runs IN ACCESS EXCLUSIVE MODE'), '', 'in any mode');
is(as_bob('postgres', 'LOCK TABLE stategraph.runs IN SHARE MODE'), '42501', "the extension's runs: still refused");

$node->stop;
done_testing();
