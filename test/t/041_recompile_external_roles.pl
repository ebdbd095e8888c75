# A graph recompiled while tasks of its external node are out on threads of
# other roles: sg_compile cancels only the tasks its role can see (TAP 036
# tests that case), so a task of another role's thread must be refused
# where it is next handled: sg_claim cancels it instead of handing it out,
# a worker holding it is told to stop (sg_heartbeat false) and its result
# refused (SG011), an expired lease of it is cancelled by the lease sweep
# rather than queued again or recorded as a failure; and the background
# runs that waited for it go on as after sg_compile's own cancel (the step
# runs again, with the node's new SQL function).
#
# Without the preload there are no background workers: CALL sg_work is the
# one executor, so which session runs what is known.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('recompile_roles');

# designer's graph: START -> llm (external, queue q) -> END; alice uses it
$node->safe_psql('postgres', q{
CREATE EXTENSION stategraph;
CREATE ROLE designer LOGIN;
CREATE ROLE alice LOGIN;
CREATE FUNCTION public.llm_sql(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT '{"answer": "sql"}'::jsonb $$;
SET ROLE designer;
SELECT sg_create_graph('rg', '{"answer": "replace"}'), sg_add_external_node('rg', 'llm', 'q'),
       sg_add_edge('rg', '__start__', 'llm'), sg_add_edge('rg', 'llm', '__end__'), sg_compile('rg');
SELECT sg_submit('rg', '{}', 'd-bg');
RESET ROLE;
SET ROLE alice;
SELECT sg_submit('rg', '{}', 'a-claimed');
SELECT sg_submit('rg', '{}', 'a-lapsed');
SELECT sg_submit('rg', '{}', 'a-queued');
CALL sg_work();
SELECT sg_invoke('rg', '{}', 'a-fg') IS NOT NULL;
RESET ROLE;
SET ROLE designer;
CALL sg_work();
});
is($node->safe_psql('postgres', q{SELECT string_agg(thread_id || ':' || status, ' ' ORDER BY thread_id) FROM stategraph.runs}),
	'a-claimed:waiting a-lapsed:waiting a-queued:waiting d-bg:waiting', 'every background run waits for its llm task');

# alice's worker holds the tasks of a-claimed and (with a short lease)
# a-lapsed, the first two of queue q that alice sees
my ($task_id, $token, $t1) = split /\|/, $node->safe_psql('postgres', q{
SET ROLE alice; SELECT task_id, token || '|' || thread_id FROM sg_claim('q', 'w1')});
is($t1, 'a-claimed', "alice's worker claimed the llm task of a-claimed");
my ($lapsed_id, $lapsed_token, $t2) = split /\|/, $node->safe_psql('postgres', q{
SET ROLE alice; SELECT task_id, token || '|' || thread_id FROM sg_claim('q', 'w1', lease => '5 s')});
is($t2, 'a-lapsed', "alice's worker claimed the llm task of a-lapsed, with a 5 s lease");

# designer makes llm a SQL node: its compile sees only its own thread's task
$node->safe_psql('postgres', q{
SET ROLE designer;
DELETE FROM stategraph.nodes WHERE graph = 'rg' AND node = 'llm';
SELECT sg_add_node('rg', 'llm', 'public.llm_sql(jsonb)');
SELECT sg_compile('rg');
});
is($node->safe_psql('postgres', q{SELECT status FROM stategraph.tasks WHERE thread_id = 'd-bg'}),
	'cancelled', "the compile cancels the task of designer's own thread");

is($node->safe_psql('postgres', q{SET ROLE alice; SELECT count(*) FROM sg_claim('q', 'w2', n => 10)}),
	'0', "no llm task of alice's threads is handed out after the recompile");
is($node->safe_psql('postgres', q{SELECT string_agg(thread_id || ':' || status || ':' || attempt, ' ' ORDER BY thread_id)
                                   FROM stategraph.tasks WHERE thread_id IN ('a-queued', 'a-fg')}),
	'a-fg:cancelled:0 a-queued:cancelled:0', '... the claim cancelled them, counting no attempt');
is($node->safe_psql('postgres', q{SELECT status FROM stategraph.runs WHERE thread_id = 'a-queued'}),
	'pending', '... and the background run that waited for one goes on');

is($node->safe_psql('postgres', qq{SET ROLE alice; SELECT sg_heartbeat('$task_id', '$token')}),
	'f', "the heartbeat of the worker holding a-claimed's task says stop");
is($node->safe_psql('postgres', q{SELECT status FROM stategraph.tasks WHERE thread_id = 'a-claimed'}),
	'cancelled', '... the task is cancelled');
my ($rc, $out, $err) = $node->psql('postgres', qq{SET ROLE alice; SELECT sg_complete('$task_id', '$token', '{"answer": "worker"}')},
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/SG011/, "... and the worker's completion is refused (SG011)");

# a held task whose worker never calls again: its lease lapses, the sweep cancels it
($rc, $out, $err) = $node->psql('postgres', qq{SET ROLE alice; SELECT sg_complete('$lapsed_id', '$lapsed_token', '{"answer": "worker"}')},
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/SG011/, "a completion of a-lapsed's task, still claimed, is refused (SG011)");
is($node->safe_psql('postgres', q{SELECT status FROM stategraph.tasks WHERE thread_id = 'a-lapsed'}),
	'claimed', '... which changed nothing');
$node->poll_query_until('postgres', q{SELECT lease_expires_at < now() FROM stategraph.tasks WHERE thread_id = 'a-lapsed'})
  or die 'the lease of a-lapsed did not lapse';
$node->safe_psql('postgres', q{SET ROLE alice; CALL sg_work();});
is($node->safe_psql('postgres', q{SELECT status || ':' || (error IS NULL) FROM stategraph.tasks WHERE thread_id = 'a-lapsed'}),
	'cancelled:true', "the sweep cancels a-lapsed's task once its lease lapsed, recording no failure");

# the runs take the step again with the SQL node
$node->safe_psql('postgres', q{SET ROLE alice; CALL sg_work(); RESET ROLE; SET ROLE designer; CALL sg_work();});
is($node->safe_psql('postgres', q{SELECT string_agg(thread_id || ':' || status, ' ' ORDER BY thread_id) FROM stategraph.runs}),
	'a-claimed:success a-lapsed:success a-queued:success d-bg:success', 'every background run succeeds');
$node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_invoke('rg', NULL, 'a-fg')});
is($node->safe_psql('postgres', q{SELECT string_agg(t || ':' || (SELECT "values"::text FROM sg_get_state(t)), ' ' ORDER BY t)
                                   FROM unnest(ARRAY['a-claimed', 'a-fg', 'a-lapsed', 'a-queued', 'd-bg']) t}),
	'a-claimed:{"answer": "sql"} a-fg:{"answer": "sql"} a-lapsed:{"answer": "sql"} a-queued:{"answer": "sql"} d-bg:{"answer": "sql"}',
	"every thread has the SQL node's value, none a worker's");
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.tasks WHERE status <> 'cancelled'}),
	'0', 'no task is left out');

# a dropped graph: another role's queued task is cancelled at its claim too
$node->safe_psql('postgres', q{
SET ROLE designer;
SELECT sg_create_graph('dg', '{"x": "replace"}'), sg_add_external_node('dg', 'ext', 'dq'),
       sg_add_edge('dg', '__start__', 'ext'), sg_add_edge('dg', 'ext', '__end__'), sg_compile('dg');
RESET ROLE;
SET ROLE alice;
SELECT sg_submit('dg', '{}', 'a-dropped');
CALL sg_work();
RESET ROLE;
SET ROLE designer;
SELECT sg_drop_graph('dg');
});
is($node->safe_psql('postgres', q{SET ROLE alice; SELECT count(*) FROM sg_claim('dq', 'w3', n => 10)}),
	'0', 'the task of a dropped graph is not handed out');
is($node->safe_psql('postgres', q{SELECT t.status || ':' || r.status FROM stategraph.tasks t JOIN stategraph.runs r USING (thread_id)
                                   WHERE thread_id = 'a-dropped'}),
	'cancelled:pending', '... it is cancelled, and its run goes on (to end in error: the graph is gone)');

$node->stop;
done_testing();
