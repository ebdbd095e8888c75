#!/usr/bin/env bash
# LangGraph.js 1.7.3 with StategraphSaver vs PostgresSaver, side by side on one
# fresh, throwaway PostgreSQL 15 cluster (one database per saver). One command:
#
#     bash test/bench/lgsaver.sh
#
# Prints a Markdown table (also written to test/bench/out/lgsaver-latest.md);
# test/bench/RESULTS.md ("LangGraph.js checkpointer") says what the numbers mean.
#
# Settings (environment):
#   BENCH_SECONDS=5       measured duration of each throughput round
#   WARMUP_SECONDS=2      unmeasured run before each throughput round
#   ROUNDS=3              throughput rounds per saver and caller count, the
#                         savers alternating (medians reported, each round's ratio shown)
#   CALLERS="1 4"         concurrent invoke loops of the throughput runs
#   CHAT_TURNS=200        turns of the chat
#   GET_STATE_CALLS=50    getState calls after the chat (median reported)
#   PAGE_CALLS=10         history pages of 10 after the chat (median reported)
#   BENCH_DATADIR=/var/tmp   where the cluster lives
#   PG_CONFIG             the PostgreSQL whose bindir is used (the extension must be installed there)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BENCH_SECONDS=${BENCH_SECONDS:-5}
ROUNDS=${ROUNDS:-3}
WARMUP_SECONDS=${WARMUP_SECONDS:-2}
CALLERS=${CALLERS:-1 4}
CHAT_TURNS=${CHAT_TURNS:-200}
GET_STATE_CALLS=${GET_STATE_CALLS:-50}
PAGE_CALLS=${PAGE_CALLS:-10}
BENCH_DATADIR=${BENCH_DATADIR:-/var/tmp}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PGBIN=$($PG_CONFIG --bindir)
PATH=$PGBIN:$PATH

