# A completion's step goes on as the thread's owner (TAP 297), but with the
# completer's search_path: a BYPASSRLS worker that is no member of the owner
# (it completes any role's task) chose what the owner's unqualified names
# meant. A table of its own schema first in its path, or a temporary table
# (pg_temp is searched first for relations), took the owner's INSERT, and
# their trigger ran as the owner: the completion of a superuser's task made
# the worker a superuser. The step now has the database's path, as a
# background run of the owner does, with the completer's temporary schema
# searched last.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('complete_owner_search_path');

$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE public.note (thread text, who name, path text);
    GRANT SELECT ON public.note TO PUBLIC;
    CREATE ROLE mallory LOGIN BYPASSRLS;
    CREATE SCHEMA mallory AUTHORIZATION mallory;
    CREATE SCHEMA su;
    GRANT USAGE ON SCHEMA su TO PUBLIC;  -- the worker loads the graph
    CREATE FUNCTION su.next(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO note VALUES (config->>'thread_id', current_user, current_setting('search_path'));
        RETURN '{"messages": ["next"]}';
    END $$;
} . llm_next_graph_sql('su') . q{
    SET ROLE mallory;
    -- what mallory would have the superuser's node run
    CREATE FUNCTION mallory.up() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        EXECUTE 'ALTER ROLE mallory SUPERUSER';
        RETURN NEW;
    END $$;
    CREATE TABLE mallory.note (thread text, who name, path text);
    GRANT ALL ON mallory.note TO PUBLIC;
    CREATE TRIGGER up BEFORE INSERT ON mallory.note FOR EACH ROW EXECUTE FUNCTION mallory.up();
});

sub sql { return $node->safe_psql('postgres', $_[0]); }
sub start { sql(qq{SELECT sg_invoke('su_g', '{"messages": ["hi"]}', '$_[0]')}); }
my $complete = llm_complete_sql();
sub noted { return sql(qq{SELECT who || '|' || path FROM public.note WHERE thread = '$_[0]'}); }
sub mallory_super { return sql(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}); }
my $su = sql('SELECT current_user');

# --- mallory's schema first in its path -------------------------------------
start('p-1');
sql(qq{SET SESSION AUTHORIZATION mallory; SET search_path = mallory, public; $complete 'p-1'});
is(sql(q{SELECT count(*) FROM mallory.note}), '0', "a BYPASSRLS worker's path does not send the superuser's INSERT to its table");
is(mallory_super(), 'f', '... whose trigger does not run as the superuser');
is(noted('p-1'), qq{$su|"\$user", public, pg_temp}, "... the node ran with the database's path, its own temporary schema last");
is(sql(q{SELECT status FROM stategraph.threads WHERE thread_id = 'p-1'}), 'done', '... the thread done');

# --- a temporary table of mallory's session ---------------------------------
start('t-1');
is((split /\n/, sql(qq{
    SET SESSION AUTHORIZATION mallory;
    CREATE TEMP TABLE note (thread text, who name, path text);
    GRANT ALL ON note TO PUBLIC;
    CREATE TRIGGER up BEFORE INSERT ON note FOR EACH ROW EXECUTE FUNCTION mallory.up();
    $complete 't-1';
    SELECT count(*) FROM pg_temp.note;
}))[-1], '0', "a BYPASSRLS worker's temporary table does not take the superuser's INSERT");
is(mallory_super(), 'f', '... whose trigger does not run as the superuser');
is(noted('t-1'), qq{$su|"\$user", public, pg_temp}, '... which goes where the database path says');

# --- the path mallory's role and connection set, and the database's ---------
sql(q{ALTER ROLE mallory SET search_path = mallory, public});
sql(q{ALTER DATABASE postgres SET search_path = public, "$user"});
start('d-1');
is(sql(q{SELECT current_setting('search_path')}), 'public, "$user"', '(the database sets its path)');
$node->safe_psql('postgres', "$complete 'd-1'", extra_params => [ '-U', 'mallory' ]);
is(sql(q{SELECT count(*) FROM mallory.note}), '0', "the path of mallory's ALTER ROLE ... SET is not the step's either");
is(noted('d-1'), qq{$su|public, "\$user", pg_temp}, "... which is the database's");
is(mallory_super(), 'f', '... mallory is no superuser');

$node->stop;
done_testing();
