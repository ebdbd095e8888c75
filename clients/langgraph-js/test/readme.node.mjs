// Issue 11's literal requirements that no other test checked (audit rev9audit):
//  - README's "The seed's graph in LangGraph.js" is examples/seed.mjs, and
//    running it prints what README shows; it imports the package by its name
//    ("@stategraph/langgraph-js": package.json's exports, no build step), which
//    the other tests do not (they import ../src/index.js);
//  - README's "The same thread in psql": each statement prints the rows shown;
//  - "one SQL call per saver method": each method of StategraphSaver makes one
//    query (appends.node.mjs counts put's calls only);
//  - README's install command, run as an application outside the repository
//    would run it (the package copied from a clone without node_modules), gives
//    that application a package that runs the example;
//  - "end() closes the pool the saver made from a connection string; a Pool
//    you pass stays yours";
//  - the package's own README, as npm pack ships it: each relative link
//    names a file of the tarball (a link into the repository, ../../README.md,
//    leads nowhere in an application's node_modules).
//     node --test test/readme.node.mjs      (libpq environment: PGHOST, PGPORT, ...)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { Annotation, StateGraph, START, END, MemorySaver, interrupt, Command } from "@langchain/langgraph";
import { uuid6 } from "@langchain/langgraph-checkpoint";
import { StategraphSaver } from "../src/index.js";

const pkgDir = fileURLToPath(new URL("..", import.meta.url));
const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
let pool;

before(async () => {
	pool = new pg.Pool({ max: 4 });
	await pool.query("CREATE EXTENSION IF NOT EXISTS stategraph");
});
after(async () => {
	await pool.end();
});

// the fenced blocks of README's section under heading (### title): [{lang, text}]
function blocks(title) {
	const start = readme.indexOf(`\n### ${title}\n`);
	assert.ok(start >= 0, `README has a section "${title}"`);
	const end = readme.indexOf("\n#", start + 5);
	const section = readme.slice(start, end < 0 ? undefined : end);
	return [...section.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1], text: m[2] }));
}

test("README's LangGraph.js example is examples/seed.mjs and prints what README shows", () => {
	const [js, shown] = blocks("The seed's graph in LangGraph.js");
	assert.equal(js.lang, "js");
	assert.equal(shown.lang, "text");
	const file = readFileSync(new URL("../examples/seed.mjs", import.meta.url), "utf8");
	const code = (s) => s.split("\n").filter((l) => !l.startsWith("//")).join("\n").trim();
	assert.equal(code(js.text), code(file), "README's code is the example's (comments aside)");
	// a fresh thread: the example names its thread "js-workflow"
	const sql = spawnSync("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
		"SELECT sg_delete_thread(thread_id) FROM sg_threads() WHERE thread_id IN ('js-workflow', 'js-workflow-copy')"], { encoding: "utf8" });
	assert.equal(sql.status, 0, sql.stderr);
	const r = spawnSync(process.execPath, ["examples/seed.mjs"], { cwd: pkgDir, encoding: "utf8", timeout: 60000 });
	assert.equal(r.stderr, "");
	assert.equal(r.status, 0);
	assert.equal(r.stdout.trim(), shown.text.trim());
});

// psql's aligned output as cells: [[header...], [row...], ...], footers and blank lines left out
function cells(text) {
	return text
		.split("\n")
		.filter((l) => l.trim() !== "" && !/^-+(\+-+)*$/.test(l.trim()) && !/^\(\d+ rows?\)$/.test(l.trim()))
		.map((l) => l.split("|").map((c) => c.trim()));
}

test("README's psql session on the LangGraph.js thread prints the rows shown", () => {
	const [session] = blocks("The same thread in psql");
	// statements start with "=> "; the lines up to the next statement are what psql printed
	const parts = session.text.split(/^=> /m).slice(1);
	assert.ok(parts.length >= 5, "the session has its statements");
	for (const part of parts) {
		const semi = part.indexOf(";");
		const statement = part.slice(0, semi + 1);
		const shown = part.slice(part.indexOf("\n", semi) + 1);
		const r = spawnSync("psql", ["-X", "-v", "ON_ERROR_STOP=1", "-c", statement], { encoding: "utf8" });
		assert.equal(r.status, 0, `${statement}: ${r.stderr}`);
		if (shown.trim() !== "") assert.deepStrictEqual(cells(r.stdout), cells(shown), statement);
	}
});

// a pool that counts the queries made through it
function counting(p) {
	const c = { n: 0, query: (...a) => { c.n++; return p.query(...a); } };
	return c;
}

