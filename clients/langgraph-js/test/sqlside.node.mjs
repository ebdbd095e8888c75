// LangGraph.js agent threads from the SQL side: sg_threads, sg_get_state and
// sg_get_state_history read what LangGraph.js itself reports (getState,
// getStateHistory); sg_export_thread / sg_import_thread, sg_prune, sg_lg_prune
// and copyThread leave a thread that LangGraph.js reads the same and continues;
// stategraph's own writers (sg_update_state, sg_fork, sg_invoke) refuse it.
// The agents are createReactAgent with a scripted model (no network).
//     node --test test/sqlside.node.mjs      (libpq environment: PGHOST, PGPORT, ...)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { z } from "zod";
import { Annotation, MessagesAnnotation, StateGraph, START, END, Send, interrupt, Command } from "@langchain/langgraph";
import { createReactAgent } from "@langchain/langgraph/prebuilt";
import { AIMessage, HumanMessage, RemoveMessage, ToolMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { StategraphSaver } from "../src/index.js";
import { ScriptedChatModel, getWeather, add, bookingParentGraph } from "./scripted_agent.mjs";

let pool;
let saver;
const otherDb = `sqlside_${process.pid}`;
let otherPool;
let otherSaver;

before(async () => {
	pool = new pg.Pool({ max: 4 });
	await pool.query("CREATE EXTENSION IF NOT EXISTS stategraph");
	saver = new StategraphSaver(pool);
	await saver.setup();
	await pool.query(`CREATE DATABASE ${otherDb}`);
	otherPool = new pg.Pool({ max: 2, database: otherDb });
	await otherPool.query("CREATE EXTENSION stategraph");
	otherSaver = new StategraphSaver(otherPool);
	await otherSaver.setup();
});
after(async () => {
	await otherPool.end();
	await pool.query(`DROP DATABASE IF EXISTS ${otherDb}`);
	await pool.end();
});

const agent = (cp, extra = {}) => createReactAgent({ llm: new ScriptedChatModel(), tools: [getWeather, add], checkpointer: cp, ...extra });

const human = (content, id) => new HumanMessage({ content, id });
const cfg = (name) => ({ configurable: { thread_id: `sqlside-${name}-${process.pid}` } });
const idOf = (c) => c.configurable.thread_id;
// what a conversation says (reducer-drawn message ids differ between runs)
const contents = (messages) => messages.map((m) => `${m.getType()}:${m.content}`);

const sqlState = async (id, checkpointId = null, db = pool) =>
	(await db.query("SELECT to_jsonb(s) AS s FROM sg_get_state($1, $2) s", [id, checkpointId])).rows[0].s;
const sqlHistory = async (id, db = pool) =>
	(await db.query("SELECT to_jsonb(s) AS s FROM sg_get_state_history($1) s", [id])).rows.map((r) => r.s);
const sqlThread = async (id, db = pool) =>
	(await db.query("SELECT to_jsonb(t) AS t FROM sg_threads() t WHERE thread_id = $1", [id])).rows[0]?.t;
async function lgHistory(app, c) {
	const all = [];
	for await (const s of app.getStateHistory(c)) all.push(s);
	return all;
}

// README, "The same thread in psql": what SQL shows of a LangGraph.js snapshot.
// values: each channel's value as LangGraph's serializer stores it, so a LangChain
// message is its "lc" object ({lc, type: "constructor", id, kwargs}), which is
// the message's own toJSON(); next: the nodes LangGraph.js runs next (sorted);
// step and source: its metadata's; checkpoint and parent ids: its configs';
// metadata: as stored (getState adds thread_id); tasks: one per task with
// pending writes (name NULL), with their interrupts.
async function assertSqlReads(sql, s, what, cp = saver, updated = new Set()) {
	assert.ok(sql, `${what}: a row`);
	// a channel the checkpoint holds no value of (never written) is left out: its
	// default (the messages channel's []) is in LangGraph.js's graph, not in SQL
	const stored = Object.keys((await cp.getTuple(s.config))?.checkpoint.channel_values ?? {});
	const values = JSON.parse(JSON.stringify(s.values));
	for (const k of Object.keys(values)) if (!stored.includes(k)) delete values[k];
	assert.deepStrictEqual(sql.values, values, `${what}: values`);
	assert.deepStrictEqual(sql.next, [...s.next].sort(), `${what}: next`);
	assert.equal(sql.step, s.metadata.step, `${what}: step`);
	assert.equal(sql.source, s.metadata.source, `${what}: source`);
	assert.equal(sql.checkpoint_id, s.config.configurable.checkpoint_id, `${what}: checkpoint_id`);
	assert.equal(sql.parent_checkpoint_id, s.parentConfig?.configurable?.checkpoint_id ?? null, `${what}: parent`);
	// metadata as stored: getState adds the thread's id (SQL's thread_id column)
	assert.deepStrictEqual(sql.metadata, JSON.parse(JSON.stringify({ ...s.metadata, thread_id: undefined })), `${what}: metadata`);
	const withInterrupts = s.tasks.filter((t) => t.interrupts.length);
	assert.deepStrictEqual(
		sql.tasks.filter((t) => t.interrupts.length).map((t) => [t.id, t.interrupts]),
		withInterrupts.map((t) => [t.id, JSON.parse(JSON.stringify(t.interrupts))]),
		`${what}: tasks' interrupts`,
	);
	assert.deepStrictEqual(sql.interrupts, JSON.parse(JSON.stringify(withInterrupts.flatMap((t) => t.interrupts))), `${what}: interrupts`);
	const failed = s.tasks.filter((t) => t.error);
	assert.deepStrictEqual(sql.tasks.filter((t) => t.error).map((t) => [t.id, t.error]),
		failed.map((t) => [t.id, JSON.parse(JSON.stringify(t.error))]), `${what}: tasks' errors`);
	assert.equal(new Date(sql.created_at).getTime(), new Date(s.createdAt).getTime(), `${what}: created_at`);
	// every task SQL lists is one of LangGraph.js's, with its result, or the writes
	// of an updateState from this checkpoint (LangGraph.js lists the next tasks only)
	for (const t of sql.tasks) {
		const lg = s.tasks.find((x) => x.id === t.id);
		if (!lg && updated.has(sql.checkpoint_id)) continue;
		assert.ok(lg, `${what}: task ${t.id}`);
		if (lg.result !== undefined) assert.deepStrictEqual(t.result, JSON.parse(JSON.stringify(lg.result)), `${what}: task ${t.id}'s result`);
	}
}

async function assertSqlReadsThread(app, c, db = pool, cp = saver) {
	const id = idOf(c);
	const state = await app.getState(c);
	const history = await lgHistory(app, c);
	const updated = new Set(history.filter((h) => h.metadata.source === "update").map((h) => h.parentConfig?.configurable.checkpoint_id));
	// SQL's values are the checkpoint's: getState of the newest also applies the
	// writes of tasks that finished beside a failure or interrupt, getState by id does not
	await assertSqlReads(await sqlState(id, null, db), await app.getState(state.config), `${id} state`, cp, updated);
	const rows = await sqlHistory(id, db);
	assert.equal(rows.length, history.length, `${id}: history length`);
	for (const [i, s] of history.entries()) {
		await assertSqlReads(rows[i], s, `${id} history ${i}`, cp, updated);
		await assertSqlReads(await sqlState(id, s.config.configurable.checkpoint_id, db), s, `${id} state of history ${i}`, cp, updated);
	}
	return { state, history };
}

// what LangGraph.js reads of two threads that must be the same but for their ids
const sameThread = (s) => ({
	values: JSON.parse(JSON.stringify(s.values)),
	next: s.next,
	tasks: JSON.parse(JSON.stringify(s.tasks.map((t) => ({ id: t.id, name: t.name, interrupts: t.interrupts })))),
	metadata: { ...s.metadata, thread_id: undefined },
	checkpoint_id: s.config.configurable.checkpoint_id,
	parent: s.parentConfig?.configurable?.checkpoint_id,
	createdAt: s.createdAt,
});
async function assertSameThread(app, c, copyApp, copy) {
	assert.deepStrictEqual(sameThread(await copyApp.getState(copy)), sameThread(await app.getState(c)));
	assert.deepStrictEqual((await lgHistory(copyApp, copy)).map(sameThread), (await lgHistory(app, c)).map(sameThread));
}

const paused = cfg("paused");
const subgraph = cfg("subgraph");
const done = cfg("done");

test("an agent interrupted before its tools reads the same from SQL", async () => {
	const app = agent(saver, { interruptBefore: ["tools"] });
	await app.invoke({ messages: [human("weather in Paris and 2+3", "h-0")] }, paused);
	const { state, history } = await assertSqlReadsThread(app, paused);
	assert.deepStrictEqual(state.next, ["tools"]);
	assert.equal(state.values.messages.at(-1).tool_calls.length, 2);
	// an AIMessage with tool calls, as SQL users see it
	const sql = await sqlState(idOf(paused));
	const ask = sql.values.messages.at(-1);
	assert.deepStrictEqual([ask.lc, ask.type, ask.id], [1, "constructor", ["langchain_core", "messages", "AIMessage"]]);
	assert.deepStrictEqual(ask.kwargs.tool_calls.map((t) => [t.name, t.args, t.id]), [
		["get_weather", { city: "Paris", units: "metric" }, "call-1-0"],
		["add", { a: 2, b: 3 }, "call-1-1"],
	]);
	assert.deepStrictEqual(await sqlThread(idOf(paused)), {
		thread_id: idOf(paused),
		graph: null,
		status: "idle",
		next: ["tools"],
		checkpoints: history.length,
		created_at: (await sqlHistory(idOf(paused))).at(-1).created_at,
		updated_at: sql.created_at,
	});
});

test("an agent subgraph waiting on its tool's interrupt reads the same from SQL", async () => {
	const app = bookingParentGraph(saver);
	await app.invoke({ messages: [human("weather in Paris and 1+2", "h-0")] }, subgraph);
	const { state } = await assertSqlReadsThread(app, subgraph);
	assert.deepStrictEqual(state.next, ["agent"]);
	assert.deepStrictEqual(state.tasks.flatMap((t) => t.interrupts.map((i) => i.value)), [{ question: "book Paris?" }]);
	const row = await sqlThread(idOf(subgraph));
	assert.deepStrictEqual([row.status, row.next], ["interrupted", ["agent"]]);
	// the subgraph's namespace is stored too, and not counted as the root's
	const { rows } = await pool.query(
		"SELECT checkpoint_ns <> '' AS sub, count(*)::int AS n FROM stategraph.lg_checkpoints WHERE thread_id = $1 GROUP BY 1 ORDER BY 1",
		[idOf(subgraph)],
	);
	assert.equal(rows.length, 2);
	assert.equal(row.checkpoints, rows[0].n);
});

test("time travel: a fork's history reads the same from SQL", async () => {
	const app = agent(saver);
	const c = cfg("fork");
	for (const [i, text] of ["weather in Paris", "1+1", "thanks"].entries()) await app.invoke({ messages: [human(text, `h-${i}`)] }, c);
	let first;
	for await (const s of app.getStateHistory(c)) if (s.metadata.source === "loop" && s.next.length === 0 && s.values.messages.length === 4) first = s;
	const forked = await app.invoke({ messages: [human("2+2", "h-fork")] }, first.config);
	assert.deepStrictEqual(contents(forked.messages).slice(3), ["ai:Answer: Sunny in Paris, 21 degrees (metric)", "human:2+2", "ai:", "tool:4", "ai:Answer: 4"]);
	const { history } = await assertSqlReadsThread(app, c);
	// the fork's first checkpoint's parent is the old one
	const forkInput = history.find((s) => s.metadata.source === "input" && s.parentConfig?.configurable.checkpoint_id === first.config.configurable.checkpoint_id && s.metadata.step === first.metadata.step + 1);
	assert.ok(forkInput, "the fork starts at the old checkpoint");
	// a page of history: limit, before, filter
	const page = [];
	for await (const s of app.getStateHistory(c, { limit: 3, before: history[2].config, filter: { source: "loop" } })) page.push(s);
	const { rows } = await pool.query(
		`SELECT to_jsonb(s) AS s FROM sg_get_state_history($1, "limit" => 3, before => $2, filter => '{"source": "loop"}') s`,
		[idOf(c), history[2].config.configurable.checkpoint_id],
	);
	assert.equal(page.length, 3);
	assert.equal(rows.length, 3);
	for (const [i, s] of page.entries()) await assertSqlReads(rows[i].s, s, `page ${i}`);
	// and an update from the old checkpoint (time travel with updateState)
	await app.updateState(first.config, { messages: [human("as if", "h-upd")] });
	await assertSqlReadsThread(app, c);
});

test("a failed model call: the thread reads as failed from SQL", async () => {
	const app = agent(saver);
	const c = cfg("failed");
	await app.invoke({ messages: [human("weather in Paris", "h-0")] }, c);
	const error = await app.invoke({ messages: [human("crash now", "h-1")] }, c).then(() => "none", (e) => e.message);
	assert.equal(error, "model unavailable");
	const { state } = await assertSqlReadsThread(app, c);
	assert.deepStrictEqual(state.next, ["agent"]);
	const sql = await sqlState(idOf(c));
	assert.deepStrictEqual(sql.tasks.map((t) => [t.name, t.error]), [[null, { name: "Error", message: "model unavailable" }]]);
	assert.deepStrictEqual([(await sqlThread(idOf(c))).status, (await sqlThread(idOf(c))).next], ["error", ["agent"]]);
});

// two tool calls run as two tasks (the v2 tool node): one asks a human, the other
// is done; getState applies the done task's writes to its values (and leaves it out
// of next), SQL shows them as that task's result only: its values are the
// checkpoint's, what getState reads of the checkpoint by its id
test("a tool interrupt beside a finished tool: SQL shows the checkpoint and the finished task's result", async () => {
	const book = tool(async ({ city }) => `booked ${city}: ${interrupt({ question: `book ${city}?` })}`, {
		name: "get_weather",
		description: "Books a trip (asks first)",
		schema: z.object({ city: z.string(), units: z.string() }),
	});
	const app = createReactAgent({ llm: new ScriptedChatModel(), tools: [book, add], checkpointer: saver, version: "v2" });
	const c = cfg("sibling");
	await app.invoke({ messages: [human("weather in Oslo and 3+4", "h-0")] }, c);
	const newest = await app.getState(c);
	const byId = await app.getState(newest.config);
	assert.equal(newest.values.messages.length, byId.values.messages.length + 1, "getState applies the finished task's write");
	await assertSqlReads(await sqlState(idOf(c)), byId, "sibling");
	const sql = await sqlState(idOf(c));
	const done = sql.tasks.filter((t) => t.result && Object.keys(t.result).length);
	assert.equal(done.length, 1);
	assert.deepStrictEqual(done[0].result.messages.map((m) => [m.id.at(-1), m.kwargs.content]), [["ToolMessage", "7"]]);
	assert.deepStrictEqual(sql.interrupts.map((i) => i.value), [{ question: "book Oslo?" }]);
	assert.deepStrictEqual([(await sqlThread(idOf(c))).status, (await sqlThread(idOf(c))).next], ["interrupted", ["tools", "tools"]]);
	assert.deepStrictEqual(contents((await app.invoke(new Command({ resume: "yes" }), c)).messages).slice(-3),
		["tool:booked Oslo: yes", "tool:7", "ai:Answer: booked Oslo: yes; 7"]);
	await assertSqlReadsThread(app, c);
});

// a Command's resume by interrupt id: LangGraph.js writes it under the interrupt's
// id as if it were a task's (__resume__ only): SQL lists no such task
test("two parallel interrupts, one answered by its id: SQL lists the graph's tasks only", async () => {
	const app = new StateGraph(Annotation.Root({ log: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }) }))
		.addNode("a", () => ({ log: ["a:" + interrupt("qa")] }))
		.addNode("b", () => ({ log: ["b:" + interrupt("qb")] }))
		.addEdge(START, "a").addEdge(START, "b").addEdge("a", END).addEdge("b", END)
		.compile({ checkpointer: saver });
	const c = cfg("resume-by-id");
	await app.invoke({ log: ["in"] }, c);
	const first = await app.getState(c);
	const ia = first.tasks.find((t) => t.name === "a").interrupts[0].id;
	await app.invoke(new Command({ resume: { [ia]: "ya" } }), c);
	const { rows } = await pool.query("SELECT count(*)::int AS n FROM stategraph.lg_writes WHERE thread_id = $1 AND task_id = $2", [idOf(c), ia]);
	assert.ok(rows[0].n > 0, "LangGraph.js wrote the answer under the interrupt's id");
	const sql = await sqlState(idOf(c));
	assert.equal(sql.tasks.some((t) => t.id === ia), false, "no task of the interrupt's id");
	await assertSqlReadsThread(app, c);
	const ib = (await app.getState(c)).tasks.find((t) => t.name === "b").interrupts[0].id;
	assert.deepStrictEqual((await app.invoke(new Command({ resume: { [ib]: "yb" } }), c)).log.sort(), ["a:ya", "b:yb", "in"]);
	await assertSqlReadsThread(app, c);
});

