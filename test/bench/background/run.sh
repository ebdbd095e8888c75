#!/usr/bin/env bash
# Background runs (issue 9), side by side on one throwaway PostgreSQL 15 cluster
# with shared_preload_libraries = 'stategraph':
#
#   1. submit-to-finished runs/s of the seed graph (3 SQL nodes, a new thread per
#      run), 1 and 4 clients, next to sg_invoke (one transaction per run) and CALL
#      sg_run (a commit per step in the client), interleaved rounds:
#        closed loop: each client submits, then sg_wait()s for its run;
#        open loop: the clients submit for BENCH_SECONDS without waiting, then the
#        clock runs until the last run has finished;
#   2. commit-to-start latency (server clocks: track_commit_timestamp);
#   3. where the time goes: commits, WAL records and bytes per run (pg_waldump),
#      the cluster's CPU per run;
#   4. DBOS Transact (npm @dbos-inc/dbos-sdk): the same 3-step workflow through
#      its queue, system database on the same cluster, 1 and 4 clients.
#
#     bash test/bench/background/run.sh
#
# Prints a Markdown table and writes it to test/bench/out/background-latest.md
# (raw data in test/bench/out/background-<date>/). About 5 minutes.
# test/bench/RESULTS.md ("Background runs") says what every number means.
#
# Settings (environment):
#   BENCH_SECONDS=5       measured duration of each throughput run
#   BENCH_ROUNDS=3        interleaved rounds of the throughput runs (medians reported)
#   WARMUP_SECONDS=2      unmeasured run before each closed-loop run
#   LATENCY_RUNS=300      submits of the commit-to-start measurement
#   DBOS_POLL_MS=10       DBOS queue's minPollingIntervalMs and getResult polling (DBOS default: 1000)
#   BENCH_DBOS=1          0: skip DBOS
#   BENCH_BUILD=1         make && make install the extension from this tree first (0: use the installed one)
#   BENCH_DATADIR=/var/tmp, BENCH_KEEP=0, PG_CONFIG / PGBIN: as test/bench/run.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
BENCH_SECONDS=${BENCH_SECONDS:-5}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
WARMUP_SECONDS=${WARMUP_SECONDS:-2}
LATENCY_RUNS=${LATENCY_RUNS:-300}
export DBOS_POLL_MS=${DBOS_POLL_MS:-10}
BENCH_DBOS=${BENCH_DBOS:-1}
BENCH_BUILD=${BENCH_BUILD:-1}
BENCH_DATADIR=${BENCH_DATADIR:-/var/tmp}
BENCH_KEEP=${BENCH_KEEP:-0}
if [ -z "${PGBIN:-}" ] && [ -n "${PG_CONFIG:-}" ]; then PGBIN=$("$PG_CONFIG" --bindir); fi
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

