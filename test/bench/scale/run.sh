#!/usr/bin/env bash
# Cost as data grows, on one server: sg_invoke and sg_get_state latency with
# SMALL (10,000) vs LARGE (1,000,000) threads in the tables, side by side in
# one run on one throwaway PostgreSQL 15 instance, and bytes per checkpoint.
# Each thread gets 3 checkpoints at creation (input, start, node) and one
# more from sg_update_state, as the issue's 5 per thread roughly.
#
#     bash test/bench/scale/run.sh     # about 10 minutes (building the large database is most of it)
#
# Settings: SMALL=10000 LARGE=1000000 BENCH_SECONDS=10 ROUNDS=3, PG_CONFIG.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
PGBIN=$($PG_CONFIG --bindir)
SMALL=${SMALL:-10000}; LARGE=${LARGE:-1000000}
SECS=${BENCH_SECONDS:-10}; ROUNDS=${ROUNDS:-3}
DIR=$(mktemp -d /var/tmp/sg-scale-bench.XXXXXX)
OUT=$HERE/out; mkdir -p "$OUT"
as_pg() { if [ "$(id -u)" -eq 0 ]; then su postgres -c "$(printf '%q ' "$@")"; else "$@"; fi; }
chmod 755 "$DIR"; [ "$(id -u)" -ne 0 ] || chown postgres "$DIR"
as_pg "$PGBIN/initdb" -D "$DIR/data" -U postgres -A trust >/dev/null
printf "listen_addresses = ''\nunix_socket_directories = '%s'\nshared_buffers = 256MB\nmax_wal_size = 4GB\n" "$DIR" >>"$DIR/data/postgresql.conf"
as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w start >/dev/null
trap 'as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1; rm -rf "$DIR"' EXIT
export PGHOST=$DIR PGPORT=5432 PGUSER=postgres
P="$PGBIN/psql -X -q -v ON_ERROR_STOP=1"
start=$(date +%s)
for db in small large; do
	n=$SMALL; [ $db = large ] && n=$LARGE
	$P -d postgres -c "CREATE DATABASE $db"
	$P -d $db -c "CREATE EXTENSION stategraph" -c "CREATE FUNCTION inc(state jsonb) RETURNS jsonb LANGUAGE sql
		AS \$\$ SELECT jsonb_build_object('n', COALESCE((state->>'n')::int, 0) + 1, 'log', jsonb_build_array(COALESCE((state->>'n')::int, 0))) \$\$" \
		-c "SELECT sg_create_graph('bench', '{\"n\": \"replace\", \"log\": \"append\"}'), sg_add_node('bench', 'inc', 'inc(jsonb)'),
		    sg_add_edge('bench', '__start__', 'inc'), sg_add_edge('bench', 'inc', '__end__'), sg_compile('bench')" >/dev/null
	# in batches of 100,000 threads per statement
	for ((b = 0; b < n; b += 100000)); do
		e=$((b + 100000 < n ? b + 100000 : n))
		$P -d $db -c "SELECT count(sg_invoke('bench', '{\"n\": 0}', 't' || i)) FROM generate_series($((b + 1)), $e) i" >/dev/null
		$P -d $db -c "SELECT count(sg_update_state('t' || i, '{\"log\": [\"note\"]}')) FROM generate_series($((b + 1)), $e) i" >/dev/null
	done
	$P -d $db -c "VACUUM ANALYZE"
done
built=$(( $(date +%s) - start ))
for db in small large; do
	n=$SMALL; [ $db = large ] && n=$LARGE
	printf '\\set id random(1, %d)\nSELECT (sg_get_state(%s || :id)).step;\n' "$n" "'t'" >"$DIR/get_$db.sql"
	printf '\\set id random(1, %d)\nSELECT sg_invoke(%s, %s, %s || :id);\n' "$n" "'bench'" "'{\"n\": 1}'" "'t'" >"$DIR/invoke_$db.sql"
done
lat() { $PGBIN/pgbench -n -M prepared -T "$SECS" -c 1 -f "$DIR/$2" "$1" 2>/dev/null | awk '/^latency average/ {print $4}'; }
declare -A sum
for ((r = 0; r < ROUNDS; r++)); do
	for s in get invoke; do for db in small large; do
		v=$(lat $db ${s}_$db.sql); sum[$s$db]=$(awk -v a="${sum[$s$db]:-0}" -v b="$v" 'BEGIN {print a + b}')
	done; done
done
{
echo "## Cost as data grows ($(date -u +%Y-%m-%d), $ROUNDS alternating rounds of $SECS s, nproc $(nproc), load $(cut -d' ' -f1 /proc/loadavg); built in ${built} s)"
echo
echo "| 1 client, random thread | $SMALL threads (ms) | $LARGE threads (ms) | ratio |"
echo "|---|---|---|---|"
for s in get invoke; do
	a=$(awk -v x="${sum[${s}small]}" -v r=$ROUNDS 'BEGIN {printf "%.3f", x / r}')
	b=$(awk -v x="${sum[${s}large]}" -v r=$ROUNDS 'BEGIN {printf "%.3f", x / r}')
	echo "| sg_$( [ $s = get ] && echo get_state || echo invoke ) | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b / a}') |"
done
echo
for db in small large; do
	$P -d $db -At -F ' ' -c "SELECT '$db:', count(*) AS checkpoints, pg_size_pretty(pg_total_relation_size('stategraph.checkpoints')),
		round(pg_total_relation_size('stategraph.checkpoints')::numeric / count(*)) AS bytes_per_checkpoint FROM stategraph.checkpoints"
done | awk '{print "- " $1 " " $2 " checkpoints, " $3 " " $4 " (tables, TOAST, index), " $5 " bytes per checkpoint row"}'
} | tee "$OUT/latest.md"
