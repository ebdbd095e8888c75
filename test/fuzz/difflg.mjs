// Differential test: stategraph's engine (graphs of SQL nodes) against
// LangGraph.js (MemorySaver) on random graphs. See test/fuzz/RESULTS.md.
//
//   node test/fuzz/difflg.mjs [seed] [count] [--tap] [--verbose] [--only=i]
//
// Graph i of a run is generated from PRNG seed `seed + i`, so any divergence
// is reproduced alone with `--only=i`. Connects with the libpq environment to a
// database where stategraph may be created (a throwaway cluster: it creates
// schema difflg_<seed>_<pid> for the functions of its graphs, drops each
// graph, its thread and its functions when it is done, and the schema at the end). Prints one line per graph, "ok N - ..." or
// "not ok N - ..." with the first difference, and ends with "# pass N" /
// "# fail N" (node:test's summary lines, which test/run.sh counts).
//
// Modules come from clients/langgraph-js/node_modules (LangGraph.js 1.7.3, pg).

import { createRequire } from "node:module";
import { pathToFileURL, fileURLToPath } from "node:url";

const client = fileURLToPath(new URL("../../clients/langgraph-js/", import.meta.url));
const require = createRequire(`${client}package.json`);
const load = async (name) => import(pathToFileURL(require.resolve(name)).href);
const pg = (await load("pg")).default;
const { StateGraph, Annotation, START, END, MemorySaver, Send, Command, interrupt } = await load("@langchain/langgraph");

const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a.startsWith("--") && !a.includes("=")));
const opt = Object.fromEntries(args.filter((a) => a.includes("=")).map((a) => a.slice(2).split("=")));
const [seedArg, countArg] = args.filter((a) => !a.startsWith("--"));
const SEED = Number(seedArg ?? 1);
const COUNT = Number(countArg ?? 100);
const VERBOSE = flags.has("--verbose");

