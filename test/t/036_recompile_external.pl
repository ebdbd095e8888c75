# A graph recompiled while tasks of its external node are out, that node
# now a SQL node (or gone): the new definition wins. sg_compile cancels the
# tasks of nodes that are no longer external (workers can no longer claim
# them, a worker holding one is told to stop and its result is refused) and
# lets the background runs that waited for them go on: the step runs again
# with the new definition (the node's SQL function runs). A node that stays
# external keeps its tasks, and a waiting thread without a background run
# is idle once none of its step's tasks is out, and goes on with the new
# node at its next sg_invoke(graph, NULL, thread).
#
# Without the preload there are no background workers: CALL sg_work is the
# one executor, so which session runs what is known.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('recompile_ext');

# START -> llm (external, queue q) and keep (external, queue k) -> END
$node->safe_psql('postgres', q{
CREATE EXTENSION stategraph;
CREATE FUNCTION public.llm_sql(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"answer": "sql"}'::jsonb $$;
SELECT sg_create_graph('rg', '{"answer": "replace", "kept": "replace"}'),
       sg_add_external_node('rg', 'llm', 'q'), sg_add_external_node('rg', 'keep', 'k'),
       sg_add_edge('rg', '__start__', 'llm'), sg_add_edge('rg', '__start__', 'keep'),
       sg_add_edge('rg', 'llm', '__end__'), sg_add_edge('rg', 'keep', '__end__'), sg_compile('rg');
SELECT sg_submit('rg', '{}', 'bg-claimed');
SELECT sg_submit('rg', '{}', 'bg-queued');
CALL sg_work();
SELECT sg_invoke('rg', '{}', 'fg') IS NOT NULL;
});
is($node->safe_psql('postgres', q{SELECT string_agg(thread_id || ':' || status, ' ' ORDER BY thread_id) FROM sg_runs()}),
	'bg-claimed:waiting bg-queued:waiting', 'both background runs wait for their external tasks');

# a worker holds the llm task of bg-claimed
my ($task_id, $token) = split /\|/, $node->safe_psql('postgres', q{
SELECT task_id, token FROM sg_claim('q', 'w1') WHERE thread_id = 'bg-claimed'});
ok($token, 'a worker claimed the llm task of bg-claimed');

# llm becomes a SQL node
$node->safe_psql('postgres', q{
DELETE FROM stategraph.nodes WHERE graph = 'rg' AND node = 'llm';
SELECT sg_add_node('rg', 'llm', 'public.llm_sql(jsonb)');
SELECT sg_compile('rg');
});

is($node->safe_psql('postgres', q{SELECT count(*) FROM sg_claim('q', 'w2', n => 10)}),
	'0', 'no llm task is claimable after the recompile');
is($node->safe_psql('postgres', q{SELECT string_agg(thread_id || ':' || node || ':' || status, ' ' ORDER BY thread_id, node) FROM sg_tasks()}),
	'bg-claimed:keep:queued bg-claimed:llm:cancelled bg-queued:keep:queued bg-queued:llm:cancelled '
	  . 'fg:keep:queued fg:llm:cancelled',
	"the llm tasks are cancelled, the still-external keep tasks stay queued");
is($node->safe_psql('postgres', q{SELECT status FROM sg_threads() WHERE thread_id = 'fg'}),
	'waiting', 'the foreground thread still waits for its keep task');
is($node->safe_psql('postgres', qq{SELECT sg_heartbeat('$task_id', '$token')}),
	'f', "the heartbeat of the worker holding an llm task says stop");
my ($rc, $out, $err) = $node->psql('postgres', qq{SELECT sg_complete('$task_id', '$token', '{"answer": "worker"}')},
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/SG011/, "the worker's completion is refused (SG011, task cancelled)");
is($node->safe_psql('postgres', q{SELECT string_agg(thread_id || ':' || status, ' ' ORDER BY thread_id) FROM sg_runs()}),
	'bg-claimed:pending bg-queued:pending', 'the waiting background runs go on');

# the runs take the step again: llm runs as a SQL node, keep is still out
$node->safe_psql('postgres', q{CALL sg_work();});
is($node->safe_psql('postgres', q{SELECT string_agg(thread_id || ':' || status, ' ' ORDER BY thread_id) FROM sg_runs()}),
	'bg-claimed:waiting bg-queued:waiting', 'the runs wait for their keep tasks again');
