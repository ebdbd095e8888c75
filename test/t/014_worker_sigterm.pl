# A background worker SIGTERMed in the middle of a step (pg_terminate_backend,
# what an administrator or a pooler's cleanup does): the worker leaves
# cleanly (no crash restart of the server), the step's transaction rolls
# back, and the run goes on from its last committed step in another worker:
# it succeeds, and each step's effects are there exactly once. A worker
# keeps no advisory lock a node of a run took. A fast shutdown during a
# step, and the run goes on after the restart.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('sigterm');

$node->safe_psql('postgres', q{
CREATE EXTENSION stategraph;
CREATE ROLE app LOGIN;
CREATE TABLE effects (step text, who text);
GRANT INSERT, SELECT ON effects TO app;
CREATE SEQUENCE tries;   -- counts attempts of step two whatever rolls back
GRANT USAGE ON SEQUENCE tries TO app;
CREATE FUNCTION slow_step(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.effects VALUES (config->>'node', current_user);
    IF config->>'node' = 'two' AND pg_catalog.nextval('public.tries') = 1 THEN
        PERFORM pg_catalog.pg_sleep(60);    -- the first attempt only
    END IF;
    RETURN pg_catalog.jsonb_build_object('log', pg_catalog.jsonb_build_array(config->>'node'));
END $$;
SET ROLE app;
SELECT sg_create_graph('slow', '{"log": "append"}');
SELECT sg_add_node('slow', 'one', 'public.slow_step(jsonb,jsonb)');
SELECT sg_add_node('slow', 'two', 'public.slow_step(jsonb,jsonb)');
SELECT sg_add_node('slow', 'three', 'public.slow_step(jsonb,jsonb)');
SELECT sg_add_edge('slow', '__start__', 'one');
SELECT sg_add_edge('slow', 'one', 'two');
SELECT sg_add_edge('slow', 'two', 'three');
SELECT sg_add_edge('slow', 'three', '__end__');
SELECT sg_compile('slow');
});

# step "two" sleeps 60 s on its first attempt only
my $rid = $node->safe_psql('postgres', q{SET ROLE app; SELECT sg_submit('slow', '{"log": []}', 'term-1')});
ok($node->poll_query_until('postgres', qq{
	SELECT count(*) = 1 FROM pg_stat_activity
	WHERE application_name = 'stategraph run $rid' AND wait_event = 'PgSleep'}),
	'the run is in the middle of its second step');
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE application_name = 'stategraph run $rid'");
my $log_offset = -s $node->logfile;
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)"), 't', 'SIGTERM sent to its worker');
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
	'the worker left');

# the run is taken up again from its last committed step (one)
is($node->safe_psql('postgres', "SET ROLE app; SELECT status FROM sg_wait('$rid', '20 s')"), 'success',
	'the run goes on in another worker at once (within 20 s; the launcher looked for missing workers once a minute) and succeeds');
is($node->safe_psql('postgres', q{SELECT "values"->'log' FROM sg_get_state('term-1')}), '["one", "two", "three"]',
	'its steps ran in order');
is($node->safe_psql('postgres', "SELECT string_agg(step || ':' || who, ' ' ORDER BY step) FROM effects"),
	'one:app three:app two:app',
	'each step\'s effects are there once, as the submitter (the interrupted step rolled back)');
my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/terminated by signal|server process .* was terminated|reinitializing/,
	'no crash restart: the worker exited cleanly');
like($log, qr/terminating background worker|terminating connection due to administrator command/,
	'the worker logged why it left');

# a session-level advisory lock a node takes goes with its run: the worker,
# which executes other roles' runs for a long time, does not keep it
$node->safe_psql('postgres', q{
CREATE FUNCTION locker(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.pg_advisory_lock(4242);
    IF state->>'fail' = 'yes' THEN
        RAISE EXCEPTION 'fails holding the lock';
    END IF;
    RETURN '{"log": ["locked"]}';
END $$;
SET ROLE app;
SELECT sg_create_graph('locks', '{"log": "append", "fail": "replace"}');
SELECT sg_add_node('locks', 'take', 'public.locker(jsonb)');
SELECT sg_add_edge('locks', '__start__', 'take');
SELECT sg_add_edge('locks', 'take', '__end__');
SELECT sg_compile('locks');
});
for my $fail ('no', 'yes')
{
	my $lrid = $node->safe_psql('postgres', qq{SET ROLE app; SELECT sg_submit('locks', '{"fail": "$fail"}', 'lock-$fail')});
	is($node->safe_psql('postgres', "SET ROLE app; SELECT status FROM sg_wait('$lrid', '30 s')"),
		$fail eq 'yes' ? 'error' : 'success', "a run whose node takes an advisory lock ends (fail: $fail)");
	is($node->safe_psql('postgres', 'SELECT pg_try_advisory_lock(4242)'), 't',
		"its worker keeps no advisory lock after the run (fail: $fail)");
}

# and the server shuts down with its workers (SIGTERM from the postmaster)
$node->safe_psql('postgres', "SELECT setval('tries', 1, false)");
$node->safe_psql('postgres', q{SET ROLE app; SELECT sg_submit('slow', '{"log": []}', 'term-2')});
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND application_name LIKE 'stategraph run %'}),
	'a second run sleeps in a step');
my $t0 = time;
$node->stop('fast');
ok(time - $t0 < 30, 'a fast shutdown does not wait for the step to finish');
$node->start;
is($node->safe_psql('postgres', q{SET ROLE app;
	SELECT status FROM sg_wait((SELECT run_id FROM sg_runs('term-2')), '60 s')}), 'success',
	'after the restart the run goes on by itself');

$node->stop;
done_testing();
