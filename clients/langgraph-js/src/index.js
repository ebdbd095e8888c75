// StategraphSaver: a LangGraph.js checkpointer on stategraph's storage.
//
// Every saver method is one SQL call to an sg_lg_ function of the stategraph
// extension (src/lgsaver.c), so each is one round trip and one transaction;
// a task's writes that LangGraph has not waited for when it puts the next
// checkpoint go in that put's call instead (see putWrites).
// Values that LangGraph's serializer writes as JSON are sent and stored as
// that text (json: read back with their keys in the order written, as
// LangGraph's own savers keep them; SQL reads them as jsonb, and arrays that
// grow are stored as their new elements); anything else (bytes, or JSON text
// that jsonb cannot hold) is sent as typed bytes.
//
// Appends. LangGraph hands put the whole value of a channel that changed (a
// chat's whole message list, every turn). The saver remembers the JSON text
// it last stored for each (thread, namespace, channel) with the checkpoint
// that stored it (AppendCache); when the new text begins with that text
// minus its closing "]" followed by ",", the first n elements serialise
// byte for byte as the stored ones, so put sends only the elements after
// them and {base, n} (as also when the first n elements are the stored ones as
// read back: see sameAsRead). The server extends the base's digest chain by those
// elements alone; if the base is not stored as said (pruned, deleted,
// another role's...), it stores nothing and returns NULL, and put sends the
// whole values in a second call.

import { createHash } from "node:crypto";
import pg from "pg";
import { BaseCheckpointSaver, JsonPlusSerializer, TASKS, maxChannelVersion } from "@langchain/langgraph-checkpoint";

const decoder = new TextDecoder();
// the shortest "channel":value text put waits for writes in flight before (see put)
const REF_MIN_TEXT = 48;

// The event loop's next turn, as it was when this module loaded: a test's fake
// timers (vitest's, jest's, node:test's mock.timers) replace setImmediate, and
// writes that no put takes would then never be sent (nor a run awaiting them end).
const nextTurn = globalThis.setImmediate;

// the most task writes a put takes along (10 parameters each; a statement has at most 65,535)
const MAX_TAKEN_WRITES = 64;
// and the most characters and bytes of parameters in a put with the writes it takes: a
// message to the server holds at most 1 GB (a character is at most 3 bytes of UTF-8), and
// writes that big gain nothing from sharing a round trip
const MAX_TAKEN_SIZE = 32 * 1024 * 1024;

// The size of a call's parameters: characters of text, bytes of bytea, arrays of either.
const paramsSize = (values) =>
	values.reduce((n, v) => n + (v == null ? 0 : Array.isArray(v) ? paramsSize(v) : v.length ?? 0), 0);

// An error the server reported for the statement itself (SQLSTATE), not a lost
// connection or a server shutting down, after which the statement may have run.
// (No SQLSTATE class begins with E, as Node's socket errors do: EPIPE.)
const statementError = (e) =>
	typeof e?.code === "string" && /^[0-9A-DF-Z][0-9A-Z]{4}$/.test(e.code) && !/^(08|57P)/.test(e.code);

// A serialization failure of the call's snapshot (with default_transaction_isolation
// serializable or repeatable read on the pool or database): each saver call is one
// statement, its own transaction, and its snapshot is taken before it waits for the
// thread's lock. SERIALIZABLE's predicate locks roll back one of a step's tasks' writes
// and the put after them, which read and write one thread's rows at once (40001, "could
// not serialize access due to read/write dependencies among transactions"; PostgresSaver's
// inserts are not refused so); a delete, prune, copy or put that waited for another
// writer's commit is refused as its snapshot missed it ("could not serialize access to
// thread ... due to concurrent update"), where READ COMMITTED goes on. Nothing of the call
// was stored: it runs again, with a new snapshot that sees what it waited for (at most
// SERIALIZATION_TRIES times, after a short random pause), and every check of the thread's
// head is made again. Not the extension's refusal of a stale writer (lgsaver.c: "advanced by
// another writer", "sorts before its parent"), which is the caller's to hear.
const SERIALIZATION_TRIES = 10;
const serializationFailure = (e) => e?.code === "40001" && typeof e.file === "string" && e.file !== "lgsaver.c";
// (setTimeout as it was when this module loaded: see nextTurn)
const timer = globalThis.setTimeout;
const pause = (ms) => new Promise((resolve) => timer(resolve, ms));

// sg_lg_get_tuple and sg_lg_list return json: read it as text, parsed here once
const rawJson = { getTypeParser: () => (text) => text };

// Names of prepared statements, one per statement text (a connection that two
// savers share prepares a text once, under one name): the server then parses
// and plans each call's statement once per connection, not at every call (a
// tenth of the server's work on a small graph's puts). The name is a digest of
// the text, not a count, so that two copies of this module on one pool (a
// module reloaded by a dev server, two installed versions) name a text alike
// and never give one name two texts (which node-postgres refuses).
const statementNames = new Map();
const statementName = (text) => {
	let name = statementNames.get(text);
	if (name === undefined)
		statementNames.set(text, (name = `stategraph_${createHash("sha256").update(text).digest("hex").slice(0, 32)}`));
	return name;
};

