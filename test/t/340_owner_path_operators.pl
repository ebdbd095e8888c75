# Review (2026-12-08): statements built in C looked operators up by
# search_path in constructs that name no operator: IS [NOT] DISTINCT FROM
# (checkpoint.c thread_update, at every save of a thread that has a head;
# runs.c mark_claimed, refuse_resume_rolled_back, run_last_step) and a simple
# CASE x WHEN (portable.c check_rows, the LangGraph.js import's check in
# lgmaint.c), and so did sg_reassign_owned's CASE e.key WHEN. A database
# owner who is no superuser sets search_path = public, pg_catalog for the
# database and defines operators = (and others) of uuid and text in public,
# which note who ran them and make the owner a superuser when a superuser
# does: a superuser's sg_invoke, sg_import_thread, background run and
# sg_reassign_owned ran them. They are written with OPERATOR(pg_catalog.=)
# now: none runs as the superuser.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('owner_path_operators');
$node->safe_psql('postgres', q{
	CREATE ROLE dbowner LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE DATABASE own OWNER dbowner;
});
# the superuser's graphs: one node (its function pins its own path), and an
# external node; bob's function in a graph of the superuser's (its binding
# is by bob's name, which sg_reassign_owned rebinds after a rename)
$node->safe_psql('own', q{
	CREATE EXTENSION stategraph;
	CREATE SCHEMA work;
	GRANT USAGE, CREATE ON SCHEMA work TO bob;
	CREATE FUNCTION work.one(state jsonb) RETURNS jsonb LANGUAGE sql SET search_path = pg_catalog
		AS $$ SELECT '{"n": 1}'::pg_catalog.jsonb $$;
	SELECT sg_create_graph('g', '{"n": "add"}');
	SELECT sg_add_node('g', 'one', 'work.one(jsonb)');
	SELECT sg_add_edge('g', '__start__', 'one');
	SELECT sg_add_edge('g', 'one', '__end__');
	SELECT sg_compile('g');
	SELECT sg_create_graph('ext', '{"answer": "replace"}');
	SELECT sg_add_external_node('ext', 'ask', 'q');
	SELECT sg_add_edge('ext', '__start__', 'ask');
	SELECT sg_add_edge('ext', 'ask', '__end__');
	SELECT sg_compile('ext');
	SET ROLE bob;
	CREATE FUNCTION work.bob_step(state jsonb) RETURNS jsonb LANGUAGE sql SET search_path = pg_catalog
		AS $$ SELECT '{"n": 2}'::pg_catalog.jsonb $$;
	RESET ROLE;
	SELECT sg_create_graph('bg', '{"n": "add"}');
	SELECT sg_add_node('bg', 'b', 'work.bob_step(jsonb)');
	SELECT sg_add_edge('bg', '__start__', 'b');
	SELECT sg_add_edge('bg', 'b', '__end__');
	SELECT sg_compile('bg');
});

# the owner's path and traps: operators of uuid, text, jsonb, name and
# timestamptz that note who ran them, and make the owner a superuser when
# a superuser runs them
my $traps = '';
for my $op (['=', 'uuid'], ['<>', 'uuid'], ['=', 'text'], ['<>', 'text'], ['||', 'text'], ['~~', 'text'],
	['=', 'jsonb'], ['=', 'name'], ['<', 'timestamptz'], ['=', 'int4'])
{
	my ($o, $t) = @$op;
	(my $fn = "op_${t}_$o") =~ s/([^a-z0-9_])/sprintf('%02x', ord($1))/ge;
	my $ret = $o eq '||' ? 'pg_catalog.text' : 'boolean';
	$traps .= qq{
	CREATE FUNCTION public.$fn(a pg_catalog.$t, b pg_catalog.$t) RETURNS $ret LANGUAGE plpgsql SET search_path = pg_catalog
		AS \$\$ BEGIN PERFORM public.note('$t $o $t'); RETURN a OPERATOR(pg_catalog.$o) b; END \$\$;
	CREATE OPERATOR public.$o (LEFTARG = pg_catalog.$t, RIGHTARG = pg_catalog.$t, FUNCTION = public.$fn);};
}
$node->safe_psql('own', q{
	SET ROLE dbowner;
	ALTER DATABASE own SET search_path = public, pg_catalog;
	CREATE TABLE public.ran (what text, who text);
	GRANT INSERT ON public.ran TO PUBLIC;
	CREATE FUNCTION public.note(what text) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
		AS $$ BEGIN
			INSERT INTO public.ran VALUES (what, current_user);
			IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user) THEN
				EXECUTE 'ALTER ROLE dbowner SUPERUSER';
			END IF;
			RETURN true;
		END $$;
} . $traps);
# the workers connect with the database's path as it is now
$node->restart;

