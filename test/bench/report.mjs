// Formats one run of test/bench/run.sh as Markdown: node report.mjs <run directory>
// Reads metrics.txt (stategraph side and the machine, "key<TAB>value" lines) and
// the LangGraph.js side's JSON files. Missing numbers print as "-".

import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2];
if (!dir) {
	console.error("usage: node report.mjs <run directory>");
	process.exit(2);
}
const m = {};
for (const line of readFileSync(join(dir, "metrics.txt"), "utf8").split("\n")) {
	const i = line.indexOf("\t");
	if (i > 0) m[line.slice(0, i)] = line.slice(i + 1);
}
const json = (f) => (existsSync(join(dir, f)) ? JSON.parse(readFileSync(join(dir, f), "utf8")) : {});
const lg1 = json("lg_seed1.json");
const lg8 = json("lg_seed8.json");
const lgc = json("lg_chat.json");
const lgd = json("lg_chat_delta.json");
const hasDelta = Object.keys(lgd).length > 0;

const num = (x) => (x === undefined || x === null || x === "" || Number.isNaN(Number(x)) ? null : Number(x));
function fmt(x, digits) {
	x = num(x);
	if (x === null) return "-";
	if (digits === undefined) digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : Math.abs(x) >= 1 ? 2 : 3;
	return x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
const ratio = (a, b) => (num(a) === null || num(b) === null || num(b) === 0 ? null : num(a) / num(b));
const fx = (r) => (r === null ? "-" : `${fmt(r, r >= 10 ? 1 : 2)}x`);
const bytes = (b) => {
	b = num(b);
	if (b === null) return "-";
	if (b >= 1 << 20) return `${fmt(b / (1 << 20), 2)} MB`;
	if (b >= 1 << 10) return `${fmt(b / (1 << 10), 1)} kB`;
	return `${b} B`;
};
const verdict = (ok) => (ok === null ? "-" : ok ? "met" : "**not met**");

const L = [];
const row = (...cells) => L.push(`| ${cells.join(" | ")} |`);

// ------------------------------------------------------------------ seed graph
const sgScale = ratio(m.sg_seed8_tps, m.sg_seed1_tps);
const lgScale = ratio(lg8.tps, lg1.tps);
L.push(`## Seed graph: START -> step1 -> step2 -> step3 -> END, every invoke on a new thread`, "");
L.push(`Throughput over ${m.settings?.match(/BENCH_SECONDS=(\d+)/)?.[1] ?? "?"} s after a warm-up; latency per invoke as the client saw it.`, "");
row("measure", "stategraph", "LangGraph.js", "stategraph / LangGraph");
row("---", "---:", "---:", "---:");
row("invokes/s, 1 client", fmt(m.sg_seed1_tps), fmt(lg1.tps), fx(ratio(m.sg_seed1_tps, lg1.tps)));
row("p50 latency, 1 client (ms)", fmt(m.sg_seed1_p50), fmt(lg1.p50_ms), fx(ratio(m.sg_seed1_p50, lg1.p50_ms)));
row("p99 latency, 1 client (ms)", fmt(m.sg_seed1_p99), fmt(lg1.p99_ms), fx(ratio(m.sg_seed1_p99, lg1.p99_ms)));
// other client counts of BENCH_CLIENTS (the plot seed_clients.png shows them all)
for (const c of Object.keys(m).map((k) => /^sg_seed(\d+)_tps$/.exec(k)?.[1]).filter((c) => c && c !== "1" && c !== "8").map(Number).sort((a, b) => a - b)) {
	const lgc = json(`lg_seed${c}.json`);
	row(`invokes/s, ${c} clients`, fmt(m[`sg_seed${c}_tps`]), fmt(lgc.tps), fx(ratio(m[`sg_seed${c}_tps`], lgc.tps)));
}
row("invokes/s, 8 clients", fmt(m.sg_seed8_tps), fmt(lg8.tps), fx(ratio(m.sg_seed8_tps, lg8.tps)));
row("p50 latency, 8 clients (ms)", fmt(m.sg_seed8_p50), fmt(lg8.p50_ms), fx(ratio(m.sg_seed8_p50, lg8.p50_ms)));
row("p99 latency, 8 clients (ms)", fmt(m.sg_seed8_p99), fmt(lg8.p99_ms), fx(ratio(m.sg_seed8_p99, lg8.p99_ms)));
row("scaling, 8 clients / 1 client", fx(sgScale), fx(lgScale), "");
row("checkpoints per invoke", fmt(m.sg_seed1_checkpoints_per_invoke, 0), fmt(lg1.checkpoints_per_invoke, 0), "");
L.push("");

// ------------------------------------------------------------------ floor
const floorRatio = ratio(m.floor_tps, m.sg_seed1_tps);
L.push(`## Floor: the same ${m.floor_rows ?? "?"} rows written by one plain INSERT statement per invoke, 1 client`, "");
row("measure", "stategraph sg_invoke", "plain SQL floor", "floor / stategraph");
row("---", "---:", "---:", "---:");
row("transactions/s", fmt(m.sg_seed1_tps), fmt(m.floor_tps), fx(floorRatio));
row("p50 latency (ms)", fmt(m.sg_seed1_p50), fmt(m.floor_p50), fx(ratio(m.floor_p50, m.sg_seed1_p50)));
row("p99 latency (ms)", fmt(m.sg_seed1_p99), fmt(m.floor_p99), fx(ratio(m.floor_p99, m.sg_seed1_p99)));
L.push("");

// ------------------------------------------------------------------ chat
const turns = lgc.turns ?? m.settings?.match(/CHAT_TURNS=(\d+)/)?.[1] ?? "?";
const k = Math.min(10, Number(turns) || 10);
const sgStoRatio = ratio(m.sg_chat_storage_bytes, m.sg_chat_state_bytes);
const lgStoRatio = ratio(lgc.storage_bytes, lgc.state_bytes);
const lgdStoRatio = ratio(lgd.storage_bytes, lgd.state_bytes);
const sgGrowth = ratio(m.sg_chat_last_ms, m.sg_chat_first_ms);
const replyGrowth = ratio(m.sg_chat_reply_last_ms, m.sg_chat_reply_first_ms);
L.push(`## Chat: ${turns} turns on one thread, each appends a user message and a ~1 KB assistant reply`, "");
const head = ["measure", "stategraph", "LangGraph.js"];
if (hasDelta) head.push("LangGraph.js DeltaChannel (beta)");
head.push("stategraph / LangGraph");
row(...head);
row(...head.map((_, i) => (i === 0 ? "---" : "---:")));
const crow = (label, s, l, d, r) => (hasDelta ? row(label, s, l, d, r) : row(label, s, l, r));
crow("storage after the chat", bytes(m.sg_chat_storage_bytes), bytes(lgc.storage_bytes), bytes(lgd.storage_bytes), fx(ratio(m.sg_chat_storage_bytes, lgc.storage_bytes)));
crow("final state (messages as JSON text)", bytes(m.sg_chat_state_bytes), bytes(lgc.state_bytes), bytes(lgd.state_bytes), "");
crow("storage / final state", fx(sgStoRatio), fx(lgStoRatio), fx(lgdStoRatio), "");
crow("checkpoints stored", fmt(m.sg_chat_checkpoints, 0), fmt(lgc.checkpoints, 0), fmt(lgd.checkpoints, 0), "");
const mm = (a, b) => (num(a) === null ? "-" : `${fmt(a)} (${fmt(b)})`);
crow(`turn time, turns 1-${k}: mean (median) ms`, mm(m.sg_chat_first_ms, m.sg_chat_first_median_ms), mm(lgc.first_ms, lgc.first_median_ms), mm(lgd.first_ms, lgd.first_median_ms), fx(ratio(m.sg_chat_first_ms, lgc.first_ms)));
crow(`turn time, last ${k} turns: mean (median) ms`, mm(m.sg_chat_last_ms, m.sg_chat_last_median_ms), mm(lgc.last_ms, lgc.last_median_ms), mm(lgd.last_ms, lgd.last_median_ms), fx(ratio(m.sg_chat_last_ms, lgc.last_ms)));
crow("last turns / first turns (means)", fx(sgGrowth), fx(ratio(lgc.last_ms, lgc.first_ms)), fx(ratio(lgd.last_ms, lgd.first_ms)), "");
crow(`turn returning only the new reply: turns 1-${k} / last ${k}, mean ms`,
	`${fmt(m.sg_chat_reply_first_ms)} / ${fmt(m.sg_chat_reply_last_ms)}`, "", "", "");
crow("same, last turns / first turns", fx(replyGrowth), "", "", "");
crow("get_state, median (ms)", fmt(m.sg_get_state_ms), fmt(lgc.get_state_ms), fmt(lgd.get_state_ms), fx(ratio(m.sg_get_state_ms, lgc.get_state_ms)));
crow("get_state built on the server, values not sent (ms)", fmt(m.sg_get_state_server_ms), "", "", "");
crow("floor: the same values read from a plain table and sent (ms)", fmt(m.state_floor_ms), "", "", "");
crow("history page of 10, newest (ms)", fmt(m.sg_page_ms), fmt(lgc.page_ms), fmt(lgd.page_ms), fx(ratio(m.sg_page_ms, lgc.page_ms)));
crow("history page of 10 before the 300th newest checkpoint (ms)", fmt(m.sg_page_deep_ms), fmt(lgc.page_deep_ms), fmt(lgd.page_deep_ms), fx(ratio(m.sg_page_deep_ms, lgc.page_deep_ms)));
crow("whole history, counted in SQL (ms)", fmt(m.sg_history_count_ms), "", "", "");
crow("whole history, every snapshot to the client (ms)", fmt(m.sg_history_full_ms), fmt(lgc.history_ms), fmt(lgd.history_ms), fx(ratio(m.sg_history_full_ms, lgc.history_ms)));
crow("snapshots in the history", fmt(m.sg_history_rows, 0), fmt(lgc.history_count, 0), fmt(lgd.history_count, 0), "");
L.push("");

// ------------------------------------------------------------------ targets
const sgVsLg = ratio(m.sg_seed1_tps, lg1.tps);
const getState = num(m.sg_get_state_ms);
const getStateServer = num(m.sg_get_state_server_ms);
const getStateFloor = ratio(m.sg_get_state_ms, m.state_floor_ms);
L.push("## Targets of issue 5", "");
row("target", "measured", "");
row("---", "---:", "---");
row("invokes/s from 1 client >= 10x LangGraph.js", fx(sgVsLg), verdict(sgVsLg === null ? null : sgVsLg >= 10));
row("within 2x of the plain-SQL floor (floor tps / invoke tps <= 2)", fx(floorRatio), verdict(floorRatio === null ? null : floorRatio <= 2));
row("chat storage <= 3x the final state", fx(sgStoRatio), verdict(sgStoRatio === null ? null : sgStoRatio <= 3));
row("last turns no slower than 1.5x the first: turn returning the new reply", fx(replyGrowth), verdict(replyGrowth === null ? null : replyGrowth <= 1.5));
row("the same, turn returning the whole state to the client", fx(sgGrowth), verdict(sgGrowth === null ? null : sgGrowth <= 1.5));
row("get_state < 1 ms: snapshot built on the server", `${fmt(getStateServer)} ms`, verdict(getStateServer === null ? null : getStateServer < 1));
row("the same, snapshot with all its values sent to the client", `${fmt(getState)} ms (${fx(getStateFloor)} the floor)`, verdict(getState === null ? null : getState < 1));
row("8 clients >= 1.6x 1 client", fx(sgScale), verdict(sgScale === null ? null : sgScale >= 1.6));
L.push("");

// ------------------------------------------------------------------ machine
L.push("## Machine and software", "");
const line = (k, v) => L.push(`- ${k}: ${v ?? "-"}`);
line("date", m.date);
line("CPU", `${m.cpu ?? "-"}, ${m.cores ?? "?"} cores, ${m.ram_gb ?? "?"} GB RAM`);
line("cluster's file system", m.fs);
line("disk, pg_test_fsync -s 1 (one 8 kB write, fdatasync)", m.fdatasync);
line("load average before / after", `${m.load_before ?? "-"} / ${m.load_after ?? "-"}`);
line("PostgreSQL", `${m.pg_version ?? "-"} (fresh cluster; ${m.pg_settings ?? ""})`);
line("stategraph", m.sg_version);
line("LangGraph.js", `@langchain/langgraph ${m.lg_version ?? "-"}, @langchain/langgraph-checkpoint-postgres ${m.lg_pg_version ?? "-"}, @langchain/core ${m.lg_core_version ?? "-"}, pg ${m.pg_driver_version ?? "-"}, Node ${m.node_version ?? "-"}`);
line("settings", m.settings);
if (m.sg_chat_storage_split) {
	const [ct, ci, tt, ti] = m.sg_chat_storage_split.split(" ");
	line("stategraph chat storage", `checkpoints ${bytes(ct)} (heap, TOAST, FSM, VM) + ${bytes(ci)} indexes; threads ${bytes(tt)} + ${bytes(ti)} indexes`);
}
console.log(L.join("\n"));
