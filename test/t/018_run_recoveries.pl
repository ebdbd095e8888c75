# A background run whose worker dies every time it executes it (here: a
# node that terminates its own backend; a node that crashes the server
# does the same to every backend) is taken up again at most
# stategraph.max_run_recoveries times, then ends with status error
# (SG014) instead of restarting for ever. Its thread keeps the steps that
# committed, and other runs go on.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('recoveries', qq{
stategraph.max_run_recoveries = 3
});
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION ok_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
    -- counts its tries (a sequence is not rolled back with the backend that dies)
    CREATE SEQUENCE killer_tries;
    CREATE FUNCTION killer(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM nextval('killer_tries');
        PERFORM pg_terminate_backend(pg_backend_pid());
        RETURN '{"n": 2}';
    END $$;
    SELECT sg_create_graph('pill', '{"n": "add"}');
    SELECT sg_add_node('pill', 'first', 'ok_step(jsonb)');
    SELECT sg_add_node('pill', 'second', 'killer(jsonb)');
    SELECT sg_add_edge('pill', '__start__', 'first');
    SELECT sg_add_edge('pill', 'first', 'second');
    SELECT sg_add_edge('pill', 'second', '__end__');
    SELECT sg_compile('pill');
    SELECT sg_create_graph('fine', '{"n": "add"}');
    SELECT sg_add_node('fine', 'a', 'ok_step(jsonb)');
    SELECT sg_add_edge('fine', '__start__', 'a');
    SELECT sg_add_edge('fine', 'a', '__end__');
    SELECT sg_compile('fine');
});

my $pill = $node->safe_psql('postgres', q{SELECT sg_submit('pill', '{"n": 0}', 'pill-thread')});
ok($node->poll_query_until('postgres',
		"SELECT status = 'error' FROM stategraph.runs WHERE run_id = '$pill'"),
	'the run whose node ends its worker ends with status error');
is($node->safe_psql('postgres', "SELECT error->>'sqlstate', recoveries FROM stategraph.runs WHERE run_id = '$pill'"),
	'SG014|4', 'SG014, after max_run_recoveries (3) recoveries');
is($node->safe_psql('postgres', q{SELECT last_value FROM killer_tries}), '4',
	'the node ran once, then once per recovery, and not again');
is($node->safe_psql('postgres', q{SELECT "values" ->> 'n' FROM sg_get_state('pill-thread')}), '1',
	'the thread keeps the step that committed before the node that ends its worker');
like($node->safe_psql('postgres', "SELECT error->>'message' FROM stategraph.runs WHERE run_id = '$pill'"),
	qr/worker ended 4 times/, 'the error says why');

# other runs go on
my $fine = $node->safe_psql('postgres', q{SELECT sg_submit('fine', '{"n": 0}', 'fine-thread')});
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$fine', interval '30 s')"), 'success',
	'another run succeeds afterwards');
is($node->safe_psql('postgres', "SELECT recoveries FROM stategraph.runs WHERE run_id = '$fine'"), '0',
	'a run whose worker did not die has no recovery');

$node->stop;
done_testing();
