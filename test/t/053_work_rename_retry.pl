# CALL sg_work executes a run whose role is renamed (with its
# sg_reassign_owned, in one transaction, as README says) during one of its
# steps: the step, which waited for the thread's row that the reassign
# held, goes on once the rename commits while its session still reads the
# role under its old name, and fails ('role "..." does not exist', or a
# row refused by row-level security). A background worker takes such a
# step again; CALL sg_work ended the run with status error. It now does
# what a worker does: the step is rolled back, the run is due again at
# once (its attempt grows, its failures do not), and sg_work takes it
# again as the new name, so the run succeeds and every step's effect is
# there once. Since stategraph.owned asks pg_has_role for the current role
# by OID (the failure here was its lookup of CURRENT_USER's old name:
# 'role "carol" does not exist'), that step no longer fails: it goes on as
# the renamed role, whose rows it writes, and is not taken again
# (isolation read_role_renamed; test/t/066_work_rename_node_error keeps a
# step that fails for a rename, taken again).
# No preload: only CALL sg_work executes runs here.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SGNode;
use Test::More;

my $node = plain_node('work_rename');

# graph 'loop' (SGNode), of the superuser; carol runs it on a thread of hers
sleepy_loop_graph($node);
$node->safe_psql('postgres', q{CREATE ROLE carol; GRANT INSERT, SELECT ON effects TO PUBLIC;});
my $run = $node->safe_psql('postgres',
	q{SET ROLE carol; SELECT sg_submit('loop', '{"i": 0, "steps": 4, "sleep": 1}', 'c-1')});

# CALL sg_work in a session of its own (as a superuser: it executes every role's runs)
my ($out, $err) = ('', '');
my $work = IPC::Run::start(
	[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
	  '-c', 'SET application_name = work_session', '-c', 'CALL sg_work()' ],
	'>', \$out, '2>', \$err);

# once its first step has committed, the rename and its reassign: the
# reassign waits for the second step (which holds the thread's row), then
# holds the row; the third step waits for it
ok($node->poll_query_until('postgres', q{SELECT count(*) >= 1 FROM effects WHERE i = 0}),
	'the run took its first step');
my $admin = $node->background_psql('postgres');
$admin->query_safe('BEGIN');
$admin->query_safe('ALTER ROLE carol RENAME TO carol2');
is($admin->query_safe(q{SELECT sg_reassign_owned('carol', 'carol2')}), 2,
	'the reassign moved the thread and the run');
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity
	WHERE application_name = 'work_session' AND wait_event_type = 'Lock'}),
	'a step of the run waits for the reassign');
$admin->query_safe('COMMIT');
$admin->quit;

$work->finish;
is($err, '', 'CALL sg_work ends without error');
is($node->safe_psql('postgres', qq{SELECT status || ' ' || owner || ' ' || failures FROM stategraph.runs WHERE run_id = '$run'}),
	'success carol2 0', 'the run succeeded, as the new name, with no failure counted');
is($node->safe_psql('postgres', qq{SELECT attempt FROM stategraph.runs WHERE run_id = '$run'}), 1,
	'the step that ran across the rename went on, not failed and taken again');
is($node->safe_psql('postgres', q{SELECT string_agg(i::text, ',' ORDER BY i) FROM effects}), '0,1,2,3',
	'each step\'s effect is there once');
is($node->safe_psql('postgres', q{SELECT owner || ' ' || status FROM stategraph.threads WHERE thread_id = 'c-1'}),
	'carol2 done', 'the thread belongs to the new name');

$node->stop;
done_testing();
