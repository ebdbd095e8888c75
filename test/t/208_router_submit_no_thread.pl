# sg_submit through the router without a thread_id, for a run that needs
# an existing thread (no input, a checkpoint_id or resume): one server
# refuses it with 22023 ("... needs a thread_id"), but the router named a
# new thread for it and sent it to that name's shard, which answered 42704
# (the made-up thread "does not exist"). A run with input and no
# thread_id still gets a thread named by the router.
#
# One server holds the router database and two shard databases.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('rsubmit', shards => [ 'shard_a', 'shard_b' ],
	shard_sql => q{CREATE FUNCTION public.step(state jsonb) RETURNS jsonb LANGUAGE sql
		AS $$ SELECT jsonb_build_object('n', 1) $$;});
$node->safe_psql('router', q{
	SELECT sg_create_graph('g', '{"n": "add"}');
	SELECT sg_add_node('g', 'a', 'step(jsonb)');
	SELECT sg_add_edge('g', '__start__', 'a');
	SELECT sg_add_edge('g', 'a', '__end__');
	SELECT sg_compile('g');});

# the SQLSTATE and message of a call on the router, or 'ok'
sub state_of
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	$node->psql('router', $sql, stdout => \$out, stderr => \$err,
		on_error_stop => 1, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return $err =~ /ERROR:  ([0-9A-Z]{5}):.*REMOTE ERROR: (.*)$/m ? "$1 $2" : 'ok';
}

my $ck = '01234567-89ab-7def-8123-456789abcdef';
for my $try (1 .. 4)    # the shard is picked at random: ask a few times
{
	is(state_of("SELECT sg_submit('g', NULL)"), '22023 a run without input needs a thread_id',
		"sg_submit without input or thread: 22023, as on one server ($try)");
}
is(state_of("SELECT sg_submit('g', '{\"n\": 0}', checkpoint_id => '$ck')"),
	'22023 checkpoint_id needs a thread_id', 'sg_submit with checkpoint_id, no thread: 22023');
is(state_of("SELECT sg_submit('g', NULL, resume => '1')"),
	'22023 a run without input needs a thread_id', 'sg_submit with resume, no thread: 22023');
is(state_of("SELECT sg_submit('g', NULL, idempotency_key => 'k')"),
	'22023 a run without input needs a thread_id', 'with an idempotency key too');

# a run with input and no thread still gets one the router names, on its shard
my $rid = $node->safe_psql('router', "SELECT sg_submit('g', '{\"n\": 0}')");
my $thread = $node->safe_psql('router', "SELECT thread_id FROM sg_runs() WHERE run_id = '$rid'");
like($thread, qr/^[0-9a-f-]{36}$/, 'a run with input and no thread: the router names its thread');
my $where = $node->safe_psql('router', "SELECT stategraph_router.shard_of('$thread')");
my ($shard) = grep { $conn{$_} eq $where } keys %conn;
is($node->safe_psql($shard, "SELECT count(*) FROM stategraph.runs WHERE run_id = '$rid'"), '1',
	'on the shard its name hashes to');

done_testing();
