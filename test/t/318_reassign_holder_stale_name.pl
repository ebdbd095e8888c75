# The holders of a role name (reassign.c) other than the claim (TAP 312
# case 3), and a reassign that commits between a holder's read of the
# name and its hold. A call reads the name its rows go under (the owner of
# a LangGraph.js thread), then holds it in share mode against
# sg_reassign_owned, which takes the old name exclusively first. When
# sg_reassign_owned('alice', 'bob') commits between the read and the
# hold, the hold of alice's name (free now) does not wait, and the call
# goes on to write rows of bob's (each writing statement reads the owner
# anew) without holding bob's name: a reassign of bob to carol in flight,
# which holds bob's name and waits for no one else, then updates bob's
# rows without the call's, uncommitted: they stay bob's in carol's thread,
# unseen by her. Now each holder reads the name again once it holds it,
# in a statement it runs anyway, and holds the new one (waiting for the
# reassign of bob) until a read finds the name it holds.
#
# Cases 1-3 (sg_lg_put, sg_lg_put_writes, sg_lg_delete_thread): role w, a
# member of alice, bob and carol, makes the call in a transaction; a
# test-only restrictive policy holds its first read of the table the name
# is read from up (advisory lock 9, which the test holds, taken by the
# policy's function for the transaction: the later reads go through).
# Meanwhile sg_reassign_owned('alice', 'bob') commits, and
# sg_reassign_owned('bob', 'carol') holds bob's name and waits for the row
# of bob's stategraph thread 'parked' that a session holds. Then the call
# goes on. Case 4: sg_submit's hold of its role's own name, across a
# rename. Case 5: sg_submit's key of a thread, across two reassigns.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SGNode;
use Test::More;

# no workers: nothing but the test's sessions takes locks
my $node = plain_node('reassign_holder_stale');
$node->safe_psql('postgres', extension_and_roles_sql(qw(alice bob carol)) . q{
CREATE ROLE w;
GRANT alice, bob, carol TO w;
CREATE TABLE public.hold_scan (thread text);
GRANT SELECT ON public.hold_scan TO PUBLIC;
CREATE FUNCTION public.hold_scan(id text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM public.hold_scan h WHERE h.thread = id) THEN
        PERFORM pg_catalog.pg_advisory_xact_lock(9);
    END IF;
    RETURN true;
END $$;
-- the names among alice, bob, carol, dave, dave2 and erin whose hold (reassign.c: an advisory
-- lock keyed by hash_bytes_extended(name, 'RO')) session pid has (granted)
-- or waits for
CREATE FUNCTION public.names_held(pid int, granted boolean) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(r, ',' ORDER BY r), '') FROM unnest(ARRAY['alice', 'bob', 'carol', 'dave', 'dave2', 'erin']) r
    WHERE EXISTS (SELECT FROM pg_locks l WHERE l.pid = names_held.pid AND l.granted = names_held.granted
                  AND l.locktype = 'advisory' AND l.objsubid = 21071
                  AND l.classid::bigint = (hashtextextended(r, 21071) >> 32) & 4294967295
                  AND l.objid::bigint = hashtextextended(r, 21071) & 4294967295)
$$;
CREATE POLICY hold_scan ON stategraph.lg_checkpoints AS RESTRICTIVE FOR SELECT TO w
    USING (public.hold_scan(thread_id));
SET ROLE alice;
} . one_node_graph_sql('g') . q{
SELECT sg_invoke('g', '{}', 'parked');
RESET ROLE;
});
lg_chain_put($node);

# the condition on pg_locks (alias l) of role names' holds (reassign.c: field4 'RO')
my $role_hold = q{l.locktype = 'advisory' AND l.objsubid = 21071};

