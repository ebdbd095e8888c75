// StategraphSaver where a PostgresSaver user would take it: a connection
// string whose connections the server ends, the extension in a schema of its
// own (or too old), list's limit as PostgresSaver reads it, and a thread
// deleted by another process while a run writes it.
//     node --test test/robust.node.mjs      (libpq environment: PGHOST, PGPORT, ...)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import pg from "pg";
import { Annotation, StateGraph, START, END } from "@langchain/langgraph";
import { emptyCheckpoint, TASKS } from "@langchain/langgraph-checkpoint";
import { StategraphSaver } from "../src/index.js";

let pool;
const run = `robust-${process.pid}`;
const host = encodeURIComponent(process.env.PGHOST ?? "/tmp");
const dbUrl = (db) => `postgresql:///${db}?host=${host}${process.env.PGPORT ? `&port=${process.env.PGPORT}` : ""}`;

before(async () => {
	pool = new pg.Pool({ max: 4 });
	await pool.query("CREATE EXTENSION IF NOT EXISTS stategraph");
});
after(async () => {
	await pool.end();
});

// a database of its own for fn(database name); dropped afterwards
async function withDatabase(suffix, fn) {
	const db = `lg_${suffix}_${process.pid}`;
	await pool.query(`CREATE DATABASE ${db}`);
	try {
		await fn(db);
	} finally {
		await pool.query(`DROP DATABASE ${db} WITH (FORCE)`);
	}
}

test("a saver made from a connection string lives on when the server ends its idle connections", () => {
	// in a child process: an unheard pool "error" event ends the process
	const script = `
		import pg from "pg";
		import { StategraphSaver } from ${JSON.stringify(new URL("../src/index.js", import.meta.url).href)};
		const saver = new StategraphSaver(process.argv[1]);
		await saver.setup();
		const admin = new pg.Client(process.argv[1]);
		await admin.connect();
		const { rows } = await admin.query(
			"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'robust-saver' AND pid <> pg_backend_pid()");
		await new Promise((r) => setTimeout(r, 300));
		const t = await saver.getTuple({ configurable: { thread_id: "robust-none" } });
		console.log("terminated", rows.length, "then read", t === undefined ? "nothing" : "something");
		await admin.end();
		await saver.end();
		await saver.end();
	`;
	const url = `${dbUrl(process.env.PGDATABASE ?? "postgres")}&application_name=robust-saver`;
	const r = spawnSync(process.execPath, ["--input-type=module", "-e", script, url], { encoding: "utf8", timeout: 30000 });
	assert.equal(r.stderr, "");
	assert.equal(r.status, 0);
	assert.equal(r.stdout.trim(), "terminated 1 then read nothing");
});

test("setup() finds the extension in its own schema, off the search path; and says what is wrong", async () => {
	await withDatabase("schema", async (db) => {
		const setupPool = new pg.Pool({ database: db, max: 1 });
		await setupPool.query("CREATE SCHEMA sgx; CREATE EXTENSION stategraph SCHEMA sgx");
		await setupPool.end();
		const other = new pg.Pool({ database: db, max: 2, options: "-c search_path=nowhere" });
		try {
			const saver = new StategraphSaver(other);
			await saver.setup();
			const checkpoint = { ...emptyCheckpoint(), channel_values: { m: ["hello"] }, channel_versions: { m: 1 } };
			const config = { configurable: { thread_id: "t", checkpoint_ns: "" } };
			await saver.put(config, checkpoint, { source: "input", step: -1, parents: {} }, { m: 1 });
			assert.deepStrictEqual((await saver.getTuple(config)).checkpoint.channel_values, { m: ["hello"] });
			await new StategraphSaver(other, undefined, { schema: "sgx" }).setup();
			await assert.rejects(new StategraphSaver(other, undefined, { schema: "public" }).setup(),
				/the stategraph extension is in schema "sgx", not "public"/);
		} finally {
			await other.end();
		}
	});
	await withDatabase("old", async (db) => {
		const old = new pg.Pool({ database: db, max: 1 });
		try {
			await old.query("CREATE EXTENSION stategraph VERSION '0.1.0'");
			await assert.rejects(new StategraphSaver(old).setup(), /stategraph 0\.1\.0 has no sg_lg_put.*ALTER EXTENSION stategraph UPDATE/);
			await old.query("ALTER EXTENSION stategraph UPDATE");
			await new StategraphSaver(old).setup();
		} finally {
			await old.end();
		}
	});
});

