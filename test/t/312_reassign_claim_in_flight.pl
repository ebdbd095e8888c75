# A background run's claim and sg_reassign_owned of its owner, in either
# order. A claim holds its run owner's name in share mode (reassign.c,
# sg_role_try_hold in runs.c's claim_checks), without waiting, until it
# commits with the run's first step; sg_reassign_owned takes that name
# exclusively first (stategraph.reassign_hold).
#
# 1. The claim first: its transaction stays open (a trigger on the input
#    checkpoint of its thread waits for an advisory lock), so the reassign
#    must wait for it (pg_locks: its exclusive request on the name, not
#    granted, behind the claim's share lock), without failing nor
#    deadlocking, and go on once the claim commits. The claim read alice:
#    the run's first step (its input and __start__, no node) is alice's;
#    the reassign then ends while node a, whose step the run took as alice
#    still, waits for another lock. That step fails (alice may not write
#    bob's thread), is rolled back and taken again as bob, without a
#    failure counted (README, Security; TAP 134): nodes a and b ran once
#    each, both as bob; the run and its thread are bob's.
#
# 2. The reassign first: alice's run committed and due, but the only
#    worker busy with carol's run; sg_reassign_owned('alice', 'bob') is
#    called in a transaction and held where only the name's hold keeps
#    claims off its runs: it has locked them FOR KEY SHARE (which a claim's
#    FOR NO KEY UPDATE does not meet) and waits for a row of alice's other
#    thread that a session holds. The worker, freed, claims carol's next
#    run, queued after alice's: it passed alice's over. Then the reassign
#    goes on to update the runs and stays uncommitted: alice's run still
#    does not start while carol's third run is claimed. Once it commits,
#    the run starts by itself (the reassign's commit wakes a worker),
#    succeeds as bob's, its nodes ran as bob, and the claims that passed
#    it over cost it nothing: first attempt, no death counted.
#    (Without the hold in claim_checks, the worker took the run as alice
#    while the reassign waited for the thread row: checked by hand.)
#
# 3. A reassign that commits between a claim's candidate scan and its
#    hold: the claim held alice's name, read in its snapshot, and began
#    the run as bob, whose reassign to carol, in flight, did not wait for
#    it: the run went to carol, the thread its first step created stayed
#    bob's, and the run ended with 42501 ("thread ... belongs to another
#    role"). Now a claim passes over a run whose locked row names another
#    owner than the name it holds (see below).
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SGNode;
use Test::More;

# The SQL of both clusters: roles alice, bob and carol; public.ran, each
# node's execution (thread, node, role); nodes a (which first waits for
# advisory lock state.hold, if given) and b; trigger hold_claim, by which
# the insert of the input checkpoint of a thread listed in
# public.hold_claim waits for advisory lock 2 (in the claim's
# transaction); alice's graph g, START -> a -> b -> END, and her thread
# 'parked', whose row cases 2 and 3 hold.
my $setup_sql = extension_and_roles_sql(qw(alice bob carol)) . q{
CREATE TABLE public.ran (thread text, node text, who text);
CREATE TABLE public.hold_claim (thread text);
GRANT INSERT, SELECT ON public.ran TO PUBLIC;
GRANT SELECT ON public.hold_claim TO PUBLIC;
CREATE FUNCTION public.a(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_catalog.pg_advisory_xact_lock((state->>'hold')::bigint) WHERE state->>'hold' IS NOT NULL;
    INSERT INTO public.ran VALUES (config->>'thread_id', 'a', current_user);
    SELECT '{}'::jsonb
$$;
CREATE FUNCTION public.b(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO public.ran VALUES (config->>'thread_id', 'b', current_user);
    SELECT '{}'::jsonb
$$;
GRANT EXECUTE ON FUNCTION public.a(jsonb, jsonb), public.b(jsonb, jsonb) TO PUBLIC;
CREATE FUNCTION public.hold_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM public.hold_claim h WHERE h.thread = NEW.thread_id) THEN
        PERFORM pg_catalog.pg_advisory_xact_lock(2);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER hold_claim AFTER INSERT ON stategraph.checkpoints
    FOR EACH ROW WHEN (NEW.step = -1) EXECUTE FUNCTION public.hold_claim();
} . graph_sql('alice', 'g') . q{
SET ROLE alice;
SELECT sg_invoke('g', '{}', 'parked');
RESET ROLE;
};

# The SQL of $role's graph $graph: START -> a -> b -> END.
sub graph_sql
{
	my ($role, $graph) = @_;
	return qq{
SET ROLE $role;
SELECT sg_create_graph('$graph', '{"hold": "replace"}'), sg_add_node('$graph', 'a', 'public.a(jsonb,jsonb)'),
       sg_add_node('$graph', 'b', 'public.b(jsonb,jsonb)'), sg_add_edge('$graph', '__start__', 'a'),
       sg_add_edge('$graph', 'a', 'b'), sg_add_edge('$graph', 'b', '__end__'), sg_compile('$graph');
RESET ROLE;
};
}

# one worker: runs queue behind the one it executes; a short
# deadlock_timeout: a deadlock would be found while the checks watch.
# Carol's graph cg is g's twin.
my $node = preloaded_node('reassign_claim', "stategraph.max_workers = 1\ndeadlock_timeout = '100ms'\n");
$node->safe_psql('postgres', $setup_sql . graph_sql('carol', 'cg'));

# the nodes of thread $thread that ran, in order, with their role
sub ran
{
	my ($thread) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT coalesce(string_agg(node || ':' || who, ' ' ORDER BY node), '') FROM public.ran WHERE thread = '$thread'});
}

