// StategraphSaver: a LangGraph.js checkpointer on stategraph's storage.
//
// Every saver method is one SQL call to an sg_lg_ function of the stategraph
// extension (src/lgsaver.c), so each is one round trip and one transaction.
// Values that LangGraph's serializer writes as JSON are sent and stored as
// jsonb (so SQL can read them, and arrays that grow are stored as their new
// elements); anything else (bytes, or JSON text that jsonb cannot hold) is
// sent as typed bytes.

import pg from "pg";
import { BaseCheckpointSaver, JsonPlusSerializer, TASKS, maxChannelVersion } from "@langchain/langgraph-checkpoint";

const decoder = new TextDecoder();

// sg_lg_get_tuple and sg_lg_list return json: read it as text, parsed here once
const rawJson = { getTypeParser: () => (text) => text };

// JSON text that jsonb refuses: NUL characters and lone surrogates in strings.
const NOT_JSONB = /\\u0000|\\ud[89a-f]/i;

function required(value, name) {
	if (value === undefined || value === null || value === "")
		throw new Error(`Missing "${name}" field in "config.configurable"`);
	return value;
}

export class StategraphSaver extends BaseCheckpointSaver {
	/**
	 * @param {pg.Pool | string} pool a node-postgres Pool, or a connection string
	 * @param {object} [serde] a LangGraph serializer (JsonPlusSerializer by default)
	 * @param {{schema?: string}} [options] schema holding the sg_lg_ functions (default: public)
	 */
	constructor(pool, serde, options = {}) {
		super(serde);
		this.ownsPool = typeof pool === "string";
		this.pool = typeof pool === "string" ? new pg.Pool({ connectionString: pool }) : pool;
		if (!this.pool || typeof this.pool.query !== "function")
			throw new TypeError("StategraphSaver needs a pg Pool or a connection string");
		const schema = options.schema ?? "public";
		this.fn = (name) => `"${schema.replace(/"/g, '""')}".${name}`;
	}

	static fromConnString(connString, options) {
		return new StategraphSaver(connString, undefined, options);
	}

	/** Checks that the stategraph extension (0.2.0 or later) is installed in the database. */
	async setup() {
		const { rows } = await this.pool.query(
			"SELECT extversion, to_regprocedure($1) IS NOT NULL AS has_fn FROM pg_catalog.pg_extension WHERE extname = 'stategraph'",
			[`${this.fn("sg_lg_put")}(text,text,uuid,jsonb,jsonb,jsonb,text[],text[],bytea[])`],
		);
		if (rows.length === 0)
			throw new Error(
				"StategraphSaver: the stategraph extension is not installed in this database (run CREATE EXTENSION stategraph as a superuser)",
			);
		if (!rows[0].has_fn)
			throw new Error(
				`StategraphSaver: stategraph ${rows[0].extversion} has no sg_lg_put; update it with ALTER EXTENSION stategraph UPDATE (0.2.0 or later is needed)`,
			);
	}

	async end() {
		if (this.ownsPool) await this.pool.end();
	}

	// [kind, payload]: ["json", text] when jsonb can hold it, else ["bytes", type, Buffer]
	async _dump(value) {
		const [type, data] = await this.serde.dumpsTyped(value);
		if (type === "json") {
			const text = typeof data === "string" ? data : decoder.decode(data);
			if (!NOT_JSONB.test(text)) return ["json", text];
		}
		return ["bytes", type, Buffer.from(typeof data === "string" ? new TextEncoder().encode(data) : data)];
	}

	async _loadJson(value) {
		return this.serde.loadsTyped("json", JSON.stringify(value));
	}

	// A tuple document from its JSON text. LangGraph's default serializer only
	// rebuilds objects that carry an "lc" key (LangChain objects, undefined, Set,
	// Map...): a document without one is used as parsed; otherwise each value
	// goes through the serializer, as PostgresSaver's do.
	async _parseTuple(text) {
		const doc = JSON.parse(text);
		if (this.serde instanceof JsonPlusSerializer && !text.includes('"lc"')) return this._toTuple(doc, true);
		return this._toTuple(doc, false);
	}

	async _loadBytes(type, b64) {
		return this.serde.loadsTyped(type, new Uint8Array(Buffer.from(b64, "base64")));
	}

	async _toTuple(doc, plain) {
		const { thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id } = doc;
		const load = plain ? async (v) => v : (v) => this._loadJson(v);
		const values = {};
		for (const [k, v] of Object.entries(doc.channel_values)) values[k] = await load(v);
		for (const [k, [type, b64]] of Object.entries(doc.channel_bytes)) values[k] = await this._loadBytes(type, b64);
		const checkpoint = {
			...doc.checkpoint,
			channel_versions: doc.checkpoint.channel_versions ?? {},
			versions_seen: doc.checkpoint.versions_seen ?? {},
			channel_values: values,
		};
		if (doc.pending_sends && doc.pending_sends.length > 0) {
			// a checkpoint of version < 4: its parent's Send writes become the tasks channel
			checkpoint.channel_values[TASKS] = await Promise.all(doc.pending_sends.map(load));
			const versions = Object.values(checkpoint.channel_versions);
			checkpoint.channel_versions[TASKS] =
				versions.length > 0 ? maxChannelVersion(...versions) : this.getNextVersion(undefined);
		}
		const pendingWrites = await Promise.all(
			doc.pending_writes.map(async (w) => [
				w[0],
				w[1],
				w.length > 3 ? await this._loadBytes(w[3], w[2]) : await load(w[2]),
			]),
		);
		return {
			config: { configurable: { thread_id, checkpoint_ns, checkpoint_id } },
			checkpoint,
			metadata: await load(doc.metadata),
			parentConfig: parent_checkpoint_id
				? { configurable: { thread_id, checkpoint_ns, checkpoint_id: parent_checkpoint_id } }
				: undefined,
			pendingWrites,
		};
	}

