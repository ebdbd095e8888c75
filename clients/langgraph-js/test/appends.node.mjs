// StategraphSaver sends only what an array appends when it can prove it (the
// text it last stored, minus "]", then ",", begins the new text), and the
// server builds the stored row from the base's n and digest. These tests
// record what put sent and assert what was stored: the appended part with
// its base, or, when the base does not check out, the whole value after one
// more call; and every stored value reads back whole.
//     node --test test/appends.node.mjs      (libpq environment)
import { test, before, after, mock } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { Annotation, StateGraph, START, END, interrupt } from "@langchain/langgraph";
import { AppendCache, StategraphSaver } from "../src/index.js";

let pool;
let seq = 0;
const run = `app-${process.pid}-${Date.now()}`;

before(async () => {
	pool = new pg.Pool({ max: 4 });
	await pool.query("CREATE EXTENSION IF NOT EXISTS stategraph");
});
after(async () => {
	await pool.end();
});

// the text of a query (the saver passes prepared statements as {name, text})
const textOf = (q) => (typeof q === "string" ? q : q.text);

// a pool that records the sg_lg_put calls made through it
function recording(p) {
	const calls = [];
	return {
		calls,
		query: async (...a) => {
			const r = await p.query(...a);
			if (textOf(a[0]).includes("sg_lg_put("))
				calls.push({
					appends: a[1][10] === null ? null : JSON.parse(a[1][10]),
					sent: JSON.parse(a[1][12]),
					returned: r.rows[0].id,
				});
			return r;
		},
	};
}

// increasing checkpoint ids (the server wants a base older than the value extending it)
const nextId = () => `1ef00000-0000-6000-8000-${(++seq).toString(16).padStart(12, "0")}`;
const msgs = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => ({ role: "user", content: `message ${from + i}` }));

// puts a checkpoint whose "messages" channel holds value; returns its id
async function put(saver, thread_id, parent, value, version, source = "loop") {
	const id = nextId();
	const checkpoint = {
		v: 4,
		id,
		ts: new Date().toISOString(),
		channel_values: { messages: value },
		channel_versions: { messages: version },
		versions_seen: {},
	};
	await saver.put({ configurable: { thread_id, checkpoint_ns: "", checkpoint_id: parent } }, checkpoint,
		{ source, step: version, parents: {} }, { messages: version });
	return id;
}

async function read(saver, thread_id, checkpoint_id) {
	const t = await saver.getTuple({ configurable: { thread_id, checkpoint_ns: "", checkpoint_id } });
	return t?.checkpoint.channel_values.messages;
}

async function rows(thread_id) {
	const { rows } = await pool.query(
		`SELECT writer::text, base::text, n, json_array_length(COALESCE(value, '[]')) AS kept, owner,
		        encode(digest, 'hex') AS digest
		   FROM stategraph.lg_blobs WHERE thread_id = $1 AND channel = 'messages' ORDER BY writer`,
		[thread_id],
	);
	return Object.fromEntries(rows.map((r) => [r.writer, r]));
}

test("an append is sent as its new elements, stored on its base, and reads back whole", async () => {
	const rec = recording(pool);
	const saver = new StategraphSaver(rec);
	const t = `${run}-accept`;
	const c1 = await put(saver, t, undefined, msgs(1, 3), 1, "input");
	const c2 = await put(saver, t, c1, msgs(1, 5), 2);
	const c3 = await put(saver, t, c2, msgs(1, 6), 3);
	assert.equal(rec.calls.length, 3, "one call per put");
	assert.equal(rec.calls[0].appends, null);
	assert.deepStrictEqual(rec.calls[1].appends, { messages: { base: c1, n: 3 } });
	assert.deepStrictEqual(rec.calls[1].sent.messages, msgs(4, 5));
	assert.deepStrictEqual(rec.calls[2].appends, { messages: { base: c2, n: 5 } });
	assert.deepStrictEqual(rec.calls[2].sent.messages, msgs(6, 6));
	const r = await rows(t);
	assert.deepStrictEqual([r[c2].base, r[c2].n, r[c2].kept], [c1, 5, 2]);
	assert.deepStrictEqual([r[c3].base, r[c3].n, r[c3].kept], [c2, 6, 1]);
	assert.deepStrictEqual(await read(saver, t, c1), msgs(1, 3));
	assert.deepStrictEqual(await read(saver, t, c2), msgs(1, 5));
	assert.deepStrictEqual(await read(saver, t, c3), msgs(1, 6));
	// the same values sent whole store the same n and digest chain
	const whole = new StategraphSaver(pool, undefined, { appendCacheChars: 0 });
	const w = `${run}-accept-whole`;
	const w1 = await put(whole, w, undefined, msgs(1, 3), 1, "input");
	const w2 = await put(whole, w, w1, msgs(1, 5), 2);
	const w3 = await put(whole, w, w2, msgs(1, 6), 3);
	const rw = await rows(w);
	assert.deepStrictEqual([rw[w2].n, rw[w2].digest, rw[w3].n, rw[w3].digest], [r[c2].n, r[c2].digest, r[c3].n, r[c3].digest]);
	// SQL reads, copies and exports it whole
	const { rows: st } = await pool.query("SELECT \"values\" -> 'messages' AS m FROM sg_get_state($1)", [t]);
	assert.deepStrictEqual(st[0].m, msgs(1, 6));
	await saver.copyThread(t, `${t}-copy`);
	assert.deepStrictEqual(await read(saver, `${t}-copy`, c3), msgs(1, 6));
	await pool.query("SELECT sg_import_thread(sg_export_thread($1), $2)", [t, `${t}-imported`]);
	assert.deepStrictEqual(await read(saver, `${t}-imported`, c3), msgs(1, 6));
	// an array that does not begin with the text stored last (a message edited) is sent whole
	const edited = [...msgs(1, 6), ...msgs(7, 7)];
	edited[0] = { role: "user", content: "edited" };
	const c4 = await put(saver, t, c3, edited, 4);
	assert.equal(rec.calls.at(-1).appends, null);
	assert.deepStrictEqual(await read(saver, t, c4), edited);
});

