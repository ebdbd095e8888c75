# A reducer or router written in SQL that runs its own graph (sg_invoke
# of another thread) is called again by that inner run through the same
# FmgrInfo: the graph's cached one (graph.c keeps one per reducer and
# router; only nodes get a copy per run). fmgr_sql is not reentrant on one
# FmgrInfo: the inner call takes the outer call's query, still running, as
# its own, runs it to its end and frees it, and the outer call then goes
# on in freed memory. With on_error => 'return' the inner run survives
# its reducer's failure, and the outer call resumes: the backend crashed
# (signal 11), taking the whole server through crash recovery.
#
# Found by helper-173 reviewing 23a0a30 (the crash is older than it).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('reducerreentry');
$node->init;
# (so that the test can go on, and say so, if a backend crashes)
$node->append_conf('postgresql.conf', "restart_after_crash = on");
$node->start;

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{
    CREATE EXTENSION stategraph;
    -- reducer: an update {"nest": t} runs the same graph on thread t
    CREATE FUNCTION red(cur jsonb, upd jsonb) RETURNS jsonb LANGUAGE sql AS $$
      SELECT CASE WHEN upd ? 'nest'
             THEN jsonb_build_object('inner',
                    sg_invoke('g', '{"v": {"x": 1}}', upd->>'nest', on_error => 'return') -> 'v')
             ELSE coalesce(cur, '{}') || upd END
    $$;
    CREATE FUNCTION n(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"v": {"y": 2}}'::jsonb $$;
    SELECT sg_create_graph('g', '{"v": {"reducer": "red(jsonb,jsonb)"}}');
    SELECT sg_add_node('g', 'a', 'n(jsonb)');
    SELECT sg_add_edge('g', '__start__', 'a');
    SELECT sg_add_edge('g', 'a', '__end__');
    SELECT sg_compile('g');

    -- router: a state with "nest" runs the same graph on that thread first
    CREATE FUNCTION inc(state jsonb) RETURNS jsonb LANGUAGE sql AS
      $$ SELECT jsonb_build_object('v', coalesce((state->>'v')::int, 0) + 1) $$;
    CREATE FUNCTION r(state jsonb) RETURNS text LANGUAGE sql AS $$
      SELECT CASE WHEN state ? 'nest'
             THEN (SELECT 'b' FROM (SELECT sg_invoke('h', '{"v": 10}', state->>'nest', on_error => 'return')) s)
             ELSE 'b' END
    $$;
    SELECT sg_create_graph('h', '{"v": "replace", "nest": "replace"}');
    SELECT sg_add_node('h', 'a', 'inc(jsonb)');
    SELECT sg_add_node('h', 'b', 'inc(jsonb)');
    SELECT sg_add_edge('h', '__start__', 'a');
    SELECT sg_add_conditional_edges('h', 'a', 'r(jsonb)');
    SELECT sg_add_edge('h', 'b', '__end__');
    SELECT sg_compile('h');
});
sql(q{SELECT sg_invoke('g', '{"v": {"z": 0}}', 't0')});
sql(q{SELECT sg_invoke('g', '{"v": {"z": 0}}', 't1')});
sql(q{SELECT sg_invoke('h', '{"v": 0}', 'u1')});

my ($ret, $out, $err) = $node->psql('postgres',
	q{SELECT sg_invoke('g', '{"v": {"nest": "t1"}}', 't0') -> 'v' ? 'inner'});
unlike($err, qr/server closed the connection|connection to server was lost/,
	'a SQL reducer that runs its own graph does not crash the backend');
ok($node->poll_query_until('postgres', 'SELECT true'), 'the server is up');

($ret, $out, $err) = $node->psql('postgres',
	q{SELECT sg_invoke('h', '{"v": 0, "nest": "u1"}', 'u0') -> 'v'});
unlike($err, qr/server closed the connection|connection to server was lost/,
	'a SQL router that runs its own graph does not crash the backend');
ok($node->poll_query_until('postgres', 'SELECT true'), 'the server is up');

unlike(slurp_file($node->logfile), qr/terminated by signal/, 'no backend died');

done_testing();