// the v2 tool node runs each tool call as a Send task: SQL lists them as next too
test("an agent whose tool calls are Send tasks, interrupted before them: next and status from SQL", async () => {
	const app = agent(saver, { version: "v2", interruptBefore: ["tools"] });
	const c = cfg("sends");
	await app.invoke({ messages: [human("weather in Lima and 4+4", "h-0")] }, c);
	const { state } = await assertSqlReadsThread(app, c);
	assert.deepStrictEqual(state.next, ["tools", "tools"]);
	const row = await sqlThread(idOf(c));
	assert.deepStrictEqual([row.status, row.next], ["idle", ["tools", "tools"]]);
	await app.invoke(null, c);
	await assertSqlReadsThread(app, c);
	assert.deepStrictEqual(((await sqlThread(idOf(c))).status), "done");
});

test("a Send fan-out whose second worker fails: next, tasks and status from SQL", async () => {
	let failing = true;
	const app = new StateGraph(MessagesAnnotation)
		.addNode("w", async (st) => {
			if (st.n === 2 && failing) {
				await new Promise((r) => setTimeout(r, 20)); // after its siblings
				throw new Error("w2 failed");
			}
			return { messages: [new AIMessage({ id: `w-${st.n}`, content: `w${st.n} done` })] };
		})
		.addConditionalEdges(START, () => [1, 2, 3].map((n) => new Send("w", { messages: [], n })))
		.addEdge("w", END)
		.compile({ checkpointer: saver });
	const c = cfg("fanout");
	assert.equal(await app.invoke({ messages: [human("fan out", "h-0")] }, c).then(() => "none", (e) => e.message), "w2 failed");
	const { state } = await assertSqlReadsThread(app, c);
	assert.deepStrictEqual(state.next, ["w"]);
	const row = await sqlThread(idOf(c));
	assert.deepStrictEqual([row.status, row.next], ["error", ["w", "w", "w"]]);
	const sql = await sqlState(idOf(c));
	assert.deepStrictEqual(sql.tasks.map((t) => t.error?.message ?? null).sort(), ["w2 failed", null, null].sort());
	failing = false;
	assert.deepStrictEqual(contents((await app.invoke(null, c)).messages), ["human:fan out", "ai:w1 done", "ai:w2 done", "ai:w3 done"]);
	await assertSqlReadsThread(app, c);
	assert.equal((await sqlThread(idOf(c))).status, "done");
});

