#!/usr/bin/env bash
# External nodes vs graphile-worker, side by side on one throwaway PostgreSQL 15
# cluster with stategraph preloaded (test/stategraph.conf): finished runs per
# second of a graph with one external node (4 Node worker loops: claim, then
# complete and continue the run in one statement) next to graphile-worker
# running the same number of no-op jobs with concurrency 4; and commit-to-claim
# latency with idle workers. Prints a Markdown table.
#
#     bash test/bench/external/run.sh
#
# Settings: BENCH_RUNS=1000 per round, BENCH_ROUNDS=3, BENCH_WORKERS=4, BENCH_LATENCY_SAMPLES=200,
#           PG_CONFIG (default /usr/lib/postgresql/15/bin/pg_config; stategraph
#           must be installed for it), BENCH_DATADIR=/var/tmp.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PGBIN=$($PG_CONFIG --bindir)
AS=()
[ "$(id -u)" -eq 0 ] && AS=(runuser -u postgres --)
[ -d "$HERE/node_modules/graphile-worker" ] || (cd "$HERE" && npm install --no-audit --no-fund >/dev/null)
DIR=$(mktemp -d "${BENCH_DATADIR:-/var/tmp}/stategraph-bench-ext.XXXXXX")
chmod 755 "$DIR"; [ ${#AS[@]} -eq 0 ] || chown postgres "$DIR"
cleanup() { "${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
"${AS[@]}" "$PGBIN/initdb" -D "$DIR/data" -U postgres --auth=trust >"$DIR/initdb.log" 2>&1
{ cat "$ROOT/test/stategraph.conf"; echo "listen_addresses = ''"; echo "unix_socket_directories = '$DIR'";
  echo "max_connections = 50"; } | "${AS[@]}" tee -a "$DIR/data/postgresql.conf" >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null
echo "PostgreSQL $($PGBIN/postgres --version | awk '{print $3}'), $(nproc) cores, graphile-worker $(node -p "require('$HERE/node_modules/graphile-worker/package.json').version"), node $(node --version)"
cd "$HERE" && PGHOST=$DIR PGPORT=5432 PGUSER=postgres PGDATABASE=postgres node bench.mjs
