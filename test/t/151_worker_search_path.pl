# Security review (helper review, 2026-12-03): a background worker's own
# statements (claims, the retention sweep of stategraph's and LangGraph.js
# threads, the expiry of runs) run as a superuser, and ran with the
# database's search path. A database owner who is not a superuser can set
# that path (ALTER DATABASE ... SET search_path = public, pg_catalog) and
# make objects in public that come before pg_catalog's: a domain named uuid
# (the LangGraph.js sweep cast to an unqualified uuid) and operators = and <
# of text, uuid, name and timestamptz, each noting who ran it. The worker's
# own statements now go by "pg_catalog, pg_temp" (as PostgreSQL's
# maintenance commands do) and name pg_catalog's types: no object of the
# owner's runs as the superuser. A background run is its submitter's, and
# goes by the database's search path as before (its node reads it).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('worker_search_path', qq{
stategraph.sweep_interval = 1
stategraph.run_retention = '1s'
});
$node->safe_psql('postgres', q{
	CREATE ROLE mallory LOGIN;
	CREATE ROLE alice LOGIN;
	CREATE DATABASE shop OWNER mallory;
});
$node->safe_psql('shop', sweep_graph_sql() . q{
	GRANT CREATE, USAGE ON SCHEMA public TO alice;
	CREATE TABLE public.seen_path (path text);
	GRANT INSERT ON public.seen_path TO alice;
	CREATE FUNCTION public.path_node(state jsonb) RETURNS jsonb LANGUAGE sql
		AS $$ INSERT INTO public.seen_path SELECT current_setting('search_path') WHERE '{}'::jsonb = '{}'::jsonb; SELECT '{}'::jsonb $$;
	SELECT sg_create_graph('p', '{"n": "replace"}');
	SELECT sg_add_node('p', 'a', 'public.path_node(jsonb)');
	SELECT sg_add_edge('p', '__start__', 'a');
	SELECT sg_add_edge('p', 'a', '__end__');
	SELECT sg_compile('p');
	SELECT sg_set_retention(NULL, '1 hour', 'keep_latest');
	SELECT sg_set_retention('sg', '1 hour');
});
lg_chain_put($node, 'shop');
# a LangGraph.js thread of five checkpoints: its values are rows of lg_blobs,
# which the sweep's cast to uuid names
$node->safe_psql('shop', q{SELECT count(lgput('lg-1', k)) FROM generate_series(1, 5) k});