test("list reads limit as PostgresSaver does (parseInt)", async () => {
	const saver = new StategraphSaver(pool);
	await saver.setup();
	const thread_id = `${run}-limit`;
	let parent;
	for (let step = -1; step < 3; step++) {
		const checkpoint = { ...emptyCheckpoint(), channel_values: { step }, channel_versions: { step: step + 2 } };
		const cfg = await saver.put({ configurable: { thread_id, checkpoint_ns: "", checkpoint_id: parent } }, checkpoint,
			{ source: step < 0 ? "input" : "loop", step, parents: {} }, { step: step + 2 });
		parent = cfg.configurable.checkpoint_id;
	}
	const steps = async (limit) => {
		const out = [];
		for await (const t of saver.list({ configurable: { thread_id } }, { limit })) out.push(t.metadata.step);
		return out;
	};
	assert.deepStrictEqual(await steps(2.5), [2, 1]);
	assert.deepStrictEqual(await steps("3"), [2, 1, 0]);
	assert.deepStrictEqual(await steps(undefined), [2, 1, 0, -1]);
});

test("list reads an empty checkpoint_id (the config's or before's) as none, as getTuple, MemorySaver and PostgresSaver's config do", async () => {
	const saver = new StategraphSaver(pool);
	await saver.setup();
	const thread_id = `${run}-emptyid`;
	let parent;
	for (let step = -1; step < 2; step++) {
		const checkpoint = { ...emptyCheckpoint(), channel_values: { step }, channel_versions: { step: step + 2 } };
		const cfg = await saver.put({ configurable: { thread_id, checkpoint_ns: "", checkpoint_id: parent } }, checkpoint,
			{ source: step < 0 ? "input" : "loop", step, parents: {} }, { step: step + 2 });
		parent = cfg.configurable.checkpoint_id;
	}
	const steps = async (config, options) => {
		const out = [];
		for await (const t of saver.list(config, options)) out.push(t.metadata.step);
		return out;
	};
	assert.deepStrictEqual(await steps({ configurable: { thread_id, checkpoint_id: "" } }), [1, 0, -1]);
	assert.deepStrictEqual(await steps({ configurable: { thread_id } }, { before: { configurable: { checkpoint_id: "" } } }), [1, 0, -1]);
	assert.equal((await saver.getTuple({ configurable: { thread_id, checkpoint_id: "" } })).metadata.step, 1);
	await saver.deleteThread(thread_id);
});

test("a channel named __proto__ reads back as a channel, not as the prototype of channel_values", async () => {
	const saver = new StategraphSaver(pool);
	await saver.setup();
	const thread_id = `${run}-proto`;
	const id = emptyCheckpoint().id;
	const values = JSON.parse('{"__proto__": ["x", 1], "a": 2, "b": {"__proto__": 3}}');
	const versions = JSON.parse('{"__proto__": 1, "a": 1, "b": 1}');
	const bytesValues = JSON.parse('{"__proto__": "nul \\u0000"}'); // stored as bytes (jsonb holds no NUL)
	for (const [ns, vals] of [["", values], ["bytes", bytesValues]]) {
		const vers = ns ? JSON.parse('{"__proto__": 1}') : versions;
		await saver.put({ configurable: { thread_id, checkpoint_ns: ns } },
			{ ...emptyCheckpoint(), id, channel_values: vals, channel_versions: vers }, { source: "input", step: -1, parents: {} }, vers);
		const t = await saver.getTuple({ configurable: { thread_id, checkpoint_ns: ns } });
		assert.equal(Object.getPrototypeOf(t.checkpoint.channel_values), Object.prototype);
		assert.deepStrictEqual(Object.keys(t.checkpoint.channel_values).sort(), Object.keys(vals).sort());
		assert.deepStrictEqual(Object.getOwnPropertyDescriptor(t.checkpoint.channel_values, "__proto__").value, vals["__proto__"]);
	}
	await saver.deleteThread(thread_id);
});

