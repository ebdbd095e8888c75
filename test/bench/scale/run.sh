#!/usr/bin/env bash
# Cost as data grows, on one server, in one run on one throwaway PostgreSQL 15
# instance (preloading stategraph, so that its background worker sweeps):
#
#  1. sg_invoke and sg_get_state latency with SMALL (10,000) vs LARGE
#     (1,000,000) threads in the tables, side by side: first with
#     PostgreSQL's default shared_buffers (128 MB), then, after a restart,
#     with shared_buffers at 25% of RAM (SB, a usual production setting for
#     a server that holds this data) and the tables prewarmed (pg_prewarm);
#     the plans and buffer counts of one sg_get_state in each database
#     (auto_explain, nested statements) go to out/plans.txt;
#  2. bytes per checkpoint row;
#  3. sg_prune over every thread (keep_last => 3: one checkpoint of each
#     thread goes), in both databases: checkpoints removed per second, and
#     the time per thread (the same in both when it is linear);
#  4. the retention sweep (sg_set_retention(..., keep_latest), keep_last 1)
#     on the large database, SWEEP_SECONDS in all: the background worker
#     alone, then with CALL sg_work() back to back: checkpoints removed per
#     second, and the time of one sweep;
#  5. VACUUM under a steady load with retention on, for VACUUM_MINUTES
#     (10): pgbench sg_invoke on threads that go idle after 10 s, retention
#     deleting threads idle for 30 s, autovacuum as configured by default;
#     the size of stategraph.checkpoints and stategraph.threads every
#     30 s (out/vacuum.tsv). Flat means VACUUM keeps up.
#
# Each thread gets 3 checkpoints at creation (input, start, node) and one
# more from sg_update_state.
#
#     bash test/bench/scale/run.sh     # about 40 minutes (building the large database, the 10-minute run)
#
# Settings: SMALL=10000 LARGE=1000000 BENCH_SECONDS=8 ROUNDS=3 SB (shared_buffers
# of the second phase; default 25% of RAM) SWEEP_SECONDS=120 VACUUM_MINUTES=10
# VACUUM_CLIENTS=2, LATENCY_ONLY=1 (parts 1 and 2 only), PG_CONFIG.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
PGBIN=$($PG_CONFIG --bindir)
SMALL=${SMALL:-10000}; LARGE=${LARGE:-1000000}
SECS=${BENCH_SECONDS:-8}; ROUNDS=${ROUNDS:-3}
SB=${SB:-$(awk '/^MemTotal/ {printf "%dMB", $2 / 4 / 1024}' /proc/meminfo)}
SWEEP_SECONDS=${SWEEP_SECONDS:-120}; VACUUM_MINUTES=${VACUUM_MINUTES:-10}; VACUUM_CLIENTS=${VACUUM_CLIENTS:-2}
LATENCY_ONLY=${LATENCY_ONLY:-0}
DIR=$(mktemp -d /var/tmp/sg-scale-bench.XXXXXX)
OUT=$HERE/out; mkdir -p "$OUT"
as_pg() { if [ "$(id -u)" -eq 0 ]; then su postgres -c "$(printf '%q ' "$@")"; else "$@"; fi; }
chmod 755 "$DIR"; [ "$(id -u)" -ne 0 ] || chown postgres "$DIR"
as_pg "$PGBIN/initdb" -D "$DIR/data" -U postgres -A trust >/dev/null
# max_wal_size only speeds up building the tables; the sweep interval is
# the retention phase's (the default is 5 minutes)
printf "listen_addresses = ''\nunix_socket_directories = '%s'\nmax_wal_size = 4GB\nshared_preload_libraries = 'stategraph'\nstategraph.sweep_interval = 5\n" \
	"$DIR" >>"$DIR/data/postgresql.conf"
pgctl() { as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w "$@" >/dev/null; }
pgctl start
trap 'as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1; rm -rf "$DIR"' EXIT
export PGHOST=$DIR PGPORT=5432 PGUSER=postgres
P="$PGBIN/psql -X -q -v ON_ERROR_STOP=1"
Q="$PGBIN/psql -X -q -At -v ON_ERROR_STOP=1"
load() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}'; }
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
	# sg_get_state on the first half of the threads, sg_invoke on the other half: the
	# invokes add checkpoints to the small database's threads much more often
	# (each is invoked a hundred times more), and must not make its reads deeper
	printf '\\set id random(1, %d)\nSELECT (sg_get_state(%s || :id)).step;\n' $((n / 2)) "'t'" >"$DIR/get_$db.sql"
	printf '\\set id random(%d, %d)\nSELECT sg_invoke(%s, %s, %s || :id);\n' $((n / 2 + 1)) "$n" "'bench'" "'{\"n\": 1}'" "'t'" >"$DIR/invoke_$db.sql"
