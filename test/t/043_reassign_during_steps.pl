# sg_reassign_owned while the role's background runs take steps: it waits
# for the steps it meets instead of deadlocking with them (40P01).
#
# A worker's step locks its thread's row and, at the end of the run, its
# run's row; the claim that starts a run locks the run's row, then the
# thread's. sg_reassign_owned updated the role's threads, then its runs:
# holding a thread, it waited for a run row that a claim held, whose step
# waited for that thread (or, holding runs, for a thread whose step then
# waited for its run). Now it takes a KEY SHARE lock on the role's runs
# first (which waits for the claims in flight and keeps new ones off, but
# not the steps' own NO KEY UPDATE of their run row), then the threads,
# the tasks, and the runs again to update them.
#
# Here: 120 runs on 40 threads of a role, three nodes of 120 ms each, six
# workers (nodes long enough that the reassigns, a psql call each, meet the
# runs ten times and more while another test loads the machine: with 40 ms
# only five did; and of 600 ms until the tenth reassign, since a loaded CI
# machine saw nine with 120 ms); meanwhile the role's rows are reassigned again and again, along
# a chain of roles r0, r1, ... where each is a member of the next (GRANT
# r1 TO r0...), so that a run claimed under one of them, which executes as
# that role, may still act on its rows once they belong to a later one.
# No call may fail, no deadlock may be logged, every run succeeds at its
# first attempt under the last role, every node runs once, and the rows
# counted are right.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use SGNode;
use Test::More;

# The statements that make graph $graph: nodes a, b, c in a chain.
sub chain_sql
{
	my ($graph) = @_;
	return qq{
SELECT sg_create_graph('$graph', '{"tag": "replace"}');
SELECT sg_add_node('$graph', n, ('public.' || n || '(jsonb,jsonb)')::regprocedure) FROM unnest(ARRAY['a', 'b', 'c']) n;
SELECT sg_add_edge('$graph', s, t) FROM (VALUES ('__start__', 'a'), ('a', 'b'), ('b', 'c'), ('c', '__end__')) e(s, t);
SELECT sg_compile('$graph');
};
}

my $roles = 80;
my $node = preloaded_node('reassign_steps', "stategraph.max_workers = 6\ndeadlock_timeout = '50ms'\n");
# r0 is a member of r1, r1 of r2, ...
$node->safe_psql('postgres', join("\n", 'CREATE EXTENSION stategraph;', map { "CREATE ROLE r$_;" } 0 .. $roles));
$node->safe_psql('postgres', join("\n", map { "GRANT r" . ($_ + 1) . " TO r$_;" } 0 .. $roles - 1));
$node->safe_psql('postgres', q{
CREATE TABLE ran (thread text, tag int, step text, who text);
CREATE TABLE enough ();
GRANT INSERT ON ran TO PUBLIC;
GRANT SELECT ON enough TO PUBLIC;
CREATE FUNCTION public.step(state jsonb, config jsonb, name text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_catalog.pg_sleep(CASE WHEN EXISTS (SELECT FROM public.enough) THEN 0.12 ELSE 0.6 END);
    INSERT INTO public.ran VALUES (config->>'thread_id', (state->>'tag')::int, name, current_user);
    SELECT '{}'::jsonb
$$;
CREATE FUNCTION public.a(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT public.step(state, config, 'a') $$;
CREATE FUNCTION public.b(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT public.step(state, config, 'b') $$;
CREATE FUNCTION public.c(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT public.step(state, config, 'c') $$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO PUBLIC;
});
$node->safe_psql('postgres', 'SET ROLE r0; ' . chain_sql('chain'));

# 120 runs, three per thread, queued behind each other (the first one of
# a thread creates it)
my ($runs, $threads) = (120, 40);
$node->safe_psql('postgres', qq{
SET ROLE r0;
SELECT count(sg_submit('chain', pg_catalog.jsonb_build_object('tag', i), 'th-' || (i % $threads), multitask => 'enqueue'))
FROM generate_series(1, $runs) i;
});

# reassign the role's rows along the chain until its runs end
my ($calls, $while_active, $failed) = (0, 0, '');
my @counts;
while ($calls < $roles - 1)
{
	my $active = $node->safe_psql('postgres',
		q{SELECT count(*) FROM stategraph.runs WHERE status IN ('pending', 'running', 'waiting')});
	last if $active == 0 && $calls >= 3;
	my ($rc, $out, $err) = $node->psql('postgres', "SELECT sg_reassign_owned('r$calls', 'r" . ($calls + 1) . "')");
	if ($rc != 0)
	{
		$failed .= $err;
		last;
	}
	push @counts, $out;
	$while_active++ if $active > 0;
	$calls++;
	$node->safe_psql('postgres', 'INSERT INTO enough DEFAULT VALUES') if $while_active == 10;
}
my $last = "r$calls";
my $active_left = $node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM stategraph.runs WHERE status IN ('pending', 'running', 'waiting')});

is($failed, '', 'no sg_reassign_owned failed (no 40P01) while the runs took steps');
cmp_ok($while_active, '>=', 10, "the rows were reassigned while the runs were active ($while_active times)");
ok($active_left, 'the runs end');
my @bad = grep { $_ < 1 + $runs || $_ > 1 + $threads + $runs } @counts;
is(scalar(@bad), 0, "each call moved the graph, the $runs runs and the threads that existed (" . join(' ', @counts) . ')');
unlike(slurp_file($node->logfile), qr/deadlock detected/, 'no deadlock was logged (nor retried by a worker)');
is($node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT status || ' attempt ' || attempt || ' failures ' || failures || ' owner ' || owner, ', ')
	FROM stategraph.runs}),
	"success attempt 1 failures 0 owner $last", "every run succeeded at its first attempt, owned by $last");