test("a checkpoint of version < 4: its parent's Send writes stored as bytes come back in the tasks channel, not as null", async () => {
	const saver = new StategraphSaver(pool);
	await saver.setup();
	const thread_id = `${run}-v1sends`;
	const cfg = (checkpoint_id) => ({ configurable: { thread_id, checkpoint_ns: "", checkpoint_id } });
	const parent = { ...emptyCheckpoint(), v: 1, channel_values: { a: 1 }, channel_versions: { a: 1 }, pending_sends: [] };
	await saver.put(cfg(), parent, { source: "input", step: -1, parents: {} }, { a: 1 });
	// JSON, typed bytes (a Uint8Array) and JSON text jsonb cannot hold (stored as bytes too)
	await saver.putWrites(cfg(parent.id), [[TASKS, { node: "n", args: 1 }], [TASKS, new Uint8Array([1, 2])], [TASKS, "nul \u0000"]], "task1");
	const child = { ...emptyCheckpoint(), v: 1, channel_values: { a: 1 }, channel_versions: { a: 1 } };
	await saver.put(cfg(parent.id), child, { source: "loop", step: 0, parents: {} }, {});
	const sends = [{ node: "n", args: 1 }, new Uint8Array([1, 2]), "nul \u0000"];
	const t = await saver.getTuple(cfg(child.id));
	assert.deepStrictEqual(t.checkpoint.channel_values[TASKS], sends);
	const listed = [];
	for await (const x of saver.list(cfg(), { limit: 1 })) listed.push(x.checkpoint.channel_values[TASKS]);
	assert.deepStrictEqual(listed, [sends]);
	await saver.deleteThread(thread_id);
});

test("a thread deleted by another process while a run writes it: the run fails, nothing half stored", async () => {
	const saver = new StategraphSaver(pool);
	const other = new StategraphSaver(pool);
	const thread_id = `${run}-deleted`;
	const State = Annotation.Root({
		messages: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }),
		user: Annotation(),
	});
	const app = new StateGraph(State)
		.addNode("a", () => ({ messages: ["a"] }))
		.addNode("b", async () => {
			await other.deleteThread(thread_id);
			return { messages: ["b"] };
		})
		.addNode("c", () => ({ messages: ["c"] }))
		.addEdge(START, "a")
		.addEdge("a", "b")
		.addEdge("b", "c")
		.addEdge("c", END)
		.compile({ checkpointer: saver });
	const config = { configurable: { thread_id } };
	// before: the run went on and stored checkpoints without "user" (its deleted parent's value)
	await assert.rejects(app.invoke({ messages: ["hi"], user: "alice" }, config),
		(e) => e.code === "40001" && /is not stored/.test(e.message));
	const { rows } = await pool.query("SELECT count(*)::int AS n FROM stategraph.lg_checkpoints WHERE thread_id = $1", [thread_id]);
	assert.equal(rows[0].n, 0);
	// the thread starts again whole
	assert.deepStrictEqual(await app.invoke({ messages: ["hi"], user: "bob" }, { configurable: { thread_id: `${thread_id}-2` } }),
		{ messages: ["hi", "a", "b", "c"], user: "bob" });
});

