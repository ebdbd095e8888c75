# A delayed run that comes due while the worker executes another run starts
# right after it. The worker looked for the next delayed run only among
# those due later than "now" after the run, so one that came due during
# the run (after the claim looked) was missed: it stayed pending until the
# sweep interval (an hour here) woke the worker.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('due', qq{
stategraph.max_workers = 1
stategraph.sweep_interval = 3600
});
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE FUNCTION slow(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT pg_sleep(0.5); SELECT '{}'::jsonb $$;
    SELECT sg_create_graph('g', '{"n": "replace"}');
    SELECT sg_add_node('g', 'a', 'slow(jsonb)');
    SELECT sg_add_edge('g', '__start__', 'a');
    SELECT sg_add_edge('g', 'a', '__end__');
    SELECT sg_compile('g');
});

for my $round (1 .. 3)
{
	# the second comes due 0.2 s into the first's 0.5 s step
	my $first = $node->safe_psql('postgres', "SELECT sg_submit('g', '{}', 'a$round', after => '2 s')");
	my $second = $node->safe_psql('postgres', "SELECT sg_submit('g', '{}', 'b$round', after => '2.2 s')");
	is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$first', interval '30 s')"), 'success',
		"round $round: the first delayed run finishes");
	is($node->safe_psql('postgres', "SELECT status FROM sg_wait('$second', interval '10 s')"), 'success',
		"round $round: the run that came due during it finishes too");
}

$node->stop;
done_testing();
