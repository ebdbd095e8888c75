#!/usr/bin/env bash
# stategraph vs LangGraph.js (PostgresSaver) on one fresh, throwaway PostgreSQL 15
# cluster. One command:
#
#     bash test/bench/run.sh
#
# Prints a Markdown table and writes it to test/bench/out/latest.md, and draws PNG
# plots of the same run with gnuplot (test/bench/out/latest-*.png; plots.gp); raw
# data of every run under test/bench/out/run-*/. Takes about 5 minutes with the
# defaults (7 on a busy machine).
# test/bench/RESULTS.md says what every number means.
#
# Settings (environment):
#   BENCH_SECONDS=15     measured duration of each throughput run
#   WARMUP_SECONDS=2     unmeasured run before each throughput run
#   CHAT_TURNS=200       turns of the chat
#   GET_STATE_CALLS=200  get_state calls after the chat (median reported)
#   SG_HISTORY_READS=5   full-history reads, stategraph (median reported)
#   LG_HISTORY_READS=1   full-history reads, LangGraph (each takes seconds)
#   PAGE_CALLS=50        reads of a 10-snapshot history page, stategraph (median reported)
#   LG_PAGE_CALLS=5      the same, LangGraph (each takes 0.1-1 s)
#   BENCH_LG_DELTA=1     also run the chat on LangGraph's beta DeltaChannel (0: skip)
#   BENCH_FSYNC_TEST=1   measure the disk with pg_test_fsync -s 1 (~15 s; 0: skip)
#   BENCH_BUILD=1        make && make install the extension first (0: use the installed one)
#   BENCH_DATADIR=/var/tmp   where the cluster lives (keep it on the disk you mean to measure, not tmpfs)
#   BENCH_KEEP=0         1: leave the cluster's directory behind (it is stopped anyway)
#   BENCH_CLIENTS="1 2 4 8"  client counts of the seed-graph throughput runs (1 and 8 are in the tables)
#   BENCH_DOCS=0         1: also copy the plots to docs/bench/ (what RESULTS.md and README show)
#   PG_CONFIG            the PostgreSQL 15 to build against and run (its bindir is PGBIN)
#   PGBIN=/usr/lib/postgresql/15/bin   (default: PG_CONFIG's bindir when PG_CONFIG is set)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BENCH_SECONDS=${BENCH_SECONDS:-15}
WARMUP_SECONDS=${WARMUP_SECONDS:-2}
CHAT_TURNS=${CHAT_TURNS:-200}
GET_STATE_CALLS=${GET_STATE_CALLS:-200}
SG_HISTORY_READS=${SG_HISTORY_READS:-5}
LG_HISTORY_READS=${LG_HISTORY_READS:-1}
PAGE_CALLS=${PAGE_CALLS:-50}
LG_PAGE_CALLS=${LG_PAGE_CALLS:-5}
BENCH_LG_DELTA=${BENCH_LG_DELTA:-1}
BENCH_FSYNC_TEST=${BENCH_FSYNC_TEST:-1}
BENCH_BUILD=${BENCH_BUILD:-1}
BENCH_DATADIR=${BENCH_DATADIR:-/var/tmp}
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_CLIENTS=${BENCH_CLIENTS:-1 2 4 8}
BENCH_DOCS=${BENCH_DOCS:-0}
if [ -z "${PGBIN:-}" ] && [ -n "${PG_CONFIG:-}" ]; then PGBIN=$("$PG_CONFIG" --bindir); fi
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PORT=5477	# the cluster listens on a socket in its own directory only, so no clash