// JSON text that jsonb refuses: NUL characters and lone surrogates in strings,
// written as \u0000 and \udXXX escapes. An escape's backslash follows an even
// number of backslashes; after an odd number ("\\u0000") it is the second half
// of an escaped backslash, and "u0000" is text.
const NOT_JSONB = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f])/i;
// (the test, on long text: most text has no \u escape at all, which
// includes() finds ten times faster than the pattern's search)
const jsonbHolds = (text) => !text.includes("\\u") || !NOT_JSONB.test(text);
// a NUL escape, kept in $1 what comes before it
const NUL_ESCAPE = /(?<!\\)((?:\\\\)*)\\u0000/gi;

// a lone surrogate's escape (one not part of an escaped pair), kept in $1 what
// comes before it: metadata holds user text (a title cut inside an emoji)
const LONE_SURROGATE =
	/(?<!\\)((?:\\\\)*)(?:\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f][0-9a-f]{2})|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2})/gi;

// Metadata's JSON text as jsonb holds it: NUL escapes removed, lone surrogates
// as U+FFFD (put stores metadata so, and list's filter must match what it stored).
// The character itself, not its escape: a SQL_ASCII database's jsonb refuses
// every \u escape above ASCII (0A000), and put failed there.
const asJsonb = (text) => text.replace(NUL_ESCAPE, "$1").replace(LONE_SURROGATE, "$1\ufffd");

// LangGraph's own channels (inputs, triggers, Send tasks): the server may keep
// their values in the checkpoint row, where nothing can extend them
const INTERNAL = /^(__|branch:to:|join:)/;

// A message list read back from the saver serializes otherwise than the text put stored
// (which reads back as written, keys in their order): without the kwargs LangGraph's
// serializer wrote as undefined ({"lc":2,"type":"undefined"}: createReactAgent's AIMessage
// name, ToolNode's ToolMessage artifact), which LangChain's reviver drops. Each element
// revives the same, so the list still extends the stored one when its first n elements
// are the stored ones once both are in this form (such kwargs left out).
const isUndefinedMark = (v) => v !== null && typeof v === "object" && v.lc === 2 && v.type === "undefined" && Object.keys(v).length === 2;
function asRead(x) {
	if (Array.isArray(x)) return x.map(asRead);
	if (x === null || typeof x !== "object") return x;
	const lcObject = x.lc === 1 && x.type === "constructor";
	const o = Object.create(null); // a "__proto__" key of parsed JSON stays a key
	for (const k of Object.keys(x))
		if (lcObject && k === "kwargs" && x.kwargs !== null && typeof x.kwargs === "object" && !Array.isArray(x.kwargs)) {
			const kwargs = Object.create(null);
			for (const kk of Object.keys(x.kwargs)) if (!isUndefinedMark(x.kwargs[kk])) kwargs[kk] = asRead(x.kwargs[kk]);
			o.kwargs = kwargs;
		} else o[k] = asRead(x[k]);
	return o;
}
// whether the array text begins with the n elements of stored (an array text without its "]")
function sameAsRead(stored, text, n) {
	let before, now;
	try {
		before = JSON.parse(`${stored}]`);
		now = JSON.parse(text);
	} catch {
		return false;
	}
	return before.length === n && now.length > n && JSON.stringify(asRead(before)) === JSON.stringify(asRead(now.slice(0, n)));
}

/**
 * The JSON array text last stored per (thread, namespace, channel): LRU,
 * bounded by the characters it holds (and each entry by a quarter of it),
 * counting each entry's key, checkpoint id and ENTRY_COST for its Map slot
 * and object: many threads with short arrays cost more than their text.
 */
export class AppendCache {
	static ENTRY_COST = 64;

	constructor(maxChars = 32 * 1024 * 1024) {
		this.maxChars = maxChars;
		this.maxEntry = Math.floor(maxChars / 4);
		this.size = 0;
		this.map = new Map(); // key -> {id, head (the text without its "]"), n, cost}; oldest first
	}

	/** The entry of key, now the most recently used, or undefined. */
	get(key) {
		const e = this.map.get(key);
		if (e) {
			this.map.delete(key);
			this.map.set(key, e);
		}
		return e;
	}

	/** Remembers text (an array of n elements) as stored by checkpoint id. */
	set(key, id, text, n) {
		this.delete(key);
		const cost = text.length + key.length + id.length + AppendCache.ENTRY_COST;
		if (cost > this.maxEntry) return;
		this.map.set(key, { id, head: text.slice(0, -1), n, cost });
		this.size += cost;
		for (const [k, e] of this.map) {
			if (this.size <= this.maxChars) break;
			this.map.delete(k);
			this.size -= e.cost;
		}
	}

