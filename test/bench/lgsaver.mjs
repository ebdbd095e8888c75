// LangGraph.js 1.7.3 with StategraphSaver vs PostgresSaver, side by side
// (driven by test/bench/lgsaver.sh, one database per saver on one cluster).
//
//   node lgsaver.mjs <postgres|stategraph|memory> seed <callers> <seconds> <warmup_seconds>
//   node lgsaver.mjs <postgres|stategraph|memory> chat <turns> <getstate_calls> <page_calls>
//   node lgsaver.mjs reads <postgres_db> <stategraph_db> <getstate_calls> <page_calls>
//
// Modules come from clients/langgraph-js/node_modules (the versions of its lock
// file: @langchain/langgraph 1.7.3, -checkpoint-postgres 1.0.5, pg 8.23.1), so
// both savers run under one copy of LangGraph. Connects with the libpq
// environment. Prints one JSON object.
//
// The graphs are langgraph/graphs.mjs's, as for langgraph/bench.mjs: the seed graph
// (START -> step1 -> step2 -> step3 -> END) and a 200-turn chat whose reply to
// "turn N" is 190 English words picked by md5("N-i") (about 1 KB).
//
// `memory` runs the seed graph with LangGraph's own MemorySaver (no database):
// the floor both savers stand on, LangGraph's own work per invoke in Node.

import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import { pathToFileURL, fileURLToPath } from "node:url";
import { graphs } from "./langgraph/graphs.mjs";

const client = fileURLToPath(new URL("../../clients/langgraph-js/", import.meta.url));
const require = createRequire(`${client}package.json`);
const load = async (name) => import(pathToFileURL(require.resolve(name)).href);
const pg = (await load("pg")).default;
const { seedGraph, chatGraph, replyText } = graphs(await load("@langchain/langgraph"));
const { PostgresSaver } = await load("@langchain/langgraph-checkpoint-postgres");
const { MemorySaver } = await load("@langchain/langgraph-checkpoint");
const { StategraphSaver } = await import(pathToFileURL(`${client}src/index.js`).href);

const r3 = (x) => (x == null ? null : Math.round(x * 1000) / 1000);
const median = (xs) => {
	const s = [...xs].sort((a, b) => a - b);
	return s.length ? s[Math.ceil(s.length / 2) - 1] : null;
};
const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
function fail(msg) {
	console.error(`lgsaver.mjs: ${msg}`);
	process.exit(1);
}

const TABLES = {
	postgres: ["public.checkpoints", "public.checkpoint_blobs", "public.checkpoint_writes", "public.checkpoint_migrations"],
	stategraph: ["stategraph.lg_checkpoints", "stategraph.lg_blobs", "stategraph.lg_writes"],
	memory: [],
};

async function makeSaver(kind, pool) {
	if (kind === "memory") return new MemorySaver();
	const saver = kind === "postgres" ? new PostgresSaver(pool) : new StategraphSaver(pool);
	await saver.setup();
	return saver;
}

async function seed(kind, callers, seconds, warmupSeconds) {
	const pool = new pg.Pool({ max: callers + 2 });
	const app = seedGraph(await makeSaver(kind, pool));
	const input = () => ({ messages: [], step: 0, data: { user: "alice" } });
	const run = `c${callers}-${process.pid}-${Date.now()}`; // thread ids of this run only
	const out = await app.invoke(input(), { configurable: { thread_id: `${run}-check` } });
	if (out.step !== 3 || out.messages.length !== 3) fail(`unexpected final state ${JSON.stringify(out)}`);
	let n = 0;
	async function phase(tag, secs) {
		const lat = [];
		const t0 = performance.now();
		const stopAt = t0 + secs * 1000;
		await Promise.all(
			Array.from({ length: callers }, async (_, c) => {
				while (performance.now() < stopAt) {
					const s = performance.now();
					await app.invoke(input(), { configurable: { thread_id: `${run}-${tag}-${c}-${n++}` } });
					lat.push(performance.now() - s);
				}
			}),
		);
		return { lat, elapsed: (performance.now() - t0) / 1000 };
	}
	if (warmupSeconds > 0) await phase("w", warmupSeconds);
	const cpu = process.cpuUsage();
	const { lat, elapsed } = await phase("m", seconds);
	const { user, system } = process.cpuUsage(cpu);
	await pool.end();
	// Node's CPU per invoke: LangGraph's own work plus the saver's (serializing,
	// the driver, the socket writes of each round trip)
	return { kind, callers, invokes: lat.length, tps: r3(lat.length / elapsed), p50_ms: r3(median(lat)),
		node_cpu_ms: r3((user + system) / 1000 / lat.length) };
}

