// A LangGraph.js application in TypeScript that swaps PostgresSaver for
// StategraphSaver: type-checked (tsc --strict, no emit) by test/types.node.mjs.
import { Annotation, StateGraph, START, END } from "@langchain/langgraph";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import StategraphSaverDefault, {
	StategraphSaver,
	type StategraphQueryable,
	type StategraphSaverOptions,
} from "@stategraph/langgraph-js";

const State = Annotation.Root({
	messages: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

// (a node-postgres Pool is a StategraphQueryable; @types/pg is not installed here)
export async function main(pool: StategraphQueryable): Promise<string[]> {
	const options: StategraphSaverOptions = { appendCacheChars: 0 };
	const checkpointer = new StategraphSaver(pool, undefined, options);
	const fromString: BaseCheckpointSaver = StategraphSaverDefault.fromConnString("postgresql:///app", { schema: "public" });
	await checkpointer.setup();
	const app = new StateGraph(State)
		.addNode("bot", () => ({ messages: ["hello"] }))
		.addEdge(START, "bot")
		.addEdge("bot", END)
		.compile({ checkpointer });
	const config = { configurable: { thread_id: "t" } };
	const out = await app.invoke({ messages: ["hi"] }, config);
	for await (const t of checkpointer.list(config, { limit: 2 })) console.log(t.checkpoint.id);
	await checkpointer.prune(["t"], { strategy: "keep_latest" });
	await checkpointer.copyThread("t", "t2");
	await checkpointer.deleteForRuns(["run"]);
	await checkpointer.deleteThread("t2");
	await checkpointer.end();
	await (fromString as StategraphSaver).end();
	return out.messages;
}
