// The seed chapter's graph in LangGraph.js, stored by stategraph:
//     PGHOST=... PGDATABASE=... node examples/seed.mjs
import pg from "pg";
import { Annotation, StateGraph, START, END } from "@langchain/langgraph";
import { StategraphSaver } from "@stategraph/langgraph-js";

const State = Annotation.Root({
	messages: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }),
	step: Annotation(),
	data: Annotation(),
});

const pool = new pg.Pool(); // or new StategraphSaver("postgresql://...")
const checkpointer = new StategraphSaver(pool);
await checkpointer.setup(); // checks that the stategraph extension is installed

const app = new StateGraph(State)
	.addNode("step1", () => ({ step: 1, messages: ["Step 1 complete"] }))
	.addNode("step2", () => ({ step: 2, messages: ["Step 2 complete"] }))
	.addNode("step3", () => ({ step: 3, messages: ["Step 3 complete"] }))
	.addEdge(START, "step1")
	.addEdge("step1", "step2")
	.addEdge("step2", "step3")
	.addEdge("step3", END)
	.compile({ checkpointer });

const config = { configurable: { thread_id: "js-workflow" } };
console.log(await app.invoke({ messages: [], step: 0, data: { user: "alice" } }, config));
for await (const s of app.getStateHistory(config)) console.log(s.metadata.step, s.metadata.source, s.next);
await pool.end();
