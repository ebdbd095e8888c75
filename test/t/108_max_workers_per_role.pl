# stategraph.max_workers_per_role: one role's many runs leave workers to
# the other roles. Three workers, a share of one per role:
#   1. alice queues four runs (on four threads), then bob one: bob's run
#      succeeds while alice's first run is held in its step (advisory lock
#      1, which the test holds), with her other three still queued (without
#      the share, alice's runs took all three workers and bob's run waited);
#      alice's never run two at a time, and every run succeeds, as its
#      submitter.
#   2. a reload to 0 (no share): alice's runs take every worker again (all
#      three held in their step at once).
# The held step, not a run's length, keeps alice's runs going while the
# test looks: with runs of 2 s, a worker slow to start (a loaded machine)
# made bob's run end later than 2 s after alice's submit, and the test fail.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('per_role', qq{
stategraph.max_workers = 3
stategraph.max_workers_per_role = 1
});

$node->safe_psql('postgres', extension_and_roles_sql(qw(alice bob)) . q{
CREATE TABLE public.ran (thread text, who text, started timestamptz, ended timestamptz);
GRANT INSERT, SELECT ON public.ran TO PUBLIC;
-- with state.held, the step waits for advisory lock 1 (shared: all of alice's runs wait for the test's session)
CREATE FUNCTION public.slow(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO public.ran SELECT config->>'thread_id', current_user, clock_timestamp(), NULL;
    SELECT pg_catalog.pg_advisory_xact_lock_shared(1) WHERE (state->>'held')::boolean;
    SELECT pg_catalog.pg_sleep((state->>'secs')::float8);
    UPDATE public.ran SET ended = clock_timestamp() WHERE thread = config->>'thread_id' AND ended IS NULL;
    SELECT '{}'::jsonb
$$;
GRANT UPDATE ON public.ran TO PUBLIC;
SET ROLE alice;
SELECT sg_create_graph('ga', '{"secs": "replace", "held": "replace"}'), sg_add_node('ga', 'slow', 'public.slow(jsonb,jsonb)'),
       sg_add_edge('ga', '__start__', 'slow'), sg_add_edge('ga', 'slow', '__end__'), sg_compile('ga');
SET ROLE bob;
SELECT sg_create_graph('gb', '{"secs": "replace", "held": "replace"}'), sg_add_node('gb', 'slow', 'public.slow(jsonb,jsonb)'),
       sg_add_edge('gb', '__start__', 'slow'), sg_add_edge('gb', 'slow', '__end__'), sg_compile('gb');
});

# The most runs of one role that were executing at one moment (a run's
# node recorded when it started and ended).
sub most_at_once
{
	my ($who) = @_;
	return $node->safe_psql('postgres', qq{
	    SELECT coalesce(max(n), 0) FROM (
	        SELECT (SELECT count(*) FROM public.ran o WHERE o.who = r.who
	                AND o.started <= r.started AND o.ended > r.started) AS n
	        FROM public.ran r WHERE r.who = '$who') x});
}

# The workers whose run waits for advisory lock 1 (held in its step)
my $held = q{SELECT count(*) FROM pg_stat_activity
    WHERE backend_type = 'stategraph worker' AND application_name LIKE 'stategraph run %' AND wait_event = 'advisory'};
my $gate = $node->background_psql('postgres');

# 1. alice's four runs first, then bob's one, each committed on its own
$gate->query_safe('SELECT pg_advisory_lock(1)');
$node->safe_psql('postgres', q{
SET ROLE alice;
SELECT sg_submit('ga', '{"secs": 0.2, "held": true}', thread_id => 'a' || g) FROM generate_series(1, 4) g;
});
ok($node->poll_query_until('postgres', "SELECT ($held) = 1"), "alice's first run executes, held in its step");
my $bob_run = $node->safe_psql('postgres', q{
SET ROLE bob;
SELECT sg_submit('gb', '{"secs": 0.1}', thread_id => 'b1');
});
my $bob = $node->safe_psql('postgres', qq{
SET ROLE bob;
SELECT status FROM sg_wait('$bob_run', interval '60 s');
});
is($bob, 'success', "bob's run succeeds");
# bob's run ended while alice's first run could not (held), her other
# three queued behind it: it did not wait for a worker they took
is($node->safe_psql('postgres', q{
    SELECT string_agg(status, ',' ORDER BY status DESC) FROM stategraph.runs WHERE graph = 'ga'}),
	'running,pending,pending,pending', "bob's run did not wait behind alice's queue of runs");
$gate->query_safe('SELECT pg_advisory_unlock(1)');
ok(true_within($node, 60, q{SELECT count(*) = 4 FROM stategraph.runs WHERE graph = 'ga' AND status = 'success'}),
	"every run of alice succeeds");
is(most_at_once('alice'), '1', "alice's runs never took more than her share of one worker");
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT who, ',') FROM public.ran WHERE thread LIKE 'a%'}),
	'alice', "alice's runs ran as alice");

# 2. no share: alice's runs take the workers there are
$node->safe_psql('postgres', q{
ALTER SYSTEM SET stategraph.max_workers_per_role = 0;
SELECT pg_reload_conf();
TRUNCATE public.ran;
});
workers_took_reload($node, 'stategraph.max_workers_per_role', '0', 'every worker took the reload up');
$gate->query_safe('SELECT pg_advisory_lock(1)');
$node->safe_psql('postgres', q{
SET ROLE alice;
SELECT sg_submit('ga', '{"secs": 0.2, "held": true}', thread_id => 'c' || g) FROM generate_series(1, 3) g;
});
ok($node->poll_query_until('postgres', "SELECT ($held) = 3"), "with no share, alice's three runs execute at once, held");
$gate->query_safe('SELECT pg_advisory_unlock(1)');
ok(true_within($node, 60, q{SELECT count(*) = 3 FROM stategraph.runs WHERE thread_id LIKE 'c%' AND status = 'success'}),
	"alice's runs succeed with no share");
is(most_at_once('alice'), '3', "with no share, alice's runs take all three workers at once");

$gate->quit;
$node->stop;
done_testing();
