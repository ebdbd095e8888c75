# Security review (helper review, 2026-12-03): the SQL the router sends to
# its shards (PL/Proxy bodies) and its own move_partition named operators
# and functions whose arguments did not match pg_catalog's exactly (text ||
# bigint, bigint / numeric, array_agg of uuid, a domain = text, hashtext of
# a domain, an untyped '0' for sg_claim's wait), so an overload that a role
# with CREATE on a schema of the search path made matched better and ran in
# their place, as the role the router connects as (here a superuser).
# Here a role with CREATE on public makes such overloads on every shard and
# on the router, each noting who ran it; every router call that reaches the
# SQL concerned must leave no note.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('router_overloads', shards => [ 'sa', 'sb', 'sc' ], shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }

# each server holds threads of the graph, a LangGraph.js thread (shapes_at's
# array_agg), finished background runs and a finished task (busy_at's rows)
r(q{SELECT count(sg_invoke('counter', '{"log": [1]}', 'm-' || i)) FROM generate_series(1, 12) i});
put_lg_threads($node, 1 .. 4);
is(r(q{SELECT string_agg(DISTINCT (sg_wait(sg_submit('counter', '{"log": [2]}', 'm-' || i), '60 seconds')).status, ',')
	   FROM generate_series(1, 12) i}), 'success', 'a background run on each thread, finished');
for my $db ('sa', 'sb')
{
	$node->safe_psql($db, q{INSERT INTO stategraph.tasks (task_id, queue, graph, thread_id, checkpoint_id, node, step,
		status, max_attempts, backoff_ms, lease, config)
		SELECT 'task-' || t.thread_id, 'q', 'counter', t.thread_id, t.head, 'noop', 1, 'completed', 1, 0, '1 minute', '{}'
		FROM stategraph.threads t WHERE t.head IS NOT NULL});
}

$node->safe_psql('postgres', 'CREATE ROLE mallory LOGIN');
my $overloads = q{
	CREATE TABLE public.hijacked (what text, who text);
	GRANT INSERT ON public.hijacked TO PUBLIC;
	GRANT CREATE ON SCHEMA public TO mallory;
	SET ROLE mallory;
	CREATE FUNCTION public.note(what text) RETURNS void LANGUAGE sql
		AS $$ INSERT INTO public.hijacked VALUES (what, current_user) $$;
	CREATE FUNCTION public.cat_int8(a text, b bigint) RETURNS text LANGUAGE plpgsql
		AS $$ BEGIN PERFORM public.note('text || bigint'); RETURN a || b::text; END $$;
	CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = bigint, FUNCTION = public.cat_int8);
	CREATE FUNCTION public.cat_int4(a text, b integer) RETURNS text LANGUAGE plpgsql
		AS $$ BEGIN PERFORM public.note('text || integer'); RETURN a || b::text; END $$;
	CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = integer, FUNCTION = public.cat_int4);
	CREATE FUNCTION public.div_num(a bigint, b numeric) RETURNS numeric LANGUAGE plpgsql
		AS $$ BEGIN PERFORM public.note('bigint / numeric'); RETURN a::numeric / b; END $$;
	CREATE OPERATOR public./ (LEFTARG = bigint, RIGHTARG = numeric, FUNCTION = public.div_num);
	CREATE FUNCTION public.agg_uuid(a uuid[], b uuid) RETURNS uuid[] LANGUAGE plpgsql
		AS $$ BEGIN PERFORM public.note('array_agg(uuid)'); RETURN a || b; END $$;
	CREATE AGGREGATE public.array_agg(uuid) (SFUNC = public.agg_uuid, STYPE = uuid[]);
};
# the shards' overloads of a domain of stategraph's (the router has none)
my $shard_overloads = q{
	CREATE FUNCTION public.eq_run(a stategraph.run_status, b text) RETURNS boolean LANGUAGE plpgsql
		AS $$ BEGIN PERFORM public.note('run_status = text'); RETURN a::text = b; END $$;
	CREATE OPERATOR public.= (LEFTARG = stategraph.run_status, RIGHTARG = text, FUNCTION = public.eq_run);
	CREATE FUNCTION public.eq_task(a stategraph.task_status, b text) RETURNS boolean LANGUAGE plpgsql
		AS $$ BEGIN PERFORM public.note('task_status = text'); RETURN a::text = b; END $$;
	CREATE OPERATOR public.= (LEFTARG = stategraph.task_status, RIGHTARG = text, FUNCTION = public.eq_task);
	CREATE FUNCTION public.hashtext(a stategraph.nonempty_text) RETURNS integer LANGUAGE plpgsql
		AS $$ BEGIN PERFORM public.note('hashtext(nonempty_text)'); RETURN pg_catalog.hashtext(a::text); END $$;
	CREATE FUNCTION public.sg_claim(queue text, worker text, n integer, lease interval, wait text)
		RETURNS SETOF sg_task LANGUAGE plpgsql
		AS $$ BEGIN PERFORM public.note('sg_claim(..., text)'); END $$;
};
$node->safe_psql($_, $overloads . $shard_overloads) for ('sa', 'sb', 'sc');
$node->safe_psql('router', $overloads);

