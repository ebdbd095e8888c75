# stategraph.max_workers_per_role set by a reload while a role's runs
# execute: the runs claimed before it count against the role's share.
# Four workers, no share: alice's three runs of 4 s (eight steps of 0.5 s)
# take three of them. A reload sets a share of one, then alice submits a
# short run: it waits until her three runs have ended, though the fourth
# worker is free. (The share was recorded only for runs claimed while the
# setting was not 0: the short run started at once on the fourth worker,
# four of alice's runs at once with a share of one, for as long as the
# runs claimed before the reload went on.)
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

$node->safe_psql('postgres', extension_and_roles_sql(qw(alice)) . q{
} . role_loop_graph_sql('alice'));

$node->safe_psql('postgres', q{
SET ROLE alice;
SELECT sg_submit('loop', '{"i": 0, "steps": 8, "secs": 0.5}', thread_id => 'l' || g) FROM generate_series(1, 3) g;
});
ok(true_within($node, 30, q{SELECT count(DISTINCT thread) = 3 FROM public.ran WHERE thread LIKE 'l%'}),
	"alice's three long runs execute at once (no share)");
$node->safe_psql('postgres', q{
ALTER SYSTEM SET stategraph.max_workers_per_role = 1;
SELECT pg_reload_conf();
});
# every worker process takes the reload up at its next loop (the busy ones after their runs)
sleep 1;
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs WHERE thread_id LIKE 'l%' AND status = 'running'}),
	'3', "alice's three runs still execute after the reload");
my $short = $node->safe_psql('postgres', q{
SET ROLE alice;
SELECT sg_submit('loop', '{"i": 0, "steps": 1, "secs": 0.1}', thread_id => 's1');
});
is($node->safe_psql('postgres', qq{SET ROLE alice; SELECT status FROM sg_wait('$short', interval '60 s')}),
	'success', "alice's short run succeeds");
ok(true_within($node, 30, q{SELECT count(*) = 4 FROM stategraph.runs WHERE status = 'success'}),
	"alice's long runs succeed");
is($node->safe_psql('postgres', q{
    SELECT (SELECT started FROM public.ran WHERE thread = 's1')
        >= (SELECT max(ended) FROM public.ran WHERE thread LIKE 'l%')}),
	't', "alice's short run waited for her three runs claimed before the reload (a share of one)");

$node->stop;
done_testing();
