# sg_threads lists a thread that another session is running in its
# transaction (sg_invoke, sg_stream, sg_update_state before COMMIT) as
# "running". A writer lets the thread's advisory lock go once it holds the
# thread's row (so that one transaction can write any number of threads),
# and the listing asked only the advisory lock: such a thread was listed
# "done" (or "idle") for as long as the run went on. Only CALL sg_run,
# which keeps a session lock, was seen.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGNode;

my $node = preloaded_node('hist_running');
$node->safe_psql('postgres', q{
	CREATE EXTENSION stategraph;
	CREATE FUNCTION nap(state jsonb) RETURNS jsonb LANGUAGE sql
		AS $$ SELECT pg_sleep(3); SELECT '{"n": 1}'::jsonb $$;
	SELECT sg_create_graph('slow', '{"n": "replace"}');
	SELECT sg_add_node('slow', 'nap', 'nap(jsonb)');
	SELECT sg_add_edge('slow', '__start__', 'nap');
	SELECT sg_add_edge('slow', 'nap', '__end__');
	SELECT sg_compile('slow');
	SELECT sg_invoke('slow', '{}', thread_id => 'busy');
});
my $status = q{SELECT status FROM sg_threads() WHERE thread_id = 'busy'};
is($node->safe_psql('postgres', $status), 'done', 'a finished thread is listed done');

foreach my $call (q{SELECT sg_invoke('slow', '{}', thread_id => 'busy')},
				  q{SELECT (sg_stream('slow', '{}', thread_id => 'busy')).*})
{
	my ($out, $err) = ('', '');
	my $run = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', $call ],
		'>', \$out, '2>', \$err);
	ok($node->poll_query_until('postgres',
			q{SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE '%slow%' AND wait_event = 'PgSleep'}),
		"the run sleeps in its node ($call)");
	is($node->safe_psql('postgres', $status), 'running', "the thread it runs is listed running ($call)");
	$run->finish;
	is($err, '', 'the run ended without error');
	is($node->safe_psql('postgres', $status), 'done', 'and done once it ended');
}

# a change not committed yet holds the thread too; the session's own listing does not call it running
my ($in, $out, $err) = ('', '', '');
my $h = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres') ],
	'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(180));
$in .= "BEGIN; SELECT sg_update_state('busy', '{\"n\": 2}') IS NOT NULL; $status;\n";
$h->pump until $out =~ /^t\n(\w+)\n/m;
is($1, 'done', "the session's own listing calls the thread it changed done");
is($node->safe_psql('postgres', $status), 'running', 'another session lists it running until the commit');
$in .= "COMMIT;\n\\q\n";
$h->finish;
is($node->safe_psql('postgres', $status), 'done', 'not running once committed');

done_testing();
