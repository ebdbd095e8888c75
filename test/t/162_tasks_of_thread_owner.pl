# Tasks belong to their thread's owner (helper-125's findings 1 and 2).
#
# A worker role (a member of the thread's owner, as README asks) that
# completed a task carried the step on as itself, and the next step's task
# was the worker's: the owner did not see it, another worker role of the
# owner could not claim it, the owner's sg_delete_thread left it queued (a
# worker then completed a deleted thread's task), and the owner's resume
# failed with 23505 (it queued the task again, not seeing the row).
#
# A claim's lease (sg_claim(lease => ...)) was cut back to the node's lease
# by the first heartbeat: another worker took the task over while the
# first was still working on it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('tasks_of_thread_owner');
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE ROLE alice;
    CREATE ROLE wk;
    CREATE ROLE wk2;
    GRANT alice TO wk, wk2;
    SET ROLE alice;
    SELECT sg_create_graph('gl', '{"log": "append"}');
    SELECT sg_add_external_node('gl', 'm1', 'ql', '{"max_attempts": 2, "backoff_ms": 0}', '1 hour');
    SELECT sg_add_external_node('gl', 'm2', 'ql', '{"max_attempts": 2, "backoff_ms": 0}', '1 hour');
    SELECT sg_add_edge('gl', '__start__', 'm1');
    SELECT sg_add_edge('gl', 'm1', 'm2');
    SELECT sg_add_edge('gl', 'm2', '__end__');
    SELECT sg_compile('gl');
    SELECT sg_invoke('gl', '{}', thread_id => t) IS NOT NULL FROM unnest(ARRAY['tl1', 'tl2', 'tl3']) t;
});

# wk completes m1 of each thread: the step goes on as wk, m2 is queued
$node->safe_psql('postgres', q{
    SET ROLE wk;
    SELECT sg_complete(c.task_id, c.token, '{"log": ["m1"]}') FROM sg_claim('ql', 'wk', 3) c;
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.tasks WHERE node = 'm1' AND status = 'completed'}),
	'3', 'the worker completed m1 of the three threads');
is($node->safe_psql('postgres', q{SELECT string_agg(thread_id || ' ' || owner, ', ' ORDER BY thread_id)
    FROM stategraph.tasks WHERE node = 'm2' AND status = 'queued'}),
	'tl1 alice, tl2 alice, tl3 alice', 'the task of the step a worker carried on belongs to the thread\'s owner');
is($node->safe_psql('postgres', q{SET ROLE alice; SELECT string_agg(thread_id, ',' ORDER BY thread_id) FROM sg_tasks('ql', 'queued')}),
	'tl1,tl2,tl3', 'the owner sees it');

# the owner deletes tl2: its task is cancelled, and a worker's result refused
$node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_delete_thread('tl2')});
is($node->safe_psql('postgres', q{SELECT status FROM stategraph.tasks WHERE thread_id = 'tl2' AND node = 'm2'}),
	'cancelled', 'the owner\'s sg_delete_thread cancels it');

# the owner resumes tl3: no duplicate task, the thread waits for m2
is($node->safe_psql('postgres', q{SET ROLE alice;
    SELECT sg_invoke('gl', NULL, thread_id => 'tl3')->'__waiting__'->0->>'node'}),
	'm2', 'the owner\'s resume waits for the same task (no 23505)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.tasks WHERE thread_id = 'tl3' AND node = 'm2'}),
	'1', 'one task of m2 on tl3');

# another worker role of the owner claims and completes tl1's m2
is($node->safe_psql('postgres', q{SET ROLE wk2;
    SELECT count(sg_complete(c.task_id, c.token, '{"log": ["m2"]}')::text)
    FROM (SELECT * FROM sg_claim('ql', 'wk2', 3)) c WHERE c.thread_id = 'tl1'}),
	'1', 'another worker role of the owner claims it');
is($node->safe_psql('postgres', q{SET ROLE alice; SELECT status || ' ' || ((sg_get_state('tl1')).values->>'log') FROM sg_threads() WHERE thread_id = 'tl1'}),
	'done ["m1", "m2"]', 'and the thread ends');

# a claim's lease outlives a heartbeat without extend; one with the node's lease is extended by it
$node->safe_psql('postgres', q{
    SET ROLE alice;
    SELECT sg_create_graph('gn', '{"answer": "replace"}');
    SELECT sg_add_external_node('gn', 'nap', 'qn', '{"max_attempts": 3, "backoff_ms": 0}', '2 seconds');
    SELECT sg_add_edge('gn', '__start__', 'nap');
    SELECT sg_add_edge('gn', 'nap', '__end__');
    SELECT sg_compile('gn');
    SELECT sg_invoke('gn', '{}', thread_id => t) IS NOT NULL FROM unnest(ARRAY['tn1', 'tn2']) t;
});
my $left = q{SELECT extract(epoch FROM lease_expires_at - clock_timestamp())::int FROM stategraph.tasks WHERE thread_id = };
$node->safe_psql('postgres', q{SET ROLE wk;
    CREATE TEMP TABLE c1 AS SELECT * FROM sg_claim('qn', 'w1', lease => '1 minute') WHERE thread_id = 'tn1';
    SELECT sg_heartbeat(task_id, token) FROM c1;
    CREATE TEMP TABLE c2 AS SELECT * FROM sg_claim('qn', 'w2');
    SELECT sg_heartbeat(task_id, token) FROM c2;
});
cmp_ok($node->safe_psql('postgres', $left . q{'tn1'}), '>=', 55, 'a heartbeat without extend keeps the claim\'s lease of a minute');
cmp_ok($node->safe_psql('postgres', $left . q{'tn2'}), '<=', 2, 'and extends a claim with the node\'s lease by the node\'s lease');
sleep(3);
is($node->safe_psql('postgres', q{SET ROLE wk2; SELECT count(*) FROM sg_claim('qn', 'w3', 2)}), '1',
	'after the node\'s lease, only the task claimed with the node\'s lease is taken over');

$node->stop;
done_testing();