// a node that returns a key set to undefined writes LangGraph's undefined record for
// it: LangGraph.js reads no such key back, so neither its task's result from SQL
test("a node's update with a key set to undefined: its task's result from SQL has no such key", async () => {
	const app = new StateGraph(Annotation.Root({ foo: Annotation(), bar: Annotation() }))
		.addNode("a", async () => ({ foo: undefined, bar: 1 }))
		.addNode("b", async () => {
			throw new Error("b failed");
		})
		.addEdge(START, "a").addEdge("a", "b").addEdge("b", END)
		.compile({ checkpointer: saver });
	const c = cfg("undefined-write");
	assert.equal(await app.invoke({ foo: 1 }, c).then(() => "none", (e) => e.message), "b failed");
	const { history } = await assertSqlReadsThread(app, c);
	const before = history.find((h) => h.next.includes("a"));
	const sql = await sqlState(idOf(c), before.config.configurable.checkpoint_id);
	assert.deepStrictEqual(sql.tasks.map((t) => t.result), [{ bar: 1 }]);
});

test("updateState with RemoveMessage reads the same from SQL", async () => {
	const app = agent(saver, { interruptBefore: ["tools"] });
	const c = cfg("remove");
	await app.invoke({ messages: [human("hello", "h-0")] }, c);
	await app.invoke({ messages: [human("weather in Bern", "h-1")] }, c);
	const ask = (await app.getState(c)).values.messages.at(-1);
	await app.updateState(c, { messages: [new RemoveMessage({ id: ask.id }), new RemoveMessage({ id: "h-0" })] });
	const { state } = await assertSqlReadsThread(app, c);
	assert.deepStrictEqual(contents(state.values.messages), ["ai:You said: hello", "human:weather in Bern"]);
	assert.deepStrictEqual(state.next, []);
	assert.equal((await sqlThread(idOf(c))).status, "done");
});

