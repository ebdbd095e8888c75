// Real graphs on StategraphSaver, PostgresSaver and MemorySaver: the results of each
// invoke, getState (with subgraphs) and getStateHistory compared (ids and timestamps
// aside). Graphs: parallel branches, one failing once then retried; a subgraph node
// interrupted (payload and resume of non-JSON values) and resumed with Command; Send
// fan-out with NUL and lone surrogates in its arguments; two interrupts at once
// resumed by id; a nested subgraph jumping to its parent (Command.PARENT); a subgraph
// invoked by parallel Send tasks, each interrupted; updateState on an older checkpoint
// (README, Differences: PostgresSaver then reads the older branch's values, so that
// comparison is with MemorySaver only).
//   node test/lgdiff_graphs.mjs   (libpq environment; SGDB / PGDB: the databases of
//   each saver, PGSCHEMA: PostgresSaver's schema). Prints "# graphs: N diffs"; exits 1 on one.
import pg from "pg";
import { Annotation, StateGraph, START, END, interrupt, Command, Send } from "@langchain/langgraph";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { MemorySaver } from "@langchain/langgraph-checkpoint";
import { StategraphSaver } from "../src/index.js";
import { isDeepStrictEqual, inspect } from "node:util";

const SG = new pg.Pool({ database: process.env.SGDB ?? "sgdb2", max: 6 });
const PG = new pg.Pool({ database: process.env.PGDB ?? "pgdb2", max: 6 });
const savers = { sg: new StategraphSaver(SG), pg: new PostgresSaver(PG, undefined, { schema: process.env.PGSCHEMA ?? "public" }), mem: new MemorySaver() };
await savers.sg.setup();
await savers.pg.setup();

const weird = () => ({
	bytes: new Uint8Array([0, 255, 7]),
	date: new Date(0),
	map: new Map([["k", { n: 1 }], [2, "two"]]),
	set: new Set([1, "a"]),
	nul: "a\u0000b",
	lone: "x\ud800y",
	big: 1e308,
	negz: -0,
	nan: NaN,
	undef: undefined,
	nested: { a: [1, { b: "\u0000" }], c: null },
	long: "L".repeat(200000),
});

function canon(v) {
	if (v === undefined) return { $: "undef" };
	if (v === null) return null;
	if (typeof v === "number") return Object.is(v, -0) ? { $: "-0" } : Number.isNaN(v) ? { $: "NaN" } : !Number.isFinite(v) ? { $: String(v) } : v;
	if (typeof v === "function") return { $: "fn" };
	if (typeof v === "string") return v.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "U");
	if (typeof v !== "object") return v;
	if (v instanceof Uint8Array) return { $: "bytes", b: Buffer.from(v).toString("hex") };
	if (v instanceof Date) return { $: "date", t: v.getTime() };
	if (v instanceof Map) return { $: "map", e: [...v].map(([a, b]) => [canon(a), canon(b)]) };
	if (v instanceof Set) return { $: "set", e: [...v].map(canon) };
	if (Array.isArray(v)) return v.map(canon);
	if (Array.isArray(v.__interrupt__)) v = { ...v, __interrupt__: [...v.__interrupt__].sort((a, b) => JSON.stringify(canon(a.value)) < JSON.stringify(canon(b.value)) ? -1 : 1) };
	const o = {};
	for (const k of Object.keys(v).sort()) if (!["checkpoint_id", "ts", "createdAt", "thread_id", "id", "interrupt_id", "parent_checkpoint_id", "checkpoint_map"].includes(k)) o[canon(k)] = canon(v[k]);
	if (v.constructor && v.constructor !== Object) o.$class = v.constructor.name;
	return o;
}

let fails = 0;
function compare(what, x, y, names) {
	if (isDeepStrictEqual(x, y)) return;
	fails++;
	const d = firstDiff(x, y);
	console.log(`DIFF ${what} (${names}) at ${d[0]}\n  ${names[0]}: ${inspect(d[1], { depth: 4 }).slice(0, 800)}\n  ${names[1]}: ${inspect(d[2], { depth: 4 }).slice(0, 800)}`);
}
function firstDiff(a, b, path = "") {
	if (isDeepStrictEqual(a, b)) return null;
	if (a && b && typeof a === "object" && typeof b === "object")
		for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
			const d = firstDiff(a[k], b[k], `${path}.${k}`);
			if (d) return d;
		}
	return [path, a, b];
}

const last = (a, b) => (b === undefined ? a : b);
const State = Annotation.Root({
	log: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }),
	blob: Annotation({ reducer: last }),
	answer: Annotation({ reducer: last }),
	fanned: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

