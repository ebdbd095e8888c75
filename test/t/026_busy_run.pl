# RUNTIME.md: "sg_invoke/sg_stream/CALL sg_run on a thread with an active
# background run behave as they do with a busy thread today (wait or
# 55P03)". While a background worker executes a run, also between its steps
# (each commits), the thread is busy: with stategraph.lock_wait = off every
# call that would run or change it fails at once with 55P03 and changes
# nothing; with lock_wait on (the default) a call waits for the run to end
# and goes on from where it left the thread. The run ticks until the test
# ends it (a row in ticks_end): a call that waited for it could not return,
# and one that fails while it is busy needs no bound on its time.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use Time::HiRes qw(usleep);
use IPC::Run;

my $node = preloaded_node('busy_run');

$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION tick(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_sleep((state->>'sleep')::float8);
        RETURN jsonb_build_object('i', (state->>'i')::int + 1);
    END $$;
    CREATE TABLE ticks_end ();
    CREATE FUNCTION again(state jsonb) RETURNS text LANGUAGE sql
        AS $$ SELECT CASE WHEN (state->>'i')::int < (state->>'steps')::int
                               AND NOT EXISTS (SELECT FROM public.ticks_end) THEN 'tick' ELSE '__end__' END $$;
    SELECT sg_create_graph('ticks', '{"i": "replace", "steps": "replace", "sleep": "replace"}');
    SELECT sg_add_node('ticks', 'tick', 'tick(jsonb)');
    SELECT sg_add_edge('ticks', '__start__', 'tick');
    SELECT sg_add_conditional_edges('ticks', 'tick', 'again(jsonb)', '["tick", "__end__"]');
    SELECT sg_compile('ticks');
});

# steps of 0.1 s until ticks_end has a row (at most 100000): a run that
# commits ten times a second for as long as the test needs it. (It was 100
# steps, about 10 s, which the 18 calls below and the check that the run
# went on had to fit in, each call also bound to 2 s: a loaded machine
# could end the run first.)
my $run = $node->safe_psql('postgres',
	q{SELECT sg_submit('ticks', '{"i": 0, "steps": 100000, "sleep": 0.1}', 'held', recursion_limit => 200000)});
ok($node->poll_query_until('postgres', "SELECT status = 'running' AND (sg_get_state('held')).\"values\"->>'i' >= '1' FROM sg_runs('held')"),
	'the background run is executing, and has committed a step');

# lock_wait off: every call on the thread is 55P03 at once, at any moment of the run
my %calls = (
	'sg_invoke (resume)'   => q{SELECT sg_invoke('ticks', NULL, 'held')},
	'sg_invoke (input)'    => q{SELECT sg_invoke('ticks', '{"i": 0, "steps": 1, "sleep": 0}', 'held')},
	'sg_stream'            => q{SELECT count(*) FROM sg_stream('ticks', NULL, 'held')},
	'CALL sg_run'          => q{CALL sg_run('ticks', NULL, 'held')},
	'sg_update_state'      => q{SELECT sg_update_state('held', '{"i": 100}', as_node => 'tick')},
	'sg_delete_thread'     => q{SELECT sg_delete_thread('held')},
);
for my $round (1 .. 3)
{
	for my $what (sort keys %calls)
	{
		# (a call that waited for the run, which does not end, would time out)
		my ($ret, $out, $err) = $node->psql('postgres',
			"SET stategraph.lock_wait = off; \\set VERBOSITY verbose\n$calls{$what}", timeout => 120);
		like($err, qr/ERROR:  55P03: thread "held" is busy/, "round $round: $what is 55P03 while the run executes");
	}
	usleep(150_000);    # another moment of the run: in a step, or between two
}
is($node->safe_psql('postgres', "SELECT status FROM sg_runs('held')"), 'running', 'the run went on');

# lock_wait on: the call waits for the run (seen waiting for the thread's
# lock), the run is then ended, and the call resumes where the run left the
# thread (done: nothing to run)
my ($wout, $werr) = ('', '');
my $waiter = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $node->connstr('postgres') . ' application_name=waiter',
	  '-c', q{SELECT sg_invoke('ticks', NULL, 'held')->>'i'} ],
	'>', \$wout, '2>', \$werr, IPC::Run::timeout(300));
ok($node->poll_query_until('postgres',
	q{SELECT wait_event = 'advisory' FROM pg_stat_activity WHERE application_name = 'waiter'}),
	'with lock_wait on, sg_invoke waits for the run');
$node->safe_psql('postgres', 'INSERT INTO ticks_end DEFAULT VALUES');
$waiter->finish;
is($werr, '', 'the waiting sg_invoke raised nothing');
chomp(my $values = $wout);
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$run', '0 s')"), 'success',
	'the run finished as submitted');
is($node->safe_psql('postgres', q{SELECT ("values"->>'i') FROM sg_get_state('held')}), $values,
	'the waiting sg_invoke went on after the run, from the steps it made');
cmp_ok($values, '>=', 2, '... which went on through the refused calls');
is($node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE source = 'update') || ' ' || max(step) FROM sg_get_state_history('held')}),
	"0 $values", 'none of the refused calls changed the thread');

$node->stop;
done_testing();