test("export and import: LangGraph.js reads the copy as the original and resumes it alike", async () => {
	const app = agent(saver, { interruptBefore: ["tools"] });
	const copy = cfg("paused-copy");
	await pool.query("SELECT sg_import_thread(sg_export_thread($1), $2)", [idOf(paused), idOf(copy)]);
	await assertSameThread(app, paused, app, copy);
	await assertSqlReadsThread(app, copy);
	// into another database of the cluster, under the original id
	const { rows } = await pool.query("SELECT sg_export_thread($1) AS x", [idOf(paused)]);
	await otherPool.query("SELECT sg_import_thread($1)", [rows[0].x]);
	const otherApp = agent(otherSaver, { interruptBefore: ["tools"] });
	await assertSameThread(app, paused, otherApp, paused);
	await assertSqlReadsThread(otherApp, paused, otherPool, otherSaver);
	// each continues as the original does
	const expected = [
		"human:weather in Paris and 2+3", "ai:", "tool:Sunny in Paris, 21 degrees (metric)", "tool:5",
		"ai:Answer: Sunny in Paris, 21 degrees (metric); 5",
	];
	assert.deepStrictEqual(contents((await app.invoke(null, copy)).messages), expected);
	assert.deepStrictEqual(contents((await otherApp.invoke(null, paused)).messages), expected);
	assert.deepStrictEqual(contents((await app.invoke(null, paused)).messages), expected);
	await assertSqlReadsThread(app, copy);
	await assertSqlReadsThread(otherApp, paused, otherPool, otherSaver);
});

