// StategraphSaver's TypeScript declarations (src/index.d.ts, package.json
// "types"): a TypeScript application that swaps PostgresSaver for it
// (test/types/app.ts) type-checks with tsc --strict, library declarations
// included. Without them, tsc refuses the import (TS7016).
//     node --test test/types.node.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

test("a TypeScript LangGraph.js application using StategraphSaver type-checks (tsc --strict)", () => {
	const tsc = fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url));
	const project = fileURLToPath(new URL("./types/tsconfig.json", import.meta.url));
	const r = spawnSync(process.execPath, [tsc, "-p", project], { encoding: "utf8", timeout: 120000 });
	assert.equal(r.stdout + r.stderr, "");
	assert.equal(r.status, 0);
});
