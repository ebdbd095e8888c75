# Review: stategraph_router.adopt_finished, the paging loop adopt_runs and
# adopt_tasks now share (called by move_partition when a server's last
# partition moves), chose between runs and tasks with a PL/pgSQL CASE
# ("CASE what WHEN 'runs'"), which compares with operator = of text found
# by the caller's search path, and declared its variables with the type
# names jsonb and text unqualified (adopt_runs and adopt_tasks had
# jsonb, uuid and text unqualified before). pg_catalog is searched first
# only when the path does not name it: the router database's owner (not a
# superuser) may ALTER DATABASE ... SET search_path = public, pg_catalog,
# as TAP 283 has, and an operator = of text or a domain "text" or "jsonb"
# in public then ran as the role that moves partitions (a superuser).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('router_adopt_path', shards => [ 'shard_a', 'shard_b', 'shard_c' ],
	shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }

# a finished run with a key on shard_b (partition 1), and a finished external task there (partition 3)
routed_ext_graph($node, 'shard_c');
my $t1 = thread_of_partition($node, 'p', 1);
my $r1 = r(qq{SELECT sg_submit('counter', '{"log": ["once"]}', '$t1', idempotency_key => 'bill-1')});
is(r("SELECT status FROM sg_wait('$r1', '60 s')"), 'success', 'a keyed run is done on shard_b');
ext_threads($node, 'x', 3);
complete_ext_tasks($node, 1);

hostile_router_owner($node, 'router', q{
	CREATE FUNCTION public.eq_text(a pg_catalog.text, b pg_catalog.text) RETURNS boolean LANGUAGE plpgsql
		AS $$ BEGIN PERFORM public.note('text = text'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
	CREATE OPERATOR public.= (LEFTARG = pg_catalog.text, RIGHTARG = pg_catalog.text, FUNCTION = public.eq_text);
	CREATE DOMAIN public.jsonb AS pg_catalog.jsonb CHECK (public.note('domain jsonb'));
	CREATE DOMAIN public.text AS pg_catalog.text CHECK (public.note('domain text'));
	CREATE DOMAIN public.uuid AS pg_catalog.uuid CHECK (public.note('domain uuid'));
});

# shard_b's partitions move to shard_c: the last one's move adopts its finished runs and tasks
is(r("CALL stategraph_router.move_partition(3, '$conn{shard_c}')"), '1', 'partition 3 moved to shard_c');
is(r("CALL stategraph_router.move_partition(1, '$conn{shard_c}')"), '1', 'partition 1 moved: shard_b left');
is(partitions_served($node, 'shard_b'), '0', 'shard_b is no partition of the cluster');
is($node->safe_psql('shard_c', q{SELECT (SELECT count(*) FROM stategraph.runs WHERE idempotency_key = 'bill-1')
	|| ' ' || (SELECT count(*) FROM stategraph.tasks WHERE status = 'completed')}), '1 1',
	'shard_c adopted the finished run and the finished task');
is(hijacked_calls($node, 'router'), '', "no function of the router database's owner ran as the role moving partitions");
# what is neither 'runs' nor 'tasks': an error (22023), not 0 adopted
my ($rc, $out, $err) = $node->psql('router', qq{\\set VERBOSITY verbose\nSELECT stategraph_router.adopt_finished('bogus', '$conn{shard_b}', '$conn{shard_c}')});
like($err, qr/ERROR:  22023: what must be 'runs' or 'tasks', not 'bogus'/, 'adopt_finished refuses another kind (22023)');
$node->stop;
done_testing();
