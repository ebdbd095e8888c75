# Review (found beside TAP 315): stategraph_router.owners_by_server, the
# look-up of a checkpoint's thread server by server when a server does not
# answer (TAP 273), declared "down text": the type name text unqualified,
# resolved by the caller's search path when the body is compiled. The
# router database's owner (not a superuser) may ALTER DATABASE ... SET
# search_path = public, pg_catalog (TAP 283), and a domain public.text,
# whose CHECK calls a function of that owner, then ran as the role calling
# sg_update_state from another thread's checkpoint while a server was
# down (here a superuser): on the variable's initialisation to NULL.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('router_owners_down_path', shards => [ 'shard_a', 'shard_b' ],
	shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }

my $ta = thread_of_partition($node, 'u', 0);    # shard_a
my $tb = thread_of_partition($node, 'u', 1);    # shard_b
r(qq{SELECT sg_invoke('counter', '{"log": ["a"]}', '$ta')});
my $cp = r("SELECT checkpoint_id FROM sg_get_state('$ta')");

# partition 3 (shard_b's other one) goes to a server that is down (as TAP 273)
my ($host, $port) = ($node->host, $node->port);
r("ALTER SERVER stategraph OPTIONS (SET partition_3 'host=$host port=$port dbname=shard_down')");

$node->safe_psql('postgres', 'CREATE ROLE mallory LOGIN; ALTER DATABASE router OWNER TO mallory');
$node->safe_psql('router', q{
	ALTER SCHEMA public OWNER TO mallory;
	SET ROLE mallory;
	ALTER DATABASE router SET search_path = public, pg_catalog;
	CREATE TABLE public.hijacked (what text, who text, ctx text);
	GRANT INSERT ON public.hijacked TO PUBLIC;
	CREATE FUNCTION public.note(what pg_catalog.text) RETURNS boolean LANGUAGE plpgsql AS $$
	DECLARE c pg_catalog.text;
	BEGIN
		GET DIAGNOSTICS c = PG_CONTEXT;
		INSERT INTO public.hijacked VALUES (what, current_user, c);
		RETURN true;
	END $$;
	CREATE DOMAIN public.text AS pg_catalog.text CHECK (public.note('domain text'));
});

is(r(qq{SELECT sg_update_state('$tb', '{"log": ["b"]}', as_node => 'noop', checkpoint_id => '$cp') IS NOT NULL}), 't',
	'an update from a checkpoint of another server, with a third server down');
is(r("SELECT values FROM sg_get_state('$tb')"), '{"log": ["a", "b"]}', 'the thread starts from that checkpoint');
my $hijacked = r(q{SELECT string_agg(DISTINCT what || ' as ' || who, ', ') FROM public.hijacked});
is($hijacked, '', "no function of the router database's owner ran as the caller");
diag(r(q{SELECT string_agg(DISTINCT ctx, E'\n----\n') FROM public.hijacked})) if $hijacked ne '';
$node->stop;
done_testing();
