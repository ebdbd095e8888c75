# CALL sg_work whose run fails outside its step's subtransaction: a
# serialization failure at the commit of a step (SERIALIZABLE), an
# error of a trigger on stategraph.runs as the run's end is recorded, a
# cancel while that record waits for a row lock. The error reached the
# caller but the run stayed 'running', so the next claim counted a
# recovery (for a run whose executor died): with
# stategraph.max_run_recoveries = 0 the next CALL sg_work ended it with
# SG014. Now it is recorded as a worker records it (TAP 073, 077): the
# run is pending, tried again after a backoff, its failure counted. And
# the caller's session goes on as the caller: after an error that came
# once a run had committed a step (also a step's transient error, TAP
# 077), it stayed the run's role, in a security-restricted operation.
# No preload: only CALL sg_work executes runs here.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SGNode;
use IPC::Run;

my $node = plain_node('work_outside_step', qq{stategraph.max_run_recoveries = 0\n});
$node->safe_psql('postgres', q{
    CREATE EXTENSION stategraph;
    CREATE TABLE effects (thread text, step int);
    CREATE TABLE go (thread text);
    -- sequences are not rolled back with a failure: they count the tries
    CREATE SEQUENCE end_tries;
    CREATE FUNCTION ok_step(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO effects VALUES (config->>'thread_id', (state->>'n')::int + 1);
        RETURN jsonb_build_object('n', (state->>'n')::int + 1);
    END $$;
    -- waits (up to a minute) until its thread is in table go
    CREATE FUNCTION wait_for_go(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO effects VALUES (config->>'thread_id', (state->>'n')::int + 1);
        FOR i IN 1 .. 1200 LOOP
            EXIT WHEN EXISTS (SELECT FROM go WHERE thread = config->>'thread_id');
            PERFORM pg_sleep(0.05);
        END LOOP;
        RETURN jsonb_build_object('n', (state->>'n')::int + 1);
    END $$;
    -- reads table a and writes effects: run serializable with a client
    -- that reads effects and writes a, and commits first, the run's
    -- commit fails (a pivot of read/write dependencies)
    CREATE TABLE a (x int);
    CREATE FUNCTION skew(state jsonb, config jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM count(*) FROM a;
        INSERT INTO effects VALUES (config->>'thread_id', (state->>'n')::int + 1);
        RETURN jsonb_build_object('n', (state->>'n')::int + 1);
    END $$;
    -- the record of thread 'commit''s success waits for advisory lock 42,
    -- its last statement before the commit
    CREATE FUNCTION hold_end() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_advisory_xact_lock_shared(42);
        RETURN NULL;
    END $$;
    CREATE TRIGGER hold_end AFTER UPDATE ON stategraph.runs FOR EACH ROW
        WHEN (NEW.thread_id = 'commit' AND NEW.status = 'success') EXECUTE FUNCTION hold_end();
    -- the record of thread 'end''s success fails once
    CREATE FUNCTION fail_end_once() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.thread_id = 'end' AND NEW.status = 'success' AND nextval('end_tries') = 1 THEN
            RAISE EXCEPTION 'end fails once' USING ERRCODE = 'serialization_failure';
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER fail_end_once AFTER UPDATE ON stategraph.runs FOR EACH ROW EXECUTE FUNCTION fail_end_once();
    SELECT sg_create_graph(g, '{"n": "replace"}') FROM unnest(ARRAY['g', 'waits', 'skews']) g;
    SELECT sg_add_node('g', 'first', 'ok_step(jsonb,jsonb)');
    SELECT sg_add_node('g', 'second', 'ok_step(jsonb,jsonb)');
    SELECT sg_add_node('g', 'third', 'ok_step(jsonb,jsonb)');
    SELECT sg_add_edge('g', f, t) FROM (VALUES ('__start__', 'first'), ('first', 'second'),
                                            ('second', 'third'), ('third', '__end__')) e(f, t);
    SELECT sg_add_node('waits', 'first', 'ok_step(jsonb,jsonb)');
    SELECT sg_add_node('waits', 'second', 'wait_for_go(jsonb,jsonb)');
    SELECT sg_add_edge('waits', f, t) FROM (VALUES ('__start__', 'first'), ('first', 'second'),
                                                ('second', '__end__')) e(f, t);
    SELECT sg_add_node('skews', 'first', 'ok_step(jsonb,jsonb)');
    SELECT sg_add_node('skews', 'second', 'skew(jsonb,jsonb)');
    SELECT sg_add_edge('skews', f, t) FROM (VALUES ('__start__', 'first'), ('first', 'second'),
                                                ('second', '__end__')) e(f, t);
    SELECT sg_compile('g'), sg_compile('waits'), sg_compile('skews');
    -- the runs are alice's, executed by the superuser's CALL sg_work
    CREATE ROLE alice;
    GRANT ALL ON effects, go, a TO alice;
    GRANT USAGE ON SEQUENCE end_tries TO alice;
});

# After CALL sg_work, in the same session: who it is, and whether it may create a temporary table.
my $after = q{SELECT current_user; CREATE TEMP TABLE after_work ();};

sub submit
{
	my ($graph, $thread) = @_;
	return $node->safe_psql('postgres', qq{SET ROLE alice; SELECT sg_submit('$graph', '{"n": 0}', '$thread')});
}

sub run_row
{
	my ($rid) = @_;
	return $node->safe_psql('postgres',
		qq{SELECT status || ' ' || failures || ' ' || recoveries || ' ' || stepped FROM stategraph.runs WHERE run_id = '$rid'});
}

# The run failed once outside its step: pending after a backoff, then
# taken again by CALL sg_work, it succeeds; each step's effects once.
sub retried
{
	my ($rid, $thread, $steps, $what) = @_;
	is(run_row($rid), 'pending 1 0 true', "$what: the run is pending, its failure counted, no recovery");
	cmp_ok($node->safe_psql('postgres', qq{SELECT extract(epoch FROM not_before - now()) FROM stategraph.runs WHERE run_id = '$rid'}),
		'>', 0, "$what: it is tried again after a backoff");
	ok($node->poll_query_until('postgres', qq{SELECT not_before <= clock_timestamp() FROM stategraph.runs WHERE run_id = '$rid'}),
		"$what: the backoff passes");
	$node->safe_psql('postgres', q{CALL sg_work()});
	is($node->safe_psql('postgres', qq{SELECT status || ' ' || failures || ' ' || recoveries FROM stategraph.runs WHERE run_id = '$rid'}),
		'success 1 0', "$what: the next CALL sg_work takes it again and it succeeds (no recovery counted)");
	is($node->safe_psql('postgres', qq{SELECT string_agg(step::text, ',' ORDER BY step) FROM effects WHERE thread = '$thread'}),
		$steps, "$what: each step's effects happened once");
	like(slurp_file($node->logfile), qr/background run $rid failed outside its graph's steps/,
		"$what: the log says why the run is tried again");
}

# CALL sg_work in the background as application_name $name, after the statements of @sql
sub start_work
{
	my ($name, $out, $err, @sql) = @_;
	return IPC::Run::start(
		[ 'psql', '-X', '-Atq', '-d', $node->connstr('postgres') . " application_name=$name",
		  (map { ('-c', $_) } @sql), '-c', 'CALL sg_work()', '-c', $after ],
		'>', $out, '2>', $err);
}

# a serialization failure at the commit of the second step
my $rid = submit('skews', 'commit');
my $lock = $node->background_psql('postgres');
$lock->query_safe('SELECT pg_advisory_lock(42)');
my ($wout, $werr) = ('', '');
my $work = start_work('ssi', \$wout, \$werr, "SET default_transaction_isolation = 'serializable'");
ok($node->poll_query_until('postgres', q{
		SELECT wait_event = 'advisory' FROM pg_stat_activity WHERE application_name = 'ssi'}),
	'the record of the end waits');
$node->safe_psql('postgres', q{
    BEGIN ISOLATION LEVEL SERIALIZABLE; SELECT count(*) FROM effects; INSERT INTO a VALUES (1); COMMIT;});
$lock->query_safe('SELECT pg_advisory_unlock(42)');
$lock->quit;
$work->finish;
like($werr, qr/could not serialize access due to read\/write dependencies/, "the commit's error reaches sg_work's caller");
is($wout =~ s/\s+$//r, 'postgres', 'whose session goes on as the caller');
unlike($werr, qr/security-restricted/, 'not in a security-restricted operation');
retried($rid, 'commit', '1,2', 'a failed commit');

# an error of a trigger on stategraph.runs as the end is recorded
$rid = submit('g', 'end');
my ($ret, $out, $err) = $node->psql('postgres', "CALL sg_work();\n$after", on_error_stop => 0);
like($err, qr/end fails once/, "the trigger's error reaches sg_work's caller");
is($out, 'postgres', 'whose session goes on as the caller');
unlike($err, qr/security-restricted/, 'not in a security-restricted operation');
retried($rid, 'end', '1,2,3', 'a failed record of the end');

# a cancel while the record of the end waits for a client's lock on the run row
$rid = submit('waits', 'cancel');
($wout, $werr) = ('', '');
$work = start_work('worker', \$wout, \$werr);
ok($node->poll_query_until('postgres', qq{SELECT status = 'running' FROM stategraph.runs WHERE run_id = '$rid'}),
	'the first step committed');
my $client = $node->background_psql('postgres');
$client->query_safe(qq{BEGIN; SELECT FROM stategraph.runs WHERE run_id = '$rid' FOR UPDATE});
$node->safe_psql('postgres', q{INSERT INTO go VALUES ('cancel')});
ok($node->poll_query_until('postgres', q{
		SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE application_name = 'worker'}),
	'the record of the end waits for the row lock');
$node->safe_psql('postgres', q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'worker'});
# (the failure is recorded once the client lets the row go)
$client->query_safe('COMMIT');
$client->quit;
$work->finish;
like($werr, qr/canceling statement due to user request/, 'the cancel reaches sg_work\'s caller');
is($wout =~ s/\s+$//r, 'postgres', 'whose session goes on as the caller');
unlike($werr, qr/security-restricted/, 'not in a security-restricted operation');
retried($rid, 'cancel', '1,2', 'a cancel between steps');

$node->stop;
done_testing();
