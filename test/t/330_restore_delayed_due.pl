# A restored delayed run (sg_submit's after) that falls due shortly after
# the restore ends starts when it is due, not at the next sweep (review
# s54). A worker looks the next delayed run up again only when a commit
# delayed a run (shared delayed_gen) or the time it looked up comes; the
# restore's trigger (restore.c, runs_loaded) woke a worker at commit but
# did not count as a delayed run, so the worker that CREATE EXTENSION had
# woken kept its "no delayed run" and slept the whole sweep_interval: the
# run stayed pending until the worker's next look (an hour here). Both a pg_restore of a custom dump
# and psql running a plain dump.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

# the source: no background workers; the target: workers, and neither a
# sweep nor an idle worker's periodic look (worker_idle_timeout) to rescue a run
my $src = plain_node('delayed_src');
my $dst = preloaded_node('delayed_dst', "stategraph.sweep_interval = 3600\nstategraph.worker_idle_timeout = 3600\n");
$src->safe_psql('postgres', 'CREATE EXTENSION stategraph;' . one_node_graph_sql('d'));
my $dir = PostgreSQL::Test::Utils::tempdir();

# the worker that CREATE EXTENSION woke has looked for work, and found no
# delayed run, before the runs' rows load
my $idle_worker = q{SELECT count(*) = 1 FROM pg_stat_activity
                    WHERE backend_type = 'stategraph worker' AND datname = current_database() AND state = 'idle'};

foreach my $format ('custom', 'plain')
{
	my $db = "r_$format";
	$src->safe_psql('postgres', "DELETE FROM stategraph.runs; DELETE FROM stategraph.threads");
	$src->safe_psql('postgres', "SELECT sg_submit('d', '{}', 'later', after => '12 seconds')");
	$dst->safe_psql('postgres', "CREATE DATABASE $db");
	if ($format eq 'custom')
	{
		# a restore by sections: the schema (CREATE EXTENSION), then the rows
		$src->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/d.dump", '-d', $src->connstr('postgres') ], 'pg_dump -Fc');
		$dst->command_ok([ 'pg_restore', '--section=pre-data', '-d', $dst->connstr($db), "$dir/d.dump" ],
			'pg_restore --section=pre-data');
		ok($dst->poll_query_until($db, $idle_worker), 'custom: the worker looked for work');
		$dst->command_ok([ 'pg_restore', '--section=data', '--section=post-data', '-d', $dst->connstr($db), "$dir/d.dump" ],
			'pg_restore --section=data --section=post-data');
	}
	else
	{
		# psql runs the plain dump: a pause before the runs' rows, in which the worker looks
		$src->command_ok([ 'pg_dump', '-Fp', '-f', "$dir/d.sql", '-d', $src->connstr('postgres') ], 'pg_dump -Fp');
		my $plain = slurp_file("$dir/d.sql");
		ok($plain =~ s/^(COPY stategraph\.runs )/SELECT pg_catalog.pg_sleep(2);\n$1/m, 'a pause before the runs');
		open(my $out, '>', "$dir/slow.sql") or die;
		print $out $plain;
		close $out;
		$dst->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', "$dir/slow.sql", '-d', $dst->connstr($db) ],
			'psql of the plain dump');
	}
	is($dst->safe_psql($db, q{SELECT status || ' ' || (not_before > now())::text FROM stategraph.runs}), 'pending true',
		"$format: the restore ended before the run is due");
	ok(true_within($dst, 20, q{SELECT status = 'success' FROM stategraph.runs}, $db),
		"$format: the restored delayed run runs once it is due");
	is($dst->safe_psql($db, q{SELECT started_at < not_before + interval '3 s' FROM stategraph.runs}), 't',
		"$format: within seconds of its due time");
}

$src->stop;
$dst->stop;
done_testing();