test("export and import of an interrupted subgraph: the copy resumes with Command", async () => {
	const app = bookingParentGraph(saver);
	const copy = cfg("subgraph-copy");
	await pool.query("SELECT sg_import_thread(sg_export_thread($1), $2)", [idOf(subgraph), idOf(copy)]);
	await assertSameThread(app, subgraph, app, copy);
	const sub = async (c) => sameThread((await app.getState(c, { subgraphs: true })).tasks[0].state);
	assert.deepStrictEqual(await sub(copy), await sub(subgraph));
	const expected = ["human:weather in Paris and 1+2", "ai:", "tool:booked Paris: yes", "tool:3", "ai:Answer: booked Paris: yes; 3"];
	assert.deepStrictEqual(contents((await app.invoke(new Command({ resume: "yes" }), copy)).messages), expected);
	assert.deepStrictEqual(contents((await app.invoke(new Command({ resume: "yes" }), subgraph)).messages), expected);
	await assertSqlReadsThread(app, copy);
});

// a finished agent thread, copied three ways and pruned to its newest checkpoint
test("sg_prune, sg_lg_prune and copyThread: the newest checkpoint stays whole and the agent goes on", async () => {
	const app = agent(saver);
	await app.invoke({ messages: [human("weather in Oslo", "h-0")] }, done);
	await app.invoke({ messages: [human("4+5", "h-1")] }, done);
	const head = sameThread(await app.getState(done));
	const pruned = cfg("pruned");
	const lgPruned = cfg("lg-pruned");
	const copied = cfg("copied");
	await pool.query("SELECT sg_import_thread(sg_export_thread($1), $2)", [idOf(done), idOf(pruned)]);
	await saver.copyThread(idOf(done), idOf(lgPruned));
	await saver.copyThread(idOf(done), idOf(copied));
	await assertSameThread(app, done, app, copied);
	const n = (await lgHistory(app, done)).length;
	const removed = (await pool.query("SELECT sg_prune(keep_last => 1, thread_id => $1) AS n", [idOf(pruned)])).rows[0].n;
	assert.equal(Number(removed), n - 1);
	await saver.prune([idOf(lgPruned)]);
	const turn = ["human:thanks", "ai:You said: thanks"];
	const before = contents((await app.getState(done)).values.messages);
	for (const c of [pruned, lgPruned, copied]) {
		const s = await app.getState(c);
		assert.deepStrictEqual(sameThread(s), head, idOf(c));
		assert.equal((await lgHistory(app, c)).length, c === copied ? n : 1, idOf(c));
		await assertSqlReadsThread(app, c);
		assert.deepStrictEqual(contents((await app.invoke({ messages: [human("thanks", "h-2")] }, c)).messages), [...before, ...turn], idOf(c));
		await assertSqlReadsThread(app, c);
	}
});