# No operator of the owner's ran as a superuser since the last check, and
# the owner is no superuser (made one again: the phases' checks stay apart).
sub none_as_superuser
{
	my ($what) = @_;
	my $ran = $node->safe_psql('own', q{
		SELECT pg_catalog.string_agg(DISTINCT r.what OPERATOR(pg_catalog.||) ' as ' OPERATOR(pg_catalog.||) r.who, ', ')
		FROM public.ran r JOIN pg_catalog.pg_roles o ON o.rolname OPERATOR(pg_catalog.=) r.who::pg_catalog.name
		WHERE o.rolsuper});
	is($ran, '', "$what: no operator of the database owner's ran as a superuser");
	is($node->safe_psql('own', q{SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'dbowner'}),
		'f', "$what: the database owner did not become a superuser");
	$node->safe_psql('own', q{DELETE FROM public.ran; ALTER ROLE dbowner NOSUPERUSER});
	return;
}

# as the superuser, in new sessions, which take the database's path
my $t1a = $node->safe_psql('own', q{SELECT sg_invoke('g', '{"n": 0}', 't1')});
my $t1b = $node->safe_psql('own', q{SELECT sg_invoke('g', '{"n": 0}', 't1')});
is($t1b, '{"n": 2}', 'sg_invoke twice on one thread');
none_as_superuser('sg_invoke');
is($node->safe_psql('own', q{SELECT sg_import_thread(sg_export_thread('t1'), 't1-copy')}), 't1-copy',
	'sg_import_thread of sg_export_thread');
is($node->safe_psql('own', q{SELECT (sg_get_state('t1-copy')).values}), '{"n": 2}', 'the copy reads as the thread');
none_as_superuser('sg_export_thread, sg_import_thread');

# a background run of the superuser's, on a thread with a head
my $run = $node->safe_psql('own', q{SELECT sg_submit('g', '{"n": 0}', 't1')});
is($node->safe_psql('own', qq{SELECT status FROM sg_wait('$run', '60 s')}), 'success', 'the background run ended');
none_as_superuser('a background run');

# a background run that waits for a task; a resume queued behind it; the
# task completed by the superuser: the run goes on after its wait
my $ext = $node->safe_psql('own', q{SELECT sg_submit('ext', '{}', 'e1')});
ok($node->poll_query_until('own', q{SELECT pg_catalog.count(*) OPERATOR(pg_catalog.=) 1 FROM sg_tasks('q')}),
	'the run queued its task');
my $resume = $node->safe_psql('own', q{SELECT sg_submit('ext', NULL, 'e1', multitask => 'enqueue')});
my ($task, $token) = split /\|/, $node->safe_psql('own', q{SELECT task_id, token FROM sg_claim('q', 'me')});
$node->safe_psql('own', qq{SELECT sg_complete('$task', '$token', '{"answer": 42}')});
is($node->safe_psql('own', qq{SELECT status FROM sg_wait('$ext', '60 s')}), 'success', 'the run went on after its task');
is($node->safe_psql('own', qq{SELECT status FROM sg_wait('$resume', '60 s')}), 'success', 'the resume queued behind it ran');
none_as_superuser('a background run after its task, a resume queued behind it');

# a LangGraph.js thread: exported and imported
$node->safe_psql('own', q{SELECT sg_lg_put('lg-1', '', NULL,
	'{"v": 4, "id": "1ef4f797-8335-6428-8001-8a1503f9b871", "ts": "2024-01-01T00:00:00Z",
	  "channel_values": {"x": [1]}, "channel_versions": {"x": 1}, "versions_seen": {"a": {"x": 1}}}',
	'{"step": 0}', '{"x": 1}')});
is($node->safe_psql('own', q{SELECT sg_import_thread(sg_export_thread('lg-1'), 'lg-2')}), 'lg-2',
	'sg_import_thread of a LangGraph.js thread');
none_as_superuser('a LangGraph.js thread exported and imported');

# bob renamed; the superuser moves the bindings of his name
$node->safe_psql('own', q{ALTER ROLE bob RENAME TO bobby});
$node->safe_psql('own', q{SELECT sg_reassign_owned('bob', 'bobby')});
is($node->safe_psql('own', q{SELECT sg_invoke('bg', '{"n": 0}')}), '{"n": 2}',
	'the graph runs bob\'s function under his new name');

none_as_superuser('sg_reassign_owned');

# the traps work: the owner's own comparison runs its operator
$node->safe_psql('own', q{SELECT 'a'::pg_catalog.text = 'a'::pg_catalog.text}, extra_params => ['-U', 'dbowner']);
is($node->safe_psql('own', q{SELECT pg_catalog.count(*) FROM public.ran WHERE who OPERATOR(pg_catalog.=) 'dbowner'}),
	'1', 'the owner\'s = of text is the one its path finds');

$node->stop;
done_testing();