// A list whose text differs from the one stored last is compared element by element
// in its read-back form (sameAsRead): an element's "__proto__" key (JSON from a tool
// or a user) is a key there too, so a changed one is not taken for the stored element.
test("a list whose element's __proto__ key changed is sent whole, and reads back as handed", async () => {
	const saver = new StategraphSaver(pool);
	const t = `${run}-proto`;
	const c1 = await put(saver, t, undefined, JSON.parse('[{"k": 1, "__proto__": {"role": "user"}}]'), 1, "input");
	const handed = JSON.parse('[{"k": 1, "__proto__": {"role": "admin"}}, {"k": 2}]');
	const c2 = await put(saver, t, c1, handed, 2);
	assert.equal(JSON.stringify(await read(saver, t, c2)), JSON.stringify(handed));
	assert.equal((await rows(t))[c2].base, null, "stored whole");
});

test("a base that does not check out: nothing stored, then the whole value in a second call", async () => {
	const rec = recording(pool);
	const saver = new StategraphSaver(rec);
	const t = `${run}-reject`;
	// the thread deleted by another process: the remembered base is gone
	const c1 = await put(saver, t, undefined, msgs(1, 2), 1, "input");
	await new StategraphSaver(pool).deleteThread(t);
	const d1 = await put(saver, t, undefined, msgs(1, 4), 1, "input");
	assert.deepStrictEqual(rec.calls.slice(1).map((c) => [c.appends, c.returned]), [
		[{ messages: { base: c1, n: 2 } }, null],
		[null, d1],
	]);
	assert.deepStrictEqual(rec.calls[2].sent.messages, msgs(1, 4));
	let r = await rows(t);
	assert.deepStrictEqual(Object.keys(r), [d1]);
	assert.deepStrictEqual([r[d1].base, r[d1].n, r[d1].kept], [null, 4, 4]);
	assert.deepStrictEqual(await read(saver, t, d1), msgs(1, 4));
	// another element count than the base's: refused as well
	saver.appendCache.map.get(`${t}\u0000\u0000messages`).n = 3;
	const d2 = await put(saver, t, d1, msgs(1, 5), 2);
	assert.deepStrictEqual(rec.calls.slice(3).map((c) => [c.appends, c.returned]), [
		[{ messages: { base: d1, n: 3 } }, null],
		[null, d2],
	]);
	// sent whole, the server still finds that it extends the parent's value
	r = await rows(t);
	assert.deepStrictEqual([r[d2].base, r[d2].n, r[d2].kept], [d1, 5, 1]);
	assert.deepStrictEqual(await read(saver, t, d2), msgs(1, 5));
	// the rejected calls stored no checkpoint
	const { rows: cps } = await pool.query("SELECT count(*)::int AS n FROM stategraph.lg_checkpoints WHERE thread_id = $1", [t]);
	assert.equal(cps[0].n, 2);
});

