// StategraphSaver against LangGraph's PostgresSaver: test/lgdiff_fuzz.mjs (random saver
// calls, every result compared) for a few seeds, in this database (PostgresSaver in a
// schema of its own, thread and run ids of this process only), and real graphs
// (test/lgdiff_graphs.mjs: subgraphs, interrupts resumed with Command, Send, parallel
// branches, an error then a retry, updateState on an older checkpoint) whose getState and
// getStateHistory must be PostgresSaver's and MemorySaver's.
//     node --test test/lgdiff.node.mjs      (libpq environment: PGHOST, PGPORT, ...)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import pg from "pg";

const schema = `lgdiff_pg_${process.pid}`;
let pool;
before(async () => {
	pool = new pg.Pool({ max: 2 });
	await pool.query("CREATE EXTENSION IF NOT EXISTS stategraph");
});
after(async () => {
	await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
	await pool.end();
});

function run(script, args, env) {
	return new Promise((resolve) => {
		const db = process.env.PGDATABASE ?? process.env.PGUSER ?? "postgres";
		const child = spawn(process.execPath, [new URL(script, import.meta.url).pathname, ...args], {
			env: { ...process.env, SGDB: db, PGDB: db, PGSCHEMA: schema, ...env },
		});
		let out = "";
		child.stdout.on("data", (d) => (out += d));
		child.stderr.on("data", (d) => (out += d));
		child.on("close", (code) => resolve({ code, out }));
	});
}

for (const seed of [1, 4]) {
	test(`random saver calls, seed ${seed}: every result is PostgresSaver's`, async () => {
		const { code, out } = await run("./lgdiff_fuzz.mjs", [String(seed), "100"], { PREFIX: `lgd${process.pid}s${seed}-` });
		assert.match(out, new RegExp(`# seed ${seed}: 0 diffs`), out.slice(0, 4000));
		assert.equal(code, 0, out.slice(0, 4000));
	});
}

test("real graphs: getState and getStateHistory are PostgresSaver's and MemorySaver's", async () => {
	const { code, out } = await run("./lgdiff_graphs.mjs", []);
	assert.match(out, /# graphs: 0 diffs; history length sg 8 pg 8/, out.slice(0, 4000));
	assert.equal(code, 0, out.slice(0, 4000));
});
