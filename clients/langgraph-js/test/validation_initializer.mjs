// CheckpointerTestInitializer for LangGraph's own saver suite
// (@langchain/langgraph-checkpoint-validation):
//     npx validate-checkpointer ./test/validation_initializer.mjs
// Connects with the libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE) to a
// throwaway database where stategraph is installed; every checkpointer starts
// from empty tables, as the suite requires.
import pg from "pg";
import { StategraphSaver } from "../src/index.js";

let pool;

export default {
	checkpointerName: "StategraphSaver",
	async beforeAll() {
		pool = new pg.Pool({ max: 4 });
		await pool.query("CREATE EXTENSION IF NOT EXISTS stategraph");
	},
	beforeAllTimeout: 30000,
	async afterAll() {
		await pool.end();
	},
	async createCheckpointer() {
		await pool.query("TRUNCATE stategraph.lg_checkpoints, stategraph.lg_blobs, stategraph.lg_writes");
		const saver = new StategraphSaver(pool);
		await saver.setup();
		return saver;
	},
};