test("another role cannot write under the thread's id; a member of the thread's owner appends to its values", async () => {
	await pool.query("DROP ROLE IF EXISTS lg_app_other; DROP ROLE IF EXISTS lg_app_member");
	await pool.query("CREATE ROLE lg_app_other LOGIN; CREATE ROLE lg_app_member LOGIN IN ROLE postgres");
	const mine = new StategraphSaver(pool);
	const t = `${run}-owner`;
	const c1 = await put(mine, t, undefined, msgs(1, 2), 1, "input");
	const { rows: o } = await pool.query("SELECT owner FROM stategraph.lg_checkpoints WHERE thread_id = $1", [t]);
	for (const role of ["lg_app_other", "lg_app_member"]) {
		const p = new pg.Pool({ user: role, max: 1 });
		try {
			const rec = recording(p);
			const theirs = new StategraphSaver(rec);
			theirs.appendCache = mine.appendCache; // remembers c1, as if it had stored it
			if (role === "lg_app_other") {
				// c1 is hidden from it by row security: the thread id is another role's
				await assert.rejects(put(theirs, t, c1, msgs(1, 3), 2, "fork"), /belongs to another role/);
				continue;
			}
			const id = await put(theirs, t, c1, msgs(1, 3), 2, "fork");
			assert.deepStrictEqual(rec.calls.map((c) => [c.appends, c.returned]), [
				[{ messages: { base: c1, n: 2 } }, id],
			], role);
			const { rows: r } = await pool.query(
				"SELECT base::text, n, json_array_length(value) AS kept, owner FROM stategraph.lg_blobs WHERE thread_id = $1 AND writer = $2",
				[t, id],
			);
			// the member's rows are the thread owner's, as its checkpoints in a stategraph thread
			assert.deepStrictEqual(r[0], { base: c1, n: 3, kept: 1, owner: o[0].owner });
			assert.deepStrictEqual(await read(theirs, t, id), msgs(1, 3));
			assert.deepStrictEqual(await read(mine, t, id), msgs(1, 3));
		} finally {
			await p.end();
		}
	}
	await pool.query("SELECT sg_lg_delete_thread($1)", [t]);
	await pool.query("DROP ROLE lg_app_other; DROP ROLE lg_app_member");
});

test("the cache is bounded: the least recently used entries go first, and a big value is not kept", async () => {
	// an entry costs its text, key and checkpoint id, and ENTRY_COST (64) for its slot
	assert.equal(AppendCache.ENTRY_COST, 64);
	const c = new AppendCache(1000); // entries of 250 at most
	c.set("a", "1", `[${"1,".repeat(29)}1]`, 30); // 61 characters: 127
	c.set("b", "2", `[${"1,".repeat(39)}1]`, 40); // 81: 147
	c.set("c", "3", `[${"1,".repeat(99)}1]`, 100); // 201: 267, too big, not kept
	assert.deepStrictEqual([...c.map.keys()], ["a", "b"]);
	c.get("a");
	for (const k of ["d", "e", "f", "g", "h"]) c.set(k, k, `[${"1,".repeat(39)}1]`, 40);
	assert.deepStrictEqual([...c.map.keys()], ["a", "d", "e", "f", "g", "h"]); // b was the least recently used
	assert.equal(c.size, 127 + 5 * 147);
	for (const k of ["d", "e"]) c.delete(k);
	assert.equal(c.size, 127 + 3 * 147);
	// many short arrays: their keys and ids count, not only their text
	const short = new AppendCache(100000);
	const id = "1ef0a1b2-0000-6000-8000-000000000000";
	for (let i = 0; i < 5000; i++) short.set(`thread-${String(i).padStart(30, "0")}\u0000\u0000messages`, id, "[1]", 1);
	assert.ok(short.size <= 100000, `size ${short.size}`);
	assert.equal(short.map.size, Math.floor(100000 / (3 + 47 + 36 + 64)), "entries of 150, not of 3 characters");
	// through a saver: a thread whose entry was evicted sends its value whole
	const rec = recording(pool);
	const t = `${run}-evict`;
	const sizer = new StategraphSaver(rec);
	await put(sizer, `${t}-x`, undefined, msgs(1, 3), 1, "input");
	const cost = sizer.appendCache.size; // one such entry (keys of the same length)
	const saver = new StategraphSaver(rec, undefined, { appendCacheChars: Math.floor(4.5 * cost) }); // room for 4, not 5
	const heads = [];
	for (let i = 0; i < 5; i++) heads.push(await put(saver, `${t}-${i}`, undefined, msgs(1, 3), 1, "input"));
	const kept = [...saver.appendCache.map.keys()].map((k) => k.split("\u0000")[0]);
	assert.deepStrictEqual(kept, [1, 2, 3, 4].map((i) => `${t}-${i}`));
	const e0 = await put(saver, `${t}-0`, heads[0], msgs(1, 4), 2);
	assert.equal(rec.calls.at(-1).appends, null);
	const e4 = await put(saver, `${t}-4`, heads[4], msgs(1, 4), 2);
	assert.deepStrictEqual(rec.calls.at(-1).appends, { messages: { base: heads[4], n: 3 } });
	assert.deepStrictEqual(await read(saver, `${t}-0`, e0), msgs(1, 4));
	assert.deepStrictEqual(await read(saver, `${t}-4`, e4), msgs(1, 4));
});

