# PUBLIC may write stategraph's tables (row-level security keeps the
# roles' rows apart), so PostgreSQL's LOCK TABLE let any role take one
# whole: alice's LOCK stategraph.runs IN ACCESS EXCLUSIVE MODE, held in an
# open transaction, held up every other role's submits and invokes and
# the background workers. A lock in a mode that blocks the tables' writers
# (SHARE and above), also through a view, is refused (42501) to a role
# that does not own them; weaker modes, the tables' owner and superusers
# are as before.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('lock_shared_tables');
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE ROLE alice LOGIN;
    CREATE ROLE bob LOGIN;
    GRANT CREATE ON SCHEMA public TO alice;
    CREATE FUNCTION ok_step(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"n": 1}'::jsonb $$;
    SELECT sg_create_graph('g', '{"n": "replace"}');
    SELECT sg_add_node('g', 'a', 'ok_step(jsonb)');
    SELECT sg_add_edge('g', '__start__', 'a');
    SELECT sg_add_edge('g', 'a', '__end__');
    SELECT sg_compile('g');
});

# the statement's SQLSTATE (empty when it succeeds), as alice
sub as_alice
{
	my ($sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY sqlstate\nBEGIN;\n$sql;\nROLLBACK;",
		extra_params => [ '-U', 'alice' ]);
	return $err =~ /ERROR:\s+(\w{5})/ ? $1 : '';
}

is(as_alice('LOCK TABLE stategraph.runs IN ACCESS EXCLUSIVE MODE'), '42501', 'ACCESS EXCLUSIVE of runs refused');
is(as_alice('LOCK TABLE stategraph.threads IN SHARE MODE'), '42501', 'SHARE of threads refused');
is(as_alice('LOCK stategraph.tasks'), '42501', 'the default mode refused');
$node->safe_psql('postgres', q{CREATE VIEW alice_v AS SELECT 1 AS x FROM stategraph.checkpoints LIMIT 0;
    ALTER VIEW alice_v OWNER TO alice});
is(as_alice('LOCK TABLE alice_v IN EXCLUSIVE MODE'), '42501', 'through a view of its own, refused');
is(as_alice(q{DO $$ BEGIN EXECUTE 'LOCK stategraph.runs IN SHARE ROW EXCLUSIVE MODE'; END $$}), '42501',
	'in PL/pgSQL, refused');
is(as_alice('LOCK TABLE stategraph.runs IN ROW EXCLUSIVE MODE'), '', 'ROW EXCLUSIVE allowed');
is(as_alice('LOCK TABLE stategraph.runs IN ACCESS SHARE MODE'), '', 'ACCESS SHARE allowed (pg_dump)');
$node->safe_psql('postgres', q{CREATE TABLE alice_own (x int); ALTER TABLE alice_own OWNER TO alice});
is(as_alice('LOCK TABLE alice_own IN ACCESS EXCLUSIVE MODE'), '', "a table of alice's own: allowed");
is($node->psql('postgres', 'BEGIN; LOCK TABLE stategraph.runs IN ACCESS EXCLUSIVE MODE; ROLLBACK'), 0,
	'a superuser may');

# what the lock did: bob's submit waited for alice's transaction
my $held = $node->background_psql('postgres', on_error_stop => 0, extra_params => [ '-U', 'alice' ]);
$held->query_safe('BEGIN');
$held->query('LOCK TABLE stategraph.runs IN EXCLUSIVE MODE');
my ($rc, $out, $err) = $node->psql('postgres', q{SET statement_timeout = '3s'; SELECT sg_submit('g', '{}', 'b1') IS NOT NULL},
	extra_params => [ '-U', 'bob' ]);
is($out, 't', "bob's submit goes through while alice's transaction is open");
$held->quit;
ok($node->poll_query_until('postgres', q{SELECT status = 'success' FROM stategraph.runs WHERE thread_id = 'b1'}),
	"bob's run executed");

$node->stop;
done_testing();
