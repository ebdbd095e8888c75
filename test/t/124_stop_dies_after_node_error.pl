# A run asked to stop with 'rollback' whose last step's node fails keeps
# the node's error in its 'error' (TAP 083), also when the stop fails and
# is tried again (TAP 092). But the error was kept only in the memory of
# the worker until the stop's transaction committed: a worker that died
# during the stop (here killed while the stop's rollback waits in a
# trigger on stategraph.checkpoints) lost it, and the stop, done again by
# the claim that recovered the run, ended it cancelled with error NULL.
# The error is now recorded on the run (committed, with the failed step)
# before the stop.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('stop_dies', qq{
stategraph.max_workers = 1
restart_after_crash = on
});
stop_graph($node);
$node->safe_psql('postgres', wait_then_fail_graph('h'));
# a rollback (a delete of checkpoints) waits while table fault has a row
# (sequence in_stop, not rolled back, says that it has come)
$node->safe_psql('postgres', q{
    CREATE SEQUENCE in_stop;
    GRANT USAGE ON SEQUENCE in_stop TO PUBLIC;
    CREATE OR REPLACE FUNCTION fail_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM nextval('in_stop');
        WHILE EXISTS (SELECT FROM fault) LOOP
            PERFORM pg_sleep(0.05);
        END LOOP;
        RETURN NULL;
    END $$;
});

my $t = 'stopped';
$node->safe_psql('postgres', qq{SELECT sg_invoke('h', '{"n": 0, "wait": false, "fail": false}', '$t')});
my $before = $node->safe_psql('postgres', qq{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = '$t'});
my $rid = $node->safe_psql('postgres', qq{SELECT sg_submit('h', '{"n": 10, "wait": true, "fail": true}', '$t')});
wait_in_last_step($node, 'worker', 'worker');
$node->safe_psql('postgres', q{INSERT INTO fault DEFAULT VALUES});
is($node->safe_psql('postgres', qq{SELECT sg_cancel('$rid', 'rollback')}), 't', 'the run is asked to stop');
# its node fails, then its stop waits in the trigger
$node->safe_psql('postgres', qq{INSERT INTO go VALUES ('$t')});
ok($node->poll_query_until('postgres', q{SELECT is_called FROM in_stop}), 'the stop waits in its rollback');
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'stategraph worker'});
kill 'KILL', $pid;
ok(back_after_kill($node, $pid), 'the server is back after the worker died');
$node->safe_psql('postgres', q{DELETE FROM fault});

is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$rid', '60 s')}), 'cancelled',
	'the run is stopped by the claim that recovered it');
is($node->safe_psql('postgres', qq{
		SELECT concat_ws(' ', status, error->>'sqlstate', error->>'node', error->>'message', recoveries)
		FROM stategraph.runs WHERE run_id = '$rid'}),
	'cancelled 22000 second the tool failed 1', "the node's error is the run's, after a recovery");
is($node->safe_psql('postgres', qq{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = '$t'}), $before,
	"the thread has none of the stopped run's checkpoints");

$node->stop;
done_testing();