	delete(key) {
		const e = this.map.get(key);
		if (e) {
			this.map.delete(key);
			this.size -= e.cost;
		}
	}
}

// LangGraph's JsonPlusSerializer itself, whose reads of JSON revive "lc" objects only
// (not a subclass, nor one whose methods were replaced: those may revive more)
const defaultSerde = (serde) =>
	Object.getPrototypeOf(serde) === JsonPlusSerializer.prototype &&
	serde.loadsTyped === JsonPlusSerializer.prototype.loadsTyped &&
	serde._loads === JsonPlusSerializer.prototype._loads;

// ... and whose writes are its own: its JSON of a plain value (below) is
// JSON.stringify's, since its replacer changes nothing there
const defaultDumps = (serde) =>
	Object.getPrototypeOf(serde) === JsonPlusSerializer.prototype &&
	serde.dumpsTyped === JsonPlusSerializer.prototype.dumpsTyped &&
	serde._dumps === JsonPlusSerializer.prototype._dumps;

// A value JSON can hold as it is: null, booleans, numbers, strings, arrays
// without holes or undefined, and objects of no class (prototype Object's or
// none) without toJSON, undefined or LangGraph's Send marker, and no cycle.
// For such a value the serializer's replacer returns every part unchanged, so
// JSON.stringify writes its text: ten times faster than the serializer, which
// also walks the value for cycles, calls its replacer on every part and
// encodes the text as UTF-8 bytes (which put then decodes again). A chat's
// message list is serialized whole at each put that changes it, so this is
// most of the saver's own time per turn once the list is long.
function plainJson(value, ancestors) {
	if (value === null) return true;
	const t = typeof value;
	if (t === "string" || t === "boolean" || t === "number") return true;
	if (t !== "object" || ancestors.has(value)) return false;
	ancestors.add(value);
	let plain = true;
	if (Array.isArray(value)) {
		// an array's own toJSON (or a subclass's) is the serializer's to call
		plain = Object.getPrototypeOf(value) === Array.prototype && typeof value.toJSON !== "function";
		for (let i = 0; plain && i < value.length; i++) plain = value[i] !== undefined && plainJson(value[i], ancestors);
	} else {
		const proto = Object.getPrototypeOf(value);
		plain = (proto === Object.prototype || proto === null) && typeof value.toJSON !== "function" && value.lg_name !== "Send";
		if (plain)
			for (const k of Object.keys(value)) {
				const v = value[k];
				if (v === undefined || !plainJson(v, ancestors)) {
					plain = false;
					break;
				}
			}
	}
	ancestors.delete(value);
	return plain;
}

// The text of a plain value (plainJson), else undefined: the serializer's
// turn (also when walking the value failed, say nested too deep)
function plainText(value) {
	try {
		return plainJson(value, new Set()) ? JSON.stringify(value) : undefined;
	} catch {
		return undefined;
	}
}

// An id argument of deleteThread, copyThread, prune or deleteForRuns: null or
// undefined became the thread "null" or "undefined" (String()), and was deleted
function requiredId(value, name) {
	if (value === undefined || value === null) throw new Error(`StategraphSaver: ${name} must not contain null or undefined`);
	return value;
}

function required(value, name) {
	if (value === undefined || value === null)
		throw new Error(`Missing "${name}" field in "config.configurable"`);
	// stategraph's thread ids (which LangGraph.js threads share) are not empty
	if (value === "")
		throw new Error(`The "${name}" field in "config.configurable" is empty: stategraph refuses an empty ${name}`);
	return value;
}

export class StategraphSaver extends BaseCheckpointSaver {
	/**
	 * @param {pg.Pool | string} pool a node-postgres Pool, or a connection string
	 * @param {object} [serde] a LangGraph serializer (JsonPlusSerializer by default)
	 * @param {{schema?: string, appendCacheChars?: number, prepare?: boolean}} [options] schema
	 *   holding the sg_lg_ functions (default: public, and after setup() the extension's schema);
	 *   characters of JSON text remembered so that put sends only what arrays append (default
	 *   32 Mi; 0: always whole values); prepare: calls as prepared statements (default true;
	 *   false for a pooler that keeps none, such as PgBouncer in transaction mode without
	 *   max_prepared_statements)
	 */
	constructor(pool, serde, options = {}) {
		super(serde);
		this.ownsPool = typeof pool === "string";
		this.pool = typeof pool === "string" ? new pg.Pool({ connectionString: pool }) : pool;
		if (!this.pool || typeof this.pool.query !== "function")
			throw new TypeError("StategraphSaver needs a pg Pool or a connection string");
		// A pool emits "error" when an idle connection dies (server restart,
		// pg_terminate_backend); with no listener Node ends the process. The
		// pool drops that connection and the next call opens another, so a
		// pool the saver made only needs the event heard (yours is yours).
		if (this.ownsPool) this.pool.on("error", () => {});
		this.schemaGiven = options.schema !== undefined;
		this._useSchema(options.schema ?? "public");
		this.appendCache = new AppendCache(options.appendCacheChars ?? 32 * 1024 * 1024);
		this.prepare = options.prepare ?? true;
	}

