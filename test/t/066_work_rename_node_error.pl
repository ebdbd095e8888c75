# CALL sg_work executes a run whose role is renamed (with its
# sg_reassign_owned, in one transaction) between two of its steps, and the
# next step's node fails: a step that fails while its role is renamed
# failed for the rename, not for its graph, whether the error escaped the
# step (TAP 053) or a node's error was recorded on the run. A worker
# takes such a step again; CALL sg_work did so only for the first kind
# and ended the run with status error for the second. It now takes it
# again as the workers do (one rule, execute_run's retry_renamed): the run
# succeeds, every step's effect is there once, no failure is counted.
#
# The node's failure stands in for a node that reads the role under its
# old name: it fails once, the first time it finds a row the renaming
# transaction committed (a sequence, which no rollback undoes, makes it
# fail only once).
# No preload: only CALL sg_work executes runs here.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('work_rename_node');

$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE ROLE carol;
    CREATE TABLE effects (i int);
    CREATE TABLE renamed (at timestamptz);
    CREATE SEQUENCE failures_once;
    GRANT INSERT, SELECT ON effects, renamed TO PUBLIC;
    GRANT USAGE ON SEQUENCE failures_once TO PUBLIC;
    CREATE FUNCTION work(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT FROM renamed) AND nextval('failures_once') = 1 THEN
            RAISE EXCEPTION 'node failed while its role was renamed';
        END IF;
        INSERT INTO effects VALUES ((state->>'i')::int);
        IF (state->>'i')::int = 2 THEN    -- the third step waits at the test's gate (lock 4066)
            PERFORM pg_advisory_lock_shared(4066);
            PERFORM pg_advisory_unlock_shared(4066);
        END IF;
        PERFORM pg_sleep(1);
        RETURN jsonb_build_object('i', (state->>'i')::int + 1);
    END $$;
    CREATE FUNCTION more(state jsonb) RETURNS text LANGUAGE sql
        AS $$ SELECT CASE WHEN (state->>'i')::int < 4 THEN 'work' ELSE '__end__' END $$;
    SELECT sg_create_graph('loop', '{"i": "replace"}');
    SELECT sg_add_node('loop', 'work', 'work(jsonb)');
    SELECT sg_add_edge('loop', '__start__', 'work');
    SELECT sg_add_conditional_edges('loop', 'work', 'more(jsonb)', '["work", "__end__"]');
    SELECT sg_compile('loop');
});
my $gate = hold_gates($node, 4066);
my $run = $node->safe_psql('postgres',
	q{SET ROLE carol; SELECT sg_submit('loop', '{"i": 0}', 'c-1')});

my ($out, $err) = ('', '');
my $work = IPC::Run::start(
	[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
	  '-c', 'SET application_name = work_session', '-c', 'CALL sg_work()' ],
	'>', \$out, '2>', \$err);

# during the third step: the rename, its reassign and the row that makes
# the next node fail, committed together. The third step waits at a gate
# the test opens once they committed (on a loaded machine the run could
# otherwise end before the reassign came)
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 2 FROM effects WHERE EXISTS (SELECT FROM pg_stat_activity WHERE query = 'CALL sg_work()' AND wait_event = 'advisory')}),
	'the run took two steps, and waits at the gate in its third');
my ($aout, $aerr) = ('', '');
my $admin = IPC::Run::start(
	[ 'psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') . ' application_name=admin',
	  '-c', 'BEGIN', '-c', 'ALTER ROLE carol RENAME TO carol2', '-c', 'INSERT INTO renamed VALUES (now())',
	  '-c', q{SELECT sg_reassign_owned('carol', 'carol2')}, '-c', 'COMMIT' ],
	'>', \$aout, '2>', \$aerr);
$admin->finish;
is($aerr, '', 'the rename and its reassign committed during the third step');
is($aout, "2\n", 'the reassign moved the thread and the run');
open_gate($gate, 4066);
$gate->quit;

$work->finish;
unlike($err, qr/ERROR/, 'CALL sg_work ends without error');
like($err, qr/node failed while its role was renamed/, 'the node failed (a WARNING, as for any node)');
is($node->safe_psql('postgres', q{SELECT last_value FROM failures_once}), '2',
	'the node ran twice after the rename: it failed, then passed when taken again');
is($node->safe_psql('postgres', qq{SELECT status || ' ' || owner || ' ' || failures FROM stategraph.runs WHERE run_id = '$run'}),
	'success carol2 0', 'the run succeeded, as the new name, with no failure counted');
cmp_ok($node->safe_psql('postgres', qq{SELECT attempt FROM stategraph.runs WHERE run_id = '$run'}), '>', 1,
	'the step whose node failed for the rename was taken again (its attempt grew)');
is($node->safe_psql('postgres', q{SELECT string_agg(i::text, ',' ORDER BY i) FROM effects}), '0,1,2,3',
	'each step\'s effect is there once');
is($node->safe_psql('postgres', q{SELECT owner || ' ' || status FROM stategraph.threads WHERE thread_id = 'c-1'}),
	'carol2 done', 'the thread belongs to the new name');

$node->stop;
done_testing();