// ---------------------------------------------------------------- PRNG
function mulberry32(a) {
	return () => {
		a |= 0;
		a = (a + 0x6d2b79f5) | 0;
		let t = Math.imul(a ^ (a >>> 15), 1 | a);
		t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}
function rng(seed) {
	const r = mulberry32(seed * 2654435761);
	const int = (lo, hi) => lo + Math.floor(r() * (hi - lo + 1)); // inclusive
	const pick = (xs) => xs[Math.floor(r() * xs.length)];
	const chance = (p) => r() < p;
	const sample = (xs, k) => {
		const s = [...xs];
		for (let i = s.length - 1; i > 0; i--) {
			const j = Math.floor(r() * (i + 1));
			[s[i], s[j]] = [s[j], s[i]];
		}
		return s.slice(0, k);
	};
	return { int, pick, chance, sample };
}

// ---------------------------------------------------------------- generation
// Channels: trace (append), count (add), last (replace), bag (merge).
// A node writes trace [name], count +inc, and, if it says so, last = name:count
// and bag {name: count}; count is read from the state it receives.
// A router maps count to one of its options (a name, a path_map key, or a list
// of them); once count reaches its bound it goes to its exit.
export function generate(seed) {
	const R = rng(seed);
	const n = R.int(2, 6);
	const names = "abcdefgh".slice(0, n).split("");
	const nodes = names.map((name) => ({
		name,
		inc: R.int(1, 3),
		setLast: R.chance(0.35),
		setBag: R.chance(0.3),
		ask: R.chance(0.12), // asks a human: bag {ask_<name>: answer}
		failAt: R.chance(0.1) ? R.int(0, 12) : null, // fails when count is failAt
	}));
	const edges = []; // [source, target]
	const joins = []; // [[sources], target]
	const routers = []; // {source, options, bound, exit, pathMap: null | "object" | "array"}
	const has = (s, t) => edges.some(([a, b]) => a === s && b === t);
	const addEdge = (s, t) => { if (!has(s, t)) edges.push([s, t]); };

	// entry: START -> first node, sometimes a fan-out from START
	addEdge(START, names[0]);
	if (n > 1 && R.chance(0.2)) addEdge(START, R.pick(names.slice(1)));

	for (let i = 0; i < n; i++) {
		const src = names[i];
		const later = names.slice(i + 1);
		const kind = R.chance(0.4) ? "cond" : "static";
		if (kind === "static") {
			const k = R.int(1, 2);
			for (let j = 0; j < k; j++) {
				let t;
				if (R.chance(0.12)) t = R.pick(names); // a cycle (bounded by recursion_limit only)
				else t = later.length && R.chance(0.8) ? R.pick(later) : END;
				addEdge(src, t);
			}
		} else {
			const targets = [...names, END];
			const nopt = R.int(1, 3);
			const options = [];
			for (let j = 0; j < nopt; j++) {
				if (R.chance(0.15)) options.push({ send: R.pick(names), args: [R.int(0, 5), R.int(0, 5)].slice(0, R.int(1, 2)) });
				else if (R.chance(0.3)) options.push(R.sample(targets, R.int(2, 3)));
				else options.push(R.pick(later.length && R.chance(0.6) ? later : targets));
			}
			const pathMap = options.some((o) => o.send) ? null : R.pick([null, null, "object", "array"]);
			routers.push({ source: src, options, bound: R.int(2, 12), exit: R.chance(0.8) ? END : R.pick(names), pathMap });
		}
	}
	// every node reachable from START (stategraph's sg_compile checks it: SG001)
	for (;;) {
		const seen = reachable(names, edges, joins, routers);
		const missing = names.find((x) => !seen.has(x));
		if (!missing) break;
		addEdge(R.pick([START, ...names.filter((x) => seen.has(x))]), missing);
	}
	// a join now and then
	if (n >= 3 && R.chance(0.35)) {
		const [x, y, z] = R.sample(names, 3);
		joins.push([[x, y].sort(), z]);
	}
	const interruptBefore = R.chance(0.15) ? R.sample(names, R.int(1, 2)).sort() : [];
	const interruptAfter = R.chance(0.15) ? R.sample(names, R.int(1, 2)).sort() : [];
	const input = { trace: [], count: R.int(0, 3) };
	if (R.chance(0.3)) input.last = "in";
	if (R.chance(0.2)) input.bag = { in: 1 };
	const run = {
		input,
		recursionLimit: R.chance(0.25) ? R.int(2, 6) : 25,
		resumes: R.int(1, 3),
		update: R.chance(0.5) ? { asNode: R.chance(0.6) ? R.pick(names) : null, values: updateValues(R) } : null,
		travel: R.chance(0.4) ? R.int(0, 1000) : null,
		travelUpdate: R.chance(0.3) ? { asNode: R.pick(names), values: updateValues(R) } : null,
	};
	return { seed, nodes, edges, joins, routers, interruptBefore, interruptAfter, run };
}
function updateValues(R) {
	const v = {};
	if (R.chance(0.6)) v.trace = ["u"];
	if (R.chance(0.5)) v.count = R.int(1, 4);
	if (R.chance(0.4)) v.last = "u";
	if (R.chance(0.2)) v.bag = { u: 1 };
	return v;
}
function reachable(names, edges, joins, routers) {
	const seen = new Set([START]);
	for (let grew = true; grew;) {
		grew = false;
		const reach = (t) => { if (!seen.has(t)) { seen.add(t); grew = true; } };
		for (const [a, b] of edges) if (seen.has(a)) reach(b);
		for (const [ss, t] of joins) if (ss.every((x) => seen.has(x))) reach(t);
		for (const r of routers) if (seen.has(r.source)) routerTargets(r).forEach(reach);
	}
	return seen;
}
// the node names a router can reach (keys of its path_map translated)
function routerTargets(r) {
	const out = new Set([r.exit]);
	for (const o of r.options) for (const t of o.send ? [o.send] : [o].flat()) out.add(t);
	return [...out];
}
// path_map keys: "k_<target>" (so a key differs from every node name)
const keyOf = (r, t) => (r.pathMap === "object" ? `k_${t}` : t);
function pathMapOf(r) {
	const ts = routerTargets(r);
	if (r.pathMap === "object") return Object.fromEntries(ts.map((t) => [keyOf(r, t), t]));
	if (r.pathMap === "array") return ts;
	return null;
}

// the update of a node and the answer of a router: the JS side
function nodeUpdate(node, state) {
	const count = state.count ?? 0;
	if (node.failAt === count) throw new Error("division by zero");
	const u = { trace: [node.name], count: node.inc };
	if (node.setLast) u.last = `${node.name}:${count}`;
	const bag = {};
	if (node.setBag) bag[node.name] = count;
	if (node.ask) bag[`ask_${node.name}`] = interrupt(`${node.name}?`);
	if (Object.keys(bag).length) u.bag = bag;
	return u;
}
function routerAnswer(r, state) {
	const count = state.count ?? 0;
	const o = count >= r.bound ? r.exit : r.options[count % r.options.length];
	if (o.send) return o.args.map((k) => new Send(o.send, { count: k }));
	return Array.isArray(o) ? o.map((t) => keyOf(r, t)) : keyOf(r, o);
}

// ---------------------------------------------------------------- LangGraph.js side
export function buildLG(g) {
	const State = Annotation.Root({
		trace: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }),
		count: Annotation({ reducer: (a, b) => a + b, default: () => 0 }),
		last: Annotation(),
		bag: Annotation({ reducer: (a, b) => ({ ...a, ...b }), default: () => ({}) }),
	});
	const b = new StateGraph(State);
	for (const node of g.nodes) b.addNode(node.name, (state) => nodeUpdate(node, state));
	for (const [s, t] of g.edges) b.addEdge(s, t);
	for (const [ss, t] of g.joins) b.addEdge(ss, t);
	for (const r of g.routers) {
		const pm = pathMapOf(r);
		if (pm) b.addConditionalEdges(r.source, (state) => routerAnswer(r, state), pm);
		else b.addConditionalEdges(r.source, (state) => routerAnswer(r, state));
	}
	return b.compile({
		checkpointer: new MemorySaver(),
		interruptBefore: g.interruptBefore.length ? g.interruptBefore : undefined,
		interruptAfter: g.interruptAfter.length ? g.interruptAfter : undefined,
	});
}

