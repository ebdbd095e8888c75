// StategraphSaver keeps JSON values as the text it sent: object keys read back
// in the order they were written (jsonb would put shorter keys first), as
// MemorySaver keeps them, in every form the server stores a value: a whole
// value, a list stored as what it appends, a reference to a pending write, a
// small value kept in the checkpoint row, a pending write; and after
// copyThread, prune (which copies referenced writes into their rows) and
// sg_export_thread / sg_import_thread.
//     node --test test/keyorder.node.mjs      (libpq environment)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { Annotation, StateGraph, START, END, MemorySaver } from "@langchain/langgraph";
import { StategraphSaver } from "../src/index.js";

let pool;
let saver;
const run = `keys-${process.pid}-${Date.now()}`;

before(async () => {
	pool = new pg.Pool({ max: 4 });
	await pool.query("CREATE EXTENSION IF NOT EXISTS stategraph");
	saver = new StategraphSaver(pool);
	await saver.setup();
});
after(async () => {
	await saver.end();
	await pool.end();
});

// the text of a value as written: JSON.stringify keeps the order of its keys
const same = (actual, expected, what) => assert.strictEqual(JSON.stringify(actual), JSON.stringify(expected), what);

// keys in an order jsonb does not keep ({"zz", "a"}: jsonb puts "a" first), nested, in arrays
const entry = (turn) => ({ zz: turn, a: { y: 2, b: 3 }, note: `turn ${turn}: written zz, a (y, b)` });
const State = Annotation.Root({
	items: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }), // grows by appends
	doc: Annotation(),
	small: Annotation(), // small enough to be kept in the checkpoint row
});
const graph = (checkpointer) =>
	new StateGraph(State)
		.addNode("step", (s) => ({
			items: [entry(s.items.length), [{ zz: 1, a: { y: 2, b: 3 } }]],
			doc: { zz: s.items.length, a: { y: 2, b: 3 }, list: [{ d: 1, c: 2 }, [{ zz: "x", a: [] }]] },
			small: { b: true, a: null },
		}))
		.addEdge(START, "step")
		.addEdge("step", END)
		.compile({ checkpointer });

const config = (thread_id) => ({ configurable: { thread_id } });
const TURNS = 4;

async function turns(app, thread_id) {
	for (let t = 0; t < TURNS; t++) await app.invoke({ items: [{ zz: -t, a: { y: 1, b: 1 } }] }, config(thread_id));
}

// what a saver holds of a thread, as text: every checkpoint's values and pending writes (newest first)
async function tuples(s, thread_id) {
	const out = [];
	for await (const t of s.list(config(thread_id))) {
		const values = t.checkpoint.channel_values;
		out.push({
			// the channels with a version (MemorySaver also keeps a channel's default before its first
			// write, and an empty __pregel_tasks, which the server's savers do not store)
			values: Object.fromEntries(Object.keys(values).filter((k) => k !== "__pregel_tasks" && k in t.checkpoint.channel_versions)
				.sort().map((k) => [k, JSON.stringify(values[k])])),
			writes: t.pendingWrites.map(([, channel, value]) => JSON.stringify([channel, value])),
		});
	}
	return out;
}

async function state(s, thread_id) {
	return JSON.stringify((await graph(s).getState(config(thread_id))).values);
}

let memory;
const thread = `${run}-t`;