test("a function or a symbol in the state reads back as MemorySaver reads it (undefined), not as a failed put", async () => {
	const { MemorySaver } = await import("@langchain/langgraph-checkpoint");
	const State = Annotation.Root({
		messages: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }),
		callback: Annotation(),
		tag: Annotation(),
	});
	const results = {};
	for (const [name, saver] of [["memory", new MemorySaver()], ["stategraph", new StategraphSaver(pool)]]) {
		let fail = true;
		const app = new StateGraph(State)
			.addNode("a", () => ({ messages: ["a"], callback: () => 1, tag: Symbol("t") }))
			.addNode("b", () => {
				if (fail) throw new Error("b failed");
				return { messages: ["b"] };
			})
			.addEdge(START, "a")
			.addEdge("a", "b")
			.addEdge("b", END)
			.compile({ checkpointer: saver });
		const config = { configurable: { thread_id: `${run}-fn-${name}` } };
		// before: the put of a's checkpoint failed (22P02, invalid json)
		await assert.rejects(app.invoke({ messages: ["hi"] }, config), /b failed/);
		const failed = await app.getState(config);
		fail = false;
		const done = await app.invoke(null, config);
		results[name] = { failed: [failed.values, failed.next], done };
	}
	assert.deepStrictEqual(results.stategraph, results.memory);
	assert.deepStrictEqual(results.stategraph.done, { messages: ["hi", "a", "b"] });
});

test("a thread id with a lone surrogate (cut inside an emoji), which LangGraph copies into metadata, works", async () => {
	const saver = new StategraphSaver(pool);
	const State = Annotation.Root({ messages: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }) });
	const app = new StateGraph(State)
		.addNode("bot", () => ({ messages: ["hello 😀"] }))
		.addEdge(START, "bot")
		.addEdge("bot", END)
		.compile({ checkpointer: saver });
	const thread_id = `${run}-chat about 😀`.slice(0, -1); // ends with half of the emoji
	const config = { configurable: { thread_id } };
	// before: every put failed (22P02: metadata.thread_id held a lone surrogate jsonb refuses)
	assert.deepStrictEqual(await app.invoke({ messages: ["hi 😀"] }, config), { messages: ["hi 😀", "hello 😀"] });
	assert.deepStrictEqual(await app.invoke({ messages: ["again"] }, config), { messages: ["hi 😀", "hello 😀", "again", "hello 😀"] });
	const state = await app.getState(config);
	// text parameters carry it as U+FFFD (UTF-8 has no lone surrogates), and so does the metadata
	assert.equal(state.metadata.thread_id, `${run}-chat about \ufffd`);
	assert.equal(state.config.configurable.thread_id, `${run}-chat about \ufffd`);
	// an escaped pair and text that only looks like an escape stay as they were
	const cp = { ...emptyCheckpoint(), channel_values: {}, channel_versions: {} };
	await saver.put({ configurable: { thread_id: `${run}-meta`, checkpoint_ns: "" } }, cp,
		{ source: "input", step: -1, parents: {}, pair: "😀", text: "\\ud83d", lone: "a\udc00b" }, {});
	const t = await saver.getTuple({ configurable: { thread_id: `${run}-meta` } });
	assert.deepStrictEqual([t.metadata.pair, t.metadata.text, t.metadata.lone], ["😀", "\\ud83d", "a\ufffdb"]);
});

test("metadata with a lone surrogate is stored in a SQL_ASCII database too (its jsonb refuses a \\ufffd escape: put failed with 0A000)", async () => {
	const db = `lg_ascii_${process.pid}`;
	await pool.query(`CREATE DATABASE ${db} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`);
	try {
		const other = new pg.Pool({ database: db, max: 1 });
		try {
			await other.query("CREATE EXTENSION stategraph");
			const saver = new StategraphSaver(other);
			const cp = { ...emptyCheckpoint(), channel_values: {}, channel_versions: {} };
			const config = { configurable: { thread_id: `${run}-ascii`, checkpoint_ns: "" } };
			await saver.put(config, cp, { source: "input", step: -1, parents: {}, title: "cut \ud83d here" }, {});
			const t = await saver.getTuple({ configurable: { thread_id: `${run}-ascii` } });
			assert.equal(t.metadata.title, "cut \ufffd here");
			// list's filter finds it by the metadata it was given
			const found = [];
			for await (const c of saver.list({ configurable: { thread_id: `${run}-ascii` } }, { filter: { title: "cut \ud83d here" } })) found.push(c);
			assert.equal(found.length, 1);
		} finally {
			await other.end();
		}
	} finally {
		await pool.query(`DROP DATABASE ${db} WITH (FORCE)`);
	}
});

