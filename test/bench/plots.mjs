// Writes the data files that plots.gp draws, from one run of test/bench/run.sh:
//     node plots.mjs <run directory> "<client counts>"
// chat_turns.dat    turn, turn time in ms: stategraph, stategraph returning only the
//                   new reply, LangGraph.js PostgresSaver, LangGraph.js DeltaChannel;
//                   then the same four as means of the last 10 turns (the plot's
//                   thick lines: a shared machine makes single turns noisy)
// chat_storage.dat  turn, storage in MB after that turn, the same three systems
// seed_clients.dat  clients, invokes/s of the seed graph: stategraph, LangGraph.js
// A number a run does not have (DeltaChannel skipped, say) is written as "?".

import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";

const [dir, clientList] = process.argv.slice(2);
if (!dir) {
	console.error('usage: node plots.mjs <run directory> "<client counts>"');
	process.exit(2);
}
const file = (f) => join(dir, f);
const lines = (f) => (existsSync(file(f)) ? readFileSync(file(f), "utf8").split("\n").filter((l) => l.trim() !== "") : []);
const json = (f) => (existsSync(file(f)) ? JSON.parse(readFileSync(file(f), "utf8")) : {});
const metrics = {};
for (const l of lines("metrics.txt")) {
	const i = l.indexOf("\t");
	metrics[l.slice(0, i)] = l.slice(i + 1);
}
const cell = (x) => (x === undefined || x === null || Number.isNaN(Number(x)) ? "?" : String(x));
const mb = (b) => (b === undefined || b === null ? undefined : (Number(b) / (1 << 20)).toFixed(4));

const sgTurns = lines("sg_chat_turns.txt").map(Number);
const sgReply = lines("sg_chat_reply_turns.txt").map(Number);
const sgStorage = new Map(lines("sg_chat_storage.txt").map((l) => l.trim().split(/\s+/).map(Number)));
const lg = json("lg_chat.json");
const lgd = json("lg_chat_delta.json");
const turns = Math.max(sgTurns.length, lg.turn_ms?.length ?? 0);
if (turns === 0) {
	console.error("plots.mjs: no chat turns in " + dir);
	process.exit(1);
}

const series = [sgTurns, sgReply, lg.turn_ms ?? [], lgd.turn_ms ?? []];
const WINDOW = 10;
function rolling(xs, i) {
	const w = xs.slice(Math.max(0, i + 1 - WINDOW), i + 1).filter((x) => x !== undefined && x !== null);
	return i < xs.length && w.length > 0 ? (w.reduce((a, b) => a + b, 0) / w.length).toFixed(3) : undefined;
}
const t = ["# turn\tstategraph\tstategraph_reply_only\tlanggraph\tlanggraph_delta\t(the same, mean of the last 10 turns)"];
const s = ["# turn\tstategraph_MB\tlanggraph_MB\tlanggraph_delta_MB"];
for (let i = 0; i < turns; i++) {
	t.push([i + 1, ...series.map((xs) => xs[i]), ...series.map((xs) => rolling(xs, i))].map(cell).join("\t"));
	s.push([i + 1, mb(sgStorage.get(i + 1)), mb(lg.turn_storage_bytes?.[i]), mb(lgd.turn_storage_bytes?.[i])].map(cell).join("\t"));
}
writeFileSync(file("chat_turns.dat"), t.join("\n") + "\n");
writeFileSync(file("chat_storage.dat"), s.join("\n") + "\n");

const c = ["# clients\tstategraph_tps\tlanggraph_tps"];
for (const n of (clientList || "1 8").split(/\s+/).filter(Boolean).map(Number).sort((a, b) => a - b))
	c.push([n, metrics[`sg_seed${n}_tps`], json(`lg_seed${n}.json`).tps].map(cell).join("\t"));
writeFileSync(file("seed_clients.dat"), c.join("\n") + "\n");

// the plots' subtitle: when and where
writeFileSync(file("plot_note.txt"), `${metrics.date ?? ""}, ${metrics.cores ?? "?"} cores, PostgreSQL ${(metrics.pg_version ?? "").split(" ")[0]}, LangGraph.js ${metrics.lg_version ?? "?"}`);
