#!/usr/bin/env bash
# Runtime benchmarks of stategraph 0.2.0 (issues 9 and 10), side by side on one
# throwaway PostgreSQL 15 cluster with shared_preload_libraries = 'stategraph':
#
#   1. background runs (sg_submit + sg_wait, 1 and 4 clients) vs sg_invoke;
#      commit-to-start latency; DBOS Transact's queue on the same 3-step workflow
#   2. external nodes done by 4 Node worker loops vs graphile-worker (4 workers)
#
#     bash test/bench/runtime/run.sh
#
# Prints a Markdown table and writes it to test/bench/out/runtime-latest.md
# (raw data in test/bench/out/runtime-<date>/). About 6 minutes.
# test/bench/RESULTS.md ("Runtime") says what every number means.
#
# Settings (environment):
#   BENCH_SECONDS=5       measured duration of each closed-loop throughput run
#   BENCH_ROUNDS=3        rounds of the issue-9 throughput runs (interleaved; medians reported)
#   WARMUP_SECONDS=2      unmeasured run before each
#   LATENCY_RUNS=300      submits of the commit-to-start measurement
#   EXT_JOBS=2000         runs (stategraph) and jobs (graphile-worker) of the throughput run
#   EXT_LATENCY=200       commit-to-claim samples, each system
#   DBOS_POLL_MS=10       DBOS queue's minPollingIntervalMs and getResult polling (DBOS default: 1000)
#   BENCH_ASYNC_PASS=1    issue 9's throughput runs once more with synchronous_commit = off (0: skip)
#   BENCH_BUILD=1         make && make install the extension from this tree first (0: use the installed one)
#   BENCH_DATADIR=/var/tmp, BENCH_KEEP=0, PG_CONFIG / PGBIN: as test/bench/run.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
BENCH_SECONDS=${BENCH_SECONDS:-5}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
WARMUP_SECONDS=${WARMUP_SECONDS:-2}
LATENCY_RUNS=${LATENCY_RUNS:-300}
EXT_JOBS=${EXT_JOBS:-2000}
EXT_LATENCY=${EXT_LATENCY:-200}
export DBOS_POLL_MS=${DBOS_POLL_MS:-10}
BENCH_BUILD=${BENCH_BUILD:-1}
BENCH_ASYNC_PASS=${BENCH_ASYNC_PASS:-1}
BENCH_DATADIR=${BENCH_DATADIR:-/var/tmp}
BENCH_KEEP=${BENCH_KEEP:-0}
if [ -z "${PGBIN:-}" ] && [ -n "${PG_CONFIG:-}" ]; then PGBIN=$("$PG_CONFIG" --bindir); fi
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

