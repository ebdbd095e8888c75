# stategraph.max_workers_per_role counts a role's runs by role, not by
# name: a role renamed while its run executes. Three workers, a share of
# one: alice's run of eight steps of 0.5 s executes; alice is renamed
# alicia (with sg_reassign_owned, as README says), and alicia submits a
# short run: it executes only when no step of the long run does. (A
# worker recorded the role's name at the claim: the long run counted for
# alice, and alicia's run started at once beside it, two runs of one role
# with a share of one.)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('per_role_rename', qq{
stategraph.max_workers = 3
stategraph.max_workers_per_role = 1
});

$node->safe_psql('postgres', extension_and_roles_sql(qw(alice)) . q{
} . role_loop_graph_sql('alice'));

$node->safe_psql('postgres', q{
SET ROLE alice;
SELECT sg_submit('loop', '{"i": 0, "steps": 8, "secs": 0.5}', thread_id => 'long');
});
ok(true_within($node, 30, q{SELECT count(*) > 0 FROM public.ran WHERE thread = 'long' AND ended IS NOT NULL}),
	"alice's long run takes steps");
$node->safe_psql('postgres', q{
BEGIN;
ALTER ROLE alice RENAME TO alicia;
SELECT sg_reassign_owned('alice', 'alicia');
COMMIT;
});
my $short = $node->safe_psql('postgres', q{
SET ROLE alicia;
SELECT sg_submit('loop', '{"i": 0, "steps": 1, "secs": 0.2}', thread_id => 'short');
});
is($node->safe_psql('postgres', qq{SET ROLE alicia; SELECT status FROM sg_wait('$short', interval '60 s')}),
	'success', "alicia's short run succeeds");
ok(true_within($node, 30, q{SELECT count(*) = 2 FROM stategraph.runs WHERE status = 'success'}),
	"the long run succeeds");
is($node->safe_psql('postgres', q{SELECT count(*) FROM public.ran WHERE thread = 'long'}), '8',
	'the long run took its eight steps');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM public.ran l, public.ran s
    WHERE l.thread = 'long' AND s.thread = 'short' AND l.started < s.ended AND s.started < l.ended}),
	'0', "the renamed role's short run never executed beside its long run (a share of one)");

$node->stop;
done_testing();
