// StategraphSaver's TypeScript declarations (src/index.d.ts, package.json
// "types"): a TypeScript application that swaps PostgresSaver for it
// (test/types/app.ts) type-checks with tsc --strict, library declarations
// included. Without them, tsc refuses the import (TS7016).
// A CommonJS TypeScript application (test/types/app.cts) gets the same
// declarations as src/index.d.cts (the "require" condition), whose imports
// resolve to the CommonJS declarations of @langchain/*, as the
// application's own do: with src/index.d.ts, tsc sees two
// BaseCheckpointSavers and refuses compile({ checkpointer }) (TS2322). Compiled,
// it require()s the package (Node 20.19 or later) and runs a graph with it
// (libpq environment: PGHOST, PGPORT, ...).
//     node --test test/types.node.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const pkgDir = fileURLToPath(new URL("..", import.meta.url));
const tsc = join(pkgDir, "node_modules/typescript/bin/tsc");

function typeCheck(tsconfig, ...args) {
	const r = spawnSync(process.execPath, [tsc, "-p", join(pkgDir, "test/types", tsconfig), ...args],
		{ encoding: "utf8", timeout: 120000 });
	assert.equal(r.stdout + r.stderr, "");
	assert.equal(r.status, 0);
}

test("a TypeScript LangGraph.js application using StategraphSaver type-checks (tsc --strict)", () => {
	typeCheck("tsconfig.json");
});

test("src/index.d.cts, for require(), declares what src/index.d.ts declares", () => {
	assert.equal(readFileSync(join(pkgDir, "src/index.d.cts"), "utf8"), readFileSync(join(pkgDir, "src/index.d.ts"), "utf8"));
});

test("a CommonJS TypeScript application type-checks (tsc --strict, module NodeNext) and, compiled, require()s the package and runs a graph with it", (t) => {
	// compiled into the package, whose name the compiled require() finds (self-reference)
	const out = mkdtempSync(join(pkgDir, "test/types/out-"));
	try {
		typeCheck("tsconfig.cjs.json", "--noEmit", "false", "--rootDir", join(pkgDir, "test/types"), "--outDir", out);
		if (!process.features.require_module) return t.skip("this Node cannot require() an ES module (Node 20.19 or later can)");
		const run = `const pool = new (require("pg").Pool)();
			require(${JSON.stringify(join(out, "app.cjs"))}).main(pool, "cjs-app-${process.pid}")
				.then((m) => console.log(JSON.stringify(m)), (e) => { console.error(e); process.exitCode = 1; })
				.finally(() => pool.end());`;
		const r = spawnSync(process.execPath, ["-e", run], { cwd: pkgDir, encoding: "utf8", timeout: 60000 });
		assert.equal(r.stderr, "");
		assert.equal(r.status, 0);
		assert.equal(r.stdout.trim(), JSON.stringify(["hi", "hello"]));
	} finally {
		rmSync(out, { recursive: true, force: true });
	}
});
