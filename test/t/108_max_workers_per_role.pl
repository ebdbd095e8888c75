# stategraph.max_workers_per_role: one role's many runs leave workers to
# the other roles. Three workers, a share of one per role:
#   1. alice queues four runs of 2 s (on four threads), then bob one: bob's
#      run starts at once, alice's never run two at a time (without the
#      share, alice's runs took all three workers and bob's run waited), and
#      every run succeeds, as its submitter.
#   2. a reload to 0 (no share): alice's runs take every worker again.
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
CREATE FUNCTION public.slow(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO public.ran SELECT config->>'thread_id', current_user, clock_timestamp(), NULL;
    SELECT pg_catalog.pg_sleep((state->>'secs')::float8);
    UPDATE public.ran SET ended = clock_timestamp() WHERE thread = config->>'thread_id' AND ended IS NULL;
    SELECT '{}'::jsonb
$$;
GRANT UPDATE ON public.ran TO PUBLIC;
SET ROLE alice;
SELECT sg_create_graph('ga', '{"secs": "replace"}'), sg_add_node('ga', 'slow', 'public.slow(jsonb,jsonb)'),
       sg_add_edge('ga', '__start__', 'slow'), sg_add_edge('ga', 'slow', '__end__'), sg_compile('ga');
SET ROLE bob;
SELECT sg_create_graph('gb', '{"secs": "replace"}'), sg_add_node('gb', 'slow', 'public.slow(jsonb,jsonb)'),
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

# 1. alice's four runs first, then bob's one, each committed on its own
$node->safe_psql('postgres', q{
SET ROLE alice;
SELECT sg_submit('ga', '{"secs": 2}', thread_id => 'a' || g) FROM generate_series(1, 4) g;
});
my $bob_run = $node->safe_psql('postgres', q{
SET ROLE bob;
SELECT sg_submit('gb', '{"secs": 0.1}', thread_id => 'b1');
});
my $bob = $node->safe_psql('postgres', qq{
SET ROLE bob;
SELECT status FROM sg_wait('$bob_run', interval '60 s');
});
is($bob, 'success', "bob's run succeeds");
# bob's run ended before even alice's first run could have (each takes
# 2 s; a step's rows, alice's in public.ran too, commit at its end, so
# the clock starts at alice's submit)
is($node->safe_psql('postgres', q{
    SELECT ((SELECT ended FROM public.ran WHERE thread = 'b1')
          < (SELECT min(created_at) FROM stategraph.runs WHERE graph = 'ga') + interval '2 s') IS TRUE}),
	't', "bob's run did not wait behind alice's queue of runs");
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
# every worker process takes the reload up at its next loop: wait for each to show it
sleep 1;
$node->safe_psql('postgres', q{
SET ROLE alice;
SELECT sg_submit('ga', '{"secs": 2}', thread_id => 'c' || g) FROM generate_series(1, 3) g;
});
ok(true_within($node, 60, q{SELECT count(*) = 3 FROM stategraph.runs WHERE thread_id LIKE 'c%' AND status = 'success'}),
	"alice's runs succeed with no share");
is(most_at_once('alice'), '3', "with no share, alice's runs take all three workers at once");

$node->stop;
done_testing();