test("a remembered base on another branch: stored on it, and pruning that branch keeps the value whole", async () => {
	const rec = recording(pool);
	const saver = new StategraphSaver(rec);
	const t = `${run}-branch`;
	const c1 = await put(saver, t, undefined, msgs(1, 2), 1, "input");
	const c2 = await put(saver, t, c1, msgs(1, 4), 2);
	// a fork from c1 (time travel) whose value happens to extend c2's
	const f = await put(saver, t, c1, msgs(1, 5), 2, "fork");
	assert.deepStrictEqual(rec.calls.at(-1).appends, { messages: { base: c2, n: 4 } });
	let r = await rows(t);
	assert.deepStrictEqual([r[f].base, r[f].n, r[f].kept], [c2, 5, 1]);
	// a fork from c1 that does not extend the remembered value: sent whole, stored on c1's
	const g = await put(saver, t, c1, [...msgs(1, 2), { role: "user", content: "other" }], 2, "fork");
	assert.equal(rec.calls.at(-1).appends, null);
	r = await rows(t);
	assert.deepStrictEqual([r[g].base, r[g].n, r[g].kept], [c1, 3, 1]);
	// keep_latest keeps g only
	await saver.prune([t]);
	assert.deepStrictEqual(await read(saver, t, g), [...msgs(1, 2), { role: "user", content: "other" }]);
	// a copy of the thread keeps f; deleting c2's run leaves f whole
	const t2 = `${t}-2`;
	const d1 = await put(saver, t2, undefined, msgs(1, 2), 1, "input");
	const d2 = await put(saver, t2, d1, msgs(1, 4), 2);
	const df = await put(saver, t2, d1, msgs(1, 6), 2, "fork");
	assert.deepStrictEqual(rec.calls.at(-1).appends, { messages: { base: d2, n: 4 } });
	await pool.query("UPDATE stategraph.lg_checkpoints SET metadata = metadata || '{\"run_id\": \"r-d2\"}' WHERE thread_id = $1 AND checkpoint_id = $2", [t2, d2]);
	await saver.deleteForRuns(["r-d2"]);
	r = await rows(t2);
	assert.deepStrictEqual(Object.keys(r).sort(), [d1, df].sort());
	assert.deepStrictEqual([r[df].base, r[df].n, r[df].kept], [null, 6, 6]);
	assert.deepStrictEqual(await read(saver, t2, df), msgs(1, 6));
	// and the next put, which remembers df, extends it
	const dg = await put(saver, t2, df, msgs(1, 7), 3);
	assert.deepStrictEqual(rec.calls.at(-1).appends, { messages: { base: df, n: 6 } });
	assert.deepStrictEqual(await read(saver, t2, dg), msgs(1, 7));
});

// a chat graph: each turn appends the user's message, then the reply
function chat(saver) {
	const State = Annotation.Root({ messages: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }) });
	return new StateGraph(State)
		.addNode("chat", (s) => ({ messages: [{ role: "assistant", content: `reply to ${s.messages.at(-1).content}` }] }))
		.addEdge(START, "chat")
		.addEdge("chat", END)
		.compile({ checkpointer: saver });
}

test("two savers take turns on one thread; time travel replays from an older turn", async () => {
	const recs = [recording(pool), recording(pool)];
	const apps = recs.map((r) => chat(new StategraphSaver(r)));
	const config = { configurable: { thread_id: `${run}-two` } };
	for (let turn = 1; turn <= 6; turn++) await apps[turn % 2].invoke({ messages: [{ role: "user", content: `turn ${turn}` }] }, config);
	const expected = (n) => Array.from({ length: n }, (_, i) => [{ role: "user", content: `turn ${i + 1}` }, { role: "assistant", content: `reply to turn ${i + 1}` }]).flat();
	for (const app of apps) assert.deepStrictEqual((await app.getState(config)).values.messages, expected(6));
	assert.ok(recs.every((r) => r.calls.some((c) => c.appends)), "both savers sent appends");
	// every checkpoint of the history reads back as a prefix of the conversation
	const whole = chat(new StategraphSaver(pool, undefined, { appendCacheChars: 0 }));
	const history = [];
	for await (const s of whole.getStateHistory(config)) history.push(s);
	for (const s of history) assert.deepStrictEqual(s.values.messages ?? [], expected(6).slice(0, (s.values.messages ?? []).length));
	// time travel: updateState on the end of turn 2 (a fork), then a turn on that branch
	const turn2 = history.find((s) => s.values.messages?.length === 4 && s.next.length === 0);
	await apps[0].updateState(turn2.config, { messages: [{ role: "user", content: "turn 3b" }] }, "chat");
	await apps[1].invoke({ messages: [{ role: "user", content: "turn 4b" }] }, config);
	const replayed = (await apps[0].getState(config)).values.messages;
	assert.deepStrictEqual(replayed, [
		...expected(2),
		{ role: "user", content: "turn 3b" },
		{ role: "user", content: "turn 4b" },
		{ role: "assistant", content: "reply to turn 4b" },
	]);
	const { rows: st } = await pool.query("SELECT \"values\" -> 'messages' AS m FROM sg_get_state($1)", [config.configurable.thread_id]);
	assert.deepStrictEqual(st[0].m, replayed);
	// the older branch still reads whole
	const old = await whole.getState({ configurable: { ...config.configurable, checkpoint_id: history[0].config.configurable.checkpoint_id } });
	assert.deepStrictEqual(old.values.messages, expected(6));
});

