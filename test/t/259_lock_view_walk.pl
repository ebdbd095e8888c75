# The refusal of LOCK TABLE ... IN SHARE MODE (and above) of stategraph's
# tables (TAP 247) walks a view's query for the tables it reads. In
# PostgreSQL 15 a view's query lists the view itself twice (OLD and NEW),
# and the walk went into both each time, down to a depth of 64: 2^64
# calls. A non-superuser's LOCK of a view that reads no stategraph table,
# in SHARE mode or above, never ended, could not be cancelled or
# terminated, and its backend grew by about 100 MB a second until the
# server ran out of memory. Each view is looked at once now.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('lock_view_walk');
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE ROLE alice LOGIN;
    CREATE SCHEMA a AUTHORIZATION alice;
    SET ROLE alice;
    CREATE TABLE a.t (x int);
    CREATE VIEW a.v1 AS SELECT x FROM a.t;
    CREATE VIEW a.v2 AS SELECT p.x FROM a.v1 p, a.v1 q, a.v1 r WHERE p.x = q.x AND q.x = r.x;
    CREATE VIEW a.v3 AS SELECT p.x FROM a.v2 p, a.v2 q WHERE p.x = q.x;
    CREATE VIEW a.deep AS SELECT x FROM a.v3 WHERE EXISTS (SELECT 1 FROM stategraph.runs LIMIT 0);
});

# the statement as alice, cut after 10 s: (exit code, stderr, timed out)
sub as_alice
{
	my ($sql) = @_;
	my $timed_out = 0;
	my ($out, $err) = ('', '');
	my $rc = $node->psql('postgres', "BEGIN; $sql; ROLLBACK;", stdout => \$out, stderr => \$err,
		extra_params => [ '-U', 'alice' ], timeout => 10, timed_out => \$timed_out);
	return ($rc, $err, $timed_out);
}

my ($rc, $err, $timed_out) = as_alice('LOCK TABLE a.v1 IN SHARE MODE');
ok(!$timed_out && $rc == 0, "alice's LOCK of her view of her table ends, and succeeds") or diag($err);
($rc, $err, $timed_out) = as_alice('LOCK TABLE a.v3 IN ACCESS EXCLUSIVE MODE');
ok(!$timed_out && $rc == 0, 'and of views of views, each read more than once') or diag($err);
($rc, $err, $timed_out) = as_alice('LOCK TABLE a.deep IN EXCLUSIVE MODE');
ok(!$timed_out && $err =~ /permission denied to lock stategraph's tables \(through view deep\)/,
	'a view over them and over stategraph.runs (in a sublink): still refused');

# (a backend still walking would not stop at a fast shutdown)
$node->stop('immediate');
done_testing();
