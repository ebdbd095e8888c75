# The router used by ordinary roles, as an application would:
#
#  - every sg_* function works for a role that is not a superuser (before,
#    each failed with "permission denied for schema stategraph_router": the
#    functions, all SECURITY INVOKER, call the routing helpers of that
#    schema as the caller, and the schema had no USAGE for PUBLIC);
#  - roles stay apart through the router: listings merge only the caller's
#    rows from every server, another role's thread is absent, forks across
#    servers keep their owner;
#  - the helpers that connect to a connection string given as an argument
#    (PL/Proxy CONNECT, for move_partition) are not for PUBLIC: a role could
#    name another role in the string (user=postgres) and the shards would
#    take the router's connection for that role's (before the schema was
#    usable, nothing was; once it is, these must not be);
#  - thread ids that are not ASCII route, list and fork like any other.
#
# One server holds the router database and two shard databases (PL/Proxy
# reaches each by its connection string, as it would another server).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('roles', shards => [ 'shard_a', 'shard_b' ],
	shard_sql => q{CREATE FUNCTION public.note(state jsonb) RETURNS jsonb LANGUAGE sql
		AS $$ SELECT jsonb_build_object('log', jsonb_build_array(current_user::text)) $$;});
$node->safe_psql('postgres', 'CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN');
# and, as README says, USAGE on the server for the roles
$node->safe_psql('router', 'GRANT USAGE ON FOREIGN SERVER stategraph TO PUBLIC');

