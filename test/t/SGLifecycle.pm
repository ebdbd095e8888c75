# Shared by the lifecycle tests (dump and restore, pg_upgrade, ALTER
# EXTENSION UPDATE, hot standby): a cluster set up as test/run.sh sets up
# its own, a database with graphs and threads of every kind made through
# the 0.1.0 API only (so the same data serves the upgrade from 0.1.0), and
# a text image of everything a user can read, to compare byte for byte.
package SGLifecycle;

use strict;
use warnings;

use Exporter 'import';
our @EXPORT = qw(sg_cluster make_data snapshot schema_image init_privs_image);

use PostgreSQL::Test::Cluster;

# A new cluster with test/stategraph.conf (the preload) in its configuration.
sub sg_cluster
{
	my ($name, %params) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%params);
	my $root = $ENV{SG_TESTROOT} // 'test';
	open(my $fh, '<', "$root/stategraph.conf") or die "cannot read $root/stategraph.conf: $!";
	local $/;
	$node->append_conf('postgresql.conf', <$fh>);
	close $fh;
	return $node;
}

# Graphs and threads: interrupts (dynamic and static), resumed runs, forks,
# update_state from another thread's checkpoint, pruned threads, two routers
# on one source, a join and Send fan-out, and a graph whose node function
# was dropped. $ext is the CREATE EXTENSION statement to use.
sub make_data
{
	my ($node, $db, $ext) = @_;
	$node->safe_psql($db, ($ext // 'CREATE EXTENSION stategraph') . ';' . q{
CREATE FUNCTION lc_step(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('n', 1, 'log', jsonb_build_array(config->>'node')) $$;
CREATE FUNCTION lc_ask(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE a jsonb;
BEGIN
    a := sg_interrupt(jsonb_build_object('question', 'go on?', 'n', state->'n'));
    RETURN jsonb_build_object('answer', a, 'log', '["ask"]'::jsonb);
END $$;
CREATE FUNCTION lc_fan(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_agg(jsonb_build_object('node', 'worker', 'arg', jsonb_build_object('item', i))) FROM generate_series(1, 3) i $$;
CREATE FUNCTION lc_worker(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('log', jsonb_build_array('w' || (state->>'item'))) $$;
CREATE FUNCTION lc_more(state jsonb) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN (state->>'n')::int < 4 THEN 'a' ELSE '__end__' END $$;
CREATE FUNCTION lc_side(state jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'c' $$;
CREATE FUNCTION lc_gone(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;

SELECT sg_create_graph('lc_chat', '{"n": "add", "log": "append", "answer": "replace"}');
SELECT sg_add_node('lc_chat', 'a', 'lc_step(jsonb,jsonb)');
SELECT sg_add_node('lc_chat', 'ask', 'lc_ask(jsonb)');
SELECT sg_add_node('lc_chat', 'b', 'lc_step(jsonb,jsonb)');
SELECT sg_add_edge('lc_chat', '__start__', 'a');
SELECT sg_add_edge('lc_chat', 'a', 'ask');
SELECT sg_add_edge('lc_chat', 'ask', 'b');
SELECT sg_add_edge('lc_chat', 'b', '__end__');
SELECT sg_compile('lc_chat');

SELECT sg_create_graph('lc_loop', '{"n": "add", "log": "append"}');
SELECT sg_add_node('lc_loop', 'a', 'lc_step(jsonb,jsonb)');
SELECT sg_add_node('lc_loop', 'c', 'lc_step(jsonb,jsonb)');
SELECT sg_add_node('lc_loop', 'fan', 'lc_step(jsonb,jsonb)');
SELECT sg_add_node('lc_loop', 'worker', 'lc_worker(jsonb)');
SELECT sg_add_node('lc_loop', 'join', 'lc_step(jsonb,jsonb)');
SELECT sg_add_edge('lc_loop', '__start__', 'a');
SELECT sg_add_conditional_edges('lc_loop', 'a', 'lc_more(jsonb)', '["a", "__end__"]');
SELECT sg_add_conditional_edges('lc_loop', 'a', 'lc_side(jsonb)', '["c"]');
SELECT sg_add_edge('lc_loop', 'c', 'fan');
SELECT sg_add_conditional_edges('lc_loop', 'fan', 'lc_fan(jsonb)');
SELECT sg_add_edge('lc_loop', ARRAY['worker', 'c'], 'join');
SELECT sg_add_edge('lc_loop', 'join', '__end__');
SELECT sg_compile('lc_loop', interrupt_before => ARRAY['join']);

SELECT sg_create_graph('lc_broken', '{"n": "add"}');
SELECT sg_add_node('lc_broken', 'gone', 'lc_gone(jsonb)');
SELECT sg_add_edge('lc_broken', '__start__', 'gone');
SELECT sg_add_edge('lc_broken', 'gone', '__end__');
DROP FUNCTION lc_gone(jsonb);

-- interrupted, resumed, forked, updated, pruned
SELECT sg_invoke('lc_chat', jsonb_build_object('n', i), thread_id => 'chat-' || i) FROM generate_series(1, 12) i;
SELECT sg_invoke('lc_chat', NULL, thread_id => 'chat-' || i, resume => to_jsonb('yes ' || i)) FROM generate_series(1, 8) i;
SELECT sg_fork('chat-1', (SELECT checkpoint_id FROM sg_get_state_history('chat-1') WHERE step = 1), 'chat-1-fork');
SELECT sg_update_state('chat-1-fork', '{"n": 100, "log": ["edited"]}', as_node => 'a');
SELECT sg_update_state('chat-2-branch', '{"n": 7}',
                       checkpoint_id => (SELECT checkpoint_id FROM sg_get_state_history('chat-2') WHERE step = 2));
SELECT sg_invoke('lc_chat', NULL, thread_id => 'chat-2-branch');
SELECT sg_prune(keep_last => 2, thread_id => 'chat-3');
SELECT sg_invoke('lc_loop', '{"n": 0}', thread_id => 'loop-' || i) FROM generate_series(1, 4) i;
SELECT sg_invoke('lc_loop', NULL, thread_id => 'loop-1');
});
}

# Everything a user reads, as text: threads, every checkpoint of every
# thread through sg_get_state_history (values, tasks, interrupts, metadata,
# times), the raw checkpoint rows, the compiled specs and drawings. (The
# specs without the owners their functions are bound to: the update from
# 0.1.0 writes every one of them, pg_regress update_010_give_graphs.)
sub snapshot
{
	my ($node, $db) = @_;
	return $node->safe_psql($db, q{
SELECT string_agg(format('%s %s %s %s %s %s %s', thread_id, graph, status, next, checkpoints, created_at, updated_at),
                  E'\n' ORDER BY thread_id) FROM sg_threads();
SELECT string_agg(format('%s: %s', t.thread_id, h::text), E'\n' ORDER BY t.thread_id, h.checkpoint_id)
FROM sg_threads() t, LATERAL sg_get_state_history(t.thread_id) h;
SELECT string_agg(format('%s', s::text), E'\n' ORDER BY s.thread_id)
FROM sg_threads() t, LATERAL sg_get_state(t.thread_id) s;
SELECT string_agg(c::text, E'\n' ORDER BY thread_id, checkpoint_id) FROM stategraph.checkpoints c
WHERE EXISTS (SELECT 1 FROM stategraph.threads t WHERE t.thread_id = c.thread_id);
SELECT string_agg(format('%s %s %s', graph,
                         regexp_replace(spec::text, ', "(fn|router)_owner": "[^"]*"', '', 'g'), version),
                  E'\n' ORDER BY graph) FROM stategraph.graphs;
SELECT string_agg(sg_draw(graph), E'\n' ORDER BY graph) FROM stategraph.graphs WHERE spec IS NOT NULL;
});
}

# The extension's initial privileges as text (pg_init_privs, what pg_dump
# compares its objects' ACLs with): one line per object, sorted.
sub init_privs_image
{
	my ($node, $db) = @_;
	return $node->safe_psql($db, q{
SELECT string_agg(x, E'\n' ORDER BY x) FROM (
    SELECT pg_describe_object(ip.classoid, ip.objoid, ip.objsubid) || ' ' || ip.privtype::text || ' ' || ip.initprivs::text AS x
    FROM pg_init_privs ip
    WHERE (ip.classoid, ip.objoid) IN (SELECT classid, objid FROM pg_depend
                                       WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
                                         AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'stategraph'))) p});
}

# The extension's guards as text: row-level security, policies, triggers,
# table privileges, column types (what a restore or an upgrade must keep).
sub schema_image
{
	my ($node, $db) = @_;
	return $node->safe_psql($db, q{
SELECT string_agg(format('%s rls=%s acl=%s', c.relname, c.relrowsecurity, c.relacl), E'\n' ORDER BY c.relname)
FROM pg_class c WHERE c.relnamespace = 'stategraph'::regnamespace AND c.relkind = 'r';
SELECT string_agg(format('%s %s %s %s %s', p.polrelid::regclass, p.polname, p.polcmd,
                         pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)),
                  E'\n' ORDER BY c.relname, p.polname)
FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = 'stategraph'::regnamespace;
SELECT string_agg(format('%s %s', t.tgrelid::regclass, pg_get_triggerdef(t.oid)), E'\n' ORDER BY c.relname, t.tgname)
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = 'stategraph'::regnamespace AND NOT t.tgisinternal;
SELECT string_agg(format('%s.%s %s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod)), E'\n' ORDER BY c.relname, a.attnum)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = 'stategraph'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped;
});
}

1;
