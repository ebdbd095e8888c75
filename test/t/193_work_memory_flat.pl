# CALL sg_work that executes a backlog of runs keeps its memory flat. It
# used one nonatomic SPI connection for the whole call, and the result of
# every statement (SPI_tuptable) lives in that connection's procedure
# context until SPI_finish, across the commits: the session grew by about
# 30 kB per run executed (3,000 runs: from 27 MB to 97 MB), so a pg_cron
# job with a long max_time over a large backlog ran the server out of
# memory. Each run now has an SPI connection of its own, and each step
# (below) too.
# A node records the executing session's memory (pg_backend_memory_contexts,
# the backend's own) at every run; the growth from the 100th run to the
# last must stay small.
# No preload: only CALL sg_work executes runs here.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('work_memory_flat');
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE mem (at timestamptz DEFAULT clock_timestamp(), pid int, bytes bigint);
    CREATE FUNCTION note_memory(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
        INSERT INTO mem (pid, bytes)
            SELECT pg_backend_pid(), sum(total_bytes) FROM pg_backend_memory_contexts;
        SELECT '{"n": 1}'::jsonb;
    $$;
    SELECT sg_create_graph('g', '{"n": "replace"}');
    SELECT sg_add_node('g', 'a', 'note_memory(jsonb)');
    SELECT sg_add_node('g', 'b', 'note_memory(jsonb)');
    SELECT sg_add_edge('g', '__start__', 'a');
    SELECT sg_add_edge('g', 'a', 'b');
    SELECT sg_add_edge('g', 'b', '__end__');
    SELECT sg_compile('g');
    SELECT count(sg_submit('g', '{}', 't' || i)) FROM generate_series(1, 2000) i;
});

$node->safe_psql('postgres', 'CALL sg_work()');
is($node->safe_psql('postgres', q{SELECT status, count(*) FROM sg_runs() GROUP BY 1}), 'success|2000',
	'one CALL sg_work executed the backlog');
is($node->safe_psql('postgres', q{SELECT count(DISTINCT pid) FROM mem}), '1', 'in one session');
my $growth = $node->safe_psql('postgres', q{
    SELECT (SELECT bytes FROM mem ORDER BY at DESC LIMIT 1)
         - (SELECT bytes FROM mem ORDER BY at OFFSET 200 LIMIT 1)});
cmp_ok($growth, '<', 8 * 1024 * 1024, "memory grew by $growth bytes over 1,900 runs");

# One run of many steps: each step's statements' results stayed too, until
# the run ended (about 8 kB a step: 3,000 steps, 25 MB). Each step now has
# an SPI connection of its own, as a worker's step has.
$node->safe_psql('postgres', q{
    TRUNCATE mem;
    CREATE FUNCTION again(state jsonb) RETURNS text LANGUAGE sql AS $$
        SELECT CASE WHEN (state->>'n')::int >= 2000 THEN '__end__' ELSE 'a' END $$;
    SELECT sg_create_graph('loop', '{"n": "add"}');
    SELECT sg_add_node('loop', 'a', 'note_memory(jsonb)');
    SELECT sg_add_edge('loop', '__start__', 'a');
    SELECT sg_add_conditional_edges('loop', 'a', 'again(jsonb)', '["a", "__end__"]');
    SELECT sg_compile('loop');
    SELECT sg_submit('loop', '{}', 'long', recursion_limit => 3000);
});
$node->safe_psql('postgres', 'CALL sg_work()');
is($node->safe_psql('postgres', q{SELECT status FROM sg_runs('long')}), 'success', 'the long run succeeded');
is($node->safe_psql('postgres', q{SELECT count(*) FROM mem}), '2000', 'in 2,000 steps');
$growth = $node->safe_psql('postgres', q{
    SELECT (SELECT bytes FROM mem ORDER BY at DESC LIMIT 1)
         - (SELECT bytes FROM mem ORDER BY at OFFSET 100 LIMIT 1)});
cmp_ok($growth, '<', 4 * 1024 * 1024, "memory grew by $growth bytes over 1,900 steps of one run");

$node->stop;
done_testing();
