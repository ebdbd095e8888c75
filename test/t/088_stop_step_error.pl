# A run asked to stop whose last step failed with an error outside its
# nodes (here a trigger on stategraph.threads that refuses the step's
# update of its thread: a graph's step may fail so, which ends a run without a stop
# 'error' with that error) keeps that error in its 'error' when stopped,
# as one whose node failed does (TAP 083). CALL sg_work kept it; with a
# background worker, where such an error goes up to the worker and the
# run, to be stopped, is pending again until its stop, the error was
# dropped and the run ended cancelled with error NULL.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use SGNode;

my $graph = q{
    CREATE TABLE refuse (thread text);
    -- a step that moves its thread's head on is refused (a rollback, which moves it back, is not)
    CREATE FUNCTION refuse_step() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT FROM refuse WHERE thread = NEW.thread_id) AND NEW.head > OLD.head THEN
            RAISE EXCEPTION 'the step was refused' USING ERRCODE = 'check_violation', DETAIL = 'By a trigger.';
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_step BEFORE UPDATE ON stategraph.threads
        FOR EACH ROW EXECUTE FUNCTION refuse_step();
};

# The run's error: status, sqlstate, message and detail.
sub run_error
{
	my ($node, $rid) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT concat_ws(' ', status, error->>'sqlstate', error->>'message', error->>'detail')
		FROM stategraph.runs WHERE run_id = '$rid'});
}

my ($worker, $plain) = worker_and_plain('stop_step_error', \&stop_graph, $graph);

foreach my $path ('worker', 'sg_work')
{
	my $node = $path eq 'worker' ? $worker : $plain;

	# a run whose step fails so without a stop: what an 'error' run records
	$node->safe_psql('postgres', q{SELECT sg_invoke('g', '{"n": 0, "wait": false}', 'plain')});
	$node->safe_psql('postgres', q{INSERT INTO refuse VALUES ('plain')});
	my $failed = $node->safe_psql('postgres', q{SELECT sg_submit('g', '{"n": 0, "wait": false}', 'plain')});
	$node->psql('postgres', q{CALL sg_work()}) if $path eq 'sg_work';
	is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$failed', '30 s')}), 'error',
		"$path: a run whose step fails ends 'error'");
	is(run_error($node, $failed), 'error 23514 the step was refused By a trigger.', "$path: with the step's error");

	foreach my $how ('interrupt', 'rollback')
	{
		my $t = "t-$how";
		$node->safe_psql('postgres', qq{SELECT sg_invoke('g', '{"n": 0, "wait": false}', '$t')});
		my $rid = $node->safe_psql('postgres', qq{SELECT sg_submit('g', '{"n": 10, "wait": true}', '$t')});
		my ($out, $err) = ('', '');
		my $work = wait_in_last_step($node, $path, "$path $how", \$out, \$err);
		# asked to stop, then its step fails
		is($node->safe_psql('postgres', qq{SELECT sg_cancel('$rid', '$how')}), 't', "$path $how: the run is asked to stop");
		$node->safe_psql('postgres', qq{INSERT INTO refuse VALUES ('$t'); INSERT INTO go VALUES ('$t')});
		$work->finish if $work;
		is($node->safe_psql('postgres', qq{SELECT status FROM sg_wait('$rid', '30 s')}), 'cancelled',
			"$path $how: the run ends as its stop says");
		is(run_error($node, $rid), 'cancelled 23514 the step was refused By a trigger.',
			"$path $how: the step's error is the run's");
	}
}

$worker->stop;
$plain->stop;
done_testing();
