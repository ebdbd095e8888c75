# sg_reassign_owned gives a role's run to an unrelated role while the run
# executes (between its steps, each its own transaction). The executor
# set the old role at the claim, and the thread is the new role's now:
# the run's next step failed on row-level security ('new row violates
# row-level security policy for table "checkpoints"'), its end could not
# be recorded (the run row, bob's, hidden from alice) and the run stayed
# 'running' until a claim took it up as one whose executor had died, 10 s
# and more later.
#
# Now the step that fails so is rolled back and the run is taken up again
# at once as its new owner, its failures not counted (as for a rename,
# TAP 053; its attempt grows): it succeeds within a short bound, its later
# nodes run as the new owner, and each node ran once. Both executors: a
# background worker, and CALL sg_work of a superuser.
#
# And a reassign that commits inside a step, between its checkpoint's
# insert and its thread's update (a trigger that sleeps there): the
# update, refused by row-level security, changed nothing, and the step
# committed with the thread's head left behind it, so that its node ran
# again as the new owner. Now the step fails (42501) and is taken again.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SGNode;
use Test::More;

my $steps = 6;

# roles alice and bob (neither a member of the other), table public.ran
# where node 'tick' records each step (i, current_user, when) after a nap
# of state.secs, alice's graph 'loop' of ticks up to state.steps, and a
# trigger that sleeps 1.5 s after alice's insert of a checkpoint of step 3
# while table public.hold has a row
sub setup
{
	my ($node) = @_;
	$node->safe_psql('postgres', extension_and_roles_sql(qw(alice bob)) . q{
CREATE TABLE public.ran (i int, who text, at timestamptz);
CREATE TABLE public.hold ();
GRANT INSERT, DELETE ON public.ran TO PUBLIC;
GRANT SELECT ON public.hold TO PUBLIC;
CREATE FUNCTION public.tick(state jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_catalog.pg_sleep((state->>'secs')::float8);
    INSERT INTO public.ran VALUES ((state->>'i')::int, current_user, pg_catalog.clock_timestamp());
    SELECT pg_catalog.jsonb_build_object('i', (state->>'i')::int + 1)
$$;
CREATE FUNCTION public.more(state jsonb) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN (state->>'i')::int < (state->>'steps')::int THEN 'tick' ELSE '__end__' END $$;
CREATE FUNCTION public.hold_step() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_user = 'alice' AND EXISTS (SELECT FROM public.hold) THEN
        PERFORM pg_catalog.pg_sleep(1.5);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER hold_step AFTER INSERT ON stategraph.checkpoints
    FOR EACH ROW WHEN (NEW.step = 3) EXECUTE FUNCTION public.hold_step();
GRANT EXECUTE ON FUNCTION public.tick(jsonb), public.more(jsonb) TO PUBLIC;
SET ROLE alice;
SELECT sg_create_graph('loop', '{"i": "replace", "steps": "replace", "secs": "replace"}'),
       sg_add_node('loop', 'tick', 'public.tick(jsonb)'), sg_add_edge('loop', '__start__', 'tick'),
       sg_add_conditional_edges('loop', 'tick', 'public.more(jsonb)', '["tick", "__end__"]'), sg_compile('loop');
});
}

# alice's run of $steps steps on thread $thread (nodes napping $secs),
# executed by what $start starts, is reassigned to bob once $ready (a
# query) is true: it succeeds soon after, as bob from then on, each step
# once. Returns what $start returned.
sub check_reassigned_run
{
	my ($node, $label, $thread, $secs, $ready, $start) = @_;
	# alice's graph (and earlier rows) back to her
	$node->safe_psql('postgres', q{DELETE FROM public.ran; SELECT sg_reassign_owned('bob', 'alice')});
	my $run = $node->safe_psql('postgres', qq{
SET ROLE alice; SELECT sg_submit('loop', '{"i": 0, "steps": $steps, "secs": $secs}', '$thread')});
	my $executor = $start->();
	ok($node->poll_query_until('postgres', $ready), "$label: alice's run took its first steps");
	my $reassigned = $node->safe_psql('postgres',
		q{SELECT pg_catalog.clock_timestamp() FROM sg_reassign_owned('alice', 'bob')});
	ok(true_within($node, 3, qq{SELECT status <> 'running' AND status <> 'pending' FROM stategraph.runs
		WHERE run_id = '$run'}), "$label: the run ends within 3 s of the reassign");
	is($node->safe_psql('postgres', qq{SELECT status || ' ' || owner || ' failures ' || failures
		FROM stategraph.runs WHERE run_id = '$run'}),
		'success bob failures 0', "$label: the run succeeded as bob's, no failure counted");
	note("$label: the run ended " . $node->safe_psql('postgres', qq{
		SELECT round(extract(epoch FROM finished_at - '$reassigned')::numeric, 2) FROM stategraph.runs
		WHERE run_id = '$run'}) . ' s after the reassign');
	is($node->safe_psql('postgres', qq{SELECT attempt FROM stategraph.runs WHERE run_id = '$run'}), '2',
		"$label: one more attempt, as bob (the step that ran across the reassign, taken again)");
	is($node->safe_psql('postgres', q{SELECT string_agg(i::text, ',' ORDER BY i) FROM public.ran}),
		join(',', 0 .. $steps - 1), "$label: every node ran once (the step that failed was rolled back)");
	is($node->safe_psql('postgres', qq{SELECT count(*) FROM public.ran WHERE at > '$reassigned' AND who <> 'bob'}),
		'0', "$label: no step ran as alice after the reassign");
	is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT who, ',' ORDER BY who) FROM public.ran}),
		'alice,bob', "$label: the first steps ran as alice, the later ones as bob");
	is($node->safe_psql('postgres', qq{SET ROLE bob; SELECT owner || ' ' || status || ' ' || ("values"->>'i')
		FROM stategraph.threads t, sg_get_state('$thread') WHERE t.thread_id = '$thread'}),
		"bob done $steps", "$label: the thread is bob's, done, at its last state");
	return $executor;
}