test("values, appended lists, pending writes and small values read back with their keys as written", async () => {
	memory = new MemorySaver();
	await turns(graph(memory), thread);
	await turns(graph(saver), thread);

	const expected = await tuples(memory, thread);
	assert.strictEqual(expected.length, TURNS * 3);
	assert.ok(expected.some((t) => t.writes.length > 0), "pending writes compared");
	assert.deepStrictEqual(await tuples(saver, thread), expected, "list");
	const tuple = await saver.getTuple(config(thread));
	const memTuple = await memory.getTuple(config(thread));
	for (const k of Object.keys(memTuple.checkpoint.channel_values).filter((k) => k !== "__pregel_tasks"))
		same(tuple.checkpoint.channel_values[k], memTuple.checkpoint.channel_values[k], `getTuple ${k}`);
	assert.strictEqual(await state(saver, thread), await state(memory, thread), "getState");
	// the literal text: "zz" before "a", "y" before "b"
	assert.match(await state(saver, thread), /\{"zz":1,"a":\{"y":2,"b":3\},"note":"turn 1/);
	assert.match(await state(saver, thread), /"small":\{"b":true,"a":null\}/);

	// the forms this test is meant to cover are those stored
	const { rows } = await pool.query(
		`SELECT count(*) FILTER (WHERE channel = 'items' AND base IS NOT NULL)::int AS appended,
		        count(*) FILTER (WHERE wcheckpoint IS NOT NULL)::int AS referring
		   FROM stategraph.lg_blobs WHERE thread_id = $1`,
		[thread],
	);
	assert.ok(rows[0].appended >= TURNS - 1, "items stored as appended parts");
	assert.ok(rows[0].referring >= 1, "a value stored as a reference to a pending write");
	const inline = await pool.query(
		`SELECT bool_or(jsonb_typeof(blobs->'small') = 'array') AS small,
		        bool_or(jsonb_array_length(blobs->'__start__') = 2) AS input_with_text
		   FROM stategraph.lg_checkpoints WHERE thread_id = $1`,
		[thread],
	);
	assert.deepStrictEqual(inline.rows[0], { small: true, input_with_text: true }, "small values kept in the checkpoint row");
});

test("a pending write and a small value put directly read back as written", async () => {
	const t = `${run}-direct`;
	const checkpoint = {
		v: 4,
		id: "1ef00000-0000-6000-8000-0000000000a1",
		ts: new Date().toISOString(),
		channel_values: { small: { zz: true, a: null }, big: { zz: 1, a: { y: 2, b: 3 }, list: [{ zz: 1, a: 2 }] } },
		channel_versions: { small: 1, big: 1 },
		versions_seen: {},
	};
	const cfg = await saver.put({ configurable: { thread_id: t, checkpoint_ns: "" } }, checkpoint, { source: "input", step: -1, parents: {} },
		{ small: 1, big: 1 });
	await saver.putWrites(cfg, [["big", { zz: 1, a: { y: 2, b: 3 } }], ["other", [{ zz: 1, a: [1, { y: 1, b: 2 }] }]]], "task-1");
	const got = await saver.getTuple(cfg);
	same(got.checkpoint.channel_values.small, { zz: true, a: null }, "small value");
	same(got.checkpoint.channel_values.big, checkpoint.channel_values.big, "whole value");
	same(got.pendingWrites.map((w) => w.slice(1)), [["big", { zz: 1, a: { y: 2, b: 3 } }], ["other", [{ zz: 1, a: [1, { y: 1, b: 2 }] }]]],
		"pending writes");
});

// A list sent whole whose first elements are the stored ones but written otherwise
// (keys in another order: the node rebuilt them) is not stored as an extension of
// the stored list, whose elements would read back in their old text: the server
// recognises an extension by the elements' text, not by their jsonb form.
test("a list whose elements are rewritten with their keys in another order reads back as the new text", async () => {
	const Last = Annotation.Root({ items: Annotation() }); // a last-value channel: put gets the whole list
	const app = (checkpointer) =>
		new StateGraph(Last)
			.addNode("step", (s) => ({ items: [...(s.items ?? []).map(({ a, zz }) => ({ a, zz })), { zz: (s.items ?? []).length, a: 1 }] }))
			.addEdge(START, "step")
			.addEdge("step", END)
			.compile({ checkpointer });
	const read = async (checkpointer, thread_id) => {
		const g = app(checkpointer);
		for (let t = 0; t < 3; t++) await g.invoke({}, config(thread_id));
		return (await g.getState(config(thread_id))).values.items;
	};
	const expected = await read(new MemorySaver(), "reorder");
	same(expected, [{ a: 1, zz: 0 }, { a: 1, zz: 1 }, { zz: 2, a: 1 }], "MemorySaver's");
	same(await read(saver, `${run}-reorder`), expected, "StategraphSaver's");
	// a new process (no remembered text) sends each list whole: the same
	same(await read(new StategraphSaver(pool, undefined, { appendCacheChars: 0 }), `${run}-reorder-whole`), expected, "sent whole");
});

test("after copyThread, prune and export/import the values still read back as written", async () => {
	const expected = await tuples(memory, thread);
	const expectedState = await state(memory, thread);

	const copy = `${run}-copy`;
	await saver.copyThread(thread, copy);
	assert.deepStrictEqual(await tuples(saver, copy), expected, "copyThread: list");
	assert.strictEqual(await state(saver, copy), expectedState, "copyThread: getState");

	const moved = `${run}-imported`;
	await pool.query("SELECT sg_import_thread(sg_export_thread($1)::text::jsonb, $2)", [thread, moved]);
	assert.deepStrictEqual(await tuples(saver, moved), expected, "export/import: list");
	assert.strictEqual(await state(saver, moved), expectedState, "export/import: getState");

	// keep_latest copies the writes the newest checkpoint refers to into its rows
	const referring = async () =>
		(await pool.query("SELECT count(*)::int AS n FROM stategraph.lg_blobs WHERE thread_id = $1 AND wcheckpoint IS NOT NULL", [copy])).rows[0].n;
	assert.ok((await referring()) > 0, "the copy refers to pending writes before prune");
	await saver.prune([copy], { strategy: "keep_latest" });
	assert.strictEqual(await referring(), 0, "prune copied them");
	assert.deepStrictEqual(await tuples(saver, copy), [expected[0]], "prune: list");
	assert.strictEqual(await state(saver, copy), expectedState, "prune: getState");

	// sg_prune keep_last (retention's prune) too
	await pool.query("SELECT sg_prune(keep_last => 1, thread_id => $1)", [moved]);
	assert.deepStrictEqual((await tuples(saver, moved))[0], expected[0], "sg_prune: newest checkpoint");
	assert.strictEqual(await state(saver, moved), expectedState, "sg_prune: getState");
});
