# Review: the PL/Proxy bodies still call hashtext, abs and the operators
# %, &, -, = unqualified on the shards. pg_catalog is searched first only
# when the search path does not name it: a shard database's owner (not a
# superuser) may ALTER DATABASE ... SET search_path = public, pg_catalog
# (as TAP 151 does for the worker), and an exact-signature function in
# public then runs in place of pg_catalog's as the role the router
# connects as (here the superuser). So may an operator of text (= or ||).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('router_owner_path', shards => [ 'sa', 'sb' ], shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }
r(q{SELECT count(sg_invoke('counter', '{"log": [1]}', 'm-' || i)) FROM generate_series(1, 8) i});

$node->safe_psql('postgres', 'CREATE ROLE mallory LOGIN; ALTER DATABASE sa OWNER TO mallory');
$node->safe_psql('sa', q{
	SET ROLE mallory;
	ALTER DATABASE sa SET search_path = public, pg_catalog;
	CREATE TABLE public.hijacked (what text, who text);
	GRANT INSERT ON public.hijacked TO PUBLIC;
	CREATE FUNCTION public.hashtext(a text) RETURNS integer LANGUAGE plpgsql
		AS $$ BEGIN INSERT INTO public.hijacked VALUES ('hashtext(text)', current_user); RETURN pg_catalog.hashtext(a); END $$;
	CREATE FUNCTION public.abs(a integer) RETURNS integer LANGUAGE plpgsql
		AS $$ BEGIN INSERT INTO public.hijacked VALUES ('abs(integer)', current_user); RETURN pg_catalog.abs(a); END $$;
	CREATE FUNCTION public.eq_text(a text, b text) RETURNS boolean LANGUAGE plpgsql
		AS $$ BEGIN INSERT INTO public.hijacked VALUES ('text = text', current_user); RETURN a OPERATOR(pg_catalog.=) b; END $$;
	CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.eq_text);
	CREATE FUNCTION public.cat_text(a text, b text) RETURNS text LANGUAGE plpgsql
		AS $$ BEGIN INSERT INTO public.hijacked VALUES ('text || text', current_user); RETURN a OPERATOR(pg_catalog.||) b; END $$;
	CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = public.cat_text);
});
my $busy = r(qq{SELECT runs + tasks FROM stategraph_router.busy_at('$conn{sa}', 0, 4, false)});
my $shapes = r(qq{SELECT count(*) FROM stategraph_router.shapes_at('$conn{sa}', 0, 4, false)});
my $threads = r(q{SELECT count(*) FROM sg_threads()});
is($busy, '0', 'busy_at reads the shard');
ok($shapes > 0, 'shapes_at reads the shard');
is($threads, '8', 'sg_threads lists the threads of both shards');
# the statements of the other bodies that read a shard's tables or hash its threads
my $moved = r(qq{SELECT count(*) FROM stategraph_router.threads_at('$conn{sa}', 0, 4, false)});
my $heads = r(qq{SELECT count(stategraph_router.head_at('$conn{sa}', t)) FROM stategraph_router.threads_at('$conn{sa}', 0, 4, false) t});
is($heads, $moved, 'head_at reads every thread of a partition');
is(r(qq{SELECT count(*) FROM stategraph_router.shape_at('$conn{sa}', (SELECT min(t) FROM stategraph_router.threads_at('$conn{sa}', 0, 4, false) t))}),
	'1', 'shape_at reads a thread');
is(r(q{SELECT count(*) FROM stategraph_router.check_definitions()}), '0', 'the definitions of both shards agree');
r(q{SELECT count(*) FROM sg_tasks()});
note("busy $busy shapes $shapes threads $threads moved $moved");
is($node->safe_psql('sa', q{SELECT string_agg(DISTINCT what || ' as ' || who, ', ') FROM public.hijacked}), '',
	'no function of the shard owner runs as the router\'s role');
$node->stop;
done_testing();
