# A session that waits in sg_wait or in sg_claim's long poll holds no lock
# of the extension's tables while it sleeps (TAP 325), so DROP EXTENSION
# stategraph goes through meanwhile. The wait's next look then failed on a
# table that no longer existed: 42P01, relation "stategraph.runs" (or
# "stategraph.tasks"...) does not exist, with the library's own query in
# the error (a review found it). Each look now takes the extension's
# object lock in share mode first (the DROP takes it first, in access
# exclusive mode): a DROP in progress is waited for, and one done is a
# clear error, 55000, extension "stategraph" was dropped while waiting for
# ..., with no query of the library in it. Checked for each waiting entry
# point: sg_wait (the DROP in progress at its looks, waiting for the run's
# step), sg_claim's long poll (the DROP in progress at its looks; the DROP
# done between two looks; the extension dropped and created again, whose
# new queue the poll would else have gone on polling).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGNode;

my $node = preloaded_node('wait_drop_message');

# A psql session running $sql in the background, errors in verbose form
# (with their SQLSTATE); returns the harness and refs to its out and err.
sub start_psql
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-d', $node->connstr('postgres'),
		'-c', $sql ], '>', \$out, '2>', \$err);
	return ($h, \$out, \$err);
}

# Whether $err is the clear error of a wait for $what (a regex), and
# carries nothing of the library's queries.
sub dropped_error
{
	my ($err, $what, $label) = @_;
	like($err, qr/ERROR:  55000: extension "stategraph" was dropped while waiting for $what/,
		"$label: 55000, the extension was dropped while waiting");
	like($err, qr/HINT:  Create the extension again/, "$label: with a hint");
	unlike($err, qr/42P01|QUERY:|does not exist|"stategraph\.\w/, "$label: no query of the library, no missing table");
}

sub wait_started
{
	my ($like) = @_;
	return true_within($node, 60, qq{SELECT EXISTS (SELECT 1 FROM pg_stat_activity
	    WHERE query LIKE '$like' AND wait_event_type = 'Extension')});
}

sub drop_waits
{
	return true_within($node, 60, q{SELECT EXISTS (SELECT 1 FROM pg_stat_activity
	    WHERE query LIKE 'DROP EXTENSION%' AND wait_event_type = 'Lock')});
}

sub dropped
{
	return true_within($node, 60, q{SELECT NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'stategraph')});
}

# whether the session running a query LIKE $like has ended it within a minute
sub ended
{
	my ($like, $secs) = @_;
	return true_within($node, $secs // 60, qq{SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity
	    WHERE query LIKE '$like' AND state = 'active' AND pid <> pg_backend_pid())});
}

# (a stuck session is cancelled, or the test would hang on it)
sub cancel_left
{
	$node->safe_psql('postgres', q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity
	    WHERE (query LIKE '%sg_wait%' OR query LIKE '%sg_claim%' OR query LIKE 'DROP EXTENSION%')
	      AND pid <> pg_backend_pid()});
}

# sg_wait: the run's first step naps 3 s; the worker's next transaction
# waits for the DROP, the DROP for the step, and the waiter looks once a
# second meanwhile
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION nap(state jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT pg_catalog.pg_sleep(3); SELECT '{"n": 1}'::jsonb $$;
    CREATE FUNCTION quick(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
    SELECT sg_create_graph('two', '{"n": "add"}');
    SELECT sg_add_node('two', 'a', 'nap(jsonb)');
    SELECT sg_add_node('two', 'b', 'quick(jsonb)');
    SELECT sg_add_edge('two', '__start__', 'a');
    SELECT sg_add_edge('two', 'a', 'b');
    SELECT sg_add_edge('two', 'b', '__end__');
    SELECT sg_compile('two');
});
my $run = $node->safe_psql('postgres', q{SELECT sg_submit('two', '{}', 'w1')});
ok(true_within($node, 60, qq{SELECT EXISTS (SELECT 1 FROM pg_stat_activity
    WHERE application_name = 'stategraph run $run' AND wait_event = 'PgSleep')}), 'a worker executes the run');
my ($waiter, $wait_out, $wait_err) = start_psql("SELECT status FROM sg_wait('$run')");
ok(wait_started('SELECT status FROM sg_wait%'), 'a session waits for the run');
my ($dropper, $drop_out, $drop_err) = start_psql('DROP EXTENSION stategraph CASCADE');
ok(dropped(), 'the extension is dropped while the session waits');
ok(ended('SELECT status FROM sg_wait%'), 'the wait ends');
cancel_left();
$dropper->finish;
$waiter->finish;
is($$drop_err, '', 'the DROP succeeded');
is($$wait_out, '', 'sg_wait returned no row');
dropped_error($$wait_err, qr/run \Q$run\E\n/, 'sg_wait');
unlike($$wait_err, qr/canceling statement/, 'sg_wait: not left waiting');