# status, owner, attempt, failures and recoveries of run $rid, and its thread's owner
sub run_and_thread
{
	my ($rid) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT r.status || ' ' || r.owner || ' attempt ' || r.attempt || ' failures ' || r.failures
		       || ' recoveries ' || r.recoveries || ', thread ' || coalesce(t.owner, 'none')
		FROM stategraph.runs r LEFT JOIN stategraph.threads t USING (thread_id) WHERE r.run_id = '$rid'});
}

# the condition on pg_locks (alias l) of role names' holds (reassign.c: field4 'RO')
my $role_hold = q{l.locktype = 'advisory' AND l.objsubid = 21071};
my $worker = q{(SELECT pid FROM pg_stat_activity WHERE backend_type = 'stategraph worker')};

# --- 1. the claim first ---------------------------------------------------
my $holder = $node->background_psql('postgres');
$holder->query_safe('SELECT pg_advisory_lock(1), pg_advisory_lock(2)');
$node->safe_psql('postgres', q{INSERT INTO public.hold_claim VALUES ('c1')});
my $run1 = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('g', '{"hold": 1}', 'c1')});
ok($node->poll_query_until('postgres', qq{
	SELECT count(*) = 1 FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
	WHERE a.pid = $worker AND a.wait_event = 'advisory' AND $role_hold AND l.mode = 'ShareLock' AND l.granted}),
	'claim first: the claim of alice\'s run is open, holding her name in share mode');
is($node->safe_psql('postgres', qq{
	SELECT status || ' ' || (SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 'c1')
	FROM stategraph.runs WHERE run_id = '$run1'}), 'pending 0', 'claim first: nothing of the claim committed yet');

my ($out, $err) = ('', '');
my $reassign = IPC::Run::start(
	[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') . ' application_name=reassign',
	  '-c', q{SELECT sg_reassign_owned('alice', 'bob')} ],
	'>', \$out, '2>', \$err);
# waiting for the claim's share lock on alice's name, for 3 deadlock_timeouts and more
ok($node->poll_query_until('postgres', qq{
	SELECT count(*) = 1 FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
	JOIN pg_locks c ON c.locktype = l.locktype AND c.classid = l.classid AND c.objid = l.objid AND c.objsubid = l.objsubid
	WHERE a.application_name = 'reassign' AND a.wait_event = 'advisory' AND a.query_start < now() - interval '300 ms'
	  AND $role_hold AND l.mode = 'ExclusiveLock' AND NOT l.granted
	  AND c.pid = $worker AND c.mode = 'ShareLock' AND c.granted}),
	'claim first: sg_reassign_owned waits for the claim\'s hold on alice\'s name, no deadlock found');
is($node->safe_psql('postgres', qq{SELECT status || ' ' || owner FROM stategraph.runs WHERE run_id = '$run1'}),
	'pending alice', 'claim first: the run is still alice\'s, its claim uncommitted');

# the claim commits with the run's first step (no node); node a's step,
# taken as alice, then waits for lock 1 while the reassign ends
$holder->query_safe('SELECT pg_advisory_unlock(2)');
$reassign->finish;
is($err, '', 'claim first: sg_reassign_owned ends without error once the claim committed');
chomp $out;
like($out, qr/^\d+$/, "claim first: it moved alice's rows ($out)");
ok($node->poll_query_until('postgres', qq{
	SELECT wait_event = 'advisory' FROM pg_stat_activity WHERE pid = $worker}),
	'claim first: node a\'s step, taken as alice, executes');
is(ran('c1'), '', 'claim first: no node ran yet');
$holder->query_safe('SELECT pg_advisory_unlock(1)');
is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$run1', '60 s')}), 'success',
	'claim first: the run succeeds');
# node a's step as alice failed on bob's thread and was taken again as
# bob (a second attempt, no failure counted): both nodes ran once, as bob
is(ran('c1'), 'a:bob b:bob', 'claim first: nodes a and b ran once each, as bob');
is(run_and_thread($run1), 'success bob attempt 2 failures 0 recoveries 0, thread bob',
	'claim first: the run and its thread are bob\'s; the step taken as alice was taken again as bob');