die() { echo "runtime/run.sh: ERROR: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

OUT=$ROOT/test/bench/out
RUN=$OUT/runtime-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN"
M=$RUN/metrics.txt
: >"$M"
put() { printf '%s\t%s\n' "$1" "$2" >>"$M"; }
load() { put "load_$1" "$(cut -d' ' -f1-3 /proc/loadavg)"; }

# ---------------------------------------------------------------- prerequisites
for t in initdb pg_ctl pgbench psql createdb; do
	[ -x "$PGBIN/$t" ] || die "$PGBIN/$t not found (PostgreSQL 15 server and client are needed)"
done
command -v node >/dev/null || die "node not found (Node.js 20 is needed)"
PATH=$PGBIN:$PATH
STAMP=$HERE/node_modules/.bench-lock.sha256
if [ ! -f "$STAMP" ] || [ "$(sha256sum <"$HERE/package-lock.json")" != "$(cat "$STAMP")" ]; then
	say "installing DBOS Transact, graphile-worker and pg (npm ci in test/bench/runtime)"
	(cd "$HERE" && npm ci --no-audit --no-fund) >"$RUN/npm.log" 2>&1 || { tail -20 "$RUN/npm.log" >&2; die "npm ci failed in $HERE (log: $RUN/npm.log)"; }
	sha256sum <"$HERE/package-lock.json" >"$STAMP"
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
if [ "$BENCH_BUILD" = 1 ]; then
	say "building and installing the extension"
	{ make -s -C "$ROOT" PG_CONFIG="$PGBIN/pg_config" && $SUDO make -s -C "$ROOT" install PG_CONFIG="$PGBIN/pg_config"; } >"$RUN/build.log" 2>&1 ||
		{ tail -20 "$RUN/build.log" >&2; die "the extension did not build or install (log: $RUN/build.log)"; }
fi

# ---------------------------------------------------------------- the cluster
# a random free loopback port for the Node clients (pgbench and psql use the socket)
PORT=
for _ in $(seq 50); do
	p=$((20000 + RANDOM % 40000))
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then PORT=$p; break; fi
done
[ -n "$PORT" ] || die "no free TCP port found"
DIR=$(mktemp -d "$BENCH_DATADIR/stategraph-rtbench.XXXXXX")
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
track_commit_timestamp = on		# commit-to-start / commit-to-claim latencies
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 100
wal_keep_size = '1GB'		# the WAL of every measured range stays for pg_waldump
CONF
"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null || { tail "$DIR/server.log" >&2; die "the cluster did not start"; }
export PGHOST=$DIR PGPORT=$PORT PGUSER=postgres
PM=$(head -1 "$DIR/data/postmaster.pid")
export CPU_CMD="bash $HERE/cpu.sh $PM"	# the cluster's CPU ms so far (external.mjs calls it too)
cpu() { $CPU_CMD; }
URL=postgres://postgres@127.0.0.1:$PORT
createdb bench
createdb dbos_sys
psql -qX -v ON_ERROR_STOP=1 bench -f "$HERE/setup.sql" >"$RUN/setup.log" 2>&1 || { tail "$RUN/setup.log" >&2; die "setup.sql failed (does the installed stategraph have sg_submit and sg_add_external_node? log: $RUN/setup.log)"; }
q() { psql -qXAt -v ON_ERROR_STOP=1 bench -c "$1"; }
put pg_version "$(q 'SHOW server_version')"
put ext_version "$(q "SELECT extversion FROM pg_extension WHERE extname = 'stategraph'")"
put max_workers "$(q 'SHOW stategraph.max_workers')"
put worker_sync_steps "$(q "SELECT coalesce(current_setting('stategraph.worker_sync_steps', true), '(no such setting)')")"
put cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') x $(nproc)"
put node_version "$(node --version)"
load start

# ---------------------------------------------------------------- 1. background runs
# pgbench closed loop: each client runs one script after another
PGB_RUN=0	# numbers the pgbench runs: thread ids never repeat
pgb() {	# name clients script round: one measured run (after a warmup); tps and server CPU ms per transaction
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
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# BENCH_ROUNDS rounds of the three ways, interleaved, so that a slow spell of the shared machine
# hits all of them alike; the medians are reported
pgb_rounds() {	# suffix
	local c r w
	for c in 1 4; do
		for r in $(seq "$BENCH_ROUNDS"); do
			pgb "invoke_c$c$1" "$c" invoke.sql "$r"
			pgb "call_c$c$1" "$c" run_call.sql "$r"
			pgb "submit_c$c$1" "$c" submit.sql "$r"
		done
		for w in invoke call submit; do
			put "${w}_c$c$1" "$(cut -d' ' -f1 "$RUN/${w}_c$c$1.rounds" | median)"
			put "${w}_c$c$1_cpu" "$(cut -d' ' -f2 "$RUN/${w}_c$c$1.rounds" | median)"
			put "${w}_c$c$1_all" "$(cut -d' ' -f1 "$RUN/${w}_c$c$1.rounds" | xargs printf '%.0f ')"
		done
	done
}
say "issue 9: sg_invoke, CALL sg_run and sg_submit + sg_wait, 1 and 4 clients ($BENCH_ROUNDS rounds of ${BENCH_SECONDS}s each)"
pgb_rounds ""
bad=$(q "SELECT count(*) FROM sg_runs() WHERE status <> 'success'")
[ "$bad" = 0 ] || die "$bad background runs did not end in success: $(q "SELECT status || ' ' || coalesce(error::text, '') FROM sg_runs() WHERE status <> 'success' LIMIT 3")"
put submit_runs "$(q 'SELECT count(*) FROM sg_runs()')"
load mid9

# where the time goes: commits and WAL of one run, each way (20 runs one after another)
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

say "issue 9: commit-to-start latency ($LATENCY_RUNS submits, one at a time)"
q CHECKPOINT >/dev/null
pgbench -n -f "$HERE/latency.sql" -c 1 -t "$LATENCY_RUNS" bench >"$RUN/latency.log" 2>&1 || { cat "$RUN/latency.log" >&2; die "latency run failed"; }
q "SELECT round(extract(epoch FROM r.started_at - pg_xact_commit_timestamp(m.xmin)) * 1000, 3) AS start_ms,
          round(extract(epoch FROM r.finished_at - pg_xact_commit_timestamp(m.xmin)) * 1000, 3) AS finish_ms
   FROM bench_mark m JOIN sg_runs() r USING (run_id) ORDER BY m.id" >"$RUN/latency.txt"
pq() { q "SELECT round(percentile_cont($2) WITHIN GROUP (ORDER BY ms)::numeric, 3) FROM (SELECT extract(epoch FROM r.$1 - pg_xact_commit_timestamp(m.xmin)) * 1000 AS ms FROM bench_mark m JOIN sg_runs() r USING (run_id)) x"; }
put start_p50 "$(pq started_at 0.5)"
put start_p90 "$(pq started_at 0.9)"
put finish_p50 "$(pq finished_at 0.5)"
put start_n "$(q 'SELECT count(*) FROM bench_mark WHERE run_id IS NOT NULL')"

say "issue 9: DBOS Transact, the same workflow through its queue, 1 and 4 clients"
for c in 1 4; do
	node "$HERE/dbos.mjs" "$URL/dbos_sys" closed "$c" "$((BENCH_SECONDS * 2))" "$WARMUP_SECONDS" >"$RUN/dbos_c$c.json" 2>"$RUN/dbos_c$c.err" || { tail "$RUN/dbos_c$c.err" >&2; die "DBOS run failed"; }
	put "dbos_c$c" "$(node -p "JSON.parse(require('fs').readFileSync('$RUN/dbos_c$c.json','utf8').trim().split('\n').pop()).per_s")"
	put "dbos_c${c}_cpu" "$(node -p "const j = JSON.parse(require('fs').readFileSync('$RUN/dbos_c$c.json','utf8').trim().split('\n').pop()); j.server_cpu_ms.toFixed(3) + ' ' + j.client_cpu_ms.toFixed(3)")"
done
put dbos_version "$(node -p "require('$HERE/node_modules/@dbos-inc/dbos-sdk/package.json').version")"
load end9

# the same runs again with synchronous_commit = off (cluster restarted so that the
# background workers take it too): what the durable commit of every step costs
if [ "$BENCH_ASYNC_PASS" = 1 ]; then
	say "issue 9 again with synchronous_commit = off"
	q "ALTER DATABASE bench SET synchronous_commit = off" >/dev/null
	"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w restart >/dev/null || die "the cluster did not restart"
	PM=$(head -1 "$DIR/data/postmaster.pid")
	export CPU_CMD="bash $HERE/cpu.sh $PM"
	pgb_rounds _async
	q "ALTER DATABASE bench RESET synchronous_commit" >/dev/null
	"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w restart >/dev/null || die "the cluster did not restart"
	PM=$(head -1 "$DIR/data/postmaster.pid")
	export CPU_CMD="bash $HERE/cpu.sh $PM"
fi

# ---------------------------------------------------------------- 2. external nodes
say "issue 10: $EXT_JOBS runs with an external node / no-op jobs, 4 workers each; $EXT_LATENCY latency samples"
q CHECKPOINT >/dev/null
node "$HERE/external.mjs" "$URL/bench" sg "$EXT_JOBS" "$EXT_LATENCY" >"$RUN/ext_sg.json" 2>"$RUN/ext_sg.err" || { tail "$RUN/ext_sg.err" >&2; die "stategraph external-node run failed"; }
q CHECKPOINT >/dev/null
node "$HERE/external.mjs" "$URL/bench" graphile "$EXT_JOBS" "$EXT_LATENCY" >"$RUN/ext_gw.json" 2>"$RUN/ext_gw.err" || { tail "$RUN/ext_gw.err" >&2; die "graphile-worker run failed"; }
for s in sg gw; do	# commits and WAL of the throughput phase, per finished run / job
	read -r a b n < <(node -p "const j = JSON.parse(require('fs').readFileSync('$RUN/ext_$s.json', 'utf8')); [j.throughput.lsn0, j.throughput.lsn1, j.jobs].join(' ')")
	put "wal_ext_$s" "$(walstat "$a" "$b" | awk -v n="$n" '{ printf "%.1f %.1f %.0f", $1 / n, $2 / n, $3 / n }')"
done
load end

# ---------------------------------------------------------------- report
node "$HERE/report.mjs" "$RUN" | tee "$RUN/report.md"
cp "$RUN/report.md" "$OUT/runtime-latest.md"
say "written to test/bench/out/runtime-latest.md (raw data: $RUN)"
