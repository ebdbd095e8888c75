# stategraph.runs_reassigned(), sg_reassign_owned's wake of the workers at
# commit, is executable by PUBLIC (sg_reassign_owned runs as its caller),
# but only the roles that may reassign (superusers, BYPASSRLS roles) may
# call it: any other role called it at will, and each call committed set
# the database's claims back to the start of the queue (as if pending runs
# had been given away) and woke, or had the launcher start, a worker.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = PostgreSQL::Test::Cluster->new('runs_reassigned');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION stategraph;
CREATE ROLE alice;
CREATE ROLE bob;
CREATE ROLE mallory;
CREATE ROLE admin BYPASSRLS;
GRANT USAGE, CREATE ON SCHEMA public TO alice, bob;
} . role_nap_graphs_sql(alice => 'na'));

my ($ret, $out, $err) = $node->psql('postgres', q{SET ROLE mallory; SELECT stategraph.runs_reassigned()});
isnt($ret, 0, 'an ordinary role cannot call stategraph.runs_reassigned()');
like($err, qr/ERROR:  permission denied to wake the workers for reassigned runs/, '... permission denied');
($ret, $out, $err) = $node->psql('postgres', q{\set VERBOSITY verbose
SET ROLE mallory; SELECT stategraph.runs_reassigned()});
like($err, qr/ERROR:  42501:/, '... SQLSTATE 42501');

# the roles that may reassign still do, waking the workers for the pending runs they give away;
# a role that is not a superuser must be a member of both roles, as for REASSIGN OWNED (the runs
# would execute as bob: stategraph.owner_writes(), TAP 155)
my $run = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('na', '{"secs": 0}')});
($ret, $out, $err) = $node->psql('postgres', q{\set VERBOSITY verbose
SET ROLE admin; SELECT sg_reassign_owned('alice', 'bob')});
like($err, qr/ERROR:  42501: permission denied to reassign the stategraph rows of role "alice" to role "bob"/,
	'a BYPASSRLS role that is not a member of both roles may not');
is($node->safe_psql('postgres', qq{SELECT owner FROM stategraph.runs WHERE run_id = '$run'}), 'alice',
	'... the run is still alice\'s');
$node->safe_psql('postgres', q{GRANT alice, bob TO admin});
is($node->safe_psql('postgres', q{SET ROLE admin; SELECT sg_reassign_owned('alice', 'bob') > 0}), 't',
	'a BYPASSRLS role gives alice\'s pending run to bob');
is($node->safe_psql('postgres', qq{SELECT owner FROM stategraph.runs WHERE run_id = '$run'}), 'bob',
	'... which is bob\'s now');
($ret, $out, $err) = $node->psql('postgres', q{SELECT stategraph.runs_reassigned()});
is($ret, 0, 'a superuser may call it');

$node->stop;
done_testing();
