# A hot standby serves reads: sg_get_state, sg_get_state_history,
# sg_threads, sg_draw and sg_invoke without a thread work on it, and read
# what the primary wrote; every change of a thread or graph fails with 25006.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGLifecycle;

my $primary = sg_cluster('primary', allows_streaming => 1);
$primary->start;
make_data($primary, 'postgres');
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
# written after the backup: reaches the standby by streaming
$primary->safe_psql('postgres', q{SELECT sg_invoke('lc_chat', NULL, thread_id => 'chat-11', resume => '"streamed"')});
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
is(snapshot($standby, 'postgres'), snapshot($primary, 'postgres'), 'every history reads the same on the standby');
is($standby->safe_psql('postgres', q{SELECT "values" ->> 'answer' FROM sg_get_state('chat-11')}),
	'streamed', 'sg_get_state reads what the primary wrote');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM sg_get_state_history('chat-1', "limit" => 2)}),
	'2', 'sg_get_state_history works');
is($standby->safe_psql('postgres', q{SELECT status FROM sg_threads() WHERE thread_id = 'chat-12'}),
	'interrupted', 'sg_threads works');
like($standby->safe_psql('postgres', q{SELECT sg_draw('lc_loop', 'dot')}), qr/^digraph/, 'sg_draw works');
like($standby->safe_psql('postgres', q{SELECT sg_invoke('lc_loop', '{"n": 2}')::text}),
	qr/"w3"/, 'sg_invoke without a thread runs on the standby');
like($standby->safe_psql('postgres', q{SELECT string_agg(node, ',') FROM sg_stream('lc_loop', '{"n": 3}')}),
	qr/worker/, 'and so does sg_stream');

my $n = $standby->safe_psql('postgres', 'SELECT count(*) FROM stategraph.checkpoints');
for my $write (
	q{SELECT sg_invoke('lc_chat', '{"n": 1}', thread_id => 'standby-1')},
	q{SELECT sg_invoke('lc_chat', NULL, thread_id => 'chat-12', resume => '"x"')},
	q{SELECT sg_update_state('chat-1', '{"n": 5}')},
	q{SELECT sg_fork('chat-1', (SELECT checkpoint_id FROM sg_get_state('chat-1')), 'chat-copy')},
	q{SELECT sg_delete_thread('chat-1')},
	q{SELECT sg_prune(keep_last => 1, thread_id => 'chat-1')},
	q{SELECT sg_create_graph('standby_graph', '{"n": "add"}')},
	q{SELECT sg_compile('lc_chat')},
	q{SELECT sg_drop_graph('lc_chat')},
	q{CALL sg_run('lc_chat', '{"n": 1}', 'standby-2')})
{
	my ($rc, $out, $err) = $standby->psql('postgres', "\\set VERBOSITY verbose\n$write");
	like($err, qr/ERROR:  25006/, "25006: $write");
}
is($standby->safe_psql('postgres', 'SELECT count(*) FROM stategraph.checkpoints'), $n, 'nothing changed');

$standby->stop;
$primary->stop;
done_testing();
