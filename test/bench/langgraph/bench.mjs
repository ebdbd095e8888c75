// LangGraph.js side of the stategraph benchmark (driven by test/bench/run.sh).
//
//   node bench.mjs setup                         create PostgresSaver's tables
//   node bench.mjs seed <callers> <seconds> <warmup_seconds> <run_label>
//   node bench.mjs chat <turns> <getstate_calls> <history_reads> <page_calls> [delta]
//
// Connects with the usual libpq variables (PGHOST, PGPORT, PGUSER, PGDATABASE),
// which node-postgres reads. Prints one JSON object on stdout.
//
// The graphs are the twins of test/bench/setup.sql:
//   seed: START -> step1 -> step2 -> step3 -> END, state {messages: append, step, data}
//   chat: START -> chat -> END, state {messages: append}; the reply to "turn N" is
//         190 English words picked by md5("N-i") (about 1 KB; see ../setup.sql).
// Durability is LangGraph's default ("async"): checkpoint writes overlap the next
// step, and invoke() resolves only after every one of them has been committed.

import { performance } from "node:perf_hooks";
import pg from "pg";
import * as langgraph from "@langchain/langgraph";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { graphs } from "./graphs.mjs";

const { seedGraph, chatGraph, replyText } = graphs(langgraph);


function fail(msg) {
	console.error(`bench.mjs: ${msg}`);
	process.exit(1);
}

function makePool(max) {
	const pool = new pg.Pool({ max });
	pool.on("error", (e) => fail(`pool error: ${e.message}`));
	return pool;
}

// nearest-rank percentile, the same rule run.sh applies to pgbench logs
function pct(sorted, p) {
	if (sorted.length === 0) return null;
	const i = Math.max(0, Math.ceil((p / 100) * sorted.length) - 1);
	return sorted[i];
}
const median = (xs) => pct([...xs].sort((a, b) => a - b), 50);
const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
const r3 = (x) => (x == null ? null : Math.round(x * 1000) / 1000);

async function setup() {
	const pool = makePool(2);
	const saver = new PostgresSaver(pool);
	await saver.setup();
	await pool.end();
	return { ok: true };
}

async function seed(callers, seconds, warmupSeconds, label) {
	const pool = makePool(Math.max(10, callers + 2));
	const saver = new PostgresSaver(pool);
	const app = seedGraph(saver);
	const input = () => ({ messages: [], step: 0, data: { user: "alice" } });

	// correctness check of one invoke: the final values and the 5 checkpoints
	const checkId = `lg-${label}-check`;
	const out = await app.invoke(input(), { configurable: { thread_id: checkId } });
	if (out.step !== 3 || out.messages.length !== 3 || out.data.user !== "alice")
		fail(`unexpected final state ${JSON.stringify(out)}`);
	let nHist = 0;
	for await (const _ of app.getStateHistory({ configurable: { thread_id: checkId } })) nHist++;
	if (nHist !== 5) fail(`expected 5 checkpoints for one seed invoke, got ${nHist}`);

	async function phase(tag, secs) {
		const lat = [];
		let n = 0;
		const t0 = performance.now();
		const stopAt = t0 + secs * 1000;
		async function caller(c) {
			while (performance.now() < stopAt) {
				const id = `lg-${label}-${tag}-${c}-${n++}`;
				const s = performance.now();
				await app.invoke(input(), { configurable: { thread_id: id } });
				lat.push(performance.now() - s);
			}
		}
		await Promise.all(Array.from({ length: callers }, (_, c) => caller(c)));
		return { lat, elapsed: (performance.now() - t0) / 1000 };
	}
	if (warmupSeconds > 0) await phase("w", warmupSeconds);
	const { lat, elapsed } = await phase("m", seconds);
	lat.sort((a, b) => a - b);
	const res = await pool.query("SELECT count(*)::int AS n FROM checkpoints WHERE thread_id LIKE $1", [`lg-${label}-m-%`]);
	await pool.end();
	return {
		callers,
		invokes: lat.length,
		seconds: r3(elapsed),
		tps: r3(lat.length / elapsed),
		p50_ms: r3(pct(lat, 50)),
		p99_ms: r3(pct(lat, 99)),
		checkpoints_per_invoke: r3(res.rows[0].n / lat.length),
	};
}