function lgError(e) {
	const name = e?.name ?? e?.constructor?.name ?? "Error";
	if (name === "GraphRecursionError" || /Recursion limit/.test(e?.message)) return "recursion";
	if (/can receive only one value per step|Invalid update for channel/.test(e?.message)) return "invalid_update";
	if (/Ambiguous update|as_node|asNode/i.test(e?.message)) return "ambiguous_update";
	if (e?.message === "division by zero") return "node_error";
	// several nodes of one step failed (stategraph reports the first)
	if (name === "AggregateError" && e.errors?.every((x) => x?.message === "division by zero")) return "node_error";
	return `${name}: ${e?.message}`;
}

class LGEngine {
	constructor(g) { this.app = buildLG(g); }
	cfg(thread, checkpointId, recursionLimit) {
		const configurable = { thread_id: thread };
		if (checkpointId) configurable.checkpoint_id = checkpointId;
		return { configurable, recursionLimit: recursionLimit ?? 25 };
	}
	async invoke(thread, input, { checkpointId, recursionLimit = 25, resume } = {}) {
		if (resume !== undefined) input = new Command({ resume });
		// a resume in LangGraph may take one step more than a run with input or
		// from an older checkpoint (README, "Differences from LangGraph":
		// stategraph allows limit + 1 in every case)
		if ((input == null || resume !== undefined) && !checkpointId) recursionLimit -= 1;
		try {
			return { values: await this.app.invoke(input, this.cfg(thread, checkpointId, recursionLimit)) };
		} catch (e) {
			return { error: lgError(e) };
		}
	}
	async update(thread, values, asNode, checkpointId) {
		try {
			const c = await this.app.updateState(this.cfg(thread, checkpointId), values, asNode ?? undefined);
			return { id: c.configurable.checkpoint_id };
		} catch (e) {
			return { error: lgError(e) };
		}
	}
	async history(thread) {
		const out = [];
		for await (const s of this.app.getStateHistory({ configurable: { thread_id: thread } })) {
			out.push({
				id: s.config.configurable.checkpoint_id,
				parent: s.parentConfig?.configurable?.checkpoint_id ?? null,
				step: s.metadata?.step,
				source: s.metadata?.source,
				next: [...s.next].sort(),
				values: s.values,
			});
		}
		return out;
	}
}

// ---------------------------------------------------------------- stategraph side
const q = (s) => `'${String(s).replace(/'/g, "''")}'`;
const lit = (v) => `${q(JSON.stringify(v))}::jsonb`;
const textArray = (xs) => `ARRAY[${xs.map(q).join(", ")}]::text[]`;

