# A run whose thread another transaction is creating (a client's sg_invoke
# of a new thread id, its transaction still open) is passed over by the
# claim, as a run of a thread another session holds, and taken once that
# transaction has ended. The claim took it: seeing no thread, the run went
# on to create it and waited on the other transaction's insert of the
# thread's row, for as long as that transaction stayed open (not bounded by
# sg_work's max_time), then failed with 40001 "another transaction created
# it", and the error ended CALL sg_work: a due run of another thread was not
# executed in that call (helper-143's finding).
# No preload: only CALL sg_work executes runs here.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('work_thread_being_created');
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION bump(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT jsonb_build_object('n', 1) $$;
    SELECT sg_create_graph('w', '{"n": "add"}');
    SELECT sg_add_node('w', 'a', 'bump(jsonb)');
    SELECT sg_add_edge('w', '__start__', 'a');
    SELECT sg_add_edge('w', 'a', '__end__');
    SELECT sg_compile('w');
});

# a client creates thread new-t and keeps its transaction open
my $creator = $node->background_psql('postgres');
$creator->query_safe(q{BEGIN; SELECT sg_invoke('w', '{"n": 10}', 'new-t')});
$node->safe_psql('postgres', q{
    SELECT sg_submit('w', '{"n": 100}', 'new-t', multitask => 'enqueue');
    SELECT sg_submit('w', '{"n": 5}', 'other');
});

# the call returns within its max_time, having run the other thread's run
# (before: it waited on the creator's transaction, past the timeout)
my ($rc, $out, $err) = (-1, '', '');
eval { ($rc, $out, $err) = $node->psql('postgres', q{CALL sg_work(10, '3 seconds')}, timeout => 30); 1 }
  or $err = "timed out: $@";
is($rc, 0, 'CALL sg_work returns without error while the thread is being created');
is($err, '', '(no error)');
$creator->query_safe('COMMIT') if $rc != 0;    # (let the rest of the test end)
is($node->safe_psql('postgres', q{SELECT status FROM sg_runs('other')}), 'success',
	'the run of the other thread was executed');
is($node->safe_psql('postgres', q{SELECT status FROM sg_runs('new-t')}), 'pending',
	'the run of the thread being created waits, untouched');

# once the creator commits, the run goes on top of what it wrote
$creator->query_safe('COMMIT') if $rc == 0;
$creator->quit;
$node->safe_psql('postgres', q{CALL sg_work()});
is($node->safe_psql('postgres', q{SELECT status FROM sg_runs('new-t')}), 'success', 'then it is executed');
is($node->safe_psql('postgres', q{SELECT "values"->>'n' FROM sg_get_state('new-t')}), '112',
	'on top of the thread the other transaction created (10 + 1, then 100 + 1)');

$node->stop;
done_testing();
