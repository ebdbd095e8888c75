// Two LangGraph.js processes writing one thread through StategraphSaver never
// fork its chain silently: every checkpoint a run writes extends the thread's
// newest one, or the run fails with a serialization failure (40001) that the
// application sees.
//     node --test test/concurrency.node.mjs      (libpq environment)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { emptyCheckpoint, uuid6, MemorySaver } from "@langchain/langgraph-checkpoint";
import { Annotation, StateGraph, START, END, interrupt, Command, DeltaChannel } from "@langchain/langgraph";
import { StategraphSaver } from "../src/index.js";

const run = promisify(execFile);
const worker = fileURLToPath(new URL("./concurrency_worker.mjs", import.meta.url));
let pool;

before(async () => {
	pool = new pg.Pool({ max: 4 });
	await pool.query("CREATE EXTENSION IF NOT EXISTS stategraph");
});
after(async () => {
	await pool.end();
});

// loop/input checkpoints that share a parent: a silent fork
async function forks(threadId) {
	const { rows } = await pool.query(
		`SELECT parent_checkpoint_id, count(*)::int AS n FROM stategraph.lg_checkpoints
		  WHERE thread_id = $1 AND parent_checkpoint_id IS NOT NULL AND metadata->>'source' IN ('loop', 'input')
		  GROUP BY 1 HAVING count(*) > 1`,
		[threadId],
	);
	return rows;
}

test("a second writer extending a stale checkpoint gets 40001, and nothing is stored", async () => {
	const saver = new StategraphSaver(pool);
	const thread_id = `conc-direct-${process.pid}`;
	const root = { ...emptyCheckpoint(), id: uuid6(-1) };
	const c0 = await saver.put({ configurable: { thread_id } }, root, { source: "input", step: -1, parents: {} }, {});
	const a = { ...emptyCheckpoint(), id: uuid6(-1) };
	const b = { ...emptyCheckpoint(), id: uuid6(-1) };
	await saver.put(c0, a, { source: "loop", step: 0, parents: {} }, {});
	await assert.rejects(saver.put(c0, b, { source: "loop", step: 0, parents: {} }, {}), (e) => e.code === "40001");
	assert.equal(await saver.getTuple({ configurable: { thread_id, checkpoint_id: b.id } }), undefined);
	// a fork from an older checkpoint is not a race: LangGraph's time travel and updateState
	const f = { ...emptyCheckpoint(), id: uuid6(-1) };
	await saver.put(c0, f, { source: "fork", step: 0, parents: {} }, {});
	assert.deepStrictEqual(await forks(thread_id), []);
});

test("a run from an older checkpoint read by its id forks there; one that read it as the newest gets 40001", async () => {
	const saver = new StategraphSaver(pool);
	const thread_id = `conc-byid-${process.pid}`;
	const cp = () => ({ ...emptyCheckpoint(), id: uuid6(-1) });
	const c0 = await saver.put({ configurable: { thread_id } }, cp(), { source: "input", step: -1, parents: {} }, {});
	const c1 = await saver.put(c0, cp(), { source: "loop", step: 0, parents: {} }, {});
	// c0 read as the newest, then another writer stores c1: refused, as above
	await assert.rejects(saver.put(c0, cp(), { source: "input", step: 0, parents: {} }, {}), (e) => e.code === "40001");
	// time travel: LangGraph reads c0 by its id, then the newest (c1), and puts an input checkpoint on c0
	assert.ok(await saver.getTuple(c0));
	assert.ok(await saver.getTuple({ configurable: { thread_id } }));
	const fork = cp();
	await saver.put(c0, fork, { source: "input", step: 0, parents: {} }, {});
	assert.equal((await saver.getTuple({ configurable: { thread_id } })).checkpoint.id, fork.id);
	// once only: a second input checkpoint on c0 is a stale writer's
	await assert.rejects(saver.put(c0, cp(), { source: "input", step: 0, parents: {} }, {}), (e) => e.code === "40001");
	// a checkpoint read by its id (getState of a config), then as the newest by a run,
	// which another process (another saver) advances meanwhile: that run is refused
	const t2 = { configurable: { thread_id: `${thread_id}-2` } };
	const d0 = await saver.put(t2, cp(), { source: "input", step: -1, parents: {} }, {});
	assert.ok(await saver.getTuple(d0));
	assert.equal((await saver.getTuple(t2)).checkpoint.id, d0.configurable.checkpoint_id);
	await new StategraphSaver(pool).put(d0, cp(), { source: "input", step: 0, parents: {} }, {});
	await assert.rejects(saver.put(d0, cp(), { source: "input", step: 0, parents: {} }, {}), (e) => e.code === "40001");
	assert.deepStrictEqual(await forks(t2.configurable.thread_id), []);
});