function sqlOf(g, schema, graph) {
	const fn = (kind, name) => `${schema}.${graph}_${kind}_${name}`;
	const s = [];
	for (const node of g.nodes) {
		let body = `jsonb_build_object('trace', jsonb_build_array(${q(node.name)}), 'count', ${node.inc})`;
		const count = "coalesce((state OPERATOR(pg_catalog.->>) 'count')::int, 0)";
		if (node.setLast) body += ` || jsonb_build_object('last', ${q(node.name + ":")} || ${count})`;
		const bag = [];
		if (node.setBag) bag.push(`jsonb_build_object(${q(node.name)}, ${count})`);
		if (node.ask) bag.push(`jsonb_build_object(${q(`ask_${node.name}`)}, sg_interrupt(${lit(`${node.name}?`)}))`);
		if (bag.length) body += ` || jsonb_build_object('bag', ${bag.join(" || ")})`;
		// 1 / 0 only when count is failAt (a constant 1 / 0 would fail when planned)
		const fail = node.failAt == null ? "" : ` WHERE (1 / (${count} - ${node.failAt})) IS NOT NULL`;
		s.push(`CREATE FUNCTION ${fn("node", node.name)}(state jsonb) RETURNS jsonb LANGUAGE sql AS $f$ SELECT ${body}${fail} $f$`);
	}
	g.routers.forEach((r, i) => {
		const opts = r.options.map((o) => (o.send ? o.args.map((k) => ({ node: o.send, arg: { count: k } }))
			: Array.isArray(o) ? o.map((t) => keyOf(r, t)) : keyOf(r, o)));
		const count = "coalesce((state->>'count')::int, 0)";
		s.push(`CREATE FUNCTION ${fn("route", `${r.source}${i}`)}(state jsonb) RETURNS jsonb LANGUAGE sql AS $f$ SELECT CASE WHEN ${count} >= ${r.bound} THEN ${lit(keyOf(r, r.exit))} ELSE ${lit(opts)} -> (${count} % ${opts.length}) END $f$`);
	});
	const channels = { trace: "append", count: "add", last: "replace", bag: "merge" };
	s.push(`SELECT sg_create_graph(${q(graph)}, ${lit(channels)})`);
	for (const node of g.nodes) s.push(`SELECT sg_add_node(${q(graph)}, ${q(node.name)}, '${fn("node", node.name)}(jsonb)')`);
	for (const [a, b] of g.edges) s.push(`SELECT sg_add_edge(${q(graph)}, ${q(a)}, ${q(b)})`);
	for (const [ss, t] of g.joins) s.push(`SELECT sg_add_edge(${q(graph)}, ${textArray(ss)}, ${q(t)})`);
	g.routers.forEach((r, i) => {
		const pm = pathMapOf(r);
		s.push(`SELECT sg_add_conditional_edges(${q(graph)}, ${q(r.source)}, '${fn("route", `${r.source}${i}`)}(jsonb)'${pm ? `, ${lit(pm)}` : ""})`);
	});
	const ib = g.interruptBefore.length ? textArray(g.interruptBefore) : "NULL";
	const ia = g.interruptAfter.length ? textArray(g.interruptAfter) : "NULL";
	s.push(`SELECT sg_compile(${q(graph)}, ${ib}, ${ia})`);
	return s;
}

function sgError(err) {
	if (err.name === "graph_recursion_error" || err.sqlstate === "SG004") return "recursion";
	if ((err.name === "invalid_update" || err.sqlstate === "SG003") && /one value per step/.test(err.message)) return "invalid_update";
	if (/ambiguous/i.test(err.message)) return "ambiguous_update";
	if (err.sqlstate === "22012") return "node_error";
	return `${err.sqlstate}: ${err.message}`;
}

