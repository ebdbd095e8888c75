# README's "Why a run has not ended": sg_runs says pending, running or
# waiting, not what a run waits for, and README said nothing of how a DBA
# finds out. Its query (read from README.md, so that the page and the test
# cannot drift apart) names each case: a worker executing the run and its
# wait event, an external task, a delayed start, a run queued before it on
# its thread, a session holding its thread while a worker is idle, every
# worker busy.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $readme = slurp_file("$ENV{SG_TESTROOT}/../README.md");
my ($query) = $readme =~ /\*\*Why a run has not ended\*\*.*?```sql\n(.*?)```/s;
ok(defined $query, 'README has the query');
$query //= 'SELECT NULL::uuid, NULL, NULL, NULL WHERE false';
$query =~ s/;\s*$//;

my $node = preloaded_node('why_pending', qq{
stategraph.max_workers = 2
stategraph.sweep_interval = 3600
});
nap_graph($node, 'nap');
$node->safe_psql('postgres', ext_graph_sql());
my $why = sub {
	my ($rid) = @_;
	return $node->safe_psql('postgres', "SELECT why FROM ($query) w WHERE run_id = '$rid'");
};

# an external task
my $ext = $node->safe_psql('postgres', q{SELECT sg_submit('ext', '{}', 'ext-1')});
ok(true_within($node, 30, "SELECT status = 'waiting' FROM stategraph.runs WHERE run_id = '$ext'"), 'the external run waits');
like($why->($ext), qr/^waits for 1 external task\(s\): ask in queue q, queued$/, 'waiting: its task');

# a session holds the thread, a worker is idle
my $held = $node->background_psql('postgres');
$held->query_safe(q{BEGIN; SELECT sg_invoke('nap', '{"secs": 0}', 'held')});
my $h = $node->safe_psql('postgres', q{SELECT sg_submit('nap', '{"secs": 0}', 'held')});
ok(true_within($node, 30, q{SELECT count(*) >= 1 FROM pg_stat_activity
    WHERE backend_type = 'stategraph worker' AND application_name = 'stategraph worker'}), 'a worker is idle');
sleep 2;
like($why->($h), qr/^due, a worker is idle: a session holds its thread/, 'held: a session holds its thread');
$held->query_safe('COMMIT');
$held->quit;
is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$h', '30 s')"), 'success', 'then it runs');

# both workers busy; a run queued behind one; a delayed run; a due run
my $a = $node->safe_psql('postgres', q{SELECT sg_submit('nap', '{"secs": 60}', 'busy')});
my $b = $node->safe_psql('postgres', q{SELECT sg_submit('nap', '{"secs": 60}', 'busy2')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 2 FROM pg_stat_activity
    WHERE backend_type = 'stategraph worker' AND wait_event = 'PgSleep'}), 'both workers execute a step');
my $q = $node->safe_psql('postgres', q{SELECT sg_submit('nap', '{"secs": 0}', 'busy', multitask => 'enqueue')});
my $d = $node->safe_psql('postgres', q{SELECT sg_submit('nap', '{"secs": 0}', 'later', after => '1 hour')});
my $f = $node->safe_psql('postgres', q{SELECT sg_submit('nap', '{"secs": 0}', 'free')});
like($why->($a), qr/^executed by worker \d+: Timeout PgSleep$/, 'running: its worker and what it waits for');
like($why->($q), qr/^queued behind run \Q$a\E \(running\)$/, 'queued behind the run of its thread');
like($why->($d), qr/^delayed until /, 'delayed');
like($why->($f), qr/^due: every worker is busy \(stategraph\.max_workers\)$/, 'due: every worker busy');

$node->stop('immediate');
done_testing();
