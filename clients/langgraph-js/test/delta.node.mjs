// LangGraph.js's DeltaChannel (beta in 1.7) on StategraphSaver. It stores its
// value only now and then (a snapshot); in between, LangGraph rebuilds it from
// the pending writes of the checkpoint's ancestors. A prune (prune(keep_latest),
// sg_prune(keep_last => 1), retention's keep_latest) keeps the ancestors the
// checkpoints it keeps need: it removed them, and the newest checkpoint read the
// channel as empty, and the next run went on from that.
//     node --test test/delta.node.mjs      (libpq environment: PGHOST, PGPORT, ...)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { Annotation, StateGraph, START, END, DeltaChannel } from "@langchain/langgraph";
import { StategraphSaver } from "../src/index.js";

let pool;
let saver;

before(async () => {
	pool = new pg.Pool({ max: 4 });
	await pool.query("CREATE EXTENSION IF NOT EXISTS stategraph");
	saver = new StategraphSaver(pool);
	await saver.setup();
});
after(async () => {
	await pool.end();
});

const graph = (snapshotFrequency) =>
	new StateGraph(
		Annotation.Root({
			log: new DeltaChannel((s, ws) => [...(s ?? []), ...ws.flat()], { initialValueFactory: () => [], snapshotFrequency }),
			plain: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }),
		}),
	)
		.addNode("a", () => ({ log: ["a"], plain: ["a"] }))
		.addNode("b", () => ({ log: ["b"], plain: ["b"] }))
		.addEdge(START, "a")
		.addEdge("a", "b")
		.addEdge("b", END)
		.compile({ checkpointer: saver });

const twoRuns = ["in", "a", "b", "in2", "a", "b"];

async function runTwice(app, thread_id) {
	const config = { configurable: { thread_id } };
	await app.invoke({ log: ["in"], plain: ["in"] }, config);
	await app.invoke({ log: ["in2"], plain: ["in2"] }, config);
	assert.deepStrictEqual((await app.getState(config)).values, { log: twoRuns, plain: twoRuns });
	return config;
}

async function stored(thread_id) {
	const { rows } = await pool.query("SELECT count(*)::int AS n FROM stategraph.lg_checkpoints WHERE thread_id = $1", [thread_id]);
	return rows[0].n;
}

for (const [how, prune] of [
	["prune(keep_latest)", (t) => saver.prune([t])],
	["sg_prune(keep_last => 1)", (t) => pool.query("SELECT sg_prune(keep_last => 1, thread_id => $1)", [t])],
]) {
	test(`${how} keeps what the newest checkpoint's DeltaChannel is rebuilt from`, async () => {
		const app = graph(100);
		const thread_id = `delta-${how.slice(0, 8)}-${process.pid}`;
		const config = await runTwice(app, thread_id);
		const before = await stored(thread_id);
		await prune(thread_id);
		assert.deepStrictEqual((await app.getState(config)).values, { log: twoRuns, plain: twoRuns });
		assert.equal(await stored(thread_id), before, "no snapshot since the thread's first: every ancestor is needed");
		const next = await app.invoke({ log: ["in3"], plain: ["in3"] }, config);
		assert.deepStrictEqual(next.log, [...twoRuns, "in3", "a", "b"]);
	});
}

test("a prune removes the checkpoints before the DeltaChannel's last snapshot", async () => {
	const app = graph(2); // a snapshot at every second update
	const thread_id = `delta-snap-${process.pid}`;
	const config = await runTwice(app, thread_id);
	const logs = new Map();
	for await (const s of app.getStateHistory(config)) logs.set(s.config.configurable.checkpoint_id, s.values.log);
	await saver.prune([thread_id]);
	const after = await stored(thread_id);
	assert.ok(after >= 1 && after < logs.size, `some removed (${logs.size} -> ${after})`);
	assert.deepStrictEqual((await app.getState(config)).values, { log: twoRuns, plain: twoRuns });
	// every checkpoint kept reads as before
	let kept = 0;
	for await (const s of app.getStateHistory(config)) {
		assert.deepStrictEqual(s.values.log, logs.get(s.config.configurable.checkpoint_id));
		kept++;
	}
	assert.equal(kept, after);
});

// README, "Differences from LangGraph.js's savers": SQL, which runs no JavaScript
// reducer, leaves a DeltaChannel out of values at every checkpoint, its snapshots'
// too (where it showed LangGraph's {"lc": 2, "type": "delta_snapshot"} record)
test("SQL leaves a DeltaChannel out of every checkpoint's values, snapshots included", async () => {
	const thread = `delta-sql-${process.pid}`;
	await runTwice(graph(2), thread);
	const { rows } = await pool.query("SELECT step, \"values\" FROM sg_get_state_history($1) ORDER BY step", [thread]);
	assert.equal(rows.length, 8);
	const { rows: snaps } = await pool.query("SELECT sg_export_thread($1)::text LIKE '%delta_snapshot%' AS has", [thread]);
	assert.ok(snaps[0].has, "the thread has snapshots of the channel");
	for (const r of rows) {
		assert.equal("log" in r.values, false, `step ${r.step}: no DeltaChannel in values`);
		assert.ok(twoRuns.join(",").startsWith((r.values.plain ?? []).join(",")), `step ${r.step}: the plain channel is there`);
	}
});