async function chat(turns, getStateCalls, historyReads, pageCalls, delta) {
	const pool = makePool(4);
	const saver = new PostgresSaver(pool);
	const app = chatGraph(saver, delta);
	const turnInput = (t) => ({ messages: [{ role: "user", content: `turn ${t}` }] });

	// warm up (JIT, pool connections) on a thread that is deleted again
	const warm = { configurable: { thread_id: "chat-warmup" } };
	await app.invoke(turnInput(0), warm);
	await saver.deleteThread("chat-warmup");

	// storage of the three tables, measured after every turn outside its timing
	// (stategraph's side does the same between its turns: pgbench/chat.sql)
	const STORAGE = `SELECT (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
	                          WHERE c.relname IN ('checkpoints', 'checkpoint_blobs', 'checkpoint_writes')
	                            AND c.relnamespace = 'public'::regnamespace)::bigint AS storage_bytes`;
	const config = { configurable: { thread_id: "chat-1" } };
	const turnMs = [];
	const turnStorage = [];
	for (let t = 1; t <= turns; t++) {
		const s = performance.now();
		await app.invoke(turnInput(t), config);
		turnMs.push(performance.now() - s);
		turnStorage.push(Number((await pool.query(STORAGE)).rows[0].storage_bytes));
	}

	const state = await app.getState(config);
	const msgs = state.values.messages;
	if (!Array.isArray(msgs) || msgs.length !== 2 * turns || msgs[msgs.length - 1].content !== replyText(turns))
		fail(`chat: unexpected final state (${Array.isArray(msgs) ? msgs.length : typeof msgs} messages)`);
	// measured like stategraph's: octet_length of the jsonb text of the messages
	const sizes = await pool.query(
		`SELECT octet_length($1::jsonb::text) AS state_bytes,
		        (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
		          WHERE c.relname IN ('checkpoints', 'checkpoint_blobs', 'checkpoint_writes')
		            AND c.relnamespace = 'public'::regnamespace)::bigint AS storage_bytes,
		        (SELECT count(*) FROM checkpoints WHERE thread_id = 'chat-1') AS checkpoints`,
		[JSON.stringify(msgs)],
	);

	const gs = [];
	for (let i = 0; i < getStateCalls; i++) {
		const s = performance.now();
		await app.getState(config);
		gs.push(performance.now() - s);
	}
	// pages of 10 snapshots: the newest, and the one before the 300th newest checkpoint
	const deep = await pool.query(
		"SELECT checkpoint_id FROM checkpoints WHERE thread_id = 'chat-1' AND checkpoint_ns = '' ORDER BY checkpoint_id DESC OFFSET 299 LIMIT 1",
	);
	const before = deep.rows.length ? { configurable: { thread_id: "chat-1", checkpoint_ns: "", checkpoint_id: deep.rows[0].checkpoint_id } } : undefined;
	async function page(opts) {
		const s = performance.now();
		let n = 0;
		for await (const _ of app.getStateHistory(config, opts)) n++;
		if (n !== 10) fail(`chat: a history page held ${n} snapshots, not 10`);
		return performance.now() - s;
	}
	const pageNew = [];
	const pageDeep = [];
	for (let i = 0; i < pageCalls; i++) {
		pageNew.push(await page({ limit: 10 }));
		if (before) pageDeep.push(await page({ limit: 10, before }));
	}
	const hist = [];
	let histCount = 0;
	for (let i = 0; i < historyReads; i++) {
		const s = performance.now();
		let n = 0;
		for await (const _ of app.getStateHistory(config)) n++;
		hist.push(performance.now() - s);
		histCount = n;
	}
	await pool.end();
	const k = Math.min(10, turns);
	return {
		delta: !!delta,
		turns,
		turn_ms: turnMs.map(r3),
		turn_storage_bytes: turnStorage,
		first_ms: r3(mean(turnMs.slice(0, k))),
		last_ms: r3(mean(turnMs.slice(-k))),
		first_median_ms: r3(median(turnMs.slice(0, k))),
		last_median_ms: r3(median(turnMs.slice(-k))),
		state_bytes: Number(sizes.rows[0].state_bytes),
		storage_bytes: Number(sizes.rows[0].storage_bytes),
		checkpoints: Number(sizes.rows[0].checkpoints),
		get_state_ms: r3(median(gs)),
		page_ms: r3(median(pageNew)),
		page_deep_ms: pageDeep.length ? r3(median(pageDeep)) : null,
		history_ms: hist.length ? r3(median(hist)) : null,
		history_count: histCount,
	};
}

const [mode, ...args] = process.argv.slice(2);
let result;
try {
	if (mode === "setup") result = await setup();
	else if (mode === "seed") result = await seed(+args[0], +args[1], +args[2], args[3] || "x");
	else if (mode === "chat") result = await chat(+args[0], +args[1], +args[2], +args[3], args[4] === "delta");
	else fail(`unknown mode ${mode}`);
} catch (e) {
	fail(e.stack || String(e));
}
console.log(JSON.stringify(result));