die() { echo "run.sh: ERROR: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

OUT=$HERE/out
RUN=$OUT/run-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN/log"
METRICS=$RUN/metrics.txt
: >"$METRICS"
put() { printf '%s\t%s\n' "$1" "$2" >>"$METRICS"; }	# key value

# ---------------------------------------------------------------- prerequisites
for t in initdb pg_ctl pgbench psql createdb pg_test_fsync; do
	[ -x "$PGBIN/$t" ] || die "$PGBIN/$t not found (PostgreSQL 15 server and client packages are needed)"
done
command -v node >/dev/null || die "node not found (Node.js 20 is needed for the LangGraph.js side)"
command -v npm >/dev/null || die "npm not found"
command -v gnuplot >/dev/null || die "gnuplot not found (Debian: apt-get install gnuplot-nox; test/deps.sh installs it)"
PATH=$PGBIN:$PATH

# LangGraph.js, exactly the versions of package-lock.json (npm ci again whenever the lock file changes)
LG=$HERE/langgraph
STAMP=$LG/node_modules/.bench-lock.sha256
if [ ! -f "$STAMP" ] || [ "$(sha256sum <"$LG/package-lock.json")" != "$(cat "$STAMP")" ]; then
	say "installing LangGraph.js (npm ci in test/bench/langgraph)"
	if ! (cd "$LG" && npm ci --no-audit --no-fund) >"$RUN/npm.log" 2>&1; then
		tail -20 "$RUN/npm.log" >&2
		die "npm ci failed in $LG: the LangGraph.js side cannot run (full log: $RUN/npm.log)"
	fi
	sha256sum <"$LG/package-lock.json" >"$STAMP"
fi
lgver() { node -p "require('$LG/node_modules/$1/package.json').version" 2>/dev/null || die "$1 is not installed in $LG/node_modules"; }
put lg_version "$(lgver @langchain/langgraph)"
put lg_pg_version "$(lgver @langchain/langgraph-checkpoint-postgres)"
put lg_core_version "$(lgver @langchain/core)"
put pg_driver_version "$(lgver pg)"
put node_version "$(node --version)"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
if [ "$BENCH_BUILD" = 1 ]; then
	say "building and installing the extension"
	if ! { make -s -C "$ROOT" PG_CONFIG="$PGBIN/pg_config" && $SUDO make -s -C "$ROOT" install PG_CONFIG="$PGBIN/pg_config"; } >"$RUN/build.log" 2>&1; then
		tail -20 "$RUN/build.log" >&2
		die "the extension did not build or install (full log: $RUN/build.log); BENCH_BUILD=0 uses the installed one"
	fi
fi
[ -f "$($PGBIN/pg_config --sharedir)/extension/stategraph.control" ] || die "stategraph is not installed for $PGBIN"

# ---------------------------------------------------------------- the cluster
DIR=$(mktemp -d "$BENCH_DATADIR/stategraph-bench.XXXXXX")
AS=()
if [ "$(id -u)" -eq 0 ]; then
	chown postgres: "$DIR"
	AS=(runuser -u postgres --)
fi
cleanup() {
	set +e
	if [ -f "$DIR/data/postmaster.pid" ]; then
		"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1
	fi
	if [ "$BENCH_KEEP" = 1 ]; then echo "cluster left in $DIR" >&2; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "creating a throwaway cluster in $DIR"
"${AS[@]}" "$PGBIN/initdb" -D "$DIR/data" -U postgres --auth=trust >"$RUN/initdb.log" 2>&1 ||
	{ cat "$RUN/initdb.log" >&2; die "initdb failed"; }
"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
	-o "-p $PORT -k $DIR -c listen_addresses=''" start >/dev/null ||
	{ tail -20 "$DIR/server.log" >&2; die "the cluster did not start"; }
export PGHOST=$DIR PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
unset PGPASSWORD PGSERVICE PGHOSTADDR PGOPTIONS || true

q() { psql -X -v ON_ERROR_STOP=1 -At -q "$@"; }	# q db -c sql
for db in sg sg_chat sg_chat_reply lg lg_chat lg_delta; do createdb "$db"; done
for db in sg sg_chat sg_chat_reply; do
	q "$db" -f "$HERE/setup.sql" >/dev/null || die "setup.sql failed in database $db"
done
for db in lg lg_chat lg_delta; do
	PGDATABASE=$db node "$LG/bench.mjs" setup >/dev/null || die "PostgresSaver.setup() failed in database $db"
done

# ---------------------------------------------------------------- the machine
put cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
put cores "$(nproc)"
put ram_gb "$(awk '/^MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)"
put fs "$(findmnt -n -o FSTYPE,SOURCE --target "$DIR" 2>/dev/null | tr -s " " || stat -f -c %T "$DIR")"
put load_before "$(cut -d' ' -f1-3 /proc/loadavg)"
put pg_version "$(q postgres -c 'SHOW server_version')"
put pg_settings "$(q postgres -c "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'shared_buffers', 'full_page_writes', 'lc_collate', 'max_wal_size', 'wal_level')")"
put sg_version "$(q sg -c "SELECT extversion FROM pg_extension WHERE extname = 'stategraph'") ($(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo 'no git'))"
if [ "$BENCH_FSYNC_TEST" = 1 ]; then
	say "pg_test_fsync -s 1 in the cluster's directory"
	"${AS[@]}" "$PGBIN/pg_test_fsync" -s 1 -f "$DIR/fsync.test" >"$RUN/pg_test_fsync.txt" 2>&1 || true
	rm -f "$DIR/fsync.test"
	put fdatasync "$(awk '/one 8kB write/ {s = 1} s && $1 == "fdatasync" {print $2 " ops/s, " $4 " us/op"; exit}' "$RUN/pg_test_fsync.txt")"
fi

# ---------------------------------------------------------------- helpers
# latency statistics of pgbench per-transaction logs, in ms: "count p50 p99"
lat_stats() {
	cat "$@" | awk '$3 ~ /^[0-9]+$/ {print $3}' | sort -n | awk '
		function rank(p,  i) { i = int(p * NR / 100); if (i < p * NR / 100) i++; if (i < 1) i = 1; return i }
		{ v[NR] = $1 }
		END { if (NR == 0) { print "0 - -"; exit } printf "%d %.3f %.3f\n", NR, v[rank(50)] / 1000, v[rank(99)] / 1000 }'
}
# pgbench name db script [pgbench options...]: runs it, logs every transaction
# to $RUN/log/name.*, its output to $RUN/name.out, checks that nothing failed, prints pgbench's output.
bench() {
	local name=$1 db=$2 script=$3
	shift 3
	if ! pgbench -n -M prepared "$@" -l --log-prefix="$RUN/log/$name" -f "$script" "$db" >"$RUN/$name.out" 2>&1; then
		tail -20 "$RUN/$name.out" >&2
		die "pgbench $name failed (see $RUN/$name.out)"
	fi
	local failed
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$RUN/$name.out")
	[ "${failed:-0}" -eq 0 ] || die "pgbench $name: $failed transactions failed (see $RUN/$name.out)"
	if grep -q -E '^(pgbench: error|ERROR)' "$RUN/$name.out"; then
		grep -E 'error|ERROR' "$RUN/$name.out" | head -5 >&2
		die "pgbench $name reported errors"
	fi
}
tps_of() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$RUN/$1.out"; }
fresh() { q postgres -c CHECKPOINT; sleep 1; }	# start every measurement after a checkpoint

# ---------------------------------------------------------------- 1. seed graph, stategraph
for c in $BENCH_CLIENTS; do
	j=$((c < 2 ? 1 : 2))
	say "stategraph: seed graph, $c client(s), ${WARMUP_SECONDS}s warm-up + ${BENCH_SECONDS}s"
	fresh
	[ "$WARMUP_SECONDS" -gt 0 ] && bench "sg_seed${c}_warmup" sg "$HERE/pgbench/seed.sql" -c "$c" -j "$j" -T "$WARMUP_SECONDS" -D run=$((c + 100)) -D n=0
	bench "sg_seed$c" sg "$HERE/pgbench/seed.sql" -c "$c" -j "$j" -T "$BENCH_SECONDS" -D run="$c" -D n=0
	read -r n p50 p99 < <(lat_stats "$RUN/log/sg_seed$c".*)
	put "sg_seed${c}_tps" "$(tps_of "sg_seed$c")"
	put "sg_seed${c}_p50" "$p50"
	put "sg_seed${c}_p99" "$p99"
	put "sg_seed${c}_n" "$n"
	# every invoke left a finished thread with the seed's 5 checkpoints
	read -r threads cps < <(q sg -F' ' -c "SELECT count(*), (SELECT count(*) FROM stategraph.checkpoints WHERE thread_id LIKE 'b$c-%') FROM stategraph.threads WHERE thread_id LIKE 'b$c-%' AND status = 'done'")
	# (pgbench -T may end with an invoke of each client committed but not logged)
	[ "$threads" -ge "$n" ] && [ "$threads" -le $((n + c)) ] ||
		die "stategraph seed $c: $n invokes logged but $threads finished threads stored"
	put "sg_seed${c}_checkpoints_per_invoke" "$(awk -v a="$cps" -v b="$threads" 'BEGIN {printf "%.2f", a / b}')"
done

# ---------------------------------------------------------------- 2. the floor
say "floor: the same rows by one plain INSERT statement, 1 client"
q sg -c "SELECT sg_invoke('workflow', '{\"messages\": [], \"step\": 0, \"data\": {\"user\": \"alice\"}}', thread_id => 'floor-sample')" >/dev/null
q sg -v sample=floor-sample -f "$HERE/floor_gen.sql" >"$RUN/floor.pgbench" || die "floor_gen.sql failed"
put floor_rows "$(q sg -c "SELECT count(*) + 1 FROM stategraph.checkpoints WHERE thread_id = 'floor-sample'")"
fresh
[ "$WARMUP_SECONDS" -gt 0 ] && bench floor_warmup sg "$RUN/floor.pgbench" -c 1 -T "$WARMUP_SECONDS" -D n=1000000000
bench floor sg "$RUN/floor.pgbench" -c 1 -T "$BENCH_SECONDS" -D n=0
read -r n p50 p99 < <(lat_stats "$RUN/log/floor".*)
put floor_tps "$(tps_of floor)"
put floor_p50 "$p50"
put floor_p99 "$p99"

# ---------------------------------------------------------------- 1. seed graph, LangGraph.js
for c in $BENCH_CLIENTS; do
	say "LangGraph.js: seed graph, $c caller(s), ${WARMUP_SECONDS}s warm-up + ${BENCH_SECONDS}s"
	fresh
	PGDATABASE=lg node "$LG/bench.mjs" seed "$c" "$BENCH_SECONDS" "$WARMUP_SECONDS" "c$c" >"$RUN/lg_seed$c.json" ||
		die "LangGraph.js seed run with $c callers failed"
done

# ---------------------------------------------------------------- 3. chat, stategraph
say "stategraph: $CHAT_TURNS-turn chat"
fresh
# every turn is followed by a transaction of its own that appends the storage after it to sg_chat_storage.txt
: >"$RUN/sg_chat_storage.txt"
chmod 666 "$RUN/sg_chat_storage.txt"
bench sg_chat sg_chat "$HERE/pgbench/chat.sql" -c 1 -t $((2 * CHAT_TURNS + 1)) -D n=-1 -D series="$RUN/sg_chat_storage.txt"
# the turns in order: the even lines of the log (the first is the warm-up, odd ones are storage samples)
awk 'NR > 1 && NR % 2 == 0 && $3 ~ /^[0-9]+$/ {printf "%.3f\n", $3 / 1000}' "$RUN/log/sg_chat".* >"$RUN/sg_chat_turns.txt"
[ "$(wc -l <"$RUN/sg_chat_turns.txt")" -eq "$CHAT_TURNS" ] || die "stategraph chat: expected $CHAT_TURNS logged turns"
[ "$(wc -l <"$RUN/sg_chat_storage.txt")" -eq "$CHAT_TURNS" ] || die "stategraph chat: expected $CHAT_TURNS storage samples"
k=$((CHAT_TURNS < 10 ? CHAT_TURNS : 10))
mean() { awk '{s += $1} END {printf "%.3f", s / NR}'; }
median() { sort -n | awk '{v[NR] = $1} END {i = int(NR / 2); if (i < NR / 2) i++; printf "%.3f", v[i]}'; }
put sg_chat_first_ms "$(head -n $k "$RUN/sg_chat_turns.txt" | mean)"
put sg_chat_last_ms "$(tail -n $k "$RUN/sg_chat_turns.txt" | mean)"
put sg_chat_first_median_ms "$(head -n $k "$RUN/sg_chat_turns.txt" | median)"
put sg_chat_last_median_ms "$(tail -n $k "$RUN/sg_chat_turns.txt" | median)"
ok=$(q sg_chat -c "SELECT jsonb_array_length(\"values\"->'messages') = 2 * $CHAT_TURNS
                           AND \"values\"->'messages'->-1->>'content' = bench_reply_text($CHAT_TURNS)
                    FROM sg_get_state('chat-1')")
[ "$ok" = t ] || die "stategraph chat: the final state is not the $((2 * CHAT_TURNS)) expected messages"
put sg_chat_state_bytes "$(q sg_chat -c "SELECT octet_length((\"values\"->'messages')::text) FROM sg_get_state('chat-1')")"
put sg_chat_storage_bytes "$(q sg_chat -c "SELECT pg_total_relation_size('stategraph.checkpoints') + pg_total_relation_size('stategraph.threads')")"
put sg_chat_checkpoints "$(q sg_chat -c "SELECT count(*) FROM stategraph.checkpoints WHERE thread_id = 'chat-1'")"

put sg_chat_storage_split "$(q sg_chat -c "SELECT pg_table_size('stategraph.checkpoints') || ' ' || pg_indexes_size('stategraph.checkpoints') || ' ' || pg_table_size('stategraph.threads') || ' ' || pg_indexes_size('stategraph.threads')")"

median_ms() { local n p50 p99; read -r n p50 p99 < <(lat_stats "$RUN/log/$1".*); echo "$p50"; }
bench sg_get_state sg_chat "$HERE/pgbench/get_state.sql" -c 1 -t "$GET_STATE_CALLS"
put sg_get_state_ms "$(median_ms sg_get_state)"
bench sg_get_state_server sg_chat "$HERE/pgbench/get_state_server.sql" -c 1 -t "$GET_STATE_CALLS"
put sg_get_state_server_ms "$(median_ms sg_get_state_server)"
q sg_chat -c "CREATE TABLE bench_state_floor (v jsonb); ALTER TABLE bench_state_floor ALTER v SET STORAGE EXTERNAL;
              INSERT INTO bench_state_floor SELECT \"values\" FROM sg_get_state('chat-1')" >/dev/null
bench state_floor sg_chat "$HERE/pgbench/state_floor.sql" -c 1 -t "$GET_STATE_CALLS"
put state_floor_ms "$(median_ms state_floor)"
q sg_chat -c "DROP TABLE bench_state_floor" >/dev/null
before=$(q sg_chat -c "SELECT checkpoint_id FROM stategraph.checkpoints WHERE thread_id = 'chat-1' ORDER BY checkpoint_id DESC OFFSET 299 LIMIT 1")
if [ "$PAGE_CALLS" -gt 0 ]; then
	bench sg_page sg_chat "$HERE/pgbench/history_page.sql" -c 1 -t "$PAGE_CALLS"
	put sg_page_ms "$(median_ms sg_page)"
	if [ -n "$before" ]; then
		bench sg_page_deep sg_chat "$HERE/pgbench/history_page_before.sql" -c 1 -t "$PAGE_CALLS" -D before="$before"
		put sg_page_deep_ms "$(median_ms sg_page_deep)"
	fi
fi
bench sg_history_count sg_chat "$HERE/pgbench/history_count.sql" -c 1 -t "$SG_HISTORY_READS"
put sg_history_count_ms "$(median_ms sg_history_count)"
bench sg_history_full sg_chat "$HERE/pgbench/history_full.sql" -c 1 -t "$SG_HISTORY_READS"
put sg_history_full_ms "$(median_ms sg_history_full)"
put sg_history_rows "$(q sg_chat -c "SELECT count(*) FROM sg_get_state_history('chat-1')")"

# the same chat once more in a database of its own, each turn returning only the new reply
say "stategraph: $CHAT_TURNS-turn chat, each turn returning the new reply"
fresh
bench sg_chat_reply sg_chat_reply "$HERE/pgbench/chat_reply.sql" -c 1 -t $((CHAT_TURNS + 1)) -D n=-1
awk 'NR > 1 && $3 ~ /^[0-9]+$/ {printf "%.3f\n", $3 / 1000}' "$RUN/log/sg_chat_reply".* >"$RUN/sg_chat_reply_turns.txt"
[ "$(wc -l <"$RUN/sg_chat_reply_turns.txt")" -eq "$CHAT_TURNS" ] || die "stategraph chat (reply): expected $CHAT_TURNS logged turns"
put sg_chat_reply_first_ms "$(head -n $k "$RUN/sg_chat_reply_turns.txt" | mean)"
put sg_chat_reply_last_ms "$(tail -n $k "$RUN/sg_chat_reply_turns.txt" | mean)"
put sg_chat_reply_first_median_ms "$(head -n $k "$RUN/sg_chat_reply_turns.txt" | median)"
put sg_chat_reply_last_median_ms "$(tail -n $k "$RUN/sg_chat_reply_turns.txt" | median)"
ok=$(q sg_chat_reply -c "SELECT jsonb_array_length(\"values\"->'messages') = 2 * $CHAT_TURNS FROM sg_get_state('chat-1')")
[ "$ok" = t ] || die "stategraph chat (reply): the final state is not the $((2 * CHAT_TURNS)) expected messages"

# ---------------------------------------------------------------- 3. chat, LangGraph.js
say "LangGraph.js: $CHAT_TURNS-turn chat"
fresh
PGDATABASE=lg_chat node "$LG/bench.mjs" chat "$CHAT_TURNS" "$GET_STATE_CALLS" "$LG_HISTORY_READS" "$LG_PAGE_CALLS" >"$RUN/lg_chat.json" ||
	die "LangGraph.js chat failed"
if [ "$BENCH_LG_DELTA" = 1 ]; then
	say "LangGraph.js: $CHAT_TURNS-turn chat on DeltaChannel (beta)"
	fresh
	PGDATABASE=lg_delta node "$LG/bench.mjs" chat "$CHAT_TURNS" "$GET_STATE_CALLS" "$LG_HISTORY_READS" "$LG_PAGE_CALLS" delta >"$RUN/lg_chat_delta.json" ||
		die "LangGraph.js chat on DeltaChannel failed"
fi

put load_after "$(cut -d' ' -f1-3 /proc/loadavg)"
put settings "BENCH_SECONDS=$BENCH_SECONDS WARMUP_SECONDS=$WARMUP_SECONDS CHAT_TURNS=$CHAT_TURNS GET_STATE_CALLS=$GET_STATE_CALLS SG_HISTORY_READS=$SG_HISTORY_READS LG_HISTORY_READS=$LG_HISTORY_READS PAGE_CALLS=$PAGE_CALLS LG_PAGE_CALLS=$LG_PAGE_CALLS"
put date "$(date -u '+%Y-%m-%d %H:%M UTC')"

# ---------------------------------------------------------------- report
node "$HERE/report.mjs" "$RUN" >"$RUN/report.md" || die "report.mjs failed"
cp "$RUN/report.md" "$OUT/latest.md"

# ---------------------------------------------------------------- plots of the same run
node "$HERE/plots.mjs" "$RUN" "$BENCH_CLIENTS" || die "plots.mjs failed"
gnuplot -e "run='$RUN'" "$HERE/plots.gp" 2>"$RUN/gnuplot.log" || { cat "$RUN/gnuplot.log" >&2; die "gnuplot failed"; }
for p in chat_turn_time chat_storage seed_clients; do
	[ -s "$RUN/$p.png" ] || die "gnuplot wrote no $p.png"
	cp "$RUN/$p.png" "$OUT/latest-$p.png"
	if [ "$BENCH_DOCS" = 1 ]; then mkdir -p "$ROOT/docs/bench" && cp "$RUN/$p.png" "$ROOT/docs/bench/$p.png"; fi
done
cat "$RUN/report.md"
echo >&2
say "written to $OUT/latest.md and $OUT/latest-*.png (raw data in $RUN)"
