# Logical replication does not carry sequences: a subscriber that takes
# over from its publisher (a move or major-version upgrade by logical
# replication) numbered its new runs, tasks and graphs from 1 again.
# stategraph.runs.seq is a thread's FIFO order, so a run submitted after
# the switch went ahead of the replicated runs queued on its thread; and
# graphs.gen tells a graph from one made later under its name, so a graph
# dropped and made again got the generation of the old one, and the old
# graph's queued runs and tasks would go on with the new graph. README
# ("Dump, restore, upgrades and standbys") gives the statements that set
# the three sequences past the replicated rows: this runs them as written
# there (without them the checks of the thread's order and of the
# generation fail; tasks.seq only breaks ties between tasks that became
# visible at once, so the check of the queue's order passes either way).
# Neither cluster preloads stategraph: runs wait for CALL sg_work.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $root = $ENV{SG_TESTROOT} // 'test';
my $conf = "wal_level = logical\nmax_replication_slots = 4\nmax_wal_senders = 4\n";
my $pub = plain_node('cutover_pub', $conf);
my $sub = plain_node('cutover_sub', $conf);

my $objects = q{
    CREATE EXTENSION stategraph;
    CREATE TABLE effects (n serial, thread text, tag text);
    CREATE FUNCTION tick(state jsonb, config jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ INSERT INTO effects (thread, tag) VALUES (config->>'thread_id', state->>'tag') RETURNING '{}'::jsonb $$;
};
my $graphs = one_step_graph_sql('g', '{"tag": "replace"}', 'a', 'tick(jsonb,jsonb)') . ext_graph_sql();
$pub->safe_psql('postgres', $objects . $graphs . q{
    SELECT sg_submit('ext', '{}', 'e' || i) FROM generate_series(1, 2) i;
    CALL sg_work(max_runs => 2);
    SELECT sg_submit('g', jsonb_build_object('tag', 'old' || i), 'T', multitask => 'enqueue') FROM generate_series(1, 3) i;
    SELECT sg_submit('g', '{"tag": "late"}', 'X', after => '1 hour');
    CREATE PUBLICATION everything FOR ALL TABLES;
});
is($pub->safe_psql('postgres', q{SELECT string_agg(thread_id, ',' ORDER BY seq) FROM stategraph.tasks}), 'e1,e2',
	'the publisher has two tasks queued');
# effects is the subscriber's own (its serial numbers the order)
$sub->safe_psql('postgres', $objects . q{DROP TABLE effects; CREATE TABLE effects (n serial, thread text, tag text);});
my $connstr = $pub->connstr('postgres');
$sub->safe_psql('postgres', "CREATE SUBSCRIPTION s CONNECTION \$\$$connstr\$\$ PUBLICATION everything");
$sub->wait_for_subscription_sync($pub, 's');
is($sub->safe_psql('postgres', q{SELECT count(*) FROM stategraph.runs WHERE status = 'pending'}), '4',
	'the pending runs reached the subscriber');

# the switch: the subscriber takes over
$sub->safe_psql('postgres', 'ALTER SUBSCRIPTION s DISABLE');
my $readme = slurp_file("$root/../README.md");
my ($recipe) = $readme =~ /^  ```sql\n(  SELECT setval\('stategraph\.runs_seq_seq'.*?)^  ```$/ms;
ok(defined $recipe, "README's statements for a subscriber that takes over");
$sub->safe_psql('postgres', $recipe // '');

$sub->safe_psql('postgres', q{
    SELECT sg_submit('g', '{"tag": "new"}', 'T', multitask => 'enqueue');
    CALL sg_work(max_runs => 4);
});
is($sub->safe_psql('postgres', q{SELECT string_agg(tag, ',' ORDER BY n) FROM effects WHERE thread = 'T'}),
	'old1,old2,old3,new', 'a run submitted after the switch runs after those queued before it');

$sub->safe_psql('postgres', q{SELECT sg_submit('ext', '{}', 'e3'); CALL sg_work(max_runs => 1);});
is($sub->safe_psql('postgres', q{SELECT string_agg(thread_id, ',') FROM sg_claim('q', 'w', 3)}), 'e1,e2,e3',
	'a task queued after the switch is claimed after the replicated ones');

# graph g made again: X's run, queued for the old g, must not run it
$sub->safe_psql('postgres', q{SELECT sg_drop_graph('g');} . one_step_graph_sql('g', '{"tag": "replace"}', 'a', 'tick(jsonb,jsonb)'));
is($sub->safe_psql('postgres', q{
    SELECT g.gen > r.graph_gen FROM stategraph.graphs g, stategraph.runs r WHERE g.graph = 'g' AND r.thread_id = 'X'}),
	't', 'a graph made after the switch has a generation of its own');
$sub->safe_psql('postgres', q{UPDATE stategraph.runs SET not_before = now() WHERE thread_id = 'X'; CALL sg_work(max_runs => 1);});
is($sub->safe_psql('postgres', q{SELECT count(*) FROM effects WHERE thread = 'X'}), '0',
	'the old graph\'s queued run does not run the new one');

$sub->stop;
$pub->stop;
done_testing();
