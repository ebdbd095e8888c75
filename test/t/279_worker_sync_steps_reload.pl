# stategraph.worker_sync_steps takes effect on a reload (README, Settings):
# a worker set synchronous_commit off for its session as it started, when
# the setting was off, and never looked again: the first worker of a
# database, which never leaves, went on committing its steps without
# waiting for the disk after a reload turned the setting on (and one
# started with it on kept waiting after it was turned off). The worker now
# applies the setting at every reload; with it on, its steps commit as the
# server's synchronous_commit says.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use Time::HiRes qw(usleep);

my $node = preloaded_node('worker_sync_steps_reload', "stategraph.max_workers = 1\n");
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE seen (run int, sync text, pid int);
    CREATE FUNCTION note(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
        INSERT INTO seen VALUES ((state->>'n')::int, current_setting('synchronous_commit'), pg_backend_pid());
        SELECT '{}'::jsonb $$;
    SELECT sg_create_graph('g', '{"n": "replace"}');
    SELECT sg_add_node('g', 'a', 'note(jsonb)');
    SELECT sg_add_edge('g', '__start__', 'a');
    SELECT sg_add_edge('g', 'a', '__end__');
    SELECT sg_compile('g');
});

# a run, and what synchronous_commit its step ran under
sub step_sync
{
	my ($n) = @_;
	my $rid = $node->safe_psql('postgres', "SELECT sg_submit('g', '{\"n\": $n}')");
	$node->safe_psql('postgres', "SELECT status FROM sg_wait('$rid', '30 s')");
	return $node->safe_psql('postgres', "SELECT sync || ' ' || pid FROM seen WHERE run = $n");
}

sub set_sync_steps
{
	my ($value) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET stategraph.worker_sync_steps = $value");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	$node->poll_query_until('postgres', 'SHOW stategraph.worker_sync_steps', $value);
	usleep(500_000);	# (the worker's SIGHUP)
}

my ($sync, $pid) = split / /, step_sync(1);
is($sync, 'off', 'worker_sync_steps off: a step commits asynchronously');
set_sync_steps('on');
my ($sync2, $pid2) = split / /, step_sync(2);
is($pid2, $pid, 'the same worker executes the next run');
is($sync2, 'on', 'after a reload that turns worker_sync_steps on, its steps wait for the disk');
set_sync_steps('off');
my ($sync3, $pid3) = split / /, step_sync(3);
is("$sync3 $pid3", "off $pid", 'turned off again: asynchronous again, in the same worker');

# a worker that starts with the setting on keeps the server's synchronous_commit
set_sync_steps('on');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok($node->poll_query_until('postgres', qq{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'stategraph worker' AND pid <> $pid}), 'a new worker starts');
my ($sync4, $pid4) = split / /, step_sync(4);
is($sync4, 'on', 'a worker started with worker_sync_steps on commits its steps synchronously');
set_sync_steps('off');
my ($sync5, $pid5) = split / /, step_sync(5);
is("$sync5 $pid5", "off $pid4", 'and turned off, asynchronously');

$node->stop;
done_testing();