done
lat() { $PGBIN/pgbench -n -M prepared -T "$SECS" -c 1 -f "$DIR/$2" "$1" 2>/dev/null | awk '/^latency average/ {print $4}'; }
# latency_table TITLE: ROUNDS alternating rounds of each script on each database
latency_table() {
	local -A sum=()
	local r s db a b loads=""
	for ((r = 0; r < ROUNDS; r++)); do
		for s in get invoke; do for db in small large; do
			v=$(lat $db ${s}_$db.sql); sum[$s$db]=$(awk -v a="${sum[$s$db]:-0}" -v b="$v" 'BEGIN {print a + b}')
		done; done
		loads="$loads $(load)"
	done
	echo "| $1, 1 client, random thread | $SMALL threads (ms) | $LARGE threads (ms) | ratio |"
	echo "|---|---|---|---|"
	for s in get invoke; do
		a=$(awk -v x="${sum[${s}small]}" -v r=$ROUNDS 'BEGIN {printf "%.3f", x / r}')
		b=$(awk -v x="${sum[${s}large]}" -v r=$ROUNDS 'BEGIN {printf "%.3f", x / r}')
		echo "| sg_$( [ $s = get ] && echo get_state || echo invoke ) | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b / a}') |"
	done
	echo
	echo "(load average after each round:$loads)"
	echo
}
# plans DB: the statements of one sg_get_state of a random thread, with buffers
plans() {
	local n=$SMALL; [ "$1" = large ] && n=$LARGE
	echo "### $1, $2" >>"$OUT/plans.txt"
	$P -d "$1" -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 0" -c "SET auto_explain.log_nested_statements = on" \
		-c "SET auto_explain.log_analyze = on" -c "SET auto_explain.log_buffers = on" -c "SET auto_explain.log_timing = off" \
		-c "SET client_min_messages = log" -c "SET auto_explain.log_level = notice" \
		-c "SELECT (sg_get_state('t' || (1 + floor(random() * $n / 2))::int)).step" 2>>"$OUT/plans.txt" >/dev/null
}
: >"$OUT/plans.txt"
{
echo "## Cost as data grows ($(date -u +%Y-%m-%d), $ROUNDS alternating rounds of $SECS s, nproc $(nproc), built in ${built} s)"
echo
latency_table "shared_buffers 128MB (default)"
plans small "shared_buffers 128MB"; plans large "shared_buffers 128MB"
$P -d postgres -c "ALTER SYSTEM SET shared_buffers = '$SB'"
pgctl restart
for db in small large; do
	$P -d $db -c "CREATE EXTENSION pg_prewarm" \
		-c "SELECT sum(pg_prewarm(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		    WHERE n.nspname IN ('stategraph', 'pg_toast') AND c.relkind IN ('r', 'i', 't')" >/dev/null
done
latency_table "shared_buffers $SB, prewarmed"
plans small "shared_buffers $SB"; plans large "shared_buffers $SB"
for db in small large; do
	$Q -d $db -F ' ' -c "SELECT '$db:', count(*) AS checkpoints, pg_size_pretty(pg_total_relation_size('stategraph.checkpoints')),
		round(pg_total_relation_size('stategraph.checkpoints')::numeric / count(*)) AS bytes_per_checkpoint FROM stategraph.checkpoints"
done | awk '{print "- " $1 " " $2 " checkpoints, " $3 " " $4 " (tables, TOAST, index), " $5 " bytes per checkpoint row"}'
echo

if [ "$LATENCY_ONLY" = 0 ]; then
# sg_prune over every thread: one checkpoint of each goes
echo "| sg_prune(keep_last => 3), every thread | threads | checkpoints removed | seconds | checkpoints/s | µs per thread | load |"
echo "|---|---|---|---|---|---|---|"
for db in small large; do
	t0=$(now)
	removed=$($Q -d $db -c "SELECT sg_prune(keep_last => 3)")
	s=$(elapsed "$t0")
	threads=$($Q -d $db -c "SELECT count(*) FROM stategraph.threads")
	echo "| $db | $threads | $removed | $s | $(awk -v r="$removed" -v s="$s" 'BEGIN {printf "%.0f", r / s}') | $(awk -v t="$threads" -v s="$s" 'BEGIN {printf "%.0f", s * 1e6 / t}') | $(load) |"
done
echo

# the retention sweep: every thread is expired, keep_latest 1 (2 of each thread's 3 checkpoints go).
# First the background worker alone (it sweeps sweep_limit threads every
# sweep_interval), then CALL sg_work() back to back as well (a sweep of
# sweep_limit threads per call).
count() { $Q -d large -c "SELECT count(*) FROM stategraph.checkpoints"; }
echo "| retention sweep, large (keep_latest 1, sweep_limit 1000, sweep_interval 5 s) | checkpoints before | removed | seconds | checkpoints/s | sweeps | s per sweep | load |"
echo "|---|---|---|---|---|---|---|---|"
$P -d large -c "SELECT sg_set_retention('bench', '0 s', 'keep_latest', 1)" >/dev/null
before=$(count); t0=$(now)
sleep $((SWEEP_SECONDS / 2))
after=$(count); s=$(elapsed "$t0")
echo "| background worker alone | $before | $((before - after)) | $s | $(awk -v r=$((before - after)) -v s="$s" 'BEGIN {printf "%.0f", r / s}') | | | $(load) |"
before=$after; t0=$(now); sweeps=0
while [ "$(elapsed "$t0" | cut -d. -f1)" -lt $((SWEEP_SECONDS / 2)) ]; do
	$P -d large -c "CALL sg_work()"; sweeps=$((sweeps + 1))
done
after=$(count); s=$(elapsed "$t0")
echo "| and CALL sg_work() back to back | $before | $((before - after)) | $s | $(awk -v r=$((before - after)) -v s="$s" 'BEGIN {printf "%.0f", r / s}') | $sweeps | $(awk -v n=$sweeps -v s="$s" 'BEGIN {printf "%.2f", s / n}') | $(load) |"
$P -d large -c "SELECT sg_set_retention('bench', NULL)" >/dev/null
echo
fi
} | tee "$OUT/latest.md"

