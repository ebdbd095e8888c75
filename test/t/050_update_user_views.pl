# ALTER EXTENSION stategraph UPDATE from 0.1.0 where the user built on
# stategraph.threads.status: a view and a SQL-standard function that read it
# (README documents the table). 0.2.0 makes the column a domain
# (stategraph.thread_status), and PostgreSQL refuses to change the type of a
# column a view or a function depends on: the update failed as a whole
# (0A000). Now it completes, keeps the column's type and its CHECK (with
# 'waiting') where such objects exist, and says so in a WARNING; the user's
# objects, the data and the refusal of an unknown status are kept. Where
# nothing depends on it, the column becomes the domain as before.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGLifecycle;

my $node = sg_cluster('update_views');
$node->start;
make_data($node, 'postgres', q{CREATE EXTENSION stategraph VERSION '0.1.0'});
$node->safe_psql('postgres', q{
CREATE VIEW thread_board AS SELECT thread_id, status FROM stategraph.threads;
CREATE FUNCTION threads_done() RETURNS bigint LANGUAGE sql
BEGIN ATOMIC SELECT count(*) FROM stategraph.threads WHERE status = 'done'; END;
});
my $board = $node->safe_psql('postgres', q{SELECT string_agg(thread_id || ' ' || status, ',' ORDER BY thread_id) FROM thread_board});
my $done = $node->safe_psql('postgres', 'SELECT threads_done()');
my $before = snapshot($node, 'postgres');
ok($board ne '', 'the view lists threads of 0.1.0');

my ($rc, $out, $err) = $node->psql('postgres', 'ALTER EXTENSION stategraph UPDATE');
is($rc, 0, 'ALTER EXTENSION UPDATE succeeds with a view and a function on threads.status')
  or diag($err);
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'stategraph'}),
	'0.2.0', 'updated to 0.2.0');
like($err, qr/WARNING:  stategraph\.threads\.status stays of type text/, 'a WARNING says the column kept its type');
like($err, qr/thread_board|threads_done/, 'naming what depends on it');
is($node->safe_psql('postgres', q{SELECT string_agg(thread_id || ' ' || status, ',' ORDER BY thread_id) FROM thread_board}),
	$board, 'the view reads the same');
is($node->safe_psql('postgres', 'SELECT threads_done()'), $done, 'the function returns the same');
is(snapshot($node, 'postgres'), $before, 'every history reads the same after the update');

# the value set of 0.2.0 is still enforced, 'waiting' included
($rc, $out, $err) = $node->psql('postgres',
	q{UPDATE stategraph.threads SET status = 'sleeping' WHERE thread_id = (SELECT min(thread_id) FROM stategraph.threads)},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/23514/, 'an unknown status is refused (23514)');
is($node->safe_psql('postgres', q{
BEGIN;
UPDATE stategraph.threads SET status = 'waiting' WHERE thread_id = (SELECT min(thread_id) FROM stategraph.threads);
SELECT count(*) FROM stategraph.threads WHERE status = 'waiting';
ROLLBACK;}), '1', "'waiting' is accepted");

# after dropping its dependents, the user makes the column the domain as the hint says
$node->safe_psql('postgres', q{
DROP VIEW thread_board;
DROP FUNCTION threads_done();
ALTER TABLE stategraph.threads DROP CONSTRAINT threads_status_check,
    ALTER COLUMN status TYPE stategraph.thread_status;
});
is($node->safe_psql('postgres', q{SELECT format_type(atttypid, atttypmod) FROM pg_attribute
    WHERE attrelid = 'stategraph.threads'::regclass AND attname = 'status'}),
	'stategraph.thread_status', 'the hint makes it the domain');

# without dependents, the update makes it the domain itself, with no warning
$node->safe_psql('postgres', 'CREATE DATABASE plain');
$node->safe_psql('plain', q{CREATE EXTENSION stategraph VERSION '0.1.0'});
($rc, $out, $err) = $node->psql('plain', 'ALTER EXTENSION stategraph UPDATE');
is($rc, 0, 'the update of a database without dependents succeeds');
unlike($err, qr/WARNING/, 'with no warning');
is($node->safe_psql('plain', q{SELECT format_type(atttypid, atttypmod) FROM pg_attribute
    WHERE attrelid = 'stategraph.threads'::regclass AND attname = 'status'}),
	'stategraph.thread_status', 'and the column is the domain');
is($node->safe_psql('plain', q{SELECT count(*) FROM pg_constraint WHERE conname = 'threads_status_check'}),
	'0', 'with no CHECK left');

$node->stop;
done_testing();
