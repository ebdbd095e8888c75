# Rows another role writes by hand (helper-122's attack).
#
# A role that row-level security does not bind (BYPASSRLS) wrote a run row
# naming a superuser as its owner, on a graph of its own: a background
# worker executed the graph's node as that superuser (it made its writer a
# superuser). It could also take over a superuser's graph definition. Such
# writes are refused now (42501, stategraph.owner_writes()), while the
# writes such a role makes of its own rows, of its roles' rows, and those
# that decide nothing executed (a cancel) go on.
#
# Any role may INSERT a run or task row naming another role's thread (under
# its own name: row-level security): such a row held up the owner's left
# step (it stayed 'waiting' for good) and kept the owner's expired threads
# from retention. Only runs and tasks of roles that may act on a thread
# count there now.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('forged_rows');
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE ROLE carol BYPASSRLS;
    CREATE ROLE alice;
    CREATE ROLE bob;
    CREATE ROLE aw NOINHERIT;
    GRANT alice TO aw;
    GRANT CREATE ON SCHEMA public TO carol, alice;
    CREATE FUNCTION su_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"x": 1}'::jsonb $$;
    SELECT sg_create_graph('su_graph', '{"x": "replace"}');
    SELECT sg_add_node('su_graph', 'a', 'su_step(jsonb)');
    SELECT sg_add_edge('su_graph', '__start__', 'a');
    SELECT sg_add_edge('su_graph', 'a', '__end__');
    SELECT sg_compile('su_graph');
    SELECT sg_invoke('su_graph', '{}', 'su-thread') IS NOT NULL;
    SET ROLE carol;
    CREATE FUNCTION esc(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        EXECUTE 'ALTER ROLE carol SUPERUSER';   -- only a superuser may
        RETURN '{}';
    END $$;
    SELECT sg_create_graph('cg', '{"x": "replace"}');
    SELECT sg_add_node('cg', 'esc', 'esc(jsonb)');
    SELECT sg_add_edge('cg', '__start__', 'esc');
    SELECT sg_add_edge('cg', 'esc', '__end__');
    SELECT sg_compile('cg');
    RESET ROLE;
});

sub refused
{
	my ($sql, $name) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nSET ROLE carol;\n$sql");
	isnt($rc, 0, $name);
	like($err, qr/ERROR:  42501: permission denied to write a row of role "postgres"/, '... 42501, naming the role');
}

# the attack: a run of carol's graph "of" the superuser, then a submit that wakes a worker
refused(q{INSERT INTO stategraph.runs (run_id, thread_id, graph, recursion_limit, multitask, owner, input)
          VALUES (gen_random_uuid(), 'c-esc', 'cg', 25, 'reject', 'postgres', '{}')},
	'a BYPASSRLS role cannot queue a run as a superuser');
my $su_run = $node->safe_psql('postgres', q{SELECT sg_submit('su_graph', '{}', 'su-later', after => '1 hour')});
refused(qq{UPDATE stategraph.runs SET graph = 'cg', thread_id = 'c-esc' WHERE run_id = '$su_run'},
	'nor make a superuser\'s pending run execute its graph');
my $done_run = $node->safe_psql('postgres', q{SELECT sg_submit('su_graph', '{}', 'su-done')});
is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$done_run', timeout => '30 s')}), 'success',
	'a superuser\'s run ends');
refused(qq{UPDATE stategraph.runs SET status = 'pending', graph = 'cg', thread_id = 'c-esc' WHERE run_id = '$done_run'},
	'nor start a superuser\'s finished run again');
refused(q{UPDATE stategraph.graphs SET owner = 'carol' WHERE graph = 'su_graph'},
	'nor take a superuser\'s graph');
refused(q{UPDATE stategraph.nodes SET fn = 'esc(jsonb)'::regprocedure WHERE graph = 'su_graph'},
	'nor give it a node of hers');
refused(q{INSERT INTO stategraph.edges (graph, sources, target) VALUES ('su_graph', '{a}', 'a')},
	'nor an edge');
refused(q{UPDATE stategraph.threads SET graph = 'cg' WHERE thread_id = 'su-thread'},
	'nor point a superuser\'s thread at her graph');
refused(q{INSERT INTO stategraph.steps_left (thread_id, checkpoint_id, owner)
          SELECT thread_id, head, 'postgres' FROM stategraph.threads WHERE thread_id = 'su-thread'},
	'nor note a superuser\'s step as left (the sweep continues it as the superuser)');
