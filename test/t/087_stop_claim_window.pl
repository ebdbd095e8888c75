# A stop's claim commits before the stop (so that its executor's death
# counts a recovery); the thread's lock, taken with the claim, went with
# that commit and was taken again after it. A session waiting for the
# thread (a client's sg_invoke) got it in between: the executor could not
# take it again and left the run 'running' without an executor, so that
# the next claim counted a recovery (a death that never happened: with
# stategraph.max_run_recoveries low, a healthy stop ended SG014 without
# being done), and the 'rollback' done then removed the checkpoints that
# the client had written meanwhile. (Another executor could claim the run
# in between as well, as one whose executor died.) Now the thread is held
# across that commit: the client waits for the stop and runs on the
# rolled back thread.
# No preload: only CALL sg_work executes runs here.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use IPC::Run;

my $node = plain_node('stop_claim_window');
flaky_graph($node);

# a finished run, then one whose second step fails: pending, stepped, to be tried again
$node->safe_psql('postgres', q{SELECT sg_invoke('g', '{"n": 0}', 't')});
$node->safe_psql('postgres', q{INSERT INTO fault VALUES ('t')});
my $rid = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 10}', 't')});
$node->psql('postgres', 'CALL sg_work()', on_error_stop => 0);
is($node->safe_psql('postgres', qq{SELECT status || ' ' || failures || ' ' || stepped FROM stategraph.runs WHERE run_id = '$rid'}),
	'pending 1 true', 'the run failed in its second step and waits for its retry');
$node->safe_psql('postgres', qq{DELETE FROM fault; SELECT sg_cancel('$rid', 'rollback')});

# the claim of the stop sleeps, holding the thread, so that a client waits for the thread meanwhile
$node->safe_psql('postgres', q{
    CREATE FUNCTION slow_claim() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_sleep(3);
        RETURN NEW;
    END $$;
    CREATE TRIGGER slow_claim BEFORE UPDATE ON stategraph.runs FOR EACH ROW
        WHEN (OLD.status = 'pending' AND NEW.status = 'running' AND NEW.stop_request IS NOT NULL)
        EXECUTE FUNCTION slow_claim();
});
my ($wout, $werr, $cout, $cerr) = ('', '', '', '');
my $work = IPC::Run::start(
	[ 'psql', '-X', '-Atq', '-d', $node->connstr('postgres') . ' application_name=stopper', '-c', 'CALL sg_work()' ],
	'>', \$wout, '2>', \$werr);
ok($node->poll_query_until('postgres', q{
		SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE application_name = 'stopper'}),
	'the stop is being claimed');
my $client = IPC::Run::start(
	[ 'psql', '-X', '-Atq', '-d', $node->connstr('postgres') . ' application_name=client',
	  '-c', q{SELECT (sg_invoke('g', '{"n": 1000}', 't'))->>'n'} ],
	'>', \$cout, '2>', \$cerr);
ok($node->poll_query_until('postgres', q{
		SELECT EXISTS (SELECT FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		               WHERE a.application_name = 'client' AND l.locktype = 'advisory' AND NOT l.granted)}),
	'the client waits for the thread');
$work->finish;
$client->finish;
is($cout, "1002\n", 'the client\'s run succeeds') or diag($cerr);
# whatever is left of the stop
$node->safe_psql('postgres', 'CALL sg_work()');

is($node->safe_psql('postgres', qq{SELECT status || ' ' || recoveries || ' ' || attempt FROM stategraph.runs WHERE run_id = '$rid'}),
	'cancelled 0 2', 'the run is stopped, no recovery counted (no executor died)');
is($node->safe_psql('postgres', q{SELECT (sg_get_state('t')).values->>'n'}), '1002',
	'the thread has the client\'s run on it: the rollback was done before, not after it');

# The run's row was not locked from that commit to the stop's either: an
# sg_cancel(run_id, 'interrupt') during a 'rollback' stop returned true,
# the run ended cancelled 'interrupt', and yet its checkpoints were rolled
# back. Now the stop reads its request again under the row's lock: an
# sg_cancel that comes during the stop waits for it, and finds the run
# finished, as during a step's end.
$node->safe_psql('postgres', q{
    DROP TRIGGER slow_claim ON stategraph.runs;
    CREATE TABLE slow ();
    CREATE FUNCTION slow_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT FROM slow) THEN
            PERFORM pg_sleep(3);
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER slow_delete BEFORE DELETE ON stategraph.checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION slow_delete();
});
$node->safe_psql('postgres', q{SELECT sg_invoke('g', '{"n": 0}', 't2')});
my $before = $node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 't2'});
$node->safe_psql('postgres', q{INSERT INTO fault VALUES ('t2')});
$rid = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 10}', 't2')});
$node->psql('postgres', 'CALL sg_work()', on_error_stop => 0);
$node->safe_psql('postgres', qq{DELETE FROM fault; SELECT sg_cancel('$rid', 'rollback'); INSERT INTO slow DEFAULT VALUES});
($wout, $werr) = ('', '');
$work = IPC::Run::start(
	[ 'psql', '-X', '-Atq', '-d', $node->connstr('postgres') . ' application_name=stopper2', '-c', 'CALL sg_work()' ],
	'>', \$wout, '2>', \$werr);
ok($node->poll_query_until('postgres', q{
		SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE application_name = 'stopper2'}),
	'the rollback is under way');
is($node->safe_psql('postgres', qq{SELECT sg_cancel('$rid', 'interrupt')}), 'f',
	'an sg_cancel during the stop waits for it and finds the run finished');
$work->finish;
is($node->safe_psql('postgres', qq{SELECT status || ' ' || stop_request || ' ' || recoveries FROM stategraph.runs WHERE run_id = '$rid'}),
	'cancelled rollback 0', 'the run is cancelled as its stop says');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 't2'}), $before,
	'its checkpoints were rolled back');

$node->stop;
done_testing();
