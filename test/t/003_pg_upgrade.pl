# pg_upgrade (15 to 15) of a cluster with graphs, threads, interrupts and
# forks, in two databases (one with a graph owned by another role): every
# history reads the same afterwards, byte for byte, and the threads go on.
#
# 0.1.0 kept node and router functions in regprocedure columns, and
# pg_upgrade refuses every cluster with reg* columns in user tables.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGLifecycle;

my $old = sg_cluster('old');
$old->start;
make_data($old, 'postgres');
$old->safe_psql('postgres', q{
    CREATE ROLE lc_alice LOGIN;
    GRANT CREATE ON SCHEMA public TO lc_alice;
    SET ROLE lc_alice;
    CREATE FUNCTION alice_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
    SELECT sg_create_graph('alice_graph', '{"n": "add"}');
    SELECT sg_add_node('alice_graph', 'step', 'alice_step(jsonb)');
    SELECT sg_add_edge('alice_graph', '__start__', 'step');
    SELECT sg_add_edge('alice_graph', 'step', '__end__');
    SELECT sg_compile('alice_graph');
    SELECT sg_invoke('alice_graph', '{"n": 1}', thread_id => 'alice-1');
});
$old->safe_psql('postgres', 'CREATE DATABASE second');
make_data($old, 'second');
my $before = snapshot($old, 'postgres');
my $guards = schema_image($old, 'postgres');
my $before2 = snapshot($old, 'second');
# a background run that is due while pg_upgrade runs the old cluster to dump
# it: no worker may claim it then (pg_upgrade has read the cluster's next
# transaction and multixact IDs before; the claim's left the run's row
# unreadable in the new cluster: "MultiXactId 1 has not been created yet");
# it runs after the upgrade (review rev3life)
$old->safe_psql('postgres', 'CREATE DATABASE runs');
$old->safe_psql('runs', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE ran_on (port text);
    CREATE FUNCTION step(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ INSERT INTO ran_on VALUES (current_setting('port')); SELECT '{"n": 1}'::jsonb $$;
    SELECT sg_create_graph('g', '{"n": "add"}');
    SELECT sg_add_node('g', 'a', 'step(jsonb)');
    SELECT sg_add_edge('g', '__start__', 'a');
    SELECT sg_add_edge('g', 'a', '__end__');
    SELECT sg_compile('g');
});
my $run = $old->safe_psql('runs', q{SELECT sg_submit('g', '{"n": 1}', 'upg-run', after => '1 second')});
my $seq = $old->safe_psql('runs', q{SELECT max(seq) FROM stategraph.runs});
$old->stop;
sleep 2;	# due from the moment pg_upgrade starts the old cluster

my $new = sg_cluster('new');
my $bindir = $new->config_data('--bindir');
my $workdir = PostgreSQL::Test::Utils::tempdir();
chdir $workdir;
$new->command_ok(
	[
		'pg_upgrade', '--no-sync',
		'-d', $old->data_dir, '-D', $new->data_dir,
		'-b', $bindir, '-B', $bindir,
		'-s', $new->host, '-p', $old->port, '-P', $new->port
	],
	'pg_upgrade accepts a cluster with stategraph');
$new->start;

is(snapshot($new, 'postgres'), $before, 'every history reads the same after pg_upgrade');
is(snapshot($new, 'second'), $before2, 'and in the second database');
is(schema_image($new, 'postgres'), $guards, 'policies, triggers and privileges are kept');
is($new->safe_psql('postgres', q{SELECT owner FROM stategraph.threads WHERE thread_id = 'alice-1'}),
	'lc_alice', 'owners are kept');
is($new->safe_psql('postgres', q{SET ROLE lc_alice; SELECT string_agg(thread_id, ',') FROM sg_threads()}),
	'alice-1', 'and row-level security still keeps roles apart');
is($new->safe_psql('postgres', q{SELECT sg_invoke('lc_chat', NULL, thread_id => 'chat-12', resume => '"after"') ->> 'answer'}),
	'after', 'an interrupted thread resumes after pg_upgrade');
like($new->safe_psql('second', q{SELECT sg_invoke('lc_loop', NULL, thread_id => 'loop-2')::text}),
	qr/"w3"/, 'a thread stopped before a join goes on');
$new->safe_psql('postgres', q{SELECT sg_compile('lc_chat')});
is($new->safe_psql('postgres', q{SELECT sg_invoke('lc_chat', '{"n": 1}', thread_id => 'chat-new') -> 'log'}),
	'["a"]', 'graphs compile again and run new threads');
is($new->safe_psql('postgres', q{SELECT string_agg(node || '=' || fn, ',' ORDER BY node) FROM stategraph.nodes WHERE graph = 'lc_chat'}),
	'a=public.lc_step(pg_catalog.jsonb,pg_catalog.jsonb),ask=public.lc_ask(pg_catalog.jsonb),b=public.lc_step(pg_catalog.jsonb,pg_catalog.jsonb)',
	'node functions are kept by signature');
is($new->safe_psql('runs', "SELECT status FROM sg_wait('$run', '60 s')"), 'success',
	'a run queued before pg_upgrade runs after it');
is($new->safe_psql('runs', 'SELECT string_agg(port, \',\') FROM ran_on'), $new->port,
	'it ran once, on the new cluster: no worker took it while pg_upgrade ran the old one');
my $run2 = $new->safe_psql('runs', q{SELECT sg_submit('g', '{"n": 1}', 'upg-run-2')});
cmp_ok($new->safe_psql('runs', "SELECT seq FROM stategraph.runs WHERE run_id = '$run2'"),
	'>', $seq, 'and new runs are numbered after it');

$new->stop;
done_testing();