# both cases with the executor $start starts (and $finish ends): between
# steps, and inside a step ($in_step: a query, true once a step sleeps in
# the trigger)
sub check_both
{
	my ($node, $label, $in_step, $start, $finish) = @_;
	# steps of 0.5 s: the reassign, made once 3 of 6 steps ran, must come
	# before the last 3 end (with 0.2 s steps a loaded machine once let the
	# run end first, all of it alice's)
	$finish->(check_reassigned_run($node, "$label, between steps", "$label-1", 0.5,
		q{SELECT count(*) >= 3 FROM public.ran}, $start));
	$node->safe_psql('postgres', 'INSERT INTO public.hold DEFAULT VALUES');
	$finish->(check_reassigned_run($node, "$label, inside a step", "$label-2", 0, $in_step, $start));
	$node->safe_psql('postgres', 'DELETE FROM public.hold');
}

# a background worker
my $node = preloaded_node('reassign_running', "stategraph.max_workers = 2\n");
setup($node);
check_both($node, 'worker', q{
	SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND wait_event = 'PgSleep'},
	sub { undef }, sub { });
$node->stop;

# CALL sg_work in a session of its own, as a superuser (no workers): it
# ends without error (the executor's WARNING of the failed step, as for
# any node's error, reaches it)
my $plain = plain_node('reassign_running_work');
setup($plain);
my ($out, $err);
check_both($plain, 'sg_work', q{
	SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'sg_work_session' AND wait_event = 'PgSleep'},
	sub {
		($out, $err) = ('', '');
		return IPC::Run::start(
			[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1',
			  '-d', $plain->connstr('postgres') . ' application_name=sg_work_session', '-c', 'CALL sg_work()' ],
			'>', \$out, '2>', \$err);
	},
	sub {
		$_[0]->finish;
		unlike($err, qr/ERROR/, 'sg_work: CALL sg_work ends without error');
	});
$plain->stop;

done_testing();
