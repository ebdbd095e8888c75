# A data-only restore with --disable-triggers (README, Dump, restore...)
# takes no restore hold and tells the workers nothing: its runs are not
# the workers' to find at the next submit, as the README said (review
# s54). Claims read the queue from claim_from, a due time an earlier
# claim raised past the restored runs' (older) due times, and a submit
# lowers it only to its own. They start at the next sweep, or at once
# after SELECT stategraph.wake_launcher() (what CREATE EXTENSION does:
# claims read the whole queue again, and the next delayed run is looked up
# again; a restored delayed run then starts when it is due).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

# the source: no background workers, so that its runs stay pending
my $src = plain_node('dt_src');
$src->safe_psql('postgres', 'CREATE EXTENSION stategraph;' . one_node_graph_sql('d') . q{
SELECT sg_submit('d', '{}', 'past-' || i) FROM generate_series(1, 2) i;
});
my $dir = PostgreSQL::Test::Utils::tempdir();
$src->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/d.dump", '-d', $src->connstr('postgres') ], 'pg_dump -Fc');

# the target: workers; no sweep and no idle worker's periodic look meanwhile,
# and one worker (a second one, started for wake_launcher, looks the delayed
# run up afresh: the one that stays kept its "none")
my $dst = preloaded_node('dt_dst', "stategraph.sweep_interval = 3600\nstategraph.worker_idle_timeout = 3600\nstategraph.max_workers = 1\n");

# Database $db: the schema restored, a run of its own executed (its claim
# raised claim_from to its due time) and deleted, then the data restored
# with --disable-triggers in one transaction; a new run executed.
sub restore_after_a_run
{
	my ($db, $dump) = @_;
	$dst->safe_psql('postgres', "CREATE DATABASE $db");
	$dst->command_ok([ 'pg_restore', '--schema-only', '-d', $dst->connstr($db), $dump ], "$db: pg_restore --schema-only");
	$dst->safe_psql($db, one_step_graph_sql('w', '{"n": "replace"}', 'one', 'one(jsonb)'));
	my $warm = $dst->safe_psql($db, "SELECT sg_submit('w', '{}', 'warm')");
	is($dst->safe_psql($db, "SELECT status FROM sg_wait('$warm', '60 s')"), 'success', "$db: a run of its own");
	$dst->safe_psql($db, q{SELECT sg_delete_thread('warm'); DELETE FROM stategraph.runs; SELECT sg_drop_graph('w')});
	$dst->command_ok([ 'pg_restore', '--data-only', '--disable-triggers', '--single-transaction',
					   '-d', $dst->connstr($db), $dump ], "$db: pg_restore --data-only --disable-triggers");
	my $new = $dst->safe_psql($db, "SELECT sg_submit('d', '{}', 'new')");
	is($dst->safe_psql($db, "SELECT status FROM sg_wait('$new', '60 s')"), 'success', "$db: a new run runs");
}

# 1. the restored runs wait (the next sweep is an hour away) until wake_launcher
# (with a delayed run among them: it starts when it is due)
$src->safe_psql('postgres', "SELECT sg_submit('d', '{}', 'later', after => '15 seconds')");
$src->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/d2.dump", '-d', $src->connstr('postgres') ], 'pg_dump -Fc, with a delayed run');
restore_after_a_run('r_wake', "$dir/d2.dump");
sleep 2;
is($dst->safe_psql('r_wake', q{SELECT string_agg(thread_id || ' ' || status, ',' ORDER BY thread_id) FROM stategraph.runs WHERE thread_id <> 'new'}),
	'later pending,past-1 pending,past-2 pending', 'the restored runs are left for the next sweep');
$dst->safe_psql('r_wake', 'SELECT stategraph.wake_launcher()');
ok(true_within($dst, 5, q{SELECT count(*) = 2 FROM stategraph.runs WHERE thread_id LIKE 'past-%' AND status = 'success'}, 'r_wake'),
	'stategraph.wake_launcher() starts them at once');
is($dst->safe_psql('r_wake', q{SELECT status || ' ' || (not_before > now())::text FROM stategraph.runs WHERE thread_id = 'later'}),
	'pending true', 'the delayed one is not due yet');
ok(true_within($dst, 30, q{SELECT status = 'success' FROM stategraph.runs WHERE thread_id = 'later'}, 'r_wake'),
	'the delayed one runs');
is($dst->safe_psql('r_wake', q{SELECT started_at < not_before + interval '3 s' FROM stategraph.runs WHERE thread_id = 'later'}),
	't', 'within seconds of its due time');

# 2. with a short sweep_interval, the next sweep starts them
$dst->safe_psql('postgres', 'ALTER SYSTEM SET stategraph.sweep_interval = 3; SELECT pg_reload_conf()');
workers_took_reload($dst, 'stategraph.sweep_interval', '3s', 'the workers took the sweep interval');
restore_after_a_run('r_sweep', "$dir/d.dump");
ok(true_within($dst, 15, q{SELECT count(*) = 2 FROM stategraph.runs WHERE thread_id LIKE 'past-%' AND status = 'success'}, 'r_sweep'),
	'the next sweep starts the restored runs');

$src->stop;
$dst->stop;
done_testing();
