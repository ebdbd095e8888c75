// LangGraph's validation suite uses vitest's globals (describe, it, beforeAll...).
import { defineConfig } from "vitest/config";

export default defineConfig({
	test: { globals: true, testTimeout: 30000, hookTimeout: 30000, include: ["test/**/*.test.mjs"] },
});