async function chat(kind, turns, getStateCalls, pageCalls) {
	const pool = new pg.Pool({ max: 4 });
	const app = chatGraph(await makeSaver(kind, pool));
	const warm = { configurable: { thread_id: "chat-warmup" } };
	await app.invoke({ messages: [{ role: "user", content: "turn 0" }] }, warm);
	const config = { configurable: { thread_id: "chat-1" } };
	const turnMs = [];
	for (let t = 1; t <= turns; t++) {
		const s = performance.now();
		await app.invoke({ messages: [{ role: "user", content: `turn ${t}` }] }, config);
		turnMs.push(performance.now() - s);
	}
	const state = await app.getState(config);
	const msgs = state.values.messages;
	if (msgs.length !== 2 * turns || msgs[msgs.length - 1].content !== replyText(turns)) fail("chat: unexpected final state");
	const k = Math.min(10, turns);
	const times = { kind, turns, first_ms: r3(mean(turnMs.slice(0, k))), last_ms: r3(mean(turnMs.slice(-k))) };
	// MemorySaver: LangGraph's own turn (it copies the whole state at every
	// checkpoint too), the floor of both savers' turn times; nothing stored
	if (kind === "memory") {
		await pool.end();
		return times;
	}
	// the warm-up thread is deleted before sizes are taken, so only chat-1 is counted
	await pool.query(kind === "postgres" ? "DELETE FROM checkpoint_writes WHERE thread_id = 'chat-warmup'" : "SELECT sg_lg_delete_thread('chat-warmup')");
	if (kind === "postgres") {
		await pool.query("DELETE FROM checkpoints WHERE thread_id = 'chat-warmup'");
		await pool.query("DELETE FROM checkpoint_blobs WHERE thread_id = 'chat-warmup'");
	}
	for (const t of TABLES[kind]) await pool.query(`VACUUM ${t}`);
	const sizes = await pool.query(
		`SELECT octet_length($1::jsonb::text) AS state_bytes,
		        (SELECT sum(pg_total_relation_size(t::regclass)) FROM unnest($2::text[]) t)::bigint AS storage_bytes`,
		[JSON.stringify(msgs), TABLES[kind]],
	);
	const gs = [];
	for (let i = 0; i < getStateCalls; i++) {
		const s = performance.now();
		await app.getState(config);
		gs.push(performance.now() - s);
	}
	const pages = [];
	for (let i = 0; i < pageCalls; i++) {
		const s = performance.now();
		let n = 0;
		for await (const _ of app.getStateHistory(config, { limit: 10 })) n++;
		if (n !== 10) fail(`chat: a history page held ${n} snapshots`);
		pages.push(performance.now() - s);
	}
	await pool.end();
	return {
		...times,
		state_bytes: Number(sizes.rows[0].state_bytes),
		storage_bytes: Number(sizes.rows[0].storage_bytes),
		get_state_ms: r3(median(gs)),
		page_ms: r3(median(pages)),
	};
}

// getState and history pages of both chats (made by chat above, one database
// each), the two savers' calls alternating, so that the shared machine's load
// at any moment weighs on both alike.
async function reads(pgDb, sgDb, getStateCalls, pageCalls) {
	const apps = {};
	const pools = [];
	for (const [kind, database] of [["postgres", pgDb], ["stategraph", sgDb]]) {
		const pool = new pg.Pool({ max: 4, database });
		pools.push(pool);
		apps[kind] = chatGraph(await makeSaver(kind, pool));
	}
	const config = { configurable: { thread_id: "chat-1" } };
	const gs = { postgres: [], stategraph: [] };
	const pages = { postgres: [], stategraph: [] };
	for (const kind of Object.keys(apps)) await apps[kind].getState(config); // warm both
	for (let i = 0; i < getStateCalls; i++)
		for (const kind of i % 2 ? ["stategraph", "postgres"] : ["postgres", "stategraph"]) {
			const s = performance.now();
			await apps[kind].getState(config);
			gs[kind].push(performance.now() - s);
		}
	for (let i = 0; i < pageCalls; i++)
		for (const kind of i % 2 ? ["stategraph", "postgres"] : ["postgres", "stategraph"]) {
			const s = performance.now();
			let n = 0;
			for await (const _ of apps[kind].getStateHistory(config, { limit: 10 })) n++;
			if (n !== 10) fail(`reads: a history page held ${n} snapshots`);
			pages[kind].push(performance.now() - s);
		}
	for (const pool of pools) await pool.end();
	const out = {};
	for (const kind of Object.keys(apps))
		out[kind] = { get_state_ms: r3(median(gs[kind])), page_ms: r3(median(pages[kind])) };
	return out;
}

const [kind, mode, ...args] = process.argv.slice(2);
let result;
try {
	if (kind === "reads") result = await reads(mode, args[0], +args[1], +args[2]);
	else if (!TABLES[kind]) fail(`unknown saver ${kind}`);
	else if (mode === "seed") result = await seed(kind, +args[0], +args[1], +args[2]);
	else if (mode === "chat") result = await chat(kind, +args[0], +args[1], +args[2]);
	else fail(`unknown mode ${mode}`);
} catch (e) {
	fail(e.stack || String(e));
}
console.log(JSON.stringify(result));