test("put waits for the writes still being stored, so that a value that is a write is stored once", async () => {
	const saver = new StategraphSaver(pool);
	const t = `${run}-inflight`;
	const c1 = await put(saver, t, undefined, msgs(1, 2), 1, "input");
	// LangGraph.js does not wait for putWrites before it puts the next checkpoint
	const reply = [{ role: "assistant", content: "a reply long enough to be stored once ".repeat(2000) }];
	// a write sent on its own (a put takes it along while it is queued: test below)
	// that takes half a second to be stored
	const query = saver.pool.query.bind(saver.pool);
	const slow = { query: (text, values) => (textOf(text).includes("sg_lg_put_writes")
		? new Promise((resolve) => setTimeout(resolve, 500)).then(() => query(text, values))
		: query(text, values)) };
	const timed = Object.create(saver, { pool: { value: slow } });
	const writing = timed.putWrites({ configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: c1 } }, [["messages", reply]], "task-1");
	await new Promise((resolve) => setTimeout(resolve, 50));
	assert.equal(timed._writing.size, 1, "the write is in flight");
	const c2 = await put(timed, t, c1, [...msgs(1, 2), ...reply], 2);
	assert.equal(timed._writing.size, 0, "the put waited for it");
	await writing;
	const { rows: r } = await pool.query(
		"SELECT wcheckpoint::text, value IS NULL AS no_copy FROM stategraph.lg_blobs WHERE thread_id = $1 AND writer = $2",
		[t, c2],
	);
	assert.deepStrictEqual(r[0], { wcheckpoint: c1, no_copy: true });
	assert.deepStrictEqual(await read(saver, t, c2), [...msgs(1, 2), ...reply]);
});

test("put does not wait for writes in flight when no value it stores could refer to one", async () => {
	const saver = new StategraphSaver(pool);
	const t = `${run}-nowait`;
	const c1 = await put(saver, t, undefined, ["a"], 1, "input");
	// a write that takes a second to be stored
	const query = saver.pool.query.bind(saver.pool);
	const slow = { query: (text, values) => (textOf(text).includes("sg_lg_put_writes")
		? new Promise((resolve) => setTimeout(resolve, 1000)).then(() => query(text, values))
		: query(text, values)) };
	const timed = Object.create(saver, { pool: { value: slow } });
	const writing = timed.putWrites({ configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: c1 } }, [["messages", ["b"]]], "task-1");
	await new Promise((resolve) => setTimeout(resolve, 50)); // sent (a put would take it while queued)
	assert.equal(timed._writing.size, 1, "the write is in flight");
	const started = Date.now();
	await put(timed, t, c1, ["a", "b"], 2);
	const took = Date.now() - started;
	await writing;
	assert.ok(took < 500, `a put of small values waited ${took} ms for a write in flight`);
	assert.deepStrictEqual(await read(saver, t), ["a", "b"]);
});

test("text that only looks like an escape jsonb refuses (an escaped backslash before u0000 or ud83d) stays JSON", async () => {
	const rec = recording(pool);
	const saver = new StategraphSaver(rec);
	const t = `${run}-backslash`;
	// a chat about JSON: the strings hold a backslash, then "ud83d" or "u0000" (JSON text \\ud83d, \\u0000)
	const talk = [{ role: "user", content: "what is \\ud83d\\ude00 in JSON?" }, { role: "assistant", content: "the text \\u0000 is a NUL escape" }];
	const c1 = await put(saver, t, undefined, talk.slice(0, 1), 1, "input");
	const c2 = await put(saver, t, c1, talk, 2);
	assert.deepStrictEqual(rec.calls[1].appends, { messages: { base: c1, n: 1 } }, "sent as what it appends");
	const { rows: kinds } = await pool.query(
		"SELECT writer::text, value IS NOT NULL AS json, n FROM stategraph.lg_blobs WHERE thread_id = $1 ORDER BY writer", [t]);
	assert.deepStrictEqual(kinds, [{ writer: c1, json: true, n: 1 }, { writer: c2, json: true, n: 2 }]);
	assert.deepStrictEqual(await read(saver, t, c2), talk);
	const { rows: st } = await pool.query("SELECT \"values\" -> 'messages' AS m FROM sg_get_state($1)", [t]);
	assert.deepStrictEqual(st[0].m, talk, "SQL reads the values");
	// metadata with such text is stored as it is (it was cut, leaving JSON that jsonb refused)
	const id = nextId();
	const meta = { source: "loop", step: 3, parents: {}, path: "C:\\u0000dir", nul: "a\u0000b\\\u0000c" };
	await saver.put({ configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: c2 } },
		{ v: 4, id, ts: new Date().toISOString(), channel_values: {}, channel_versions: { messages: 2 }, versions_seen: {} },
		meta, {});
	const tuple = await saver.getTuple({ configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: id } });
	assert.deepStrictEqual(tuple.metadata, { ...meta, nul: "ab\\c" }, "real NUL characters left out, the rest kept");
	// a real lone surrogate still goes as typed bytes, and reads back
	const c4 = await put(saver, t, id, [...talk, "lone \ud83d"], 3);
	const { rows: b } = await pool.query("SELECT type FROM stategraph.lg_blobs WHERE thread_id = $1 AND writer = $2", [t, c4]);
	assert.deepStrictEqual(b, [{ type: "json" }]);
	assert.deepStrictEqual(await read(saver, t, c4), [...talk, "lone \ud83d"]);
});