# the owner's path and objects
$node->safe_psql('shop', q{
	SET ROLE mallory;
	ALTER DATABASE shop SET search_path = public, pg_catalog;
	CREATE TABLE public.ran (what text, who text, backend text);
	GRANT INSERT ON public.ran TO PUBLIC;
	CREATE FUNCTION public.note(what text) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
		AS $$ BEGIN
			INSERT INTO public.ran SELECT what, current_user, a.backend_type
			FROM pg_stat_activity a WHERE a.pid OPERATOR(pg_catalog.=) pg_backend_pid();
			RETURN true;
		END $$;
	CREATE DOMAIN public.uuid AS pg_catalog.uuid CHECK (public.note('uuid'));
	CREATE FUNCTION public.eq_text(a text, b text) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
		AS $$ BEGIN PERFORM public.note('text = text'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
	CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.eq_text);
	CREATE FUNCTION public.eq_uuid(a pg_catalog.uuid, b pg_catalog.uuid) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
		AS $$ BEGIN PERFORM public.note('uuid = uuid'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
	CREATE OPERATOR public.= (LEFTARG = pg_catalog.uuid, RIGHTARG = pg_catalog.uuid, FUNCTION = public.eq_uuid);
	CREATE FUNCTION public.eq_jsonb(a jsonb, b jsonb) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
		AS $$ BEGIN PERFORM public.note('jsonb = jsonb'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
	CREATE OPERATOR public.= (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = public.eq_jsonb);
	CREATE FUNCTION public.eq_name(a name, b name) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
		AS $$ BEGIN PERFORM public.note('name = name'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
	CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = name, FUNCTION = public.eq_name);
	CREATE FUNCTION public.lt_ts(a timestamptz, b timestamptz) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
		AS $$ BEGIN PERFORM public.note('timestamptz < timestamptz'); RETURN a OPERATOR(pg_catalog.<) b; END $$;
	CREATE OPERATOR public.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = public.lt_ts);
});

# the path of the worker's own statements, as a trigger of the
# superuser's on stategraph.runs sees it when the worker expires runs
$node->safe_psql('shop', q{
	CREATE TABLE public.expiry_path (path text, backend text);
	CREATE FUNCTION public.note_expiry() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.expiry_path SELECT pg_catalog.current_setting('search_path'), a.backend_type
		FROM pg_catalog.pg_stat_activity a WHERE a.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid();
		RETURN OLD;
	END $$;
	CREATE TRIGGER note_expiry AFTER DELETE ON stategraph.runs FOR EACH ROW EXECUTE FUNCTION public.note_expiry();
});

# the workers, like every new session, connect with the owner's path
$node->restart;

# work for the worker: runs of alice's (claims, their expiry), expired
# threads of both kinds (the sweep)
$node->safe_psql('shop', q{
	GRANT ALL ON ALL TABLES IN SCHEMA public TO alice;
	SET ROLE alice;
	SELECT count(sg_invoke('sg', '{"n": 1}', thread_id => 'old-' || i)) FROM pg_catalog.generate_series(1, 5) i;
});
$node->safe_psql('shop', q{
	UPDATE stategraph.threads SET updated_at = pg_catalog.now() OPERATOR(pg_catalog.-) interval '2 hours';
	UPDATE stategraph.lg_checkpoints SET created_at = pg_catalog.now() OPERATOR(pg_catalog.-) interval '2 hours';
	SET ROLE alice;
	SELECT pg_catalog.count(sg_submit('p', '{"n": 1}', thread_id => 'run-' || i)) FROM pg_catalog.generate_series(1, 3) i;
});
ok($node->poll_query_until('shop', q{SELECT pg_catalog.count(*) OPERATOR(pg_catalog.=) 3 FROM public.seen_path}),
	'the background runs ran');
is($node->safe_psql('shop', q{SELECT DISTINCT path FROM public.seen_path}), 'public, pg_catalog',
	'a run goes by the database\'s search path');
ok($node->poll_query_until('shop',
		q{SELECT NOT EXISTS (SELECT 1 FROM stategraph.threads t WHERE t.thread_id LIKE 'old-%')
		     AND (SELECT pg_catalog.count(*) FROM stategraph.lg_checkpoints) OPERATOR(pg_catalog.=) 1
		     AND NOT EXISTS (SELECT 1 FROM stategraph.runs)}),
	'the sweep removed the expired threads, kept the newest LangGraph.js checkpoint and expired the finished runs');

note($node->safe_psql('shop', q{SELECT what, who, backend, pg_catalog.count(*) FROM public.ran GROUP BY 1, 2, 3 ORDER BY 1, 2, 3}));
my $super = $node->safe_psql('shop', q{
	SELECT pg_catalog.string_agg(DISTINCT what OPERATOR(pg_catalog.||) ' by ' OPERATOR(pg_catalog.||) backend, ', ')
	FROM public.ran r JOIN pg_catalog.pg_roles o ON o.rolname OPERATOR(pg_catalog.=) r.who::name
	WHERE o.rolsuper AND r.backend OPERATOR(pg_catalog.~~) 'stategraph%'});
is($super, '', 'no object of the database owner\'s ran as a superuser in a worker');
# the traps work: each run's node, as alice, compared jsonb with the owner's =
# (alice does not see the worker's backend_type; nothing else compares jsonb)
is($node->safe_psql('shop', q{SELECT who OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) pg_catalog.count(*) FROM public.ran
	WHERE what OPERATOR(pg_catalog.=) 'jsonb = jsonb' GROUP BY who}),
	'alice 3', "each run's own statements, as its submitter, went by the database's path (the owner's = of jsonb)");
is($node->safe_psql('shop', q{SELECT pg_catalog.string_agg(DISTINCT path OPERATOR(pg_catalog.||) ' in ' OPERATOR(pg_catalog.||) backend, ', ') FROM public.expiry_path}),
	'pg_catalog, pg_temp in stategraph worker', "the worker's expiry of runs went by its own path");

$node->stop;
done_testing();
