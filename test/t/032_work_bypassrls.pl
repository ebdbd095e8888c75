# CALL sg_work by a role that bypasses row-level security (BYPASSRLS, not a
# superuser) saw every role's runs, and executed them in its own session as
# their owners: the owner's nodes then ran among the caller's temporary
# tables, which unqualified names resolve to first, and a trigger of such a
# table ran the caller's function as the owner (a superuser here). sg_work
# now executes only runs of roles its caller is a member of; a superuser's
# (and the background workers') executes every role's, as before.
# No preload: only CALL sg_work executes runs here.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('work_bypassrls');

$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE orders (n int, by_role name DEFAULT current_user);
    GRANT INSERT, SELECT ON orders TO PUBLIC;
    CREATE FUNCTION take(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO orders (n) VALUES ((state->>'n')::int);   -- unqualified, as nodes often are
        RETURN state;
    END $$;
    SELECT sg_create_graph('take', '{"n": "replace"}');
    SELECT sg_add_node('take', 'a', 'take(jsonb)');
    SELECT sg_add_edge('take', '__start__', 'a');
    SELECT sg_add_edge('take', 'a', '__end__');
    SELECT sg_compile('take');
    GRANT EXECUTE ON FUNCTION take(jsonb) TO PUBLIC;
    CREATE ROLE mallory LOGIN BYPASSRLS;
    CREATE SCHEMA m AUTHORIZATION mallory;
    CREATE ROLE app LOGIN;
    GRANT app TO mallory;
});

my $admin_run = $node->safe_psql('postgres', "SELECT sg_submit('take', '{\"n\": 1}', 'admin-order')");
my $app_run = $node->safe_psql('postgres', "SET ROLE app; SELECT sg_submit('take', '{\"n\": 2}', 'app-order')");
my $own_run = $node->safe_psql('postgres', "SET ROLE mallory; SELECT sg_submit('take', '{\"n\": 3}', 'mallory-order')");

# mallory's session: a temporary "orders" with a trigger that would run her function as the owner
my ($rc, $out, $err) = $node->psql('postgres', q{
    SET ROLE mallory;
    CREATE FUNCTION m.steal() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE WARNING 'trigger ran as %', current_user;
        RETURN NEW;
    END $$;
    CREATE TEMP TABLE orders (n int, by_role name DEFAULT current_user);
    CREATE TRIGGER steal BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION m.steal();
    CALL sg_work();
    SELECT count(*) FROM pg_temp.orders;
});
is($rc, 0, "mallory's CALL sg_work runs");
unlike($err, qr/trigger ran as postgres/, "no function of hers ran as the superuser");
is($node->safe_psql('postgres', "SELECT status FROM sg_runs() WHERE run_id = '$admin_run'"), 'pending',
	"the superuser's run was not executed in her session");
# (its node met her temporary table too, which app may not write: she may act as app anyway)
isnt($node->safe_psql('postgres', "SELECT status FROM sg_runs() WHERE run_id = '$app_run'"), 'pending',
	'a run of a role she is a member of was');
is($node->safe_psql('postgres', "SELECT status FROM sg_runs() WHERE run_id = '$own_run'"), 'success',
	'and her own run');

# the superuser's CALL sg_work executes it
$node->safe_psql('postgres', 'CALL sg_work()');
is($node->safe_psql('postgres', "SELECT status FROM sg_runs() WHERE run_id = '$admin_run'"), 'success',
	"a superuser's CALL sg_work executes every role's runs");
is($node->safe_psql('postgres', 'SELECT string_agg(n || by_role, \',\' ORDER BY n) FROM orders'),
	'1postgres', "the superuser's order is in the real table");

$node->stop;
done_testing();
