# Background runs execute as the role that submitted them, and nothing of
# one role's run reaches the next run, of another role, that the same
# session executes: a session executing runs (a worker, or the superuser's
# own session in CALL sg_work) keeps no setting and no temporary object a
# node left behind. And what happens to a queued run whose submitter is
# dropped, loses EXECUTE on a node function, or is made NOLOGIN.
#
# Without the preload there are no background workers: CALL sg_work is the
# one executor, so which session runs what is known.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('run_roles');

$node->safe_psql('postgres', q{
CREATE EXTENSION stategraph;
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE SCHEMA alice_s AUTHORIZATION alice;
GRANT USAGE ON SCHEMA alice_s TO PUBLIC;
CREATE TABLE seen (run text, who text, mark text, path text);
GRANT INSERT, SELECT ON seen TO PUBLIC;
-- a node of alice: it changes settings for the session, and asks for a temporary table
CREATE FUNCTION public.alice_node(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.seen VALUES (config->>'thread_id', current_user,
                                    current_setting('tn.mark', true), current_setting('search_path'));
    PERFORM pg_catalog.set_config('tn.mark', 'alice', false);
    PERFORM pg_catalog.set_config('search_path', 'alice_s, public', false);
    IF state->>'temp' = 'yes' THEN
        CREATE TEMP TABLE alice_box (x text);
    END IF;
    RETURN '{"n": 1}';
END $$;
-- bob's node: unqualified names, as most functions are written
CREATE FUNCTION public.bob_node(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO seen VALUES (config->>'thread_id', current_user,
                             current_setting('tn.mark', true), current_setting('search_path'));
    RETURN '{"n": 1}';
END $$;
GRANT EXECUTE ON FUNCTION public.alice_node(jsonb, jsonb), public.bob_node(jsonb, jsonb) TO PUBLIC;
SET ROLE alice;
SELECT sg_create_graph('ag', '{"n": "add", "temp": "replace"}'), sg_add_node('ag', 'a', 'public.alice_node(jsonb,jsonb)'),
       sg_add_edge('ag', '__start__', 'a'), sg_add_edge('ag', 'a', '__end__'), sg_compile('ag');
RESET ROLE;
SET ROLE bob;
SELECT sg_create_graph('bg', '{"n": "add"}'), sg_add_node('bg', 'b', 'public.bob_node(jsonb,jsonb)'),
       sg_add_edge('bg', '__start__', 'b'), sg_add_edge('bg', 'b', '__end__'), sg_compile('bg');
});

# alice's run, then bob's, then alice's again, executed by the superuser's session
$node->safe_psql('postgres', q{
SET ROLE alice; SELECT sg_submit('ag', '{"n": 0}', 'a-1'); RESET ROLE;
SET ROLE bob; SELECT sg_submit('bg', '{"n": 0}', 'b-1'); RESET ROLE;
SET ROLE alice; SELECT sg_submit('ag', '{"n": 0}', 'a-2'); RESET ROLE;
});
my $out = $node->safe_psql('postgres', q{
SET tn.mark = 'postgres';
CALL sg_work();
SELECT current_setting('tn.mark', true) || ' | ' || current_setting('search_path');
SELECT string_agg(run || ':' || who || ':' || coalesce(mark, '-') || ':' || path, ' ' ORDER BY run) FROM seen;
SELECT string_agg(thread_id || ':' || status, ' ' ORDER BY thread_id) FROM sg_runs();
});
my ($session, $seen, $runs) = split /\n/, $out;
is($session, 'postgres | "$user", public', 'the session that executed the runs keeps its own settings');
# (nor the custom setting of the executing session, another role's: TAP 302)
is($seen,
	'a-1:alice::"$user", public a-2:alice::"$user", public b-1:bob::"$user", public',
	'each run executes as its submitter and sees none of the settings an earlier run made');
is($runs, 'a-1:success a-2:success b-1:success', 'the runs succeed');

# a temporary object would outlive the run in the executing session: refused
$node->safe_psql('postgres', q{SET ROLE alice; SELECT sg_submit('ag', '{"n": 0, "temp": "yes"}', 'a-temp')});
$out = $node->safe_psql('postgres', q{
CALL sg_work();
SELECT status || ' ' || (error->>'sqlstate') FROM sg_runs() WHERE thread_id = 'a-temp';
SELECT count(*) FROM pg_class WHERE relname = 'alice_box';
});
is($out, "error 42501\n0", 'a node of a background run cannot create a temporary table (42501)');

# the submitter loses EXECUTE on the node function, or is made NOLOGIN, or is
# dropped, while the run waits: it runs as that role or not at all
$node->safe_psql('postgres', q{
CREATE FUNCTION public.owned_node(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
GRANT EXECUTE ON FUNCTION public.owned_node(jsonb) TO bob;
REVOKE EXECUTE ON FUNCTION public.owned_node(jsonb) FROM PUBLIC;
SET ROLE bob;
SELECT sg_create_graph('og', '{"n": "add"}'), sg_add_node('og', 'o', 'public.owned_node(jsonb)'),
       sg_add_edge('og', '__start__', 'o'), sg_add_edge('og', 'o', '__end__'), sg_compile('og');
SELECT sg_submit('og', '{"n": 0}', 'o-revoked');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION public.owned_node(jsonb) FROM bob;
});
$out = $node->safe_psql('postgres', q{
CALL sg_work();
SELECT status || ' ' || (error->>'sqlstate') FROM sg_runs() WHERE thread_id = 'o-revoked';
SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 'o-revoked';
});
is($out, "error 42501\n0", 'a submitter that lost EXECUTE on a node function: error 42501, nothing stored');

$node->safe_psql('postgres', q{
SET ROLE alice; SELECT sg_submit('ag', '{"n": 0}', 'a-nologin'); RESET ROLE;
ALTER ROLE alice NOLOGIN;
});
$out = $node->safe_psql('postgres', q{
CALL sg_work();
SELECT status FROM sg_runs() WHERE thread_id = 'a-nologin';
SELECT who FROM seen WHERE run = 'a-nologin';
});
is($out, "success\nalice",
	'a NOLOGIN submitter still owns its runs: they execute as it (a group role submits with SET ROLE)');

$node->safe_psql('postgres', q{
CREATE ROLE carol LOGIN;
GRANT EXECUTE ON FUNCTION public.owned_node(jsonb) TO carol;
SET ROLE carol;
SELECT sg_invoke('og', '{"n": 0}', 'c-1') IS NOT NULL;
SELECT sg_submit('og', NULL, 'c-1');
RESET ROLE;
});
my $before = $node->safe_psql('postgres', q{SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 'c-1'});
$node->safe_psql('postgres', q{
DROP OWNED BY carol;
DROP ROLE carol;
});
$out = $node->safe_psql('postgres', q{
CALL sg_work();
SELECT status || ' ' || (error->>'message') FROM stategraph.runs WHERE thread_id = 'c-1';
SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 'c-1';
});
is($out, "error role \"carol\" that submitted the run does not exist\n$before",
	'a dropped submitter: its run ends in error and executes nothing');

# a role created later under the dropped one's name does not inherit the queued run
$node->safe_psql('postgres', q{
CREATE ROLE dave LOGIN;
GRANT EXECUTE ON FUNCTION public.owned_node(jsonb) TO dave;
SET ROLE dave;
SELECT sg_submit('og', '{"n": 0}', 'd-1', after => '2 seconds');
RESET ROLE;
DROP OWNED BY dave;
DROP ROLE dave;
CREATE ROLE dave LOGIN;
});
sleep 3;
$out = $node->safe_psql('postgres', q{
CALL sg_work();
SELECT status FROM stategraph.runs WHERE thread_id = 'd-1';
});
# (owners are kept by name, as README.md says: the new dave is the owner)
is($out, 'error', 'a role recreated under a dropped name without EXECUTE: the run fails (42501), executing nothing');

$node->stop;
done_testing();
