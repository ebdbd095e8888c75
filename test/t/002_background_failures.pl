# Background runs whose execution fails outside their graph's nodes (the
# bookkeeping of the run: claiming it, recording its end, committing): the
# worker rolls back, records the failure on the run and tries again after a
# backoff; at the third failure (SG_RUN_MAX_FAILURES) the run ends with
# status error and the error as jsonb. The worker never exits for it and
# keeps serving other runs (one worker only, so it must).
#
#  - a trigger that refuses a run's end (status success): the run ends in
#    error after 3 tries, each committed step's effect happened once, the
#    thread keeps its checkpoints and resumes;
#  - a revoked privilege (the submitting role may not update the runs
#    table): the same, with SQLSTATE 42501;
#  - a trigger that refuses the claim (pending -> running): the same;
#  - a trigger that refuses every change of a run, its failure included:
#    the worker passes the run over (WARNING) and serves the others.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use Time::HiRes qw(usleep time);

my $node = preloaded_node('failures', q{
stategraph.max_workers = 1
});

$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE effects (seq bigserial, thread text, i int);
    CREATE FUNCTION work(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO effects (thread, i) VALUES (config->>'thread_id', (state->>'i')::int + 1);
        RETURN jsonb_build_object('i', (state->>'i')::int + 1);
    END $$;
    SELECT sg_create_graph('three', '{"i": "replace"}');
    SELECT sg_add_node('three', n, 'work(jsonb,jsonb)') FROM unnest(ARRAY['a', 'b', 'c']) n;
    SELECT sg_add_edge('three', f, t) FROM (VALUES ('__start__', 'a'), ('a', 'b'), ('b', 'c'), ('c', '__end__')) e(f, t);
    SELECT sg_compile('three');
    CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF (NEW.thread_id = 'bad_end' AND NEW.status = 'success')
           OR (NEW.thread_id = 'bad_claim' AND OLD.status = 'pending' AND NEW.status = 'running')
           OR NEW.thread_id = 'stuck' THEN
            RAISE EXCEPTION 'refused for %', NEW.thread_id;
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER refuse BEFORE UPDATE ON stategraph.runs FOR EACH ROW EXECUTE FUNCTION refuse();
    CREATE ROLE app LOGIN;
    GRANT INSERT, SELECT ON effects TO app;
    GRANT USAGE ON SEQUENCE effects_seq_seq TO app;
});

# submit, as role (or the superuser), and return the run id
sub submit
{
	my ($thread, $role) = @_;
	my $set = $role ? "SET ROLE $role; " : '';
	return $node->safe_psql('postgres', $set . "SELECT sg_submit('three', '{\"i\": 0}', '$thread')");
}

# wait (up to 60 s) until a run is no longer pending or running; its status, failures, attempt, error
sub finished
{
	my ($rid) = @_;
	my $deadline = time + 60;
	while (time < $deadline)
	{
		my $row = $node->safe_psql('postgres', qq{
			SELECT status, failures, attempt, error->>'sqlstate', error->>'message' FROM stategraph.runs
			WHERE run_id = '$rid' AND status NOT IN ('pending', 'running')});
		return split(/\|/, $row, -1) if $row ne '';
		usleep(100_000);
	}
	return ('timeout');
}

# a run that succeeds, submitted while a failing one is retried: the one worker serves it
sub served
{
	my ($thread) = @_;
	my $rid = submit($thread);
	return $node->safe_psql('postgres', "SELECT status FROM sg_wait('$rid', '20 s')");
}

my $worker = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'stategraph worker'");

# --- the end of the run refused ---------------------------------------------------
my $t0 = time;
my $rid = submit('bad_end');
is(served('good1'), 'success', 'the worker serves another run while one is retried');
my ($status, $failures, $attempt, $sqlstate, $message) = finished($rid);
is($status, 'error', 'a run whose end cannot be recorded ends with status error');
is($failures, '3', 'after 3 failures');
is($attempt, '3', 'each try counted as an attempt');
is($sqlstate, 'P0001', 'its error as jsonb: the SQLSTATE');
is($message, 'refused for bad_end', 'and the message');
ok(time - $t0 >= 2.5, sprintf('tries spaced by a backoff (1 s, then 2 s): %.1f s', time - $t0));
is($node->safe_psql('postgres', q{
	SELECT string_agg(i::text, ',' ORDER BY i) FROM effects WHERE thread = 'bad_end'}),
	'1,2', 'the effects of its committed steps happened once, its last step\'s never');
is($node->safe_psql('postgres', q{SELECT next FROM sg_get_state('bad_end')}), '{c}',
	'the thread keeps its checkpoints');
is($node->safe_psql('postgres', q{SELECT sg_invoke('three', NULL, 'bad_end')->>'i'}), '3',
	'and resumes from its last committed step');
my $log = slurp_file($node->logfile);
my $tries = () = $log =~ /background run $rid failed outside its graph's steps: refused for bad_end/g;
is($tries, 3, 'the server log has one line per failure (no loop)');

# --- a revoked privilege ------------------------------------------------------------
$node->safe_psql('postgres', 'REVOKE UPDATE ON stategraph.runs FROM PUBLIC, app');
$rid = submit('revoked', 'app');
($status, $failures, $attempt, $sqlstate, $message) = finished($rid);
is("$status $failures $sqlstate", 'error 3 42501',
	'a run whose role may no longer update the runs table ends in error after 3 failures (42501)');
like($message, qr/permission denied for table runs/, 'the message says why');
$node->safe_psql('postgres', 'GRANT UPDATE ON stategraph.runs TO PUBLIC');

# --- the claim refused --------------------------------------------------------------
$rid = submit('bad_claim');
is(served('good2'), 'success', 'other runs are served while a claim fails');
($status, $failures, $attempt, $sqlstate, $message) = finished($rid);
is("$status $failures $message", 'error 3 refused for bad_claim', 'a run that cannot be claimed ends in error after 3 failures');
is($node->safe_psql('postgres', "SELECT count(*) FROM effects WHERE thread = 'bad_claim'"), '0', 'and nothing of it ran');

# --- a run whose failure cannot be recorded either -------------------------------
$rid = submit('stuck');
is(served('good3'), 'success', 'a run whose failure cannot be recorded does not block the worker');
ok($node->poll_query_until('postgres', q{SELECT true}), 'the server is up');
like(slurp_file($node->logfile), qr/background run $rid is passed over by this worker/,
	'the worker says it passes that run over');
is($node->safe_psql('postgres', "SELECT status FROM stategraph.runs WHERE run_id = '$rid'"), 'pending',
	'which stays as it was');

is($node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'stategraph worker'"),
	$worker, 'the one worker served everything, never restarted');
unlike(slurp_file($node->logfile), qr/"stategraph worker" \(PID \d+\) exited with exit code 1/,
	'no worker exited with an error');

$node->stop('fast');
done_testing();
