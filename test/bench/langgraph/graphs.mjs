// The LangGraph.js twins of test/bench/setup.sql's graphs, shared by
// langgraph/bench.mjs and ../lgsaver.mjs. Each of them loads LangGraph from
// its own node_modules, so the module is passed in (lg: what
// "@langchain/langgraph" exports).
//   seed: START -> step1 -> step2 -> step3 -> END, state {messages: append, step, data}
//   chat: START -> chat -> END, state {messages: append}; the reply to "turn N" is
//         190 English words picked by md5("N-i") (about 1 KB; see ../setup.sql).

import { createHash } from "node:crypto";

const concat = (a, b) => a.concat(b);

export function graphs({ Annotation, StateGraph, START, END, DeltaChannel }) {
	function seedGraph(saver) {
		const State = Annotation.Root({
			messages: Annotation({ reducer: concat, default: () => [] }),
			step: Annotation(),
			data: Annotation(),
		});
		return new StateGraph(State)
			.addNode("step1", () => ({ step: 1, messages: ["Step 1 complete"] }))
			.addNode("step2", () => ({ step: 2, messages: ["Step 2 complete"] }))
			.addNode("step3", () => ({ step: 3, messages: ["Step 3 complete"] }))
			.addEdge(START, "step1")
			.addEdge("step1", "step2")
			.addEdge("step2", "step3")
			.addEdge("step3", END)
			.compile({ checkpointer: saver });
	}
	
	// the same ~1 KB of English words as bench_reply_text() in ../setup.sql
	const WORDS = "the of and to in is you that it he was for on are as with his they at be this have from or one had by word but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part over new sound take only little work know place year live me back give most very after thing our just name good sentence man think say great where help through much before line right too mean old any same tell boy follow came want show also around form three small set put end does another well large must big even such because turn here why ask went men read need land different home us move try kind hand picture again change off play spell air away animal house point page letter mother answer found study still learn should".split(" ");
	function replyText(turn) {
		const parts = [];
		for (let i = 1; i <= 190; i++) {
			const d = createHash("md5").update(`${turn}-${i}`).digest();
			parts.push(WORDS[(d[0] * 256 + d[1]) % WORDS.length]);
		}
		return parts.join(" ");
	}
	
	function chatGraph(saver, delta) {
		// delta: LangGraph's own (beta, 1.7) DeltaChannel, which stores writes instead of
		// the whole list at every step; the default is the classic reducer channel.
		const messages = delta
			? () => new DeltaChannel((state, writes) => writes.reduce(concat, state), { initialValueFactory: () => [] })
			: Annotation({ reducer: concat, default: () => [] });
		const State = Annotation.Root({ messages });
		return new StateGraph(State)
			.addNode("chat", (state) => {
				const last = state.messages[state.messages.length - 1];
				const turn = parseInt(/[0-9]+/.exec(last.content)[0], 10);
				return { messages: [{ role: "assistant", content: replyText(turn) }] };
			})
			.addEdge(START, "chat")
			.addEdge("chat", END)
			.compile({ checkpointer: saver });
	}

	return { seedGraph, chatGraph, replyText };
}