# The race, for the call $call (SQL, made by w in a transaction) on
# alice's thread $thread, whose first read the policy holds up. Returns
# the names the call waited for once it went on.
sub race
{
	my ($label, $thread, $call) = @_;
	my $holder = $node->background_psql('postgres');
	$holder->query_safe('SELECT pg_advisory_lock(9)');
	$node->safe_psql('postgres', qq{INSERT INTO public.hold_scan VALUES ('$thread')});

	my $caller = $node->background_psql('postgres');
	my $cpid = $caller->query_safe('SELECT pg_backend_pid()');
	$caller->query_until(qr/started/, qq{\\echo started\nBEGIN;\nSET ROLE w;\n$call;\n});
	ok($node->poll_query_until('postgres', qq{
		SELECT wait_event = 'advisory' AND public.names_held(a.pid, true) = ''
		FROM pg_stat_activity a WHERE a.pid = $cpid}),
		"$label: the call's read of the owner waits, none of the three names held yet");
	is($node->safe_psql('postgres', q{SELECT sg_reassign_owned('alice', 'bob') > 0}), 't',
		"$label: sg_reassign_owned(alice, bob) commits meanwhile");

	my ($row, $reassign, $reassign_err) = reassign_waits_on_row($node, 'bob', 'carol', 'parked', $label);

	# the call goes on: it ends (uncommitted) or waits for bob's name
	$holder->query_safe('SELECT pg_advisory_unlock(9)');
	ok($node->poll_query_until('postgres', qq{
		SELECT a.state = 'idle in transaction'
		    OR EXISTS (SELECT FROM pg_locks l WHERE l.pid = a.pid AND $role_hold AND NOT l.granted)
		FROM pg_stat_activity a WHERE a.pid = $cpid}), "$label: the call went on");
	my $waited = $node->safe_psql('postgres', qq{SELECT public.names_held($cpid, false)});
	# the reassign goes on: it ends, or waits for the call's transaction
	# (rows the call deleted, without holding bob's name)
	$row->query_safe('COMMIT');
	ok($node->poll_query_until('postgres', qq{
		SELECT state = 'idle in transaction' FROM pg_stat_activity WHERE pid = $cpid}),
		"$label: the call is done, uncommitted");
	ok($node->poll_query_until('postgres', q{
		SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'reassign'
		                   AND wait_event IS DISTINCT FROM 'transactionid')}),
		"$label: sg_reassign_owned(bob, carol) went on");
	$caller->query_safe('COMMIT');
	$reassign->finish;
	is($$reassign_err, '', "$label: sg_reassign_owned(bob, carol) ends without error");
	$caller->quit;
	$row->quit;
	$holder->quit;
	$node->safe_psql('postgres', qq{DELETE FROM public.hold_scan});
	return $waited;
}

# the owners of the rows of LangGraph.js thread $thread, and of each kind
sub lg_owners
{
	my ($thread) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT 'checkpoints ' || (SELECT string_agg(DISTINCT owner, ',') FROM stategraph.lg_checkpoints WHERE thread_id = '$thread')
		    || ', values ' || coalesce((SELECT string_agg(DISTINCT owner, ',') FROM stategraph.lg_blobs WHERE thread_id = '$thread'), 'none')
		    || ', writes ' || coalesce((SELECT string_agg(DISTINCT owner, ',') FROM stategraph.lg_writes WHERE thread_id = '$thread'), 'none')});
}

# alice's rows back to her, after a case
sub back_to_alice
{
	$node->safe_psql('postgres', q{SELECT sg_reassign_owned('carol', 'alice'), sg_reassign_owned('bob', 'alice')});
	return;
}

# --- 1. sg_lg_put -----------------------------------------------------------
# w puts the second checkpoint of alice's thread: its rows go under the
# thread's owner (LG_THREAD_OWNER), read when it holds the name and again
# in each insert.
$node->safe_psql('postgres', q{SET ROLE alice; SELECT lgput('put', 1)});
is(race('put', 'put', q{SELECT lgput('put', 2)}), 'bob', 'put: it waits for the reassign of bob');
is(lg_owners('put'), 'checkpoints carol, values carol, writes none',
	'put: every row of the thread is carol\'s, the put\'s too');
back_to_alice();

# --- 2. sg_lg_put_writes ----------------------------------------------------
# w stores a pending write of the first checkpoint of alice's thread
$node->safe_psql('postgres', q{SET ROLE alice; SELECT lgput('writes', 1)});
is(race('put_writes', 'writes', q{SELECT sg_lg_put_writes('writes', '', '1ef00000-0000-6000-8000-000000000001',
	'task', '[["m", "a write"]]', '')}), 'bob', 'put_writes: it waits for the reassign of bob');
