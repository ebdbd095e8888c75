# Review of the uncounted retries of serialization failures (TAP 343): a
# worker kept the conflicts of 32 runs, the oldest replaced; with more than
# 32 runs conflicting at once each run's count was lost before it came
# back, and they were retried uncounted for ever (attempts in the
# thousands, a log line each). A conflict outside a run's nodes is forced
# here by a trigger on the end record of 40 runs. Now an entry is taken
# again only once its run's retries are over, and with none free the
# conflict counts: every run ends with status error, bounded.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;

my $node = preloaded_node('conflicts_bounded', qq{
stategraph.max_workers = 1
stategraph.sweep_interval = 3600
});
$node->safe_psql('postgres', q{
CREATE EXTENSION stategraph;
CREATE FUNCTION public.ser_node(s jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
SELECT sg_create_graph('ser', '{"k": "replace"}');
SELECT sg_add_node('ser', 'a', 'public.ser_node(jsonb)');
SELECT sg_add_edge('ser', '__start__', 'a');
SELECT sg_add_edge('ser', 'a', '__end__');
SELECT sg_compile('ser');
CREATE FUNCTION public.runs_trig() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.thread_id LIKE 'serm%' AND NEW.status = 'success' THEN
        RAISE EXCEPTION 'end conflict %', NEW.thread_id USING ERRCODE = '40001';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER runs_ser BEFORE UPDATE ON stategraph.runs FOR EACH ROW EXECUTE FUNCTION public.runs_trig();
SELECT count(sg_submit('ser', jsonb_build_object('k', 'm' || g), 'serm' || g)) FROM generate_series(1, 40) g;
});
ok(true_within($node, 240, q{SELECT count(*) = 40 FROM stategraph.runs WHERE status = 'error'}),
	'each of the 40 runs ends with status error');
my $attempts = $node->safe_psql('postgres', q{SELECT max(attempt) FROM stategraph.runs});
note("most attempts of a run: $attempts");
cmp_ok($attempts, '<=', 3 + 10 + 1, 'a run is tried at most its failures and its uncounted conflicts');
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT error->>'sqlstate', ',') FROM stategraph.runs}), '40001',
	'their error is the conflict');

$node->stop;
done_testing();
