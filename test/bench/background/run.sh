#!/usr/bin/env bash
# Background runs vs sg_invoke on one throwaway cluster (issue 9), side by side:
#   1. sg_invoke of the seed graph (3 steps), new thread per call: calls/s with 1 and 4 clients
#   2. the same run through sg_submit and the background workers: submit-to-finished runs/s
#      with 1 and 4 submitting clients (from the first submit until the last run finished)
#   3. commit-to-start latency: one submit at a time on idle workers, started_at minus the
#      client's clock when its commit returned (latency.py)
#   4. DBOS Transact (npm @dbos-inc/dbos-sdk): the same 3-step workflow, each step checkpointed,
#      started through its WorkflowQueue, system database on the same cluster: workflows/s
#      with 1 and 4 enqueuing clients (DBOS_N workflows each)
# Usage: bash test/bench/background/run.sh   (PG_CONFIG selects the PostgreSQL; SECONDS_EACH=10)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
PGBIN=$($PG_CONFIG --bindir)
T=${SECONDS_EACH:-10}
WORKERS=${WORKERS:-4}
LAT_RUNS=${LAT_RUNS:-300}
DBOS_N=${DBOS_N:-200}
DIR=$(mktemp -d /tmp/sg-bg-bench.XXXXXX)
chmod 755 "$DIR"
AS=""; [ "$(id -u)" -eq 0 ] && { chown postgres "$DIR"; AS="su postgres -c"; }
run() { if [ -n "$AS" ]; then su postgres -c "$*"; else sh -c "$*"; fi; }
run "$PGBIN/initdb -D $DIR/data -U postgres -A trust >/dev/null"
cat >>"$DIR/data/postgresql.conf" <<CONF
shared_preload_libraries = 'stategraph'
stategraph.max_workers = $WORKERS
listen_addresses = ''
unix_socket_directories = '$DIR'
CONF
run "$PGBIN/pg_ctl -D $DIR/data -l $DIR/server.log -w start >/dev/null"
trap 'run "$PGBIN/pg_ctl -D $DIR/data -m immediate -w stop >/dev/null 2>&1"; rm -rf "$DIR"' EXIT
export PGHOST=$DIR PGUSER=postgres PGDATABASE=postgres PGPORT=5432 PATH="$PGBIN:$PATH"
psql -Xq -f "$ROOT/test/bench/setup.sql" >/dev/null

cat >"$DIR/invoke.sql" <<'SQL'
SELECT sg_invoke('workflow', '{"data": "x"}', thread_id => 'inv-' || :client_id || '-' || random());
SQL
cat >"$DIR/submit.sql" <<'SQL'
SELECT sg_submit('workflow', '{"data": "x"}', 'sub-' || :client_id || '-' || random());
SQL

tps() { grep -E '^tps' "$1" | head -1 | awk '{print $3}'; }
finished() { psql -XAtc "SELECT count(*) FROM stategraph.runs WHERE status IN ('pending', 'running')"; }

declare -A R
for c in 1 4; do
	pgbench -n -c $c -j $c -T "$T" -f "$DIR/invoke.sql" >"$DIR/invoke-$c.log" 2>&1
	R[invoke_$c]=$(tps "$DIR/invoke-$c.log")

	psql -Xq -c "TRUNCATE stategraph.runs" >/dev/null
	start=$(date +%s.%N)
	pgbench -n -c $c -j $c -T "$T" -f "$DIR/submit.sql" >"$DIR/submit-$c.log" 2>&1
	until [ "$(finished)" = 0 ]; do sleep 0.05; done
	end=$(date +%s.%N)
	n=$(psql -XAtc "SELECT count(*) FROM stategraph.runs WHERE status = 'success'")
	bad=$(psql -XAtc "SELECT count(*) FROM stategraph.runs WHERE status <> 'success'")
	R[submit_$c]=$(echo "$n / ($end - $start)" | bc -l | xargs printf '%.0f')
	R[submitted_$c]=$(tps "$DIR/submit-$c.log")
	R[failed_$c]=$bad
done

# commit-to-start latency, one submit at a time on idle workers
psql -Xq -c "TRUNCATE stategraph.runs" >/dev/null
LAT=$(/usr/bin/python3 "$HERE/latency.py" "$LAT_RUNS")

# DBOS Transact on the same cluster (system database of its own)
psql -Xq -c "CREATE DATABASE dbos_sys" >/dev/null
(cd "$HERE/dbos" && [ -d node_modules ] || npm install --silent >/dev/null 2>&1)
for c in 1 4; do
	R[dbos_$c]=$(cd "$HERE/dbos" && node bench.mjs "postgresql://postgres@localhost/dbos_sys?host=$DIR" "$DBOS_N" $c 2>/dev/null \
		| sed -n 's/.*"per_second":\([0-9.]*\).*/\1/p' | xargs printf '%.1f')
done

cat <<MD
| measure (seed graph, 3 steps; $(nproc) cores; stategraph.max_workers = $WORKERS) | 1 client | 4 clients |
|---|---|---|
| sg_invoke calls/s | ${R[invoke_1]} | ${R[invoke_4]} |
| background runs: submit-to-finished runs/s | ${R[submit_1]} | ${R[submit_4]} |
| ratio background / sg_invoke (target >= 0.7) | $(echo "${R[submit_1]} / ${R[invoke_1]}" | bc -l | xargs printf '%.2f') | $(echo "${R[submit_4]} / ${R[invoke_4]}" | bc -l | xargs printf '%.2f') |
| (submits/s accepted while submitting) | ${R[submitted_1]} | ${R[submitted_4]} |
| runs not succeeded | ${R[failed_1]} | ${R[failed_4]} |
| DBOS Transact workflows/s (queue, 3 checkpointed steps) | ${R[dbos_1]} | ${R[dbos_4]} |
| ratio background runs / DBOS (target >= 5) | $(echo "${R[submit_1]} / ${R[dbos_1]}" | bc -l | xargs printf '%.1f') | $(echo "${R[submit_4]} / ${R[dbos_4]}" | bc -l | xargs printf '%.1f') |

commit-to-start latency over $LAT_RUNS single submits, from the client seeing its commit return (target p50 < 2 ms): $LAT
MD