is(lg_owners('writes'), 'checkpoints carol, values carol, writes carol',
	'put_writes: every row of the thread is carol\'s, the write too');
back_to_alice();

# --- 3. sg_lg_delete_thread -------------------------------------------------
# w deletes alice's thread: without bob's name, its deletes met the
# reassign of bob half done (a delete in another order than the
# reassign's updates deadlocked with it)
$node->safe_psql('postgres', q{SET ROLE alice; SELECT lgput('delete', 1), lgput('delete', 2)});
is(race('delete', 'delete', q{SELECT sg_lg_delete_thread('delete')}), 'bob',
	'delete: it waits for the reassign of bob');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.lg_checkpoints WHERE thread_id = 'delete'}), '0',
	'delete: the thread is gone');
back_to_alice();

# --- 4. sg_submit after a rename ----------------------------------------------
# The submitter's own name is read from the role cache, which a rename
# committed during the submit's statement has not reached yet: dave's
# submit, held up before sg_submit is called (advisory lock 9), while
# dave is renamed dave2 and sg_reassign_owned('dave', 'dave2') commits,
# and sg_reassign_owned('dave2', 'carol') holds dave2's name and waits for
# the row of dave2's thread 'dparked'. The submit held dave's name (free)
# and queued a run of dave2's (the insert's CURRENT_USER), unseen by the
# reassign of dave2: dave2's run left behind, of a graph carol's now. Now
# the name is read again once held, and the submit waits for the reassign
# of dave2: its run is one that dave2 submits after it.
$node->safe_psql('postgres', q{
CREATE ROLE dave;
GRANT USAGE, CREATE ON SCHEMA public TO dave;
SET ROLE dave;
} . one_step_graph_sql('dg', '{"n": "replace"}', 'one', 'one(jsonb)') . q{
SELECT sg_invoke('dg', '{}', 'dparked');
RESET ROLE;
});
{
	my $holder = $node->background_psql('postgres');
	$holder->query_safe('SELECT pg_advisory_lock(9)');
	my $caller = $node->background_psql('postgres', on_error_stop => 0);
	my $cpid = $caller->query_safe('SELECT pg_backend_pid()');
	$caller->query_safe('SET ROLE dave');
	$caller->query_until(qr/started/, qq{\\echo started\nBEGIN;\nSELECT sg_submit('dg', '{}') FROM (SELECT pg_advisory_xact_lock(9)) s;\n});
	ok($node->poll_query_until('postgres', qq{
		SELECT wait_event = 'advisory' AND public.names_held(a.pid, true) = ''
		FROM pg_stat_activity a WHERE a.pid = $cpid}),
		'submit: dave\'s submit waits before sg_submit, no name held');
	$node->safe_psql('postgres', q{ALTER ROLE dave RENAME TO dave2});
	ok($node->safe_psql('postgres', q{SELECT sg_reassign_owned('dave', 'dave2')}) > 0,
		'submit: dave renamed dave2, sg_reassign_owned(dave, dave2) commits meanwhile');
	my ($row, $reassign, $reassign_err) = reassign_waits_on_row($node, 'dave2', 'carol', 'dparked', 'submit');
	$holder->query_safe('SELECT pg_advisory_unlock(9)');
	ok($node->poll_query_until('postgres', qq{
		SELECT a.state LIKE 'idle in transaction%'
		    OR EXISTS (SELECT FROM pg_locks l WHERE l.pid = a.pid AND $role_hold AND NOT l.granted)
		FROM pg_stat_activity a WHERE a.pid = $cpid}), 'submit: the submit went on');
	is($node->safe_psql('postgres', qq{SELECT public.names_held($cpid, false)}), 'dave2',
		'submit: it waits for the reassign of dave2');
	$row->query_safe('COMMIT');
	ok($node->poll_query_until('postgres', qq{
		SELECT state LIKE 'idle in transaction%' FROM pg_stat_activity WHERE pid = $cpid}),
		'submit: the submit is done');
	$caller->query('COMMIT');
	$reassign->finish;
	is($$reassign_err, '', 'submit: sg_reassign_owned(dave2, carol) ends without error');
	$caller->quit;
	$row->quit;
	$holder->quit;
}

