// A LangGraph.js application moved from PostgresSaver to StategraphSaver: each
// scenario runs against both savers (and MemorySaver where it can) and must give
// the same results.
//     node --test test/revjs.node.mjs      (libpq environment: PGHOST, PGPORT, ...)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { Annotation, StateGraph, START, END, interrupt, Command } from "@langchain/langgraph";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { MemorySaver, JsonPlusSerializer, emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { StategraphSaver } from "../src/index.js";

let pool;
before(async () => {
	pool = new pg.Pool({ max: 6 });
	await pool.query("CREATE EXTENSION IF NOT EXISTS stategraph");
});
after(async () => {
	await pool.end();
});

const tag = process.pid;
// the three savers with one serializer; PostgresSaver's tables in a schema of their own
async function savers(serde) {
	const postgres = new PostgresSaver(pool, serde, { schema: "lg_revjs_pg" });
	await postgres.setup();
	const stategraph = new StategraphSaver(pool, serde);
	await stategraph.setup();
	return { postgres, stategraph, memory: new MemorySaver(serde) };
}

// Serializers that revive more than LangGraph's (here ISO dates as Date), by
// overriding loadsTyped or _loads: every value read goes through them.
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const revive = (v) =>
	typeof v === "string" && ISO.test(v) ? new Date(v)
	: Array.isArray(v) ? v.map(revive)
	: v && typeof v === "object" && !(v instanceof Date) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]))
	: v;
class LoadsTypedDates extends JsonPlusSerializer {
	async loadsTyped(type, data) {
		return revive(await super.loadsTyped(type, data));
	}
}
class LoadsDates extends JsonPlusSerializer {
	async _loads(data) {
		return revive(await super._loads(data));
	}
}
const patched = new JsonPlusSerializer();
patched.loadsTyped = async (type, data) => revive(await JsonPlusSerializer.prototype.loadsTyped.call(patched, type, data));

test("a serializer that revives more than JsonPlusSerializer (a subclass, a patched one) reads every value, as PostgresSaver's does", async () => {
	for (const [name, serde] of [["loadsTyped", new LoadsTypedDates()], ["_loads", new LoadsDates()], ["patched", patched]]) {
		const all = await savers(serde);
		const results = {};
		for (const [kind, saver] of Object.entries(all)) {
			const seen = (s) => (s.when instanceof Date ? "Date" : typeof s.when);
			const app = new StateGraph(Annotation.Root({ when: Annotation(), log: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }) }))
				.addNode("a", (s) => ({ log: [`a saw ${seen(s)}`] }))
				.addNode("b", (s) => ({ log: [`b saw ${seen(s)}`] }))
				.addEdge(START, "a").addEdge("a", "b").addEdge("b", END)
				.compile({ checkpointer: saver, interruptBefore: ["b"] });
			const c = { configurable: { thread_id: `revjs-serde-${name}-${kind}-${tag}` } };
			await app.invoke({ when: new Date("2024-05-06T07:08:09.000Z"), log: [] }, c);
			const state = await app.getState(c);
			const done = await app.invoke(null, c);
			const tuple = await saver.getTuple(c);
			results[kind] = { state: seen(state.values), log: done.log, tuple: seen(tuple.checkpoint.channel_values) };
		}
		assert.deepStrictEqual(results.postgres, { state: "Date", log: ["a saw Date", "b saw Date"], tuple: "Date" }, name);
		assert.deepStrictEqual(results.memory, results.postgres, name);
		assert.deepStrictEqual(results.stategraph, results.postgres, name);
	}
});

test("a numeric thread_id comes back a number in getState's and getTuple's configs, as with PostgresSaver", async () => {
	const { postgres, stategraph } = await savers();
	const results = {};
	for (const [kind, saver] of Object.entries({ postgres, stategraph })) {
		const app = new StateGraph(Annotation.Root({ v: Annotation() }))
			.addNode("a", () => ({ v: interrupt("q") }))
			.addEdge(START, "a").addEdge("a", END)
			.compile({ checkpointer: saver });
		const c = { configurable: { thread_id: Number(`${tag}${kind === "postgres" ? 1 : 2}`) } };
		await app.invoke({ v: 1 }, c);
		const paused = await app.getState(c);
		const done = await app.invoke(new Command({ resume: 2 }), c);
		const tuple = await saver.getTuple(c);
		const type = (config) => typeof config?.configurable.thread_id;
		results[kind] = { done, state: [type(paused.config), type(paused.parentConfig)], tuple: [type(tuple.config), type(tuple.parentConfig)] };
	}
	assert.deepStrictEqual(results.postgres, { done: { v: 2 }, state: ["number", "number"], tuple: ["number", "number"] });
	assert.deepStrictEqual(results.stategraph, results.postgres);
});

