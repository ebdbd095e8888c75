// app.ts's application in a CommonJS TypeScript project (a .cts file: its
// imports compile to require(), and resolve with the "require" condition, to
// src/index.d.cts): test/types.node.mjs type-checks it with module NodeNext,
// then runs it compiled.
import { Annotation, StateGraph, START, END } from "@langchain/langgraph";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import StategraphSaverDefault, { StategraphSaver, type StategraphQueryable } from "@stategraph/langgraph-js";

const State = Annotation.Root({
	messages: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

export async function main(pool: StategraphQueryable, threadId: string): Promise<string[]> {
	const checkpointer = new StategraphSaver(pool);
	const fromString: BaseCheckpointSaver = StategraphSaverDefault.fromConnString("postgresql:///app");
	await checkpointer.setup();
	const app = new StateGraph(State)
		.addNode("bot", () => ({ messages: ["hello"] }))
		.addEdge(START, "bot")
		.addEdge("bot", END)
		.compile({ checkpointer });
	const config = { configurable: { thread_id: threadId } };
	await app.invoke({ messages: ["hi"] }, config);
	const head = await checkpointer.getTuple(config);
	await checkpointer.deleteThread(threadId);
	await (fromString as StategraphSaver).end();
	return head?.checkpoint.channel_values.messages as string[];
}