# psql on the router as a role; returns (stdout, stderr)
sub as
{
	my ($role, $sql) = @_;
	my ($out, $err) = ('', '');
	$node->psql('router', "SET ROLE $role;\n$sql", stdout => \$out, stderr => \$err,
		on_error_stop => 0, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return ($out, $err);
}
sub ok_as
{
	my ($role, $sql) = @_;
	my ($out, $err) = as($role, $sql);
	die "as $role: $sql\n$err" if $err =~ /ERROR/;
	return $out;
}

# alice defines a graph through the router, and runs threads on both servers
ok_as('alice', q{SELECT sg_create_graph('notes', '{"log": "append"}');
	SELECT sg_add_node('notes', 'note', 'note(jsonb)');
	SELECT sg_add_edge('notes', '__start__', 'note');
	SELECT sg_add_edge('notes', 'note', '__end__');
	SELECT sg_compile('notes');});
is(ok_as('alice', q{SELECT count(*) FROM stategraph_router.check_definitions()}), '0',
	'an ordinary role defines a graph on every server through the router');
# a node function whose code differs on one server is a definition that
# differs (before: only its name was compared, and no row came)
$node->safe_psql('shard_b', q{CREATE OR REPLACE FUNCTION public.note(state jsonb) RETURNS jsonb LANGUAGE sql
	AS $$ SELECT jsonb_build_object('log', jsonb_build_array('someone else')) $$;});
# (two servers: neither is the odd one, both are listed; one of them was
# picked by its digest's sort order before)
is($node->safe_psql('router', q{SELECT string_agg(graph || ': ' || problem, '; ') FROM stategraph_router.check_definitions()}),
	'notes: different definition (no definition is on most servers); notes: different definition (no definition is on most servers)',
	'check_definitions: a node function with other code on one of two servers lists both');
$node->safe_psql('shard_b', q{CREATE OR REPLACE FUNCTION public.note(state jsonb) RETURNS jsonb LANGUAGE sql
	AS $$ SELECT jsonb_build_object('log', jsonb_build_array(current_user::text)) $$;});
is($node->safe_psql('router', q{SELECT count(*) FROM stategraph_router.check_definitions()}), '0', 'and agrees once it is the same');
my @ids = ('a-1', 'a-2', 'a-3', 'a-4', 'ñandú', '日本語スレッド', 'Ω-λ');
my %server;
$server{ ok_as('alice', "SELECT stategraph_router.shard_of('$_')") }++ for @ids;
is(scalar(keys %server), 2, 'the threads hash to both servers');
for my $t (@ids)
{
	is(ok_as('alice', "SELECT sg_invoke('notes', '{\"log\": [\"in\"]}', thread_id => '$t')"),
		'{"log": ["in", "alice"]}', "alice runs thread $t through the router (its node runs as alice)");
}
is(ok_as('alice', q{SELECT string_agg(thread_id, ',' ORDER BY thread_id COLLATE "C") FROM sg_threads()}),
	join(',', sort @ids), 'sg_threads through the router lists all of alice\'s threads, non-ASCII ids too');
is(ok_as('alice', q{SELECT "values"->>'log' FROM sg_get_state('日本語スレッド')}), '["in", "alice"]',
	'sg_get_state of a non-ASCII thread id through the router');

# bob, on the same router, sees none of it and has threads of his own
ok_as('bob', q{SELECT sg_invoke('notes', '{"log": []}', thread_id => 'b-' || i) FROM generate_series(1, 4) i});
is(ok_as('bob', q{SELECT string_agg(thread_id, ',' ORDER BY thread_id) FROM sg_threads()}), 'b-1,b-2,b-3,b-4',
	'listings through the router merge only the caller\'s rows from every server');
is(ok_as('alice', q{SELECT count(*) FROM sg_threads() WHERE thread_id LIKE 'b-%'}), '0', 'and alice does not see bob\'s');
my ($out, $err) = as('bob', q{SELECT sg_get_state('ñandú')});
like($err, qr/42704: .*thread "ñandú" does not exist/, 'another role\'s thread is absent through the router');
($out, $err) = as('bob', q{SELECT sg_export_thread('a-1')});
like($err, qr/42704: .*thread "a-1" does not exist/, 'nor can it be exported');

# a fork across servers through the router belongs to the source's owner
my ($src, $dst);
for my $t (@ids)
{
	for my $d ('f-1', 'f-2', 'f-3', 'f-4', 'f-5', 'f-6')
	{
		($src, $dst) = ($t, $d)
		  if !defined $src && ok_as('alice', "SELECT stategraph_router.shard_of('$t') <> stategraph_router.shard_of('$d')") eq 't';
	}
}
ok_as('alice', qq{SELECT sg_fork('$src', (sg_get_state('$src')).checkpoint_id, '$dst')});
is(ok_as('alice', qq{SELECT "values"->>'log' FROM sg_get_state('$dst')}), '["in", "alice"]',
	"alice forks $src into $dst on the other server");
my $ddb = (split /dbname=/, ok_as('alice', "SELECT stategraph_router.shard_of('$dst')"))[1];
is($node->safe_psql($ddb, "SELECT owner FROM stategraph.threads WHERE thread_id = '$dst'"), 'alice',
	'the fork belongs to alice on its server');
is($node->safe_psql($ddb, q{SELECT count(*) FROM stategraph.threads WHERE thread_id LIKE '__sg_visitor_%'}), '0',
	'no temporary copy of the source is left there');

# a batch through the router that fails midway keeps what came before it:
# each routed call commits on its server by itself (README, Batches)
($out, $err) = as('alice', q{SELECT count(sg_invoke('notes', CASE WHEN i = 30 THEN '{"log": 5}' ELSE '{"log": []}' END::jsonb,
	thread_id => 'batch-' || i)) FROM generate_series(1, 40) i});
like($err, qr/42804: .*append expects an array/, 'a batch through the router fails at its 30th row');
is(ok_as('alice', q{SELECT count(*) FROM sg_threads() WHERE thread_id LIKE 'batch-%'}), '29',
	'and keeps the 29 threads before it (each call committed on its server)');
ok_as('alice', q{SELECT sg_delete_thread(thread_id) FROM sg_threads() WHERE thread_id LIKE 'batch-%'});

# the helpers that connect where their argument says are not for PUBLIC
my $as_postgres = "$conn{shard_a} user=postgres";
for my $call ("stategraph_router.delete_at('$as_postgres', 0, 4, false)",
	"stategraph_router.threads_at('$as_postgres', 0, 4, false)",
	"stategraph_router.export_at('$as_postgres', 'a-1')",
	"stategraph_router.import_at('$as_postgres', '{}')",
	"stategraph_router.head_at('$as_postgres', 'a-1')",
	"stategraph_router.busy_at('$as_postgres', 0, 4, false)",
	"stategraph_router.identity_at('$as_postgres')",
	"stategraph_router.definitions_at('$as_postgres')")
{
	($out, $err) = as('bob', "SELECT $call");
	like($err, qr/42501: permission denied for function/, "bob may not call " . (split /\(/, $call)[0]);
}
($out, $err) = as('bob', "CALL stategraph_router.move_partition(0, '$conn{shard_b}')");
like($err, qr/42501: permission denied for procedure move_partition/, 'nor move a partition');
is(ok_as('alice', q{SELECT count(*) FROM sg_threads()}), scalar(@ids) + 1, 'and alice still has every thread');

# the superuser who owns the server still moves partitions
$node->safe_psql('router', "CALL stategraph_router.move_partition(0, '$conn{shard_b}')");
is(ok_as('alice', q{SELECT count(*) FROM sg_threads()}), scalar(@ids) + 1, 'after a move by the administrator, alice has every thread');
is(ok_as('alice', q{SELECT count(*) FROM sg_threads() t WHERE (sg_get_state(t.thread_id))."values"->>'log' LIKE '%alice%'}),
	scalar(@ids) + 1, 'each reads as before');

done_testing();
