# A member's background run on its owner's thread, the membership revoked
# while a step executes.
#
# The step's end found the thread's row hidden (row-level security) and
# the run ended with 42501 'thread "..." was given to another role during
# the step', though nobody gave the thread away. The error now names the
# role that may no longer write the thread, the thread's owner, and both
# causes (a REVOKE, or sg_reassign_owned). Nothing of the step is kept.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('member_revoked_mid_step');
$node->safe_psql('postgres', extension_and_roles_sql('alice') . q{
CREATE ROLE alice_w;
GRANT alice TO alice_w;
CREATE TABLE public.ran (who text);
GRANT INSERT ON public.ran TO PUBLIC;
CREATE FUNCTION public.nap_logged(state jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ INSERT INTO public.ran VALUES (current_user); SELECT pg_catalog.pg_sleep((state->>'secs')::float8); SELECT '{"n": 1}'::jsonb $$;
SELECT sg_create_graph('g', '{"n": "add", "secs": "replace"}'), sg_add_node('g', 'nap', 'public.nap_logged(jsonb)'),
       sg_add_edge('g', '__start__', 'nap'), sg_add_edge('g', 'nap', '__end__'), sg_compile('g');
SET ROLE alice;
SELECT sg_invoke('g', '{"secs": 0}', 't1');
});
$node->safe_psql('postgres', q{TRUNCATE public.ran});

my $run = $node->safe_psql('postgres', q{SET ROLE alice_w; SELECT sg_submit('g', '{"secs": 3}', 't1')});
ok(true_within($node, 20, qq{SELECT EXISTS (SELECT 1 FROM pg_stat_activity
    WHERE application_name = 'stategraph run $run' AND wait_event = 'PgSleep')}),
	"alice_w's run is in its step");
$node->safe_psql('postgres', q{REVOKE alice FROM alice_w});
ok(true_within($node, 30, qq{SELECT status NOT IN ('pending', 'running') FROM stategraph.runs WHERE run_id = '$run'}),
	'the run ended');
my $err = $node->safe_psql('postgres', qq{SELECT status || ' ' || (error->>'sqlstate') || ' ' || (error->>'message') || ' / ' || coalesce(error->>'detail', '')
    FROM stategraph.runs WHERE run_id = '$run'});
like($err, qr/^error 42501 role "alice_w" may no longer write thread "t1" \/ The thread belongs to role "alice", of which role "alice_w" is not a member now/,
	'it ended with 42501 naming the lost membership, not a thread given away');
unlike($err, qr/was given to another role/, 'not "given to another role"');
note($err);
is($node->safe_psql('postgres', q{SELECT count(*) FROM public.ran}), '0', "the step's effects were rolled back");
is($node->safe_psql('postgres', q{SET ROLE alice; SELECT "values"->>'n' FROM sg_get_state('t1')}), '1',
	"alice's thread is as it was");
ok(no_advisory_lock_left($node), 'no advisory lock is left');
$node->stop;
done_testing();
