// The scripted chat model and tools of the agent tests (agents.node.mjs,
// sqlside.node.mjs): a tool-calling model that answers from the conversation
// alone, so every saver's run gets the same replies, with fixed message ids.
// "weather in X" asks get_weather for each city, "a+b" asks add (its args
// written {b, a}), tool results are summed up, a message saying "crash"
// makes the model fail, anything else is echoed.
import { z } from "zod";
import { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { AIMessage, ToolMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { MessagesAnnotation, StateGraph, START, END, interrupt } from "@langchain/langgraph";
import { createReactAgent } from "@langchain/langgraph/prebuilt";

export class ScriptedChatModel extends BaseChatModel {
	constructor() {
		super({});
	}
	_llmType() {
		return "scripted";
	}
	bindTools() {
		return this;
	}
	async _generate(messages) {
		const last = messages.at(-1);
		if (String(last.content).includes("crash")) throw new Error("model unavailable");
		const id = `ai-${messages.length}`;
		let reply;
		if (ToolMessage.isInstance(last)) {
			const results = [];
			for (let i = messages.length - 1; i >= 0 && ToolMessage.isInstance(messages[i]); i--) results.unshift(messages[i].content);
			reply = new AIMessage({ id, content: `Answer: ${results.join("; ")}` });
		} else {
			const text = String(last.content);
			const toolCalls = [];
			for (const [, city] of text.matchAll(/weather in (\w+)/g))
				toolCalls.push({ name: "get_weather", args: { city, units: "metric" }, type: "tool_call" });
			for (const [, a, b] of text.matchAll(/(\d+)\+(\d+)/g))
				toolCalls.push({ name: "add", args: { b: Number(b), a: Number(a) }, type: "tool_call" });
			reply = new AIMessage({
				id,
				content: toolCalls.length ? "" : `You said: ${text}`,
				tool_calls: toolCalls.map((c, i) => ({ ...c, id: `call-${messages.length}-${i}` })),
			});
		}
		return { generations: [{ message: reply, text: String(reply.content) }] };
	}
}

export const getWeather = tool(async ({ city, units }) => `Sunny in ${city}, 21 degrees (${units})`, {
	name: "get_weather",
	description: "The weather in a city",
	schema: z.object({ city: z.string(), units: z.string() }),
});

export const add = tool(async ({ a, b }) => String(a + b), {
	name: "add",
	description: "Adds two numbers",
	schema: z.object({ a: z.number(), b: z.number() }),
});

// The agent as a subgraph (after a "prep" node) whose get_weather asks a human
// first (interrupt), compiled with checkpointer cp.
export function bookingParentGraph(cp) {
	const book = tool(async ({ city }) => `booked ${city}: ${interrupt({ question: `book ${city}?` })}`, {
		name: "get_weather",
		description: "Books a trip (asks first)",
		schema: z.object({ city: z.string(), units: z.string() }),
	});
	return new StateGraph(MessagesAnnotation)
		.addNode("prep", () => ({ messages: [] }))
		.addNode("agent", createReactAgent({ llm: new ScriptedChatModel(), tools: [book, add] }))
		.addEdge(START, "prep")
		.addEdge("prep", "agent")
		.addEdge("agent", END)
		.compile({ checkpointer: cp });
}