die() { echo "lgsaver.sh: ERROR: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

JS=$ROOT/clients/langgraph-js
if [ ! -d "$JS/node_modules/@langchain/langgraph-checkpoint-postgres" ]; then
	say "installing clients/langgraph-js (npm ci)"
	(cd "$JS" && npm ci --no-audit --no-fund) >/dev/null 2>&1 || die "npm ci failed in $JS"
fi

OUT=$HERE/out
RUN=$OUT/lgsaver-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN"
DIR=$(mktemp -d "$BENCH_DATADIR/stategraph-lgbench.XXXXXX")
AS=()
if [ "$(id -u)" -eq 0 ]; then
	chown postgres: "$DIR"
	AS=(runuser -u postgres --)
fi
cleanup() {
	set +e
	[ -f "$DIR/data/postmaster.pid" ] && "${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$DIR"
}
trap cleanup EXIT
"${AS[@]}" "$PGBIN/initdb" -D "$DIR/data" -U postgres --auth=trust >"$RUN/initdb.log" 2>&1 || die "initdb failed"
cat "$ROOT/test/stategraph.conf" | "${AS[@]}" tee -a "$DIR/data/postgresql.conf" >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -o "-p 5478 -k $DIR -c listen_addresses=''" start >/dev/null ||
	{ tail -20 "$DIR/server.log" >&2; die "the cluster did not start"; }
export PGHOST=$DIR PGPORT=5478 PGUSER=postgres
for db in lg_pg lg_sg lg_pg_chat lg_sg_chat; do createdb $db; done
for db in lg_sg lg_sg_chat; do
	psql -X -q -d $db -c "CREATE EXTENSION stategraph" || die "CREATE EXTENSION stategraph failed"
done

# the machine may be shared: the load average goes into the report, sampled before each part
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
echo "start $(loadavg)" >"$RUN/load.txt"
R=()
# throughput: rounds alternating the savers (and which goes first), so that
# a slow spell of the shared machine weighs on both
for c in $CALLERS; do
	for round in $(seq 1 "$ROUNDS"); do
		order="postgres stategraph"; [ $((round % 2)) -eq 0 ] && order="stategraph postgres"
		# memory: LangGraph's MemorySaver, no database (the floor of both savers)
		for kind in memory $order; do
			say "seed graph, $kind, $c caller(s), round $round, ${BENCH_SECONDS}s"
			echo "seed-$kind-$c-$round $(loadavg)" >>"$RUN/load.txt"
			db=lg_pg; [ $kind = stategraph ] && db=lg_sg
			PGDATABASE=$db node "$HERE/lgsaver.mjs" $kind seed "$c" "$BENCH_SECONDS" "$WARMUP_SECONDS" >"$RUN/seed-$kind-$c-$round.json"
			[ $kind = memory ] || psql -X -q -d $db -c CHECKPOINT
		done
	done
done
# the chat with MemorySaver too: LangGraph's own turn time as the chat grows
# (it copies the whole state at every checkpoint), the floor under both savers'
for kind in memory postgres stategraph; do
	say "chat, $kind, $CHAT_TURNS turns"
	echo "chat-$kind $(loadavg)" >>"$RUN/load.txt"
	db=lg_pg_chat; [ $kind = stategraph ] && db=lg_sg_chat
	PGDATABASE=$db node "$HERE/lgsaver.mjs" $kind chat "$CHAT_TURNS" 0 0 >"$RUN/chat-$kind.json"
done
# reads at the last turn: the two savers' calls alternating in one process
say "getState and history pages, both savers alternating"
echo "reads $(loadavg)" >>"$RUN/load.txt"
node "$HERE/lgsaver.mjs" reads lg_pg_chat lg_sg_chat "$GET_STATE_CALLS" "$PAGE_CALLS" >"$RUN/reads.json"

echo "end $(loadavg)" >>"$RUN/load.txt"

node - "$RUN" "$CALLERS" "$ROUNDS" >"$RUN/report.md" <<'EOF'
const fs = require("fs");
const [run, callers, rounds] = process.argv.slice(2);
const med = (xs) => { const v = [...xs].sort((a, b) => a - b); return v[Math.ceil(v.length / 2) - 1]; };
const j = (f) => JSON.parse(fs.readFileSync(`${run}/${f}`, "utf8"));
const f = (x, d = 1) => (x == null ? "" : Number(x).toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }));
const rows = [];
const row = (m, pg, sg, ratio) => rows.push(`| ${m} | ${pg} | ${sg} | ${ratio} |`);
for (const c of callers.split(/\s+/).filter(Boolean)) {
	const rs = Array.from({ length: +rounds }, (_, i) => i + 1);
	const P = rs.map((r) => j(`seed-postgres-${c}-${r}.json`)), S = rs.map((r) => j(`seed-stategraph-${c}-${r}.json`));
	const p = { tps: med(P.map((x) => x.tps)), p50_ms: med(P.map((x) => x.p50_ms)), node_cpu_ms: med(P.map((x) => x.node_cpu_ms)) };
	const s = { tps: med(S.map((x) => x.tps)), p50_ms: med(S.map((x) => x.p50_ms)), node_cpu_ms: med(S.map((x) => x.node_cpu_ms)) };
	const each = rs.map((_, i) => f(S[i].tps / P[i].tps, 2)).join(", ");
	row(`seed graph invokes/s, ${c} caller(s), median of ${rounds} rounds (ratio of each round: ${each})`, f(p.tps), f(s.tps), `${f(s.tps / p.tps, 2)}x`);
	row(`seed graph invoke p50 (ms), ${c} caller(s), median of rounds`, f(p.p50_ms, 2), f(s.p50_ms, 2), `${f(s.p50_ms / p.p50_ms, 2)}x`);
	row(`seed graph: Node's CPU per invoke (ms), ${c} caller(s), median of rounds`, f(p.node_cpu_ms, 2), f(s.node_cpu_ms, 2), `${f(s.node_cpu_ms / p.node_cpu_ms, 2)}x`);
	// the floor: LangGraph with its MemorySaver, no database; a saver that cost
	// nothing would run at that rate, so PostgresSaver's time per invoke over
	// the floor's is the most any saver could gain over it here
	const M = rs.map((r) => j(`seed-memory-${c}-${r}.json`));
	const m = { tps: med(M.map((x) => x.tps)), node_cpu_ms: med(M.map((x) => x.node_cpu_ms)) };
	row(`seed graph, LangGraph alone (MemorySaver, no database): invokes/s, ${c} caller(s), median of rounds (Node's CPU per invoke ${f(m.node_cpu_ms, 2)} ms)`, "", f(m.tps), "");
	row(`seed graph: the ceiling of any saver / PostgresSaver (MemorySaver's invokes/s / PostgresSaver's), ${c} caller(s)`, "", "", `${f(m.tps / p.tps, 2)}x`);
}
const reads = j("reads.json");
const p = { ...j("chat-postgres.json"), ...reads.postgres }, s = { ...j("chat-stategraph.json"), ...reads.stategraph };
row("chat: storage after the turns (kB)", f(p.storage_bytes / 1024), f(s.storage_bytes / 1024), `${f(s.storage_bytes / p.storage_bytes, 3)}x`);
row("chat: final state, messages as JSON text (kB)", f(p.state_bytes / 1024), f(s.state_bytes / 1024), "");
row("chat: storage / final state", `${f(p.storage_bytes / p.state_bytes, 2)}x`, `${f(s.storage_bytes / s.state_bytes, 2)}x`, "");
row("chat: turn time, first 10 turns, mean (ms)", f(p.first_ms, 2), f(s.first_ms, 2), `${f(s.first_ms / p.first_ms, 2)}x`);
row("chat: turn time, last 10 turns, mean (ms)", f(p.last_ms, 2), f(s.last_ms, 2), `${f(s.last_ms / p.last_ms, 2)}x`);
row("chat: last turns / first turns", `${f(p.last_ms / p.first_ms, 2)}x`, `${f(s.last_ms / s.first_ms, 2)}x`, "");
const mc = j("chat-memory.json");
row(`chat, LangGraph alone (MemorySaver, no database): last turns / first turns ${f(mc.last_ms / mc.first_ms, 2)}x (means of 10 turns: ${f(mc.first_ms, 2)} ms, ${f(mc.last_ms, 2)} ms)`, "", "", "");
row("chat: getState at the last turn, median (ms; the savers' calls alternating)", f(p.get_state_ms, 2), f(s.get_state_ms, 2), `${f(s.get_state_ms / p.get_state_ms, 3)}x`);
row("chat: history page of 10 (getStateHistory limit 10), median (ms; alternating)", f(p.page_ms, 2), f(s.page_ms, 2), `${f(s.page_ms / p.page_ms, 3)}x`);
console.log("| measure | PostgresSaver | StategraphSaver | StategraphSaver / PostgresSaver |\n| --- | ---: | ---: | ---: |\n" + rows.join("\n"));
console.log("\nLoad average (1, 5, 15 min) before each part: " + fs.readFileSync(`${run}/load.txt`, "utf8").trim().split("\n").join("; "));
EOF
cp "$RUN/report.md" "$OUT/lgsaver-latest.md"
cat "$RUN/report.md"
