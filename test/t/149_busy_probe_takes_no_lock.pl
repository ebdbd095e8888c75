# Asking whether a thread is busy takes no lock on it.
#
# sg_threads, and a worker's claim, ask of each thread whether another
# session holds it (sg_thread_is_busy). The probe used to take the thread's
# lock in share mode for a moment: a writer with stategraph.lock_wait off
# that came in that moment failed with 55P03 "thread is busy" although
# nobody was writing the thread, only looking at it (a dashboard polling
# sg_threads made an application's writes fail now and then). The probe now
# reads the lock table instead.
#
# gdb holds the moment open: session A's sg_threads is stopped inside the
# probe of thread t1 (at LockRelease, holding the share lock, before the
# change; at GetLockConflicts, holding nothing, after it) while another
# session writes t1 with stategraph.lock_wait off. Needs gdb and the right
# to attach to a backend (the test skips otherwise). No preload: nothing
# else probes the thread.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGNode;
use SGGdb;

plan skip_all => gdb_missing() if gdb_missing();

my $node = plain_node('busy_probe');
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph;' . one_node_graph_sql('g')
	  . q{SELECT sg_invoke('g', '{}', 't1');});

my $a = gdb_session($node);
my $dir = $a->{dir};
my $g = gdb_attach($a, 'break sg_thread_is_busy', <<"CMD");
continue
delete
break LockRelease
break GetLockConflicts
continue
shell touch $dir/held
shell while [ ! -e $dir/go ]; do sleep 0.05; done
detach
quit
CMD
plan skip_all => 'gdb cannot attach to a backend here' unless $g;
my ($gdb, $log) = ($g->{h}, $g->{log});

${ $a->{in} } .= "SELECT thread_id || ' ' || status FROM sg_threads();\n";
$a->{h}->pump_nb;
ok(appears($dir, 'held'), "session A's sg_threads is stopped inside the probe of thread t1") or diag $$log;

my ($rc, $stdout, $stderr);
eval {
	($rc, $stdout, $stderr) = $node->psql('postgres',
		q{SET lock_timeout = '10s'; SET stategraph.lock_wait = off; SELECT sg_update_state('t1', '{"n": 2}')});
};
my $failed = $@;
open my $go, '>', "$dir/go" or die;
close $go;
$gdb->finish;
die $failed if $failed;
like($$log, qr/Breakpoint \d+, (0x[0-9a-f]+ in )?(LockRelease|GetLockConflicts)/, 'it was stopped inside the probe: at the lock table (or, before the change, letting the lock go)')
  or diag $$log;
is($rc, 0, 'a writer with stategraph.lock_wait off writes the thread while its status is probed') or diag $stderr;

end_session($a);
like(${ $a->{out} }, qr/^t1 (idle|done)$/m, 'the listing went on and shows the thread not running');

# the probe still sees a holder: a CALL sg_run held in its node
$node->safe_psql('postgres', q{
    CREATE TABLE gate (x int);
    CREATE FUNCTION wait_gate(state jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN LOCK TABLE gate IN ACCESS EXCLUSIVE MODE; RETURN '{"n": 3}'; END $$;
    SELECT sg_create_graph('h', '{"n": "replace"}');
    SELECT sg_add_node('h', 'w', 'wait_gate(jsonb)');
    SELECT sg_add_edge('h', '__start__', 'w');
    SELECT sg_add_edge('h', 'w', '__end__');
    SELECT sg_compile('h');
});
my ($in, $out, $err) = ('', '', '');
my $blocker = IPC::Run::start(['psql', '-X', '-At', '-d', $node->connstr('postgres')],
	'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(180));
$in .= "BEGIN; LOCK TABLE gate; SELECT 'locked';\n";
$blocker->pump until $out =~ /locked/;
my ($rin, $rout, $rerr) = ('', '', '');
my $runner = IPC::Run::start(['psql', '-X', '-At', '-d', $node->connstr('postgres')],
	'<', \$rin, '>', \$rout, '2>', \$rerr, IPC::Run::timeout(180));
$rin .= "CALL sg_run('h', '{}', 't2');\n";
$runner->pump_nb;
ok(true_within($node, 30, q{SELECT count(*) = 1 FROM pg_locks WHERE locktype = 'relation' AND NOT granted}),
	'CALL sg_run waits in its node, holding thread t2');
is($node->safe_psql('postgres', q{SELECT status FROM sg_threads() WHERE thread_id = 't2'}), 'running',
	'sg_threads shows the thread a session holds running');
my ($brc, $bout, $berr) = $node->psql('postgres',
	q{SET stategraph.lock_wait = off; SELECT sg_update_state('t2', '{"n": 4}')});
like($berr, qr/thread "t2" is busy/, 'and a writer with stategraph.lock_wait off is told it is busy');
$in .= "COMMIT;\n\\q\n";
$blocker->finish;
$rin .= "\\q\n";
$runner->finish;
is($node->safe_psql('postgres', q{SELECT values->>'n' FROM sg_get_state('t2')}), '3', 'the run ended');

$node->stop;
done_testing();
