// Differential fuzzer: StategraphSaver against LangGraph's PostgresSaver on the same
// random sequence of saver calls (put with JSON and non-JSON values, putWrites with
// LangGraph's special channels and retries, a step's writes in flight with its put,
// getTuple, list with filters / before / limit across namespaces and threads,
// deleteThread), every result compared; StategraphSaver's copyThread, prune and
// deleteForRuns checked against their documented behaviour (PostgresSaver's tables
// changed to match). Differences README.md documents are left out (ids are UUIDs,
// metadata without NUL or lone surrogates, one writer per namespace, the order of
// pending writes of one task id across task paths).
//   node test/lgdiff_fuzz.mjs seed count   (libpq environment; SGDB / PGDB: the
//   databases of each saver, PGSCHEMA: PostgresSaver's schema, PREFIX: of thread and
//   run ids, so that other threads of the database are left alone)
// Prints "DIFF ..." per difference and "# seed N: K diffs"; exits 1 on a difference.
import pg from "pg";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { uuid6, TASKS, ERROR, INTERRUPT, SCHEDULED, RESUME } from "@langchain/langgraph-checkpoint";
import { StategraphSaver } from "../src/index.js";
import { isDeepStrictEqual, inspect } from "node:util";

const [seedArg, countArg] = process.argv.slice(2);
const SEED = Number(seedArg ?? 1);
const COUNT = Number(countArg ?? 200);
const VERBOSE = process.env.VERBOSE;

