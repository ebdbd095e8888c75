// LangGraph.js agents as people write them: createReactAgent with a tool-calling
// chat model, LangChain message classes, human edits, streaming, time travel,
// durability modes and a failing parallel task. Each scenario runs on
// MemorySaver (LangGraph's reference), on PostgresSaver and on StategraphSaver,
// and StategraphSaver must give the same results. The model is a scripted fake
// (no network); ids the messages reducer draws at random, and checkpoint and
// task ids, are compared as labels in order of first appearance.
//     node --test test/agents.node.mjs      (libpq environment: PGHOST, PGPORT, ...)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { MessagesAnnotation, StateGraph, START, END, Send, interrupt, Command } from "@langchain/langgraph";
import { createReactAgent } from "@langchain/langgraph/prebuilt";
import { AIMessage, HumanMessage, RemoveMessage, ToolMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { MemorySaver } from "@langchain/langgraph-checkpoint";
import { StategraphSaver } from "../src/index.js";
import { ScriptedChatModel, getWeather, add, bookingParentGraph } from "./scripted_agent.mjs";

let pool;
const savers = {};

before(async () => {
	pool = new pg.Pool({ max: 6 });
	await pool.query("CREATE EXTENSION IF NOT EXISTS stategraph");
	savers.postgres = new PostgresSaver(pool, undefined, { schema: "lg_agents_pg" });
	await savers.postgres.setup();
	savers.stategraph = new StategraphSaver(pool);
	await savers.stategraph.setup();
});
after(async () => {
	await pool.query("DROP SCHEMA IF EXISTS lg_agents_pg CASCADE");
	await pool.end();
});

const human = (content, id) => new HumanMessage({ content, id });
// the savers keep their threads apart (MemorySaver in memory, PostgresSaver in its schema);
// a scenario run with a durability mode (see exitDurability) has threads of its own
const thread = (durability, name) => ({ configurable: { thread_id: `agents-${name}${durability ? `-${durability}` : ""}-${process.pid}` } });
const withDurability = (app, durability) => (durability ? app.withConfig({ durability }) : app);

// Comparable form: random ids (uuids, hex digests) become labels in order of first
// appearance, timestamps go, class instances keep their class name; JSON text
// keeps its key order (what a model is sent).
function normalizer() {
	const labels = new Map();
	const label = (s) =>
		s.replace(/\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32,64})\b/g, (id) => {
			if (!labels.has(id)) labels.set(id, `#${labels.size}`);
			return labels.get(id);
		});
	const walk = (x) => {
		if (typeof x === "string") return label(x);
		if (Array.isArray(x)) return x.map(walk);
		if (x && typeof x === "object") {
			if (x instanceof Error) return { error: x.constructor.name, message: x.message };
			const o = {};
			const proto = Object.getPrototypeOf(x);
			if (proto !== Object.prototype && proto !== null) o.__class = x.constructor.name;
			for (const k of Object.keys(x)) {
				if (k === "createdAt" || k === "ts" || k === "created_at") continue;
				o[label(k)] = walk(x[k]);
			}
			return o;
		}
		return x;
	};
	return walk;
}

// what a model would be sent (key order included) and what the graph holds
const messagesView = (messages) =>
	messages.map((m) => ({
		class: m.constructor.name,
		type: m.getType(),
		id: m.id,
		content: m.content,
		name: m.name,
		tool_calls: m.tool_calls,
		tool_call_id: m.tool_call_id,
		json: JSON.stringify(m.toDict?.() ?? m),
	}));

const snapshot = (s) => ({
	values: { ...s.values, messages: s.values.messages && messagesView(s.values.messages) },
	next: s.next,
	tasks: s.tasks.map((t) => ({ id: t.id, name: t.name, error: t.error ? String(t.error.message ?? t.error) : undefined, interrupts: t.interrupts, result: t.result })),
	metadata: s.metadata,
	config: s.config,
	parentConfig: s.parentConfig,
});

