# A submit that waited for sg_reassign_owned reads its graph again.
#
# sg_submit reads and checks its graph (sg_graph_check_privileges: EXECUTE,
# and each function still of the role it was bound to) before it holds
# the name of the owner of the thread it submits to (reassign.c,
# runs.c's sg_lock_thread_submits). When that hold waits for a reassign
# of the thread's owner, which gives the owner's graph away too, the graph
# it checked is no longer the graph: here its node function is bound to
# eve, who made it, and was given to dave (dave2 since a rename), which
# the graph runs while dave2 owns the graph; once the graph is carol's, the
# function is neither the graph owner's nor the role's it was bound to,
# and a submit made after the reassign is refused with 42501. (The test
# first bound the function to dave by name, which the rename left stale;
# sg_reassign_owned of a renamed role now binds its functions to the new
# name, pg_regress reassign_bound_names.) The submit
# that waited queued its run all the same, which failed with that error
# only when it started. Now it reads and checks the graph again once it
# waited: it is refused as a submit made after the reassign is.
#
# w, a member of dave (dave2) and carol, submits to dave2's thread 't' of
# graph dg while sg_reassign_owned('dave2', 'carol') is held open in a
# transaction: the submit waits for dave2's name (pg_locks), then the
# reassign commits.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SGNode;
use Test::More;

# no workers: runs stay pending, nothing but the test's sessions takes locks
my $node = plain_node('reassign_submit_graph');
$node->safe_psql('postgres', extension_and_roles_sql(qw(dave carol eve)) . q{
CREATE ROLE w;
GRANT dave, carol TO w;
SET ROLE eve;
CREATE FUNCTION public.dfn(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
SET ROLE dave;
} . one_step_graph_sql('dg', '{"n": "replace"}', 'one', 'public.dfn(jsonb)') . q{
SELECT sg_invoke('dg', '{}', 't');
RESET ROLE;
ALTER FUNCTION public.dfn(jsonb) OWNER TO dave;
ALTER ROLE dave RENAME TO dave2;
SELECT sg_reassign_owned('dave', 'dave2');
});

# dave2's graph runs its own function, bound to eve: a submit of w is queued
is($node->safe_psql('postgres', q{
	BEGIN;
	SET ROLE w;
	SELECT sg_submit('dg', '{}', 't') IS NOT NULL;
	ROLLBACK;}), 't', 'before the reassign, w may submit to dave2\'s thread of dg');

# the reassign, held open: it holds dave2's name exclusively
my $reassign = $node->background_psql('postgres');
$reassign->query_safe(q{BEGIN; SELECT sg_reassign_owned('dave2', 'carol')});

my ($out, $err) = ('', '');
my $submit = IPC::Run::start(
	[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') . ' application_name=submit',
	  '-c', q{SET ROLE w}, '-c', q{SELECT sg_submit('dg', '{}', 't')} ],
	'>', \$out, '2>', \$err);
# the submit waits for the share lock of dave2's name (reassign.c: an
# advisory lock keyed by hash_bytes_extended(name, 'RO')), which the
# reassign holds
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
	WHERE a.application_name = 'submit' AND a.wait_event = 'advisory' AND NOT l.granted
	  AND l.locktype = 'advisory' AND l.objsubid = 21071 AND l.mode = 'ShareLock'
	  AND l.classid::bigint = (hashtextextended('dave2', 21071) >> 32) & 4294967295
	  AND l.objid::bigint = hashtextextended('dave2', 21071) & 4294967295}),
	'the submit waits for the reassign\'s hold of dave2\'s name');

$reassign->query_safe('COMMIT');
$submit->finish;
my $refused = q{ERROR:  function public.dfn(pg_catalog.jsonb) of node "one" in graph "dg" belongs to role "dave2", not to role "eve"};
like($err, qr/\Q$refused\E/, 'the submit that waited is refused: the graph is carol\'s now');
unlike($out, qr/[0-9a-f]{8}-[0-9a-f]{4}-/, 'it returned no run id');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs WHERE thread_id = 't'}), '0',
	'no run was queued');

# the same refusal as a submit made after the reassign
my ($ret, $out2, $err2) = $node->psql('postgres', q{
	SET ROLE w;
	SELECT sg_submit('dg', '{}', 't');}, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err2, qr/ERROR:  42501: \Q@{[ substr($refused, 8) ]}\E/, 'a submit after the reassign: the same error, 42501');

$reassign->quit;
ok(no_advisory_lock_left($node), 'no advisory lock is left');
$node->stop;
done_testing();
