# Review (2026-12-04): a worker that goes on with a step a task's completion
# left (tasks.c, sg_tasks_continue_left) queues a run as the thread's owner
# (runs.c, sg_submit_for_owner). That submit is the owner's, as a run is: it
# fires the database's triggers on stategraph.runs, which go by the
# database's search path (as in TAP 079 for a run's own statements), not by
# the worker's own "pg_catalog, pg_temp". With the worker's path, a trigger
# naming its table unqualified failed, the submit was refused, and the step
# waited for ever.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGNode;

my $node = preloaded_node('left_step_search_path');
$node->safe_psql('postgres', 'CREATE EXTENSION stategraph; CREATE ROLE alice LOGIN;'
	  . 'GRANT CREATE ON SCHEMA public TO alice;' . q{
	CREATE TABLE run_log (thread_id text, who text);
	GRANT INSERT ON run_log TO alice;
	CREATE FUNCTION log_run() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN INSERT INTO run_log VALUES (NEW.thread_id, current_user); RETURN NEW; END $$;
	CREATE TRIGGER log_run AFTER INSERT ON stategraph.runs FOR EACH ROW EXECUTE FUNCTION log_run();
});
$node->safe_psql('postgres', 'SET ROLE alice;' . ext_graph_sql());

# the thread waits for its task, completed while another transaction holds its row
$node->safe_psql('postgres', q{SELECT sg_invoke('ext', '{}', 'w1')}, extra_params => ['-U', 'alice']);
my ($task, $token) = split /\|/,
  $node->safe_psql('postgres', q{SELECT task_id, token FROM sg_claim('q', 'me')}, extra_params => ['-U', 'alice']);
my ($in, $out, $err) = ('', '', '');
my $h = IPC::Run::start(['psql', '-X', '-At', '-d', $node->connstr('postgres'), '-U', 'alice'],
	'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(180));
$in .= q{BEGIN; SELECT 'held' FROM stategraph.threads WHERE thread_id = 'w1' FOR UPDATE;} . "\n";
$h->pump until $out =~ /^held$/m;
$node->safe_psql('postgres', qq{SELECT sg_complete('$task', '$token', '{"answer": 42}')}, extra_params => ['-U', 'alice']);
is($node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.steps_left}), '1', 'the completion left the step');
$in .= "COMMIT;\n\\q\n";
$h->finish;

ok($node->poll_query_until('postgres',
		q{SELECT t.status || ' ' || (s.values->>'answer') FROM sg_threads() t, sg_get_state('w1') s WHERE t.thread_id = 'w1'},
		'done 42'),
	'a worker went on with the step once the holder committed');
is($node->safe_psql('postgres', q{SELECT string_agg(thread_id || ' ' || who, ',') FROM run_log}), 'w1 alice',
	"the owner's run was queued, its trigger run with the database's search path, as the owner");
unlike(slurp_file($node->logfile), qr/could not continue the step/, 'the server logged no refused continuation');

$node->stop;
done_testing();
