# The background workers' retention sweep finishes a pass over the threads
# without waiting an interval between batches: with sweep_limit 100 and
# 2,500 expired threads, the pass removes them all soon after the first
# sweep (the sweep used to take one batch per sweep_interval: 25
# intervals). Threads that are not expired stay.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('sweep', qq{
stategraph.sweep_interval = 20
stategraph.sweep_limit = 100
});
$node->safe_psql('postgres', sweep_graph_sql());
$node->safe_psql('postgres', q{
    SELECT count(sg_invoke('sg', jsonb_build_object('n', i), thread_id => 't' || i)) FROM generate_series(1, 5000) i;
    SELECT sg_set_retention('sg', '1 hour');
    UPDATE stategraph.threads SET updated_at = now() - interval '2 hours' WHERE substr(thread_id, 2)::int % 2 = 0;
});

# the first sweep comes one interval (20 s) after the worker starts; the
# whole pass must be done well before a second interval would have passed
my $start = time;
ok($node->poll_query_until('postgres',
		q{SELECT count(*) < 5000 FROM stategraph.threads}),
	'the first sweep removes expired threads');
my $first = time;
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 2500 FROM stategraph.threads}),
	'the pass goes on until every expired thread is gone');
my $done = time;
# waiting one sweep_interval (20 s) between batches would take 24 intervals
cmp_ok($done - $first, '<', 20, 'the pass does not wait an interval between batches of sweep_limit');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM stategraph.threads WHERE substr(thread_id, 2)::int % 2 = 0}),
	'0', 'every expired thread is gone');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM stategraph.threads WHERE substr(thread_id, 2)::int % 2 = 1}),
	'2500', 'threads that are not expired stay');

$node->stop;
done_testing();
