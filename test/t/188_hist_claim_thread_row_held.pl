# A run of a thread that another session is changing in its open
# transaction (a client's sg_invoke of an existing thread, not committed
# yet) is passed over by the claim, as a run of a thread another session
# holds, and taken once that transaction has ended. The writer lets the
# thread's advisory lock go once it holds the thread's row, so the claim
# saw the thread free, took the run and waited on the client's
# transaction for as long as it stayed open, past sg_work's max_time: a
# due run of another thread was not executed in that call. (Same as TAP
# 195, for a thread that exists.)
# No preload: only CALL sg_work executes runs here.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('hist_claim_row_held');
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

# a client runs thread old-t again and keeps its transaction open
my $client = $node->background_psql('postgres');
$client->query_safe(q{BEGIN; SELECT sg_invoke('w', '{"n": 10}', 'old-t')});
$node->safe_psql('postgres', q{
    SELECT sg_submit('w', '{"n": 100}', 'old-t', multitask => 'enqueue');
    SELECT sg_submit('w', '{"n": 5}', 'other');
});

my ($rc, $out, $err) = (-1, '', '');
eval { ($rc, $out, $err) = $node->psql('postgres', q{CALL sg_work(10, '3 seconds')}, timeout => 30); 1 }
  or $err = "timed out: $@";
is($rc, 0, 'CALL sg_work returns while another transaction holds the thread');
is($err, '', '(no error)');
$client->query_safe('COMMIT') if $rc != 0;    # (let the rest of the test end)
is($node->safe_psql('postgres', q{SELECT status FROM sg_runs('other')}), 'success',
	'the run of the other thread was executed');
is($node->safe_psql('postgres', q{SELECT status FROM sg_runs('old-t')}), 'pending',
	'the run of the held thread waits, untouched');

$client->query_safe('COMMIT') if $rc == 0;
$client->quit;
$node->safe_psql('postgres', q{CALL sg_work()});
is($node->safe_psql('postgres', q{SELECT status FROM sg_runs('old-t')}), 'success', 'then it is executed');
is($node->safe_psql('postgres', q{SELECT "values"->>'n' FROM sg_get_state('old-t')}), '1113',
	'on top of what the other transaction wrote (1001, + 10 + 1, then + 100 + 1)');

$node->stop;
done_testing();