refused(q{INSERT INTO stategraph.tasks (task_id, queue, graph, thread_id, checkpoint_id, node, step, max_attempts,
          backoff_ms, lease, config, owner)
          SELECT 'forged', 'q', 'su_graph', thread_id, head, 'a', 1, 1, 0, '1 hour', '{}', 'postgres'
            FROM stategraph.threads WHERE thread_id = 'su-thread'},
	'nor queue a task of the superuser\'s (its completion leaves a note of the superuser\'s)');
refused(q{DELETE FROM stategraph.graphs WHERE graph = 'su_graph'},
	'nor delete a superuser\'s graph (to make it again under its name and generation)');
refused(q{DELETE FROM stategraph.nodes WHERE graph = 'su_graph'},
	'nor its nodes');
my ($rc, $out, $err) = $node->psql('postgres', q{\set VERBOSITY verbose
    SET ROLE carol;
    INSERT INTO stategraph.nodes (graph, node, fn, fn_owner) VALUES ('future', 'evil', 'esc(jsonb)', 'carol')});
like($err, qr/ERROR:  42501: permission denied to write a row of a graph that does not exist in table nodes/,
	'nor plant a node for a graph not made yet');
# through a view of hers, another role writes as the view's owner's policies say: the trigger sees the writer
$node->safe_psql('postgres', q{SET ROLE carol; CREATE VIEW carol_runs AS SELECT * FROM stategraph.runs;
    GRANT INSERT, SELECT ON carol_runs TO alice});
($rc, $out, $err) = $node->psql('postgres', q{\set VERBOSITY verbose
    SET ROLE alice;
    INSERT INTO carol_runs (run_id, thread_id, graph, recursion_limit, multitask, owner, input)
    VALUES (gen_random_uuid(), 'c-esc', 'cg', 25, 'reject', 'postgres', '{}')});
like($err, qr/ERROR:  42501: permission denied to write a row of role "postgres" in table runs/,
	'nor can another role through her view');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs WHERE graph = 'cg'}), '0',
	'no run of her graph is stored');

# what she may still do: her own rows, a cancel, a delete
is($node->safe_psql('postgres', qq{SET ROLE carol; SELECT sg_cancel('$su_run')}), 't',
	'she may cancel a superuser\'s run (nothing executes)');
my $own = $node->safe_psql('postgres', q{SET ROLE carol; SELECT sg_submit('cg', '{}', 'c-own')});
like($own, qr/^[0-9a-f-]{36}$/, 'and submit her own');
$node->safe_psql('postgres', q{GRANT postgres TO carol});
($rc, $out, $err) = $node->psql('postgres', q{SET ROLE carol;
    UPDATE stategraph.graphs SET compiled_at = compiled_at WHERE graph = 'su_graph'});
is($rc, 0, 'a member of the owner writes its rows as before') or diag($err);
$node->safe_psql('postgres', q{REVOKE postgres FROM carol});
ok(true_within($node, 30, q{SELECT status IN ('success', 'error') FROM stategraph.runs WHERE run_id = '} . $own . q{'}),
	'her own run ends');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'carol'}), 'f',
	'and she is no superuser');

# a run row of bob's on alice's thread does not hold up alice's left step
$node->safe_psql('postgres', q{
    SET ROLE alice;
    CREATE FUNCTION after_tool(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"log": ["after"]}'::jsonb $$;
    REVOKE EXECUTE ON FUNCTION after_tool(jsonb) FROM PUBLIC;   -- aw's completion leaves the step
    SELECT sg_create_graph('ext', '{"log": "append"}');
    SELECT sg_add_external_node('ext', 'tool', 'q');
    SELECT sg_add_node('ext', 'after', 'after_tool(jsonb)');
    SELECT sg_add_edge('ext', '__start__', 'tool');
    SELECT sg_add_edge('ext', 'tool', 'after');
    SELECT sg_add_edge('ext', 'after', '__end__');
    SELECT sg_compile('ext');
    SELECT sg_invoke('ext', '{}', thread_id => 'x1') IS NOT NULL;
    SELECT sg_invoke('ext', '{}', thread_id => 'x2') IS NOT NULL;
    SET ROLE bob;
    INSERT INTO stategraph.runs (run_id, thread_id, graph, recursion_limit, multitask, status)
    VALUES (gen_random_uuid(), 'x2', 'ext', 25, 'reject', 'waiting');
    INSERT INTO stategraph.tasks (task_id, queue, graph, thread_id, checkpoint_id, node, step, max_attempts, backoff_ms, lease, config)
    SELECT 'bob-planted', 'q2', 'ext', 'x2', head, 'tool', 1, 1, 0, '1 hour', '{}'
      FROM stategraph.threads WHERE thread_id = 'x2';
    SET ROLE aw;
    SELECT count(sg_complete(t.task_id, t.token, '{"log": ["tool done"]}')) FROM sg_claim('q', 'w1', 1) t;
    SET ROLE carol;   -- above row-level security, no member of alice: a worker for every role's queues
    SELECT count(sg_complete(t.task_id, t.token, '{"log": ["tool done"]}')) FROM sg_claim('q', 'w2', 1) t;
});
ok(true_within($node, 30, q{SELECT count(*) = 2 FROM stategraph.threads WHERE thread_id IN ('x1', 'x2') AND status = 'done'}),
	'both of alice\'s left steps go on (one completed by a BYPASSRLS worker), the one with bob\'s run and task rows too');

