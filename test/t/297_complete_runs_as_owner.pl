# The completion of a step's last external task goes on with the step in
# the completion's transaction, and ran the owner's next nodes with the
# completer's rights: a superuser's or BYPASSRLS worker ran any role's node
# as itself (a role whose graph has an external node on a queue a
# superuser's worker serves made itself a superuser: ALTER ROLE ...
# SUPERUSER), and a worker role granted to two tenants ran one's nodes able
# to read the other's threads. The step now goes on as the thread's owner,
# as a background run does (security-restricted: no SET ROLE back, no
# setting left in the worker's session):
#  - a superuser's completion of evil's task runs evil's node as evil,
#    whose ALTER ROLE ... SUPERUSER fails;
#  - a BYPASSRLS role (not a member of evil) likewise;
#  - a member of the owner goes on as the owner, and sees only the owner's
#    threads, not those of another role it is also a member of;
#  - a setting the node makes does not stay in the worker's session;
#  - a superuser with its own thread goes on as itself.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('complete_above_rls');

$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE ran (who name, thread text, became_superuser boolean, others_seen bigint);
    GRANT INSERT, SELECT ON ran TO PUBLIC;
    CREATE ROLE evil LOGIN;
    CREATE SCHEMA evil AUTHORIZATION evil;
    CREATE ROLE mallory LOGIN BYPASSRLS;
    CREATE ROLE app LOGIN;
    CREATE SCHEMA app AUTHORIZATION app;
    CREATE ROLE other LOGIN;
    CREATE ROLE w LOGIN;
    GRANT app, other TO w;
    CREATE ROLE su;   -- what the superuser's own graph makes a superuser
});

# each role's node 'next', after the model's (llm_next_graph_sql): it tries to make its owner a superuser
my $graph = q{
    CREATE FUNCTION %1$s.next(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    DECLARE up boolean := true;
    BEGIN
        BEGIN
            EXECUTE 'ALTER ROLE %1$s SUPERUSER';
        EXCEPTION WHEN insufficient_privilege THEN
            up := false;
        END;
        PERFORM pg_catalog.set_config('application_name', 'set by %1$s', false);
        INSERT INTO public.ran VALUES (current_user, config->>'thread_id', up,
            (SELECT count(*) FROM stategraph.threads WHERE thread_id LIKE 'other-%%'));
        RETURN '{"messages": ["next"]}';
    END $$;
};
$node->safe_psql('postgres', sprintf("SET ROLE evil; GRANT USAGE ON SCHEMA evil TO PUBLIC; $graph", 'evil')
	. llm_next_graph_sql('evil'));
$node->safe_psql('postgres', sprintf("SET ROLE app; $graph", 'app') . llm_next_graph_sql('app'));
$node->safe_psql('postgres', sprintf("CREATE SCHEMA su; $graph", 'su') . llm_next_graph_sql('su'));
# a thread of the other role the worker also works for
$node->safe_psql('postgres', other_role_thread_sql());

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Queue thread $thread's task as $owner (a SET ROLE, or none), claim and complete it as $worker.
sub complete_as
{
	my ($owner, $graph, $thread, $worker) = @_;
	sql(($owner ? "SET ROLE $owner; " : '') . "SELECT sg_invoke('$graph', '{\"messages\": [\"hi\"]}', '$thread')");
	my $set = $worker ? "SET ROLE $worker;" : '';
	my $complete = llm_complete_sql();
	my $after = sql(qq{
        $set
        SET application_name = 'worker';
        $complete '$thread';
        SHOW application_name;
    });
	# (the owner's own completion goes on in its session as its sg_invoke would)
	is((split /\n/, $after)[-1], 'worker', "$thread: the node's setting is not left in the worker's session")
	  if ($owner // '') ne ($worker // '');
	return sql("SELECT count(*) FROM stategraph.tasks WHERE thread_id = '$thread' AND status = 'completed'");
}

sub thread_status { return sql("SELECT status FROM stategraph.threads WHERE thread_id = '$_[0]'"); }
sub ran_by { return sql("SELECT string_agg(who || ':' || became_superuser, ',') FROM ran WHERE thread = '$_[0]'"); }
sub others_seen { return sql("SELECT others_seen FROM ran WHERE thread = '$_[0]'"); }

# --- a superuser completes evil's task --------------------------------------
is(complete_as('evil', 'evil_g', 'e-1', undef), '1', "the superuser's completion of evil's task is taken");
is(ran_by('e-1'), 'evil:false', '... and goes on with the step as evil, who cannot become a superuser');
is(sql(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'evil'}), 'f', '... so evil is no superuser');
is(thread_status('e-1'), 'done', '... the thread is done');
is(sql(q{SELECT count(*) FROM stategraph.steps_left}), '0', '... nothing left for later');

# --- a BYPASSRLS role, not a member of evil ----------------------------------
is(complete_as('evil', 'evil_g', 'e-2', 'mallory'), '1', "a BYPASSRLS role's completion of evil's task is taken");
is(ran_by('e-2'), 'evil:false', '... and goes on with the step as evil');
is(others_seen('e-2'), '0', "... which sees no other role's thread");
is(thread_status('e-2'), 'done', '... the thread done');

# --- a member of the owner, that works for another role too -----------------
is(complete_as('app', 'app_g', 'a-1', 'w'), '1', "a member's completion of its owner's task is taken");
is(ran_by('a-1'), 'app:false', '... and goes on with the step at once, as the owner');
is(others_seen('a-1'), '0', "... which does not see the threads of the worker's other role");
is(sql(q{SET ROLE w; SELECT count(*) FROM stategraph.threads WHERE thread_id LIKE 'other-%'}), '1',
	'(the worker itself sees them)');
is(thread_status('a-1'), 'done', '... the thread done');

# --- a superuser with its own thread ----------------------------------------
is(complete_as(undef, 'su_g', 's-1', undef), '1', "a superuser's completion of its own thread's task");
like(ran_by('s-1'), qr/^\w+:true$/, '... goes on with the step at once, as itself');
is(thread_status('s-1'), 'done', '... the thread done');

$node->stop;
done_testing();
