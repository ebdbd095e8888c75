# A run queued on a thread while the run that a background worker executes
# on it is ending is not left behind claim_from until the next sweep.
# Claims pass the pending runs of a thread that a live worker holds (its
# slot publishes the thread, worker.c worker_executes), and the end of the
# worker's run lowers claim_from to the thread's next run, which the
# statement that ends the run looks up (runs.c, record_step). A run queued
# after that statement's snapshot is not seen there: the claims that passed
# it must not have seen the thread held, so the worker's slot is cleared
# before that statement starts. Here a trigger holds the run's end in that
# statement (an advisory lock the test holds) while a run is queued behind
# it ('enqueue') and another thread's run is claimed after it; the queued
# run must start once the first ends, not at the sweep (an hour here).
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('claim_from_end_race', <<'CONF');
stategraph.max_workers = 3
stategraph.sweep_interval = 3600
CONF
go_graphs($node);
$node->safe_psql('postgres', q{
    -- the end of a run of thread chat waits for advisory lock 71 in the statement that records it
    CREATE FUNCTION hold_end() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.thread_id = 'chat' AND OLD.status = 'running' AND NEW.status = 'success' THEN
            PERFORM pg_advisory_xact_lock(71);
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER hold_end BEFORE UPDATE ON stategraph.runs FOR EACH ROW EXECUTE FUNCTION hold_end();
});

my $holder = $node->background_psql('postgres');
$holder->query_safe('SELECT pg_advisory_lock(71)');

# 1. a worker executes a run of thread chat; its node returns, and the
# statement that records the run's end waits for the lock
my $first = $node->safe_psql('postgres', q{SELECT sg_submit('long', '{}', 'chat')});
ok($node->poll_query_until('postgres',
	qq{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'stategraph run $first'}),
	'a worker executes the run of thread chat');
$node->safe_psql('postgres', q{INSERT INTO go VALUES ('chat')});
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	  WHERE l.locktype = 'advisory' AND l.objid = 71 AND NOT l.granted AND a.backend_type = 'stategraph worker'}),
	'its end waits in the statement that records it');

# 2. meanwhile a run is queued behind it, and then a run of another thread
# is submitted and executed (its claim passes the queued run)
my $queued = $node->safe_psql('postgres', q{SELECT sg_submit('long', '{}', 'chat', multitask => 'enqueue')});
my $other = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{}')});
ok($node->poll_query_until('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$other'}, 'success'),
	'the run of another thread submitted after it runs');
is($node->safe_psql('postgres', qq{SELECT string_agg(status, ' ' ORDER BY seq) FROM stategraph.runs WHERE run_id IN ('$first', '$queued')}),
	'running pending', 'the first run is still ending, the queued run waits');

# 3. the first run ends: the run queued behind it starts at once, not at the sweep
$holder->query_safe('SELECT pg_advisory_unlock(71)');
$holder->quit;
ok($node->poll_query_until('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$first'}, 'success'),
	'the first run ends');
ok($node->poll_query_until('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$queued'}, 'success'),
	'the run queued behind it while it ended runs then');

$node->stop;
done_testing();