// a pool that counts its queries and remembers their texts
function counted(p) {
	const c = { texts: [], query: (text, values) => { c.texts.push(textOf(text)); return p.query(text, values); } };
	return c;
}

const writesOf = async (thread_id) =>
	(await pool.query(
		"SELECT checkpoint_id::text, task_id, channel, value FROM stategraph.lg_writes WHERE thread_id = $1 ORDER BY task_id, idx",
		[thread_id],
	)).rows;

test("a task's writes go with the next put of their thread, in one call, stored before it", async () => {
	const c = counted(pool);
	const saver = new StategraphSaver(c);
	const t = `${run}-merged`;
	const c1 = await put(saver, t, undefined, ["a"], 1, "input");
	const reply = [{ role: "assistant", content: "a reply long enough to be stored once ".repeat(20) }];
	const before = c.texts.length;
	// as LangGraph.js does: the step's writes, not awaited, then the next checkpoint
	const w1 = saver.putWrites({ configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: c1 } }, [["messages", reply]], "task-1");
	const w2 = saver.putWrites({ configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: c1 } }, [["other", 2]], "task-2");
	const c2 = await put(saver, t, c1, ["a", ...reply], 2);
	await Promise.all([w1, w2]);
	assert.equal(c.texts.length - before, 1, "one call for two tasks' writes and the put");
	assert.match(c.texts.at(-1), /sg_lg_put_writes.*sg_lg_put_writes.*sg_lg_put\(/s);
	assert.deepStrictEqual((await writesOf(t)).map((w) => [w.checkpoint_id, w.task_id, w.channel]),
		[[c1, "task-1", "messages"], [c1, "task-2", "other"]]);
	// the put found the write stored: the reply is kept once, in the write
	const { rows: r } = await pool.query(
		"SELECT wcheckpoint::text, value IS NULL AS no_copy FROM stategraph.lg_blobs WHERE thread_id = $1 AND writer = $2", [t, c2]);
	assert.deepStrictEqual(r[0], { wcheckpoint: c1, no_copy: true });
	const parent = await saver.getTuple({ configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: c1 } });
	assert.deepStrictEqual(parent.pendingWrites, [["task-1", "messages", reply], ["task-2", "other", 2]]);
	assert.equal(saver._queued.size, 0);
});

test("writes that no put takes are stored on their own, and their promise waits for that", async () => {
	const c = counted(pool);
	const saver = new StategraphSaver(c);
	const t = `${run}-alone`;
	const c1 = await put(saver, t, undefined, ["a"], 1, "input");
	const before = c.texts.length;
	await saver.putWrites({ configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: c1 } }, [["x", 1]], "task-1");
	assert.equal(c.texts.length - before, 1);
	assert.doesNotMatch(c.texts.at(-1), /sg_lg_put\(/);
	assert.deepStrictEqual((await writesOf(t)).map((w) => w.value), [1]);
	// not awaited, then end(): stored before end() returns
	const lost = saver.putWrites({ configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: c1 } }, [["y", 2]], "task-2");
	await saver.end();
	await lost;
	assert.deepStrictEqual((await writesOf(t)).map((w) => w.value), [1, 2]);
});

test("a put refused in the call that carries writes: the writes are stored all the same, the put fails on its own", async () => {
	const saver = new StategraphSaver(pool);
	const t = `${run}-refused`;
	const c0 = await put(saver, t, undefined, ["a"], 1, "input");
	await put(saver, t, c0, ["a", "b"], 2);
	// another writer advanced the thread past c0: extending c0 again is refused (40001)
	const w = saver.putWrites({ configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: c0 } }, [["x", 1]], "task-1");
	await assert.rejects(put(saver, t, c0, ["a", "c"], 2), (e) => e.code === "40001");
	await w;
	assert.deepStrictEqual((await writesOf(t)).map((r) => [r.checkpoint_id, r.value]), [[c0, 1]]);
});