class SGEngine {
	constructor(db, g, schema, graph) { Object.assign(this, { db, g, schema, graph }); }
	async setup() { for (const stmt of sqlOf(this.g, this.schema, this.graph)) await this.db.query(stmt); }
	async invoke(thread, input, { checkpointId, recursionLimit, resume } = {}) {
		try {
			const r = await this.db.query(
				"SELECT sg_invoke($1, $2::jsonb, thread_id => $3, checkpoint_id => $4::uuid, recursion_limit => $5, on_error => 'return', resume => $6::jsonb) AS v",
				[this.graph, input == null ? null : JSON.stringify(input), thread, checkpointId ?? null, recursionLimit ?? 25,
					resume === undefined ? null : JSON.stringify(resume)]);
			const v = r.rows[0].v;
			if (v && v.__error__) return { error: sgError(v.__error__) };
			return { values: v };
		} catch (e) {
			return { error: sgError({ sqlstate: e.code, message: e.message }) };
		}
	}
	async update(thread, values, asNode, checkpointId) {
		try {
			const r = await this.db.query("SELECT sg_update_state($1, $2::jsonb, $3, $4::uuid) AS id",
				[thread, JSON.stringify(values), asNode ?? null, checkpointId ?? null]);
			return { id: r.rows[0].id };
		} catch (e) {
			return { error: sgError({ sqlstate: e.code, message: e.message }) };
		}
	}
	async history(thread) {
		const r = await this.db.query(
			"SELECT checkpoint_id::text AS id, parent_checkpoint_id::text AS parent, step, source, next, \"values\" FROM sg_get_state_history($1)",
			[thread]);
		return r.rows.map((x) => ({ ...x, next: [...(x.next ?? [])].sort() }));
	}
}

// ---------------------------------------------------------------- comparison
function canon(v) {
	if (Array.isArray(v)) return v.map(canon);
	if (v && typeof v === "object") {
		const o = {};
		for (const k of Object.keys(v).sort()) if (k !== "__interrupt__") o[k] = canon(v[k]);
		return o;
	}
	return v;
}
const J = (v) => JSON.stringify(canon(v));

// a history with ids replaced by positions (newest first), so both engines' compare
function shape(h) {
	const pos = new Map(h.map((c, i) => [c.id, i]));
	return h.map((c, i) => ({
		step: c.step, source: c.source, next: c.next, values: canon(c.values),
		parent: c.parent == null ? null : pos.has(c.parent) ? pos.get(c.parent) - i : "?", // how many rows older
	}));
}
// the values, and the payloads of the interrupts a run stopped at (sg_interrupt / interrupt())
function outcome(r) {
	if (r.error) return { error: r.error };
	const asked = (r.values?.__interrupt__ ?? []).map((x) => x.value).filter((v) => v != null).sort();
	return asked.length ? { values: canon(r.values), asked } : { values: canon(r.values) };
}

