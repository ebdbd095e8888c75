# A claim that finds its candidate run ended meanwhile leaves the run's
# thread alone.
#
# A claim reads its candidates (runs due) with one snapshot, then tries them
# one by one. A candidate may end in between: another executor (a worker,
# CALL sg_work) runs it to its end, lets its thread go and commits. The
# claim took the thread's lock first and only then found the run ended, so
# for that moment a thread whose run everyone already saw ended was held:
# sg_threads called it running and a caller with stategraph.lock_wait off
# got 55P03 (regress revlife_prune_waiting saw it, 2 times in 150). The claim
# now locks the run's row first (a row being ended is locked, an ended one
# is no longer due) and takes the thread only for a run still due.
#
# gdb holds the moment open: session A's CALL sg_work is stopped in
# try_claim, its candidates read; session B's CALL sg_work executes the run
# to its end; A goes on and is stopped again either holding the thread
# (just back from sg_try_lock_thread) or at its next statement, having
# passed the run over; another session reads the thread meanwhile. Needs gdb and the right to attach to a backend (the test
# skips otherwise). No preload: no worker claims but A and B.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use SGGdb;

plan skip_all => gdb_missing() if gdb_missing();

my $node = plain_node('claim_of_ended_run');
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph;' . one_node_graph_sql('g'));
my $run = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{}', 't1')});

my $a = gdb_session($node);
my $dir = $a->{dir};
my $g = gdb_attach($a, 'break try_claim', <<"CMD");
continue
shell touch $dir/at_claim
shell while [ ! -e $dir/go_on ]; do sleep 0.05; done
delete
break sg_try_lock_thread
break pg_parse_query
continue
finish
shell touch $dir/held
shell while [ ! -e $dir/go ]; do sleep 0.05; done
detach
quit
CMD
plan skip_all => 'gdb cannot attach to a backend here' unless $g;
my ($gdb, $log) = ($g->{h}, $g->{log});
# A reads the run as a candidate and stops before trying it
${ $a->{in} } .= "CALL sg_work(); SELECT 'after';\n";
$a->{h}->pump_nb;
ok(appears($dir, 'at_claim'), 'session A is stopped in try_claim, the run its candidate') or diag $$log;

# B runs it to its end meanwhile; then A goes on
$node->safe_psql('postgres', 'CALL sg_work()');
is($node->safe_psql('postgres', qq{SELECT status FROM sg_runs() WHERE run_id = '$run'}), 'success',
	"session B executed the run to its end");
open my $go_on, '>', "$dir/go_on" or die;
close $go_on;
ok(appears($dir, 'held'), 'session A is stopped again, in its claim or at its next statement') or diag $$log;

my ($status, $rc, $stdout, $stderr);
eval {
	$status = $node->safe_psql('postgres', q{SELECT status FROM sg_threads() WHERE thread_id = 't1'});
	($rc, $stdout, $stderr) = $node->psql('postgres',
		q{SET lock_timeout = '10s'; SET stategraph.lock_wait = off; SELECT sg_update_state('t1', '{}')});
};
my $failed = $@;
open my $go, '>', "$dir/go" or die;
close $go;
$gdb->finish;
die $failed if $failed;
is($status, 'done', 'the thread of the ended run reads done, not running, while the claim goes on');
is($rc, 0, 'a caller with stategraph.lock_wait off may write the thread meanwhile') or diag $stderr;
like($$log, qr/Breakpoint \d+, (0x[0-9a-f]+ in )?pg_parse_query/,
	'session A passed the run over without taking its thread: it stopped at its next statement') or diag $$log;

end_session($a);
like(${ $a->{out} }, qr/^after$/m, "session A's CALL sg_work ended, and its next statement ran");
$node->safe_psql('postgres', q{SELECT sg_invoke('g', '{}', 't2')});
is($node->safe_psql('postgres', q{SELECT string_agg(source, ' ' ORDER BY step) FROM sg_get_state_history('t1') WHERE source <> 'update'}),
	$node->safe_psql('postgres', q{SELECT string_agg(source, ' ' ORDER BY step) FROM sg_get_state_history('t2')}),
	'the run executed once: but for the update, its thread has the checkpoints of one sg_invoke');
is($node->safe_psql('postgres', qq{SELECT status || ' ' || attempt FROM sg_runs() WHERE run_id = '$run'}), 'success 1',
	'the run succeeded, claimed once');

$node->stop;
done_testing();
