# sg_complete goes on with the step as the thread's owner, security-restricted
# (TAP 297). Two ways the owner's nodes still reached the completer's session:
#  - a worker that SET ROLE to the owner before completing (its current
#    user the owner, its session user not) ran the step unrestricted: the
#    owner's node could RESET ROLE to the worker's session user (a superuser,
#    or a worker role shared by tenants) and act with its rights;
#  - a cursor open in the completer's session (WITH HOLD, or any portal)
#    could be read by the owner's node with FETCH, a cursor over the rows of
#    another role the worker also works for say. Such a step is now left to
#    a run of the owner (CALL sg_work here, without the preload);
#  - a custom setting the worker's session made (SET app.tenant = 'other',
#    what a row-level security policy goes by) was the owner's node's too:
#    it read the other tenant's rows. The step has the database's value;
#  - settings only a superuser may make (session_replication_role =
#    replica: no triggers nor foreign keys; lo_compat_privileges) that a
#    superuser worker's session made were the owner's step's too.
# CALL sg_work in such a worker's session executes the runs of the roles it
# is a member of (as them, restricted): the same held there (a cursor open
# refuses the call; the runs of other roles do not see the caller's custom
# settings).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('complete_as_owner_session');

$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE ran (thread text, who name, reset_to name, became_superuser boolean, others_seen bigint, fetched text,
        docs text, su_settings text);
    GRANT INSERT, SELECT ON ran TO PUBLIC;
    -- a table shared by tenants, kept apart by a setting each tenant's session makes
    CREATE TABLE docs (tenant text, doc text);
    INSERT INTO docs VALUES ('app', 'app-doc'), ('other', 'other-doc');
    ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant ON docs USING (tenant = current_setting('app.tenant', true));
    GRANT SELECT ON docs TO PUBLIC;
    CREATE ROLE app LOGIN;
    CREATE SCHEMA app AUTHORIZATION app;
    CREATE ROLE other LOGIN;
    CREATE ROLE w LOGIN;
    GRANT app, other TO w;
    SET ROLE app;
    CREATE FUNCTION app.next(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    DECLARE
        reset_to name;
        up boolean := true;
        c refcursor := 'wcur';
        got text;
    BEGIN
        BEGIN
            EXECUTE 'RESET ROLE';
            reset_to := current_user;
        EXCEPTION WHEN insufficient_privilege THEN
            NULL;
        END;
        BEGIN
            EXECUTE 'ALTER ROLE app SUPERUSER';
        EXCEPTION WHEN insufficient_privilege THEN
            up := false;
        END;
        BEGIN
            FETCH c INTO got;
        EXCEPTION WHEN invalid_cursor_name THEN
            got := NULL;
        END;
        INSERT INTO public.ran VALUES (config->>'thread_id', current_user, reset_to, up,
            (SELECT count(*) FROM stategraph.threads WHERE thread_id LIKE 'other-%'), got,
            coalesce((SELECT string_agg(doc, ',') FROM public.docs), '-'),
            current_setting('session_replication_role') || ',' || current_setting('lo_compat_privileges'));
        RETURN '{"messages": ["next"]}';
    END $$;
} . llm_next_graph_sql('app') . q{
    -- the same node in a graph without an external one, for background runs
    SELECT sg_create_graph('app_r', '{"messages": "append"}');
    SELECT sg_add_node('app_r', 'next', 'app.next(jsonb, jsonb)');
    SELECT sg_add_edge('app_r', '__start__', 'next');
    SELECT sg_add_edge('app_r', 'next', '__end__');
    SELECT sg_compile('app_r');
    RESET ROLE;
} . other_role_thread_sql());

sub sql { return $node->safe_psql('postgres', $_[0]); }
# the last line of what sql() returns (sg_complete's row before it is empty)
sub last_line { return (split /\n/, sql($_[0]))[-1]; }
sub start { sql(qq{SET ROLE app; SELECT sg_invoke('app_g', '{"messages": ["hi"]}', '$_[0]')}); }
sub ran { return sql(qq{SELECT concat_ws('|', who, coalesce(reset_to, '-'), became_superuser, others_seen, coalesce(fetched, '-')) FROM ran WHERE thread = '$_[0]'}); }
sub thread_status { return sql("SELECT status FROM stategraph.threads WHERE thread_id = '$_[0]'"); }
my $complete = llm_complete_sql();

# --- a superuser worker that SET ROLE to the owner first --------------------
start('s-1');
is(last_line("SET ROLE app; $complete 's-1'; SELECT current_user"), 'app',
	"a superuser's completion after SET ROLE app is taken, its role still app after");
is(ran('s-1'), 'app|-|f|0|-', "... the node ran as app, could not RESET ROLE to the superuser nor become one");
is(sql(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'app'}), 'f', '... so app is no superuser');
is(thread_status('s-1'), 'done', '... the thread is done');

# --- a worker role shared by app and other, SET ROLE to app -----------------
start('w-1');
is(last_line("SET SESSION AUTHORIZATION w; SET ROLE app; $complete 'w-1'; SELECT current_user"), 'app',
	"w's completion after SET ROLE app is taken");