async function history(app, config) {
	const all = [];
	for await (const s of app.getStateHistory(config)) all.push(snapshot(s));
	return all;
}

const agent = (saver, extra = {}) =>
	createReactAgent({ llm: new ScriptedChatModel(), tools: [getWeather, add], checkpointer: saver, ...extra });

// known results, checked on StategraphSaver's (see the test loop)
const contents = (messages) => messages.map((m) => `${m.type}:${m.content}`);
const known = {
	reactTurns(r) {
		assert.deepStrictEqual(contents(r.state.values.messages), [
			"human:weather in Paris", "ai:", "tool:Sunny in Paris, 21 degrees (metric)", "ai:Answer: Sunny in Paris, 21 degrees (metric)",
			"human:weather in Oslo and 2+3 please", "ai:", "tool:Sunny in Oslo, 21 degrees (metric)", "tool:5",
			"ai:Answer: Sunny in Oslo, 21 degrees (metric); 5", "human:thanks", "ai:You said: thanks",
		]);
		// the ids the reducer gave the tool messages in turn 1 are the ones read back after turn 3
		assert.deepStrictEqual(r.turns[0][2].id, r.state.values.messages[2].id);
		assert.match(r.turns[0][2].id, /^#\d+$/);
		assert.deepStrictEqual(r.state.values.messages.map((m) => m.tool_call_id ?? null),
			[null, null, "call-1-0", null, null, null, "call-5-0", "call-5-1", null, null, null]);
		assert.deepStrictEqual(r.history.map((s) => s.metadata.step), [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, -1]);
		assert.deepStrictEqual(contents(r.v2state.values.messages).slice(2, 5), ["tool:Sunny in Lima, 21 degrees (metric)", "tool:Sunny in Quito, 21 degrees (metric)", "tool:8"]);
	},
	humanInTheLoop(r) {
		assert.deepStrictEqual(r.pausedState.next, ["tools"]);
		assert.deepStrictEqual(r.editedState.next, ["tools"]);
		assert.deepStrictEqual(r.editedState.values.messages.at(-1).tool_calls[0].args, { city: "Rome", units: "imperial" });
		assert.deepStrictEqual(r.afterEdit.at(-2).content, "Sunny in Rome, 21 degrees (imperial)");
		// the removed tool call and first question are gone; nothing is left to run
		assert.deepStrictEqual(r.removedState.next, []);
		assert.deepStrictEqual(r.removedState.values.messages.map((m) => m.id).filter((id) => id === "h-0" || id === "ai-9"), []);
		assert.deepStrictEqual(contents(r.afterRemove.slice(-3)), ["human:weather in Bern", "human:never mind", "ai:You said: never mind"]);
	},
	streamAndTimeTravel(r) {
		assert.deepStrictEqual(contents(r.forked), ["human:one", "ai:echo one", "human:other two", "ai:echo other two"]);
		assert.deepStrictEqual(r.after.length, r.before.length + 3);
		assert.deepStrictEqual(r.events.filter((e) => e[1] === "bot").map((e) => e[0]), ["on_chain_start", "on_chain_end"]);
	},
	durability(r) {
		assert.deepStrictEqual(r.sync.history.length, 10);
		assert.deepStrictEqual(r.async.history.length, 10);
		// "exit": one checkpoint per invoke
		assert.deepStrictEqual(r.exit.history.map((s) => [s.metadata.step, s.metadata.source]), [[8, "loop"], [3, "loop"]]);
		assert.deepStrictEqual(contents(r.exit.state.values.messages), contents(r.sync.state.values.messages));
		assert.equal(r.exit.state.values.messages.length, 8);
	},
	exitDurability(r) {
		// the same results, from fewer checkpoints
		known.humanInTheLoop(r.humanInTheLoop);
		known.failedSibling(r.failedSibling);
		assert.deepStrictEqual(r.failedSibling.history.map((s) => [s.metadata.step, s.metadata.source]), [[2, "loop"], [0, "loop"]]);
	},
	subgraphToolInterrupt(r) {
		assert.deepStrictEqual(r.sub.tasks.map((t) => [t.name, t.interrupts.map((i) => i.value)]), [["tools", [{ question: "book Paris?" }]]]);
		assert.deepStrictEqual(contents(r.resumed), ["human:weather in Paris and 1+2", "ai:", "tool:booked Paris: yes", "tool:3", "ai:Answer: booked Paris: yes; 3"]);
		assert.deepStrictEqual(r.asToolsState.next, ["agent"]);
		assert.deepStrictEqual(contents(r.asToolsDone).slice(-2), ["tool:rainy (from a human)", "ai:Answer: rainy (from a human)"]);
		assert.deepStrictEqual(r.page.map((s) => s.metadata.source), ["loop", "loop", "loop"]);
	},
	failedSibling(r) {
		assert.equal(r.error, "b failed");
		assert.deepStrictEqual(r.failedState.tasks.map((t) => [t.name, t.error ?? null, Boolean(t.result)]), [["a", null, true], ["b", "b failed", false]]);
		assert.deepStrictEqual(r.callsEdges, { a: 1, b: 2, c: 1, w: 0 });
		assert.deepStrictEqual(contents(r.resumed), ["human:go", "ai:a done", "ai:b done", "ai:c saw 3"]);
		assert.equal(r.sendError, "w2 failed");
		assert.equal(r.calls.w, 4);
		assert.deepStrictEqual(contents(r.sendResumed), ["human:fan out", "ai:w1 done", "ai:w2 done", "ai:w3 done"]);
	},
};

const scenarios = {
	// several turns of a ReAct agent; one turn calls two tools at once
	async reactTurns(saver, durability) {
		const app = agent(saver);
		const c = thread(durability, "react");
		const turns = [];
		for (const [i, text] of ["weather in Paris", "weather in Oslo and 2+3 please", "thanks"].entries()) {
			const r = await app.invoke({ messages: [human(text, `h-${i}`)] }, c);
			turns.push(messagesView(r.messages));
		}
		// the v2 tool node: one Send task per tool call
		const app2 = agent(saver, { version: "v2" });
		const c2 = thread(durability, "react-v2");
		const r2 = await app2.invoke({ messages: [human("weather in Lima and weather in Quito and 4+4", "h-v2")] }, c2);
		const r3 = await app2.invoke({ messages: [human("done")] }, c2);
		return {
			turns,
			state: snapshot(await app.getState(c)),
			history: await history(app, c),
			v2: [messagesView(r2.messages), messagesView(r3.messages)],
			v2state: snapshot(await app2.getState(c2)),
			v2history: await history(app2, c2),
		};
	},
	// interruptBefore tools; resume; a human replaces a tool call, then removes messages
	async humanInTheLoop(saver, durability) {
		const app = withDurability(agent(saver, { interruptBefore: ["tools"] }), durability);
		const c = thread(durability, "hitl");
		const out = {};
		out.paused = messagesView((await app.invoke({ messages: [human("weather in Paris", "h-0")] }, c)).messages);
		out.pausedState = snapshot(await app.getState(c));
		out.resumed = messagesView((await app.invoke(null, c)).messages);
		// second turn: the human edits the tool call before it runs (same message id)
		await app.invoke({ messages: [human("weather in Oslo", "h-1")] }, c);
		const ask = (await app.getState(c)).values.messages.at(-1);
		const edited = new AIMessage({
			id: ask.id,
			content: ask.content,
			tool_calls: [{ ...ask.tool_calls[0], args: { city: "Rome", units: "imperial" } }],
		});
		out.updateConfig = await app.updateState(c, { messages: [edited] });
		out.editedState = snapshot(await app.getState(c));
		out.afterEdit = messagesView((await app.invoke(null, c)).messages);
		// third turn: the human drops the tool call, and the first question
		await app.invoke({ messages: [human("weather in Bern", "h-2")] }, c);
		const drop = (await app.getState(c)).values.messages.at(-1);
		await app.updateState(c, { messages: [new RemoveMessage({ id: drop.id }), new RemoveMessage({ id: "h-0" })] });
		out.removedState = snapshot(await app.getState(c));
		out.afterRemove = messagesView((await app.invoke({ messages: [human("never mind", "h-3")] }, c)).messages);
		out.history = await history(app, c);
		return out;
	},
	// streaming (updates and values, and events), history, and a new message from an older checkpoint
	async streamAndTimeTravel(saver, durability) {
		const app = new StateGraph(MessagesAnnotation)
			.addNode("bot", (s) => ({
				messages: [new AIMessage({ id: `bot-${s.messages.length}`, content: `echo ${s.messages.at(-1).content}` })],
			}))
			.addEdge(START, "bot")
			.addEdge("bot", END)
			.compile({ checkpointer: saver });
		const c = thread(durability, "stream");
		const chunks = [];
		for (const text of ["one", "two", "three"])
			for await (const [mode, chunk] of await app.stream({ messages: [human(text)] }, { ...c, streamMode: ["updates", "values"] }))
				chunks.push([mode, mode === "values" ? messagesView(chunk.messages) : { bot: messagesView(chunk.bot.messages) }]);
		const events = [];
		for await (const e of app.streamEvents({ messages: [human("four", "h-four")] }, { ...c, version: "v2" }))
			events.push([e.event, e.name, e.metadata?.langgraph_step]);
		const before = await history(app, c);
		// time travel: from the checkpoint after the first turn, a new message
		let first;
		for await (const s of app.getStateHistory(c)) if (s.metadata.source === "loop" && s.values.messages.length === 2) first = s;
		const forked = await app.invoke({ messages: [human("other two", "h-fork")] }, first.config);
		// and the agent's own stream, from the same thread's end
		const react = agent(saver);
		const rc = thread(durability, "stream-react");
		const reactChunks = [];
		for await (const [mode, chunk] of await react.stream({ messages: [human("weather in Paris", "h-r")] }, { ...rc, streamMode: ["updates", "values"] }))
			reactChunks.push([mode, mode === "values" ? messagesView(chunk.messages) : Object.keys(chunk)]);
		return {
			chunks,
			events,
			before,
			forked: messagesView(forked.messages),
			state: snapshot(await app.getState(c)),
			after: await history(app, c),
			reactChunks,
			reactHistory: await history(react, rc),
		};
	},
	// LangGraph.js 1.7's durability: "sync", "async" (the default), "exit"
	async durability(saver) {
		const out = {};
		for (const durability of ["sync", "async", "exit"]) {
			const app = agent(saver);
			const c = thread(undefined, `durability-${durability}`);
			const r1 = await app.invoke({ messages: [human("weather in Paris", "h-0")] }, { ...c, durability });
			const r2 = await app.invoke({ messages: [human("2+2", "h-1")] }, { ...c, durability });
			out[durability] = {
				r1: messagesView(r1.messages),
				r2: messagesView(r2.messages),
				state: snapshot(await app.getState(c)),
				history: await history(app, c),
			};
		}
		return out;
	},
	// a task fails after its sibling succeeded; the resumed run does not redo the sibling
	async failedSibling(saver, durability) {
		const calls = { a: 0, b: 0, c: 0, w: 0 };
		let fail = true;
		const edges = new StateGraph(MessagesAnnotation)
			.addNode("a", () => {
				calls.a++;
				return { messages: [new AIMessage({ id: "a", content: "a done" })] };
			})
			.addNode("b", async () => {
				calls.b++;
				await new Promise((r) => setTimeout(r, 20));
				if (fail) throw new Error("b failed");
				return { messages: [new AIMessage({ id: "b", content: "b done" })] };
			})
			.addNode("c", (s) => {
				calls.c++;
				return { messages: [new AIMessage({ id: "c", content: `c saw ${s.messages.length}` })] };
			})
			.addEdge(START, "a")
			.addEdge(START, "b")
			.addEdge(["a", "b"], "c")
			.addEdge("c", END)
			.compile({ checkpointer: saver });
		const app = withDurability(edges, durability);
		const c = thread(durability, "edges");
		const out = {};
		out.error = await app.invoke({ messages: [human("go", "h-0")] }, c).then(() => "none", (e) => e.message);
		out.failedState = snapshot(await app.getState(c));
		fail = false;
		out.resumed = messagesView((await app.invoke(null, c)).messages);
		out.callsEdges = { ...calls };
		out.history = await history(app, c);
		// the same with Send: three workers, the second fails once
		const failing = new Set([2]);
		const sendGraph = new StateGraph(MessagesAnnotation)
			.addNode("w", async (s) => {
				calls.w++;
				if (failing.has(s.n)) {
					await new Promise((r) => setTimeout(r, 20));
					failing.delete(s.n);
					throw new Error(`w${s.n} failed`);
				}
				return { messages: [new AIMessage({ id: `w-${s.n}`, content: `w${s.n} done` })] };
			})
			.addConditionalEdges(START, () => [1, 2, 3].map((n) => new Send("w", { messages: [], n })))
			.addEdge("w", END)
			.compile({ checkpointer: saver });
		const sends = withDurability(sendGraph, durability);
		const cs = thread(durability, "sends");
		out.sendError = await sends.invoke({ messages: [human("fan out", "h-s")] }, cs).then(() => "none", (e) => e.message);
		out.sendFailed = snapshot(await sends.getState(cs));
		out.sendResumed = messagesView((await sends.invoke(null, cs)).messages);
		out.calls = { ...calls };
		out.sendHistory = await history(sends, cs);
		return out;
	},
	// the human edits and the failed sibling again, checkpointing only when the graph exits
	async exitDurability(saver) {
		return { humanInTheLoop: await scenarios.humanInTheLoop(saver, "exit"), failedSibling: await scenarios.failedSibling(saver, "exit") };
	},
	// the agent as a subgraph, whose tool asks a human (interrupt), resumed with Command;
	// a human's tool result given as the tools node; a filtered page of history
	async subgraphToolInterrupt(saver, durability) {
		const parent = bookingParentGraph(saver);
		const c = thread(durability, "subgraph");
		const out = {};
		out.paused = messagesView((await parent.invoke({ messages: [human("weather in Paris and 1+2", "h-0")] }, c)).messages);
		const state = await parent.getState(c, { subgraphs: true });
		out.state = snapshot(state);
		out.sub = snapshot(state.tasks[0].state);
		out.resumed = messagesView((await parent.invoke(new Command({ resume: "yes" }), c)).messages);
		out.parentHistory = await history(parent, c);
		const app = agent(saver, { interruptBefore: ["tools"] });
		const c2 = thread(durability, "as-tools");
		await app.invoke({ messages: [human("weather in Lyon", "h-1")] }, c2);
		const ask = (await app.getState(c2)).values.messages.at(-1);
		await app.updateState(c2, { messages: [new ToolMessage({ id: "t-human", tool_call_id: ask.tool_calls[0].id, content: "rainy (from a human)" })] }, "tools");
		out.asToolsState = snapshot(await app.getState(c2));
		out.asToolsDone = messagesView((await app.invoke(null, c2)).messages);
		out.page = [];
		for await (const s of app.getStateHistory(c2, { limit: 3, filter: { source: "loop" } })) out.page.push(snapshot(s));
		out.history = await history(app, c2);
		return out;
	},
};

// LangGraph's own differences between MemorySaver and PostgresSaver (not ours):
// there StategraphSaver is compared with MemorySaver only, and the test asserts
// that PostgresSaver still differs. After time travel, LangGraph.js reuses channel
// version numbers and PostgresSaver (blobs keyed by version) reads the fork's
// messages as the older branch's (test/e2e.node.mjs, updateStateAsNode).
const postgresSaverDiffers = new Set(["streamAndTimeTravel"]);

// the JSON text of each message (key order) set apart: compared on its own below
function splitJson(x, texts = []) {
	if (Array.isArray(x)) return [x.map((v) => splitJson(v, texts)[0]), texts];
	if (x && typeof x === "object") {
		const o = {};
		for (const [k, v] of Object.entries(x))
			if (k === "json") texts.push(v);
			else o[k] = splitJson(v, texts)[0];
		return [o, texts];
	}
	return [x, texts];
}

const results = {};
for (const [name, scenario] of Object.entries(scenarios)) {
	test(`${name}: StategraphSaver gives MemorySaver's and PostgresSaver's results`, async () => {
		const r = (results[name] = {});
		for (const [kind, saver] of [["memory", new MemorySaver()], ["postgres", savers.postgres], ["stategraph", savers.stategraph]])
			r[kind] = splitJson(normalizer()(await scenario(saver)));
		assert.deepStrictEqual(r.stategraph[0], r.memory[0]);
		if (postgresSaverDiffers.has(name)) assert.notDeepStrictEqual(r.postgres[0], r.memory[0]);
		else assert.deepStrictEqual(r.stategraph[0], r.postgres[0]);
		// some results are known, so that equally wrong savers cannot pass
		known[name]?.(r.stategraph[0]);
	});
}

// JSON values are stored as the text the saver sent (json), so messages read back
// as MemorySaver's do, as text: object keys in the order written (a tool call's
// args included), so a model provider's prompt cache sees the same history each turn
test("messages read back as MemorySaver's, as text, their keys in the order written", async () => {
	for (const [name, r] of Object.entries(results)) {
		if (!postgresSaverDiffers.has(name)) assert.deepStrictEqual(r.postgres[1], r.memory[1], name);
		assert.deepStrictEqual(r.stategraph[1], r.memory[1], name);
	}
	// the model wrote add's args {b, a}: an invoke returns them so, and so does every read back
	const argKeys = (texts) => [...new Set(texts.flatMap((t) => JSON.parse(t).data.tool_calls?.filter((c) => c.name === "add").map((c) => Object.keys(c.args).join()) ?? []))];
	assert.deepStrictEqual(argKeys(results.reactTurns.memory[1]), ["b,a"]);
	assert.deepStrictEqual(argKeys(results.reactTurns.stategraph[1]), ["b,a"]);
});

// The saver stores a message list that extends the one stored before as its new
// messages only, also when the list was read back in between (each turn): the
// messages then serialize without the kwargs LangGraph's serializer wrote as
// undefined (the agent's AIMessage name, a ToolMessage's artifact), which
// LangChain's reviver drops; each message revives the same.
test("an agent's message list is stored as what each step appends, turn after turn", async () => {
	assert.ok(results.reactTurns, "reactTurns ran");
	const { rows } = await pool.query(
		`SELECT thread_id, count(*)::int AS n, count(base)::int AS extending FROM stategraph.lg_blobs
		  WHERE thread_id = ANY($1) AND channel = 'messages' GROUP BY 1 ORDER BY 1`,
		[["react", "react-v2", "hitl"].map((name) => thread(undefined, name).configurable.thread_id)],
	);
	const byName = Object.fromEntries(rows.map((r) => [r.thread_id.replace(/^agents-|-\d+$/g, ""), [r.n, r.extending]]));
	// every value but the first extends the one before; the human edits (a tool call
	// replaced, messages removed) store whole values
	assert.deepStrictEqual(byName, { react: [10, 9], "react-v2": [6, 5], hitl: [14, 11] });
});
