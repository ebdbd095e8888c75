// LangGraph's own saver suite (@langchain/langgraph-checkpoint-validation) run
// through its API under vitest (its CLI, validate-checkpointer 1.1.1, cannot
// load an initializer: its runner imports a schema its dist does not export).
//     npx vitest run test/validation.test.mjs
import { validate } from "@langchain/langgraph-checkpoint-validation";
import initializer from "./validation_initializer.mjs";

validate(initializer);
