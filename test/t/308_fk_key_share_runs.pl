# A user table with a foreign key to stategraph.runs or stategraph.threads
# (jobs.run_id, conversations.thread_id): the INSERT's foreign key check
# takes FOR KEY SHARE on the referenced row until its transaction ends. A
# claim took the run's row FOR UPDATE SKIP LOCKED, and a step its thread's
# row FOR UPDATE, both in conflict with FOR KEY SHARE: the run was passed
# over (or its step waited) for as long as the inserting transaction
# stayed open, and sg_wait in that transaction was refused (25001). Now
# the claim, the cancel and the step lock the rows FOR NO KEY UPDATE
# (they never change a key): the run starts and ends while the
# referencing transaction is open, and sg_wait there waits for it and
# returns success. FOR SHARE and FOR UPDATE still hold the run up, and
# sg_wait in their transaction is still 25001 (as TAP 307 asserts); a
# run passed over because of such a lock is taken within about a second
# of its release (workers look again while a due run is blocked), not
# left for the next submit.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use SGNode;

my $node = preloaded_node('fk_key_share_runs', "stategraph.max_workers = 2\n");
nap_graph($node, 'nap');

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{
    CREATE TABLE jobs (job serial PRIMARY KEY, run_id uuid NOT NULL REFERENCES stategraph.runs (run_id));
    CREATE TABLE conversations (id serial PRIMARY KEY, thread_id text NOT NULL REFERENCES stategraph.threads);
});

# 1. Another session's open transaction references the queued run and its
# thread: the run is claimed and ends while that transaction is open.
{
	my ($first, $queued) = running_and_queued($node, 'fk-other', 2);
	my $other = $node->background_psql('postgres');
	$other->query_safe(qq{BEGIN; INSERT INTO jobs (run_id) VALUES ('$queued');
	    INSERT INTO conversations (thread_id) VALUES ('fk-other')});
	ok($node->poll_query_until('postgres',
			qq{SELECT status = 'success' FROM stategraph.runs WHERE run_id = '$queued'}),
		'a run whose row and thread row another open transaction references: it ends meanwhile');
	is($other->query_safe(q{SELECT count(*) FROM jobs}), '1', 'the referencing transaction is still open');
	$other->query_safe('COMMIT');
	$other->quit;
	is(sql(q{SELECT count(*) FROM jobs}) . '|' . sql(q{SELECT count(*) FROM conversations}), '1|1',
		'its rows committed after the run ended');
}

# 2. sg_wait in the transaction that references the run (and its thread,
# and the run ahead of it): it waits and returns success.
{
	my ($first, $queued) = running_and_queued($node, 'fk-own', 2);
	my ($what, $took) = wait_in_transaction($node, qq{
	    INSERT INTO jobs (run_id) VALUES ('$queued'), ('$first');
	    INSERT INTO conversations (thread_id) VALUES ('fk-own')}, $queued, '30 s',
		"SELECT count(*) FROM jobs WHERE run_id = '$queued'");
	is($what, "success\n1", 'sg_wait in the transaction that references the run and its thread: success');
	cmp_ok($took, '<', 25, 'not at its timeout');
	is(sql(qq{SELECT status FROM stategraph.runs WHERE run_id = '$queued'}), 'success',
		'the run ended while the transaction was open (rolled back after)');
}

# 3. FOR SHARE and FOR UPDATE of the run's row or its thread's row still
# hold it up: sg_wait in that transaction is 25001 at once.
for my $mode ('FOR SHARE', 'FOR UPDATE')
{
	(my $thread = 'fk-' . lc $mode) =~ s/ /-/g;
	my ($first, $queued) = running_and_queued($node, $thread, 3);
	my ($what, $took) = wait_in_transaction($node,
		"INSERT INTO jobs (run_id) VALUES ('$queued'); SELECT 1 FROM stategraph.runs WHERE run_id = '$queued' $mode",
		$queued, '8 s', "SELECT count(*) FROM jobs WHERE run_id = '$queued'");
	is($what, '25001 sg_wait cannot wait for a run this transaction locked',
		"a reference and $mode of the run's row: 25001");
	cmp_ok($took, '<', 6, "$mode of the run's row: at once");
	($what, $took) = wait_in_transaction($node,
		"INSERT INTO conversations (thread_id) VALUES ('$thread'); "
		. "SELECT 1 FROM stategraph.threads WHERE thread_id = '$thread' $mode",
		$queued, '8 s', "SELECT count(*) FROM jobs WHERE run_id = '$queued'");
	is($what, '25001 sg_wait cannot wait for a run whose thread this transaction locked',
		"a reference and $mode of the thread's row: 25001");
	cmp_ok($took, '<', 6, "$mode of the thread's row: at once");
	is(sql(qq{SELECT status FROM sg_wait('$queued', '30 s')}), 'success', "$mode: the run then ends");
}

# 4. A due run passed over for another session's FOR SHARE of its row is
# taken soon after that lock goes (a worker looks again while a due run
# is blocked), with no submit or notify in between.
{
	# (the other session connected first, and the run ahead naps 3 s: on a
	# loaded machine the queued run had ended before a lock taken after a
	# new connection and a 1 s nap)
	my $other = $node->background_psql('postgres');
	my ($first, $queued) = running_and_queued($node, 'fk-share-release', 3);
	$other->query_safe('BEGIN');
	is($other->query_safe(qq{SELECT status FROM stategraph.runs WHERE run_id = '$queued' FOR SHARE}), 'pending',
		'FOR SHARE of the queued run, taken while it waits behind the run ahead');
	ok($node->poll_query_until('postgres',
			qq{SELECT status = 'success' FROM stategraph.runs WHERE run_id = '$first'}),
		'FOR SHARE of the queued run: the run ahead ends');
	usleep(2_500_000);
	is(sql(qq{SELECT status FROM stategraph.runs WHERE run_id = '$queued'}), 'pending',
		'FOR SHARE of another session: the run is passed over while it is held');
	$other->query_safe('COMMIT');
	my $start = time;
	ok($node->poll_query_until('postgres',
			qq{SELECT status = 'success' FROM stategraph.runs WHERE run_id = '$queued'}),
		'the lock gone, the run ends');
	cmp_ok(time - $start, '<', 5, 'within seconds of the lock going, with no submit in between');
	$other->quit;
}

$node->stop;
done_testing();
