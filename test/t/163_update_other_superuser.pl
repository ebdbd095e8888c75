# ALTER EXTENSION stategraph UPDATE run by a superuser other than the one
# that created the extension: PostgreSQL runs the script as the caller, so
# the objects 0.2.0 adds (runs, tasks, their functions and types) were left
# owned by that role while 0.1.0's stayed the creator's. Every object of
# the extension belongs to the extension's owner after the update, with the
# initial privileges of a fresh install, and the updating role, once no
# longer a superuser, reads no other role's runs (it is no table's owner,
# which row-level security would let past).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGLifecycle;

my $node = sg_cluster('otherdba');
$node->start;
$node->safe_psql('postgres', q{
CREATE ROLE dba2 SUPERUSER LOGIN;
CREATE ROLE alice LOGIN;
GRANT CREATE ON SCHEMA public TO alice;
CREATE DATABASE fresh;
CREATE EXTENSION stategraph VERSION '0.1.0';
});
$node->safe_psql('fresh', 'CREATE EXTENSION stategraph');
$node->safe_psql('postgres', 'SET ROLE dba2; ALTER EXTENSION stategraph UPDATE');
is($node->safe_psql('postgres', q{SELECT extversion || ' ' || extowner::regrole FROM pg_extension WHERE extname = 'stategraph'}),
	'0.2.0 postgres', 'updated by dba2; the extension is still postgres\'s');

my $owners = q{
SELECT string_agg(x, E'\n' ORDER BY x) FROM (
    SELECT pg_describe_object(d.classid, d.objid, 0) || ' ' ||
           CASE d.classid
               WHEN 'pg_class'::regclass THEN (SELECT relowner FROM pg_class WHERE oid = d.objid)::regrole::text
               WHEN 'pg_proc'::regclass THEN (SELECT proowner FROM pg_proc WHERE oid = d.objid)::regrole::text
               WHEN 'pg_type'::regclass THEN (SELECT typowner FROM pg_type WHERE oid = d.objid)::regrole::text
               WHEN 'pg_namespace'::regclass THEN (SELECT nspowner FROM pg_namespace WHERE oid = d.objid)::regrole::text
               ELSE 'unknown class ' || d.classid::regclass::text END AS x
    FROM pg_depend d
    WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
      AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'stategraph')) o};
my $own = $node->safe_psql('postgres', $owners);
ok(scalar(() = $own =~ /\n/g) > 80, 'the extension\'s objects are listed');
is(join("\n", grep { !/ postgres$/ } split /\n/, $own), '', 'every object of the extension belongs to postgres, none to dba2');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relnamespace = 'stategraph'::regnamespace
    AND relowner <> 'postgres'::regrole}), '0', 'indexes and sequences too');
is($own, $node->safe_psql('fresh', $owners), 'the owners are a fresh install\'s');

is(init_privs_image($node, 'postgres'), init_privs_image($node, 'fresh'),
	'and so are the initial privileges (pg_init_privs names no dba2)');

# alice's run; dba2, no longer a superuser, does not see it
$node->safe_psql('postgres', q{
SET ROLE alice;
CREATE FUNCTION a_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('ag', '{"n": "add"}');
SELECT sg_add_node('ag', 'a', 'a_step(jsonb)');
SELECT sg_add_edge('ag', '__start__', 'a');
SELECT sg_add_edge('ag', 'a', '__end__');
SELECT sg_compile('ag');
SELECT sg_submit('ag', '{"n": 1}', 'alice-1');
});
$node->safe_psql('postgres', 'ALTER ROLE dba2 NOSUPERUSER');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs WHERE owner = 'alice'}), '1', 'alice has a run');
is($node->safe_psql('postgres', q{SET ROLE dba2; SELECT count(*) FROM stategraph.runs}), '0',
	'dba2, no longer a superuser, reads no run of alice\'s');
is($node->safe_psql('postgres', q{SET ROLE dba2; SELECT count(*) FROM stategraph.tasks}) . ' '
	. $node->safe_psql('postgres', q{SET ROLE dba2; SELECT count(*) FROM sg_runs()}), '0 0',
	'nor through sg_runs');

# an owner whose name needs quotes (the script quoted it twice: the update failed)
$node->safe_psql('postgres', q{CREATE ROLE "Dba One" SUPERUSER; CREATE DATABASE quoted});
$node->safe_psql('quoted', q{SET ROLE "Dba One"; CREATE EXTENSION stategraph VERSION '0.1.0'});
$node->safe_psql('quoted', 'ALTER EXTENSION stategraph UPDATE');
is(join("\n", grep { !/ "Dba One"$/ } split /\n/, $node->safe_psql('quoted', $owners)), '',
	'updated by postgres, every object belongs to the owner "Dba One"');

$node->stop;
done_testing();
