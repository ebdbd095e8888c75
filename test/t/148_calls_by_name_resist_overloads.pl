# The functions the server calls by name, as another role, cannot be
# replaced by an overload another role creates.
#
# The retention sweep (as a worker, a superuser, or CALL sg_work's caller)
# calls sg_prune, and the continuation of a left step (stategraph.steps_left,
# as the role that ran the step) calls sg_submit, by name in the
# extension's schema. With an untyped NULL among the arguments, PostgreSQL
# prefers a text parameter for it: a role allowed to create functions in
# that schema could create sg_prune(text, integer, text) or
# sg_submit(text, text, text, text) and have it run as that other role. The
# calls now type every argument, so only the extension's functions match.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('overloads');
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE ROLE alice LOGIN;
    CREATE ROLE mallory LOGIN;
    GRANT CREATE ON SCHEMA public TO alice, mallory;
    CREATE TABLE hijacked (fn text, as_role name);
    GRANT INSERT ON hijacked TO PUBLIC;
});
$node->safe_psql('postgres', q{
    CREATE FUNCTION public.sg_prune(older_than text, keep_last integer, thread_id text) RETURNS bigint
        LANGUAGE sql AS $$ INSERT INTO hijacked VALUES ('sg_prune', current_user); SELECT 0::bigint $$;
    CREATE FUNCTION public.sg_submit(graph text, input text, thread_id text, multitask text) RETURNS uuid
        LANGUAGE sql AS $$ INSERT INTO hijacked VALUES ('sg_submit', current_user); SELECT NULL::uuid $$;
    -- as many arguments as the server's call passes (runs.c, submit_call),
    -- every one text where that call could leave one untyped
    CREATE FUNCTION public.sg_submit(graph text, input text, thread_id text, checkpoint_id text, resume text,
            recursion_limit integer, multitask text, after text, idempotency_key text) RETURNS uuid
        LANGUAGE sql AS $$ INSERT INTO hijacked VALUES ('sg_submit/9', current_user); SELECT NULL::uuid $$;
}, extra_params => ['-U', 'mallory']);

# the sweep prunes a thread of a graph kept to its newest checkpoint
$node->safe_psql('postgres', 'SET ROLE alice;' . note_graph_sql() . q{
    SELECT sg_invoke('g', '{}', 'old');
    RESET ROLE;
    UPDATE stategraph.threads SET updated_at = now() - interval '2 days' WHERE thread_id = 'old';
    SELECT sg_set_retention('g', interval '1 day', 'keep_latest');
});
$node->safe_psql('postgres', 'CALL sg_work(0)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM sg_get_state_history('old')}), '1',
	"the sweep pruned the thread with the extension's sg_prune");

# a left step goes on with the extension's sg_submit, as the role that ran it
$node->safe_psql('postgres', 'SET ROLE alice;' . ext_graph_sql());
$node->safe_psql('postgres', q{SELECT sg_invoke('ext', '{}', 'left')}, extra_params => ['-U', 'alice']);
# (its one task completed without the step going on, as when the thread's row was held)
$node->safe_psql('postgres', q{UPDATE stategraph.tasks SET status = 'completed', result = '{"answer": 7}' WHERE thread_id = 'left'});
$node->safe_psql('postgres', q{INSERT INTO stategraph.steps_left (thread_id, checkpoint_id)
    SELECT thread_id, head FROM stategraph.threads WHERE thread_id = 'left'}, extra_params => ['-U', 'alice']);
$node->safe_psql('postgres', 'CALL sg_work()');
is($node->safe_psql('postgres', q{SELECT status || ' ' || (SELECT "values"->>'answer' FROM sg_get_state('left'))
    FROM sg_threads() WHERE thread_id = 'left'}), 'done 7', "the step went on with the extension's sg_submit");

is($node->safe_psql('postgres', q{SELECT count(*) FROM hijacked}), '0', "mallory's overloads never ran");
$node->stop;
done_testing();
