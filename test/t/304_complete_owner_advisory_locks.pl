# A completion's step goes on as the thread's owner in the completer's
# session (TAP 297). Advisory locks are the session's, whoever takes them:
#  - a session-level lock the owner's node took (pg_advisory_lock) stayed
#    held by the worker's session after sg_complete returned, blocking the
#    owner's other sessions for as long as the worker's lived (a background
#    run's are let go after the run, as CALL sg_work's: TAP 194);
#  - the owner's node could let go of the worker's own session-level locks
#    (pg_advisory_unlock_all), which another tenant's work of that worker
#    relied on. A completer that holds advisory locks leaves the step to a
#    run of the owner (CALL sg_work here, without the preload).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('complete_owner_advisory_locks');

$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE ran (thread text, who name);
    GRANT INSERT, SELECT ON ran TO PUBLIC;
    CREATE ROLE app LOGIN;
    CREATE SCHEMA app AUTHORIZATION app;
    CREATE ROLE w LOGIN;
    GRANT app TO w;
    SET ROLE app;
    CREATE FUNCTION app.next(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_advisory_unlock_all();
        PERFORM pg_advisory_lock(42);
        PERFORM pg_advisory_lock(42);
        PERFORM pg_advisory_lock_shared(1, 2);
        PERFORM pg_advisory_xact_lock(43);
        INSERT INTO public.ran VALUES (config->>'thread_id', current_user);
        RETURN '{"messages": ["next"]}';
    END $$;
} . llm_next_graph_sql('app'));

sub sql { return $node->safe_psql('postgres', $_[0]); }
sub start { sql(qq{SET ROLE app; SELECT sg_invoke('app_g', '{"messages": ["hi"]}', '$_[0]')}); }
sub ran { return sql(qq{SELECT string_agg(who, ',') FROM ran WHERE thread = '$_[0]'}); }
my $complete = llm_complete_sql();
my $mine = q{SELECT coalesce(string_agg(objid || '/' || mode, ',' ORDER BY objid, mode), 'none') FROM pg_locks
    WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objsubid IN (1, 2)};

# --- the node's session-level locks -----------------------------------------
start('l-1');
my ($stderr);
my $out = $node->safe_psql('postgres', qq{
    SET SESSION AUTHORIZATION w;
    $complete 'l-1';
    $mine;
}, stderr => \$stderr);
is((split /\n/, $out)[-1], 'none', "no advisory lock of the owner's node is left in the worker's session");
is($stderr // '', '', '... and nothing was said about it');
is(ran('l-1'), 'app', '... whose step went on at once, as app');

# the same in a transaction: the node's transaction-level lock lasts until the commit, as the worker's would
start('l-2');
$out = sql(qq{
    SET SESSION AUTHORIZATION w;
    BEGIN;
    $complete 'l-2';
    $mine;
    COMMIT;
    $mine;
});
is(join(' ', (split /\n/, $out)[-2, -1]), '43/ExclusiveLock none',
	"in the worker's transaction, only the node's transaction-level lock is held, until the commit");
is(ran('l-2'), 'app', '... the step went on as app');

# --- the worker's own session-level lock ------------------------------------
start('l-3');
$out = sql(qq{
    SET SESSION AUTHORIZATION w;
    SELECT pg_advisory_lock(7);
    $complete 'l-3';
    $mine;
});
is((split /\n/, $out)[-1], '7/ExclusiveLock', "the worker's own lock is still held after its completion");
is(ran('l-3'), '', '... whose step is not gone on with in its session');
is(sql(q{SELECT count(*) FROM stategraph.steps_left WHERE thread_id = 'l-3'}), '1', '... but left to a run of app');
sql(q{SET ROLE app; CALL sg_work()});
is(ran('l-3'), 'app', '... which goes on with it as app');
is(sql(q{SELECT status FROM stategraph.threads WHERE thread_id = 'l-3'}), 'done', '... the thread done');

$node->stop;
done_testing();