test("end() stores a put and a putWrites that were not awaited (they were still serializing when the pool ended, and were lost)", async () => {
	const saver = new StategraphSaver(dbUrl(process.env.PGDATABASE ?? "postgres"));
	await saver.setup();
	const thread_id = `${run}-end`;
	const first = { ...emptyCheckpoint(), channel_values: { v: 1 }, channel_versions: { v: 1 } };
	const cfg = await saver.put({ configurable: { thread_id, checkpoint_ns: "" } }, first, { source: "input", step: -1, parents: {} }, { v: 1 });
	// neither awaited: end() is called in the same tick
	const writes = saver.putWrites(cfg, [["a", 1]], "t1");
	const second = { ...emptyCheckpoint(), channel_values: { v: 2 }, channel_versions: { v: 2 } };
	const put = saver.put(cfg, second, { source: "loop", step: 0, parents: {} }, { v: 2 });
	await saver.end();
	const outcomes = await Promise.allSettled([writes, put]);
	assert.deepStrictEqual(outcomes.map((o) => o.status), ["fulfilled", "fulfilled"], JSON.stringify(outcomes));
	const reader = new StategraphSaver(pool);
	const t = await reader.getTuple({ configurable: { thread_id, checkpoint_ns: "" } });
	assert.deepStrictEqual(t.checkpoint.channel_values, { v: 2 });
	const parent = await reader.getTuple(cfg);
	assert.deepStrictEqual(parent.pendingWrites, [["t1", "a", 1]]);
	await reader.deleteThread(thread_id);
});

test("deleteThread, copyThread, prune and deleteForRuns refuse null and undefined ids (they became the threads \"null\" and \"undefined\")", async () => {
	const saver = new StategraphSaver(pool);
	await saver.setup();
	for (const id of ["null", "undefined"]) {
		await saver.put({ configurable: { thread_id: id, checkpoint_ns: "" } },
			{ ...emptyCheckpoint(), channel_values: { v: 1 }, channel_versions: { v: 1 } }, { source: "input", step: -1, parents: {} }, { v: 1 });
	}
	await assert.rejects(saver.deleteThread(null), /must not contain null or undefined/);
	await assert.rejects(saver.deleteThread(undefined), /must not contain null or undefined/);
	await assert.rejects(saver.copyThread("null", undefined), /must not contain null or undefined/);
	await assert.rejects(saver.prune([null]), /must not contain null or undefined/);
	await assert.rejects(saver.deleteForRuns([undefined]), /must not contain null or undefined/);
	for (const id of ["null", "undefined"]) {
		assert.ok(await saver.getTuple({ configurable: { thread_id: id, checkpoint_ns: "" } }), `thread "${id}" is still there`);
		await saver.deleteThread(id);
	}
});

