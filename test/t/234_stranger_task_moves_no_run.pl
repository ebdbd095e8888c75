# A stranger (mallory, no membership) writes a task row of her own on
# alice's thread t1 (tasks is writable by PUBLIC under RLS: owner = mallory)
# and completes it. alice's background run waits on t1 for alice's task,
# which is still out. mallory's completion must not touch alice's run: the
# look for a run hidden from the completer, which a member role's run needs
# (TAP 231), found alice's and made it pending again as alice, and a worker
# took it again (sg_thread_hidden_step_run_role now asks that the caller may
# act on the thread).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('stranger_task_run', <<'CONF');
stategraph.max_workers = 2
stategraph.sweep_interval = 3600
CONF
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE ROLE alice; CREATE ROLE mallory;
    SET ROLE alice;
} . ext_graph_sql(q{'{"max_attempts": 1}'}));

my $run = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('ext', '{}', 't1')});
ok($node->poll_query_until('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$run'}, 'waiting'),
	"alice's run waits for its task");

my ($rc, $out, $err) = $node->psql('postgres', q{SET ROLE mallory;
	INSERT INTO stategraph.tasks (task_id, queue, graph, thread_id, checkpoint_id, node, step, status,
		max_attempts, backoff_ms, lease, token, config, lease_expires_at)
	VALUES ('evil', 'q', 'ext', 't1', gen_random_uuid(), 'ask', 1, 'claimed', 1, 0, '1 minute',
		'00000000-0000-0000-0000-000000000001', '{}', now() + interval '1 minute');
	SELECT sg_complete('evil', '00000000-0000-0000-0000-000000000001', '{"answer": 9}');});
is($rc, 0, "mallory's completion of her own task row is accepted") or diag($err);
sleep 3;    # (a worker would take the run again within this)
is($node->safe_psql('postgres', qq{SELECT status || ' attempt ' || attempt FROM stategraph.runs WHERE run_id = '$run'}), 'waiting attempt 1',
	"alice's run was not moved (made pending, taken again) by mallory's completion");
diag('after: runs ' . $node->safe_psql('postgres', q{SELECT string_agg(owner || ':' || status || ':' || coalesce(error::text,''), ' ' ORDER BY seq) FROM stategraph.runs})
	. ' / thread ' . $node->safe_psql('postgres', q{SELECT status FROM stategraph.threads WHERE thread_id = 't1'})
	. ' / tasks ' . $node->safe_psql('postgres', q{SELECT string_agg(task_id || ':' || owner || ':' || status, ' ' ORDER BY seq) FROM stategraph.tasks}));
$node->stop;
done_testing();
