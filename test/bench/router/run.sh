#!/usr/bin/env bash
# The PL/Proxy router (stategraph_router): its overhead and its throughput
# with 1, 2 and 3 shards, measured side by side in one run on one throwaway
# PostgreSQL 15 instance (the shards are databases of that instance: all on
# this machine, sharing its cores).
#
#     bash test/bench/router/run.sh          # about 2 minutes
#
# The overhead is measured in ROUNDS alternating rounds, with a floor: a
# PL/Proxy function that runs `SELECT 1` on the shard against the same SQL
# function called directly (what any routed call costs, whatever it does).
#
# Settings (environment): BENCH_SECONDS=10 (each pgbench run), ROUNDS=3,
# CLIENTS=4 (throughput runs), PG_CONFIG (the PostgreSQL to run; the extension and
# stategraph_router must be installed in it: make install).
# Prints a Markdown table (also written to test/bench/router/out/latest.md).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
PGBIN=$($PG_CONFIG --bindir)
SECS=${BENCH_SECONDS:-10}
CLIENTS=${CLIENTS:-4}
ROUNDS=${ROUNDS:-3}
DIR=$(mktemp -d /var/tmp/sg-router-bench.XXXXXX)
OUT=$HERE/out; mkdir -p "$OUT"
as_pg() { if [ "$(id -u)" -eq 0 ]; then su postgres -c "$(printf '%q ' "$@")"; else "$@"; fi; }
chmod 755 "$DIR"; [ "$(id -u)" -ne 0 ] || chown postgres "$DIR"
as_pg "$PGBIN/initdb" -D "$DIR/data" -U postgres -A trust >/dev/null
cat >>"$DIR/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$DIR'
max_connections = 100
shared_buffers = 256MB
CONF
as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w start >/dev/null
trap 'as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1; rm -rf "$DIR"' EXIT
export PGHOST=$DIR PGPORT=5432 PGUSER=postgres
P="$PGBIN/psql -X -q -v ON_ERROR_STOP=1"
for s in shard0 shard1 shard2; do
	$P -d postgres -c "CREATE DATABASE $s"
	$P -d $s -c "CREATE EXTENSION stategraph" -c "CREATE FUNCTION inc(state jsonb) RETURNS jsonb LANGUAGE sql
		AS \$\$ SELECT jsonb_build_object('n', COALESCE((state->>'n')::int, 0) + 1) \$\$" \
		-c "SELECT sg_create_graph('bench', '{\"n\": \"replace\"}'), sg_add_node('bench', 'inc', 'inc(jsonb)'),
		    sg_add_edge('bench', '__start__', 'inc'), sg_add_edge('bench', 'inc', '__end__'), sg_compile('bench')" >/dev/null
done
# routerN: 16 partitions over the first N shards
for n in 1 2 3; do
	opts=$(for p in $(seq 0 15); do printf "partition_%d 'host=%s dbname=shard%d'," "$p" "$DIR" $((p % n)); done)
	$P -d postgres -c "CREATE DATABASE router$n"
	$P -d router$n -c "CREATE EXTENSION plproxy" -c "CREATE EXTENSION stategraph_router" \
		-c "CREATE SERVER stategraph FOREIGN DATA WRAPPER plproxy OPTIONS (${opts%,})" \
		-c "CREATE USER MAPPING FOR PUBLIC SERVER stategraph"
done
# 1,000 threads, all on shard0 (router1 sends every partition there)
$P -d router1 -c "SELECT count(sg_invoke('bench', '{\"n\": 0}', 't' || i)) FROM generate_series(1, 1000) i" >/dev/null
cat >"$DIR/get.sql" <<'SQL'
\set id random(1, 1000)
SELECT (sg_get_state('t' || :id)).step;
SQL
cat >"$DIR/invoke.sql" <<'SQL'
\set id random(1, 1000)
SELECT sg_invoke('bench', '{"n": 1}', 't' || :id);
SQL
cat >"$DIR/new.sql" <<'SQL'
SELECT sg_invoke('bench', '{"n": 1}', 'n' || :client_id || '-' || random());
SQL
cat >"$DIR/floor.sql" <<'SQL'
\set id random(1, 1000)
SELECT floor_call('t' || :id);
SQL
# the floor: a PL/Proxy call that does nothing on the shard, against the same statement sent directly
$P -d shard0 -c "CREATE FUNCTION floor_call(thread_id text) RETURNS integer LANGUAGE sql AS \$\$ SELECT 1 \$\$"
$P -d router1 -c "CREATE FUNCTION floor_call(thread_id text) RETURNS integer LANGUAGE plproxy AS \$\$
	CLUSTER 'stategraph'; RUN ON hashtext(thread_id); \$\$"
