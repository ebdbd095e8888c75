# README's first command, test/demo.sh, and its documentation check,
# test/readme.sh, run again on a cluster where a newcomer followed README:
#  - the demo keeps what the cluster preloads already: README's "Schedules
#    with pg_cron" has the demo cluster preload pg_cron too, and a second
#    run of the demo used to set shared_preload_libraries back to
#    'stategraph' alone, dropping pg_cron;
#  - a session left in the demo's database (a psql exploring it, as the
#    demo's last lines suggest; pg_cron's scheduler) does not stop it: it
#    failed, "database "stategraph_demo" is being accessed by other users";
#  - a cluster that does not start (its port in use) is said so, with its
#    log: the demo went on, and psql failed to connect;
#  - the documentation check on a server where README's Security section
#    was followed by hand (its roles exist) says so at once: its Security
#    blocks failed with "role "alice" already exists", and those after.
#
# Debian's cluster tools (pg_lsclusters, pg_conftool, pg_ctlcluster), make,
# sudo and the package check are stand-ins here (a conf file of their own,
# a log of their calls); psql is real: the demo runs the seed walkthrough
# on a test node that preloads stategraph.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $root = $ENV{SG_TESTROOT} // 'test';
my $demo = "$root/demo.sh";

my $node = PostgreSQL::Test::Cluster->new('demo');
$node->init;
$node->start;

my $bin = PostgreSQL::Test::Utils::tempdir;
my $conf = "$bin/conf";
my $calls = "$bin/calls";
my $port = $node->port;
my %stubs = (
	# the cluster is down once the file "down" exists (it did not start)
	'pg_lsclusters' => qq{s=online; [ -e '$bin/down' ] && s=down
echo "15 stategraph $port \$s postgres /nonexistent /var/log/postgresql/postgresql-15-stategraph.log"},
	'pg_createcluster' => qq{echo "pg_createcluster \$*" >> '$calls'},
	# a restart is for real once the file "restart" exists (the server must
	# preload what ALTER SYSTEM set)
	'pg_ctlcluster' => qq{echo "pg_ctlcluster \$*" >> '$calls'
[ -e '$bin/restart' ] && [ "\$3" = restart ] && pg_ctl -D '${\ $node->data_dir}' -l '${\ $node->logfile}' -w restart >/dev/null
exit 0},
	# pg_conftool [-s] 15 stategraph show NAME | pg_conftool 15 stategraph set NAME VALUE
	'pg_conftool' => qq{echo "pg_conftool \$*" >> '$calls'
[ "\$1" = -s ] && shift
case \$3 in
show) v=\$(sed -n "s/^\$4=//p" '$conf'); [ -n "\$v" ] || exit 1; echo "\$v" ;;
set) { grep -v "^\$4=" '$conf'; echo "\$4=\$5"; } > '$conf.new'; mv '$conf.new' '$conf' ;;
esac},
	'make' => qq{echo "make \$*" >> '$calls'},
	'sudo' => q{[ "$1" = -u ] && shift 2; exec "$@"},
	'runuser' => q{[ "$1" = -u ] && shift 2; [ "$1" = -- ] && shift; exec "$@"},
	'dpkg-query' => q{printf 'install ok installed'},
	'node' => q{echo 20},
);
while (my ($name, $body) = each %stubs)
{
	PostgreSQL::Test::Utils::append_to_file("$bin/$name", "#!/bin/sh\n$body\n");
	chmod 0755, "$bin/$name";
}

