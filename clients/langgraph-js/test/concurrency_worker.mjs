// One LangGraph.js process of test/concurrency.node.mjs: invokes the seed graph
// N times on one thread with StategraphSaver, and prints {ok, conflicts, other}.
import pg from "pg";
import { Annotation, StateGraph, START, END } from "@langchain/langgraph";
import { StategraphSaver } from "../src/index.js";

const [threadId, n] = [process.argv[2], Number(process.argv[3])];
const pool = new pg.Pool({ max: 2 });
const concat = (a, b) => a.concat(b);
const State = Annotation.Root({ messages: Annotation({ reducer: concat, default: () => [] }), step: Annotation() });
const app = new StateGraph(State)
	.addNode("step1", () => ({ step: 1, messages: [`${process.pid} step 1`] }))
	.addNode("step2", () => ({ step: 2, messages: [`${process.pid} step 2`] }))
	.addNode("step3", () => ({ step: 3, messages: [`${process.pid} step 3`] }))
	.addEdge(START, "step1")
	.addEdge("step1", "step2")
	.addEdge("step2", "step3")
	.addEdge("step3", END)
	.compile({ checkpointer: new StategraphSaver(pool) });
const result = { ok: 0, conflicts: 0, other: [] };
for (let i = 0; i < n; i++) {
	try {
		await app.invoke({ messages: [`${process.pid} turn ${i}`], step: 0 }, { configurable: { thread_id: threadId } });
		result.ok++;
	} catch (e) {
		// (or, reading the other's checkpoint in the instant it was made, an id that sorts before it)
		if (e.code === "40001" && /advanced by another writer|sorts before its parent/.test(e.message)) result.conflicts++;
		else result.other.push(String(e.message));
	}
}
await pool.end();
console.log(JSON.stringify(result));
