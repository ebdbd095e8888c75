# CALL sg_work lets go of the session-level advisory locks a run's nodes
# took (pg_advisory_lock), as a worker does after every run, and keeps its
# caller's own. It kept them: after a superuser's CALL sg_work executed
# alice's run whose node took pg_advisory_lock(4242), the caller's session
# still held key 4242 (pg_locks), so alice's applications waited for it for
# as long as that session lived, and later runs in the same call, of any
# role, took the key again without waiting.
# No preload: only CALL sg_work executes runs here.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('work_advisory_locks');
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE ROLE alice;
    CREATE ROLE carol IN ROLE alice;
    CREATE FUNCTION take_lock(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_advisory_lock(4242);
        PERFORM pg_advisory_lock_shared(1, 2);
        RETURN '{"n": 1}';
    END $$;
    GRANT EXECUTE ON FUNCTION take_lock(jsonb) TO alice;
    SELECT sg_create_graph('g', '{"n": "replace"}');
    SELECT sg_add_node('g', 'a', 'take_lock(jsonb)');
    SELECT sg_add_edge('g', '__start__', 'a');
    SELECT sg_add_edge('g', 'a', '__end__');
    SELECT sg_compile('g');
    SET ROLE alice;
    SELECT sg_submit('g', '{}', 't1');
});

my $held = q{SELECT coalesce(string_agg(objid || '/' || objsubid || '/' || mode, ',' ORDER BY objid, mode), 'none')
    FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'};

# a superuser's call (a pg_cron job's, say), holding nothing of its own
is($node->safe_psql('postgres', "CALL sg_work();\n$held"), 'none',
	"the caller's session holds none of the run's advisory locks after CALL sg_work");
is($node->safe_psql('postgres', q{SELECT status FROM sg_runs('t1')}), 'success', 'the run succeeded');

# a member's call that holds advisory locks of its own: those stay
$node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('g', '{}', 't2'); SELECT sg_submit('g', '{}', 't3')});
is($node->safe_psql('postgres', qq{
    SET ROLE carol;
    SELECT pg_advisory_lock(7), pg_advisory_lock_shared(8);
    CALL sg_work();
    $held}, on_error_stop => 1),
	"|\n7/1/ExclusiveLock,8/1/ShareLock",
	"the caller's own advisory locks stay, the runs' go");
is($node->safe_psql('postgres', q{SELECT string_agg(status, ',') FROM sg_runs() WHERE thread_id IN ('t2', 't3')}),
	'success,success', 'both runs succeeded');

$node->stop;
done_testing();
