# A background worker sends the statistics of the rows it writes while it
# lives (at most once a second), as a client backend does when it goes
# idle: autovacuum decides by them when stategraph.runs, threads and
# checkpoints need a VACUUM, and did not know of a worker's updates and
# dead rows until the worker left (the first worker of a database never
# leaves while the server runs).
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('worker_stats', "stategraph.max_workers = 1\n");
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION one(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"done": true}'::jsonb $$;
    SELECT sg_create_graph('g', '{"n": "replace", "done": "replace"}');
    SELECT sg_add_node('g', 'a', 'one(jsonb)');
    SELECT sg_add_edge('g', '__start__', 'a');
    SELECT sg_add_edge('g', 'a', '__end__');
    SELECT sg_compile('g');
});
my $run = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 0}')});
ok($node->poll_query_until('postgres', "SELECT status FROM sg_runs() WHERE run_id = '$run'", 'success'),
	'a first run finishes');
my $worker = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND datname = 'postgres'});
like($worker, qr/^\d+$/, 'one worker serves the database');

my $before = $node->safe_psql('postgres', q{SELECT n_tup_upd FROM pg_stat_user_tables WHERE relid = 'stategraph.runs'::regclass});
$node->safe_psql('postgres', q{SELECT count(sg_submit('g', jsonb_build_object('n', i))) FROM generate_series(1, 200) i});
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM sg_runs() WHERE status <> 'success'}, '0'),
	'200 runs finish');
# each run updates its row twice (its claim, its end)
ok($node->poll_query_until('postgres',
		"SELECT n_tup_upd >= $before + 400 FROM pg_stat_user_tables WHERE relid = 'stategraph.runs'::regclass"),
	"the worker's updates of stategraph.runs are counted while it lives");
is($node->safe_psql('postgres',
		q{SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND datname = 'postgres'}),
	$worker, 'by the worker that made them, still there');
done_testing();