// the scenario: invoke with input, resume up to `resumes` times while something
// is next, an update_state (and a resume), a time travel to an older checkpoint
// (and perhaps an update_state there), comparing after each action
// Differences found by this tool and left (test/fuzz/RESULTS.md): LangGraph.js's
// own defects (interrupt-conflict, join-next, failed-step-join) and choices
// README's "Differences from LangGraph" documents (exact-limit,
// implicit-as-node, a fired join dropped by an update as another node):
// recognised exactly, counted apart, and the scenario stops there.
//  - exact-limit: LangGraph raises GraphRecursionError when a run ends (nothing
//    next) on the last step its recursion_limit allows; stategraph returns.
//  - interrupt-conflict: a node interrupts while two finished tasks of its
//    step wrote one replace channel: LangGraph raises InvalidUpdateError (it
//    applies their writes for invoke's return value); stategraph pauses, and
//    the conflict is the step's error once it is resumed.
//  - implicit-as-node: update_state without as_node: LangGraph takes the node
//    that saw the newest channel version, stategraph the last node that ran
//    (SEMANTICS.md); the next nodes differ when those are not the same, and
//    one finds it ambiguous where the other does not (two Send tasks of one
//    node: LangGraph; tasks of two nodes that ran in one step: stategraph).
//  - join-next: a join whose sources have all run stays pending in LangGraph
//    until its target runs (a checkpoint's next lists it again after the
//    target ran in the same step as a plain edge to it, and after an
//    update_state as another node), and then its loop does not run the
//    target again when the join's sources have all run again (even when the
//    checkpoint's next lists it); in stategraph a fired join is in next once,
//    fires again each time its sources have all run again, and update_state's
//    routing replaces it.
function knownDifference(a, b, hl, hs, joinTargets, implicitAsNode) {
	if (a.error === "recursion" && !b.error && J(hl) === J(hs) && hl[0]?.next.length === 0)
		return { kind: "exact-limit" };
	if (a.error === "invalid_update" && outcome(b).asked && J(hl) === J(hs))
		return { kind: "interrupt-conflict" };
	if (implicitAsNode && (a.error === "ambiguous_update") !== (b.error === "ambiguous_update"))
		return { kind: "implicit-as-node" };
	if (implicitAsNode && hl.length === hs.length && J(hl[0]) !== J(hs[0]) && J(hl.slice(1)) === J(hs.slice(1))
		&& J({ ...hl[0], next: [] }) === J({ ...hs[0], next: [] }))
		return { kind: "implicit-as-node" };
	// or a run paused by interrupt() returns the writes of a finished join target
	// that both next lists, but that LangGraph's loop did not run
	const [oa, ob] = [outcome(a), outcome(b)];
	if (oa.asked && J(oa.asked) === J(ob.asked) && J(hl) === J(hs)) {
		const extra = [...(ob.values.trace ?? [])];
		for (const n of oa.values.trace ?? []) {
			const at = extra.indexOf(n);
			if (at < 0) return null;
			extra.splice(at, 1);
		}
		if (extra.length && extra.every((n) => joinTargets.has(n) && hl[0].next.includes(n))) return { kind: "join-next" };
	}
	// or LangGraph's run ended where both next list join targets only, which
	// stategraph ran and which asked
	if (!oa.asked && ob.asked && !a.error && J(oa.values) === J(ob.values) && J(hl) === J(hs)
		&& hl[0].next.length && hl[0].next.every((n) => joinTargets.has(n)))
		return { kind: "join-next" };
	// the oldest checkpoint that differs: LangGraph's next lists join targets more
	for (let k = 1; k <= Math.min(hl.length, hs.length); k++) {
		const [x, y] = [hl[hl.length - k], hs[hs.length - k]];
		if (J(x) === J(y)) continue;
		const prev = hl[hl.length - k + 1];
		if (prev && x.source === "loop" && y.source === "loop") {
			// or LangGraph's loop skipped a join target that its (and our) next listed
			const ran = (c) => (c.values.trace ?? []).slice((prev.values.trace ?? []).length);
			const [rl, rs] = [ran(x), ran(y)];
			const skipped = rs.filter((n) => !rl.includes(n));
			if (skipped.length && rl.every((n) => rs.includes(n)) && skipped.every((n) => joinTargets.has(n) && prev.next.includes(n)))
				return { kind: "join-next" };
		}
		if (J({ ...x, next: [] }) !== J({ ...y, next: [] })) return null;
		const extra = x.next.filter((n) => !y.next.includes(n));
		if (y.next.some((n) => !x.next.includes(n)) || extra.some((n) => !joinTargets.has(n))) return null;
		return { kind: "join-next" };
	}
	// or LangGraph's loop stopped where its next lists only join targets
	if (hs.length > hl.length && !a.error && hl[0].next.length && hl[0].next.every((n) => joinTargets.has(n)))
		return { kind: "join-next" };
	// or went on where both next list a join target to interrupt before, not running it
	if (hl.length > hs.length && !b.error && hs[0].next.some((n) => joinTargets.has(n)))
		return { kind: "join-next" };
	return null;
}

let actionCount = 0; // runs and update_state calls compared
//  - failed-step-join: update_state on a thread whose step failed (a node
//    raised): LangGraph.js applies the values its finished tasks wrote but
//    no join sees them (after an interrupt, joins do); stategraph treats both
//    alike (README: a join waiting for them sees them).
function updateAfterFailure(hl, hs, joinTargets) {
	if (hl.length !== hs.length || J(hl.slice(1)) !== J(hs.slice(1))) return null;
	const [x, y] = [hl[0], hs[0]];
	if (J({ ...x, next: [] }) !== J({ ...y, next: [] })) return null;
	const extra = y.next.filter((n) => !x.next.includes(n));
	if (x.next.some((n) => !y.next.includes(n)) || !extra.length || extra.some((n) => !joinTargets.has(n))) return null;
	return { kind: "failed-step-join" };
}

