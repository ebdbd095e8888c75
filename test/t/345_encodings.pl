# Review (encodings): databases whose encoding is not UTF8.
# 1. A LangGraph.js checkpoint's pending writes come back in LangGraph's
#    order (task path and task id by code point); in EUC_JP the bytes of
#    the database's encoding ordered "Ａ" before "あ", and a DeltaChannel
#    read back in another order than the run applied.
# 2. An export moves between databases of different encodings: its digest
#    hashed the bytes of the exporting database's encoding, and an export of
#    a thread with an "é" failed with SGX02 ("changed") in a LATIN1 one.
# 3. sg_lg_put_writes refuses a channel over 512 bytes (22023): it was
#    stored, and the thread's export could not be imported (SGX01).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('encodings');
$node->init;
$node->start;
$ENV{PGCLIENTENCODING} = 'UTF8';
for my $db (['ej', 'EUC_JP'], ['l1', 'LATIN1'], ['u8', 'UTF8'])
{
	$node->safe_psql('postgres',
		"CREATE DATABASE $db->[0] ENCODING '$db->[1]' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
	$node->safe_psql($db->[0], 'CREATE EXTENSION stategraph');
}

# 1. pending writes of four tasks whose paths differ in non-ASCII names
my $writes = q{
	SELECT sg_lg_put('coll', '', NULL, '{"v": 4, "id": "1f0d0000-0000-6000-8000-000000000001", "ts": "2026-01-01T00:00:00.000Z", "channel_versions": {}, "versions_seen": {}}',
		'{"source": "input", "step": -1, "parents": {}}', '{}', NULL, NULL, NULL, false, NULL, false, '{}') IS NOT NULL;
	SELECT count(sg_lg_put_writes('coll', '', '1f0d0000-0000-6000-8000-000000000001', 't-' || n, '[["log", null]]',
		'~__pregel_pull, ' || n, NULL, NULL, NULL, ('["' || n || '"]')::json)) FROM unnest(ARRAY['あ', 'α', 'Ａ', 'a']) n;
	SELECT string_agg(w->>0, ' ' ORDER BY o) FROM json_array_elements(sg_lg_get_tuple('coll')->'pending_writes') WITH ORDINALITY x(w, o);
};
for my $db ('u8', 'ej')
{
	is((split /\n/, $node->safe_psql($db, $writes))[-1], 't-a t-α t-あ t-Ａ',
		"$db: pending writes in LangGraph's order (code points)");
}

# 2. a thread with non-ASCII text, exported from each database, imported into the others
my $thread = q{
	SELECT sg_create_graph('g', '{"log": "append"}');
	CREATE FUNCTION public.n(s jsonb) RETURNS jsonb LANGUAGE sql
		AS $$ SELECT jsonb_build_object('log', jsonb_build_array('café über straße')) $$;
	SELECT sg_add_node('g', 'n', 'public.n(jsonb)');
	SELECT sg_add_edge('g', '__start__', 'n');
	SELECT sg_add_edge('g', 'n', '__end__');
	SELECT sg_compile('g');
	SELECT sg_invoke('g', '{"log": ["é"]}', 'thréad');
};
my %export;
for my $db ('l1', 'u8', 'ej')
{
	$node->safe_psql($db, $thread);
	$export{$db} = $node->safe_psql($db, q{SELECT sg_export_thread('thréad')});
}
my $expected = $node->safe_psql('u8', q{SELECT values::text FROM sg_get_state('thréad')});
for my $from ('l1', 'u8', 'ej')
{
	for my $to (grep { $_ ne $from } 'l1', 'u8', 'ej')
	{
		my $data = $export{$from};
		$data =~ s/'/''/g;
		my ($rc, $out, $err) = $node->psql($to, "SELECT sg_import_thread('$data', 'from-$from')");
		is($rc, 0, "$from to $to: imported") or diag($err);
		is($node->safe_psql($to, "SELECT values::text FROM sg_get_state('from-$from')"), $expected,
			"$from to $to: the same values");
	}
}
# a LangGraph.js thread too (EUC_JP to UTF8), its writes in order
my $lg = $node->safe_psql('ej', q{SELECT sg_export_thread('coll')});
$lg =~ s/'/''/g;
$node->safe_psql('u8', "SELECT sg_import_thread('$lg', 'coll-ej')");
is($node->safe_psql('u8', q{SELECT string_agg(w->>0, ' ' ORDER BY o) FROM json_array_elements(sg_lg_get_tuple('coll-ej')->'pending_writes') WITH ORDINALITY x(w, o)}),
	't-a t-α t-あ t-Ａ', 'a LangGraph.js thread of EUC_JP imported into UTF8');
# a change is still found
my $tampered = $export{l1};
$tampered =~ s/café/cafe/;
$tampered =~ s/'/''/g;
my ($rc, $out, $err) = $node->psql('u8', "SELECT sg_import_thread('$tampered', 'tampered')", extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/SGX02/, 'a changed export is refused');

# an export made before digests were taken over UTF-8 (md5 of the
# database's own bytes, the code of 2ea04e8) still imports in its database
my $legacy = $node->safe_psql('l1', q{
	SELECT d || jsonb_build_object('digest', md5(COALESCE(d->'thread', 'null')::text
		|| COALESCE(d->'checkpoints', 'null')::text || COALESCE(d->'fork_writes', 'null')::text))
	FROM sg_export_thread('thréad') d});
$legacy =~ s/'/''/g;
($rc, $out, $err) = $node->psql('l1', "SELECT sg_import_thread('$legacy', 'legacy')");
is($rc, 0, 'an export of before digests over UTF-8 imports in its LATIN1 database') or diag($err);
$node->safe_psql('l1', q{SELECT sg_lg_put('lg-l1', '', NULL, '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "channel_versions": {"m": 1}, "versions_seen": {}}',
	'{"source": "input", "step": -1, "title": "café"}', '{"m": 1}', channel_values => '{"m": ["é"]}')});
my $lg_legacy = $node->safe_psql('l1', q{
	SELECT d || jsonb_build_object('digest', md5(CASE WHEN (d->'version')::text = '1' THEN '' ELSE (d->'version')::text END
		|| COALESCE(d->'thread_id', 'null')::text || COALESCE(d->'checkpoints', 'null')::text
		|| COALESCE(d->'blobs', 'null')::text || COALESCE(d->'writes', 'null')::text))
	FROM sg_export_thread('lg-l1') d});
$lg_legacy =~ s/'/''/g;
($rc, $out, $err) = $node->psql('l1', "SELECT sg_import_thread('$lg_legacy', 'lg-legacy')");
is($rc, 0, 'and so does a LangGraph.js one') or diag($err);
is($node->safe_psql('l1', q{SELECT sg_lg_get_tuple('lg-legacy')->'metadata'->>'title'}), 'café', 'read as it was');

# 3. a write's channel over 512 bytes
$node->safe_psql('u8', q{SELECT sg_lg_put('wch', '', NULL, '{"v": 4, "id": "1ef00000-0000-6000-8000-000000000001", "channel_versions": {"m": 1}, "versions_seen": {}}',
	'{"source": "input", "step": -1}', '{"m": 1}', channel_values => '{"m": [1]}')});
($rc, $out, $err) = $node->psql('u8', q{SELECT sg_lg_put_writes('wch', '', '1ef00000-0000-6000-8000-000000000001', 'task-1',
	jsonb_build_array(jsonb_build_array(repeat('c', 513), 1)))}, extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/22023: channel of a write is too long/, 'a channel over 512 bytes is refused');
is($node->safe_psql('u8', q{SELECT sg_lg_put_writes('wch', '', '1ef00000-0000-6000-8000-000000000001', 'task-1',
	jsonb_build_array(jsonb_build_array(repeat('c', 512), 1)))}), '1', 'one of 512 bytes is stored');
$node->safe_psql('u8', q{SELECT sg_import_thread(sg_export_thread('wch'), 'wch-copy')});
is($node->safe_psql('u8', q{SELECT count(*) FROM json_array_elements(sg_lg_get_tuple('wch-copy')->'pending_writes')}), '1',
	'and its thread is exported and imported');

$node->stop;
done_testing();