sub notes
{
	return join(', ', map { my $n = $node->safe_psql($_, q{SELECT string_agg(DISTINCT what || ' as ' || who, ', ') FROM public.hijacked}); $n ? "$_: $n" : () }
		  ('router', 'sa', 'sb', 'sc'));
}

# sg_claim through the router (claim_on on every server)
is(r(q{SELECT count(*) FROM sg_claim('q', 'w1', 5)}), '0', 'sg_claim through the router finds no queued task');
is(notes(), '', 'sg_claim on the servers is the extension\'s, not an overload taking text for wait');

# owners_near: a checkpoint of one server named from a thread of the other
my $cp = r(q{SELECT checkpoint_id FROM sg_get_state('m-1')});
my $owners = r(qq{SELECT string_agg(owner, ',') FROM stategraph_router.owners_near('$cp')});
is($owners, 'm-1', 'owners_near finds the thread of a checkpoint');
is(notes(), '', 'owners_near divides with pg_catalog\'s operator');

# shape_at and shapes_at of every partition on both servers, busy_at
my $shapes = 0;
for my $db ('sa', 'sb')
{
	for my $part (0 .. 3)
	{
		$shapes += r(qq{SELECT count(*) FROM stategraph_router.shapes_at('$conn{$db}', $part, 4, false)
			WHERE shape LIKE CASE WHEN thread_id LIKE 'lg-%' THEN '1ef4f797-%/1/' || current_user ELSE '%-%/_/' || current_user END});
		my $busy = r(qq{SELECT runs + tasks FROM stategraph_router.busy_at('$conn{$db}', $part, 4, false)});
		is($busy, '0', "busy_at $db partition $part: nothing out");
	}
}
is($shapes, 16, 'shapes_at lists the 12 threads and the 4 LangGraph.js threads (one checkpoint each), with their heads, counts and roles');
is(r(qq{SELECT stategraph_router.shape_at(stategraph_router.shard_of('lg-1'), 'lg-1') = '1ef4f797-8335-6428-8001-8a1503f9b871/1/' || current_user}),
	't', 'shape_at of a LangGraph.js thread');
is(notes(), '', 'shape_at, shapes_at and busy_at call pg_catalog\'s operators, array_agg and hashtext');

# a move of partition 0 to the third server (move_partition names the
# partition's server option)
my $on0 = r(q{SELECT count(*) FROM sg_threads() t WHERE stategraph_router.thread_hash(t.thread_id) & 3 = 0});
r(qq{CALL stategraph_router.move_partition(0, '$conn{sc}')});
is($node->safe_psql('sc', 'SELECT count(*) FROM (SELECT thread_id FROM stategraph.threads UNION SELECT thread_id FROM stategraph.lg_checkpoints) t'),
	$on0, "the move brought partition 0's $on0 threads to the third server");
is(notes(), '', 'move_partition names the partition with pg_catalog\'s ||');

$node->stop;
done_testing();
