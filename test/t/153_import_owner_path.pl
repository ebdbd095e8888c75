# Review: sg_import_thread's jsonb_to_recordset column lists (portable.c
# convert_rows and store) name uuid, text, jsonb and timestamptz
# unqualified. A database owner who sets search_path = public, pg_catalog
# (as in TAP 151) has a domain public.uuid chosen, and its CHECK runs as
# whoever imports: a superuser's restore, or the router's move_partition
# (import_at, as the role the router connects as).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my $node = PostgreSQL::Test::Cluster->new('import_owner_path');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE ROLE mallory LOGIN; CREATE DATABASE shop OWNER mallory');
$node->safe_psql('shop', 'CREATE EXTENSION stategraph;' . counter_shard_sql()
	. q{SELECT sg_invoke('counter', '{"log": [1]}', 't1');});
$node->safe_psql('shop', q{
	SET ROLE mallory;
	ALTER DATABASE shop SET search_path = public, pg_catalog;
	CREATE TABLE public.ran (what text, who text);
	GRANT INSERT ON public.ran TO PUBLIC;
	CREATE FUNCTION public.note(what text) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
		AS $$ BEGIN INSERT INTO public.ran VALUES (what, current_user); RETURN true; END $$;
	CREATE DOMAIN public.uuid AS pg_catalog.uuid CHECK (public.note('uuid'));
});
# a new session of the superuser, with the database's path
my ($ret, $out, $err) = $node->psql('shop', q{SELECT sg_import_thread(sg_export_thread('t1'), 't2')});
note("import: rc=$ret out=$out err=$err");
is($node->safe_psql('shop', q{SELECT pg_catalog.string_agg(DISTINCT what OPERATOR(pg_catalog.||) ' as ' OPERATOR(pg_catalog.||) who, ', ') FROM public.ran}),
	'', 'no object of the database owner\'s runs as the importing superuser');
$node->stop;
done_testing();
