# Runs submitted together execute side by side (stategraph.max_workers = 4):
# a worker whose claim passes over other due runs asks for help at once,
# not after its own run. Four 3-second runs submitted in one transaction to
# a database with one idle worker used to start one after another (12 s).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('batchpar', qq{
stategraph.max_workers = 4
});
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION slow(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT pg_sleep(3); SELECT '{}'::jsonb $$;
    SELECT sg_create_graph('g', '{"n": "replace"}');
    SELECT sg_add_node('g', 'a', 'slow(jsonb)');
    SELECT sg_add_edge('g', '__start__', 'a');
    SELECT sg_add_edge('g', 'a', '__end__');
    SELECT sg_compile('g');
});
# the database's worker is up and idle
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'stategraph worker'}),
	'one idle worker');
$node->safe_psql('postgres', q{SELECT count(sg_submit('g', '{}', 't' || i)) FROM generate_series(1, 4) i});
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM sg_runs() r, LATERAL sg_wait(r.run_id, interval '60 s') w WHERE w.status = 'success'}),
	'4', 'the four runs succeed');
my $spread = $node->safe_psql('postgres', q{
	SELECT extract(epoch FROM max(started_at) - min(started_at)) FROM stategraph.runs});
note("first to last start: $spread s");
cmp_ok($spread, '<', 2, 'the four runs start side by side, not one after another');

$node->stop;
done_testing();
