# DROP DATABASE stops that database's background workers first (a utility
# hook), and a DROP DATABASE that does not happen must leave them alone:
#   1. a role that does not own the database (any role may type the
#      statement) gets its "must be owner" error, and the database's
#      background runs still happen (the hook had already terminated its
#      workers and marked it as being dropped: no worker was ever started
#      there again until a restart, so every run stayed pending);
#   2. the owner's DROP DATABASE that fails because a session is connected:
#      the same, and a run its workers were executing goes on;
#   3. a DROP DATABASE that succeeds with a delayed run (a timed want)
#      pending, then another database of the same name gets its runs done.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('dropdb');

$node->safe_psql('postgres', 'CREATE ROLE mallory LOGIN');

# a database with a one-node graph whose node sleeps for state.sleep seconds
sub make_db
{
	my ($db) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, q{
	    CREATE EXTENSION stategraph;
	    CREATE FUNCTION nap(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
	    BEGIN
	        PERFORM pg_catalog.pg_sleep(coalesce((state->>'sleep')::float8, 0));
	        RETURN '{}';
	    END $$;
	    SELECT sg_create_graph('g', '{"sleep": "replace"}');
	    SELECT sg_add_node('g', 'a', 'nap(jsonb)');
	    SELECT sg_add_edge('g', '__start__', 'a');
	    SELECT sg_add_edge('g', 'a', '__end__');
	    SELECT sg_compile('g');
	});
}

# submit (committed), then wait for the run in another transaction: its status
sub submit_and_wait
{
	my ($db, $thread) = @_;
	my $run = $node->safe_psql($db, "SELECT sg_submit('g', '{}', thread_id => '$thread')");
	return $node->safe_psql($db, "SELECT status FROM sg_wait('$run', interval '30 s')");
}

make_db('dx');
is(submit_and_wait('dx', 'before'), 'success', 'dx: a background run finishes');

# 1. a role that does not own dx
my ($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE dx', extra_params => [ '-U', 'mallory' ]);
like($err, qr/must be owner of database dx/, 'mallory may not drop dx');
is(submit_and_wait('dx', 'after-mallory'), 'success',
	'dx: background runs still finish after the refused DROP DATABASE of another role');

# 2. the owner's DROP DATABASE while a session is connected, a run in the middle of a step
my $session = $node->background_psql('dx');
$session->query_safe('SELECT 1');
my $busy = $node->safe_psql('dx', q{SELECT sg_submit('g', '{"sleep": 2}', thread_id => 'busy')});
ok($node->poll_query_until('dx', qq{
	SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'stategraph run $busy'}),
	'dx: a run is in the middle of its step');
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE dx');
like($err, qr/being accessed by other users/, 'the owner cannot drop dx while a session is connected');
is($node->safe_psql('dx', "SELECT status FROM sg_wait('$busy', interval '30 s')"), 'success',
	'dx: the run its worker was executing finishes');
is(submit_and_wait('dx', 'after-owner'), 'success',
	'dx: a new background run finishes after the failed DROP DATABASE');
$session->quit;

# 3. dropped with a delayed run pending; a new dx works
$node->safe_psql('dx', q{SELECT sg_submit('g', '{}', thread_id => 'later', after => interval '2 s')});
$node->safe_psql('postgres', 'DROP DATABASE dx');
sleep(3);
make_db('dx');
is(submit_and_wait('dx', 'new'), 'success', 'a new database dx gets its runs done');
ok($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'stategraph launcher'}) == 1,
	'the launcher is still there');

$node->stop;
done_testing();