# --- 2. the reassign first ------------------------------------------------
# alice's rows back to her
$node->safe_psql('postgres', q{SELECT sg_reassign_owned('bob', 'alice')});
# the worker busy with carol's run, whose node a waits for lock 3
$holder->query_safe('SELECT pg_advisory_lock(3)');
my $busy = $node->safe_psql('postgres', q{SET ROLE carol; SELECT sg_submit('cg', '{"hold": 3}', 'x')});
ok($node->poll_query_until('postgres', qq{SELECT wait_event = 'advisory' FROM pg_stat_activity WHERE pid = $worker}),
	'reassign first: the worker executes carol\'s run');
my $run2 = $node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('g', '{}', 'r2')});

# a session holds the row of alice's thread 'parked': the reassign, once
# it holds alice's name and her runs FOR KEY SHARE, waits for it
my $row = $node->background_psql('postgres');
$row->query_safe(q{BEGIN; SELECT 1 FROM stategraph.threads WHERE thread_id = 'parked' FOR SHARE});
my $reassigner = $node->background_psql('postgres');
my $rpid = $reassigner->query_safe('SELECT pg_backend_pid()');
$reassigner->query_until(qr/started/, qq{\\echo started\nBEGIN;\nSELECT sg_reassign_owned('alice', 'bob');\n});
ok($node->poll_query_until('postgres', qq{
	SELECT count(*) = 1 FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
	WHERE a.pid = $rpid AND a.wait_event_type = 'Lock' AND a.wait_event <> 'advisory'
	  AND $role_hold AND l.mode = 'ExclusiveLock' AND l.granted}),
	'reassign first: sg_reassign_owned holds alice\'s name and waits for her thread\'s row');

# the worker, freed, claims: alice's run first in the queue, then carol's
my $next = $node->safe_psql('postgres', q{SET ROLE carol; SELECT sg_submit('cg', '{}', 'y')});
$holder->query_safe('SELECT pg_advisory_unlock(3)');
is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$next', '60 s')}), 'success',
	'reassign first: carol\'s run queued after alice\'s is claimed and succeeds');
is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$busy'}), 'success',
	'reassign first: (and carol\'s first run)');
is($node->safe_psql('postgres', qq{SELECT status || ' ' || owner || ' attempt ' || attempt FROM stategraph.runs
	WHERE run_id = '$run2'}), 'pending alice attempt 0',
	'reassign first: alice\'s run, passed over, does not start while the reassign holds her name');
is(ran('r2'), '', 'reassign first: none of its nodes ran');

# the reassign goes on and stays uncommitted, its runs' rows updated
$row->query_safe('COMMIT');
ok($node->poll_query_until('postgres', qq{SELECT state = 'idle in transaction' FROM pg_stat_activity WHERE pid = $rpid}),
	'reassign first: sg_reassign_owned is done, uncommitted');
my $third = $node->safe_psql('postgres', q{SET ROLE carol; SELECT sg_submit('cg', '{}', 'z')});
is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$third', '60 s')}), 'success',
	'reassign first: another run of carol is claimed and succeeds meanwhile');
is($node->safe_psql('postgres', qq{SELECT status || ' ' || attempt FROM stategraph.runs WHERE run_id = '$run2'}),
	'pending 0', 'reassign first: alice\'s run still does not start');
is(ran('r2'), '', 'reassign first: none of its nodes ran still');

like($reassigner->query_safe('COMMIT'), qr/^\d+$/m, 'reassign first: the reassign commits');
is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$run2', '60 s')}), 'success',
	'reassign first: the run starts by itself and succeeds');
is(ran('r2'), 'a:bob b:bob', 'reassign first: nodes a and b ran once each, as bob');
is(run_and_thread($run2), 'success bob attempt 1 failures 0 recoveries 0, thread bob',
	'reassign first: the run and its thread are bob\'s; the claims that passed it over cost nothing');

$reassigner->quit;
$row->quit;
$holder->quit;
ok(no_advisory_lock_left($node), 'no advisory lock is left');
$node->stop;