function build(saver, failures) {
	const sub = new StateGraph(State)
		.addNode("s1", () => ({ log: ["s1"], blob: weird() }))
		.addNode("ask", () => {
			const a = interrupt({ q: "sub?", payload: weird() });
			return { log: [`sub-answer:${typeof a === "object" ? JSON.stringify(canon(a)) : a}`], answer: a };
		})
		.addEdge(START, "s1")
		.addEdge("s1", "ask")
		.addEdge("ask", END)
		.compile();
	return new StateGraph(State)
		.addNode("start", () => ({ log: ["start"], blob: { when: new Date(5), m: new Map([["x", 1]]) } }))
		.addNode("left", () => ({ log: ["left"] }))
		.addNode("right", () => {
			if (failures.right-- > 0) throw new Error("right failed \u0000 once");
			return { log: ["right"] };
		})
		.addNode("sub", sub)
		.addNode("worker", (s) => ({ fanned: [`w${s.n}:${s.v}`], log: [`worker${s.n}`] }))
		.addNode("ask", () => {
			const a = interrupt("top?");
			return { log: [`top-answer:${a}`] };
		})
		.addNode("join", (s) => ({ log: [`join:${s.fanned.length}`] }))
		.addEdge(START, "start")
		.addEdge("start", "left")
		.addEdge("start", "right")
		.addEdge("left", "sub").addEdge("right", "sub")
		.addConditionalEdges("sub", () => [0, 1, 2].map((n) => new Send("worker", { n, v: "\u0000\ud800" })))
		.addEdge("worker", "ask")
		.addEdge("ask", "join")
		.addEdge("join", END)
		.compile({ checkpointer: saver });
}

async function runOn(name, thread) {
	const saver = savers[name];
	const app = build(saver, { right: 1 });
	const cfg = { configurable: { thread_id: thread } };
	const events = [];
	const step = async (input) => {
		try {
			const r = await app.invoke(input, cfg);
			events.push(canon(r));
		} catch (e) {
			events.push({ err: e.message });
		}
	};
	await step({ log: ["in"] });
	await step(null); // retry after the error
	await step(new Command({ resume: { ok: true, when: new Date(7), bytes: new Uint8Array([1]) } }));
	await step(new Command({ resume: "yes" }));
	const state = await app.getState(cfg, { subgraphs: true });
	const hist = [];
	for await (const s of app.getStateHistory(cfg)) hist.push(s);
	// update on an older checkpoint, then run from it
	const older = hist[Math.floor(hist.length / 2)];
	let fork;
	try {
		const c = await app.updateState(older.config, { log: ["updated"], blob: weird() });
		fork = canon(await app.getState(c));
	} catch (e) {
		fork = { err: e.message };
	}
	const hist2 = [];
	for await (const s of app.getStateHistory(cfg, { limit: 3 })) hist2.push(s);
	return { events, state: canon(state), hist: hist.map(canon), fork, hist2: hist2.map(canon) };
}

// two interrupts in parallel branches, resumed by id; a nested subgraph that jumps to its parent (Command.PARENT)
function build2(saver) {
	const inner = new StateGraph(State)
		.addNode("i1", () => {
			const a = interrupt({ inner: new Map([["m", new Date(3)]]) });
			return new Command({ graph: Command.PARENT, goto: "after", update: { log: [`inner:${JSON.stringify(canon(a))}`], blob: a } });
		})
		.addEdge(START, "i1")
		.compile();
	const mid = new StateGraph(State).addNode("inner", inner).addEdge(START, "inner").addEdge("inner", END).compile();
	return new StateGraph(State)
		.addNode("p1", () => ({ log: [`p1:${interrupt("one")}`] }))
		.addNode("p2", () => ({ log: [`p2:${interrupt("two")}`] }))
		.addNode("mid", mid, { ends: ["after"] })
		.addNode("after", (s) => ({ log: ["after"], fanned: [s.blob instanceof Map ? "map" : typeof s.blob] }))
		.addEdge(START, "p1")
		.addEdge(START, "p2")
		.addEdge("p1", "mid")
		.addEdge("p2", "mid")
		.addEdge("after", END)
		.compile({ checkpointer: saver });
}

async function runOn2(name, thread) {
	const app = build2(savers[name]);
	const cfg = { configurable: { thread_id: thread } };
	const events = [];
	const step = async (input) => {
		try {
			const r = await app.invoke(input, cfg);
			events.push(canon(r));
			return r;
		} catch (e) {
			events.push({ err: e.message });
		}
	};
	const r = await step({ log: ["go"] });
	const ints = r?.__interrupt__ ?? [];
	const byValue = Object.fromEntries(ints.map((i) => [i.value, i.id]));
	await step(new Command({ resume: { [byValue.one]: "A\u0000", [byValue.two]: new Uint8Array([9]) } }));
	const s1 = await app.getState(cfg, { subgraphs: true });
	await step(new Command({ resume: new Set(["s"]) }));
	const state = await app.getState(cfg, { subgraphs: true });
	const hist = [];
	for await (const h of app.getStateHistory(cfg)) hist.push(h);
	const hist2 = [];
	for await (const h of app.getStateHistory(cfg, { filter: { source: "loop" }, limit: 2 })) hist2.push(h);
	return { events, s1: canon(s1), state: canon(state), hist: hist.map(canon), hist2: hist2.map(canon) };
}

