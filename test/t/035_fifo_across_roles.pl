# FIFO per thread holds in CALL sg_work called by an ordinary role, even
# when an earlier run of the thread belongs to a role the caller cannot
# see. Row-level security shows a role its own runs and those of the roles
# it is a member of; a member role ("child", GRANT parent TO child) may act
# on its parent's threads, so the parent cannot see a run its member
# submitted on the parent's thread. The claim's FIFO test must still count
# that run: the parent's later run waits for it, and the caller still
# reads none of the member's rows.
#
# Without the preload there are no background workers: CALL sg_work is the
# one executor, so which session runs what is known.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = plain_node('fifo_roles');

$node->safe_psql('postgres', q{
CREATE EXTENSION stategraph;
CREATE ROLE parent LOGIN;
CREATE ROLE child LOGIN;
GRANT parent TO child;
CREATE TABLE ran (n serial, thread text, tag text, who text);
GRANT INSERT, SELECT ON ran TO PUBLIC;
GRANT USAGE ON SEQUENCE ran_n_seq TO PUBLIC;
CREATE FUNCTION public.mark(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO public.ran (thread, tag, who) VALUES (config->>'thread_id', state->>'tag', current_user);
    SELECT '{}'::jsonb
$$;
GRANT EXECUTE ON FUNCTION public.mark(jsonb, jsonb) TO PUBLIC;
SET ROLE parent;
SELECT sg_create_graph('fg', '{"tag": "replace"}'), sg_add_node('fg', 'm', 'public.mark(jsonb,jsonb)'),
       sg_add_edge('fg', '__start__', 'm'), sg_add_edge('fg', 'm', '__end__'), sg_compile('fg');
-- the parent's thread, which its member may write to
SELECT sg_invoke('fg', '{"tag": "p0"}', 'shared') IS NOT NULL;
});

# On the parent's thread: the member's run first, then the parent's.
$node->safe_psql('postgres', q{
SET ROLE child; SELECT sg_submit('fg', '{"tag": "c1"}', 'shared', multitask => 'enqueue'); RESET ROLE;
SET ROLE parent; SELECT sg_submit('fg', '{"tag": "p2"}', 'shared', multitask => 'enqueue'); RESET ROLE;
});
# On a thread that does not exist yet: the member's run first (it will own
# the thread), then the parent's.
$node->safe_psql('postgres', q{
SET ROLE child; SELECT sg_submit('fg', '{"tag": "c1"}', 'fresh', multitask => 'enqueue'); RESET ROLE;
SET ROLE parent; SELECT sg_submit('fg', '{"tag": "p2"}', 'fresh', multitask => 'enqueue'); RESET ROLE;
});

# The parent executes what it may execute: none of the member's runs, and
# none of its own that wait behind one of them.
my $out = $node->safe_psql('postgres', q{
SET ROLE parent;
CALL sg_work();
SELECT count(*) FROM sg_runs();
SELECT string_agg(thread_id || ':' || status || ':' || attempt, ' ' ORDER BY thread_id) FROM sg_runs();
});
my ($visible, $runs) = split /\n/, $out;
is($visible, '2', "the parent still sees only its own runs, not its member's");
is($runs, 'fresh:pending:0 shared:pending:0',
	"the parent's runs wait behind its member's earlier runs of the same threads");
is($node->safe_psql('postgres', q{SELECT count(*) FROM ran WHERE tag = 'p2'}),
	'0', "no node of the parent's later runs ran");

# The member executes both roles' runs on its parent's thread, in
# submission order (the member sees its parent's runs).
$node->safe_psql('postgres', q{SET ROLE child; CALL sg_work();});
is($node->safe_psql('postgres', q{SELECT string_agg(tag || ':' || who, ' ' ORDER BY n) FROM ran WHERE thread = 'shared'}),
	'p0:parent c1:child p2:parent', "the shared thread's runs ran in submission order");
is($node->safe_psql('postgres', q{SELECT string_agg(status, ' ' ORDER BY seq) FROM stategraph.runs WHERE thread_id = 'shared'}),
	'success success', "both runs of the shared thread succeed");

# The fresh thread is the member's now: the member's run ran first; the
# parent's, executed afterwards by the parent, may not act on it.
is($node->safe_psql('postgres', q{SELECT owner FROM stategraph.threads WHERE thread_id = 'fresh'}),
	'child', 'the member\'s run, first, made the fresh thread');
$node->safe_psql('postgres', q{SET ROLE parent; CALL sg_work();});
is($node->safe_psql('postgres', q{SELECT string_agg(tag || ':' || who, ' ' ORDER BY n) FROM ran WHERE thread = 'fresh'}),
	'c1:child', "on the fresh thread only the member's run ran");
is($node->safe_psql('postgres', q{SELECT string_agg(status || ':' || coalesce(error->>'sqlstate', error->>'code', '-'), ' ' ORDER BY seq)
                                   FROM stategraph.runs WHERE thread_id = 'fresh'}),
	'success:- error:42501', "the parent's later run on the member's thread ends in error 42501");

$node->stop;
done_testing();