test("two LangGraph.js processes on one thread: no silent fork", async () => {
	const thread_id = `conc-procs-${process.pid}`;
	const n = 15;
	const outs = await Promise.all([1, 2].map(() => run(process.execPath, [worker, thread_id, String(n)], { env: process.env })));
	const results = outs.map((o) => JSON.parse(o.stdout));
	for (const r of results) {
		assert.deepStrictEqual(r.other, [], "only serialization failures may fail a run");
		assert.equal(r.ok + r.conflicts, n);
	}
	const ok = results[0].ok + results[1].ok;
	assert.ok(ok >= 1);
	assert.deepStrictEqual(await forks(thread_id), []);
	// every stored checkpoint is on the one chain that leads to the newest, except the
	// first (input) checkpoint of a run that lost the race to start a new thread: roots
	// (no parent) cannot be told from LangGraph's own way of writing several roots, but
	// that run's next put is refused, so the application is told (one per refused run at most)
	const { rows } = await pool.query(
		`WITH RECURSIVE chain AS (
		   (SELECT checkpoint_id, parent_checkpoint_id, metadata FROM stategraph.lg_checkpoints
		     WHERE thread_id = $1 AND checkpoint_ns = '' ORDER BY checkpoint_id DESC LIMIT 1)
		   UNION ALL
		   SELECT c.checkpoint_id, c.parent_checkpoint_id, c.metadata FROM stategraph.lg_checkpoints c
		     JOIN chain ON c.thread_id = $1 AND c.checkpoint_ns = '' AND c.checkpoint_id = chain.parent_checkpoint_id)
		 SELECT (SELECT count(*)::int FROM chain) AS on_chain,
		        (SELECT count(*)::int FROM stategraph.lg_checkpoints WHERE thread_id = $1) AS stored,
		        (SELECT count(*)::int FROM stategraph.lg_checkpoints c WHERE thread_id = $1 AND parent_checkpoint_id IS NULL
		            AND metadata->>'source' = 'input' AND NOT EXISTS (SELECT 1 FROM stategraph.lg_checkpoints k
		              WHERE k.thread_id = $1 AND k.parent_checkpoint_id = c.checkpoint_id)
		            AND c.checkpoint_id NOT IN (SELECT checkpoint_id FROM chain)) AS lost_roots`,
		[thread_id],
	);
	assert.equal(rows[0].on_chain + rows[0].lost_roots, rows[0].stored);
	assert.ok(rows[0].lost_roots <= results[0].conflicts + results[1].conflicts);
	assert.ok(rows[0].stored >= 5 * ok);
	console.log(`# runs completed ${ok}, refused ${results[0].conflicts + results[1].conflicts}`);
});

// A DeltaChannel's value is rebuilt from the checkpoint's ancestors, which LangGraph
// reads with getTuple by their ids: the saver took that for a run from an older
// checkpoint and let the put extend a checkpoint no longer the newest (both of two
// resumes committed, the thread forked). With a plain reducer the second got 40001.
test("two resumes of one interrupted thread with a DeltaChannel: one gets 40001, no fork", async () => {
	const thread_id = `conc-delta-${process.pid}`;
	const pools = [new pg.Pool({ max: 3 }), new pg.Pool({ max: 3 })];
	try {
		const savers = pools.map((p) => new StategraphSaver(p));
		let arrived = 0;
		let release;
		const gate = new Promise((r) => (release = r));
		const log = new DeltaChannel((s, ws) => [...(s ?? []), ...ws.flat()], { initialValueFactory: () => [] });
		const graph = (saver) =>
			new StateGraph(Annotation.Root({ log }))
				.addNode("ask", async () => {
					const who = interrupt("who?");
					if (++arrived === 2) release();
					await gate;
					return { log: [`answer ${who}`] };
				})
				.addEdge(START, "ask")
				.addEdge("ask", END)
				.compile({ checkpointer: saver });
		const config = { configurable: { thread_id } };
		await graph(savers[0]).invoke({ log: ["start"] }, config);
		const timer = setTimeout(() => release(), 5000); // (if only one reaches the node)
		const results = await Promise.allSettled(
			["alice", "bob"].map((who, i) => graph(savers[i]).invoke(new Command({ resume: who }), config)),
		);
		clearTimeout(timer);
		assert.deepStrictEqual(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
		assert.equal(results.find((r) => r.status === "rejected").reason.code, "40001");
		assert.deepStrictEqual(await forks(thread_id), []);
		const state = await graph(savers[0]).getState(config);
		assert.deepStrictEqual(state.values.log, ["start", results.find((r) => r.status === "fulfilled").value.log[1]]);
	} finally {
		for (const p of pools) await p.end();
	}
});

// A config that names a checkpoint addresses that checkpoint: LangGraph.js (1.7)
// runs from it even when the thread has moved on since (checkpointSuperseded), on
// a branch of its own, with every saver. A second user resuming an interrupt with
// the snapshot config it loaded before the first user answered gets what it gets
// on MemorySaver (README, "Differences": the guard covers runs that read the
// checkpoint they extend as the thread's newest).
test("a resume from a stale snapshot's config runs from that checkpoint, as on MemorySaver", async () => {
	async function twoUsers(saver, thread_id) {
		let afterRuns = 0;
		const S = Annotation.Root({ answers: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }) });
		const graph = () => new StateGraph(S)
			.addNode("ask", async () => ({ answers: [interrupt("q?")] }))
			.addNode("after", async () => { afterRuns++; return { answers: ["after"] }; })
			.addEdge(START, "ask").addEdge("ask", "after").addEdge("after", END)
			.compile({ checkpointer: saver() });
		const [a, b] = [graph(), graph()]; // two processes' graphs (StategraphSaver: two savers)
		const config = { configurable: { thread_id } };
		await a.invoke({ answers: ["start"] }, config);
		const [sa, sb] = [await a.getState(config), await b.getState(config)];
		const ra = await a.invoke(new Command({ resume: "A" }), sa.config);
		const rb = await b.invoke(new Command({ resume: "B" }), sb.config);
		const history = [];
		for await (const s of a.getStateHistory(config)) history.push([s.metadata.source, s.metadata.step, s.next]);
		return { ra: ra.answers, rb: rb.answers, newest: (await a.getState(config)).values.answers, afterRuns, history };
	}
	const memory = new MemorySaver();
	const ours = await twoUsers(() => new StategraphSaver(pool), `conc-stale-${process.pid}`);
	assert.deepStrictEqual(ours, await twoUsers(() => memory, "stale"));
	assert.equal(ours.afterRuns, 2);
	assert.equal(ours.history.length, 6); // two branches from the interrupted checkpoint
});