const res2 = {};
for (const name of ["sg", "pg", "mem"]) {
	try {
		res2[name] = await runOn2(name, `g2${process.pid}-${name}`);
	} catch (e) {
		res2[name] = { crash: e.stack };
	}
}
for (const k of ["events", "s1", "state", "hist", "hist2"]) {
	compare(`2 ${k}`, res2.sg[k] ?? res2.sg, res2.pg[k] ?? res2.pg, ["sg", "pg"]);
	compare(`2 ${k}`, res2.sg[k] ?? res2.sg, res2.mem[k] ?? res2.mem, ["sg", "mem"]);
}
if (process.env.VERBOSE) console.log(inspect(res2.sg.events, { depth: 6 }));

// a subgraph run by Send tasks in parallel, each interrupted; resumed together, then updateState inside a subgraph
function build3(saver) {
	const SubState = Annotation.Root({ n: Annotation({ reducer: last }), log: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }) });
	const sub = new StateGraph(SubState)
		.addNode("w1", (s) => ({ log: [`w1:${s.n}`] }))
		.addNode("w2", (s) => ({ log: [`w2:${s.n}:${JSON.stringify(canon(interrupt({ n: s.n })))}`] }))
		.addEdge(START, "w1")
		.addEdge("w1", "w2")
		.addEdge("w2", END)
		.compile();
	return new StateGraph(State)
		.addNode("fan", () => ({ log: ["fan"] }))
		.addNode("sub", async (s, config) => {
			const r = await sub.invoke({ n: s.n }, config);
			return { fanned: r.log };
		})
		.addEdge(START, "fan")
		.addConditionalEdges("fan", () => [1, 2, 3].map((n) => new Send("sub", { n })))
		.addEdge("sub", END)
		.compile({ checkpointer: saver });
}
async function runOn3(name, thread) {
	const app = build3(savers[name]);
	const cfg = { configurable: { thread_id: thread } };
	const events = [];
	const step = async (input) => {
		try {
			const r = await app.invoke(input, cfg);
			events.push(canon(r));
			return r;
		} catch (e) {
			events.push({ err: e.message });
		}
	};
	const r = await step({ log: ["go"] });
	const st = await app.getState(cfg, { subgraphs: true });
	const resume = Object.fromEntries((r?.__interrupt__ ?? []).map((i) => [i.id, { v: i.value.n * 10, d: new Date(i.value.n) }]));
	let upd;
	try {
		const subState = st.tasks.find((t) => t.state)?.state;
		upd = subState ? canon(await app.updateState(subState.config, { log: ["patched"] })) : "no substate";
	} catch (e) {
		upd = { err: e.message };
	}
	await step(new Command({ resume }));
	const state = await app.getState(cfg, { subgraphs: true });
	const hist = [];
	for await (const h of app.getStateHistory(cfg)) hist.push(h);
	return { events, st: canon(st), upd, state: canon(state), hist: hist.map(canon) };
}
const res3 = {};
for (const name of ["sg", "pg", "mem"]) {
	try {
		res3[name] = await runOn3(name, `g3${process.pid}-${name}`);
	} catch (e) {
		res3[name] = { crash: e.stack };
	}
}
for (const k of ["events", "st", "upd", "state", "hist"]) {
	compare(`3 ${k}`, res3.sg[k] ?? res3.sg, res3.pg[k] ?? res3.pg, ["sg", "pg"]);
	compare(`3 ${k}`, res3.sg[k] ?? res3.sg, res3.mem[k] ?? res3.mem, ["sg", "mem"]);
}
if (process.env.VERBOSE) console.log(inspect([res3.sg.events, res3.sg.upd], { depth: 6 }));

const tag = `g${process.pid}`;
const res = {};
for (const name of ["sg", "pg", "mem"]) {
	try {
		res[name] = await runOn(name, `${tag}-${name}`);
	} catch (e) {
		res[name] = { crash: e.stack };
	}
}
for (const k of ["events", "state", "hist", "fork", "hist2"]) {
	// after updateState on an older checkpoint PostgresSaver may read the older branch's values (README)
	if (!["fork", "hist2"].includes(k)) compare(k, res.sg[k] ?? res.sg, res.pg[k] ?? res.pg, ["sg", "pg"]);
	compare(k, res.sg[k] ?? res.sg, res.mem[k] ?? res.mem, ["sg", "mem"]);
}
console.log(`# graphs: ${fails} diffs; history length sg ${res.sg.hist?.length} pg ${res.pg.hist?.length}`);
if (process.env.VERBOSE) console.log(inspect(res.sg.events, { depth: 6 }));
for (const t of [`${tag}-`, `g2${process.pid}-`, `g3${process.pid}-`])
	for (const name of ["sg", "pg"]) await savers[name].deleteThread(`${t}${name}`);
process.exitCode = fails ? 1 : 0;
await SG.end();
await PG.end();