test("each saver method is one SQL call", async () => {
	const counted = counting(pool);
	const saver = new StategraphSaver(counted);
	await saver.setup();
	const calls = async (fn) => {
		const before = counted.n;
		await fn();
		return counted.n - before;
	};
	const State = Annotation.Root({ messages: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }) });
	const app = new StateGraph(State)
		.addNode("ask", () => ({ messages: [`answer: ${interrupt("go on?")}`] }))
		.addNode("last", () => ({ messages: ["last"] }))
		.addEdge(START, "ask")
		.addEdge("ask", "last")
		.addEdge("last", END)
		.compile({ checkpointer: saver });
	const t = `one-call-${process.pid}`;
	const config = { configurable: { thread_id: t } };
	await app.invoke({ messages: ["hi"] }, config);
	await app.invoke(new Command({ resume: "yes" }), config);
	const head = await saver.getTuple(config);
	assert.deepStrictEqual(head.checkpoint.channel_values.messages, ["hi", "answer: yes", "last"]);

	assert.equal(await calls(() => saver.getTuple(config)), 1, "getTuple");
	assert.equal(await calls(async () => { for await (const _ of saver.list(config, { limit: 10 })); }), 1, "list");
	const next = { ...head.checkpoint, id: uuid6(-1), channel_values: { messages: ["hi", "answer: yes", "last", "more"] } };
	const putConfig = { configurable: { thread_id: t, checkpoint_ns: "", checkpoint_id: head.config.configurable.checkpoint_id } };
	const stored = await (async () => {
		const before = counted.n;
		const c = await saver.put(putConfig, next, { source: "update", step: 9, parents: {} }, { messages: 9 });
		assert.equal(counted.n - before, 1, "put");
		return c;
	})();
	assert.equal(await calls(() => saver.putWrites(stored, [["messages", ["w"]]], "task-1")), 1, "putWrites");
	assert.equal(await calls(() => saver.copyThread(t, `${t}-copy`)), 1, "copyThread");
	assert.equal(await calls(() => saver.prune([`${t}-copy`])), 1, "prune");
	assert.equal(await calls(() => saver.deleteForRuns([`no-such-run-${process.pid}`])), 1, "deleteForRuns");
	assert.equal(await calls(() => saver.deleteThread(`${t}-copy`)), 1, "deleteThread");
	assert.equal(await calls(() => saver.deleteThread(t)), 1, "deleteThread");
	assert.equal(await saver.getTuple(config), undefined);
});

// README: "end() closes the pool the saver made from a connection string; a Pool you
// pass stays yours to end"
test("end() leaves a Pool it was given open, and ends the pool it made from a connection string", async () => {
	const given = new StategraphSaver(pool);
	await given.setup();
	await given.end();
	assert.equal((await pool.query("SELECT 1 AS one")).rows[0].one, 1, "the Pool passed in still works");
	const host = encodeURIComponent(process.env.PGHOST ?? "/tmp");
	const port = process.env.PGPORT ? `&port=${process.env.PGPORT}` : "";
	const own = new StategraphSaver(`postgresql:///${process.env.PGDATABASE ?? "postgres"}?host=${host}${port}`);
	await own.setup();
	await own.end();
	await assert.rejects(own.pool.query("SELECT 1"), /after calling end/, "the pool made from a string is ended");
});

// README: "an application packs it from a clone of this repository and installs the
// tarball ... npm pack /path/to/stategraph/clients/langgraph-js && npm install
// ./stategraph-langgraph-js-0.2.0.tgz pg @langchain/langgraph (keep the tarball with the
// application: npm ci installs from it)". The clone is the package's files without
// node_modules, as git gives them; an installed folder is linked instead, and the example
// then fails (Cannot find package 'pg'), and `npm install --install-links` of it leaves a
// lock that `npm ci` refuses.
test("README's install command gives an application outside the repository a package that runs the example", () => {
	const start = readme.indexOf("\n### The seed's graph in LangGraph.js\n");
	const section = readme.slice(start, readme.indexOf("\n### ", start + 5));
	const m = section.match(/`(npm pack \/path\/to\/stategraph\/clients\/langgraph-js && npm install [^`]*)`/);
	assert.ok(m, "README's section says how an application installs the package");
	const dir = mkdtempSync(join(tmpdir(), "sg-outsider-"));
	try {
		const clone = join(dir, "stategraph", "clients", "langgraph-js");
		cpSync(pkgDir, clone, { recursive: true, filter: (src) => !src.includes("node_modules") });
		const app = join(dir, "app");
		cpSync(join(pkgDir, "examples", "seed.mjs"), join(app, "seed.mjs"));
		writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
		const npm = (command) => {
			const r = spawnSync("sh", ["-c", `${command} --prefer-offline --no-audit --no-fund`],
				{ cwd: app, encoding: "utf8", timeout: 300000 });
			assert.equal(r.status, 0, `${command}: ${r.stderr}`);
		};
		const example = () => {
			const sql = spawnSync("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
				"SELECT sg_delete_thread(thread_id) FROM sg_threads() WHERE thread_id IN ('js-workflow', 'js-workflow-copy')"], { encoding: "utf8" });
			assert.equal(sql.status, 0, sql.stderr);
			const r = spawnSync(process.execPath, ["seed.mjs"], { cwd: app, encoding: "utf8", timeout: 60000 });
			assert.equal(r.stderr, "");
			assert.equal(r.status, 0);
			assert.equal(r.stdout.trim(), blocks("The seed's graph in LangGraph.js")[1].text.trim());
		};
		npm(m[1].replace("/path/to/stategraph", join(dir, "stategraph")));
		example();
		// the application's own install, from its package.json and lock
		rmSync(join(app, "node_modules"), { recursive: true });
		npm("npm ci");
		example();
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});

// the link targets of a Markdown text: inline links and images, reference
// definitions and HTML href/src, code blocks and code spans left out
function linkTargets(markdown) {
	const text = markdown.replace(/^```[\s\S]*?^```$/gm, "").replace(/`[^`\n]*`/g, "");
	return [
		...[...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]),
		...[...text.matchAll(/^ {0,3}\[[^\]\n]+\]:\s*<?([^\s>]+)>?/gm)].map((m) => m[1]),
		...[...text.matchAll(/\b(?:href|src)\s*=\s*"([^"]+)"/gi)].map((m) => m[1]),
	];
}

