# sg_import_thread through the router without a thread_id goes to the
# server of the id the export stores the thread under. The router read
# that id from "thread" first, then from the top-level "thread_id", whatever
# the export's format; the server reads a LangGraph.js export's top-level
# "thread_id" alone (and its digest does not cover other members). A
# LangGraph.js export that also had a "thread" member (any client may add
# one: the import still takes it) was stored on the server of that other
# id, where the router never looks for it: sg_threads did not list it and
# every call of the thread said it did not exist. The router now reads the
# id as the server does, by the export's format.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGRouter;

my ($node, %conn) = router_node('rlgroute', shards => [ 'shard_a', 'shard_b' ],
	shard_sql => counter_shard_sql());
sub r { return $node->safe_psql('router', $_[0]); }

my $src = thread_of_partition($node, 'lg', 0);
my $dst = thread_of_partition($node, 'lg', 1);    # another server
my $decoy = thread_of_partition($node, 'x', 0);
put_lg_threads($node, (split /-/, $src)[1]);
my $export = r("SELECT sg_export_thread('$src')");
like($export, qr/"format": "stategraph.lg_thread"/, 'a LangGraph.js export through the router');

# the same export under the id $dst, with a "thread" member naming a thread of the first server
r("SELECT sg_delete_thread('$src')");
is(r(qq{SELECT sg_import_thread(jsonb_set(jsonb_set('$export'::jsonb, '{thread_id}', '"$dst"')
	|| '{"thread": {"thread_id": "$decoy"}}', '{digest}', to_jsonb(md5(
	'2' || '"$dst"' || ('$export'::jsonb -> 'checkpoints')::text || COALESCE('$export'::jsonb -> 'blobs', 'null')::text
	|| COALESCE('$export'::jsonb -> 'writes', 'null')::text))))}), $dst, 'imported under its own id');
is(r("SELECT count(*) FROM sg_threads() WHERE thread_id = '$dst'"), '1', 'sg_threads lists it');
is($node->safe_psql('shard_b', "SELECT count(*) FROM stategraph.lg_checkpoints WHERE thread_id = '$dst'"), '1',
	'on the server of its id');
is($node->safe_psql('shard_a', "SELECT count(*) FROM stategraph.lg_checkpoints WHERE thread_id = '$dst'"), '0',
	'not on the server of the id in "thread"');
like(r("SELECT values FROM sg_get_state('$dst')"), qr/"x"/, 'the router reads it');

done_testing();