is(ran('w-1'), 'app|-|f|0|-', "... the node could not RESET ROLE to w, and saw none of other's threads");

# --- a cursor open in the worker's session ----------------------------------
start('c-1');
is(last_line(qq{
    SET SESSION AUTHORIZATION w;
    BEGIN;
    DECLARE wcur CURSOR WITH HOLD FOR SELECT thread_id FROM stategraph.threads WHERE thread_id LIKE 'other-%';
    COMMIT;
    $complete 'c-1';
    FETCH wcur;
}), 'other-1', "w's completion with a cursor WITH HOLD open over other's threads is taken, its cursor unread");
is(ran('c-1'), '', "... and the step is not gone on with in w's session");
is(sql(q{SELECT count(*) FROM stategraph.steps_left WHERE thread_id = 'c-1'}), '1', '... but left to a run of app');
sql(q{SET ROLE app; CALL sg_work()});
is(ran('c-1'), 'app|-|f|0|-', "... which goes on with it as app, reading no cursor");
is(thread_status('c-1'), 'done', '... the thread done');

# the same in a transaction: a cursor declared before the completion
start('c-2');
is(last_line(qq{
    SET SESSION AUTHORIZATION w;
    BEGIN;
    DECLARE wcur CURSOR FOR SELECT thread_id FROM stategraph.threads WHERE thread_id LIKE 'other-%';
    $complete 'c-2';
    FETCH wcur;
    COMMIT;
}), 'other-1', "a completion in a transaction with a cursor open is taken, its cursor unread");
sql(q{SET ROLE app; CALL sg_work()});
is(ran('c-2'), 'app|-|f|0|-', "... the step gone on with later as app, reading no cursor");

# --- the owner's own session goes on as before ------------------------------
start('o-1');
sql("SET SESSION AUTHORIZATION app; $complete 'o-1'");
is(ran('o-1'), 'app|app|f|0|-', "the owner's own completion goes on in its session (its RESET ROLE is its own)");
is(thread_status('o-1'), 'done', '... the thread done');

# --- a custom setting of the worker's session -------------------------------
sub docs { return sql(qq{SELECT docs FROM ran WHERE thread = '$_[0]'}); }
start('g-1');
is(last_line(qq{
    SET SESSION AUTHORIZATION w;
    SET app.tenant = 'other';
    $complete 'g-1';
    SELECT string_agg(doc, ',') FROM docs;
}), 'other-doc', "w's completion with app.tenant set to other is taken, its setting kept");
is(docs('g-1'), '-', "... app's node did not read other's rows with w's setting");
is(thread_status('g-1'), 'done', '... the thread done');

sql(q{ALTER DATABASE postgres SET app.tenant = 'app'});
start('g-2');
sql(qq{SET SESSION AUTHORIZATION w; SET app.tenant = 'other'; $complete 'g-2'});
is(docs('g-2'), 'app-doc', "... and has the database's value of the setting, when it sets one");

# --- superuser-only settings of a superuser worker's session ----------------
start('u-1');
is(last_line(qq{
    SET session_replication_role = replica;
    SET lo_compat_privileges = on;
    $complete 'u-1';
    SELECT current_setting('session_replication_role') || ',' || current_setting('lo_compat_privileges');
}), 'replica,on', "a superuser's completion with session_replication_role and lo_compat_privileges set keeps them");
is(sql(q{SELECT su_settings FROM ran WHERE thread = 'u-1'}), 'origin,off', "... the owner's node does not have them");
is(thread_status('u-1'), 'done', '... the thread done');

# --- CALL sg_work in the worker's session -----------------------------------
sql(q{SET ROLE app; SELECT sg_submit('app_r', '{"messages": ["hi"]}', 'r-1')});
my ($out, $err) = ('', '');
$node->psql('postgres', q{
    SET SESSION AUTHORIZATION w;
    BEGIN;
    DECLARE wcur CURSOR WITH HOLD FOR SELECT thread_id FROM stategraph.threads WHERE thread_id LIKE 'other-%';
    COMMIT;
    CALL sg_work();
}, stdout => \$out, stderr => \$err);
like($err, qr/sg_work cannot execute runs while a cursor is open in this session/,
	'CALL sg_work with a cursor open in the session is refused');
is(ran('r-1'), '', '... and executes nothing');
sql(q{SET ROLE app; SELECT sg_submit('app_r', '{"messages": ["hi"]}', 'r-2')});
sql(q{SET SESSION AUTHORIZATION w; SET app.tenant = 'other'; CALL sg_work()});
is(ran('r-1') . ' ' . ran('r-2'), 'app|-|f|0|- app|-|f|0|-', "CALL sg_work by w then executes app's runs as app");
is(docs('r-2'), 'app-doc', "... which do not see w's custom setting, but the database's");
sql(q{SET ROLE app; SELECT sg_submit('app_r', '{"messages": ["hi"]}', 'r-3')});
sql(q{SET session_replication_role = replica; CALL sg_work()});
is(sql(q{SELECT su_settings FROM ran WHERE thread = 'r-3'}), 'origin,off',
	"a superuser's CALL sg_work does not run app's run with its session_replication_role");

$node->stop;
done_testing();
