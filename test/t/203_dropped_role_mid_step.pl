# A role dropped while a step of its background run executes.
#
# The run ended with status error and the error the step met wherever it
# looked its role up: {"message": "invalid role OID: 16754", "sqlstate":
# "42704"} (a policy's CURRENT_USER), which names no role and reads as a
# bug. A run whose role is gone when a worker claims it ends with 'role
# "..." that submitted the run does not exist' (README, Security): the
# step's failure now makes the run due again at once, uncounted, as for a
# role renamed during the step, and the claim that takes it ends it so.
# Nothing of the step is kept, and no other run of the worker suffers.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('dropped_role_mid_step');
$node->safe_psql('postgres', extension_and_roles_sql('dave') . role_nap_graphs_sql('dave' => 'dg') . q{
CREATE ROLE carol;  -- owns nothing PostgreSQL knows of: DROP ROLE takes it at once
CREATE TABLE public.ran (who text);
GRANT INSERT ON public.ran TO PUBLIC;
CREATE FUNCTION public.nap_logged(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ INSERT INTO public.ran VALUES (current_user); SELECT pg_catalog.pg_sleep((state->>'secs')::float8); SELECT '{"done": true}'::jsonb $$;
SELECT sg_create_graph('sg', '{"done": "replace", "secs": "replace"}'), sg_add_node('sg', 'nap', 'public.nap_logged(jsonb)'),
       sg_add_edge('sg', '__start__', 'nap'), sg_add_edge('sg', 'nap', '__end__'), sg_compile('sg');
});

my $run = $node->safe_psql('postgres', q{SET ROLE carol; SELECT sg_submit('sg', '{"secs": 3}', 'c1')});
ok(true_within($node, 20, qq{SELECT EXISTS (SELECT 1 FROM pg_stat_activity
    WHERE application_name = 'stategraph run $run' AND wait_event = 'PgSleep')}),
	"carol's run is in its step");
$node->safe_psql('postgres', q{DROP ROLE carol});
ok(true_within($node, 30, qq{SELECT status <> 'running' AND status <> 'pending' FROM stategraph.runs WHERE run_id = '$run'}),
	'the run ended');
is($node->safe_psql('postgres', qq{SELECT status || ' ' || (error->>'message') FROM stategraph.runs WHERE run_id = '$run'}),
	'error role "carol" that submitted the run does not exist',
	'it ended with the error of a run whose role is gone, not "invalid role OID"');
is($node->safe_psql('postgres', q{SELECT count(*) FROM public.ran}), '0', "the step's effects were rolled back");
is($node->safe_psql('postgres', q{SELECT head IS NULL OR status <> 'running' FROM stategraph.threads WHERE thread_id = 'c1'}),
	't', 'the thread is not left running');

# the workers go on with other roles' runs
my $other = $node->safe_psql('postgres', q{SET ROLE dave; SELECT sg_submit('dg', '{"secs": 0}', 'd1')});
ok(true_within($node, 30, qq{SELECT status = 'success' FROM stategraph.runs WHERE run_id = '$other'}),
	"another role's run succeeds after it");
ok(no_advisory_lock_left($node), 'no advisory lock is left');
$node->stop;
done_testing();