is($node->safe_psql('postgres', q{SELECT count(*), count(DISTINCT (tag, step)) FROM ran}),
	(3 * $runs) . '|' . (3 * $runs), 'every node of every run ran once');
cmp_ok($node->safe_psql('postgres', q{SELECT count(DISTINCT who) FROM ran}), '>=', 3,
	'the runs executed as several roles of the chain, as their rows moved');
is($node->safe_psql('postgres', q{
	SELECT (SELECT string_agg(DISTINCT owner, ',') FROM stategraph.threads) || ' ' ||
	       (SELECT count(*) FROM stategraph.threads) || ' ' ||
	       (SELECT string_agg(DISTINCT owner, ',') FROM stategraph.graphs)}),
	"$last $threads $last", "the $threads threads and the graph belong to $last");

# once the runs are done: exactly the graph, the threads and the runs move
my $next = 'r' . ($calls + 1);
is($node->safe_psql('postgres', "SELECT sg_reassign_owned('$last', '$next')"), 1 + $threads + $runs,
	"a last reassign moves 1 graph, $threads threads and $runs runs");

# README's way after ALTER ROLE ... RENAME: the rename and the reassign in
# one transaction, again and again while a role's runs take steps. A step
# that waited for that transaction may read the role under its old name
# once it commits ('role "..." does not exist'): the run is tried again
# then (the step rolled back), not ended, since its owner changed.
$node->safe_psql('postgres', 'CREATE ROLE carol; SET ROLE carol; ' . chain_sql('chain2') . q{
SELECT count(sg_submit('chain2', pg_catalog.jsonb_build_object('tag', 1000 + i), 'c-' || (i % 20), multitask => 'enqueue'))
FROM generate_series(1, 60) i;
});
my ($name, $renames) = ('carol', 0);
$failed = '';
while ($renames < 200)
{
	my $active = $node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs WHERE status IN ('pending', 'running', 'waiting')});
	last if $active == 0 && $renames >= 3;
	my $to = 'carol' . ($renames + 1);
	my ($rc, $out, $err) = $node->psql('postgres',
		"BEGIN; ALTER ROLE $name RENAME TO $to; SELECT sg_reassign_owned('$name', '$to'); COMMIT;");
	if ($rc != 0)
	{
		$failed .= $err;
		last;
	}
	($name, $renames) = ($to, $renames + 1);
}
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM stategraph.runs WHERE status IN ('pending', 'running', 'waiting')}),
	'the renamed role\'s runs end');
is($failed, '', "no rename with its sg_reassign_owned failed ($renames of them)");
unlike(slurp_file($node->logfile), qr/deadlock detected/, 'no deadlock was logged');
is($node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT status || ' owner ' || owner, ', ') FROM stategraph.runs WHERE graph = 'chain2'}),
	"success owner $name", "every run of the renamed role succeeded, owned by $name");
note('runs tried again after a rename: ' . $node->safe_psql('postgres',
	q{SELECT count(*) FROM stategraph.runs WHERE graph = 'chain2' AND attempt > 1}));
is($node->safe_psql('postgres', q{SELECT count(*), count(DISTINCT (tag, step)) FROM ran WHERE tag > 1000}),
	'180|180', 'every node of every run of the renamed role ran once');
is($node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT owner, ',') || ' ' || count(*) FROM stategraph.threads WHERE thread_id LIKE 'c-%'}),
	"$name 20", "the renamed role's 20 threads belong to its last name");

$node->stop;
done_testing();