test("every relative link of the package's README, as npm pack ships it, names a file of the tarball", () => {
	assert.deepStrictEqual(linkTargets("[a](x.md) `[b](code.md)` ![c](d/e.png \"t\")\n[r]: <f.md#s>\n<a href=\"g.md\">g</a>\n```\n[h](i.md)\n```\n"),
		["x.md", "d/e.png", "f.md#s", "g.md"], "linkTargets reads links, not code");
	const dir = mkdtempSync(join(tmpdir(), "sg-packed-"));
	try {
		const pack = spawnSync("npm", ["pack", pkgDir, "--json", "--pack-destination", dir], { cwd: dir, encoding: "utf8", timeout: 120000 });
		assert.equal(pack.status, 0, pack.stderr);
		const [{ filename }] = JSON.parse(pack.stdout);
		const untar = spawnSync("tar", ["-xzf", join(dir, filename), "-C", dir], { encoding: "utf8" });
		assert.equal(untar.status, 0, untar.stderr);
		const root = join(dir, "package");
		const links = linkTargets(readFileSync(join(root, "README.md"), "utf8"))
			.filter((l) => !/^[a-z][a-z0-9+.-]*:/i.test(l) && !l.startsWith("#"));
		assert.ok(links.length > 0, "the README links to a file it ships (the example)");
		for (const link of links) {
			const path = resolve(root, decodeURIComponent(link.replace(/[#?].*$/, "")));
			const inside = relative(root, path);
			assert.ok(inside !== "" && !inside.startsWith("..") && !inside.startsWith("/"), `${link} stays inside the package`);
			assert.ok(existsSync(path) && statSync(path).isFile(), `${link} is a file of ${filename}`);
		}
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});

// docs/seed-chapter.md, time_travel_to_checkpoint(): a replay runs the nodes
// again and returns what they compute now, in stategraph (sql/time_travel.sql)
// and in LangGraph.js alike; the page said LangGraph.js reused the old values
test("docs/seed-chapter.md: a replay from an older checkpoint runs the nodes again in LangGraph.js too", async () => {
	const page = readFileSync(new URL("../../../docs/seed-chapter.md", import.meta.url), "utf8");
	assert.ok(!/reuses old values/.test(page), "the seed page does not say LangGraph.js reuses old values on a replay");
	const thread = "seed-replay";
	await pool.query("SELECT sg_delete_thread(thread_id) FROM sg_threads() WHERE thread_id = $1", [thread]);
	for (const checkpointer of [new MemorySaver(), new StategraphSaver(pool)]) {
		let price = 3;
		const State = Annotation.Root({ item: Annotation(), price: Annotation(), total: Annotation() });
		const app = new StateGraph(State)
			.addNode("pick", () => ({ item: "tea" }))
			.addNode("quote", () => ({ price }))
			.addNode("bill", (s) => ({ total: s.price * 2 }))
			.addEdge(START, "pick").addEdge("pick", "quote").addEdge("quote", "bill").addEdge("bill", END)
			.compile({ checkpointer });
		const config = { configurable: { thread_id: thread } };
		assert.deepEqual(await app.invoke({}, config), { item: "tea", price: 3, total: 6 });
		price = 5;
		let afterPick;
		for await (const s of app.getStateHistory(config)) if (s.next.length === 1 && s.next[0] === "quote") afterPick = s;
		assert.ok(afterPick, "the history has the checkpoint after pick");
		assert.deepEqual(await app.invoke(null, afterPick.config), { item: "tea", price: 5, total: 10 },
			`${checkpointer.constructor.name}: the replay runs quote and bill again`);
	}
	await pool.query("SELECT sg_delete_thread($1)", [thread]);
});
