# The secret of the lock of moves against default privileges.
#
# The table of the secret (stategraph_router.move_secret) was revoked from
# PUBLIC only. A router database where the superuser that creates the
# extension has default privileges for its tables (ALTER DEFAULT
# PRIVILEGES GRANT SELECT ON TABLES TO a reporting role: a usual set-up)
# gave that role the secret: it made up its own session's key and held it,
# and every stategraph_router.move_partition was refused (55P03, naming
# that session) until its session ended, as with the fixed key before TAP
# 107. Nor were the tables that tell the next move where to delete a
# partition's threads (pending_copies, pending_deletes) kept from a role
# given INSERT on tables so: any server, as any role the connection string
# names. The script now revokes its tables from every role but their owner.
#
# Likewise the functions not for PUBLIC (move_partition, the lock of moves,
# the helpers that connect to a connection string) were revoked from PUBLIC
# only: default privileges for functions (ALTER DEFAULT PRIVILEGES GRANT
# EXECUTE ON FUNCTIONS TO a role) gave them to that role, which held the
# lock of moves with move_lock() (every move 55P03) and connected wherever
# it liked, as any role, with the router's password file.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('movesecretacl', shards => [ 'sa', 'sb', 'sc' ]);
sub r { return $node->safe_psql('router', $_[0]); }
r('CREATE ROLE mallory LOGIN');
r(q{DROP EXTENSION stategraph_router;
	ALTER DEFAULT PRIVILEGES GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO mallory;
	ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO mallory;
	CREATE EXTENSION stategraph_router;});
r('CREATE TABLE public.report (x integer)');
is(r(q{SELECT has_table_privilege('mallory', 'public.report', 'SELECT, INSERT')}), 't',
	'the default privileges hold for a table of the superuser');
is(r(q{SELECT string_agg(c.relname, ', ') FROM pg_class c WHERE c.relnamespace = 'stategraph_router'::regnamespace
	AND c.relkind = 'r' AND has_table_privilege('mallory', c.oid, 'SELECT, INSERT, UPDATE, DELETE')}), '',
	'but not for the tables of the extension');

# mallory makes up the key of its own session from the secret, and holds it
my $m = $node->background_psql('router', extra_params => [ '-U', 'mallory' ], on_error_stop => 0);
my $mpid = $m->query_safe('SELECT pg_backend_pid()');
$m->query(q{SELECT pg_advisory_lock(('x' || substr(h, 1, 8))::bit(32)::integer, ('x' || substr(h, 9, 8))::bit(32)::integer)
	FROM (SELECT encode(sha256(convert_to(concat_ws('/', (SELECT secret FROM stategraph_router.move_secret), a.pid,
	                                                EXTRACT(epoch FROM a.backend_start)), 'UTF8')), 'hex') h
	      FROM pg_stat_activity a WHERE a.pid = pg_backend_pid()) s});
like($m->{stderr}, qr/permission denied for table move_secret/, 'mallory may not read the secret');
is(r(q{SELECT has_function_privilege('mallory', 'stategraph_router.partitions()', 'EXECUTE')}), 't',
	'and for its functions');
is(r(q{SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY p.oid::regprocedure::text) FROM pg_proc p
	WHERE p.pronamespace = 'stategraph_router'::regnamespace AND has_function_privilege('mallory', p.oid, 'EXECUTE')
	  AND (p.proname IN ('move_partition', 'move_lock', 'move_unlock', 'move_key', 'move_holder', 'my_move_key', 'recheck_copies',
	                     'adopt_runs', 'adopt_tasks', 'adopt_finished')
	       OR p.proname LIKE '%\_at')}), '', 'but not for those not for PUBLIC');
$m->{stderr} = '';
$m->query('SELECT stategraph_router.move_lock()');
like($m->{stderr}, qr/permission denied for function move_lock/, 'mallory may not take the lock of moves');
$m->{stderr} = '';
$m->query(q{SELECT stategraph_router.identity_at('host=/nowhere dbname=postgres user=postgres')});
like($m->{stderr}, qr/permission denied for function identity_at/, 'nor connect with the router\'s helpers');
$m->{stderr} = '';
$m->query(qq{INSERT INTO stategraph_router.pending_copies VALUES (0, '$conn{sa}')});
like($m->{stderr}, qr/permission denied for table pending_copies/, 'nor tell the next move where to delete threads');
my ($ret, $out, $err) = $node->psql('router', "CALL stategraph_router.move_partition(0, '$conn{sc}')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
is($err, '', 'a move goes through while mallory\'s session lasts');
like(r(q{SELECT connstr FROM stategraph_router.partitions() WHERE partition = 0}), qr/dbname=sc$/, 'partition 0 is on sc');
$m->quit;
$node->stop;
done_testing();