# CPU time (clock ticks) of every process of the instance so far: the live
# ones, and the postmaster's reaped children (backends that have exited)
cpu_ticks() {
	local pm t=0 p
	pm=$(head -1 "$DIR/data/postmaster.pid")
	for p in $(pgrep -P "$pm"); do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo $((t + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat")))
}
# pgbench DB SCRIPT CLIENTS -> "tps latency_ms cpu_ms_per_transaction"
bench() {
	local a b out
	a=$(cpu_ticks)
	out=$($PGBIN/pgbench -n -M prepared -T "$SECS" -c "$3" -j "$3" -f "$DIR/$2" "$1" 2>/dev/null)
	sleep 0.5	# the backends' exit, and their shards' connections'
	b=$(cpu_ticks)
	echo "$out" | awk -v t=$((b - a)) -v hz="$(getconf CLK_TCK)" '/^latency average/ {lat=$4} /^tps/ {tps=$3}
		/^number of transactions actually processed/ {n=$NF}
		END {printf "%.0f %.3f %.4f\n", tps, lat, n ? t * 1000 / hz / n : 0}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
{
echo "## Router overhead and throughput ($(date -u +%Y-%m-%d), $SECS s per run, $ROUNDS alternating rounds, nproc $(nproc))"
echo
echo "| 1 client, 1,000 threads on one shard | direct (ms) | router (ms) | router / direct | router - direct (ms) | per round (router/direct) | CPU direct (ms/call) | CPU router (ms/call) | CPU router / direct |"
echo "|---|---|---|---|---|---|---|---|---|"
declare -A sum; declare -A per; loads=""
for ((r = 0; r < ROUNDS; r++)); do
	for s in get.sql invoke.sql floor.sql; do
		read -r _ d dc < <(bench shard0 $s 1)
		read -r _ x xc < <(bench router1 $s 1)
		sum[d$s]=$(awk -v a="${sum[d$s]:-0}" -v b="$d" 'BEGIN {print a + b}')
		sum[r$s]=$(awk -v a="${sum[r$s]:-0}" -v b="$x" 'BEGIN {print a + b}')
		sum[dc$s]=$(awk -v a="${sum[dc$s]:-0}" -v b="$dc" 'BEGIN {print a + b}')
		sum[rc$s]=$(awk -v a="${sum[rc$s]:-0}" -v b="$xc" 'BEGIN {print a + b}')
		per[$s]="${per[$s]:-} $(ratio "$x" "$d")"
	done
	loads="$loads $(cut -d' ' -f1 /proc/loadavg)"
done
mean() { awk -v a="$1" -v n=$ROUNDS -v f="$2" 'BEGIN {printf f, a / n}'; }
for s in get.sql invoke.sql floor.sql; do
	d=$(mean "${sum[d$s]}" %.3f); x=$(mean "${sum[r$s]}" %.3f)
	dc=$(mean "${sum[dc$s]}" %.4f); xc=$(mean "${sum[rc$s]}" %.4f)
	echo "| ${s%.sql}: $(head -2 "$DIR/$s" | tail -1 | cut -c1-60) | $d | $x | $(ratio "$x" "$d") | $(awk -v a="$x" -v b="$d" 'BEGIN {printf "%.3f", a - b}') |${per[$s]} | $dc | $xc | $(ratio "$xc" "$dc") |"
done
echo
echo "(load average after each round:$loads; CPU: every process of the instance, pgbench excluded, per call)"
echo
echo "| $CLIENTS clients, sg_invoke of new threads | invokes/s |"
echo "|---|---|"
read -r t _ < <(bench shard0 new.sql "$CLIENTS"); echo "| direct, one shard | $t |"
for n in 1 2 3; do read -r t _ < <(bench router$n new.sql "$CLIENTS"); echo "| router, $n shard(s) | $t |"; done
} | tee "$OUT/latest.md"
