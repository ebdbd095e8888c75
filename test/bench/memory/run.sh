#!/usr/bin/env bash
# Memory over 100,000 invokes in one session (issue 4): does the backend stay flat?
#   A. 100,000 transactions of sg_invoke on the seed graph, each on a new thread (pgbench, one connection)
#   B. 100,000 transactions re-running 10 threads of a counter graph (pgbench, one connection)
#   C. 100,000 sg_invoke calls in ONE transaction (a DO block) re-running 10 threads
# For A and B the backend's private memory (RssAnon; VmRSS would also count the
# shared buffers it touches) is sampled from /proc; for C the total of its
# memory contexts is reported from inside, and once more after the commit.
# Writes test/bench/out/memory-<date>.txt.
# Usage: bash test/bench/memory/run.sh   (N=20000 for a shorter try)
set -euo pipefail
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")	# run.sh runs itself again under pg_virtualenv
cd "$(dirname "$SELF")"
N=${N:-100000}
if [ -z "${PGHOST:-}${PGPORT:-}" ]; then
	bash ../../deps.sh
	exec pg_virtualenv -v 15 env N="$N" bash "$SELF"
fi
mkdir -p ../out
OUT=../out/memory-$(date +%Y%m%d-%H%M%S).txt
psql -X -q -v ON_ERROR_STOP=1 -f setup.sql >/dev/null

sample() {	# label pid: print the seconds so far and the backend's memory
	local status
	status=$(cat "/proc/$2/status" 2>/dev/null) || return 1
	printf "%-6s %4ss  RssAnon %7s kB   (RssShmem %7s kB: shared buffers it has touched)\n" "$1" \
		"$SECONDS" \
		"$(echo "$status" | awk '/^RssAnon/ {print $2}')" "$(echo "$status" | awk '/^RssShmem/ {print $2}')"
}

run_pgbench() {	# label script
	local label=$1 script=$2 pid
	pgbench -n -c 1 -t "$N" -f "$script" >"/tmp/sg-mem-$label.log" 2>&1 &
	local bench=$!
	SECONDS=0
	for _ in $(seq 50); do
		pid=$(psql -XAtq -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' LIMIT 1")
		[ -n "$pid" ] && break
		sleep 0.2
	done
	while kill -0 "$bench" 2>/dev/null; do
		sample "$label" "$pid" || true
		sleep 3
	done
	wait "$bench"
	grep -E 'number of transactions actually processed|tps' "/tmp/sg-mem-$label.log"
}

{
	echo "== A: $N invokes of the seed graph, each a new thread, one session (one transaction each)"
	cat >/tmp/sg-mem-a.sql <<'SQL'
\set r random(1, 2000000000)
SELECT sg_invoke('workflow', '{"messages": [], "step": 0, "data": {"user": "alice"}}', thread_id => 'm-' || :client_id || '-' || :r);
SQL
	run_pgbench A /tmp/sg-mem-a.sql

	echo "== B: $N invokes re-running 10 threads of a counter graph, one session"
	cat >/tmp/sg-mem-b.sql <<'SQL'
\set t random(1, 10)
SELECT sg_invoke('counter', '{}', thread_id => 'c-' || :t);
SQL
	run_pgbench B /tmp/sg-mem-b.sql

	echo "== C: $N invokes in one transaction, re-running 10 threads; memory contexts of the backend"
	psql -X -q -v ON_ERROR_STOP=1 <<SQL
DO \$\$
DECLARE
    i int;
BEGIN
    RAISE NOTICE 'C %  invokes  contexts % kB', lpad('0', 8), backend_memory_kb();
    FOR i IN 1..$N LOOP
        PERFORM sg_invoke('counter', '{}', thread_id => 'tx-' || (i % 10));
        IF i % ($N / 10) = 0 THEN
            RAISE NOTICE 'C %  invokes  contexts % kB', lpad(i::text, 8), backend_memory_kb();
        END IF;
    END LOOP;
    RAISE NOTICE 'C the biggest contexts at the end: %', (SELECT string_agg(name || ' ' || (total_bytes / 1024) || ' kB', ', ')
        FROM (SELECT name, total_bytes FROM pg_backend_memory_contexts ORDER BY total_bytes DESC LIMIT 4) c);
END \$\$;
SELECT 'C after the commit: contexts ' || backend_memory_kb() || ' kB' AS after;
SQL
} 2>&1 | sed 's/^psql:.*NOTICE:  //; s/^NOTICE:  //' | tee "$OUT"
echo "written to test/bench/out/$(basename "$OUT")"