# --- 3. a reassign that commits while a claim reads its candidates --------
# A claim holds the owner its candidate row names, read from the snapshot
# of its candidate scan. Here that scan is held up (a restrictive policy
# on stategraph.runs for the role that calls sg_work, waiting for
# advisory lock 9) on alice's run; meanwhile sg_reassign_owned('alice',
# 'bob') commits, and sg_reassign_owned('bob', 'carol') holds bob's name
# and the run FOR KEY SHARE, waiting for the row of bob's thread
# 'parked'. The claim went on to hold alice's name (free now), lock the
# run (bob's) and begin it as bob, unseen by the second reassign, whose
# threads update missed the thread the run's first step creates (held
# uncommitted by the trigger on its input checkpoint, lock 2), and which
# then gave the run to carol: the thread stayed bob's, the run carol's.
# Now the claim passes over a run whose locked row names another owner
# than the one whose name it holds, and the run is taken once the second
# reassign commits, as carol's: run and thread carol's, its nodes run as
# carol. CALL sg_work (no workers): a worker, a superuser, is above the
# policy.
my $plain = plain_node('reassign_claim_scan');
# Role w, a member of the three, calls sg_work; the policy holds its
# reads of a run listed in public.hold_scan up until advisory lock 9 is free.
$plain->safe_psql('postgres', $setup_sql . q{
CREATE ROLE w;
GRANT alice, bob, carol TO w;
CREATE TABLE public.hold_scan (run_id uuid);
GRANT SELECT ON public.hold_scan TO PUBLIC;
CREATE FUNCTION public.hold_scan(id uuid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM public.hold_scan h WHERE h.run_id = id) THEN
        PERFORM pg_catalog.pg_advisory_xact_lock(9);
    END IF;
    RETURN true;
END $$;
CREATE POLICY hold_scan ON stategraph.runs AS RESTRICTIVE FOR SELECT TO w USING (public.hold_scan(run_id));
});
$node = $plain;
$holder = $plain->background_psql('postgres');
$holder->query_safe('SELECT pg_advisory_lock(9), pg_advisory_lock(2)');
my $run3 = $plain->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('g', '{}', 'c3')});
$plain->safe_psql('postgres', qq{INSERT INTO public.hold_claim VALUES ('c3'); INSERT INTO public.hold_scan VALUES ('$run3')});

# w's CALL sg_work, its candidate scan held on alice's run
my ($wout, $werr) = ('', '');
my $work = IPC::Run::start(
	[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $plain->connstr('postgres') . ' application_name=work',
	  '-c', 'SET ROLE w', '-c', 'CALL sg_work()' ],
	'>', \$wout, '2>', \$werr);
my $wpid = q{(SELECT pid FROM pg_stat_activity WHERE application_name = 'work')};
ok($plain->poll_query_until('postgres', qq{
	SELECT wait_event = 'advisory' AND NOT EXISTS (SELECT FROM pg_locks l WHERE l.pid = a.pid AND $role_hold)
	FROM pg_stat_activity a WHERE a.pid = $wpid}),
	'scan: the claim\'s candidate scan waits, no name held yet');
is($plain->safe_psql('postgres', q{SELECT sg_reassign_owned('alice', 'bob') > 0}), 't',
	'scan: sg_reassign_owned(alice, bob) commits meanwhile');
my $reassign_err;
($row, $reassign, $reassign_err) = reassign_waits_on_row($plain, 'bob', 'carol', 'parked', 'scan');

# the scan goes on; the claim either begins the run (its first step then
# waits in the trigger) or passes it over (sg_work ends)
$holder->query_safe('SELECT pg_advisory_unlock(9)');
ok($plain->poll_query_until('postgres', qq{
	SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'work')
	    OR EXISTS (SELECT FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
	               WHERE a.application_name = 'work' AND a.wait_event = 'advisory' AND $role_hold AND l.granted)}),
	'scan: the claim went on');
$row->query_safe('COMMIT');
# the second reassign ends, or waits for the run's row that the claim holds
ok($plain->poll_query_until('postgres', q{
	SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'reassign'
	                   AND wait_event IS DISTINCT FROM 'transactionid')}),
	'scan: sg_reassign_owned(bob, carol) went on');
$holder->query_safe('SELECT pg_advisory_unlock(2)');
$reassign->finish;
is($$reassign_err, '', 'scan: sg_reassign_owned(bob, carol) ends without error');
$work->finish;
is($werr, '', 'scan: CALL sg_work ends without error');
is($plain->safe_psql('postgres', qq{SELECT status || ' ' || owner || ' attempt ' || attempt FROM stategraph.runs
	WHERE run_id = '$run3'}), 'pending carol attempt 0',
	'scan: its claim passed the run over (read as alice\'s, bob\'s when locked): carol\'s now, pending');
# what is left to do, as carol's
$plain->safe_psql('postgres', 'SET ROLE w; CALL sg_work()');
note('scan: the run ended ' . $plain->safe_psql('postgres',
	qq{SELECT status || ' ' || coalesce(error::text, '') FROM stategraph.runs WHERE run_id = '$run3'}));
is($plain->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$run3'}), 'success',
	'scan: the run succeeds');
is(ran('c3'), 'a:carol b:carol', 'scan: nodes a and b ran once each, as carol');
is(run_and_thread($run3), 'success carol attempt 1 failures 0 recoveries 0, thread carol',
	'scan: the run and the thread its first step created are carol\'s');

$row->quit;
$holder->quit;
$plain->stop;
done_testing();
