// How StategraphSaver serializes a channel value or a write (_dump). With
// LangGraph's own JsonPlusSerializer, a plain JSON value (no class, no
// undefined, no cycle: src/index.js, plainJson) is written by JSON.stringify
// rather than by the serializer, which is ten times slower on a long message
// list. The text must be the serializer's, byte for byte, and every other
// value must still go through the serializer. No database is needed.
//     node --test test/serialize.node.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { JsonPlusSerializer } from "@langchain/langgraph-checkpoint";
import { Send } from "@langchain/langgraph";
import { AIMessage, HumanMessage } from "@langchain/core/messages";
import { StategraphSaver } from "../src/index.js";

// a saver that never connects (a Pool is made, not used), with the default serializer
const fast = new StategraphSaver("postgres://unused@localhost/unused");
// the same serializer, but a subclass: the saver then leaves every value to it, as before
const slow = new StategraphSaver("postgres://unused@localhost/unused", new (class extends JsonPlusSerializer {})());

// counts the serializer's writes while fn runs
async function serializerCalls(fn) {
	const proto = JsonPlusSerializer.prototype;
	const original = proto.dumpsTyped;
	let calls = 0;
	proto.dumpsTyped = function (...args) {
		calls++;
		return original.apply(this, args);
	};
	try {
		await fn();
	} finally {
		proto.dumpsTyped = original;
	}
	return calls;
}

const nullProto = Object.assign(Object.create(null), { b: 1, a: [null] });
const shared = { s: "twice" };
const plain = {
	"a chat's messages": Array.from({ length: 50 }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: `turn ${i} "quoted" \\ back\nslash` })),
	"strings JSON escapes": ["\u0001\u001f\u007f", "\t\r\n\b\f", "é中😀", "\ud83d\ude00 (a pair)", "</script>", "\u2028\u2029"],
	numbers: [0, -0, 1.5, -2e-7, 1e21, 5e-324, Number.MAX_SAFE_INTEGER, NaN, Infinity, -Infinity],
	"nested and empty": { a: { b: { c: [[], {}, [[[]]]] } }, "": "", " ": null, true: false },
	"integer-like keys": { 10: "x", 2: "y", b: "z", a: "w", "-1": "v" },
	"an object without prototype": nullProto,
	"one object in two places (no cycle)": [shared, { again: shared }],
	"a non-function toJSON": { toJSON: 1, v: 2 },
	"a string": "just text",
	"a number": 42,
	"null": null,
	"a boolean": true,
	"an empty array": [],
	"an empty object": {},
};
const cyclic = { name: "loop" };
cyclic.self = cyclic;
const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
const withGetter = Object.defineProperty({}, "x", { get: () => undefined, enumerable: true });
let deep = [];
for (let i = 0; i < 20000; i++) deep = [deep];
const special = {
	"undefined itself": undefined,
	"undefined in an object": { a: undefined, b: 1 },
	"undefined in an array": [1, undefined],
	"a hole in an array": sparse,
	"a getter giving undefined": withGetter,
	"a cycle": cyclic,
	"a Date": new Date(0),
	"a Set": new Set([1, 2]),
	"a Map": new Map([["k", 1]]),
	"a RegExp": /a+/g,
	"an Error": new Error("boom"),
	"a Uint8Array": new Uint8Array([1, 2, 3]),
	"a Send": new Send("node", { n: 1 }),
	"a plain object marked as a Send": { lg_name: "Send", node: "n", args: {} },
	"LangChain messages": [new HumanMessage("hi"), new AIMessage({ content: "hello", id: "a1" })],
	"a function": () => 1,
	"a function in an object": { f() {}, v: 1 },
	"a bigint": 10n,
	"a symbol": Symbol("s"),
	"an object with toJSON": { toJSON: () => "mine" },
	"an array with toJSON": Object.assign([1, 2], { toJSON: () => new Set([1, 2]) }),
	"an array whose toJSON gives undefined": Object.assign([1], { toJSON: () => undefined }),
	"an Array subclass": Object.assign(new (class List extends Array {})(), { 0: 1, 1: 2 }),
	"a class instance": new (class Point { constructor() { this.x = 1; } })(),
	"nested too deep for a recursive walk": deep,
};

async function dumpOf(saver, value) {
	try {
		return await saver._dump(value);
	} catch (e) {
		return ["threw", e.constructor.name];
	}
}

test("a plain JSON value is written as the serializer writes it, without the serializer", async () => {
	for (const [name, value] of Object.entries(plain)) {
		let got;
		assert.equal(await serializerCalls(async () => (got = await dumpOf(fast, value))), 0, `${name}: the serializer was called`);
		assert.deepEqual(got, await dumpOf(slow, value), name);
	}
});

test("every other value still goes through the serializer, and is written as before", async () => {
	for (const [name, value] of Object.entries(special)) {
		let got;
		const calls = await serializerCalls(async () => (got = await dumpOf(fast, value)));
		assert.ok(calls >= 1, `${name}: the serializer was not called`);
		assert.deepEqual(got, await dumpOf(slow, value), name);
	}
});

test("a plain value whose text jsonb cannot hold (NUL, a lone surrogate) is stored as bytes, as before", async () => {
	for (const value of ["a\u0000b", ["\ud800"], { k: "\udfff" }]) {
		const got = await dumpOf(fast, value);
		assert.equal(got[0], "bytes");
		assert.deepEqual(got, await dumpOf(slow, value));
	}
});

test("plain values keep their text when a serializer's method is replaced on the instance", async () => {
	const serde = new JsonPlusSerializer();
	const original = serde.dumpsTyped.bind(serde);
	let calls = 0;
	serde.dumpsTyped = async (v) => {
		calls++;
		return original(v);
	};
	const own = new StategraphSaver("postgres://unused@localhost/unused", serde);
	await own._dump({ a: 1 });
	assert.equal(calls, 1, "a serializer whose dumpsTyped is not LangGraph's own must write every value");
});

test.after(async () => {
	await fast.end();
	await slow.end();
});
