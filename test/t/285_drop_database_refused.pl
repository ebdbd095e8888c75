# A DROP DATABASE that PostgreSQL refuses anyway must leave the database's
# workers alone. stategraph's hook stops a database's workers before its
# owner's DROP DATABASE (a database with workers connected cannot be
# dropped), but it did so before PostgreSQL's own checks: a template
# database (datistemplate, "cannot drop a template database"), a DROP
# DATABASE in a transaction block or a function, in a read-only
# transaction, or of a database that a logical replication subscription
# uses, had its workers terminated all the same; a run's step in progress
# was killed, taken again by a new worker and counted as a death of its
# worker (stategraph.max_run_recoveries), and an idle worker was replaced.
# The hook now makes these refusals first (the read-only and transaction
# block ones are PostgreSQL's own calls) and stops nothing.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('drop_database_refused');
$node->safe_psql('postgres', 'CREATE DATABASE tpl IS_TEMPLATE true; CREATE DATABASE app');
nap_graph($node, 'nap', $_) for ('tpl', 'app');

# the pids of the stategraph workers connected to $db, in order
sub workers
{
	my ($db) = @_;
	return $node->safe_psql('postgres', qq{SELECT string_agg(pid::text, ',' ORDER BY pid)
        FROM pg_stat_activity WHERE backend_type = 'stategraph worker' AND datname = '$db'});
}

# a run of 3 s submitted in $db, once its step executes: its id and its worker's pid
sub busy_run
{
	my ($db, $thread) = @_;
	return nap_step_executes($node, $db, $thread, 3, "$db: the step of run $thread executes");
}

# 1. a template database, its worker idle
ok($node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pg_stat_activity
    WHERE backend_type = 'stategraph worker' AND datname = 'tpl'}), 'a worker in tpl');
my $idle = workers('tpl');
my ($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE tpl');
like($err, qr/cannot drop a template database/, 'PostgreSQL refuses to drop a template database');
is(workers('tpl'), $idle, "the template's idle worker was left alone");

# 2. a template database, its worker executing a step
my ($rid, $pid) = busy_run('tpl', 't1');
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE tpl');
like($err, qr/cannot drop a template database/, 'refused again');
nap_run_untouched($node, 'tpl', $rid, $pid, 'template');

# 3. in a transaction block, and from a function
($rid, $pid) = busy_run('app', 'a1');
($rc, $out, $err) = $node->psql('postgres', "BEGIN;\nDROP DATABASE app;\nCOMMIT;");
like($err, qr/DROP DATABASE cannot run inside a transaction block/, 'refused in a transaction block');
nap_run_untouched($node, 'app', $rid, $pid, 'transaction block');
($rid, $pid) = busy_run('app', 'a2');
($rc, $out, $err) = $node->psql('postgres', q{DO $$ BEGIN EXECUTE 'DROP DATABASE app'; END $$});
like($err, qr/DROP DATABASE cannot be executed from a function/, 'refused from a function');
nap_run_untouched($node, 'app', $rid, $pid, 'function');

# 4. in a read-only transaction
($rid, $pid) = busy_run('app', 'a3');
($rc, $out, $err) = $node->psql('postgres', "SET default_transaction_read_only = on;\nDROP DATABASE app;");
like($err, qr/cannot execute DROP DATABASE in a read-only transaction/, 'refused in a read-only transaction');
nap_run_untouched($node, 'app', $rid, $pid, 'read-only');

# 5. a database with a subscription (made without connecting)
$node->safe_psql('app', q{CREATE SUBSCRIPTION sub CONNECTION 'dbname=nowhere' PUBLICATION pub
    WITH (connect = false, enabled = false, slot_name = NONE, create_slot = false)});
($rid, $pid) = busy_run('app', 'a4');
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE app');
like($err, qr/is being used by logical replication subscription/, 'refused while a subscription uses it');
nap_run_untouched($node, 'app', $rid, $pid, 'subscription');
$node->safe_psql('app', 'DROP SUBSCRIPTION sub');

# the drops PostgreSQL does: still done
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE IF EXISTS nowhere');
is($rc, 0, 'DROP DATABASE IF EXISTS of no database: a notice') or diag($err);
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE app');
is($rc, 0, 'DROP DATABASE of app (its workers stopped first) succeeds') or diag($err);
$node->safe_psql('postgres', 'ALTER DATABASE tpl IS_TEMPLATE false');
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE tpl');
is($rc, 0, 'DROP DATABASE of tpl, no longer a template, succeeds') or diag($err);
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'stategraph worker'}),
	'0', 'no worker left of either');
$node->stop;
done_testing();
