# Runs of a thread go in seq order (FIFO), also across roles. Before the
# thread exists, thread_ids.c's active_run_before counts an earlier run only
# if its role is a member of the candidate's role: alice's run, queued
# first on a new thread id (delayed with after), does not count for the run
# her member bob queues behind it ('enqueue': he sees hers). bob's run is
# taken first, creates the thread as bob, and alice's run, when it comes,
# finds a thread she may not act on. With FIFO, alice's run creates her
# thread and bob's (a member of alice) goes on on it.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('new_thread_fifo_across_roles', <<'CONF');
stategraph.max_workers = 2
stategraph.sweep_interval = 3600
CONF
go_graphs($node, 0);
$node->safe_psql('postgres', q{CREATE ROLE alice; CREATE ROLE bob IN ROLE alice});

my $alices = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('g', '{}', 'n1', after => '3 seconds')});
my $bobs = $node->safe_psql('postgres', q{SET ROLE bob; SELECT sg_submit('g', '{}', 'n1', multitask => 'enqueue')});
is($node->safe_psql('postgres', qq{SELECT string_agg(owner, ' ' ORDER BY seq) FROM stategraph.runs WHERE thread_id = 'n1'}),
	'alice bob', "alice's run first on thread n1, bob's queued behind it");

ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM stategraph.runs WHERE status IN ('pending', 'running', 'waiting')}),
	'both runs end');
is($node->safe_psql('postgres', qq{SELECT string_agg(owner || ':' || status, ' ' ORDER BY started_at) FROM stategraph.runs}),
	'alice:success bob:success', "alice's run started first, bob's after it; both succeed");
is($node->safe_psql('postgres', q{SELECT owner FROM stategraph.threads WHERE thread_id = 'n1'}),
	'alice', "the thread is alice's, created by her run (the first)");
diag($node->safe_psql('postgres', q{SELECT owner || ' ' || status || ' ' || coalesce(error::text, '') FROM stategraph.runs ORDER BY seq}));

$node->stop;
done_testing();