is($node->safe_psql('postgres', q{SELECT count(*) FROM sg_tasks(status => 'queued')}),
	'3', 'each thread still has one keep task queued (not queued twice)');

# the keep tasks are completed by a worker: the runs end with the SQL node's value
$node->safe_psql('postgres', q{
SELECT count(sg_complete(task_id, token, '{"kept": "worker"}')) FROM sg_claim('k', 'w3', n => 10);
CALL sg_work();
});
is($node->safe_psql('postgres', q{SELECT string_agg(thread_id || ':' || status, ' ' ORDER BY thread_id) FROM sg_runs()}),
	'bg-claimed:success bg-queued:success', 'both runs succeed');
is($node->safe_psql('postgres', q{SELECT string_agg(t || ':' || (SELECT "values"::text FROM sg_get_state(t)), ' ' ORDER BY t)
                                   FROM unnest(ARRAY['bg-claimed', 'bg-queued', 'fg']) t}),
	'bg-claimed:{"kept": "worker", "answer": "sql"} bg-queued:{"kept": "worker", "answer": "sql"} fg:{"kept": "worker", "answer": "sql"}',
	"every thread has the new SQL node's value and the worker's keep value");

# a node removed from the graph: its tasks are cancelled and the run ends in error
$node->safe_psql('postgres', q{
SELECT sg_create_graph('gone', '{"x": "replace"}'), sg_add_external_node('gone', 'ext', 'gq'),
       sg_add_edge('gone', '__start__', 'ext'), sg_add_edge('gone', 'ext', '__end__'), sg_compile('gone');
SELECT sg_submit('gone', '{}', 'gone-1');
CALL sg_work();
DELETE FROM stategraph.edges WHERE graph = 'gone';
DELETE FROM stategraph.nodes WHERE graph = 'gone';
SELECT sg_add_node('gone', 'other', 'public.llm_sql(jsonb)'), sg_add_edge('gone', '__start__', 'other'),
       sg_add_edge('gone', 'other', '__end__'), sg_compile('gone');
});
is($node->safe_psql('postgres', q{SELECT status FROM sg_tasks('gq')}), 'cancelled',
	'the task of a node removed from the graph is cancelled');
$node->safe_psql('postgres', q{CALL sg_work();});
is($node->safe_psql('postgres', q{SELECT status FROM sg_runs('gone-1')}), 'error',
	'the run that waited for it goes on, and ends with status error');

# A waiting thread without a background run: once none of its step's tasks
# is out, it is idle (its step next), not waiting for workers (fg, whose
# keep task is still out, stayed waiting above).
$node->safe_psql('postgres', q{
SELECT sg_create_graph('solo', '{"answer": "replace"}'), sg_add_external_node('solo', 'ext', 'sq'),
       sg_add_edge('solo', '__start__', 'ext'), sg_add_edge('solo', 'ext', '__end__'), sg_compile('solo');
SELECT sg_invoke('solo', '{}', 'fg-solo') ? '__waiting__';
});
is($node->safe_psql('postgres', q{SELECT status FROM sg_threads() WHERE thread_id = 'fg-solo'}),
	'waiting', 'a foreground thread waits for its one external task');
$node->safe_psql('postgres', q{
DELETE FROM stategraph.nodes WHERE graph = 'solo' AND node = 'ext';
SELECT sg_add_node('solo', 'ext', 'public.llm_sql(jsonb)');
SELECT sg_compile('solo');
});
is($node->safe_psql('postgres', q{SELECT status || ':' || next::text FROM sg_threads() WHERE thread_id = 'fg-solo'}),
	'idle:{ext}', 'once its task is cancelled, the thread is idle with its step next');
is($node->safe_psql('postgres', q{SELECT sg_invoke('solo', NULL, 'fg-solo')::text}), '{"answer": "sql"}',
	'its next sg_invoke takes the step with the SQL node');
is($node->safe_psql('postgres', q{SELECT status FROM sg_threads() WHERE thread_id = 'fg-solo'}), 'done',
	'and the thread is done');

$node->stop;
done_testing();