# VACUUM under a steady load with retention on (VACUUM_MINUTES=0: not run)
[ "$VACUUM_MINUTES" -gt 0 ] && [ "$LATENCY_ONLY" = 0 ] || exit 0
$P -d postgres -c "CREATE DATABASE steady"
$P -d steady -c "CREATE EXTENSION stategraph" -c "CREATE FUNCTION inc(state jsonb) RETURNS jsonb LANGUAGE sql
	AS \$\$ SELECT jsonb_build_object('n', COALESCE((state->>'n')::int, 0) + 1, 'log', jsonb_build_array(COALESCE((state->>'n')::int, 0))) \$\$" \
	-c "SELECT sg_create_graph('bench', '{\"n\": \"replace\", \"log\": \"append\"}'), sg_add_node('bench', 'inc', 'inc(jsonb)'),
	    sg_add_edge('bench', '__start__', 'inc'), sg_add_edge('bench', 'inc', '__end__'), sg_compile('bench')" \
	-c "SELECT sg_set_retention('bench', '30 s', 'delete')" >/dev/null
# each 10-second window has its own 200 threads, idle afterwards
cat >"$DIR/steady.sql" <<'SQL'
\set id random(1, 200)
SELECT sg_invoke('bench', '{"n": 1}', 'w' || (extract(epoch FROM now())::bigint / 10) || '-' || :id);
SQL
$PGBIN/pgbench -n -M prepared -T $((VACUUM_MINUTES * 60)) -c "$VACUUM_CLIENTS" -j "$VACUUM_CLIENTS" -f "$DIR/steady.sql" steady \
	>"$DIR/steady.out" 2>&1 &
bench_pid=$!
echo -e "minute\tcheckpoints\tcheckpoints_bytes\tthreads_bytes\tload" >"$OUT/vacuum.tsv"
for ((i = 1; i <= VACUUM_MINUTES * 2; i++)); do
	sleep 30
	$Q -d steady -F $'\t' -c "SELECT $i / 2.0, count(*), pg_total_relation_size('stategraph.checkpoints'),
		pg_total_relation_size('stategraph.threads'), $(load) FROM stategraph.checkpoints" >>"$OUT/vacuum.tsv"
done
wait $bench_pid
tps=$(awk '/^tps/ {printf "%.0f", $3}' "$DIR/steady.out")
{
echo "| steady load, $VACUUM_MINUTES min, $VACUUM_CLIENTS clients ($tps invokes/s), retention delete after 30 s idle | minute | checkpoints | checkpoints table (kB) | threads table (kB) |"
echo "|---|---|---|---|---|"
awk -F'\t' 'NR > 1 && (NR % 4 == 1 || NR == 2) {printf "| | %.1f | %s | %d | %d |\n", $1, $2, $3 / 1024, $4 / 1024}' "$OUT/vacuum.tsv"
echo
autov=$($Q -d steady -c "SELECT autovacuum_count || ' autovacuums of checkpoints, ' || (SELECT autovacuum_count FROM pg_stat_user_tables WHERE relid = 'stategraph.threads'::regclass) || ' of threads' FROM pg_stat_user_tables WHERE relid = 'stategraph.checkpoints'::regclass")
echo "($autov during the run; full series in out/vacuum.tsv)"
} | tee -a "$OUT/latest.md"
