# A run of a thread that another session's open transaction holds is passed
# over by the claim, as a run of a thread another session executes, and
# taken once that transaction has ended. Two cases:
# - changing it: a client's sg_invoke of an existing thread, not committed
#   yet. The writer lets the thread's advisory lock go once it holds the
#   thread's row, so the claim saw the thread free, took the run and waited
#   on the client's transaction for as long as it stayed open, past
#   sg_work's max_time: a due run of another thread was not executed.
# - creating it: a client's sg_invoke of a new thread id. The claim took the
#   run, which, seeing no thread, went on to create it and waited on the
#   other transaction's insert of the thread's row (not bounded by
#   max_time), then failed with 40001 "another transaction created it",
#   and the error ended CALL sg_work (helper-143's finding).
# No preload: only CALL sg_work executes runs here.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('claim_thread_held_in_xact');
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION bump(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT jsonb_build_object('n', 1) $$;
    SELECT sg_create_graph('w', '{"n": "add"}');
    SELECT sg_add_node('w', 'a', 'bump(jsonb)');
    SELECT sg_add_edge('w', '__start__', 'a');
    SELECT sg_add_edge('w', 'a', '__end__');
    SELECT sg_compile('w');
    SELECT sg_invoke('w', '{"n": 1000}', 'old-t');
});

# [case, thread, what sg_get_state reads once both runs are done]
for my $case (['being changed', 'old-t', '1113', '1001, + 10 + 1, then + 100 + 1'],
	['being created', 'new-t', '112', '10 + 1, then 100 + 1'])
{
	my ($what, $thread, $n, $sum) = @$case;
	my $client = $node->background_psql('postgres');
	$client->query_safe(qq{BEGIN; SELECT sg_invoke('w', '{"n": 10}', '$thread')});
	$node->safe_psql('postgres', qq{
	    SELECT sg_submit('w', '{"n": 100}', '$thread', multitask => 'enqueue');
	    SELECT sg_submit('w', '{"n": 5}', 'other-$thread');
	});

	# the call returns within its max_time, having run the other thread's run
	my ($rc, $out, $err) = (-1, '', '');
	eval { ($rc, $out, $err) = $node->psql('postgres', q{CALL sg_work(10, '3 seconds')}, timeout => 30); 1 }
	  or $err = "timed out: $@";
	is($rc, 0, "$what: CALL sg_work returns while another transaction holds the thread");
	is($err, '', "$what: (no error)");
	$client->query_safe('COMMIT') if $rc != 0;    # (let the rest of the test end)
	is($node->safe_psql('postgres', qq{SELECT status FROM sg_runs('other-$thread')}), 'success',
		"$what: the run of the other thread was executed");
	is($node->safe_psql('postgres', qq{SELECT status FROM sg_runs('$thread')}), 'pending',
		"$what: the run of the held thread waits, untouched");

	# once the client commits, the run goes on top of what it wrote
	$client->query_safe('COMMIT') if $rc == 0;
	$client->quit;
	$node->safe_psql('postgres', q{CALL sg_work()});
	is($node->safe_psql('postgres', qq{SELECT status FROM sg_runs('$thread')}), 'success',
		"$what: then it is executed");
	is($node->safe_psql('postgres', qq{SELECT "values"->>'n' FROM sg_get_state('$thread')}), $n,
		"$what: on top of what the other transaction wrote ($sum)");
}

$node->stop;
done_testing();
