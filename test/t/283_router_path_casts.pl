# The router's own plpgsql bodies, parsed at run time with the caller's
# search path, named type text and operator || unqualified (key_server's
# hash of an idempotency key, sg_run's message for a bad on_error and for a
# failed run). pg_catalog is searched first only when the path does not name
# it: the router database's owner (not a superuser) may ALTER DATABASE ...
# SET search_path = public, pg_catalog, as TAP 152 has for a shard, and a
# domain "text" in public (whose CHECK calls a function of its own) or an
# operator || of text there then ran as the role calling the router, here a
# superuser. Each such name is pg_catalog's now.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('router_path_casts', shards => [ 'sa', 'sb' ], shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }

$node->safe_psql('postgres', 'CREATE ROLE mallory LOGIN; ALTER DATABASE router OWNER TO mallory');
$node->safe_psql('router', q{
	ALTER SCHEMA public OWNER TO mallory;
	SET ROLE mallory;
	ALTER DATABASE router SET search_path = public, pg_catalog;
	CREATE TABLE public.hijacked (what text, who text);
	GRANT INSERT ON public.hijacked TO PUBLIC;
	-- (a sequence's count survives the caller's error, which rolls back the note)
	CREATE SEQUENCE public.hits;
	GRANT USAGE ON SEQUENCE public.hits TO PUBLIC;
	CREATE FUNCTION public.note(what pg_catalog.text) RETURNS boolean LANGUAGE plpgsql
		AS $$ BEGIN INSERT INTO public.hijacked VALUES (what, current_user); RETURN true; END $$;
	CREATE DOMAIN public.text AS pg_catalog.text CHECK (public.note('domain text'));
	CREATE FUNCTION public.cat_text(a pg_catalog.text, b pg_catalog.text) RETURNS pg_catalog.text LANGUAGE plpgsql
		AS $$ BEGIN PERFORM pg_catalog.nextval('public.hits'); PERFORM public.note('text || text'); RETURN a OPERATOR(pg_catalog.||) b; END $$;
	CREATE OPERATOR public.|| (LEFTARG = pg_catalog.text, RIGHTARG = pg_catalog.text, FUNCTION = public.cat_text);
});

# a submit with an idempotency key (key_server), and sg_run with a bad on_error
my $run = r(q{SELECT sg_submit('counter', '{"log": [1]}', idempotency_key => 'k1')});
ok($run ne '', 'the submit with a key went through');
my ($rc, $out, $err) = $node->psql('router', q{CALL sg_run('counter', '{"log": [1]}', 'path-1', on_error => 'bogus')});
like($err, qr/on_error must be 'raise' or 'return', not 'bogus'/, 'sg_run refuses the bad on_error');
is($node->safe_psql('router', q{SELECT string_agg(DISTINCT what || ' as ' || who, ', ') FROM public.hijacked}), '',
	'no function of the router database\'s owner ran as the caller');
is($node->safe_psql('router', q{SELECT is_called FROM public.hits}), 'f', 'nor operator || of text in a call that failed');
$node->stop;
done_testing();