	async getTuple(config) {
		const { thread_id, checkpoint_ns = "", checkpoint_id } = config.configurable ?? {};
		if (thread_id === undefined || thread_id === null) return undefined;
		const { rows } = await this.pool.query({
			text: `SELECT ${this.fn("sg_lg_get_tuple")}($1, $2, $3) AS t`,
			values: [String(thread_id), checkpoint_ns, checkpoint_id || null],
			types: rawJson,
		});
		return rows[0].t ? this._parseTuple(rows[0].t) : undefined;
	}

	async *list(config, options = {}) {
		const { filter, before, limit } = options;
		const c = config?.configurable ?? {};
		const { rows } = await this.pool.query({
			text: `SELECT ${this.fn("sg_lg_list")}($1, $2, $3, $4, $5, $6) AS t`,
			values: [
				c.thread_id ?? null,
				c.checkpoint_ns ?? null,
				filter && Object.keys(filter).length > 0 ? JSON.stringify(filter) : null,
				before?.configurable?.checkpoint_id ?? null,
				limit ?? null,
				c.checkpoint_id ?? null,
			],
			types: rawJson,
		});
		for (const row of rows) yield await this._parseTuple(row.t);
	}

	async put(config, checkpoint, metadata, newVersions) {
		if (config.configurable === undefined) throw new Error(`Missing "configurable" field in "config" param`);
		const { thread_id, checkpoint_ns = "", checkpoint_id } = config.configurable;
		required(thread_id, "thread_id");
		// the JSON values go inside the checkpoint, the others beside it
		const parts = [];
		const bytesChannels = [];
		const bytesTypes = [];
		const bytesValues = [];
		for (const k of Object.keys(newVersions)) {
			if (!(k in (checkpoint.channel_values ?? {}))) continue;
			const d = await this._dump(checkpoint.channel_values[k]);
			if (d[0] === "json") parts.push(`${JSON.stringify(k)}:${d[1]}`);
			else {
				bytesChannels.push(k);
				bytesTypes.push(d[1]);
				bytesValues.push(d[2]);
			}
		}
		const { channel_values: _omit, ...rest } = checkpoint;
		const cpText = JSON.stringify(rest).replace(/^\{/, `{"channel_values":{${parts.join(",")}}${Object.keys(rest).length ? "," : ""}`);
		const [, meta] = await this.serde.dumpsTyped(metadata);
		const metaText = (typeof meta === "string" ? meta : decoder.decode(meta)).replace(/\\u0000/g, "");
		await this.pool.query(`SELECT ${this.fn("sg_lg_put")}($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [
			String(thread_id),
			checkpoint_ns,
			checkpoint_id || null,
			cpText,
			metaText,
			JSON.stringify(newVersions),
			bytesChannels.length ? bytesChannels : null,
			bytesChannels.length ? bytesTypes : null,
			bytesChannels.length ? bytesValues : null,
		]);
		return { configurable: { thread_id, checkpoint_ns, checkpoint_id: checkpoint.id } };
	}

	async putWrites(config, writes, taskId, taskPath = "") {
		const { thread_id, checkpoint_ns = "", checkpoint_id } = config.configurable ?? {};
		required(thread_id, "thread_id");
		required(checkpoint_id, "checkpoint_id");
		const parts = [];
		const bIndex = [];
		const bTypes = [];
		const bValues = [];
		for (let i = 0; i < writes.length; i++) {
			const [channel, value] = writes[i];
			const d = await this._dump(value);
			if (d[0] === "json") parts.push(`[${JSON.stringify(channel)},${d[1]}]`);
			else {
				parts.push(`[${JSON.stringify(channel)},null]`);
				bIndex.push(i);
				bTypes.push(d[1]);
				bValues.push(d[2]);
			}
		}
		await this.pool.query(`SELECT ${this.fn("sg_lg_put_writes")}($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [
			String(thread_id),
			checkpoint_ns,
			checkpoint_id,
			String(taskId),
			`[${parts.join(",")}]`,
			taskPath ?? "",
			bIndex.length ? bIndex : null,
			bIndex.length ? bTypes : null,
			bIndex.length ? bValues : null,
		]);
	}

	async deleteThread(threadId) {
		await this.pool.query(`SELECT ${this.fn("sg_lg_delete_thread")}($1)`, [String(threadId)]);
	}

	/** Copies every checkpoint of a thread into a new thread. */
	async copyThread(sourceThreadId, targetThreadId) {
		await this.pool.query(`SELECT ${this.fn("sg_lg_copy_thread")}($1, $2)`, [String(sourceThreadId), String(targetThreadId)]);
	}

	/** keep_latest: keep only the newest checkpoint of each namespace; delete: remove the threads. */
	async prune(threadIds, { strategy = "keep_latest" } = {}) {
		await this.pool.query(`SELECT ${this.fn("sg_lg_prune")}($1, $2)`, [threadIds.map(String), strategy]);
	}

	/** Removes the checkpoints (and their writes) written by the given runs. */
	async deleteForRuns(runIds) {
		await this.pool.query(`SELECT ${this.fn("sg_lg_delete_for_runs")}($1)`, [runIds.map(String)]);
	}
}

export default StategraphSaver;