test("an empty thread_id: PostgresSaver stores it, StategraphSaver refuses it saying so (README, Differences)", async () => {
	const { postgres, stategraph } = await savers();
	const graph = (saver) => new StateGraph(Annotation.Root({ v: Annotation() }))
		.addNode("a", (s) => ({ v: s.v + 1 }))
		.addEdge(START, "a").addEdge("a", END)
		.compile({ checkpointer: saver });
	const c = { configurable: { thread_id: "" } };
	await postgres.deleteThread("");
	assert.deepStrictEqual(await graph(postgres).invoke({ v: 1 }, c), { v: 2 });
	await postgres.deleteThread("");
	await assert.rejects(graph(stategraph).invoke({ v: 1 }, c), /"thread_id" field in "config.configurable" is empty: stategraph refuses an empty thread_id/);
	await assert.rejects(stategraph.put({ configurable: {} }, {}, {}, {}), /Missing "thread_id" field/);
});

test("getStateHistory with a limit past 2^31 (Number.MAX_SAFE_INTEGER as 'no limit') returns every checkpoint, as with PostgresSaver", async () => {
	const { postgres, stategraph } = await savers();
	const results = {};
	for (const [kind, saver] of Object.entries({ postgres, stategraph })) {
		const app = new StateGraph(Annotation.Root({ v: Annotation() }))
			.addNode("a", () => ({ v: 1 }))
			.addEdge(START, "a").addEdge("a", END)
			.compile({ checkpointer: saver });
		const c = { configurable: { thread_id: `revjs-limit-${kind}-${tag}` } };
		await app.invoke({ v: 0 }, c);
		results[kind] = {};
		for (const limit of [2, 2 ** 31 - 1, 2 ** 31, 1e10, Number.MAX_SAFE_INTEGER, "3000000000"]) {
			const steps = [];
			for await (const s of app.getStateHistory(c, { limit })) steps.push(s.metadata.step);
			results[kind][limit] = steps;
		}
	}
	assert.deepStrictEqual(results.postgres[2], [1, 0]);
	assert.deepStrictEqual(results.postgres[Number.MAX_SAFE_INTEGER], [1, 0, -1]);
	assert.deepStrictEqual(results.stategraph, results.postgres);
});

test("list's filter of metadata holding a NUL or a lone surrogate finds the checkpoints put with it, as MemorySaver's does (PostgresSaver's put fails)", async () => {
	const { stategraph, memory } = await savers();
	const results = {};
	// a title cut inside an emoji, a NUL pasted in: metadata an application puts
	const odd = { title: "caf\u00e9 \ud83d", note: "a\u0000b" };
	for (const [kind, saver] of Object.entries({ memory, stategraph })) {
		const thread_id = `revjs-filter-${kind}-${tag}`;
		let config = { configurable: { thread_id, checkpoint_ns: "" } };
		for (let step = -1; step < 3; step++) {
			const checkpoint = { ...emptyCheckpoint(), id: uuid6(-1), channel_values: { v: step }, channel_versions: { v: step + 2 } };
			const metadata = { source: step < 0 ? "input" : "loop", step, parents: {}, ...(step % 2 ? odd : {}) };
			config = await saver.put(config, checkpoint, metadata, { v: step + 2 });
		}
		results[kind] = {};
		for (const [name, filter] of Object.entries({ title: { title: odd.title }, note: { note: odd.note }, both: { ...odd, source: "loop" } })) {
			const steps = [];
			for await (const t of saver.list({ configurable: { thread_id } }, { filter })) steps.push(t.metadata.step);
			results[kind][name] = steps;
		}
	}
	assert.deepStrictEqual(results.memory, { title: [1, -1], note: [1, -1], both: [1] });
	assert.deepStrictEqual(results.stategraph, results.memory);
});
