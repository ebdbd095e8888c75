# sg_wait in a transaction that holds a row lock of its own on the run it
# waits for (SELECT ... FROM stategraph.runs ... FOR SHARE / FOR NO KEY
# UPDATE / FOR UPDATE; PUBLIC may lock run rows), on its
# thread's row, or on an active run ahead of it on its thread. A claim
# passes over a locked run (FOR NO KEY UPDATE SKIP LOCKED), a run's executor
# waits for the lock to record its step or its end, and a thread row held
# keeps the run's next step waiting: the run cannot go on before the
# waiter's transaction ends. sg_wait only compared the rows' xmin (rows
# this transaction wrote), so it slept until its timeout beside the worker
# that waited for its own lock. Now it is 25001 at once, as for a run or
# thread the transaction changed, also when the lock is one member of a
# MultiXact (another session locks the row too). A lock that another
# session holds, or one taken in a subtransaction rolled back since, is no
# reason to refuse: sg_wait waits, and returns when the run ends after
# that lock goes. Nor is FOR KEY SHARE, a foreign key check's, which
# holds no run up (TAP 308): sg_wait waits for the run, which ends.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use SGNode;

my $node = preloaded_node('wait_own_row_lock', "stategraph.max_workers = 2\n");
nap_graph($node, 'nap');

sub sql { return $node->safe_psql('postgres', $_[0]); }

my $runs_locked = 'sg_wait cannot wait for a run this transaction locked';
my $thread_locked = 'sg_wait cannot wait for a run whose thread this transaction locked';

# the caller's own lock of the run's row, each strength: of a run queued
# behind a running one (no claim takes it), and of the running run (its
# executor waits to record its end, or a claim after a failure passes it
# over). The queued one first: once the running run ends, the worker goes
# on with it at once.
for my $mode ('FOR KEY SHARE', 'FOR SHARE', 'FOR NO KEY UPDATE', 'FOR UPDATE')
{
	(my $thread = lc $mode) =~ s/ /-/g;
	my ($first, $queued) = running_and_queued($node, $thread, 4);
	for my $case ([ 'queued', $queued ], [ 'running', $first ])
	{
		my ($label, $rid) = @$case;
		my ($what, $took) = wait_in_transaction($node,
			"SELECT 1 FROM stategraph.runs WHERE run_id = '$rid' $mode", $rid, '8 s');
		if ($mode eq 'FOR KEY SHARE')
		{
			# (a foreign key's lock: claims and executors lock FOR NO KEY UPDATE, TAP 308)
			is($what, 'success', "$mode of the $label run's row holds nothing up: sg_wait waits, the run ends");
			next;
		}
		is($what, "25001 $runs_locked", "$mode of the $label run's row: 25001 at once");
		cmp_ok($took, '<', 6, "$mode of the $label run's row: not a wait until the timeout");
	}
	is(sql(qq{SELECT status FROM sg_wait('$queued', '30 s')}), 'success',
		"$mode: once the lock is gone, the queued run ends");
}

# a MultiXact: another session's FOR SHARE and the caller's
{
	my ($first, $queued) = running_and_queued($node, 'multi', 4);
	my $other = $node->background_psql('postgres');
	$other->query_safe("BEGIN; SELECT 1 FROM stategraph.runs WHERE run_id = '$queued' FOR SHARE");
	my ($what, $took) = wait_in_transaction($node,
		"SELECT 1 FROM stategraph.runs WHERE run_id = '$queued' FOR SHARE", $queued, '8 s');
	is($what, "25001 $runs_locked", 'FOR SHARE of the caller and of another session (a MultiXact): 25001');
	cmp_ok($took, '<', 6, 'MultiXact: at once');
	# again with the caller's lock taken in a subtransaction, still open
	($what, $took) = wait_in_transaction($node,
		"SAVEPOINT s; SELECT 1 FROM stategraph.runs WHERE run_id = '$queued' FOR SHARE", $queued, '8 s');
	is($what, "25001 $runs_locked", 'MultiXact, the caller\'s lock in a subtransaction: 25001');
	$other->query_safe('COMMIT');
	$other->quit;
	is(sql(qq{SELECT status FROM sg_wait('$queued', '30 s')}), 'success', 'MultiXact: the queued run then ends');
}