test("a pool whose transactions are SERIALIZABLE (default_transaction_isolation): a step's parallel tasks do not fail the run with 40001", async () => {
	// Each saver call is one statement, so its own transaction: in SERIALIZABLE a
	// step's tasks, whose writes the saver sends at once (and the put after them),
	// read and write the same thread's rows concurrently, and the server rolled one
	// of them back ("could not serialize access due to read/write dependencies
	// among transactions"): a run of one process failed where PostgresSaver's did not.
	const serializable = new pg.Pool({ max: 6, options: "-c default_transaction_isolation=serializable" });
	try {
		const saver = new StategraphSaver(serializable);
		await saver.setup();
		const State = Annotation.Root({ log: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }) });
		const tasks = ["t1", "t2", "t3", "t4", "t5"];
		let g = new StateGraph(State).addNode("start", () => ({ log: ["start"] })).addNode("join", () => ({ log: ["join"] }));
		for (const t of tasks)
			g = g.addNode(t, async () => {
				await new Promise((r) => setTimeout(r, Math.random() * 5));
				return { log: [`${t} ${"x".repeat(80)}`] };
			}).addEdge("start", t).addEdge(t, "join");
		const app = g.addEdge(START, "start").addEdge("join", END).compile({ checkpointer: saver });
		const threads = Array.from({ length: 8 }, (_, i) => `${run}-serializable-${i}`);
		for (let round = 0; round < 3; round++) {
			const outcomes = await Promise.allSettled(threads.map((thread_id) => app.invoke({ log: [] }, { configurable: { thread_id } })));
			const failed = outcomes.filter((o) => o.status === "rejected").map((o) => `${o.reason.code}: ${o.reason.message}`);
			assert.deepStrictEqual(failed, []);
			for (const o of outcomes) assert.equal(o.value.log.length, 7 * (round + 1));
		}
		for (const thread_id of threads) await saver.deleteThread(thread_id);
	} finally {
		await serializable.end();
	}
});

test("a pool whose transactions are REPEATABLE READ: a delete that waited for another writer's put deletes, a stale put that waited is refused as a stale writer", async () => {
	// A call's snapshot is taken before it waits for the thread's lock: once the writer
	// it waited for committed, the extension refused it as its snapshot missed that commit
	// ("could not serialize access to thread ... due to concurrent update"), where READ
	// COMMITTED goes on. The call was its own transaction: it runs again, with a snapshot
	// that sees the commit.
	const rr = new pg.Pool({ max: 2, application_name: "robust-rr", options: "-c default_transaction_isolation=repeatable\\ read" });
	const other = new pg.Client();
	await other.connect();
	// until the saver's call waits for the lock the uncommitted put of other holds
	const waiting = async () => {
		for (;;) {
			const { rows } = await pool.query("SELECT 1 FROM pg_stat_activity WHERE application_name = 'robust-rr' AND wait_event_type = 'Lock'");
			if (rows.length > 0) return;
			await new Promise((r) => setTimeout(r, 20));
		}
	};
	try {
		const saver = new StategraphSaver(rr);
		await saver.setup();
		const thread_id = `${run}-rr`;
		const config = { configurable: { thread_id, checkpoint_ns: "" } };
		const cp = (v) => ({ ...emptyCheckpoint(), channel_values: { v }, channel_versions: { v } });
		const c0 = await saver.put(config, cp(1), { source: "input", step: -1, parents: {} }, { v: 1 });
		await other.query("BEGIN");
		await new StategraphSaver(other).put(c0, cp(2), { source: "loop", step: 0, parents: {} }, { v: 2 });
		const stale = saver.put(c0, cp(3), { source: "loop", step: 0, parents: {} }, { v: 3 });
		await waiting();
		await other.query("COMMIT");
		await assert.rejects(stale, (e) => e.code === "40001" && /was advanced by another writer/.test(e.message));
		const head = await saver.getTuple(config);
		assert.deepStrictEqual(head.checkpoint.channel_values, { v: 2 });
		await other.query("BEGIN");
		await new StategraphSaver(other).put(head.config, cp(4), { source: "loop", step: 1, parents: {} }, { v: 4 });
		const deleted = saver.deleteThread(thread_id);
		await waiting();
		await other.query("COMMIT");
		await deleted;
		assert.equal(await saver.getTuple(config), undefined);
	} finally {
		await other.end();
		await rr.end();
	}
});
