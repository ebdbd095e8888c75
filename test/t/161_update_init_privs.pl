# Grants users made on 0.1.0 tables before ALTER EXTENSION stategraph
# UPDATE stay theirs: the update's GRANT ... TO PUBLIC on those tables
# recorded their whole ACL, the users' grants too, as the extension's
# initial privileges (pg_init_privs), and pg_dump, which dumps only what
# differs from those, left the users' grants out. After the update
# pg_init_privs holds what a fresh 0.2.0 install holds.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGLifecycle;

my $node = sg_cluster('initprivs');
$node->start;
$node->safe_psql('postgres', q{
CREATE ROLE maint;
CREATE DATABASE upd;
CREATE DATABASE fresh;
});
$node->safe_psql('upd', q{
CREATE EXTENSION stategraph VERSION '0.1.0';
GRANT SELECT, TRUNCATE ON stategraph.threads TO maint;
GRANT SELECT ON stategraph.checkpoints TO maint;
GRANT UPDATE (status) ON stategraph.threads TO maint;
});
$node->safe_psql('upd', 'ALTER EXTENSION stategraph UPDATE');
$node->safe_psql('fresh', 'CREATE EXTENSION stategraph');

like($node->safe_psql('upd', q{SELECT relacl::text FROM pg_class WHERE oid = 'stategraph.threads'::regclass}),
	qr/maint=rD\//, 'the grant is still on the table after the update');

my ($out, $err) = ('', '');
PostgreSQL::Test::Utils::run_log([ 'pg_dump', '-s', '-d', $node->connstr('upd') ], '>', \$out, '2>', \$err)
	or die "pg_dump: $err";
like($out, qr/GRANT SELECT,TRUNCATE ON TABLE stategraph\.threads TO maint;/, 'pg_dump keeps the grant on threads made before the update');
like($out, qr/GRANT SELECT ON TABLE stategraph\.checkpoints TO maint;/, 'and on checkpoints');
like($out, qr/GRANT UPDATE\(status\) ON TABLE stategraph\.threads TO maint;/, 'and the column grant');

my $fresh = init_privs_image($node, 'fresh');
ok(scalar(() = $fresh =~ /\n/g) > 50, 'a fresh install records initial privileges');
is(init_privs_image($node, 'upd'), $fresh,
	'the updated database\'s initial privileges are a fresh install\'s');

# restored, the grant is there
$node->safe_psql('postgres', 'CREATE DATABASE restored');
my $dir = PostgreSQL::Test::Utils::tempdir();
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/upd.dump", '-d', $node->connstr('upd') ], 'pg_dump');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), "$dir/upd.dump" ], 'pg_restore');
is($node->safe_psql('restored', q{SELECT has_table_privilege('maint', 'stategraph.threads', 'TRUNCATE')
    AND has_table_privilege('maint', 'stategraph.checkpoints', 'SELECT')
    AND has_column_privilege('maint', 'stategraph.threads', 'status', 'UPDATE')}),
	't', 'the restored database has the grants');

$node->stop;
done_testing();
