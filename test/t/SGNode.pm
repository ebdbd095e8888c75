# A started test cluster that preloads stategraph, with the settings a TAP
# test adds, for the tests of background workers (which need the preload
# from the server's start).
package SGNode;

use strict;
use warnings;

use Exporter 'import';
our @EXPORT = qw(preloaded_node sleepy_loop_graph batch_node claim_scan_buffers);

use PostgreSQL::Test::Cluster;

# A new cluster named $name with shared_preload_libraries = 'stategraph'
# and the lines of $conf in postgresql.conf, started.
sub preloaded_node
{
	my ($name, $conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'stategraph'\n" . ($conf // ''));
	$node->start;
	return $node;
}

# In $node's postgres database: the extension and graph 'loop', whose node
# 'work' records (thread, i) in table effects, sleeps state.sleep seconds
# and counts i up, until i reaches state.steps.
sub sleepy_loop_graph
{
	my ($node) = @_;
	$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE effects (run text, i int);
    CREATE FUNCTION work(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO effects VALUES (config->>'thread_id', (state->>'i')::int);
        PERFORM pg_sleep((state->>'sleep')::float8);
        RETURN jsonb_build_object('i', (state->>'i')::int + 1);
    END $$;
    CREATE FUNCTION more(state jsonb) RETURNS text LANGUAGE sql
        AS $$ SELECT CASE WHEN (state->>'i')::int < (state->>'steps')::int THEN 'work' ELSE '__end__' END $$;
    SELECT sg_create_graph('loop', '{"i": "replace", "steps": "replace", "sleep": "replace"}');
    SELECT sg_add_node('loop', 'work', 'work(jsonb,jsonb)');
    SELECT sg_add_edge('loop', '__start__', 'work');
    SELECT sg_add_conditional_edges('loop', 'work', 'more(jsonb)', '["work", "__end__"]');
    SELECT sg_compile('loop');
});
}

# A new cluster named $name (no preload) with the lines of $conf in
# postgresql.conf, started: the extension, graph 'batch' (node 'inc' counts
# state.n up by one) and table orders of ids 1..$rows, for the tests of
# statements that write many threads at once.
sub batch_node
{
	my ($name, $conf, $rows) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', $conf);
	$node->start;
	$node->safe_psql('postgres', qq{
	CREATE EXTENSION stategraph;
	CREATE FUNCTION inc(state jsonb) RETURNS jsonb LANGUAGE sql
		AS \$\$ SELECT jsonb_build_object('n', COALESCE((state->>'n')::int, 0) + 1) \$\$;
	SELECT sg_create_graph('batch', '{"n": "replace"}');
	SELECT sg_add_node('batch', 'inc', 'inc(jsonb)');
	SELECT sg_add_edge('batch', '__start__', 'inc');
	SELECT sg_add_edge('batch', 'inc', '__end__');
	SELECT sg_compile('batch');
	CREATE TABLE orders AS SELECT i AS id FROM generate_series(1, $rows) i;
	});
	return $node;
}

# The buffers per call of the claims' candidate scan (runs.c, open_candidates)
# since the last pg_stat_statements_reset() on $node (which has
# pg_stat_statements preloaded, track = all: workers' statements count).
sub claim_scan_buffers
{
	my ($node) = @_;
	my $b = $node->safe_psql('postgres', q{
		SELECT round(sum(shared_blks_hit + shared_blks_read)::numeric / sum(calls), 1)
		FROM pg_stat_statements WHERE query LIKE '%FROM stategraph.runs r%ORDER BY r.not_before, r.seq%'});
	die 'no candidate scan in pg_stat_statements' unless $b =~ /^\d/;
	return $b;
}

1;
