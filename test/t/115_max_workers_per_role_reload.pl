# stategraph.max_workers_per_role set by a reload while a role's runs
# execute: the runs claimed before it count against the role's share.
# Four workers, no share: alice's three long runs take three of them, each
# held in its step (advisory lock 1, which the test holds). A reload sets a
# share of one, then alice submits a short run: a worker looks at it and
# leaves it waiting, though the fourth worker is free, and it starts only
# once her three runs have ended. (The share was recorded only for runs
# claimed while the setting was not 0: the short run started at once on
# the fourth worker, four of alice's runs at once with a share of one, for
# as long as the runs claimed before the reload went on.)
# The held step, not a run's length, keeps the long runs going while the
# test looks: with runs of 4 s, a worker slow to start (a loaded machine)
# left the test too little of them, and it saw fewer than three running.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('per_role_reload', qq{
stategraph.max_workers = 4
stategraph.max_workers_per_role = 0
});

# graph 'long' of alice: one step, recorded in public.ran (role_loop_graph_sql's
# table), that waits for advisory lock 1 (shared: her three runs wait together)
$node->safe_psql('postgres', extension_and_roles_sql(qw(alice)) . q{
} . role_loop_graph_sql('alice') . q{
CREATE FUNCTION public.held(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO public.ran SELECT config->>'thread_id', 0, clock_timestamp(), NULL;
    SELECT pg_catalog.pg_advisory_xact_lock_shared(1);
    UPDATE public.ran SET ended = clock_timestamp() WHERE thread = config->>'thread_id' AND ended IS NULL;
    SELECT '{}'::jsonb
$$;
SET ROLE alice;
SELECT sg_create_graph('long', '{"i": "replace"}'), sg_add_node('long', 'held', 'public.held(jsonb,jsonb)'),
       sg_add_edge('long', '__start__', 'held'), sg_add_edge('long', 'held', '__end__'), sg_compile('long');
});
my $held = q{SELECT count(*) FROM pg_stat_activity
    WHERE backend_type = 'stategraph worker' AND application_name LIKE 'stategraph run %' AND wait_event = 'advisory'};
my $gate = $node->background_psql('postgres');
$gate->query_safe('SELECT pg_advisory_lock(1)');

$node->safe_psql('postgres', q{
SET ROLE alice;
SELECT sg_submit('long', '{}', thread_id => 'l' || g) FROM generate_series(1, 3) g;
});
ok($node->poll_query_until('postgres', "SELECT ($held) = 3"), "alice's three long runs execute at once (no share)");
$node->safe_psql('postgres', q{
ALTER SYSTEM SET stategraph.max_workers_per_role = 1;
SELECT pg_reload_conf();
});
workers_took_reload($node, 'stategraph.max_workers_per_role', '1',
	'every worker took the reload up (the busy ones take it after their runs)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs WHERE thread_id LIKE 'l%' AND status = 'running'}),
	'3', "alice's three runs still execute after the reload");
# its commit wakes a worker (or has one started): idle since (a time taken
# before that commit, as the worker may be idle again before the test asks
# the time), it looked at the short run
my ($short, $submitted) = split /\|/, $node->safe_psql('postgres', q{
SET ROLE alice;
SELECT sg_submit('loop', '{"i": 0, "steps": 1, "secs": 0.1}', thread_id => 's1'), clock_timestamp();
});
ok($node->poll_query_until('postgres', qq{SELECT EXISTS (SELECT FROM pg_stat_activity
    WHERE backend_type = 'stategraph worker' AND application_name NOT LIKE 'stategraph run %'
      AND state = 'idle' AND state_change > '$submitted')}), 'a worker looked at the short run');
is($node->safe_psql('postgres', qq{SELECT status FROM stategraph.runs WHERE run_id = '$short'}), 'pending',
	"alice's short run waits for her share");
$gate->query_safe('SELECT pg_advisory_unlock(1)');
is($node->safe_psql('postgres', qq{SET ROLE alice; SELECT status FROM sg_wait('$short', interval '60 s')}),
	'success', "alice's short run succeeds");
ok(true_within($node, 30, q{SELECT count(*) = 4 FROM stategraph.runs WHERE status = 'success'}),
	"alice's long runs succeed");
is($node->safe_psql('postgres', q{
    SELECT (SELECT started FROM public.ran WHERE thread = 's1')
        >= (SELECT max(ended) FROM public.ran WHERE thread LIKE 'l%')}),
	't', "alice's short run waited for her three runs claimed before the reload (a share of one)");

$gate->quit;
$node->stop;
done_testing();
