#!/usr/bin/env bash
# CPU time (ms, user + system) used so far by one PostgreSQL cluster: the
# postmaster, its live children, and the children that already exited
# (reaped into the postmaster's cutime/cstime). Usage: cpu.sh <postmaster pid>
pm=$1
hz=$(getconf CLK_TCK)
cat /proc/[0-9]*/stat 2>/dev/null | awk -v pm="$pm" -v hz="$hz" '
	{ pid = $1; sub(/^.*\) /, ""); }	# drop "pid (comm) ": $1 is now the state, $2 the ppid
	pid == pm { t += $12 + $13 + $14 + $15; next }	# utime stime cutime cstime
	$2 == pm { t += $12 + $13 }
	END { printf "%d\n", t * 1000 / hz }'
