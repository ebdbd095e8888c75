# stategraph installed in template1 (so that every new database has it):
# template1 then always has a worker connected, and every plain CREATE
# DATABASE (which copies template1) failed with 55006 ("source database
# is being accessed by other users") for good, a superuser's too; so did
# a CREATEDB role's CREATE DATABASE ... TEMPLATE of a database marked as
# a template that it does not own (PostgreSQL allows that copy). Both
# stop the template's workers first now and give them back afterwards,
# as its owner's CREATE DATABASE ... TEMPLATE does (TAP 248).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('template1_with_stategraph');
$node->safe_psql('postgres', q{CREATE ROLE maker CREATEDB LOGIN; CREATE ROLE plain LOGIN;
    CREATE DATABASE tpl IS_TEMPLATE true});
$node->safe_psql('tpl', 'CREATE EXTENSION stategraph;');
$node->safe_psql('template1', 'CREATE EXTENSION stategraph;' . one_node_graph_sql('g'));

sub worker_in
{
	my ($db) = @_;
	return $node->poll_query_until('postgres', qq{SELECT count(*) > 0 FROM pg_stat_activity
        WHERE backend_type = 'stategraph worker' AND datname = '$db'});
}

ok(worker_in('template1'), 'a worker in template1');
ok(worker_in('tpl'), 'a worker in tpl');
my ($rc, $out, $err) = $node->psql('postgres', 'CREATE DATABASE plain_copy');
is($rc, 0, 'a plain CREATE DATABASE (a copy of template1) succeeds') or diag($err);
is(($node->psql('plain_copy', q{SELECT count(*) FROM pg_extension WHERE extname = 'stategraph'}))[1], '1',
	'the new database has stategraph');
ok(worker_in('template1'), "template1's worker is back");

($rc, $out, $err) = $node->psql('postgres', 'CREATE DATABASE makers TEMPLATE tpl', extra_params => [ '-U', 'maker' ]);
is($rc, 0, "a CREATEDB role's copy of a template database it does not own succeeds") or diag($err);
ok(worker_in('tpl'), "tpl's worker is back");

# a role without CREATEDB is refused by PostgreSQL, the workers left alone
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity
    WHERE backend_type = 'stategraph worker' AND datname = 'tpl'});
($rc, $out, $err) = $node->psql('postgres', 'CREATE DATABASE nope TEMPLATE tpl', extra_params => [ '-U', 'plain' ]);
like($err, qr/permission denied to create database/, 'a role without CREATEDB: refused by PostgreSQL');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM pg_stat_activity WHERE pid = $pid}), '1',
	"tpl's worker was left alone");

$node->safe_psql('template1', q{SELECT sg_submit('g', '{}', 't1')});
ok($node->poll_query_until('template1', q{SELECT status = 'success' FROM sg_runs('t1')}),
	'a run executes in template1 after the copies');

# a server where no database has stategraph: a CREATE DATABASE stops and
# gives back no worker (one started in template1 only to find no extension)
my $bare = preloaded_node('template1_bare');
$bare->append_conf('postgresql.conf', 'log_min_messages = debug1');
$bare->restart;
# (the launcher's first look at every database, at start, ends first)
ok($bare->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_stat_activity
    WHERE backend_type = 'stategraph worker'}), 'no worker stays where no database has stategraph');
sleep 1;
my $from = -s $bare->logfile;
$bare->safe_psql('postgres', 'CREATE DATABASE one; CREATE DATABASE two');
sleep 2;
my $log = substr(slurp_file($bare->logfile), $from);
my $started = () = $log =~ /registering background worker "stategraph worker/g;
is($started, 0, 'no worker started for databases without stategraph');
$bare->stop;

$node->stop;
done_testing();
