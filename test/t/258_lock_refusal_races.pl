# The refusal of LOCK TABLE ... IN SHARE MODE (and above) of stategraph's
# tables (TAP 247) looked the names up without a lock, and LOCK looked them
# up again. alice's LOCK TABLE runs, with search_path = a, stategraph and
# a table a.runs of her own that her other session was dropping in an open
# transaction: the check saw a.runs (hers, allowed), LOCK waited for the
# drop, looked the name up again, found stategraph.runs and took it in
# ACCESS EXCLUSIVE mode, holding up every role. The same with a view of
# hers that her other session was redefining over stategraph's tables.
# Each name is checked and locked at once now, and checked again when it
# changed while its lock was waited for.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('lock_refusal_races');
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE ROLE alice LOGIN;
    CREATE SCHEMA a AUTHORIZATION alice;
    SET ROLE alice;
    CREATE TABLE a.runs (x int);
    CREATE VIEW a.v AS SELECT 1 AS x;
    CREATE VIEW a.inner_v AS SELECT 1 AS x;
    CREATE VIEW a.outer_v AS SELECT x FROM a.inner_v;
    CREATE TABLE a.t (x int);
});

my $dropper = $node->background_psql('postgres', extra_params => [ '-U', 'alice' ]);
my $locker = $node->background_psql('postgres', on_error_stop => 0, extra_params => [ '-U', 'alice' ]);

# alice's locks of stategraph.runs in SHARE mode or above, if any
sub runs_lock_of_alice
{
	return $node->safe_psql('postgres', q{SELECT coalesce(string_agg(l.mode, ','), 'none')
        FROM pg_locks l JOIN pg_stat_activity a USING (pid)
        WHERE l.relation = 'stategraph.runs'::regclass AND a.usename = 'alice'
          AND l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')});
}

$dropper->query_safe('BEGIN; DROP TABLE a.runs');
$locker->query_safe(q{SET search_path = a, stategraph; SET lock_timeout = '20s'; BEGIN});
$locker->query_until(qr/start/, q{\echo start
LOCK TABLE runs IN ACCESS EXCLUSIVE MODE;
\echo locked
});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
    WHERE usename = 'alice' AND wait_event_type = 'Lock'}), "alice's LOCK waits for her drop");
$dropper->query_safe('COMMIT');
$locker->query_until(qr/locked/, '');
my $state = $locker->query('SELECT 1');
is(runs_lock_of_alice(), 'none', 'once the drop commits, her LOCK did not take stategraph.runs');
like($locker->{stderr}, qr/permission denied to lock stategraph\.runs/, 'it was refused');
$locker->{stderr} = '';
$locker->query('ROLLBACK');

$dropper->query_safe(q{BEGIN; CREATE OR REPLACE VIEW a.v AS SELECT 1 AS x FROM stategraph.runs LIMIT 0});
$locker->query_safe('BEGIN');
$locker->query_until(qr/start/, q{\echo start
LOCK TABLE a.v IN EXCLUSIVE MODE;
\echo locked
});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
    WHERE usename = 'alice' AND wait_event_type = 'Lock'}), "alice's LOCK of her view waits for its new definition");
$dropper->query_safe('COMMIT');
$locker->query_until(qr/locked/, '');
$locker->query('SELECT 1');
is(runs_lock_of_alice(), 'none', 'once it commits, her LOCK did not take stategraph.runs through the view');
like($locker->{stderr}, qr/permission denied to lock stategraph's tables \(through view v\)/, 'it was refused');
$locker->query('ROLLBACK');

# a view inside the view locked, redefined by her other session once the
# check was made: a third session of hers holds the outer view so that
# the LOCK waits between the check and LOCK's own reading of the views
my $holder = $node->background_psql('postgres', extra_params => [ '-U', 'alice' ]);
$holder->query_safe('BEGIN; LOCK TABLE a.outer_v IN ROW EXCLUSIVE MODE');
$locker->{stderr} = '';
$locker->query_safe('BEGIN');
$locker->query_until(qr/start/, q{\echo start
LOCK TABLE a.outer_v IN EXCLUSIVE MODE;
\echo locked
});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
    WHERE usename = 'alice' AND wait_event_type = 'Lock'}), "alice's LOCK of her outer view waits");
# (waits for the LOCK, which holds the inner view as it was checked, or redefines it at once)
$dropper->query_until(qr/redefining/, q{\echo redefining
BEGIN; CREATE OR REPLACE VIEW a.inner_v AS SELECT 1 AS x FROM stategraph.runs LIMIT 0;
\echo redefined
});
$holder->query_safe('COMMIT');
$locker->query_until(qr/locked/, '');
is(runs_lock_of_alice(), 'none', 'her LOCK did not take stategraph.runs through the inner view');
$locker->query('ROLLBACK');
$dropper->query_until(qr/redefined/, '');
$dropper->query_safe('ROLLBACK');
$holder->quit;

# what LOCK refuses on its own is refused as before, and takes no lock
$locker->{stderr} = '';
$locker->query(q{BEGIN; LOCK TABLE pg_catalog.pg_authid IN ACCESS EXCLUSIVE MODE});
like($locker->{stderr}, qr/permission denied for table pg_authid/, 'a table without UPDATE: PostgreSQL refuses it');
$locker->query('ROLLBACK');
my ($rc, $out, $err) = $node->psql('postgres', 'LOCK TABLE a.t IN SHARE MODE', extra_params => [ '-U', 'alice' ]);
like($err, qr/LOCK TABLE can only be used in transaction blocks/, 'outside a transaction block: as before');

$dropper->quit;
$locker->quit;
$node->stop;
done_testing();
