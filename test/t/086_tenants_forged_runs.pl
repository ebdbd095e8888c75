# Run rows a role writes itself (INSERT INTO stategraph.runs: row-level
# security checks only the row's owner) may name any thread. A superuser
# that executes runs (a background worker, a superuser's CALL sg_work)
# trusted the row's thread:
# - its claim copied the thread's head and status into the row
#   (start_head, start_status, for a rollback), where the row's owner read
#   another role's thread;
# - the stop of a run whose role was dropped (done as the superuser, TAP
#   081) cancelled that thread's external tasks and rolled it back to the
#   row's start_head and start_status: a dropped role's row deleted
#   another role's thread.
# Both now act only on a thread the run's role may act on (its owner, or a
# member of it).
# No preload there: only a superuser's CALL sg_work executes runs.
#
# And a background run checked EXECUTE on its graph's functions once, when
# its worker took it: each step is a transaction of its own, but the run
# went on calling a node function for as long as it looped after its
# owner's EXECUTE was revoked. Each step checks again now.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('tenants_forged_runs');
$node->safe_psql('postgres', q{
CREATE EXTENSION stategraph;
CREATE ROLE alice; CREATE ROLE bob; CREATE ROLE mallory;
GRANT CREATE ON SCHEMA public TO alice;
SET ROLE alice;
CREATE FUNCTION greet(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"log": ["hi"]}'::jsonb $$;
SELECT sg_create_graph('g', '{"log": "append"}');
SELECT sg_add_node('g', 'greet', 'greet(jsonb)');
SELECT sg_add_edge('g', '__start__', 'greet');
SELECT sg_add_edge('g', 'greet', '__end__');
SELECT sg_compile('g');
SELECT sg_create_graph('ext', '{"log": "append"}');
SELECT sg_add_external_node('ext', 'tool', 'q');
SELECT sg_add_edge('ext', '__start__', 'tool');
SELECT sg_add_edge('ext', 'tool', '__end__');
SELECT sg_compile('ext');
SELECT sg_invoke('g', '{}', thread_id => 'a1');
SELECT sg_invoke('ext', '{}', thread_id => 'a2');
});
my $a1 = q{SELECT head || ' ' || status || ' ' || (SELECT count(*) FROM stategraph.checkpoints c WHERE c.thread_id = 'a1')
	FROM stategraph.threads WHERE thread_id = 'a1'};
my $a1_before = $node->safe_psql('postgres', $a1);
my $a2 = q{SELECT (SELECT status FROM stategraph.threads WHERE thread_id = 'a2') || ' '
	|| (SELECT string_agg(status, ',') FROM stategraph.tasks WHERE thread_id = 'a2')};
is($node->safe_psql('postgres', $a2), 'waiting queued', "alice's thread a2 waits for its task");

# bob's own run row on alice's thread a1, executed by a superuser
$node->safe_psql('postgres', q{SET ROLE bob;
	INSERT INTO stategraph.runs (run_id, thread_id, graph, recursion_limit, multitask)
	VALUES ('00000000-0000-0000-0000-0000000000b1', 'a1', 'g', 25, 'reject')});
$node->safe_psql('postgres', q{CALL sg_work()});
is($node->safe_psql('postgres', q{SET ROLE bob;
	SELECT status || ' ' || coalesce(start_head::text, '-') || ' ' || coalesce(start_status, '-')
	FROM stategraph.runs WHERE run_id = '00000000-0000-0000-0000-0000000000b1'}),
	'error - -', "bob's run on alice's thread fails, and its row holds nothing of her thread");

# mallory's rows on alice's threads, asked to stop ('rollback' as if the
# run had created a1; 'interrupt' of a2), then mallory is dropped
$node->safe_psql('postgres', q{SET ROLE mallory;
	INSERT INTO stategraph.runs (run_id, thread_id, graph, recursion_limit, multitask, stepped, stop_request)
	VALUES ('00000000-0000-0000-0000-0000000000c1', 'a1', 'g', 25, 'reject', true, 'rollback'),
	       ('00000000-0000-0000-0000-0000000000c2', 'a2', 'ext', 25, 'reject', true, 'interrupt')});
$node->safe_psql('postgres', q{DROP ROLE mallory});
$node->safe_psql('postgres', q{CALL sg_work()});
is($node->safe_psql('postgres', q{SELECT string_agg(status, ',' ORDER BY run_id) FROM stategraph.runs WHERE owner = 'mallory'}),
	'cancelled,cancelled', "the dropped role's runs are stopped");
is($node->safe_psql('postgres', $a1), $a1_before, "alice's thread a1 is as it was");
is($node->safe_psql('postgres', $a2), 'waiting queued', "alice's task is still queued");
is($node->safe_psql('postgres', q{SET ROLE alice; SELECT "values"->>'log' FROM sg_get_state('a1')}),
	'["hi"]', 'alice reads her thread');

$node->stop;

# a background run of dave's loops; EXECUTE on its node function is revoked
my $bg = preloaded_node('tenants_revoke_running');
sleepy_loop_graph($bg);
$bg->safe_psql('postgres', q{CREATE ROLE dave; GRANT INSERT ON effects TO dave;
	SET ROLE dave; SELECT sg_submit('loop', '{"i": 0, "steps": 1000, "sleep": 0.1}', 'd1', recursion_limit => 2000)});
$bg->poll_query_until('postgres', q{SELECT count(*) >= 2 FROM effects WHERE run = 'd1'})
  or die 'the run took no steps';
$bg->safe_psql('postgres', q{REVOKE EXECUTE ON FUNCTION work(jsonb, jsonb) FROM PUBLIC});
my $at_revoke = $bg->safe_psql('postgres', q{SELECT count(*) FROM effects WHERE run = 'd1'});
$bg->poll_query_until('postgres', q{SELECT status <> 'running' FROM stategraph.runs WHERE thread_id = 'd1'})
  or die 'the run goes on';
is($bg->safe_psql('postgres', q{SELECT status || ' ' || (error->>'sqlstate') FROM stategraph.runs WHERE thread_id = 'd1'}),
	'error 42501', 'the run ends with 42501');
cmp_ok($bg->safe_psql('postgres', q{SELECT count(*) FROM effects WHERE run = 'd1'}), '<=', $at_revoke + 1,
	'no step after the one under way when EXECUTE was revoked');
$bg->stop;
done_testing();
