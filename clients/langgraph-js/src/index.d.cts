// Types of StategraphSaver (src/index.js), for TypeScript applications: the
// saver is a BaseCheckpointSaver, so `graph.compile({ checkpointer })` takes it
// as it takes PostgresSaver. The pool is typed by what the saver calls (a
// node-postgres Pool fits), so @types/pg is not needed.
import type { RunnableConfig } from "@langchain/core/runnables";
import {
	BaseCheckpointSaver,
	type ChannelVersions,
	type Checkpoint,
	type CheckpointListOptions,
	type CheckpointMetadata,
	type CheckpointTuple,
	type PendingWrite,
	type SerializerProtocol,
} from "@langchain/langgraph-checkpoint";

/** What the saver needs of a pool: node-postgres's Pool (or Client) fits. */
export interface StategraphQueryable {
	// eslint-disable-next-line @typescript-eslint/no-explicit-any
	query(...args: any[]): Promise<any>;
}

export interface StategraphSaverOptions {
	/** Schema of the sg_lg_ functions (default: public; after setup(), the extension's schema). */
	schema?: string;
	/** Characters of JSON text remembered so that put sends only what arrays append (default 32 Mi; 0: off). */
	appendCacheChars?: number;
	/**
	 * Calls as prepared statements, parsed and planned once per connection (default true);
	 * false for a connection pooler that keeps none (PgBouncer in transaction mode without
	 * max_prepared_statements).
	 */
	prepare?: boolean;
}

/** The JSON array text last stored per (thread, namespace, channel), least recently used first out. */
export declare class AppendCache {
	constructor(maxChars?: number);
	maxChars: number;
	get(key: string): { id: string; head: string; n: number } | undefined;
	set(key: string, id: string, text: string, n: number): void;
	delete(key: string): void;
}

export declare class StategraphSaver extends BaseCheckpointSaver {
	/** From a node-postgres Pool (yours to end), or a connection string (end() ends that pool). */
	constructor(pool: StategraphQueryable | string, serde?: SerializerProtocol, options?: StategraphSaverOptions);
	static fromConnString(connString: string, options?: StategraphSaverOptions): StategraphSaver;
	pool: StategraphQueryable;
	appendCache: AppendCache;
	/** Checks that the stategraph extension (0.2.0 or later) is installed, and finds its schema. */
	setup(): Promise<void>;
	/** Ends the pool the saver made from a connection string. */
	end(): Promise<void>;
	getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined>;
	list(config: RunnableConfig, options?: CheckpointListOptions): AsyncGenerator<CheckpointTuple>;
	put(
		config: RunnableConfig,
		checkpoint: Checkpoint,
		metadata: CheckpointMetadata,
		newVersions: ChannelVersions,
	): Promise<RunnableConfig>;
	putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath?: string): Promise<void>;
	deleteThread(threadId: string): Promise<void>;
	/** Copies every checkpoint of a thread into a new thread. */
	copyThread(sourceThreadId: string, targetThreadId: string): Promise<void>;
	/** keep_latest: keep only the newest checkpoint of each namespace; delete: remove the threads. */
	prune(threadIds: string[], options?: { strategy?: "keep_latest" | "delete" }): Promise<void>;
	/** Removes the checkpoints (and their writes) written by the given runs. */
	deleteForRuns(runIds: string[]): Promise<void>;
}

export default StategraphSaver;