# a BYPASSRLS role's own run on alice's thread (it may run any thread, as itself) counts:
# its step's completion wakes it (it stayed waiting for good when only members' runs counted)
$node->safe_psql('postgres', q{
    SET ROLE alice;
    SELECT sg_create_graph('ext2', '{"log": "append"}');
    SELECT sg_add_external_node('ext2', 'tool', 'q3');
    SELECT sg_add_edge('ext2', '__start__', 'tool');
    SELECT sg_add_edge('ext2', 'tool', '__end__');
    SELECT sg_compile('ext2');
    SELECT sg_invoke('ext2', '{}', thread_id => 'x3') IS NOT NULL;
});
my $carols = $node->safe_psql('postgres', q{SET ROLE carol; SELECT sg_submit('ext2', '{}', 'x3')});
ok(true_within($node, 30, qq{SELECT status = 'waiting' FROM stategraph.runs WHERE run_id = '$carols'}),
	'her run on alice\'s thread waits on its task');
$node->safe_psql('postgres', q{SET ROLE carol;
    SELECT count(sg_complete(t.task_id, t.token, '{"log": ["done"]}')) FROM sg_claim('q3', 'w3', 10) t});
is($node->safe_psql('postgres', qq{SET ROLE carol; SELECT status FROM sg_wait('$carols', '30 s')}), 'success',
	'its completion wakes her run, which ends');

# rows of bob's on alice's expired threads do not keep them from her retention
$node->safe_psql('postgres', 'SET ROLE alice;' . one_node_graph_sql('g') . q{
    SELECT sg_invoke('g', '{}', thread_id => t) IS NOT NULL FROM unnest(ARRAY['a1', 'a2', 'a3']) t;
    SET ROLE bob;
    INSERT INTO stategraph.runs (run_id, thread_id, graph, recursion_limit, multitask, status)
    VALUES (gen_random_uuid(), 'a1', 'g', 25, 'reject', 'waiting');
    INSERT INTO stategraph.tasks (task_id, queue, graph, thread_id, checkpoint_id, node, step, max_attempts, backoff_ms, lease, config)
    VALUES ('bob-planted-2', 'q', 'g', 'a2', gen_random_uuid(), 'n', 1, 1, 0, '1 hour', '{}');
    SET ROLE alice;
    SELECT sg_set_retention('g', '1 second');
});
sleep(2);
$node->safe_psql('postgres', q{CALL sg_work()});
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.threads WHERE thread_id IN ('a1', 'a2', 'a3')}), '0',
	'the retention sweep removes all three of alice\'s expired threads');

# rows of a renamed role: no member of the old name can be asked for, so only a superuser gives them away
$node->safe_psql('postgres', q{ALTER ROLE bob RENAME TO bob2; GRANT bob2 TO carol});
($rc, $out, $err) = $node->psql('postgres', q{\set VERBOSITY verbose
    SET ROLE carol; SELECT sg_reassign_owned('bob', 'bob2')});
like($err, qr/ERROR:  42501: permission denied to reassign the stategraph rows of role "bob" to role "bob2"\nDETAIL:  Role "bob" does not exist \(renamed or dropped\): only a superuser may give its rows away/,
	'a BYPASSRLS member of the new name may not reassign the old name\'s rows, and is told why');
is($node->safe_psql('postgres', q{SELECT sg_reassign_owned('bob', 'bob2') > 0}), 't', 'a superuser may');

$node->stop;
done_testing();