function mulberry32(a) {
	return () => {
		a |= 0;
		a = (a + 0x6d2b79f5) | 0;
		let t = Math.imul(a ^ (a >>> 15), 1 | a);
		t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}
const r = mulberry32(SEED * 2654435761);
const int = (lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
const pick = (xs) => xs[Math.floor(r() * xs.length)];
const chance = (p) => r() < p;

function randString() {
	return pick([
		() => "plain",
		() => "nul\u0000inside",
		() => "\u0000",
		() => "lone\ud800hi",
		() => "lone\udfffx",
		() => "pair\ud83d\ude00ok",
		() => "x".repeat(int(1, 3) * 100000),
		() => "back\\u0000slash",
		() => "\\\u0000",
		() => "quote\"\n\t",
		() => "",
		() => "é€𝄞",
		() => JSON.stringify({ a: 1 }),
		() => '{"lc":1,"type":"constructor"}',
	])();
}
function randValue(depth = 0) {
	const k = int(0, depth > 2 ? 9 : 17);
	switch (k) {
		case 0: return randString();
		case 1: return pick([0, -0, 1, -1, 1e308, -1e308, 5e-324, NaN, Infinity, -Infinity, 2 ** 53 + 1, 0.1]);
		case 2: return pick([true, false, null]);
		case 3: return undefined;
		case 4: return new Uint8Array([0, 1, 255, int(0, 255)]);
		case 5: return new Date(pick([0, 1e12, -1e10, 8.64e15]));
		case 6: return randString();
		case 7: return int(-5, 5);
		case 8: return pick([[], {}, [null], [undefined]]);
		case 9: return "s" + int(0, 9);
		case 10: return new Map([[randString(), randValue(depth + 1)], [1, 2]]);
		case 11: return new Set([1, "a", randValue(depth + 1)]);
		case 12:
		case 13: {
			const n = int(0, 4);
			return Array.from({ length: n }, () => randValue(depth + 1));
		}
		default: {
			const o = {};
			for (let i = int(0, 4); i > 0; i--) o[pick(["a", "b", "lc", "type", "__proto__x", "\u0000k", "k\ud800", "id", "z".repeat(int(1, 20))])] = randValue(depth + 1);
			return o;
		}
	}
}

// canonical form that distinguishes the types the serializer keeps
function canon(v, seen = new Set()) {
	if (v === undefined) return { $: "undef" };
	if (v === null) return null;
	if (typeof v === "number") return Object.is(v, -0) ? { $: "-0" } : Number.isNaN(v) ? { $: "NaN" } : !Number.isFinite(v) ? { $: String(v) } : v;
	if (typeof v !== "object") return v;
	if (v instanceof Uint8Array || Buffer.isBuffer(v)) return { $: "bytes", b: Buffer.from(v).toString("hex") };
	if (v instanceof Date) return { $: "date", t: v.getTime() };
	if (v instanceof Map) return { $: "map", e: [...v].map(([a, b]) => [canon(a), canon(b)]) };
	if (v instanceof Set) return { $: "set", e: [...v].map((a) => canon(a)) };
	if (Array.isArray(v)) return v.map((x) => canon(x));
	const o = { $proto: Object.getPrototypeOf(v) === null ? "null" : Object.getPrototypeOf(v)?.constructor?.name };
	for (const k of Object.keys(v).sort()) o[k] = canon(v[k]);
	return o;
}

const PREFIX = process.env.PREFIX ?? "";
const SG = new pg.Pool({ database: process.env.SGDB ?? "sgdb", max: 4 });
const PG = new pg.Pool({ database: process.env.PGDB ?? "pgdb", max: 4 });
const sg = new StategraphSaver(SG);
await sg.setup();
const PGSCHEMA = process.env.PGSCHEMA ?? "public";
const ps = new PostgresSaver(PG, undefined, { schema: PGSCHEMA });
const T = (name) => `"${PGSCHEMA.replace(/"/g, '""')}".${name}`;
await ps.setup();

const diffs = [];
function firstDiff(a, b, path = "") {
	if (isDeepStrictEqual(a, b)) return null;
	if (a && b && typeof a === "object" && typeof b === "object") {
		for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
			const d = firstDiff(a[k], b[k], `${path}.${k}`);
			if (d) return d;
		}
	}
	return [path, a, b];
}
function report(what, a, b) {
	diffs.push(what);
	const d = firstDiff(a, b);
	if (d) { console.log(`DIFF ${what} at ${d[0]}\n  sg: ${inspect(d[1], { depth: 5, maxStringLength: 200 }).slice(0, 1500)}\n  pg: ${inspect(d[2], { depth: 5, maxStringLength: 200 }).slice(0, 1500)}`); return; }
	console.log(`DIFF ${what}\n  sg: ${inspect(a, { depth: 8, maxStringLength: 200 })}\n  pg: ${inspect(b, { depth: 8, maxStringLength: 200 })}`);
}
async function both(what, fn) {
	const out = [];
	for (const s of [sg, ps]) {
		try {
			out.push({ ok: await fn(s) });
		} catch (e) {
			out.push({ err: `${e.code ?? ""} ${e.message}`.slice(0, 300) });
		}
	}
	return out;
}
function cmp(what, [a, b], norm = (x) => x) {
	const ca = a.err !== undefined ? { err: a.err } : { ok: norm(a.ok) };
	const cb = b.err !== undefined ? { err: b.err } : { ok: norm(b.ok) };
	if (ca.err !== undefined && cb.err !== undefined) return;
	if (!isDeepStrictEqual(ca, cb)) report(what, ca, cb);
	if (a.err && /XX000|internal|TRAP|server closed/i.test(a.err)) report(`CRASH ${what}`, a.err, "");
}
const tuple = (t) => {
	if (t === undefined) return undefined;
	const c = canon(t);
	// PostgresSaver orders by task_id, idx; StategraphSaver by LangGraph's writesSortKey (task_path first)
	c.pendingWrites = c.pendingWrites.map((w, i) => [w, i]).sort((a, b) => (a[0][0] < b[0][0] ? -1 : a[0][0] > b[0][0] ? 1 : a[1] - b[1])).map(([w]) => w);
	return c;
};

// ---- state
const threads = ["t1", "t2", "t3", "th\u00e9"].map((t) => PREFIX + t);
const copies = ["c1", "c2"].map((t) => PREFIX + t);
const RUNS = ["r1", "r2"].map((r) => PREFIX + r);
// list of every thread: only this run's threads compared (not the copies: StategraphSaver's only)
const own = (xs) => xs.filter((x) => threads.includes(x.config.configurable.thread_id));
const nss = ["", "", "sub:1", "sub:2|inner:3"];
const heads = new Map(); // key thread\0ns -> {ids: [], values, versions, seen}
let ver = 0;
const CH = ["a", "b", "msgs", "c", "__start__", "branch:to:x", TASKS];

async function opPut(i) {
	const thread = pick(threads);
	const ns = pick(nss);
	const key = `${thread}\u0000${ns}`;
	let h = heads.get(key);
	if (!h) heads.set(key, (h = { ids: [], values: {}, versions: {} }));
	const parent = h.ids.length && chance(0.85) ? (chance(0.8) ? h.ids[h.ids.length - 1] : pick(h.ids)) : undefined;
	const values = { ...h.values };
	const versions = { ...h.versions };
	const newVersions = {};
	for (const c of CH)
		if (chance(0.4)) {
			ver++;
			const v = typeof Object.values(versions)[0] === "string" || chance(0.3) ? `${String(ver).padStart(32, "0")}.0.${int(0, 9)}` : ver;
			versions[c] = v;
			newVersions[c] = v;
			if (chance(0.1)) delete values[c];
			else if (c === "msgs" && Array.isArray(values[c]) && chance(0.7)) values[c] = [...values[c], randValue(1)];
			else values[c] = c === "msgs" || c === TASKS ? [randValue(1)] : randValue();
		}
	const id = uuid6(-1);
	const checkpoint = { v: 4, id, ts: new Date().toISOString(), channel_values: values, channel_versions: versions, versions_seen: { x: { a: 1 } } };
	const latest = parent === undefined || parent === h.ids[h.ids.length - 1];
	const metadata = { source: latest ? pick(["input", "loop", "update", "fork"]) : pick(["update", "fork"]), step: int(-1, 5), parents: ns ? { "": "p" } : {} };
	if (chance(0.5)) metadata.user = pick(["alice", "bob", null, 1, { nested: { deep: pick([1, null]) } }, [1, 2]]);
	if (chance(0.3)) metadata.run_id = pick(RUNS);
	const config = { configurable: { thread_id: thread, checkpoint_ns: ns, ...(parent ? { checkpoint_id: parent } : {}) } };
	const res = await both("put", (s) => s.put(config, checkpoint, metadata, newVersions));
	cmp(`${i} put`, res);
	if (res[0].ok && res[1].ok) {
		h.ids.push(id);
		h.values = values;
		h.versions = versions;
	} else if (VERBOSE) console.log(i, "put failed", res);
}
async function opWrites(i) {
	const key = pick([...heads.keys()]);
	if (!key) return;
	const h = heads.get(key);
	const [thread, ns] = key.split("\u0000");
	const id = chance(0.9) ? pick(h.ids) : uuid6(-1);
	const task = pick(["task-a", "task-b", "task-c", "00000000-0000-0000-0000-000000000000"]);
	const n = int(1, 3);
	const writes = Array.from({ length: n }, () => [pick(["a", "b", "msgs", ERROR, SCHEDULED, INTERRUPT, RESUME, TASKS, "__pregel_push"]), randValue()]);
	const config = { configurable: { thread_id: thread, checkpoint_ns: ns, checkpoint_id: id } };
	const res = await both("writes", (s) => s.putWrites(config, writes, task, task === "task-b" ? "~__pregel_pull, x" : ""));
	cmp(`${i} putWrites`, res);
}
async function opStep(i) {
	// LangGraph's step: the tasks' writes (not awaited, some retried concurrently) then the next put
	const key = pick([...heads.keys()]);
	if (!key) return;
	const h = heads.get(key);
	const [thread, ns] = key.split("\u0000");
	const id = h.ids[h.ids.length - 1];
	const config = { configurable: { thread_id: thread, checkpoint_ns: ns, checkpoint_id: id } };
	const batches = ["task-a", "task-b", "task-c"].filter(() => chance(0.6)).map((t) => [t, Array.from({ length: int(1, 3) }, () => [pick(["a", "b", "msgs", ERROR, INTERRUPT, TASKS]), randValue()])]);
	// the new value of a is often a task's one write to a (as a node's update): stored as a reference to it
	let aval = randValue();
	const aw = batches.flatMap(([, ws]) => ws.filter(([ch]) => ch === "a"));
	if (chance(0.7)) {
		aval = chance(0.5) ? "R".repeat(int(60, 300)) : { long: "x".repeat(int(40, 100)), n: int(0, 9) };
		if (batches.length) {
			for (const [, ws] of batches) for (const w of ws) if (w[0] === "a") w[0] = "b";
			batches[0][1].push(["a", aval]);
		}
	}
	const values = { ...h.values, a: aval };
	const versions = { ...h.versions };
	ver++;
	versions.a = ver;
	const nid = uuid6(-1);
	const cp = { v: 4, id: nid, ts: "t", channel_values: values, channel_versions: versions, versions_seen: {} };
	const res = await both("step", async (s) => {
		const ws = batches.map(([task, writes]) => s.putWrites(config, writes, task, task === "task-b" ? "~__pregel_pull, x" : ""));
		const p = s.put(config, cp, { source: "loop", step: 1, parents: {} }, { a: ver });
		const out = await Promise.allSettled([...ws, p]);
		return out.map((o) => (o.status === "fulfilled" ? "ok" : `${o.reason.code}`));
	});
	cmp(`${i} step`, res);
	if (res[0].ok?.at(-1) === "ok" && res[1].ok?.at(-1) === "ok") {
		h.ids.push(nid);
		h.values = values;
		h.versions = versions;
	}
	cmp(`${i} step get`, await both("get", (s) => s.getTuple(config)), tuple);
}
async function opCopy(i) {
	const src = pick(threads);
	const dst = pick(copies);
	await sg.deleteThread(dst);
	try {
		await sg.copyThread(src, dst);
	} catch (e) {
		report(`${i} copyThread ${src}`, `${e.code} ${e.message}`, "ok");
		return;
	}
	const all = async (t) => {
		const out = [];
		for await (const x of sg.list({ configurable: { thread_id: t } })) out.push(x);
		return out.map((x) => {
			const c = tuple(x);
			c.config.checkpoint_ns = c.config.configurable.checkpoint_ns;
			delete c.config.configurable.thread_id;
			if (c.parentConfig?.configurable) delete c.parentConfig.configurable.thread_id;
			return c;
		});
	};
	const [a, b] = [await all(src), await all(dst)];
	if (!isDeepStrictEqual(a, b)) report(`${i} copyThread ${src}->${dst}`, b, a);
	await sg.deleteThread(dst);
}
async function opPrune(i) {
	// StategraphSaver's prune / deleteForRuns, emulated on PostgresSaver's tables as documented
	const thread = pick(threads);
	if (chance(0.5)) {
		try {
			await sg.prune([thread]);
		} catch (e) {
			return report(`${i} prune ${thread}`, `${e.code} ${e.message}`, "ok");
		}
		await PG.query(`DELETE FROM ${T("checkpoints")} c WHERE thread_id = $1 AND checkpoint_id <> (SELECT max(checkpoint_id) FROM ${T("checkpoints")} d WHERE d.thread_id = c.thread_id AND d.checkpoint_ns = c.checkpoint_ns)`, [thread]);
		for (const [k, h] of heads) if (k.startsWith(`${thread}\u0000`)) h.ids = h.ids.slice(-1);
	} else {
		const runs = pick([[RUNS[0]], [RUNS[1]], RUNS]);
		if (VERBOSE) console.log("deleteForRuns", runs);
		try {
			await sg.deleteForRuns(runs);
		} catch (e) {
			return report(`${i} deleteForRuns`, `${e.code} ${e.message}`, "ok");
		}
		const { rows } = await PG.query(`DELETE FROM ${T("checkpoints")} WHERE metadata->>'run_id' = ANY($1) RETURNING thread_id, checkpoint_ns, checkpoint_id`, [runs]);
		for (const r of rows) {
			const h = heads.get(`${r.thread_id}\u0000${r.checkpoint_ns}`);
			if (h) h.ids = h.ids.filter((x) => x !== r.checkpoint_id);
		}
	}
	await PG.query(`DELETE FROM ${T("checkpoint_writes")} w WHERE NOT EXISTS (SELECT FROM ${T("checkpoints")} c WHERE c.thread_id = w.thread_id AND c.checkpoint_ns = w.checkpoint_ns AND c.checkpoint_id = w.checkpoint_id)`);
	for (const [k, h] of heads) if (h.ids.length === 0) heads.delete(k);
	// the next run goes on from what the newest remaining checkpoint holds
	for (const [k, h] of heads) {
		const [t, ns] = k.split("\u0000");
		const tu = await ps.getTuple({ configurable: { thread_id: t, checkpoint_ns: ns, checkpoint_id: h.ids[h.ids.length - 1] } });
		h.values = tu.checkpoint.channel_values;
		h.versions = tu.checkpoint.channel_versions;
	}
	await opListAll(thread);
}
async function opGet(i) {
	const thread = pick([...threads, `${PREFIX}nothere`]);
	const ns = pick(nss);
	const h = heads.get(`${thread}\u0000${ns}`);
	const id = pick([undefined, undefined, uuid6(-1), h ? pick(h.ids) : undefined, heads.size ? pick(pick([...heads.values()]).ids) : undefined]);
	const config = { configurable: { thread_id: thread, checkpoint_ns: ns, ...(id ? { checkpoint_id: id } : {}) } };
	if (chance(0.1)) delete config.configurable.checkpoint_ns;
	cmp(`${i} getTuple ${inspect(config.configurable)}`, await both("get", (s) => s.getTuple(config)), tuple);
}
async function opList(i) {
	const c = {};
	if (chance(0.8)) c.thread_id = pick([...threads, `${PREFIX}nothere`]);
	if (chance(0.5)) c.checkpoint_ns = pick(nss);
	if (chance(0.1) && heads.size) c.checkpoint_id = pick(pick([...heads.values()]).ids);
	const opts = {};
	if (chance(0.4)) opts.filter = pick([{ source: "loop" }, { user: null }, { user: "alice" }, { user: { nested: { deep: 1 } } }, { user: { nested: {} } }, { step: 2 }, { parents: {} }, { run_id: RUNS[0], source: "input" }, { user: [1] }, { missing: null }, { user: "x\u0000y" }]);
	if (chance(0.3) && heads.size) opts.before = { configurable: { checkpoint_id: pick(pick([...heads.values()]).ids) } };
	if (chance(0.4)) opts.limit = pick([0, 1, 2, 5]);
	// a filter holding a NUL: StategraphSaver reads it as put stores metadata, NULs removed
	// (README: PostgresSaver refuses it, 22P05), so PostgresSaver is asked that filter
	const nulFree = opts.filter && { ...opts, filter: JSON.parse(JSON.stringify(opts.filter).replaceAll("\\u0000", "")) };
	const res = await both("list", async (s) => {
		const out = [];
		for await (const t of s.list({ configurable: c }, s === ps && nulFree ? nulFree : opts)) out.push(t);
		return out;
	});
	// other threads of the database are not compared: a limit over every thread is not
	if (!c.thread_id && opts.limit !== undefined && PREFIX) return;
	cmp(`${i} list ${inspect(c)} ${inspect(opts)}`, res, (xs) => (c.thread_id ? xs : own(xs)).map(tuple));
}
async function opDelete(i) {
	const thread = pick(threads);
	cmp(`${i} deleteThread`, await both("del", (s) => s.deleteThread(thread)));
	for (const k of [...heads.keys()]) if (k.startsWith(`${thread}\u0000`)) heads.delete(k);
}

for (let i = 0; i < COUNT; i++) {
	const op = pick([opPut, opPut, opPut, opPut, opWrites, opWrites, opStep, opStep, opCopy, opPrune, opGet, opGet, opList, opDelete].slice(0, chance(0.03) ? 14 : 13));
	if (VERBOSE) console.log("op", i, op.name);
	await op(i);
}
// full compare at end
for (const t of [...threads, undefined]) await opListAll(t);
async function opListAll(t) {
	const res = await both("listall", async (s) => {
		const out = [];
		for await (const x of s.list(t ? { configurable: { thread_id: t } } : {})) out.push(x);
		return out;
	});
	cmp(`final list ${t}`, res, (xs) => (t ? xs : own(xs)).map(tuple));
}
console.log(`# seed ${SEED}: ${diffs.length} diffs`);
for (const t of [...threads, ...copies]) {
	await sg.deleteThread(t);
	await ps.deleteThread(t);
}
await sg.end();
await SG.end();
await PG.end();
process.exitCode = diffs.length ? 1 : 0;
