#!/usr/bin/env bash
# External nodes (issue 10) vs graphile-worker, side by side on one throwaway
# PostgreSQL 15 cluster with stategraph preloaded (test/stategraph.conf) and
# track_commit_timestamp on: finished runs per second of a graph with one
# external node done by 4 Node worker loops, claiming one task per claim, next
# to graphile-worker's no-op jobs per second with concurrency 4; commit-to-claim
# latency of both, timed on the server and in Node; commits, WAL and CPU per
# run / job. Prints a Markdown table (report.mjs); the raw JSON goes to
# test/bench/out/external-<date>.json.
#
#     bash test/bench/external/run.sh
#
# Settings: BENCH_RUNS=2000 per round, BENCH_ROUNDS=3 (alternating; medians),
#   BENCH_WORKERS=4, BENCH_LATENCY_SAMPLES=200, BENCH_SG_CONTINUE=invoke (the
#   worker continues the step with sg_invoke instead of leaving it to
#   sg_complete), PG_CONFIG (default /usr/lib/postgresql/15/bin/pg_config;
#   stategraph must be installed there), BENCH_DATADIR=/var/tmp.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PGBIN=$($PG_CONFIG --bindir)
AS=()
[ "$(id -u)" -eq 0 ] && AS=(runuser -u postgres --)
[ -d "$HERE/node_modules/graphile-worker" ] || (cd "$HERE" && npm ci --no-audit --no-fund >/dev/null)
DIR=$(mktemp -d "${BENCH_DATADIR:-/var/tmp}/stategraph-bench-ext.XXXXXX")
chmod 755 "$DIR"; [ ${#AS[@]} -eq 0 ] || chown postgres "$DIR"
cleanup() { "${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
"${AS[@]}" "$PGBIN/initdb" -D "$DIR/data" -U postgres --auth=trust >"$DIR/initdb.log" 2>&1
{ cat "$ROOT/test/stategraph.conf"; echo "listen_addresses = ''"; echo "unix_socket_directories = '$DIR'";
  echo "max_connections = 50"; echo "track_commit_timestamp = on"; echo "wal_keep_size = '4GB'"; } \
	| "${AS[@]}" tee -a "$DIR/data/postgresql.conf" >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null
PM=$(head -1 "$DIR/data/postmaster.pid")
OUT=$ROOT/test/bench/out
mkdir -p "$OUT"
JSON=$OUT/external-$(date -u +%Y%m%d-%H%M%S).json
cd "$HERE"
PGHOST=$DIR PGPORT=5432 PGUSER=postgres PGDATABASE=postgres CPU_CMD="bash $HERE/cpu.sh $PM" \
	PGWALDUMP="$PGBIN/pg_waldump" PGWALDIR="$DIR/data/pg_wal" node bench.mjs >"$JSON"
node report.mjs "$JSON" "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'), $(nproc) cores, node $(node --version)"