# the thread's row, and an active run ahead of the awaited one
{
	my ($first, $queued) = running_and_queued($node, 'thread-row', 4);
	my ($what, $took) = wait_in_transaction($node,
		q{SELECT 1 FROM stategraph.threads WHERE thread_id = 'thread-row' FOR SHARE}, $queued, '8 s');
	is($what, "25001 $thread_locked", "FOR SHARE of the thread's row: 25001");
	cmp_ok($took, '<', 6, "the thread's row: at once");
	($what, $took) = wait_in_transaction($node,
		"SELECT 1 FROM stategraph.runs WHERE run_id = '$first' FOR SHARE", $queued, '8 s');
	is($what, "25001 $thread_locked", 'FOR SHARE of the running run ahead: 25001 for the queued one');
	cmp_ok($took, '<', 6, 'the run ahead: at once');
	# FOR KEY SHARE of the thread's row and of the run ahead (foreign keys'):
	# the step locks the thread FOR NO KEY UPDATE (TAP 308); the wait ends with the run
	($what, $took) = wait_in_transaction($node,
		q{SELECT 1 FROM stategraph.threads WHERE thread_id = 'thread-row' FOR KEY SHARE; }
		. "SELECT 1 FROM stategraph.runs WHERE run_id = '$first' FOR KEY SHARE", $queued, '30 s');
	is($what, 'success', "FOR KEY SHARE of the thread's row and the run ahead: sg_wait waits, the run ends");
}

# controls: a lock of another session (and one of two other sessions, a
# MultiXact without the caller) is waited out; a lock the caller took in
# a subtransaction it rolled back holds nothing
for my $others (1, 2)
{
	my ($first, $queued) = running_and_queued($node, "others-$others", 2);
	my @other = map { $node->background_psql('postgres') } 1 .. $others;
	$_->query_safe("BEGIN; SELECT 1 FROM stategraph.runs WHERE run_id = '$queued' FOR SHARE") for @other;
	my ($out, $err) = ('', '');
	my $start = time;
	# the caller's transaction has an ID (txid_current), as one holding a lock would
	my $waiter = IPC::Run::start(
		[ 'psql', '-X', '-Atq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-c',
		  "BEGIN; SELECT txid_current() > 0; SELECT status FROM sg_wait('$queued', '40 s'); COMMIT;" ],
		'>', \$out, '2>', \$err);
	my $waiting = q{SELECT count(*) FROM pg_stat_activity
	    WHERE state = 'active' AND query LIKE '%sg_wait(%' AND pid <> pg_backend_pid()};
	ok($node->poll_query_until('postgres', "SELECT ($waiting) = 1"),
		"$others other session(s) hold the queued run's row: sg_wait waits");
	ok($node->poll_query_until('postgres', qq{SELECT status = 'success' FROM stategraph.runs WHERE run_id = '$first'}),
		"$others other session(s): the run ahead ends");
	usleep(1_500_000);
	is(sql(qq{SELECT status FROM stategraph.runs WHERE run_id = '$queued'}), 'pending',
		"$others other session(s): the queued run stays pending while they hold its row");
	is(sql($waiting), '1', "$others other session(s): sg_wait still waits");
	$_->query_safe('COMMIT') for @other;
	$_->quit for @other;
	$waiter->finish;
	is("$out|$err", "t\nsuccess\n|", "$others other session(s): the wait ends with the run once the locks go");
	cmp_ok(time - $start, '<', 30, "$others other session(s): not at its timeout");
}
{
	my ($first, $queued) = running_and_queued($node, 'rolled-back-lock', 2);
	my ($what, $took) = wait_in_transaction($node,
		"SAVEPOINT s; SELECT 1 FROM stategraph.runs WHERE run_id = '$queued' FOR UPDATE; ROLLBACK TO s",
		$queued, '30 s');
	is($what, 'success', 'a lock of a subtransaction rolled back: sg_wait waits for the run, which ends');
}

# the lock check comes after the running-thread one: a node of a later
# step waiting for its own run is still 55000 (a run of a thread this
# session is running, TAP 246), whatever rows its step holds
sql(q{
    CREATE TABLE seen (sqlstate text);
    CREATE FUNCTION own_wait(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    DECLARE r uuid;
    BEGIN
        SELECT run_id INTO r FROM sg_runs(config->>'thread_id') WHERE status = 'running';
        BEGIN
            PERFORM sg_wait(r, '10 s');
            INSERT INTO seen VALUES ('none');
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO seen VALUES (SQLSTATE);
        END;
        RETURN '{}';
    END $$;
    SELECT sg_create_graph('second', '{"n": "add", "secs": "replace"}');
    SELECT sg_add_node('second', 'nap', 'public.nap(jsonb)');
    SELECT sg_add_node('second', 'w', 'own_wait(jsonb,jsonb)');
    SELECT sg_add_edge('second', '__start__', 'nap');
    SELECT sg_add_edge('second', 'nap', 'w');
    SELECT sg_add_edge('second', 'w', '__end__');
    SELECT sg_compile('second');
});
my $rid = sql(q{SELECT sg_submit('second', '{"secs": 0}', 'second-step')});
is(sql(qq{SELECT status FROM sg_wait('$rid', '30 s')}), 'success', 'a node waiting for its own run in its second step: the run ends');
is(sql(q{SELECT string_agg(sqlstate, ',') FROM seen}), '55000', 'its sg_wait: 55000, the running thread');

$node->stop;
done_testing();