die() { echo "background/run.sh: ERROR: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

OUT=$ROOT/test/bench/out
RUN=$OUT/background-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN"
M=$RUN/metrics.txt
: >"$M"
put() { printf '%s\t%s\n' "$1" "$2" >>"$M"; }
load() { put "load_$1" "$(cut -d' ' -f1-3 /proc/loadavg)"; }

# ---------------------------------------------------------------- prerequisites
for t in initdb pg_ctl pgbench psql createdb pg_waldump; do
	[ -x "$PGBIN/$t" ] || die "$PGBIN/$t not found (PostgreSQL 15 server and client are needed)"
done
PATH=$PGBIN:$PATH
if [ "$BENCH_DBOS" = 1 ]; then
	command -v node >/dev/null || die "node not found (Node.js 20 is needed for DBOS; BENCH_DBOS=0 skips it)"
	STAMP=$HERE/dbos/node_modules/.bench-lock.sha256
	if [ ! -f "$STAMP" ] || [ "$(sha256sum <"$HERE/dbos/package-lock.json")" != "$(cat "$STAMP")" ]; then
		say "installing DBOS Transact (npm ci in test/bench/background/dbos)"
		(cd "$HERE/dbos" && npm ci --no-audit --no-fund) >"$RUN/npm.log" 2>&1 || { tail -20 "$RUN/npm.log" >&2; die "npm ci failed (log: $RUN/npm.log)"; }
		sha256sum <"$HERE/dbos/package-lock.json" >"$STAMP"
	fi
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
if [ "$BENCH_BUILD" = 1 ]; then
	say "building and installing the extension"
	{ make -s -C "$ROOT" PG_CONFIG="$PGBIN/pg_config" && $SUDO make -s -C "$ROOT" install PG_CONFIG="$PGBIN/pg_config"; } >"$RUN/build.log" 2>&1 ||
		{ tail -20 "$RUN/build.log" >&2; die "the extension did not build or install (log: $RUN/build.log)"; }
fi

# ---------------------------------------------------------------- the cluster
# a random free loopback port for the Node client (pgbench and psql use the socket)
PORT=
for _ in $(seq 50); do
	p=$((20000 + RANDOM % 40000))
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then PORT=$p; break; fi
done
[ -n "$PORT" ] || die "no free TCP port found"
DIR=$(mktemp -d "$BENCH_DATADIR/stategraph-bgbench.XXXXXX")
AS=()
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$DIR"; AS=(runuser -u postgres --); fi
cleanup() {
	set +e
	[ -f "$DIR/data/postmaster.pid" ] && "${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1
	if [ "$BENCH_KEEP" = 1 ]; then echo "cluster left in $DIR" >&2; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say "creating a throwaway cluster in $DIR (TCP 127.0.0.1:$PORT)"
"${AS[@]}" "$PGBIN/initdb" -D "$DIR/data" -U postgres --auth=trust >"$RUN/initdb.log" 2>&1 || die "initdb failed ($RUN/initdb.log)"
cat >>"$DIR/data/postgresql.conf" <<CONF
shared_preload_libraries = 'stategraph'
stategraph.max_workers = 4
track_commit_timestamp = on		# commit-to-start latency
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 100
wal_keep_size = '1GB'		# the WAL of every measured range stays for pg_waldump
CONF
"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null || { tail "$DIR/server.log" >&2; die "the cluster did not start"; }
export PGHOST=$DIR PGPORT=$PORT PGUSER=postgres
PM=$(head -1 "$DIR/data/postmaster.pid")
export CPU_CMD="bash $HERE/../external/cpu.sh $PM"	# the cluster's CPU ms so far (dbos.mjs calls it too; the external-nodes harness' script)
cpu() { $CPU_CMD; }
URL=postgres://postgres@127.0.0.1:$PORT
createdb bench
createdb dbos_sys
psql -qX -v ON_ERROR_STOP=1 bench -f "$HERE/setup.sql" >"$RUN/setup.log" 2>&1 || { tail "$RUN/setup.log" >&2; die "setup.sql failed (log: $RUN/setup.log)"; }
q() { psql -qXAt -v ON_ERROR_STOP=1 bench -c "$1"; }
put pg_version "$(q 'SHOW server_version')"
put ext_version "$(q "SELECT extversion FROM pg_extension WHERE extname = 'stategraph'")"
put max_workers "$(q 'SHOW stategraph.max_workers')"
put worker_sync_steps "$(q "SHOW stategraph.worker_sync_steps")"
put cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') x $(nproc)"
put commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+changes')"
load start

# ---------------------------------------------------------------- 1. throughput
PGB_RUN=0	# numbers the pgbench runs: thread ids never repeat
active() { q "SELECT count(*) FROM stategraph.runs WHERE status IN ('pending', 'running')"; }
# one measured closed-loop run (after a warmup): "tps cpu-ms-per-transaction" appended to name.rounds
pgb() {	# name clients script round
	local c0 c1 log=$RUN/$1-r$4.log
	q CHECKPOINT >/dev/null
	PGB_RUN=$((PGB_RUN + 2))
	pgbench -n -f "$HERE/$3" -c "$2" -j "$2" -T "$WARMUP_SECONDS" -D run="$((PGB_RUN - 1))" -D n=0 bench >"$log.warmup" 2>&1 || { cat "$log.warmup" >&2; die "pgbench $1 (warmup) failed"; }
	c0=$(cpu)
	pgbench -n -f "$HERE/$3" -c "$2" -j "$2" -T "$BENCH_SECONDS" -D run="$PGB_RUN" -D n=0 bench >"$log" 2>&1 || { cat "$log" >&2; die "pgbench $1 failed"; }
	c1=$(cpu)
	printf '%s %s\n' "$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$log")" \
		"$(awk -v c=$((c1 - c0)) '/^number of transactions actually processed/ { printf "%.3f", c / $NF }' "$log")" >>"$RUN/$1.rounds"
}
# one open-loop run: submit for BENCH_SECONDS, then wait for the last run; runs finished per second
# from the first submit to the last run's end (server clocks), and cpu ms per run
pgb_open() {	# name clients round
	local c0 c1 n log=$RUN/$1-r$3.log
	q CHECKPOINT >/dev/null
	PGB_RUN=$((PGB_RUN + 1))
	c0=$(cpu)
	pgbench -n -f "$HERE/submit_open.sql" -c "$2" -j "$2" -T "$BENCH_SECONDS" -D run="$PGB_RUN" -D n=0 bench >"$log" 2>&1 || { cat "$log" >&2; die "pgbench $1 failed"; }
	until [ "$(active)" = 0 ]; do sleep 0.05; done
	c1=$(cpu)
	n=$(q "SELECT count(*) FROM stategraph.runs WHERE thread_id LIKE 'o$PGB_RUN-%'")
	printf '%s %s\n' "$(q "SELECT round(count(*) / extract(epoch FROM max(finished_at) - min(created_at)), 1)
	                      FROM stategraph.runs WHERE thread_id LIKE 'o$PGB_RUN-%'")" \
		"$(awk -v c=$((c1 - c0)) -v n="$n" 'BEGIN { printf "%.3f", c / n }')" >>"$RUN/$1.rounds"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
say "throughput: sg_invoke, CALL sg_run, submit + sg_wait, open-loop submits; 1 and 4 clients ($BENCH_ROUNDS rounds of ${BENCH_SECONDS}s)"
for c in 1 4; do
	for r in $(seq "$BENCH_ROUNDS"); do
		pgb "invoke_c$c" "$c" invoke.sql "$r"
		pgb "call_c$c" "$c" run_call.sql "$r"
		pgb "submit_c$c" "$c" submit.sql "$r"
		pgb_open "open_c$c" "$c" "$r"
	done
	for w in invoke call submit open; do
		put "${w}_c$c" "$(cut -d' ' -f1 "$RUN/${w}_c$c.rounds" | median)"
		put "${w}_c${c}_cpu" "$(cut -d' ' -f2 "$RUN/${w}_c$c.rounds" | median)"
		put "${w}_c${c}_all" "$(cut -d' ' -f1 "$RUN/${w}_c$c.rounds" | xargs printf '%.0f ')"
	done
done
bad=$(q "SELECT count(*) FROM stategraph.runs WHERE status <> 'success'")
[ "$bad" = 0 ] || die "$bad background runs did not end in success: $(q "SELECT status || ' ' || coalesce(error::text, '') FROM stategraph.runs WHERE status <> 'success' LIMIT 3")"
put submit_runs "$(q 'SELECT count(*) FROM stategraph.runs')"
load throughput

# ---------------------------------------------------------------- 2. where the time goes
walstat() {	# from to -> "commits records bytes"
	"${AS[@]}" "$PGBIN/pg_waldump" -p "$DIR/data/pg_wal" -s "$1" -e "$2" --stats=record 2>/dev/null |
		awk '$1 == "Transaction/COMMIT" { c = $2 } $1 == "Total" { r = $2; b = $(NF - 1) } END { print c + 0, r + 0, b + 0 }'
}
for w in invoke run_call submit; do
	q CHECKPOINT >/dev/null
	a=$(q 'SELECT pg_current_wal_insert_lsn()')
	pgbench -n -f "$HERE/$w.sql" -c 1 -t 20 -D run=9$PGB_RUN -D n=0 bench >"$RUN/wal_$w.log" 2>&1 || die "pgbench $w (WAL accounting) failed"
	b=$(q 'SELECT pg_current_wal_insert_lsn()')
	put "wal_$w" "$(walstat "$a" "$b" | awk '{ printf "%.1f %.1f %.0f", $1 / 20, $2 / 20, $3 / 20 }')"
done

# ---------------------------------------------------------------- 3. latency
say "commit-to-start latency ($LATENCY_RUNS submits, one at a time)"
q CHECKPOINT >/dev/null
pgbench -n -f "$HERE/latency.sql" -c 1 -t "$LATENCY_RUNS" bench >"$RUN/latency.log" 2>&1 || { cat "$RUN/latency.log" >&2; die "latency run failed"; }
pq() { q "SELECT round(percentile_cont($2) WITHIN GROUP (ORDER BY ms)::numeric, 3) FROM (SELECT extract(epoch FROM r.$1 - pg_xact_commit_timestamp(m.xmin)) * 1000 AS ms FROM bench_mark m JOIN sg_runs() r USING (run_id)) x"; }
put start_p50 "$(pq started_at 0.5)"
put start_p90 "$(pq started_at 0.9)"
put finish_p50 "$(pq finished_at 0.5)"
put start_n "$(q 'SELECT count(*) FROM bench_mark WHERE run_id IS NOT NULL')"
load latency

# ---------------------------------------------------------------- 4. DBOS Transact
if [ "$BENCH_DBOS" = 1 ]; then
	say "DBOS Transact, the same workflow through its queue, 1 and 4 clients"
	for c in 1 4; do
		node "$HERE/dbos/dbos.mjs" "$URL/dbos_sys" closed "$c" "$((BENCH_SECONDS * 2))" "$WARMUP_SECONDS" >"$RUN/dbos_c$c.json" 2>"$RUN/dbos_c$c.err" || { tail "$RUN/dbos_c$c.err" >&2; die "DBOS run failed"; }
		put "dbos_c$c" "$(node -p "JSON.parse(require('fs').readFileSync('$RUN/dbos_c$c.json','utf8').trim().split('\n').pop()).per_s")"
		put "dbos_c${c}_cpu" "$(node -p "const j = JSON.parse(require('fs').readFileSync('$RUN/dbos_c$c.json','utf8').trim().split('\n').pop()); j.server_cpu_ms.toFixed(3) + ' ' + j.client_cpu_ms.toFixed(3)")"
	done
	put dbos_version "$(node -p "require('$HERE/dbos/node_modules/@dbos-inc/dbos-sdk/package.json').version")"
fi
load end

# ---------------------------------------------------------------- report
bash "$HERE/report.sh" "$RUN" | tee "$RUN/report.md"
cp "$RUN/report.md" "$OUT/background-latest.md"
say "written to test/bench/out/background-latest.md (raw data: $RUN)"
