# A 0.1.0 database kept to some roles (EXECUTE on its functions revoked from
# PUBLIC, no USAGE on schema stategraph for PUBLIC) stays so after ALTER
# EXTENSION stategraph UPDATE (pg_regress update_revoked_010), and that
# survives pg_dump and pg_restore: the update's block that re-revokes
# (kept_revoked) puts back each object's initial privileges, so pg_dump
# dumps the REVOKEs and a restore is closed to PUBLIC too. This covers the
# block with TAP as well as pg_regress (helper-172 made its two copies of
# the save/REVOKE/restore one loop).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGLifecycle;

my $node = sg_cluster('revoked_dump');
$node->start;
$node->safe_psql('postgres', q{
CREATE ROLE app LOGIN;
CREATE ROLE stranger LOGIN;
CREATE DATABASE upd;
CREATE DATABASE fresh;
});
$node->safe_psql('upd', q{
CREATE EXTENSION stategraph VERSION '0.1.0';
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;
REVOKE EXECUTE ON ALL PROCEDURES IN SCHEMA public FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO app;
GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA public TO app;
GRANT USAGE ON SCHEMA stategraph TO app;
});
my ($rc, $out, $err) = $node->psql('upd', 'ALTER EXTENSION stategraph UPDATE');
is($rc, 0, 'the update ran');
like($err, qr/WARNING:  stategraph stays closed to PUBLIC, as it was before the update/, 'with its WARNING');
$node->safe_psql('fresh', 'CREATE EXTENSION stategraph');
# (as a set per object: the order of an ACL's items differs, which pg_dump ignores)
my $image = q{SELECT string_agg(x, E'\n' ORDER BY x) FROM (
    SELECT pg_describe_object(ip.classoid, ip.objoid, ip.objsubid) || ' ' || ip.privtype::text || ' '
           || (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(ip.initprivs) a) AS x
    FROM pg_init_privs ip
    WHERE (ip.classoid, ip.objoid) IN (SELECT classid, objid FROM pg_depend
                                       WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
                                         AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'stategraph'))) p};
is($node->safe_psql('upd', $image), $node->safe_psql('fresh', $image),
	'the initial privileges are a fresh install\'s');

my $closed = q{SELECT has_function_privilege('stranger', 'sg_invoke(text,jsonb,text,uuid,jsonb,integer,text)', 'EXECUTE'),
	has_function_privilege('stranger', 'sg_submit(text,jsonb,text,uuid,jsonb,integer,text,interval,text)', 'EXECUTE'),
	has_schema_privilege('stranger', 'stategraph', 'USAGE'),
	has_function_privilege('app', 'sg_invoke(text,jsonb,text,uuid,jsonb,integer,text)', 'EXECUTE'),
	has_schema_privilege('app', 'stategraph', 'USAGE')};
is($node->safe_psql('upd', $closed), 'f|t|f|t|t',
	'closed to the stranger (new functions are PUBLIC\'s), open to app');

my $dump = '';
PostgreSQL::Test::Utils::run_log([ 'pg_dump', '-s', '-d', $node->connstr('upd') ], '>', \$dump, '2>', \$err)
	or die "pg_dump: $err";
like($dump, qr/REVOKE ALL ON FUNCTION public\.sg_invoke\(.*\) FROM PUBLIC;/, 'pg_dump dumps the REVOKE of a function');
like($dump, qr/REVOKE USAGE ON SCHEMA stategraph FROM PUBLIC;/, 'and of the schema');

$node->safe_psql('postgres', 'CREATE DATABASE restored');
my $dir = PostgreSQL::Test::Utils::tempdir();
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/upd.dump", '-d', $node->connstr('upd') ], 'pg_dump');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), "$dir/upd.dump" ], 'pg_restore');
is($node->safe_psql('restored', $closed), 'f|t|f|t|t', 'the restored database is as closed');
$node->stop;
done_testing();
