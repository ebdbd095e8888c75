# A completion by a role above row-level security (a superuser, or a
# BYPASSRLS role) of another role's task went on with the step in the
# completion's transaction, with the completer's rights: any role that could
# create a function and a graph with an external node on a queue a
# superuser's worker serves (naming the node as the worker's handler, such
# as the reference worker's "agent") had its next node run as the
# superuser at the completion, and made itself a superuser there (ALTER
# ROLE ... SUPERUSER). Such a completion now leaves the step to a run of
# the thread's owner (stategraph.steps_left), as a worker that may not
# execute the graph's functions does:
#  - a superuser's completion of an ordinary role's task runs none of its
#    nodes: the thread waits, with a note; CALL sg_work runs the step as
#    the owner, whose ALTER ROLE ... SUPERUSER fails;
#  - a BYPASSRLS role (not a member of the owner) likewise;
#  - unchanged: a member of the owner goes on with the step at once, in
#    its transaction, and so does a superuser with its own thread.
# No preload: only CALL sg_work runs a left step here.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('complete_above_rls');

$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE ran (who name, thread text, became_superuser boolean);
    GRANT INSERT, SELECT ON ran TO PUBLIC;
    CREATE ROLE evil LOGIN;
    CREATE SCHEMA evil AUTHORIZATION evil;
    CREATE ROLE mallory LOGIN BYPASSRLS;
    CREATE ROLE app LOGIN;
    CREATE SCHEMA app AUTHORIZATION app;
    CREATE ROLE w LOGIN;
    GRANT app TO w;
    CREATE ROLE su;   -- what the superuser's own graph makes a superuser
});

# evil's graph: the model's node, then a node that tries to make its owner a superuser
my $graph = q{
    CREATE FUNCTION %1$s.next(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    DECLARE up boolean := true;
    BEGIN
        BEGIN
            EXECUTE 'ALTER ROLE %1$s SUPERUSER';
        EXCEPTION WHEN insufficient_privilege THEN
            up := false;
        END;
        INSERT INTO public.ran VALUES (current_user, config->>'thread_id', up);
        RETURN '{"messages": ["next"]}';
    END $$;
    SELECT sg_create_graph('%1$s_g', '{"messages": "append"}');
    SELECT sg_add_external_node('%1$s_g', 'agent', queue => 'llm');
    SELECT sg_add_node('%1$s_g', 'next', '%1$s.next(jsonb, jsonb)');
    SELECT sg_add_edge('%1$s_g', '__start__', 'agent');
    SELECT sg_add_edge('%1$s_g', 'agent', 'next');
    SELECT sg_add_edge('%1$s_g', 'next', '__end__');
    SELECT sg_compile('%1$s_g');
};
$node->safe_psql('postgres', sprintf("SET ROLE evil; GRANT USAGE ON SCHEMA evil TO PUBLIC; $graph", 'evil'));
$node->safe_psql('postgres', sprintf("SET ROLE app; $graph", 'app'));
$node->safe_psql('postgres', sprintf("CREATE SCHEMA su; $graph", 'su'));

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Queue thread $thread's task as $owner (a SET ROLE, or none), claim and complete it as $worker.
sub complete_as
{
	my ($owner, $graph, $thread, $worker) = @_;
	sql(($owner ? "SET ROLE $owner; " : '') . "SELECT sg_invoke('$graph', '{\"messages\": [\"hi\"]}', '$thread')");
	my $set = $worker ? "SET ROLE $worker;" : '';
	sql(qq{
        $set
        SELECT sg_complete(task_id, token, '{"messages": ["model"]}')
        FROM sg_claim('llm', 'w1') WHERE thread_id = '$thread';
    });
	return sql("SELECT count(*) FROM stategraph.tasks WHERE thread_id = '$thread' AND status = 'completed'");
}

sub thread_status { return sql("SELECT status FROM stategraph.threads WHERE thread_id = '$_[0]'"); }
sub ran_by { return sql("SELECT string_agg(who || ':' || became_superuser, ',') FROM ran WHERE thread = '$_[0]'"); }

# --- a superuser completes evil's task --------------------------------------
is(complete_as('evil', 'evil_g', 'e-1', undef), '1', "the superuser's completion of evil's task is taken");
is(ran_by('e-1'), '', '... and runs none of its nodes in its transaction');
is(sql(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'evil'}), 'f', '... so evil is no superuser');
is(thread_status('e-1'), 'waiting', '... the thread waits');
is(sql(q{SELECT owner FROM stategraph.steps_left WHERE thread_id = 'e-1'}), 'evil',
	"... with a note of the step for its owner");
sql('CALL sg_work()');
is(ran_by('e-1'), 'evil:false', 'CALL sg_work goes on with the step as evil, who cannot become a superuser');
is(thread_status('e-1'), 'done', '... and the thread is done');
is(sql(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'evil'}), 'f', '... evil is still no superuser');

# --- a BYPASSRLS role, not a member of evil ----------------------------------
is(complete_as('evil', 'evil_g', 'e-2', 'mallory'), '1', "a BYPASSRLS role's completion of evil's task is taken");
is(ran_by('e-2'), '', '... and runs none of its nodes as that role');
is(thread_status('e-2'), 'waiting', '... the thread waits');
sql('SET ROLE evil; CALL sg_work()');
is(ran_by('e-2'), 'evil:false', "evil's CALL sg_work goes on with it as evil");

# --- unchanged: a member of the owner, and a superuser with its own thread ---
is(complete_as('app', 'app_g', 'a-1', 'w'), '1', "a member's completion of its owner's task is taken");
is(ran_by('a-1'), 'w:false', '... and goes on with the step at once, in its transaction');
is(thread_status('a-1'), 'done', '... the thread done');
is(complete_as(undef, 'su_g', 's-1', undef), '1', "a superuser's completion of its own thread's task");
like(ran_by('s-1'), qr/^\w+:true$/, '... goes on with the step at once, as itself');
is(thread_status('s-1'), 'done', '... the thread done');

$node->stop;
done_testing();
