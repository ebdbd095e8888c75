# The restore hold (src/restore.c) is a superuser's: a session that writes
# stategraph.runs other than through sg_submit holds the database's
# background runs off until it ends, as a restore does, but only if it is a
# superuser's. Any role may write the table (row-level security keeps it to
# its own rows), and an ordinary role's session that did so must not stop
# every role's runs for as long as it stays connected. The mutation audit
# found that no test failed when the superuser() condition was dropped.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('restore_hold_role');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'stategraph'
stategraph.max_workers = 1
});
$node->start;

$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION inc(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
        SELECT jsonb_build_object('x', COALESCE((state->>'x')::int, 0) + 1) $$;
    SELECT sg_create_graph('quick', '{"x": "replace"}');
    SELECT sg_add_node('quick', 'a', 'inc(jsonb)');
    SELECT sg_add_edge('quick', '__start__', 'a');
    SELECT sg_add_edge('quick', 'a', '__end__');
    SELECT sg_compile('quick');
    CREATE ROLE app LOGIN;
});

# the workers run a run at all
my $warm = $node->safe_psql('postgres', "SELECT sg_submit('quick', '{}', 'warm')");
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$warm', '60 s')"), 'success',
	'a background run finishes');

# an ordinary role's session writes stategraph.runs directly (a statement that
# inserts no row fires the statement trigger all the same) and stays connected
my $app = $node->background_psql('postgres');
$app->query_safe('SET ROLE app');
$app->query_safe('INSERT INTO stategraph.runs (run_id) SELECT run_id FROM stategraph.runs WHERE false');
is($app->query_safe('SELECT count(*) FROM pg_locks WHERE locktype = \'advisory\' AND pid = pg_backend_pid()'),
	'0', "the ordinary role's session holds no restore lock");

# a run submitted meanwhile is executed by the workers while that session is open
my $run = $node->safe_psql('postgres', "SELECT sg_submit('quick', '{\"x\": 1}', 'while-app-open')");
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$run', '60 s')"), 'success',
	"background runs go on while the ordinary role's session is connected");
is($node->safe_psql('postgres', q{SELECT "values"->>'x' FROM sg_get_state('while-app-open')}), '2',
	'the run took its step');
$app->quit;

# the same statement by a superuser's session does take the hold (the control)
my $su = $node->background_psql('postgres');
$su->query_safe('INSERT INTO stategraph.runs (run_id) SELECT run_id FROM stategraph.runs WHERE false');
is($su->query_safe('SELECT count(*) FROM pg_locks WHERE locktype = \'advisory\' AND pid = pg_backend_pid()'),
	'1', "the superuser's session holds the restore lock");
my $held = $node->safe_psql('postgres', "SELECT sg_submit('quick', '{}', 'after-su')");
$su->quit;
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$held', '60 s')"), 'success',
	"the run goes on once the superuser's session ended");

$node->stop;
done_testing();