test("a pruned interrupted subgraph thread still resumes", async () => {
	const app = bookingParentGraph(saver);
	const c = cfg("subgraph-pruned");
	await app.invoke({ messages: [human("weather in Rome", "h-0")] }, c);
	const state = sameThread(await app.getState(c));
	await pool.query("SELECT sg_prune(keep_last => 1, thread_id => $1)", [idOf(c)]);
	assert.deepStrictEqual(sameThread(await app.getState(c)), state);
	await assertSqlReadsThread(app, c);
	assert.deepStrictEqual(contents((await app.invoke(new Command({ resume: "no" }), c)).messages), [
		"human:weather in Rome", "ai:", "tool:booked Rome: no", "ai:Answer: booked Rome: no",
	]);
});

// README: a LangGraph.js thread's graph lives in JS: stategraph's functions that run or
// change a thread refuse it (42809), and a thread started from one of its checkpoints;
// those that start one under its id too (42710)
test("sg_update_state, sg_fork, sg_invoke and sg_submit refuse a LangGraph.js thread and store nothing", async () => {
	const id = idOf(paused);
	const graph = `sqlside_${process.pid}`;
	await pool.query(`CREATE OR REPLACE FUNCTION sqlside_echo(state jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$`);
	await pool.query(`SELECT sg_create_graph('${graph}', '{"messages": "append"}')`);
	await pool.query(`SELECT sg_add_node('${graph}', 'echo', 'sqlside_echo(jsonb)')`);
	await pool.query(`SELECT sg_add_edge('${graph}', '__start__', 'echo')`);
	await pool.query(`SELECT sg_add_edge('${graph}', 'echo', '__end__')`);
	await pool.query(`SELECT sg_compile('${graph}')`);
	const stored = async () => ({
		lg: (await pool.query("SELECT count(*)::int AS n FROM stategraph.lg_checkpoints WHERE thread_id = ANY($1)", [[id, `${id}-forked`]])).rows[0].n,
		sg: (await pool.query("SELECT count(*)::int AS n FROM stategraph.threads WHERE thread_id = ANY($1)", [[id, `${id}-forked`]])).rows[0].n,
		runs: (await pool.query("SELECT count(*)::int AS n FROM stategraph.runs WHERE thread_id = ANY($1)", [[id, `${id}-forked`]])).rows[0].n,
		head: (await sqlState(id)).checkpoint_id,
	});
	const was = await stored();
	const fail = (sql, args) => pool.query(sql, args).then(() => ({ code: "none" }), (e) => ({ code: e.code, message: e.message }));
	const head = was.head;
	const results = {
		update: await fail(`SELECT sg_update_state($1, '{"messages": ["x"]}')`, [id]),
		updateFrom: await fail(`SELECT sg_update_state($1, '{"messages": ["x"]}', checkpoint_id => $2)`, [id, head]),
		updateInto: await fail(`SELECT sg_update_state($1, '{"messages": ["x"]}', checkpoint_id => $2)`, [`${id}-forked`, head]),
		fork: await fail("SELECT sg_fork($1, $2, $3)", [id, head, `${id}-forked`]),
		invoke: await fail(`SELECT sg_invoke('${graph}', '{"messages": ["x"]}', thread_id => $1)`, [id]),
		resume: await fail(`SELECT sg_invoke('${graph}', NULL, thread_id => $1)`, [id]),
		submit: await fail(`SELECT sg_submit('${graph}', '{"messages": ["x"]}', thread_id => $1)`, [id]),
		submitResume: await fail(`SELECT sg_submit('${graph}', NULL, thread_id => $1)`, [id]),
		draw: await fail("SELECT sg_draw_history($1)", [id]),
	};
	for (const [what, r] of Object.entries(results)) assert.match(r.message ?? "", /LangGraph\.js thread/, `${what}: ${JSON.stringify(r)}`);
	assert.deepStrictEqual(Object.fromEntries(Object.entries(results).map(([k, r]) => [k, r.code])), {
		update: "42809",
		updateFrom: "42809",
		updateInto: "42809",
		fork: "42809",
		invoke: "42710",
		resume: "42809",
		submit: "42710",
		submitResume: "42809",
		draw: "42809",
	});
	assert.deepStrictEqual(await stored(), was);
});