	// One call of the saver: text as a prepared statement (unless options.prepare is false),
	// again after a serialization failure of its snapshot's (see serializationFailure)
	async _query(text, values, types) {
		let failure;
		for (let tries = 1; ; tries++) {
			try {
				return await this._queryOnce(text, values, types);
			} catch (e) {
				// (a pg Client given in a transaction of the caller's: the failure ended it)
				if (failure && e?.code === "25P02") throw failure;
				if (!serializationFailure(e) || tries >= SERIALIZATION_TRIES) throw e;
				failure = e;
				await pause(Math.random() * 5 * tries);
			}
		}
	}

	async _queryOnce(text, values, types) {
		if (this.prepare) {
			try {
				return await this.pool.query({ name: statementName(text), text, types }, values);
			} catch (e) {
				// A connection without the statements node-postgres prepared on it (DISCARD ALL,
				// DEALLOCATE, a pooler in transaction mode that keeps none) refuses them, at every
				// call after. The call did not run: it runs plain, and so do the saver's next ones.
				if (e?.code !== "26000" && e?.code !== "42P05") throw e;
				this.prepare = false;
			}
		}
		return this.pool.query(types ? { text, types } : text, values);
	}

	_useSchema(schema) {
		this.schema = schema;
		this.fn = (name) => `"${schema.replace(/"/g, '""')}".${name}`;
	}

	static fromConnString(connString, options) {
		return new StategraphSaver(connString, undefined, options);
	}

	/**
	 * Checks that the stategraph extension (0.2.0 or later) is installed in the
	 * database; without options.schema, the saver then calls the sg_lg_
	 * functions in the schema the extension was created in.
	 */
	async setup() {
		const { rows } = await this.pool.query(
			`SELECT e.extversion, n.nspname,
			        pg_catalog.to_regprocedure(pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||)
			          '.sg_lg_put(text,text,uuid,jsonb,jsonb,jsonb,text[],text[],bytea[],boolean,jsonb,boolean,json)') IS NOT NULL AS has_fn
			   FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
			  WHERE e.extname = 'stategraph'`,
		);
		if (rows.length === 0)
			throw new Error(
				"StategraphSaver: the stategraph extension is not installed in this database (run CREATE EXTENSION stategraph as a superuser)",
			);
		const { extversion, nspname, has_fn } = rows[0];
		if (this.schemaGiven && this.schema !== nspname)
			throw new Error(
				`StategraphSaver: the stategraph extension is in schema "${nspname}", not "${this.schema}" (options.schema names the extension's schema; leave it out to use that one)`,
			);
		this._useSchema(nspname);
		if (!has_fn)
			throw new Error(
				`StategraphSaver: stategraph ${extversion} has no sg_lg_put with channel_values; update it with ALTER EXTENSION stategraph UPDATE (0.2.0 or later is needed)`,
			);
	}

	/**
	 * Closes the pool the saver made from a connection string. A Pool passed to
	 * the constructor stays open: it is the caller's (PostgresSaver.end() ends it).
	 */
	async end() {
		// every call made before end() is awaited, those not awaited by their
		// caller too (a put or putWrites still serializing its values has sent
		// nothing yet: the pool ended under it and its writes were lost); writes
		// still queued are sent now. A call still waiting for a connection when
		// the pool ends never runs, and its promise never settles.
		for (;;) {
			for (const [key, queue] of [...(this._queued ?? [])]) this._sendQueuedWrites(key, queue);
			const writing = [...(this._writing?.values() ?? [])].flatMap((pending) => [...pending]);
			const calls = [...(this._calls ?? [])];
			if (calls.length === 0 && writing.length === 0 && !this._putting?.size && !this._queued?.size) break;
			await Promise.allSettled([...calls, ...(this._putting?.values() ?? []), ...writing]);
		}
		if (this.ownsPool && !this.ended) {
			this.ended = true;
			await this.pool.end();
		}
	}

	// [kind, payload]: ["json", text] when jsonb can hold it, else ["bytes", type, Buffer]
	async _dump(value) {
		const plain = value !== undefined && defaultDumps(this.serde) ? plainText(value) : undefined;
		if (plain !== undefined && jsonbHolds(plain)) return ["json", plain];
		let [type, data] = await this.serde.dumpsTyped(value);
		// a function or a symbol serializes as "" (no JSON, and no value once read:
		// PostgresSaver's reads then fail): stored as the serializer's undefined
		// instead, which reads back as MemorySaver's does
		if (type === "json" && (!data || data.length === 0) && value !== undefined)
			[type, data] = await this.serde.dumpsTyped(undefined);
		if (type === "json") {
			const text = typeof data === "string" ? data : decoder.decode(data);
			if (jsonbHolds(text)) return ["json", text];
		}
		return ["bytes", type, Buffer.from(typeof data === "string" ? new TextEncoder().encode(data) : data)];
	}

