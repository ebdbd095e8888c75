# pg_dump and restore: plain, custom and directory formats, and parallel
# restore (pg_restore -j 4) ten times. Every thread's full history, the raw
# checkpoint rows, the compiled graphs and their drawings read the same
# before and after, byte for byte; restored threads go on running.
#
# 0.1.0's definition tables had foreign keys to stategraph.graphs that
# pg_dump cannot order extension data after, so "pg_restore -j 4" failed
# with 23503 on nodes_graph_fkey / edges_graph_fkey most of the time.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGLifecycle;

my $node = sg_cluster('dump');
$node->start;
make_data($node, 'postgres');
my $before = snapshot($node, 'postgres');
my $guards = schema_image($node, 'postgres');
like($guards, qr/threads_owner/, 'the source has its policies');
like($before, qr/chat-1-fork/, 'the data has forks');
like($before, qr/go on\?/, 'the data has pending interrupts');

my $dir = PostgreSQL::Test::Utils::tempdir();
my $connstr = $node->connstr('postgres');

# plain format, restored with psql
$node->command_ok([ 'pg_dump', '-Fp', '-f', "$dir/plain.sql", '-d', $connstr ], 'pg_dump plain');
$node->safe_psql('postgres', 'CREATE DATABASE r_plain');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', "$dir/plain.sql", '-d', $node->connstr('r_plain') ],
	'plain dump restores');
is(snapshot($node, 'r_plain'), $before, 'plain: every history reads the same');

# custom format, serial restore
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/custom.dump", '-d', $connstr ], 'pg_dump custom');
$node->safe_psql('postgres', 'CREATE DATABASE r_custom');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('r_custom'), "$dir/custom.dump" ], 'custom dump restores');
is(snapshot($node, 'r_custom'), $before, 'custom: every history reads the same');

# directory format, parallel dump and restore
$node->command_ok([ 'pg_dump', '-Fd', '-j', '4', '-f', "$dir/dirdump", '-d', $connstr ], 'pg_dump directory -j 4');
$node->safe_psql('postgres', 'CREATE DATABASE r_dir');
$node->command_ok([ 'pg_restore', '-j', '4', '-d', $node->connstr('r_dir'), "$dir/dirdump" ], 'directory dump restores with -j 4');
is(snapshot($node, 'r_dir'), $before, 'directory: every history reads the same');
is(schema_image($node, 'r_dir'), $guards, 'policies, triggers and privileges are restored');

# pg_restore -j 4, ten times
my $ok = 0;
for my $i (1 .. 10)
{
	$node->safe_psql('postgres', "DROP DATABASE IF EXISTS r_par; CREATE DATABASE r_par");
	my ($stdout, $stderr);
	my $rc = PostgreSQL::Test::Utils::run_log(
		[ 'pg_restore', '-j', '4', '-d', $node->connstr('r_par'), "$dir/custom.dump" ],
		'>', \$stdout, '2>', \$stderr);
	if ($rc && $stderr eq '' && snapshot($node, 'r_par') eq $before)
	{
		$ok++;
	}
	else
	{
		diag("parallel restore $i: $stderr");
	}
}
is($ok, 10, 'pg_restore -j 4 succeeds ten times out of ten with the same histories');

# restored threads go on: an interrupt is resumed, a static interrupt passed
for my $db ('r_plain', 'r_dir')
{
	is($node->safe_psql($db, q{SELECT sg_invoke('lc_chat', NULL, thread_id => 'chat-12', resume => '"later"') ->> 'answer'}),
		'later', "$db: an interrupted thread resumes");
	is($node->safe_psql($db, q{SELECT status FROM sg_threads() WHERE thread_id = 'chat-12'}), 'done', "$db: and finishes");
	like($node->safe_psql($db, q{SELECT sg_invoke('lc_loop', NULL, thread_id => 'loop-2')::text}),
		qr/"w3"/, "$db: a thread stopped before a join goes on");
	# the node whose function was dropped before the dump still refers to it by name
	is($node->safe_psql($db, q{SELECT fn FROM stategraph.nodes WHERE graph = 'lc_broken'}),
		'public.lc_gone(pg_catalog.jsonb)', "$db: a dropped node function is kept by name, not by OID");
	my ($rc, $out, $err) = $node->psql($db, q{SELECT sg_compile('lc_broken')});
	like($err, qr/function public\.lc_gone\(pg_catalog\.jsonb\) of node "gone" in graph "lc_broken" does not exist/,
		"$db: and sg_compile refuses it");
}

$node->stop;
done_testing();
