# RUNTIME.md: "sg_invoke/sg_stream/CALL sg_run on a thread with an active
# background run behave as they do with a busy thread today (wait or
# 55P03)". While a background worker executes a run, also between its steps
# (each commits), the thread is busy: with stategraph.lock_wait = off every
# call that would run or change it fails at once with 55P03 and changes
# nothing; with lock_wait on (the default) a call waits for the run to end
# and goes on from where it left the thread.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use Time::HiRes qw(usleep time);

my $node = preloaded_node('busy_run');

$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION tick(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_sleep((state->>'sleep')::float8);
        RETURN jsonb_build_object('i', (state->>'i')::int + 1);
    END $$;
    CREATE FUNCTION again(state jsonb) RETURNS text LANGUAGE sql
        AS $$ SELECT CASE WHEN (state->>'i')::int < (state->>'steps')::int THEN 'tick' ELSE '__end__' END $$;
    SELECT sg_create_graph('ticks', '{"i": "replace", "steps": "replace", "sleep": "replace"}');
    SELECT sg_add_node('ticks', 'tick', 'tick(jsonb)');
    SELECT sg_add_edge('ticks', '__start__', 'tick');
    SELECT sg_add_conditional_edges('ticks', 'tick', 'again(jsonb)', '["tick", "__end__"]');
    SELECT sg_compile('ticks');
});

# 100 steps of 0.1 s: about 10 s of a run that commits ten times a second
my $run = $node->safe_psql('postgres',
	q{SELECT sg_submit('ticks', '{"i": 0, "steps": 100, "sleep": 0.1}', 'held', recursion_limit => 200)});
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
		my $t0 = time;
		my ($ret, $out, $err) = $node->psql('postgres',
			"SET stategraph.lock_wait = off; \\set VERBOSITY verbose\n$calls{$what}");
		my $took = time - $t0;
		like($err, qr/ERROR:  55P03: thread "held" is busy/, "round $round: $what is 55P03 while the run executes");
		ok($took < 2, "round $round: $what fails at once (${took}s)");
	}
	usleep(150_000);    # another moment of the run: in a step, or between two
}
is($node->safe_psql('postgres', "SELECT status FROM sg_runs('held')"), 'running', 'the run went on');

# lock_wait on: the call waits for the run, then resumes where it left the thread (done: nothing to run)
my $values = $node->safe_psql('postgres', q{SELECT sg_invoke('ticks', NULL, 'held')->>'i'});
is($values, '100', 'a waiting sg_invoke goes on after the run, from the 100 steps it made');
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$run', '0 s')"), 'success',
	'the run finished as submitted');
is($node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE source = 'update') || ' ' || max(step) FROM sg_get_state_history('held')}),
	'0 100', 'none of the refused calls changed the thread');

$node->stop;
done_testing();