test("calls are prepared statements, parsed once per connection; options.prepare false sends plain ones", async () => {
	// a Client (one connection) fits as the saver's pool: its session shows what it prepared
	const client = new pg.Client();
	await client.connect();
	try {
		const t = `${run}-prepared`;
		const prepared = new StategraphSaver(client);
		const c1 = await put(prepared, t, undefined, ["a"], 1, "input");
		await put(prepared, t, c1, ["a", "b"], 2);
		assert.deepStrictEqual(await read(prepared, t), ["a", "b"]);
		const names = async () => (await client.query(
			"SELECT statement FROM pg_prepared_statements WHERE name ~ '^stategraph_[0-9a-f]+$' ORDER BY statement")).rows
			.map((r) => r.statement.replace(/^SELECT "public"\.(sg_lg_[a-z_]+)\(.*$/s, "$1"));
		assert.deepStrictEqual(await names(), ["sg_lg_get_tuple", "sg_lg_put"], "each text prepared once");
		await client.query("DEALLOCATE ALL");
		const plain = new StategraphSaver(client, undefined, { prepare: false });
		await put(plain, t, c1, ["a", "b", "c"], 3, "fork");
		assert.deepStrictEqual(await read(plain, t), ["a", "b", "c"]);
		assert.deepStrictEqual(await names(), [], "nothing prepared");
	} finally {
		await client.end();
	}
});

test("two copies of the saver's module on one connection (a module reloaded, two versions installed) name statements alike", async () => {
	// each import of a URL of its own is a fresh copy of the module, as a dev server's reload makes
	const copy = async (n) => (await import(`../src/index.js?copy=${n}`)).StategraphSaver;
	const [First, Second] = [await copy(1), await copy(2)];
	const client = new pg.Client();
	await client.connect();
	try {
		const t = `${run}-copies`;
		// each copy's first text is another one: a name counted per copy would be given to both
		assert.equal(await read(new First(client), t), undefined);
		const c1 = await put(new Second(client), t, undefined, ["a"], 1, "input");
		assert.deepStrictEqual(await read(new Second(client), t, c1), ["a"]);
		await put(new First(client), t, c1, ["a", "b"], 2);
		assert.deepStrictEqual(await read(new First(client), t), ["a", "b"]);
		const { rows } = await client.query("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name ~ '^stategraph_'");
		assert.equal(rows[0].n, 2, "one statement per text, whichever copy prepared it");
	} finally {
		await client.end();
	}
});

test("a connection that lost its prepared statements (DISCARD ALL): the call runs plain, and so do the next ones", async () => {
	const client = new pg.Client();
	await client.connect();
	try {
		const t = `${run}-discarded`;
		const saver = new StategraphSaver(client);
		const c1 = await put(saver, t, undefined, ["a"], 1, "input");
		const w = saver.putWrites({ configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: c1 } }, [["x", 1]], "task-1");
		const c2 = await put(saver, t, c1, ["a", "b"], 2);
		await w;
		await client.query("DISCARD ALL"); // node-postgres still takes its statements as prepared
		const w2 = saver.putWrites({ configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: c2 } }, [["x", 2]], "task-2");
		await put(saver, t, c2, ["a", "b", "c"], 3);
		await w2;
		assert.deepStrictEqual(await read(saver, t), ["a", "b", "c"]);
		assert.deepStrictEqual((await writesOf(t)).map((r) => r.value), [1, 2]);
		const { rows } = await client.query("SELECT count(*)::int AS n FROM pg_prepared_statements");
		assert.equal(rows[0].n, 0, "plain statements since");
	} finally {
		await client.end();
	}
});

test("more than 64 tasks' writes are sent on their own, not in the put's call", async () => {
	const c = counted(pool);
	const saver = new StategraphSaver(c);
	const t = `${run}-many`;
	const c1 = await put(saver, t, undefined, ["a"], 1, "input");
	const before = c.texts.length;
	const ws = Array.from({ length: 65 }, (_, i) =>
		saver.putWrites({ configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: c1 } }, [["x", i]], `task-${String(i).padStart(2, "0")}`));
	await put(saver, t, c1, ["a", "b"], 2);
	await Promise.all(ws);
	assert.equal(c.texts.length - before, 66);
	assert.equal((await writesOf(t)).length, 65);
});

test("writes too big to share a call are sent on their own, not in the put's call", async () => {
	const c = counted(pool);
	const saver = new StategraphSaver(c);
	const t = `${run}-big-writes`;
	const c1 = await put(saver, t, undefined, ["a"], 1, "input");
	const before = c.texts.length;
	// two tasks' writes of 20 M characters each: 40 M, over the 32 Mi a put takes along
	const big = "x".repeat(20 * 1000 * 1000);
	const ws = ["task-a", "task-b"].map((task) =>
		saver.putWrites({ configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: c1 } }, [["x", big]], task));
	const c2 = await put(saver, t, c1, ["a", "b"], 2);
	await Promise.all(ws);
	assert.deepStrictEqual(c.texts.slice(before).map((x) => x.includes("sg_lg_put(") && x.includes("sg_lg_put_writes")), [false, false, false],
		"three calls, none of them a put with writes");
	const { rows } = await pool.query(
		"SELECT task_id, length(value #>> '{}') AS n FROM stategraph.lg_writes WHERE thread_id = $1 ORDER BY task_id", [t]);
	assert.deepStrictEqual(rows, [{ task_id: "task-a", n: 20000000 }, { task_id: "task-b", n: 20000000 }]);
	// one of them alone is taken along
	const w = saver.putWrites({ configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: c2 } }, [["x", big]], "task-c");
	const mid = c.texts.length;
	await put(saver, t, c2, ["a", "b", "c"], 3);
	await w;
	assert.equal(c.texts.length - mid, 1, "one call");
	assert.ok(c.texts.at(-1).includes("sg_lg_put_writes"));
	await pool.query("SELECT sg_lg_delete_thread($1)", [t]);
});

