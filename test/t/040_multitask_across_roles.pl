# sg_submit's multitask rule sees every active run of the thread, even one
# submitted by a role the submitter cannot see. A member role ("child",
# GRANT parent TO child) may act on its parent's threads, and row-level
# security hides the member's runs from the parent: the thread still has
# one active run whoever submitted it. 'reject' refuses (SG013); 'interrupt'
# and 'rollback', which cannot change a run row the submitter cannot see,
# refuse too (SG015) and change nothing; neither error tells anything of
# the hidden run (no run id, no input, no error text). A run of an
# unrelated role, which can never act on the thread, does not count (as in
# the claim's FIFO test, TAP 035).
#
# Without the preload there are no background workers: submitted runs stay
# pending, so which runs are active is known.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('multitask_roles');

$node->safe_psql('postgres', q{
CREATE EXTENSION stategraph;
CREATE ROLE parent LOGIN;
CREATE ROLE child LOGIN;
CREATE ROLE stranger LOGIN;
GRANT parent TO child;
CREATE FUNCTION public.noop(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
GRANT EXECUTE ON FUNCTION public.noop(jsonb) TO PUBLIC;
SET ROLE parent;
SELECT sg_create_graph('mg', '{"tag": "replace"}'), sg_add_node('mg', 'm', 'public.noop(jsonb)'),
       sg_add_edge('mg', '__start__', 'm'), sg_add_edge('mg', 'm', '__end__'), sg_compile('mg');
SELECT sg_invoke('mg', '{"tag": "p0"}', 'shared') IS NOT NULL;
RESET ROLE;
GRANT EXECUTE ON FUNCTION public.noop(jsonb) TO stranger;
});

# The rows of thread $t's runs, as a superuser reads them.
sub runs_of
{
	my ($t) = @_;
	return $node->safe_psql('postgres', qq{
SELECT string_agg(owner || ':' || status || ':' || coalesce(stop_request, '-') || ':' || (input->>'tag'), ' ' ORDER BY seq)
FROM stategraph.runs WHERE thread_id = '$t'});
}

# A submit by $role; returns (ok, stderr).
sub submit_as
{
	my ($role, $t, $tag, $multitask) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', qq{
SET ROLE $role; SELECT sg_submit('mg', '{"tag": "$tag"}', '$t', multitask => '$multitask');},
		extra_params => ['-v', 'VERBOSITY=verbose']);
	return ($rc == 0, $err);
}

# The member's run on its parent's thread, pending.
my ($ok, $err) = submit_as('child', 'shared', 'c1', 'enqueue');
ok($ok, "the member submits a run on its parent's thread");
my $child_run = $node->safe_psql('postgres', q{SELECT run_id FROM stategraph.runs WHERE thread_id = 'shared'});
is($node->safe_psql('postgres', q{SET ROLE parent; SELECT count(*) FROM sg_runs('shared')}), '0',
	"the parent cannot see its member's run");

($ok, $err) = submit_as('parent', 'shared', 'p1', 'reject');
ok(!$ok, "'reject' by the parent is refused");
like($err, qr/SG013/, "... with SG013");
like($err, qr/thread "shared" already has an active run/, '... saying the thread has an active run');
unlike($err, qr/\Q$child_run\E/, "... without the hidden run's id");
unlike($err, qr/c1/, "... or its input");
is(runs_of('shared'), 'child:pending:-:c1', '... and nothing was queued');

for my $mt ('interrupt', 'rollback')
{
	($ok, $err) = submit_as('parent', 'shared', 'p1', $mt);
	ok(!$ok, "'$mt' by the parent is refused");
	like($err, qr/SG015/, "... with SG015");
	like($err, qr/thread "shared" has an active run this role cannot stop/, '... saying why');
	unlike($err, qr/\Q$child_run\E/, "... without the hidden run's id");
	is(runs_of('shared'), 'child:pending:-:c1', "... and the member's run is neither stopped nor cancelled, nothing queued");
}

($ok, $err) = submit_as('parent', 'shared', 'p2', 'enqueue');
ok($ok, "'enqueue' by the parent queues its run behind the member's");
is(runs_of('shared'), 'child:pending:-:c1 parent:pending:-:p2', '... in submission order');

# The member sees its parent's runs: its 'interrupt' cancels both pending runs.
($ok, $err) = submit_as('child', 'shared', 'c3', 'interrupt');
ok($ok, "the member's 'interrupt' is accepted (it sees every run of the thread)");
is(runs_of('shared'), 'child:cancelled:-:c1 parent:cancelled:-:p2 child:pending:-:c3',
	'... and cancels the pending runs before its own');

# Once the member's run is over, the parent's 'reject' goes through.
$node->safe_psql('postgres', qq{SET ROLE child; SELECT sg_cancel(run_id) FROM sg_runs('shared') WHERE status = 'pending'});
($ok, $err) = submit_as('parent', 'shared', 'p4', 'reject');
ok($ok, "with no active run left, the parent's 'reject' submit is queued") or diag($err);

# A thread that does not exist yet: the member's run will make it; the
# parent's 'reject' still sees that the thread has an active run.
($ok, $err) = submit_as('child', 'fresh', 'c1', 'reject');
ok($ok, 'the member submits a run that will make thread fresh');
($ok, $err) = submit_as('parent', 'fresh', 'p1', 'reject');
ok(!$ok && $err =~ /SG013/, "the parent's 'reject' on thread fresh is refused (SG013)");
($ok, $err) = submit_as('parent', 'fresh', 'p1', 'rollback');
ok(!$ok && $err =~ /SG015/, "the parent's 'rollback' on thread fresh is refused (SG015)");
is(runs_of('fresh'), 'child:pending:-:c1', '... nothing changed');

# A role that can never act on the parent's threads does not hold them up.
($ok, $err) = submit_as('stranger', 'fresh2', 's1', 'reject');
ok($ok, 'an unrelated role submits a run that would make thread fresh2');
($ok, $err) = submit_as('parent', 'fresh2', 'p1', 'interrupt');
ok($ok, "the parent's 'interrupt' on fresh2 is accepted: the unrelated role's run does not count") or diag($err);
is(runs_of('fresh2'), 'stranger:pending:-:s1 parent:pending:-:p1', "... and leaves that role's run alone");

$node->stop;
done_testing();
