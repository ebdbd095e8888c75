# sg_import_thread with stategraph.lock_wait off, of a thread id that another
# transaction is creating (an import not committed yet): the thread is busy,
# 55P03 at once, as sg_invoke and sg_fork say of a thread whose insert is in
# flight (isolation new_thread_race). The import waited for the other
# transaction's commit instead (its insert was not bounded as theirs is),
# and then said the thread "belongs to another role". Isolation
# import_race has the waiting cases; here, where isolationtester may
# or may not see the import's 1 ms wait, the wait is timed.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use IPC::Run;

my $node = plain_node('import_busy');
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph;' . one_node_graph_sql('g')
	  . q{SELECT sg_invoke('g', '{}', 't'); CREATE TABLE ex AS SELECT sg_export_thread('t') AS d;});

my $bg = $node->background_psql('postgres');
$bg->query_safe(q{BEGIN; SELECT sg_import_thread(d, 'copy') FROM ex});

# bounded by statement_timeout: a wait for the open transaction is 57014, not 55P03
my ($rc, $stdout, $stderr) = $node->psql('postgres', q{
    SET statement_timeout = '10s'; SET stategraph.lock_wait = off;
    SELECT sg_import_thread(d, 'copy') FROM ex},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
isnt($rc, 0, 'the second import fails');
like($stderr, qr/ERROR:  55P03: thread "copy" is busy/, 'with 55P03 at once, the thread being busy')
  or diag $stderr;

# waiting (lock_wait on), it fails once the first commits: 40001, the thread is the role's own
my $h = IPC::Run::start(
	[ 'psql', '-X', '-At', '-v', 'VERBOSITY=verbose', '-d', $node->connstr('postgres'), '-c',
	  q{SELECT sg_import_thread(d, 'copy') FROM ex} ],
	'>', \my $out, '2>', \my $err);
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%sg_import_thread%'}),
	'with lock_wait on, the second import waits for the first');
$bg->query_safe('COMMIT');
$h->finish;
like($err, qr/ERROR:  40001: could not create thread "copy": another transaction created it/,
	'and fails with 40001 when it commits') or diag $err;
$bg->quit;

is($node->safe_psql('postgres', q{SELECT count(*) FROM sg_get_state_history('copy')}), '3',
	'the first import is whole');

done_testing();