# sg_wait in a transaction that read the extension's tables first holds
# them, and the DROP waits for it, the run's worker for the DROP, and the
# waiter for the run: the waiter's look also waits for the DROP (as it did
# before for a table the DROP took), a deadlock PostgreSQL sees (40P01) and
# ends, in the wait (whose transaction the DROP then drops) or in the DROP
# (the wait then returns the run's end), whichever looks for it. The lock
# of the extension each look takes leaves no hang there.
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    SELECT sg_create_graph('two', '{"n": "add"}');
    SELECT sg_add_node('two', 'a', 'nap(jsonb)');
    SELECT sg_add_node('two', 'b', 'quick(jsonb)');
    SELECT sg_add_edge('two', '__start__', 'a');
    SELECT sg_add_edge('two', 'a', 'b');
    SELECT sg_add_edge('two', 'b', '__end__');
    SELECT sg_compile('two');
});
$run = $node->safe_psql('postgres', q{SELECT sg_submit('two', '{}', 'w2')});
ok(true_within($node, 60, qq{SELECT EXISTS (SELECT 1 FROM pg_stat_activity
    WHERE application_name = 'stategraph run $run' AND wait_event = 'PgSleep')}), 'a worker executes the second run');
($waiter, $wait_out, $wait_err) = start_psql("BEGIN; SELECT count(*) FROM stategraph.runs; "
	. "SELECT status FROM sg_wait('$run', timeout => '60 s'); COMMIT");
ok(wait_started('%SELECT status FROM sg_wait%'), 'a session that read runs waits for the run');
($dropper, $drop_out, $drop_err) = start_psql('DROP EXTENSION stategraph CASCADE');
ok(ended('%SELECT status FROM sg_wait%', 20), 'the wait ends (not at its 60 s timeout)');
ok(ended('DROP EXTENSION%', 20), 'so does the DROP');
cancel_left();
$dropper->finish;
$waiter->finish;
note("waiter: out '$$wait_out', err '$$wait_err'; DROP: err '$$drop_err'");
ok(($$drop_err eq '' && $$wait_err =~ /ERROR:  40P01: deadlock detected/)
	  || ($$drop_err =~ /ERROR:  40P01: deadlock detected/ && $$wait_out =~ /^success$/m),
	'one of them got 40P01, and the other went through');
unlike($$wait_err . $$drop_err, qr/canceling statement/, 'neither was left waiting');
$node->safe_psql('postgres', 'DROP EXTENSION IF EXISTS stategraph CASCADE');

# sg_claim's long poll, the DROP in progress at its looks: a session reads
# a table of the extension for 2 s, and the DROP waits for it
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    SELECT sg_create_graph('ext', '{"answer": "replace"}');
    SELECT sg_add_external_node('ext', 'ask', 'q');
    SELECT sg_add_edge('ext', '__start__', 'ask');
    SELECT sg_add_edge('ext', 'ask', '__end__');
    SELECT sg_compile('ext');
});
my ($claimer, $claim_out, $claim_err) = start_psql(q{SELECT task_id FROM sg_claim('q', 'w', 1, wait => '60 s')});
ok(wait_started('SELECT task_id FROM sg_claim%'), 'a session long-polls queue q');
my ($reader) = start_psql(q{BEGIN; SELECT count(*) FROM stategraph.graphs; SELECT pg_sleep(2); COMMIT});
ok(true_within($node, 60, q{SELECT EXISTS (SELECT 1 FROM pg_stat_activity
    WHERE query LIKE 'BEGIN; SELECT count(*) FROM stategraph.graphs%' AND wait_event = 'PgSleep')}), 'a session reads graphs');
($dropper, $drop_out, $drop_err) = start_psql('DROP EXTENSION stategraph CASCADE');
ok(drop_waits(), 'the DROP waits for the reader');
ok(dropped(), 'the extension is dropped while the session polls');
ok(ended('SELECT task_id FROM sg_claim%'), 'the poll ends');
cancel_left();
$reader->finish;
$dropper->finish;
$claimer->finish;
is($$drop_err, '', 'the DROP succeeded');
is($$claim_out, '', 'sg_claim claimed nothing');
dropped_error($$claim_err, qr/tasks of queue "q"\n/, 'sg_claim, the DROP in progress');
unlike($$claim_err, qr/canceling statement/, 'sg_claim, the DROP in progress: not left waiting');

# the DROP done between two looks of the poll
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph');
($claimer, $claim_out, $claim_err) = start_psql(q{SELECT task_id FROM sg_claim('q2', 'w', 1, wait => '60 s')});
ok(wait_started('SELECT task_id FROM sg_claim%'), 'a session long-polls queue q2');
$node->safe_psql('postgres', 'DROP EXTENSION stategraph CASCADE');
ok(ended('SELECT task_id FROM sg_claim%'), 'the poll ends');
cancel_left();
$claimer->finish;
is($$claim_out, '', 'sg_claim claimed nothing');
dropped_error($$claim_err, qr/tasks of queue "q2"\n/, 'sg_claim, the DROP done');

# dropped and created again in one transaction: the poll's queue is gone
# with the old extension, and the poll does not go on with the new one's
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph');
($claimer, $claim_out, $claim_err) = start_psql(q{SELECT task_id FROM sg_claim('q3', 'w', 1, wait => '60 s')});
ok(wait_started('SELECT task_id FROM sg_claim%'), 'a session long-polls queue q3');
$node->safe_psql('postgres', 'BEGIN; DROP EXTENSION stategraph CASCADE; CREATE EXTENSION stategraph; COMMIT');
ok(ended('SELECT task_id FROM sg_claim%', 10), 'the poll ends at once (not at its 60 s)');
cancel_left();
$claimer->finish;
dropped_error($$claim_err, qr/tasks of queue "q3"\n/, 'sg_claim, the extension created again');

$node->stop;
done_testing();