test("end() waits for writes already sent on their own, which wait for a connection of the pool it ends", async () => {
	const host = encodeURIComponent(process.env.PGHOST ?? "/tmp");
	const port = process.env.PGPORT ? `&port=${process.env.PGPORT}` : "";
	const saver = new StategraphSaver(`postgresql:///${process.env.PGDATABASE ?? "postgres"}?host=${host}${port}`);
	const t = `${run}-end`;
	const c1 = await put(saver, t, undefined, ["a"], 1, "input");
	// more tasks' writes than the pool has connections (10), not awaited, sent on their own
	const ws = Array.from({ length: 30 }, (_, i) =>
		saver.putWrites({ configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: c1 } }, [["x", i]], `task-${i}`));
	// they are sent one turn of the event loop after they are queued: two turns, then end()
	for (let i = 0; i < 2; i++) await new Promise((r) => setImmediate(r));
	assert.equal(saver._queued.size, 0, "sent, none still queued");
	await saver.end();
	let timer;
	const settled = await Promise.race([
		Promise.allSettled(ws).then((r) => r.map((x) => x.status)),
		new Promise((r) => (timer = setTimeout(() => r("some never settled"), 10000))),
	]);
	clearTimeout(timer);
	assert.deepStrictEqual(settled, ws.map(() => "fulfilled"));
	assert.equal((await writesOf(t)).length, 30);
});

test("under a test's fake timers, writes that no put takes are stored all the same: an interrupted run ends", async () => {
	const graph = new StateGraph(Annotation.Root({ log: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }) }))
		.addNode("ask", () => ({ log: [interrupt("question")] }))
		.addEdge(START, "ask")
		.addEdge("ask", END)
		.compile({ checkpointer: new StategraphSaver(pool) });
	const config = { configurable: { thread_id: `${run}-fake-timers` }, durability: "sync" };
	const realTimeout = setTimeout;
	let timer;
	mock.timers.enable({ apis: ["setImmediate"] }); // as vitest's and jest's fake timers do by default
	try {
		const ended = await Promise.race([
			graph.invoke({ log: [] }, config).then(() => "ended"),
			new Promise((r) => (timer = realTimeout(() => r("never ended"), 10000))),
		]);
		assert.equal(ended, "ended");
	} finally {
		clearTimeout(timer);
		mock.timers.reset();
	}
	assert.deepStrictEqual((await graph.getState(config)).tasks.map((t) => t.interrupts.map((i) => i.value)), [["question"]]);
});

test("a put that fails before its call (versions JSON cannot hold) leaves the writes queued for it to be stored on their own", async () => {
	const saver = new StategraphSaver(pool);
	const t = `${run}-bad-put`;
	const c1 = await put(saver, t, undefined, ["a"], 1, "input");
	const w = saver.putWrites({ configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: c1 } }, [["x", 1]], "task-1");
	const checkpoint = { v: 4, id: nextId(), ts: new Date().toISOString(), channel_values: { messages: ["a", "b"] },
		channel_versions: { messages: 2 }, versions_seen: {} };
	await assert.rejects(saver.put({ configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: c1 } }, checkpoint,
		{ source: "loop", step: 2, parents: {} }, { messages: 2n }), /BigInt/);
	let timer;
	const stored = await Promise.race([
		w.then(() => "stored"),
		new Promise((r) => (timer = setTimeout(() => r("never settled"), 10000))),
	]);
	clearTimeout(timer);
	assert.equal(stored, "stored");
	assert.deepStrictEqual((await writesOf(t)).map((r) => r.value), [1]);
});

test("a lost connection in the call that carries writes fails the writes and the put alike", async () => {
	const t = `${run}-lost`;
	const c1 = await put(new StategraphSaver(pool), t, undefined, ["a"], 1, "input");
	const lost = Object.assign(new Error("Connection terminated unexpectedly"), {});
	const flaky = { query: (q, values) => (textOf(q).startsWith("WITH") ? Promise.reject(lost) : pool.query(q, values)) };
	const saver = new StategraphSaver(flaky);
	const w = saver.putWrites({ configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: c1 } }, [["x", 1]], "task-1");
	await assert.rejects(put(saver, t, c1, ["a", "b"], 2), (e) => e === lost);
	await assert.rejects(w, (e) => e === lost);
	assert.deepStrictEqual(await writesOf(t), [], "not sent again: the statement may have run");
});