	async _loadJson(value) {
		return this.serde.loadsTyped("json", JSON.stringify(value));
	}

	// A tuple document from its JSON text. LangGraph's default serializer only
	// rebuilds objects that carry an "lc" key (LangChain objects, undefined, Set,
	// Map...): a document without one is used as parsed; otherwise, and with any
	// other serializer (a subclass that revives more, such as Dates, included),
	// each value goes through the serializer, as PostgresSaver's do.
	async _parseTuple(text) {
		const doc = JSON.parse(text);
		return this._toTuple(doc, defaultSerde(this.serde) && !text.includes('"lc"'));
	}

	async _loadBytes(type, b64) {
		return this.serde.loadsTyped(type, new Uint8Array(Buffer.from(b64, "base64")));
	}

	async _toTuple(doc, plain) {
		const { thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id } = doc;
		const load = plain ? async (v) => v : (v) => this._loadJson(v);
		// entries, not assignments: a channel named "__proto__" stays a channel (an
		// assignment would make its value the prototype of channel_values)
		const entries = [];
		for (const [k, v] of Object.entries(doc.channel_values)) entries.push([k, await load(v)]);
		for (const [k, [type, b64]] of Object.entries(doc.channel_bytes)) entries.push([k, await this._loadBytes(type, b64)]);
		const values = Object.fromEntries(entries);
		const checkpoint = {
			...doc.checkpoint,
			channel_versions: doc.checkpoint.channel_versions ?? {},
			versions_seen: doc.checkpoint.versions_seen ?? {},
			channel_values: values,
		};
		if (doc.pending_sends && doc.pending_sends.length > 0) {
			// a checkpoint of version < 4: its parent's Send writes become the tasks channel
			const sends = await Promise.all(doc.pending_sends.map(load));
			// those stored as typed bytes are null in pending_sends: [index, base64, type]
			for (const [i, b64, type] of doc.pending_sends_bytes ?? []) sends[i] = await this._loadBytes(type, b64);
			checkpoint.channel_values[TASKS] = sends;
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
		return this._getTuple(config, true);
	}

	// LangGraph's walk over a checkpoint's ancestors for a DeltaChannel's value reads
	// each of them with getTuple by its id: reads within a run, not the read of a run
	// from an older checkpoint (_sawById), which let the run's next put extend a
	// checkpoint that was no longer the newest (two writers forked the thread)
	async getDeltaChannelHistory(options) {
		const quiet = Object.create(this);
		quiet.getTuple = (config) => this._getTuple(config, false);
		return super.getDeltaChannelHistory.call(quiet, options);
	}

	// getTuple; noteReads: what was read (an empty thread, a checkpoint by its id)
	// counts for the next put (_sawEmpty, _sawById)
	async _getTuple(config, noteReads) {
		const { thread_id, checkpoint_ns = "", checkpoint_id } = config.configurable ?? {};
		if (thread_id === undefined || thread_id === null) return undefined;
		const { rows } = await this._query(
			`SELECT ${this.fn("sg_lg_get_tuple")}($1, $2, $3) AS t`,
			[String(thread_id), checkpoint_ns, checkpoint_id || null],
			rawJson,
		);
		if (noteReads && !rows[0].t && !checkpoint_id) this._sawEmpty(String(thread_id), checkpoint_ns, true);
		if (!rows[0].t) return undefined;
		// a thread id that is not a string (a number) comes back as the caller gave it, as
		// PostgresSaver's does (a string comes back as stored: a lone surrogate as U+FFFD)
		const tuple = await this._parseTuple(rows[0].t);
		if (noteReads)
			this._sawById(String(thread_id), checkpoint_ns, tuple.config.configurable.checkpoint_id, Boolean(checkpoint_id));
		if (typeof thread_id !== "string")
			for (const c of [tuple.config, tuple.parentConfig]) if (c) c.configurable.thread_id = thread_id;
		return tuple;
	}

	// Threads (and namespaces) this saver last read as empty: its next first
	// checkpoint there asks the server to refuse it if another writer started
	// the thread meanwhile, so two processes starting one thread cannot both
	// build a chain (LangGraph itself may store several first checkpoints).
	_sawEmpty(threadId, ns, empty) {
		this._empty ??= new Set();
		const key = `${threadId}\u0000${ns}`;
		const had = this._empty.has(key);
		if (empty) {
			if (this._empty.size > 10000) this._empty.clear();
			this._empty.add(key);
		} else this._empty.delete(key);
		return had;
	}

	// Checkpoints this saver read by their id (a run from an older checkpoint, time
	// travel, reads its checkpoint so), until a read of the newest returns them: a
	// put extending one is such a run, which LangGraph forks there, and the server
	// lets it extend a checkpoint that is not the newest (parent_by_id). A run from
	// the newest checkpoint reads it as the newest, so a stale writer is still refused.
	_sawById(threadId, ns, checkpointId, byId) {
		this._byId ??= new Map();
		const key = `${threadId}\u0000${ns}`;
		let ids = this._byId.get(key);
		if (byId) {
			if (!ids) {
				if (this._byId.size > 10000) this._byId.clear();
				this._byId.set(key, (ids = new Set()));
			}
			if (ids.size > 1000) ids.clear();
			ids.add(checkpointId);
		} else if (ids) {
			ids.delete(checkpointId);
			if (ids.size === 0) this._byId.delete(key);
		}
	}

	// Whether the parent of a put is a checkpoint read by its id (see _sawById); once only.
	_parentById(threadId, ns, parentId) {
		const key = `${threadId}\u0000${ns}`;
		const ids = this._byId?.get(key);
		if (!parentId || !ids?.delete(parentId)) return false;
		if (ids.size === 0) this._byId.delete(key);
		return true;
	}

	async *list(config, options = {}) {
		const { filter, before, limit } = options;
		const c = config?.configurable ?? {};
		const { rows } = await this._query(
			`SELECT ${this.fn("sg_lg_list")}($1, $2, $3, $4, $5, $6) AS t`,
			[
				c.thread_id ?? null,
				c.checkpoint_ns ?? null,
				// as put stores metadata: a filter of the metadata put was given finds it
				filter && Object.keys(filter).length > 0 ? asJsonb(JSON.stringify(filter)) : null,
				// an empty checkpoint id is none, as getTuple reads it (and MemorySaver, in both places)
				before?.configurable?.checkpoint_id || null,
				// as PostgresSaver reads it; sg_lg_list's limit is an integer, and more than
				// 2^31-1 rows is all of them (PostgresSaver's LIMIT takes a bigint)
				limit === undefined || limit === null ? null : Math.min(parseInt(limit, 10), 2147483647),
				c.checkpoint_id || null,
			],
			rawJson,
		);
		for (const row of rows) yield await this._parseTuple(row.t);
	}

	// A call of the saver's, tracked from its first step until it settles (end()).
	_track(promise) {
		this._calls ??= new Set();
		this._calls.add(promise);
		const untrack = () => this._calls.delete(promise);
		promise.then(untrack, untrack);
		return promise;
	}

	put(config, checkpoint, metadata, newVersions) {
		return this._track(this._put(config, checkpoint, metadata, newVersions));
	}

	putWrites(config, writes, taskId, taskPath = "") {
		return this._track(this._putWrites(config, writes, taskId, taskPath));
	}

	async _put(config, checkpoint, metadata, newVersions) {
		if (config.configurable === undefined) throw new Error(`Missing "configurable" field in "config" param`);
		const { thread_id, checkpoint_ns = "", checkpoint_id } = config.configurable;
		required(thread_id, "thread_id");
		// the JSON values go inside the checkpoint, the others beside it
		const json = []; // [channel, text, cache key, elements (-1: not an array the server can extend)]
		const bytesChannels = [];
		const bytesTypes = [];
		const bytesValues = [];
		for (const k of Object.keys(newVersions)) {
			if (!(k in (checkpoint.channel_values ?? {}))) continue;
			const value = checkpoint.channel_values[k];
			const d = await this._dump(value);
			const key = `${thread_id}\u0000${checkpoint_ns}\u0000${k}`;
			if (d[0] === "json") {
				const array = Array.isArray(value) && !INTERNAL.test(k) && d[1].startsWith("[") && d[1].endsWith("]");
				json.push([k, d[1], key, array ? value.length : -1]);
			} else {
				this.appendCache.delete(key);
				bytesChannels.push(k);
				bytesTypes.push(d[1]);
				bytesValues.push(d[2]);
			}
		}
		// the checkpoint without its values (jsonb), the values as their text (json: kept as written)
		const { channel_values: _omit, ...rest } = checkpoint;
		const restText = JSON.stringify(rest);
		const [, meta] = await this.serde.dumpsTyped(metadata);
		// jsonb holds neither NUL (removed; PostgresSaver removes raw NULs, but its text has them escaped: 22P05) nor lone surrogates
		// (U+FFFD, as UTF-8 text parameters get; PostgresSaver's put fails)
		const metaText = asJsonb(typeof meta === "string" ? meta : decoder.decode(meta));
		const expectNew = this._sawEmpty(String(thread_id), checkpoint_ns, false) && !checkpoint_id;
		const parentById = this._parentById(String(thread_id), checkpoint_ns, checkpoint_id);
		const putArgs = (parts, appends) => [
			String(thread_id),
			checkpoint_ns,
			checkpoint_id || null,
			restText,
			metaText,
			JSON.stringify(newVersions),
			bytesChannels.length ? bytesChannels : null,
			bytesChannels.length ? bytesTypes : null,
			bytesChannels.length ? bytesValues : null,
			expectNew,
			appends,
			parentById,
			`{${parts.join(",")}}`,
		];
		const call = (parts, appends) =>
			this._query(`SELECT ${this.fn("sg_lg_put")}($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) AS id`, putArgs(parts, appends));
		const whole = json.map(([k, text]) => `${JSON.stringify(k)}:${text}`);
		// an array whose text begins with the text last stored, minus "]", then ",", or whose
		// first elements are the stored ones as read back (see sameAsRead): its new elements only
		const appends = {};
		let appended = false;
		const parts = [];
		for (const [i, [k, text, key, n]] of json.entries()) {
			const c = n > 0 ? this.appendCache.get(key) : undefined;
			let added; // the text of the elements after the stored ones, without "["
			if (!c || c.id === checkpoint.id || n <= c.n) added = undefined;
			else if (text.charCodeAt(c.head.length) === 44 /* , */ && text.startsWith(c.head)) added = text.slice(c.head.length + 1);
			else if (sameAsRead(c.head, text, c.n)) {
				const d = await this._dump(checkpoint.channel_values[k].slice(c.n));
				if (d[0] === "json") added = d[1].slice(1);
			}
			if (added === undefined) parts.push(whole[i]);
			else {
				appends[k] = { base: c.id, n: c.n };
				appended = true;
				parts.push(`${JSON.stringify(k)}:[${added}`);
			}
		}
		const appendsText = appended ? JSON.stringify(appends) : null;
		// built before the queued writes are taken: a put that fails here leaves them queued
		const args = putArgs(parts, appendsText);
		// a value the server may store as a reference to a pending write (LG_REF_MIN in
		// lgsaver.c: 64 bytes of its text; a part here also holds its channel's name, so
		// this waits a little more often than needed) needs that write stored first: wait
		// for this thread's writes still in flight
		const threadKey = `${thread_id}\u0000${checkpoint_ns}`;
		let queued = this._takeQueuedWrites(threadKey);
		if (queued && (queued.length > MAX_TAKEN_WRITES ||
			queued.reduce((n, w) => n + paramsSize(w.args), paramsSize(args)) > MAX_TAKEN_SIZE)) {
			for (const w of queued) this._sendWrites(threadKey, w);
			queued = undefined;
		}
		const writing = this._writing?.get(threadKey);
		if (writing && parts.some((p) => p.length >= REF_MIN_TEXT)) await Promise.allSettled([...writing]);
		// while it is in flight, writes queued for the thread wait for it (see putWrites)
		const sending = queued
			? this._putWithWrites(queued, threadKey, args, () => call(parts, appendsText))
			: call(parts, appendsText);
		this._putting ??= new Map();
		this._putting.set(threadKey, sending);
		let rows;
		try {
			({ rows } = await sending);
		} finally {
			if (this._putting.get(threadKey) === sending) this._putting.delete(threadKey);
		}
		if (rows[0].id === null) ({ rows } = await call(whole, null)); // a base is not stored as remembered
		for (const [, text, key, n] of json) {
			if (n > 0) this.appendCache.set(key, checkpoint.id, text, n);
			else this.appendCache.delete(key);
		}
		return { configurable: { thread_id, checkpoint_ns, checkpoint_id: checkpoint.id } };
	}

	async _putWrites(config, writes, taskId, taskPath) {
		const { thread_id, checkpoint_ns = "", checkpoint_id } = config.configurable ?? {};
		required(thread_id, "thread_id");
		required(checkpoint_id, "checkpoint_id");
		// [[channel, null], ...] (jsonb) and the values as their text (json: kept as written)
		const parts = [];
		const texts = [];
		const bIndex = [];
		const bTypes = [];
		const bValues = [];
		for (let i = 0; i < writes.length; i++) {
			const [channel, value] = writes[i];
			const d = await this._dump(value);
			parts.push(`[${JSON.stringify(channel)},null]`);
			if (d[0] === "json") texts.push(d[1]);
			else {
				texts.push("null");
				bIndex.push(i);
				bTypes.push(d[1]);
				bValues.push(d[2]);
			}
		}
		const args = [
			String(thread_id),
			checkpoint_ns,
			checkpoint_id,
			String(taskId),
			`[${parts.join(",")}]`,
			taskPath ?? "",
			bIndex.length ? bIndex : null,
			bIndex.length ? bTypes : null,
			bIndex.length ? bValues : null,
			`[${texts.join(",")}]`,
		];
		// Queued, not sent: LangGraph puts the step's next checkpoint right
		// after its tasks' writes, without waiting for them, and put then
		// takes them along in its own call (one round trip and one commit
		// instead of two). Writes that no put takes are sent on their own
		// once the thread's put in flight has returned (LangGraph puts the
		// next checkpoint only after the previous one) and the event loop
		// has turned. The promise settles when the writes are stored.
		const key = `${thread_id}\u0000${checkpoint_ns}`;
		return new Promise((resolve, reject) => {
			this._queued ??= new Map();
			let queue = this._queued.get(key);
			if (!queue) {
				queue = [];
				this._queued.set(key, queue);
				const flush = () => nextTurn(() => this._sendQueuedWrites(key, queue));
				const putting = this._putting?.get(key);
				if (putting) putting.then(flush, flush);
				else flush();
			}
			queue.push({ args, resolve, reject });
		});
	}

	// The writes queued for key, now no longer queued (put takes them), or undefined.
	_takeQueuedWrites(key) {
		const queue = this._queued?.get(key);
		if (queue) this._queued.delete(key);
		return queue;
	}

	// Sends the writes of queue on their own, if no put has taken them.
	_sendQueuedWrites(key, queue) {
		if (this._queued?.get(key) !== queue) return;
		this._queued.delete(key);
		for (const w of queue) this._sendWrites(key, w);
	}

	// One task's writes in a call of their own, tracked while in flight (see put).
	_sendWrites(key, { args, resolve, reject }) {
		// (_query is async: from a timer, its errors reject done, never throw)
		const done = this._query(`SELECT ${this.fn("sg_lg_put_writes")}($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, args);
		this._writing ??= new Map();
		const pending = this._writing.get(key) ?? new Set();
		this._writing.set(key, pending);
		pending.add(done);
		done.then(
			() => resolve(),
			(e) => reject(e),
		).finally(() => {
			pending.delete(done);
			if (pending.size === 0 && this._writing.get(key) === pending) this._writing.delete(key);
		});
		return done;
	}

	// The queued writes and a put in one statement: the writes first (each
	// put_writes in a CTE that the next reads, so they run in order and
	// before the put, which may refer to a write it finds stored), all in
	// one transaction. If the server refuses it, the writes are sent on
	// their own (so that a put refused, say a stale checkpoint, does not lose
	// them), then the put alone (putAlone), each failing on its own error; if
	// the connection failed (the statement may have committed), all fail.
	async _putWithWrites(queued, key, putArgs, putAlone) {
		const values = [...putArgs];
		// in LangGraph's order of writes (task_path, task_id): two processes on one
		// thread (one of them stale) then wait for each other's same rows in one
		// order, not in a deadlock
		const byTask = (w) => `${w.args[5]}\u0000${w.args[3]}`;
		queued = [...queued].sort((a, b) => (byTask(a) < byTask(b) ? -1 : byTask(a) > byTask(b) ? 1 : 0));
		const ctes = queued.map((w, i) => {
			const at = values.length;
			values.push(...w.args);
			const params = w.args.map((_, k) => `$${at + k + 1}`).join(", ");
			return `w${i} AS MATERIALIZED (SELECT ${this.fn("sg_lg_put_writes")}(${params})${i ? ` FROM w${i - 1}` : ""})`;
		});
		const text = `WITH ${ctes.join(", ")} SELECT ${this.fn("sg_lg_put")}($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) AS id FROM w${queued.length - 1}`;
		let result;
		try {
			result = await this._query(text, values);
		} catch (e) {
			if (!statementError(e)) {
				for (const w of queued) w.reject(e);
				throw e;
			}
			await Promise.allSettled(queued.map((w) => this._sendWrites(key, w)));
			return putAlone();
		}
		for (const w of queued) w.resolve();
		return result;
	}

	async deleteThread(threadId) {
		const id = String(requiredId(threadId, "threadId"));
		await this._track(this._query(`SELECT ${this.fn("sg_lg_delete_thread")}($1)`, [id]));
	}

	/** Copies every checkpoint of a thread into a new thread. */
	async copyThread(sourceThreadId, targetThreadId) {
		const ids = [requiredId(sourceThreadId, "sourceThreadId"), requiredId(targetThreadId, "targetThreadId")].map(String);
		await this._track(this._query(`SELECT ${this.fn("sg_lg_copy_thread")}($1, $2)`, ids));
	}

	/** keep_latest: keep only the newest checkpoint of each namespace; delete: remove the threads. */
	async prune(threadIds, { strategy = "keep_latest" } = {}) {
		const ids = threadIds.map((id) => String(requiredId(id, "threadIds")));
		await this._track(this._query(`SELECT ${this.fn("sg_lg_prune")}($1, $2)`, [ids, strategy]));
	}

	/** Removes the checkpoints (and their writes) written by the given runs. */
	async deleteForRuns(runIds) {
		const ids = runIds.map((id) => String(requiredId(id, "runIds")));
		await this._track(this._query(`SELECT ${this.fn("sg_lg_delete_for_runs")}($1)`, [ids]));
	}
}

export default StategraphSaver;