# runs the demo with the cluster preloading $preload (undef: not set);
# returns what shared_preload_libraries is then, and the calls made
sub demo_with
{
	my ($preload) = @_;
	open my $fh, '>', $conf or die;
	print $fh "shared_preload_libraries=$preload\n" if defined $preload;
	close $fh;
	unlink $calls;
	local $ENV{PATH} = "$bin:$ENV{PATH}";
	local $ENV{PGHOST} = $node->host;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ 'bash', $demo ], '>', \$out, '2>', \$err);
	ok($ok, 'the demo ran, preloading ' . ($preload // 'nothing')) or diag("$out\n$err");
	like($out, qr/threads_left\s*\n-+\n\s*0\n/, '... and its walkthrough ended as the seed chapter shows');
	my $now = PostgreSQL::Test::Utils::slurp_file($conf);
	my ($value) = $now =~ /^shared_preload_libraries=(.*)$/m;
	return ($value, PostgreSQL::Test::Utils::slurp_file($calls), $out);
}

my ($value, $log) = demo_with(undef);
is($value, 'stategraph', 'a new cluster: stategraph preloaded');
like($log, qr/^pg_ctlcluster 15 stategraph restart$/m, '... and the cluster restarted');

($value, $log) = demo_with('pg_cron');
is($value, 'pg_cron,stategraph', 'a cluster preloading pg_cron: stategraph added, pg_cron kept');

my $explorer = $node->background_psql('stategraph_demo', on_error_stop => 0);
is($explorer->query_safe('SELECT count(*) > 0 FROM sg_threads()'), 't', 'a session exploring the demo database');
($value, $log) = demo_with('pg_cron,stategraph');
is($value, 'pg_cron,stategraph', 'a second run: the preload as it was');
unlike($log, qr/^pg_conftool 15 stategraph set/m, '... and not written again');
$explorer->quit;

# a preload list set with ALTER SYSTEM, which wins over postgresql.conf's:
# pg_conftool shows stategraph there, and the server did not preload it
$node->safe_psql('postgres', q{ALTER SYSTEM SET shared_preload_libraries = 'plpgsql'});
$node->restart;
PostgreSQL::Test::Utils::append_to_file("$bin/restart", '');
my $out;
($value, $log, $out) = demo_with('stategraph');
like($out, qr/^test\/demo\.sh: shared_preload_libraries is set with ALTER SYSTEM \(to 'plpgsql'\), over postgresql\.conf: stategraph added there$/m,
	'ALTER SYSTEM had set the preload: the demo says so');
is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'), 'plpgsql, stategraph',
	'... added stategraph there, keeping what it named');
is(scalar(() = $log =~ /^pg_ctlcluster 15 stategraph restart$/mg), 2, '... and restarted the cluster again');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET shared_preload_libraries');
unlink "$bin/restart";
$node->restart;

# a cluster that does not start (its port taken by another server): said
# at once, naming its log, where psql said only that it found no server
PostgreSQL::Test::Utils::append_to_file("$bin/down", '');
{
	local $ENV{PATH} = "$bin:$ENV{PATH}";
	local $ENV{PGHOST} = $node->host;
	my ($out, $err) = ('', '');
	ok(!IPC::Run::run([ 'bash', $demo ], '>', \$out, '2>', \$err), 'the demo on a cluster that did not start: it fails');
	like($err, qr{^test/demo\.sh: cluster 15/stategraph \(port $port\) did not start \(a port in use\?\); its log: /var/log/postgresql/postgresql-15-stategraph\.log$}m,
		'... saying so, with its log');
	unlike($out, qr/== docs/, '... before its walkthrough');
}

# README's Testing: the documentation check, once Security was followed by hand
$node->safe_psql('postgres', 'CREATE ROLE alice');
my $err;
($out, $err) = ('', '');
{
	local $ENV{PGHOST} = $node->host;
	local $ENV{PGPORT} = $node->port;
	IPC::Run::run([ 'bash', "$root/readme.sh" ], '>', \$out, '2>', \$err);
}
like($out, qr/^not ok 1 - the roles the pages create do not exist yet on this server\n#   they exist: alice /m,
	'the documentation check with role alice already there: one failure naming it');
unlike($out, qr/^ok /m, '... before any block runs');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname LIKE 'stategraph_doc%'}),
	'0', '... or its databases are made');

$node->stop;
done_testing();