# --- 5. sg_submit to a thread, two reassigns -----------------------------------
# The submit lock of a thread (runs.c, sg_lock_thread_submits) is keyed by
# its owner's name: read, held, then read again in the key's statement,
# whose name, when another, is held in turn. Read before a second reassign
# committed, that one was stale too: the submit keyed by bob's name the
# thread that carol's reassign to erin, in flight, was moving, without
# waiting for it. Now the key's statement is run again until it reads a
# name held before it began. w submits to alice's thread 's'; a policy on
# stategraph.threads holds its first read up on advisory lock 9, its
# second (the key's statement) on lock 10.
$node->safe_psql('postgres', q{
CREATE ROLE erin;
GRANT erin TO w;
CREATE FUNCTION public.hold_twice(id text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM public.hold_scan h WHERE h.thread = id) THEN
        IF pg_catalog.pg_try_advisory_xact_lock(9) THEN
            PERFORM pg_catalog.pg_advisory_xact_lock(10);   -- a read after the first
        ELSE
            PERFORM pg_catalog.pg_advisory_xact_lock(9);
        END IF;
    END IF;
    RETURN true;
END $$;
CREATE POLICY hold_twice ON stategraph.threads AS RESTRICTIVE FOR SELECT TO w USING (public.hold_twice(thread_id));
SET ROLE alice;
SELECT sg_invoke('g', '{}', 's');
RESET ROLE;
INSERT INTO public.hold_scan VALUES ('s');
});
{
	my $holder = $node->background_psql('postgres');
	$holder->query_safe('SELECT pg_advisory_lock(9), pg_advisory_lock(10)');
	my $caller = $node->background_psql('postgres');
	my $cpid = $caller->query_safe('SELECT pg_backend_pid()');
	$caller->query_until(qr/started/, qq{\\echo started\nBEGIN;\nSET ROLE w;\nSELECT sg_submit('g', '{}', 's');\n});
	ok($node->poll_query_until('postgres', qq{
		SELECT wait_event = 'advisory' AND public.names_held(a.pid, true) = ''
		FROM pg_stat_activity a WHERE a.pid = $cpid}),
		'thread submit: the first read of the thread\'s owner waits');
	$node->safe_psql('postgres', q{SELECT sg_reassign_owned('alice', 'bob')});
	$holder->query_safe('SELECT pg_advisory_unlock(9)');
	ok($node->poll_query_until('postgres', qq{
		SELECT wait_event = 'advisory' AND public.names_held(a.pid, true) = 'alice'
		FROM pg_stat_activity a WHERE a.pid = $cpid}),
		'thread submit: it held alice\'s name (read before the reassign to bob), its key\'s statement waits');
	$node->safe_psql('postgres', q{SELECT sg_reassign_owned('bob', 'carol')});
	my ($row, $reassign, $reassign_err) = reassign_waits_on_row($node, 'carol', 'erin', 'parked', 'thread submit');
	$holder->query_safe('SELECT pg_advisory_unlock(10)');
	ok($node->poll_query_until('postgres', qq{
		SELECT a.state = 'idle in transaction'
		    OR EXISTS (SELECT FROM pg_locks l WHERE l.pid = a.pid AND $role_hold AND NOT l.granted)
		FROM pg_stat_activity a WHERE a.pid = $cpid}), 'thread submit: the submit went on');
	is($node->safe_psql('postgres', qq{SELECT public.names_held($cpid, false)}), 'carol',
		'thread submit: it waits for the reassign of carol');
	$row->query_safe('COMMIT');
	ok($node->poll_query_until('postgres', qq{
		SELECT state = 'idle in transaction' FROM pg_stat_activity WHERE pid = $cpid}),
		'thread submit: the submit is done, uncommitted');
	$reassign->finish;
	is($$reassign_err, '', 'thread submit: sg_reassign_owned(carol, erin) ends without error');
	is($node->safe_psql('postgres', qq{SELECT public.names_held($cpid, true)}), 'alice,bob,carol,erin',
		'thread submit: it holds the names it read, the thread\'s owner\'s, erin, last');
	$caller->query_safe('COMMIT');
	$caller->quit;
	$row->quit;
	$holder->quit;
}

ok(no_advisory_lock_left($node), 'no advisory lock is left');
$node->stop;
done_testing();