async function scenario(g, engines, thread) {
	const [lg, sg] = engines;
	const log = [];
	const knowns = new Set();
	let afterNodeError = false; // the last action ended with a node's failure on both sides
	const both = async (what, f) => {
		const [a, b] = [await f(lg), await f(sg)];
		const hl = shape(await lg.history(thread));
		const hs = shape(await sg.history(thread));
		log.push(what);
		actionCount++;
		const oa = J(outcome(a)), ob = J(outcome(b));
		if (flags.has("--dump")) {
			console.log(`## ${what}\n#  lg: ${oa}\n#  sg: ${ob}`);
			const row = (c) => `${c.step} ${c.source} [${c.next}] p=${c.parent} ${JSON.stringify(c.values)}`;
			for (let i = 0; i < Math.max(hl.length, hs.length); i++)
				console.log(`#  ${i}\n#    lg ${hl[i] ? row(hl[i]) : "-"}\n#    sg ${hs[i] ? row(hs[i]) : "-"}`);
		}
		const joinTargets = new Set(g.joins.map(([, t]) => t));
		const known = knownDifference(a, b, hl, hs, joinTargets, /^update_state\(.*, null\)$/.test(what))
			?? (/^update_state\(/.test(what) && afterNodeError ? updateAfterFailure(hl, hs, joinTargets) : null);
		afterNodeError = a.error === "node_error";
		if (known) {
			log.push(`known: ${known.kind}`);
			knowns.add(known.kind);
			return { what, known, log, a, b, hl };
		}
		if (oa !== ob) return { what, field: "outcome", langgraph: oa, stategraph: ob, log };
		if (J(hl) !== J(hs)) {
			let i = 0;
			while (i < Math.max(hl.length, hs.length) && J(hl[i]) === J(hs[i])) i++;
			return { what, field: `history[${i}] (of ${hl.length} / ${hs.length})`, langgraph: J(hl[i]), stategraph: J(hs[i]), log };
		}
		return { a, b, hl };
	};
	const r = g.run;
	let res = await both("invoke(input)", (e) => e.invoke(thread, r.input, { recursionLimit: r.recursionLimit }));
	if (res.field) return res;
	if (res.known && res.known.kind !== "exact-limit") return { knowns, log };
	for (let i = 0; i < r.resumes && res.hl[0].next.length && !res.a.error; i++) {
		const asked = outcome(res.a).asked;
		const resume = asked ? `answer${i}` : undefined;
		res = await both(asked ? `resume => "${resume}"` : "resume", (e) => e.invoke(thread, null, { recursionLimit: r.recursionLimit, resume }));
		if (res.field) return res;
		if (res.known && res.known.kind !== "exact-limit") return { knowns, log };
	}
	if (r.update && (!res.a.error || res.a.error === "node_error")) {
		res = await both(`update_state(${JSON.stringify(r.update.values)}, ${r.update.asNode})`,
			(e) => e.update(thread, r.update.values, r.update.asNode));
		if (res.field) return res;
		if (res.known && res.known.kind !== "exact-limit") return { knowns, log };
		if (!res.a.error) {
			res = await both("resume after update", (e) => e.invoke(thread, null, { recursionLimit: r.recursionLimit }));
			if (res.field) return res;
			if (res.known && res.known.kind !== "exact-limit") return { knowns, log };
		}
	}
	if (r.travel != null && res.hl.length > 2) {
		// an older checkpoint: same position on both sides
		const idx = 1 + (r.travel % (res.hl.length - 1));
		const ids = [(await lg.history(thread))[idx].id, (await sg.history(thread))[idx].id];
		const pickId = (e) => (e === lg ? ids[0] : ids[1]);
		if (r.travelUpdate) {
			res = await both(`update_state at history[${idx}] (${JSON.stringify(r.travelUpdate.values)}, ${r.travelUpdate.asNode})`,
				(e) => e.update(thread, r.travelUpdate.values, r.travelUpdate.asNode, pickId(e)));
			if (res.field) return res;
			if (res.known && res.known.kind !== "exact-limit") return { knowns, log };
			if (!res.a.error) {
				res = await both("resume after update at an older checkpoint", (e) => e.invoke(thread, null, { recursionLimit: r.recursionLimit }));
				if (res.field) return res;
				if (res.known && res.known.kind !== "exact-limit") return { knowns, log };
			}
		} else {
			res = await both(`invoke(null) from history[${idx}]`,
				(e) => e.invoke(thread, null, { checkpointId: pickId(e), recursionLimit: r.recursionLimit }));
			if (res.field) return res;
			if (res.known && res.known.kind !== "exact-limit") return { knowns, log };
		}
	}
	return knowns.size ? { knowns, log } : null;
}

export function describe(g) {
	const lines = [];
	lines.push(`nodes: ${g.nodes.map((n) => `${n.name}(+${n.inc}${n.setLast ? ",last" : ""}${n.setBag ? ",bag" : ""})`).join(" ")}`);
	lines.push(`edges: ${g.edges.map(([a, b]) => `${a}->${b}`).join(" ")}`);
	if (g.joins.length) lines.push(`joins: ${g.joins.map(([s, t]) => `[${s}]->${t}`).join(" ")}`);
	for (const r of g.routers) lines.push(`router ${r.source}: count>=${r.bound} ? ${r.exit} : ${JSON.stringify(r.options)}[count % ${r.options.length}]${r.pathMap ? ` path_map ${r.pathMap}` : ""}`);
	if (g.interruptBefore.length) lines.push(`interrupt_before ${g.interruptBefore}`);
	if (g.interruptAfter.length) lines.push(`interrupt_after ${g.interruptAfter}`);
	lines.push(`run: ${JSON.stringify(g.run)}`);
	return lines.join("\n");
}

// ---------------------------------------------------------------- main
// a graph's thread, definition and functions
async function dropGraph(db, schema, graph, thread) {
	await db.query("SELECT sg_delete_thread(thread_id) FROM sg_threads($1) WHERE thread_id = $2", [graph, thread]);
	await db.query("SELECT sg_drop_graph(graph) FROM stategraph.graphs WHERE graph = $1", [graph]);
	const fns = await db.query(
		"SELECT p.oid::regprocedure::text AS f FROM pg_catalog.pg_proc p WHERE p.pronamespace = $1::regnamespace AND starts_with(p.proname, $2)",
		[schema, `${graph}_`]);
	if (fns.rows.length) await db.query(`DROP FUNCTION ${fns.rows.map((r) => r.f).join(", ")}`);
}

async function main() {
	const db = new pg.Client();
	await db.connect();
	await db.query("SET client_min_messages = error");
	await db.query("CREATE EXTENSION IF NOT EXISTS stategraph");
	const schema = `difflg_${SEED}_${process.pid}`; // runs beside one another do not meet
	await db.query(`CREATE SCHEMA ${schema}`);
	let pass = 0, fail = 0;
	const knownCount = {};
	const only = opt.only != null ? [Number(opt.only)] : [...Array(COUNT).keys()];
	for (const i of only) {
		const g = generate(SEED + i);
		const graph = `${schema}_g${i}`;
		const thread = `${graph}_t`;
		let diff;
		try {
			const sg = new SGEngine(db, g, schema, graph);
			await sg.setup();
			diff = await scenario(g, [new LGEngine(g), sg], thread);
		} catch (e) {
			diff = { what: "setup", field: "exception", langgraph: "", stategraph: String(e?.stack ?? e), log: [] };
		}
		await dropGraph(db, schema, graph, thread); // the seed makes it again
		if (diff?.field) {
			fail++;
			console.log(`not ok ${i + 1} - graph ${i} (seed ${SEED + i}): ${diff.what}: ${diff.field} differs`);
			console.log(describe(g).replace(/^/gm, "#   "));
			console.log(`#   after: ${diff.log.join(" / ")}`);
			console.log(`#   langgraph:  ${diff.langgraph}`);
			console.log(`#   stategraph: ${diff.stategraph}`);
		} else {
			pass++;
			const known = diff ? [...diff.knowns] : [];
			for (const k of known) knownCount[k] = (knownCount[k] ?? 0) + 1;
			console.log(`ok ${i + 1} - graph ${i} (seed ${SEED + i})${known.length ? ` # known difference: ${known.join(", ")}` : ""}`);
			if (VERBOSE || (known.length && flags.has("--show-known"))) {
				console.log(describe(g).replace(/^/gm, "#   "));
				if (diff) console.log(`#   after: ${diff.log.join(" / ")}`);
			}
		}
	}
	for (const [k, c] of Object.entries(knownCount)) console.log(`# known difference ${k}: ${c} graphs`);
	console.log(`# ${only.length} graphs, ${actionCount} runs and updates compared`);
	console.log(`# pass ${pass}`);
	console.log(`# fail ${fail}`);
	await db.query(`DROP SCHEMA ${schema} CASCADE`);
	await db.end();
	process.exitCode = fail ? 1 : 0;
}
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
