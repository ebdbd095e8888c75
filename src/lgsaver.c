/*-------------------------------------------------------------------------
 *
 * lgsaver.c
 *		LangGraph checkpoint storage: the SQL side of a BaseCheckpointSaver
 *		(clients/langgraph-js), so that LangGraph.js applications keep their
 *		graphs in JS and their threads in stategraph's database. This file
 *		holds the design, the kept plans, the locks, put and put_writes;
 *		lgread.c reads, lgmaint.c deletes, copies, prunes, exports and
 *		imports (lgsaver.h: what the three share).
 *
 * LangGraph's savers speak in tuples: a checkpoint (v4: v, id, ts,
 * channel_values, channel_versions, versions_seen, ...), its metadata, its
 * parent and the pending writes of its tasks. Each sg_lg_ function is one
 * saver method, so a saver call is one statement and one round trip
 * (LangGraph's PostgresSaver runs a transaction of several).
 *
 * Values. A checkpoint row (stategraph.lg_checkpoints) does not hold its
 * channel values but `blobs`: for each channel, the id of the checkpoint
 * that wrote its current value. put stores a value only for the channels in
 * new_versions; the others inherit the parent's reference when their version
 * did not change. Keying values by writer rather than by LangGraph's version
 * number keeps a replay that reuses version numbers (LangGraph.js does, after
 * time travel) from reading the older branch's value.
 *
 * Appends. A JSON array that begins with the whole value it replaces (the
 * parent's value of that channel) is stored as the appended elements and a
 * pointer (`base`) to that value. Each array row also keeps its length and
 * a SHA-256 chain over its elements' text as written, so recognising an
 * extension costs hashing the new value (when put receives it whole)
 * and no read of older elements. A 200-turn chat thus stores each message
 * once. LangGraph hands put the whole list every time, so the client sends
 * only the new elements when it can prove the rest is what it stored last
 * (appends: {base, n}); put then extends the base row's chain by those
 * elements alone, or, when that base is not the caller's n-element value
 * (pruned, deleted, another role's), stores nothing and returns NULL so
 * the client sends the whole value: a put's cost no longer grows with the
 * conversation. Reading a value follows the base pointers with one backward index
 * scan over the channel's rows (writers are time-ordered uuids and a base is
 * always older than the value extending it) and joins the parts as text.
 *
 * Stored once. A value (or the part an array appends) that is exactly the
 * parent checkpoint's one pending write to that channel (a node's new
 * messages) keeps no copy: its row names that write (wcheckpoint, wtask,
 * widx), and reads take the write's value. Writes never change once stored,
 * so nothing is updated (an UPDATE would leave the dead version as free
 * space); pruning copies the value into its row before the write goes.
 * Small values, and LangGraph's own inputs and triggers, which the next step
 * consumes, stay in the checkpoint row's map as [value] (a value row, its
 * key and its index entry cost ~250 bytes). The checkpoint itself is
 * compact json text (LangGraph's maps of small version numbers take a third
 * less than as jsonb) without its id and, when created_at can hold it
 * exactly, its ts; JSON values of 256 bytes or more are compressed.
 *
 * Text as written. JSON values are stored as json, the text the client
 * sent (put's channel_values, put_writes' values: json arguments, whose
 * text is stored, not jsonb's print of it), so they read back with object keys in
 * the order written, as LangGraph's own savers keep them (jsonb puts shorter
 * keys first: an agent's next turn sent the model provider another history
 * than the turn before, ending its prompt cache). put still parses each value
 * into jsonb, to refuse what jsonb cannot hold (so SQL can read every value
 * as jsonb); one lexer pass (lg_spans)
 * finds where each value, and each element of an array, is in the text.
 * An appended part is "[" and the text after the comma before its first
 * element, and parts join with "," (the white space after a part's "[" is
 * kept: jsonb-printed values from SQL callers, which write ", ", join so). A
 * small value kept in the map whose text is not jsonb's compact print is
 * [value, "its text"]. Callers passing jsonb (checkpoint.channel_values,
 * writes) store what jsonb prints.
 *
 * Documents. get_tuple and list (lgread.c) return json text built there:
 * the stored texts are copied, not printed, and the client parses once.
 *
 * One writer per thread. put takes a transaction advisory lock on the
 * (thread, namespace) and refuses a "loop" or "input" checkpoint whose
 * parent is not the namespace's newest checkpoint: two processes running
 * the same thread get a serialization failure instead of a silent fork.
 * Forks ("fork", "update") may start from any checkpoint, and so may a
 * checkpoint whose writer read its parent by id (parent_by_id: a run from
 * an older checkpoint, time travel with a new input, stored as "input"). A copy or import
 * takes its new thread's lock as a delete does, and lets go of it once it
 * has stored the thread: its uncommitted rows hold the thread, as a new
 * stategraph thread's row does, and a writer of the id that comes then
 * waits for its commit (lg_wait_stored), so one transaction may copy any
 * number of threads without a lock entry per thread.
 *
 * Pruning (prune, delete_for_runs) removes checkpoint rows, then values no
 * surviving checkpoint refers to; a surviving value whose base goes away is
 * rewritten whole first. A put in flight builds on rows a pruner cannot see
 * yet: it share-locks the checkpoint it extends (and that of a base its
 * appends name) until it commits, so a pruner removing that checkpoint
 * waits and then, its next statements seeing the new checkpoint, keeps or
 * rewrites what it reads; a pruner or delete of given threads also takes
 * their root writers' locks first, exclusive (lg_lock_thread; several in
 * "C" order of their ids), which every put and put_writes of the thread
 * holds in a weaker mode: it waits for them all, and they for it until it
 * has removed the thread's rows (lg_unlock_thread), then on the rows it
 * changed. Writes
 * may come before their checkpoint's put (LangGraph does not order them):
 * a pruner removes those of the checkpoints it removes and those a stored
 * checkpoint passes, never those ahead of a checkpoint still to come.
 * Those a run sends after its thread's delete, which no checkpoint will
 * read, go with sg_prune of every thread or the sweep once a minute old
 * (lg_drop_old_strays), found among the writes of the threads put_writes
 * noted in stategraph.lg_stray_threads (written without a checkpoint).
 *
 * Reassigns. Every call that writes or deletes rows of a thread first
 * holds its owner's name (reassign.c, lg_hold_owners), as sg_submit does:
 * sg_reassign_owned, which holds the old name before it updates every row
 * of the role's threads, then never meets such a call half done (a prune
 * deleting the rows in another order deadlocked with it; a put's rows of
 * the old name stayed behind). The name is read again once held: a
 * reassign that committed between the read and the hold moved the rows to
 * a name the call did not hold (TAP 318). The sweep and sg_prune of every
 * thread pass over the threads whose owner's name a reassign holds (the
 * stray removal and sg_prune of every thread delete only rows of the names
 * they hold, checked in their deleting statements).
 *
 * stategraph's own maintenance covers these threads through the sg_lg_
 * functions of lgmaint.c, which retention.c (sg_prune,
 * sg_delete_thread), runs.c (the retention sweep) and portable.c
 * (sg_export_thread, sg_import_thread) call for an id that names no
 * stategraph thread: pruning per namespace, the default retention, and an
 * export of the rows as stored (format stategraph.lg_thread).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"
#include "lgsaver.h"

#include "access/toast_internals.h"
#include "common/base64.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonfuncs.h"
#include "utils/numeric.h"

#define LG_DIGEST_LEN	PG_SHA256_DIGEST_LENGTH
#define LG_REF_MIN		64		/* smallest JSON text (bytes) a value row refers to a pending write for, instead of a copy */
#define LG_INLINE_MAX	40		/* largest JSON value kept in the checkpoint row's map (not arrays) */
#define LG_INLINE_INTERNAL 256	/* ... a value of LangGraph's own channels (inputs, triggers) */
#define LG_COMPRESS_MIN	256		/* smallest JSON value stored compressed (rows under 2 kB are not, by TOAST) */
#define LG_LOCK_FIELD4	0x4c47	/* 'LG': our advisory locks in pg_locks.objsubid */

/* parameter types of the statements below (each uses the first nargs of its list) */
static const Oid cp_key[] = {TEXTOID, TEXTOID, UUIDOID};
static const Oid blob_key[] = {TEXTOID, TEXTOID, TEXTOID, UUIDOID};
static const Oid blob_ver[] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID};
static const Oid cp_row[] = {TEXTOID, TEXTOID, UUIDOID, UUIDOID, JSONOID, JSONBOID, JSONBOID, TIMESTAMPTZOID};
static const Oid blob_row[] = {TEXTOID, TEXTOID, TEXTOID, UUIDOID, JSONBOID, UUIDOID, INT4OID,
BYTEAOID, JSONOID, TEXTOID, BYTEAOID, UUIDOID, TEXTOID, INT4OID};
static const Oid w_row[] = {TEXTOID, TEXTOID, UUIDOID, TEXTOID, INT4OID, TEXTOID, TEXTOID,
JSONOID, TEXTOID, BYTEAOID};
static const Oid list_args[] = {TEXTOID, TEXTOID, JSONBOID, UUIDOID, INT8OID, UUIDOID};
static const Oid w_same[] = {TEXTOID, TEXTOID, UUIDOID, TEXTOID, TEXTOID};

/*
 * The owner of the rows a put or put_writes adds to thread $1: the owner of
 * the thread (of its first checkpoint), else (a new thread) the owner of
 * the writes sent under the id before its first checkpoint (those the
 * caller sees: its own, or a role's it may own, thread_ids.c refusing
 * another role's; when they are of one role), else the current role. A
 * caller above row-level security (a superuser, BYPASSRLS, the tables'
 * owner) sees every role's writes and is refused none: its new thread is
 * its own, not that of a role whose stray write was there (which could
 * then read it). A member of a group role that
 * owns a thread thus writes rows of the group, as it does in a stategraph
 * thread, where the thread's owner decides who sees every checkpoint: rows
 * of the member's own were invisible to the group and its other members,
 * who then read and extended an older head. And a member's first put
 * after the group's writes made a thread of two owners' rows, whose export
 * no import took (SGX01).
 */
#define LG_THREAD_OWNER \
	"COALESCE((SELECT o.owner FROM stategraph.lg_checkpoints o WHERE o.thread_id OPERATOR(pg_catalog.=) $1 " \
	"ORDER BY o.checkpoint_ns, o.checkpoint_id LIMIT 1), " \
	"(SELECT pg_catalog.min(w.owner) FROM stategraph.lg_writes w WHERE w.thread_id OPERATOR(pg_catalog.=) $1 " \
	" AND pg_catalog.row_security_active('stategraph.lg_writes'::pg_catalog.regclass) " \
	" HAVING pg_catalog.count(DISTINCT w.owner) OPERATOR(pg_catalog.=) 1), " \
	"CURRENT_USER::pg_catalog.text)"

/* a kept statement: its text and its parameter types */
typedef struct LGStatement
{
	const char *sql;
	const Oid  *types;
	int			nargs;
} LGStatement;

/* the list queries: which checkpoints (thread, namespace), then list's filters, newest first */
#define LG_LIST_SELECT \
	"SELECT checkpoint_id, parent_checkpoint_id, checkpoint, metadata, blobs, thread_id, checkpoint_ns, created_at " \
	"FROM stategraph.lg_checkpoints WHERE "
#define LG_LIST_FILTERS \
	"AND ($3::pg_catalog.jsonb IS NULL OR metadata OPERATOR(pg_catalog.@>) $3) " \
	"AND ($4::pg_catalog.uuid IS NULL OR checkpoint_id OPERATOR(pg_catalog.<) $4) " \
	"AND ($6::pg_catalog.uuid IS NULL OR checkpoint_id OPERATOR(pg_catalog.=) $6) " \
	"ORDER BY checkpoint_id DESC LIMIT $5"

static const LGStatement lg_statements[LGP_COUNT] = {
	[LGP_CP_GET] = {
		"SELECT checkpoint_id, parent_checkpoint_id, checkpoint, metadata, blobs, thread_id, checkpoint_ns, created_at "
		"FROM stategraph.lg_checkpoints "
		"WHERE thread_id OPERATOR(pg_catalog.=) $1 AND checkpoint_ns OPERATOR(pg_catalog.=) $2 "
		"AND checkpoint_id OPERATOR(pg_catalog.=) $3",
	cp_key, 3},
	/*
	 * The checkpoint a put extends, share-locked until the put commits: a
	 * prune or delete_for_runs removing it waits, and then sees the new
	 * checkpoint, whose values it keeps (or rewrites whole) instead of
	 * removing what they extend or refer to.
	 */
	[LGP_CP_PARENT] = {
		"SELECT checkpoint_id, parent_checkpoint_id, checkpoint, metadata, blobs, thread_id, checkpoint_ns, created_at "
		"FROM stategraph.lg_checkpoints "
		"WHERE thread_id OPERATOR(pg_catalog.=) $1 AND checkpoint_ns OPERATOR(pg_catalog.=) $2 "
		"AND checkpoint_id OPERATOR(pg_catalog.=) $3 FOR KEY SHARE",
	cp_key, 3},
	[LGP_HEAD] = {
		"SELECT checkpoint_id, parent_checkpoint_id, checkpoint, metadata, blobs, thread_id, checkpoint_ns, created_at "
		"FROM stategraph.lg_checkpoints "
		"WHERE thread_id OPERATOR(pg_catalog.=) $1 AND checkpoint_ns OPERATOR(pg_catalog.=) $2 "
		"ORDER BY checkpoint_id DESC LIMIT 1",
	cp_key, 2},
	[LGP_CP_UPSERT] = {
		"INSERT INTO stategraph.lg_checkpoints AS c (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, "
		"checkpoint, metadata, blobs, created_at, owner) VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE($8, pg_catalog.now()), " LG_THREAD_OWNER ") "
		"ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id) DO UPDATE SET "
		"parent_checkpoint_id = EXCLUDED.parent_checkpoint_id, checkpoint = EXCLUDED.checkpoint, "
		"metadata = EXCLUDED.metadata, blobs = EXCLUDED.blobs, created_at = EXCLUDED.created_at",
	cp_row, 8},
	[LGP_BLOB_META] = {
		"SELECT n, digest FROM stategraph.lg_blobs WHERE thread_id OPERATOR(pg_catalog.=) $1 "
		"AND checkpoint_ns OPERATOR(pg_catalog.=) $2 AND channel OPERATOR(pg_catalog.=) $3 "
		"AND writer OPERATOR(pg_catalog.=) $4",
	blob_key, 4},
	/* (and its checkpoint, share-locked as LGP_CP_PARENT is: a base whose checkpoint is gone is not taken) */
	[LGP_BLOB_BASE] = {
		"SELECT b.n, b.digest FROM stategraph.lg_blobs b, stategraph.lg_checkpoints c "
		"WHERE b.thread_id OPERATOR(pg_catalog.=) $1 "
		"AND b.checkpoint_ns OPERATOR(pg_catalog.=) $2 AND b.channel OPERATOR(pg_catalog.=) $3 "
		"AND b.writer OPERATOR(pg_catalog.=) $4 AND b.owner OPERATOR(pg_catalog.=) " LG_THREAD_OWNER " "
		"AND b.n IS NOT NULL AND b.digest IS NOT NULL AND c.thread_id OPERATOR(pg_catalog.=) $1 "
		"AND c.checkpoint_ns OPERATOR(pg_catalog.=) $2 AND c.checkpoint_id OPERATOR(pg_catalog.=) $4 "
		"FOR KEY SHARE OF c",
	blob_key, 4},
	/* (key-share-locked: a value a prune that let go of the thread's lock removes is passed over once it commits) */
	[LGP_BLOB_BYVER] = {
		"SELECT writer FROM stategraph.lg_blobs WHERE thread_id OPERATOR(pg_catalog.=) $1 "
		"AND checkpoint_ns OPERATOR(pg_catalog.=) $2 AND channel OPERATOR(pg_catalog.=) $3 "
		"AND version OPERATOR(pg_catalog.=) $4 ORDER BY writer DESC LIMIT 1 FOR KEY SHARE",
	blob_ver, 4},
	[LGP_CP_BYVER] = {
		"SELECT blobs OPERATOR(pg_catalog.->) $3 FROM stategraph.lg_checkpoints "
		"WHERE thread_id OPERATOR(pg_catalog.=) $1 AND checkpoint_ns OPERATOR(pg_catalog.=) $2 "
		"AND blobs OPERATOR(pg_catalog.?) $3 "
		"AND (checkpoint OPERATOR(pg_catalog.->) 'channel_versions' OPERATOR(pg_catalog.->) $3)::pg_catalog.jsonb "
		"OPERATOR(pg_catalog.=) $4 "
		"ORDER BY checkpoint_id DESC LIMIT 1",
	blob_ver, 4},
	[LGP_BLOB_UPSERT] = {
		"INSERT INTO stategraph.lg_blobs (thread_id, checkpoint_ns, channel, writer, version, base, n, digest, "
		"value, type, bytes, wcheckpoint, wtask, widx, owner) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, " LG_THREAD_OWNER ") "
		"ON CONFLICT (thread_id, checkpoint_ns, channel, writer) DO UPDATE SET version = EXCLUDED.version, "
		"base = EXCLUDED.base, n = EXCLUDED.n, digest = EXCLUDED.digest, value = EXCLUDED.value, "
		"type = EXCLUDED.type, bytes = EXCLUDED.bytes, wcheckpoint = EXCLUDED.wcheckpoint, "
		"wtask = EXCLUDED.wtask, widx = EXCLUDED.widx",
	blob_row, 14},
	[LGP_BLOB_GET] = {
		"SELECT writer, base, " LG_BLOB_VALUE ", type, bytes FROM stategraph.lg_blobs b WHERE thread_id OPERATOR(pg_catalog.=) $1 "
		"AND checkpoint_ns OPERATOR(pg_catalog.=) $2 AND channel OPERATOR(pg_catalog.=) $3 "
		"AND writer OPERATOR(pg_catalog.=) $4",
	blob_key, 4},
	[LGP_BLOB_CHAIN] = {
		"SELECT writer, base, " LG_BLOB_VALUE " FROM stategraph.lg_blobs b WHERE thread_id OPERATOR(pg_catalog.=) $1 "
		"AND checkpoint_ns OPERATOR(pg_catalog.=) $2 AND channel OPERATOR(pg_catalog.=) $3 "
		"AND writer OPERATOR(pg_catalog.<=) $4 ORDER BY writer DESC",
	blob_key, 4},
	[LGP_WRITES] = {
		"SELECT task_id, channel, value, type, bytes FROM stategraph.lg_writes WHERE thread_id OPERATOR(pg_catalog.=) $1 "
		"AND checkpoint_ns OPERATOR(pg_catalog.=) $2 AND checkpoint_id OPERATOR(pg_catalog.=) $3 "
		"ORDER BY " LG_WRITES_ORDER,
	cp_key, 3},
	[LGP_SENDS] = {
		"SELECT value, type, bytes FROM stategraph.lg_writes WHERE thread_id OPERATOR(pg_catalog.=) $1 "
		"AND checkpoint_ns OPERATOR(pg_catalog.=) $2 AND checkpoint_id OPERATOR(pg_catalog.=) $3 "
		"AND channel OPERATOR(pg_catalog.=) '" LG_TASKS_CHANNEL "' ORDER BY " LG_WRITES_ORDER,
	cp_key, 3},
	[LGP_W_INSERT] = {
		"INSERT INTO stategraph.lg_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, task_path, "
		"channel, value, type, bytes, owner) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, " LG_THREAD_OWNER ") "
		"ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO NOTHING",
	w_row, 10},
	[LGP_W_UPSERT] = {
		"INSERT INTO stategraph.lg_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, task_path, "
		"channel, value, type, bytes, owner) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, " LG_THREAD_OWNER ") "
		"ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO UPDATE SET "
		"task_path = EXCLUDED.task_path, channel = EXCLUDED.channel, value = EXCLUDED.value, "
		"type = EXCLUDED.type, bytes = EXCLUDED.bytes",
	w_row, 10},
	[LGP_W_SAME] = {
		"SELECT task_id, idx, value::pg_catalog.text OPERATOR(pg_catalog.=) $5 COLLATE pg_catalog.\"C\" FROM stategraph.lg_writes "
		"WHERE thread_id OPERATOR(pg_catalog.=) $1 AND checkpoint_ns OPERATOR(pg_catalog.=) $2 "
		"AND checkpoint_id OPERATOR(pg_catalog.=) $3 AND channel OPERATOR(pg_catalog.=) $4 "
		"AND idx OPERATOR(pg_catalog.>=) 0 LIMIT 2",	/* not a special write: those are replaced */
	w_same, 5},
	[LGP_LIST_NS] = {
		LG_LIST_SELECT "thread_id OPERATOR(pg_catalog.=) $1 AND checkpoint_ns OPERATOR(pg_catalog.=) $2 "
		LG_LIST_FILTERS,
	list_args, 6},
	[LGP_LIST_THREAD] = {
		LG_LIST_SELECT "thread_id OPERATOR(pg_catalog.=) $1 "
		"AND ($2::pg_catalog.text IS NULL OR checkpoint_ns OPERATOR(pg_catalog.=) $2) " LG_LIST_FILTERS,
	list_args, 6},
	[LGP_LIST_ALL] = {
		LG_LIST_SELECT "($1::pg_catalog.text IS NULL OR thread_id OPERATOR(pg_catalog.=) $1) "
		"AND ($2::pg_catalog.text IS NULL OR checkpoint_ns OPERATOR(pg_catalog.=) $2) " LG_LIST_FILTERS,
	list_args, 6},
};

static SPIPlanPtr lg_plans[LGP_COUNT];


/* The kept plan of a statement, prepared on first use. */
SPIPlanPtr
lg_plan(LGPlan which)
{
	const LGStatement *st = &lg_statements[which];

	return sg_spi_prepare(&lg_plans[which], st->sql, st->nargs, (Oid *) st->types);
}

/* Runs a kept plan; nulls as SPI wants them ('n' null, ' ' not). */
uint64
lg_run(LGPlan which, Datum *values, const char *nulls, long count)
{
	return sg_spi_execute(lg_plan(which), values, nulls, count);
}

/* A uuid Datum of its own. */
Datum
lg_uuid_datum(const pg_uuid_t *id)
{
	pg_uuid_t  *copy = palloc(sizeof(pg_uuid_t));

	*copy = *id;
	return UUIDPGetDatum(copy);
}

/* A uuid from its text form (errors as uuid_in does). */
pg_uuid_t
lg_uuid_parse(const char *s)
{
	return *DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(s)));
}

/* Column col of row i of SPI_tuptable, NULL when null. */
Datum
lg_col(SPITupleTable *tt, uint64 i, int col, bool *isnull)
{
	return SPI_getbinval(tt->vals[i], tt->tupdesc, col, isnull);
}

/* A jsonb column, detoasted; NULL when null. */
Jsonb *
lg_jsonb_col(SPITupleTable *tt, uint64 i, int col)
{
	bool		isnull;
	Datum		d = lg_col(tt, i, col, &isnull);

	return isnull ? NULL : DatumGetJsonbP(d);
}

/* A text column as a C string; NULL when null. */
char *
lg_text_col(SPITupleTable *tt, uint64 i, int col)
{
	bool		isnull;
	Datum		d = lg_col(tt, i, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* A json column (a value as its writer sent it), detoasted; NULL when null. */
text *
lg_json_col(SPITupleTable *tt, uint64 i, int col)
{
	bool		isnull;
	Datum		d = lg_col(tt, i, col, &isnull);

	return isnull ? NULL : DatumGetTextPP(d);
}

/* A json column as jsonb (for what reads values as SQL does); NULL when null. */
Jsonb *
lg_json_col_jsonb(SPITupleTable *tt, uint64 i, int col)
{
	text	   *t = lg_json_col(tt, i, col);

	return t == NULL ? NULL :
		DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text_to_cstring(t))));
}

/* ---------------------------------------------------------------------------
 * Spans: where the members of a JSON text are, so that values are stored and
 * read back as the text their writer sent (jsonb would order object keys
 * its own way). One lexer pass, as json_array_elements finds its elements.
 * ---------------------------------------------------------------------------
 */

/* One member (object field or array element) of a JSON text: its value at offset start. */
typedef struct LGSpan
{
	char	   *name;			/* field name (NULL: an array element) */
	int			index;			/* its position in its object or array */
	int			start;
	int			len;
} LGSpan;

typedef struct LGSpanState
{
	JsonLexContext *lex;
	int			start;
	char	   *name;
	List	   *spans;
} LGSpanState;

static void
lg_span_start(LGSpanState *st, char *fname)
{
	if (st->lex->lex_level != 1)
		return;
	st->start = st->lex->token_start - st->lex->input;
	st->name = fname;
}

static void
lg_span_end(LGSpanState *st)
{
	LGSpan	   *sp;

	if (st->lex->lex_level != 1)
		return;
	sp = palloc(sizeof(LGSpan));
	sp->name = st->name;
	sp->index = list_length(st->spans);
	sp->start = st->start;
	sp->len = (st->lex->prev_token_terminator - st->lex->input) - st->start;
	st->spans = lappend(st->spans, sp);
}

static void
lg_span_field_start(void *state, char *fname, bool isnull)
{
	lg_span_start(state, fname);
}

static void
lg_span_field_end(void *state, char *fname, bool isnull)
{
	lg_span_end(state);
}

static void
lg_span_elem_start(void *state, bool isnull)
{
	lg_span_start(state, NULL);
}

static void
lg_span_elem_end(void *state, bool isnull)
{
	lg_span_end(state);
}

/* The members of the object or array that JSON text json (len bytes) is, in order. */
static List *
lg_spans(char *json, int len)
{
	LGSpanState st = {0};
	JsonSemAction sem = {0};

	st.lex = makeJsonLexContextCstringLen(json, len, GetDatabaseEncoding(), true);
	sem.semstate = &st;
	sem.object_field_start = lg_span_field_start;
	sem.object_field_end = lg_span_field_end;
	sem.array_element_start = lg_span_elem_start;
	sem.array_element_end = lg_span_elem_end;
	pg_parse_json_or_ereport(st.lex, &sem);
	return st.spans;
}

/* JSON white space */
#define LG_JSON_SPACE(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')

/*
 * The elements of a JSON array's text, without its brackets and the white
 * space before "]" (*inner_len 0: none). The white space after "[" is
 * kept: in an appended part it is what followed the comma before its first
 * element (lg_store_value), so that the parts join as the whole was written.
 */
static const char *
lg_array_inner(const char *s, int len, int *inner_len)
{
	int			a = 0, b = len;

	while (a < b && LG_JSON_SPACE(s[a]))
		a++;
	while (b > a && LG_JSON_SPACE(s[b - 1]))
		b--;
	if (b - a < 2 || s[a] != '[' || s[b - 1] != ']')
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("a stored part of an appended JSON array is not an array"),
				 errdetail("A row of the LangGraph.js tables was changed or removed outside stategraph.")));
	a++, b--;
	while (b > a && LG_JSON_SPACE(s[b - 1]))
		b--;
	*inner_len = b - a;
	return s + a;
}

/*
 * Appends the elements of the array text s (len bytes) to out, after a ","
 * unless *first (then without the white space before its first element);
 * an array of none appends nothing. Parts of a stored value join so as
 * JSON.stringify joins elements, so that the text read is the one written.
 */
void
lg_append_elements(StringInfo out, const char *s, int len, bool *first)
{
	int			inner_len;
	const char *inner = lg_array_inner(s, len, &inner_len);

	if (*first)
		while (inner_len > 0 && LG_JSON_SPACE(*inner))
			inner++, inner_len--;
	if (inner_len == 0)
		return;
	if (!*first)
		appendStringInfoChar(out, ',');
	appendBinaryStringInfo(out, inner, inner_len);
	*first = false;
}


/* A required text argument: NULL is an error naming it. */
char *
lg_required_text(FunctionCallInfo fcinfo, int arg, const char *name)
{
	if (PG_ARGISNULL(arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name),
				 errhint("LangGraph configs carry it as configurable.%s.", name)));
	return text_to_cstring(PG_GETARG_TEXT_PP(arg));
}

/*
 * A thread id that a call stores rows under: required, and not empty (one
 * namespace of thread ids with stategraph's own threads, where '' is
 * refused: a thread '' could be read by no sg_ function), nor longer than
 * theirs.
 */
char *
lg_thread_arg(FunctionCallInfo fcinfo, int arg, const char *name)
{
	char	   *thread_id = lg_required_text(fcinfo, arg, name);

	if (thread_id[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", name),
				 errhint("LangGraph.js threads share their ids with stategraph's threads, whose ids are not empty.")));
	sg_check_max_length(thread_id, name, "Names and ids");	/* (the keys of the lg_ tables then fit a btree entry) */
	return thread_id;
}

/* The namespace argument: required ('' is the root namespace), as long as an id at most. */
char *
lg_ns_arg(FunctionCallInfo fcinfo, int arg)
{
	char	   *ns;

	sg_require_arg_hint(fcinfo, arg, "checkpoint_ns", "The root graph's namespace is ''.");
	ns = text_to_cstring(PG_GETARG_TEXT_PP(arg));
	sg_check_max_length(ns, "checkpoint_ns", "Names and ids");
	return ns;
}

/* A required array of ids (arg, named name): NULL, or a NULL element, is an error. */
void
lg_required_array(FunctionCallInfo fcinfo, int arg, const char *name)
{
	sg_require_arg(fcinfo, arg, name);
	if (array_contains_nulls(PG_GETARG_ARRAYTYPE_P(arg)))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not hold nulls", name)));
}

/* The advisory lock tag of (thread, namespace). */
static void
lg_lock_tag(LOCKTAG *tag, const char *thread_id, const char *ns)
{
	uint64		h = sg_key(LG_LOCK_FIELD4, thread_id, strlen(thread_id), ns, strlen(ns));

	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h, LG_LOCK_FIELD4);
}

/*
 * Serialises concurrent writers of one (thread, namespace) until commit: an
 * advisory lock of our own (field4 'LG', beside the 'SG' locks of
 * stategraph's threads), so that it never meets an application's
 * pg_advisory_lock keys. With dont_wait, returns false when another
 * transaction holds it in a conflicting mode.
 */
bool
lg_lock_mode(const char *thread_id, const char *ns, LOCKMODE mode, bool dont_wait)
{
	LOCKTAG		tag;

	lg_lock_tag(&tag, thread_id, ns);
	return LockAcquire(&tag, mode, false, dont_wait) != LOCKACQUIRE_NOT_AVAIL;
}

/* Waits for the writers' lock of (thread, namespace) in mode. */
static void
lg_lock(const char *thread_id, const char *ns, LOCKMODE mode)
{
	(void) lg_lock_mode(thread_id, ns, mode, false);
}

/*
 * lg_lock, and whether it waited for another transaction (maybe one that
 * started the thread: its owner then is that transaction's role). The
 * busy thread of a role the caller may not own is refused at once (42501)
 * instead, as an idle one is: waiting told that it was being written
 * (thread_ids.c, sg_lg_refuse_another_roles). With stategraph.lock_wait
 * off, a thread of the caller's that another transaction writes is busy
 * (55P03) at once, as a stategraph thread is (isolation lg_lock_wait_off).
 */
bool
lg_lock_waited(const char *thread_id, const char *ns, LOCKMODE mode)
{
	if (lg_lock_mode(thread_id, ns, mode, true))
		return false;
	sg_lg_refuse_another_roles(thread_id);
	if (!sg_lock_wait)
		sg_refuse_busy_thread(thread_id, NULL);
	lg_lock(thread_id, ns, mode);
	return true;
}

/*
 * Called with the writers' lock of (thread, namespace) held in mode (and,
 * for a subgraph's namespace, the root's in LG_LOCK_WRITES mode: a
 * subgraph's put): while a copy or import of the thread id in flight has
 * stored it but not committed (sg_lg_thread_storer, thread_ids.c), lets go
 * of the locks, waits for that transaction's end and takes them again. A
 * copy or import lets go of its new thread's lock once stored, not at
 * commit (one lock entry per thread ran 20,000 copies in one transaction
 * out of the shared lock table); its writers that come then wait here, as
 * they waited on the lock, and see the thread. Without the locks while it
 * waits: the copier's own next put of the thread would wait for it, and
 * its delete or prune for a subgraph's put that kept the root's lock (a
 * deadlock, 40P01: isolation revlgmaint_copy_waiters). Returns whether it
 * waited (the thread is then maybe another role's).
 */
static void lg_lock_root_shared(const char *thread_id);

bool
lg_wait_stored(const char *thread_id, const char *ns, LOCKMODE mode)
{
	TransactionId storer;
	bool		waited = false;

	while (TransactionIdIsValid(storer = sg_lg_thread_storer(thread_id)))
	{
		LOCKTAG		tag;

		lg_lock_tag(&tag, thread_id, ns);
		LockRelease(&tag, mode, false);
		if (ns[0] != '\0')
		{
			lg_lock_tag(&tag, thread_id, "");
			LockRelease(&tag, LG_LOCK_WRITES, false);
		}
		XactLockTableWait(storer, NULL, NULL, XLTW_None);
		if (ns[0] != '\0')
			lg_lock_root_shared(thread_id);	/* in the order sg_lg_put takes them */
		lg_lock(thread_id, ns, mode);
		waited = true;
	}
	return waited;
}

/*
 * The root namespace's writers' lock in LG_LOCK_WRITES mode, which
 * put_writes and a subgraph's put hold: a thread's tasks, subgraphs and
 * root puts do not wait for each other, and a delete or prune, which takes
 * it first (lg_lock_thread), waits for them and then sees what they
 * stored. Without, a delete went on while a task's write or a subgraph's
 * first checkpoint (in a namespace the delete did not see yet) had not
 * committed: the write outlived its thread, and the checkpoint brought it
 * back (in sg_threads).
 */
static void
lg_lock_root_shared(const char *thread_id)
{
	(void) lg_lock_waited(thread_id, "", LG_LOCK_WRITES);
}

/*
 * Lets go of lg_lock_thread's lock before the transaction ends (once for
 * each time it was taken; none taken: nothing to do): once the caller has
 * read but not changed the thread, or once it has removed what it removes
 * of it.
 * The writers that then come wait only on the rows the removal changed:
 * a put's parent (LGP_CP_PARENT) and the base of its appends are locked
 * by it, and a put whose parent went with the removal checks the head
 * again (sg_lg_put), as it would have after waiting here. Kept until
 * commit, one per thread, a prune of 20,000 threads ran the shared lock
 * table out (53200).
 */
void
lg_unlock_thread(const char *thread_id)
{
	LOCKTAG		tag;

	lg_lock_tag(&tag, thread_id, "");
	if (LockHeldByMe(&tag, LG_LOCK_REMOVE))
		LockRelease(&tag, LG_LOCK_REMOVE, false);
}

/*
 * The lock every LangGraph.js writer of thread_id holds from its check that
 * the id is no stategraph thread to its insert (the root namespace's
 * writers' lock, exclusive: it conflicts with a put's, a subgraph's put's,
 * a copy's and an import's); a new stategraph thread holds it from its
 * check that the id is no LangGraph.js thread to its insert
 * (thread_ids.c, sg_thread_id_claim_not_lg), so that the two checks do not
 * both pass before either inserts. With dont_wait, false when another
 * transaction holds it.
 */
bool
sg_lg_lock_id(const char *thread_id, bool dont_wait)
{
	return lg_lock_mode(thread_id, "", LG_LOCK_REMOVE, dont_wait);
}

/* Lets go of sg_lg_lock_id's lock: lg_lock_thread's. */
void
sg_lg_unlock_id(const char *thread_id)
{
	lg_unlock_thread(thread_id);
}


/*
 * Runs kept statement sql (prepared once, in *plan) with thread_id as its
 * one parameter, $1 text; returns the rows processed (count: at most, 0:
 * all), as sg_spi_execute.
 */
uint64
lg_run_on_thread(SPIPlanPtr *plan, const char *sql, const char *thread_id, long count)
{
	Oid			t = TEXTOID;
	Datum		k = CStringGetTextDatum(thread_id);

	return sg_spi_execute(sg_spi_prepare(plan, sql, 1, &t), &k, NULL, count);
}

/* Whether the caller sees a pending write of this thread id (writes sent ahead of any checkpoint). */
static bool
lg_writes_visible(const char *thread_id)
{
	static SPIPlanPtr plan;

	return lg_run_on_thread(&plan, "SELECT 1 FROM stategraph.lg_writes WHERE thread_id OPERATOR(pg_catalog.=) $1 LIMIT 1",
							thread_id, 1) > 0;
}

/*
 * Takes the root writers' lock of a thread that the caller sees (or of an
 * id no checkpoint has yet), exclusive, for removing its rows: every put (a root put holds it, a subgraph's put
 * shares it before its own namespace's) and put_writes conflicts with it,
 * so with READ COMMITTED the statements that follow see every put and
 * put_writes that was in flight, and those that follow wait for the
 * removal to commit (a put's checkpoint left behind without the values it
 * extends, a delete removing values under a put), on this lock until the
 * caller lets go of it (lg_unlock_thread), then on the rows the removal
 * changed. One lock however many
 * namespaces: taking each namespace's ran a prune or delete of a thread
 * with thousands of subgraph runs out of the shared lock table. An id
 * without any committed checkpoint is locked too: its first put or writes
 * may be in flight (without, a delete went on, and a first put committing
 * between its statements kept its checkpoint without its values). Another
 * role's thread is not locked (holding its lock would stall its writers),
 * nor kept locked when the first put waited for was another role's, nor
 * an id that then has no row the caller sees (kept, a prune of 100,000
 * such ids ran the shared lock table out; a put committing afterwards
 * meets lg_delete_threads' one statement, which sees all of it or none).
 * With dont_wait, returns false when a put or put_writes holds it. *taken:
 * whether this call holds the lock, which the caller then lets go of
 * (lg_unlock_thread), and only then: a lock the transaction took before
 * (a copy or import into the thread) is not the caller's to let go of, and
 * releasing it warned "you don't own a lock of type ExclusiveLock".
 */
bool
lg_lock_thread(const char *thread_id, bool dont_wait, bool *taken)
{
	*taken = false;
	if (sg_lg_thread_visible(thread_id))
	{
		if (!(*taken = lg_lock_mode(thread_id, "", LG_LOCK_REMOVE, dont_wait)))
			return false;
		/*
		 * REPEATABLE READ: a checkpoint committed since the snapshot would
		 * lose its values unseen (writes stored since are noted as strays
		 * instead: lgmaint.c, lg_note_unseen_writes)
		 */
		sg_thread_refuse_changed_unseen("lg_checkpoints", thread_id, NULL);
		return true;
	}
	if (sg_thread_id_stored("lg_checkpoints", thread_id))
		return true;
	if (!lg_lock_mode(thread_id, "", LG_LOCK_REMOVE, dont_wait))
		return false;
	*taken = true;
	(void) lg_wait_stored(thread_id, "", LG_LOCK_REMOVE);	/* a copy or import of it in flight */
	if (sg_lg_thread_visible(thread_id))
	{
		/*
		 * a first put committed while we waited: the caller held its own
		 * name, but the thread is the putter's (a group role whose member
		 * we are); without its name, a reassign of it went on beside us
		 */
		lg_hold_owner(thread_id, sg_role_hold_may_wait());
	}
	else if (!lg_writes_visible(thread_id))
	{
		lg_unlock_thread(thread_id);
		*taken = false;
	}
	return true;
}

/* qsort's comparison of two C strings, in "C" order. */
static int
lg_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

#define LG_LOCK_BATCH	100		/* threads a removal of many locks at a time (see lg_remove_in_batches) */

/*
 * Runs remove(batch, arg) over the given threads (text[]; NULLs left out),
 * LG_LOCK_BATCH at a time, in "C" order of their ids: it takes each batch's
 * lg_lock_thread, removes, and lets go of them (lg_unlock_thread) before
 * the next batch, so that a removal holds at most a batch of the shared
 * lock table's entries, however many threads (one per thread, kept until
 * commit, ran a prune of 20,000 threads out of shared memory, 53200). "C"
 * order: two calls locking some of the same threads never wait on each
 * other in a cycle (a prune in the caller's order deadlocked with
 * deleteForRuns, which locked its threads in collation order). Returns
 * the sum of what remove returns.
 */
uint64
lg_remove_in_batches(Datum threads, uint64 (*remove) (Datum batch, void *arg), void *arg)
{
	Datum	   *ids;
	bool	   *inull;
	int			nids, n = 0, i, j;
	char	  **sorted;
	Datum	   *batch;
	bool		taken[LG_LOCK_BATCH];
	uint64		done = 0;

	deconstruct_array(DatumGetArrayTypeP(threads), TEXTOID, -1, false, TYPALIGN_INT, &ids, &inull, &nids);
	sorted = palloc(sizeof(char *) * (nids + 1));
	for (i = 0; i < nids; i++)
		if (!inull[i])
			sorted[n++] = TextDatumGetCString(ids[i]);
	qsort(sorted, n, sizeof(char *), lg_strcmp);
	batch = palloc(sizeof(Datum) * LG_LOCK_BATCH);
	for (i = 0; i < n; i += LG_LOCK_BATCH)
	{
		int			end = Min(n, i + LG_LOCK_BATCH);

		CHECK_FOR_INTERRUPTS();
		for (j = i; j < end; j++)
		{
			(void) lg_lock_thread(sorted[j], false, &taken[j - i]);
			batch[j - i] = CStringGetTextDatum(sorted[j]);
		}
		done += remove(PointerGetDatum(construct_array(batch, end - i, TEXTOID, -1, false, TYPALIGN_INT)), arg);
		for (j = i; j < end; j++)
			if (taken[j - i])
				lg_unlock_thread(sorted[j]);
	}
	return done;
}

/*
 * Holds the names of the owners of the given threads (text[]) against
 * sg_reassign_owned until commit (reassign.c), before the call writes or
 * deletes a row of them: a thread's owner is its first checkpoint's, or
 * the caller for a new thread. The reassign, which
 * holds the old name first, then updates every row of the role's threads,
 * waits for the writers in flight and makes the next ones wait for its
 * commit (they read the owners again once held: a rename committed with
 * it, or a reassign committed between their read and their hold).
 * Without, a prune deleting rows in another order than the reassign
 * updated them deadlocked with it, and a put in flight left rows of the old
 * name. Names in "C" order, so that holders of several never wait on each
 * other's reassigns in a cycle.
 */
void
lg_hold_owners(Datum threads, bool may_wait)
{
	static SPIPlanPtr plan;
	Oid			t = TEXTARRAYOID;

	sg_role_hold_names(sg_spi_prepare(&plan,
									  "SELECT DISTINCT COALESCE((SELECT c.owner FROM stategraph.lg_checkpoints c "
									  "  WHERE c.thread_id OPERATOR(pg_catalog.=) i ORDER BY c.checkpoint_ns, c.checkpoint_id LIMIT 1), "
									  "  CURRENT_USER::pg_catalog.text) COLLATE pg_catalog.\"C\" "
									  "FROM pg_catalog.unnest($1::pg_catalog.text[]) i ORDER BY 1",
									  1, &t),
					   threads, may_wait);
}

/*
 * For sg_prune of every LangGraph.js thread: holds the names of the owners
 * of the threads the caller sees that no reassign holds, without waiting
 * (as the sweep passes over them), and returns them (text[]): the threads
 * of the others are left to the next prune.
 */
Datum
lg_try_hold_all_owners(void)
{
	static SPIPlanPtr plan;
	SPITupleTable *tt;
	uint64		n, i;
	Datum	   *held;
	int			nheld = 0;

	sg_spi_prepare(&plan, "SELECT DISTINCT owner COLLATE pg_catalog.\"C\" FROM stategraph.lg_checkpoints ORDER BY 1",
				   0, NULL);
	n = sg_spi_execute(plan, NULL, NULL, 0);
	tt = SPI_tuptable;
	held = palloc(sizeof(Datum) * (n + 1));
	for (i = 0; i < n; i++)
	{
		char	   *owner = lg_text_col(tt, i, 1);

		if (sg_role_try_hold(owner))
			held[nheld++] = CStringGetTextDatum(owner);
	}
	return PointerGetDatum(construct_array(held, nheld, TEXTOID, -1, false, TYPALIGN_INT));
}

/* lg_hold_owners of one thread. */
void
lg_hold_owner(const char *thread_id, bool may_wait)
{
	static SPIPlanPtr plan;
	Oid			t = TEXTOID;

	/*
	 * Not lg_hold_owners of a one-element array: the plan cache makes a
	 * custom plan of that statement at every call (a generic plan's unnest
	 * is estimated at 10 elements), a quarter of a put's server time.
	 */
	sg_role_hold_names(sg_spi_prepare(&plan, "SELECT " LG_THREAD_OWNER, 1, &t),
					   CStringGetTextDatum(thread_id), may_wait);
}

/*
 * The sweep's hold of a thread's owner (see lg_hold_owners), without
 * waiting: false when a reassign holds it (the sweep leaves the thread to
 * its next pass). The owner is read again once held
 * (sg_role_try_hold_names): a reassign that committed between the read and
 * the hold left the sweep holding the old name, and a reassign of the new
 * one in flight met the sweep's deletes.
 */
bool
lg_try_hold_owner(const char *thread_id)
{
	static SPIPlanPtr plan;
	Oid			t = TEXTOID;

	return sg_role_try_hold_names(sg_spi_prepare(&plan, "SELECT " LG_THREAD_OWNER, 1, &t),
								  CStringGetTextDatum(thread_id));
}

/* The value of key in a jsonb object, or NULL. */
JsonbValue *
lg_find(Jsonb *obj, const char *key)
{
	if (obj == NULL || !JB_ROOT_IS_OBJECT(obj))
		return NULL;
	return getKeyJsonValueFromContainer(&obj->root, key, strlen(key), NULL);
}

/* A jsonb object's string member as a C string, or NULL. */
char *
lg_find_string(Jsonb *obj, const char *key)
{
	JsonbValue *v = lg_find(obj, key);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* ---------------------------------------------------------------------------
 * Element digests: a SHA-256 chain over the elements of an array
 * ---------------------------------------------------------------------------
 */

/*
 * digest := SHA-256(digest || the text of one element, as written), with
 * ctx (reused, one per array). The text, not the jsonb form: two lists
 * whose elements are equal as jsonb but written otherwise (keys in another
 * order, an escape, 1e2 for 100) are not one extending the other, since a
 * read returns the stored elements' text.
 */
static void
lg_digest_element(pg_cryptohash_ctx *ctx, uint8 *digest, const char *text, int len)
{
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, digest, LG_DIGEST_LEN) < 0 ||
		(len > 0 && pg_cryptohash_update(ctx, (const uint8 *) text, len) < 0) ||
		pg_cryptohash_final(ctx, digest, LG_DIGEST_LEN) < 0)
		elog(ERROR, "could not compute a SHA-256 digest");
}

/*
 * Extends digest (a chain over the elements before) by the elements (spans
 * elems of the array text json); when prefix_n >= 0, also reports in
 * *prefix_match whether the chain after its first prefix_n elements is
 * prefix_digest.
 */
static void
lg_digest_text(const char *json, List *elems, uint8 *digest, int prefix_n, const uint8 *prefix_digest,
			   bool *prefix_match)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	ListCell   *lc;
	int			i = 0;

	if (ctx == NULL)
		elog(ERROR, "could not compute a SHA-256 digest");
	if (prefix_match)
		*prefix_match = (prefix_n == 0 && prefix_digest &&
						 memcmp(digest, prefix_digest, LG_DIGEST_LEN) == 0);
	foreach(lc, elems)
	{
		LGSpan	   *sp = lfirst(lc);

		lg_digest_element(ctx, digest, json + sp->start, sp->len);
		if (++i == prefix_n && prefix_digest && prefix_match)
			*prefix_match = memcmp(digest, prefix_digest, LG_DIGEST_LEN) == 0;
	}
	pg_cryptohash_free(ctx);
}

/*
 * jsonb as compact JSON text (no space after ':' and ','), for the
 * checkpoint column: it is json, ~35% smaller than jsonb for LangGraph's
 * maps of small version numbers, and only read whole.
 */
static Datum
lg_compact_json(Jsonb *j)
{
	char	   *src = JsonbToCString(NULL, &j->root, VARSIZE(j));
	char	   *dst = palloc(strlen(src) + 1);
	char	   *d = dst;
	bool		in_string = false;
	const char *c;

	for (c = src; *c; c++)
	{
		if (in_string)
		{
			if (*c == '\\' && c[1] != '\0')
				*d++ = *c++;
			else if (*c == '"')
				in_string = false;
		}
		else if (*c == '"')
			in_string = true;
		else if (*c == ' ' && d > dst && (d[-1] == ':' || d[-1] == ','))
			continue;
		*d++ = *c;
	}
	*d = '\0';
	return PointerGetDatum(cstring_to_text(dst));
}

/* The checkpoint column (json) of row i as jsonb. */
Jsonb *
lg_checkpoint_col(SPITupleTable *tt, uint64 i)
{
	char	   *text = lg_text_col(tt, i, CP_CHECKPOINT);

	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

/*
 * LangGraph's "ts" (new Date().toISOString(): "2026-11-30T02:44:48.686Z")
 * is kept in the row's created_at instead of the checkpoint text when it
 * reads back exactly (~31 bytes less per checkpoint row). So that every
 * checkpoint reads back as put, the stored checkpoint's "ts" means: absent,
 * the ts is created_at; [] the checkpoint had none; [x] it was x (an
 * array); anything else, it was that (a string in another form).
 */
#define LG_TS_LEN	24

/* created_at as LangGraph writes ts (UTC, milliseconds); false if it cannot be. */
static bool
lg_ts_format(TimestampTz t, char *buf)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(t) || timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0 ||
		tm.tm_year < 1 || tm.tm_year > 9999 || fsec % 1000 != 0)
		return false;
	snprintf(buf, LG_TS_LEN + 1, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year, tm.tm_mon,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (fsec / 1000));
	return true;
}

/* The timestamp a ts string is, if formatting it back gives the same string. */
static bool
lg_ts_parse(const JsonbValue *v, TimestampTz *t)
{
	char		s[LG_TS_LEN + 1];
	char		back[LG_TS_LEN + 1];
	struct pg_tm tm;
	int			ms;

	if (v->type != jbvString || v->val.string.len != LG_TS_LEN)
		return false;
	memcpy(s, v->val.string.val, LG_TS_LEN);
	s[LG_TS_LEN] = '\0';
	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7 ||
		tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
		tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59 || ms < 0 ||
		tm2timestamp(&tm, (fsec_t) ms * 1000, NULL, t) != 0)
		return false;
	return lg_ts_format(*t, back) && strcmp(back, s) == 0;
}

/* [value] (an array of one element, or of none) as a jsonb value. */
static JsonbValue *
lg_wrap(JsonbValue *value)
{
	JsonbParseState *ps = NULL;
	Jsonb	   *j;
	JsonbValue *e = palloc(sizeof(JsonbValue));

	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	if (value)
		pushJsonbValue(&ps, WJB_ELEM, value);
	j = JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_ARRAY, NULL));
	e->type = jbvBinary, e->val.binary.data = &j->root, e->val.binary.len = VARSIZE(j) - VARHDRSZ;
	return e;
}

/*
 * The checkpoint as stored: without its channel_values (stored apart), and
 * without its "id" when strip_id (it is the row's checkpoint_id in canonical
 * form; lg_tuple_json puts it back: ~46 bytes), its "ts" as said above
 * (*created: the timestamp, when it goes to created_at).
 */
static Jsonb *
lg_strip_values(Jsonb *cp, bool strip_id, TimestampTz *created, bool *has_created)
{
	JsonbParseState *ps = NULL;
	JsonbIterator *it = JsonbIteratorInit(&cp->root);
	JsonbValue	v;
	JsonbValue	key;
	JsonbIteratorToken r;
	JsonbValue *res = NULL;
	int			kind = 0;		/* of the last key: 0 kept, 1 left out, 2 "ts" */
	bool		ts_seen = false;

	*has_created = false;
	while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (r == WJB_KEY)
		{
			key = v;
			kind = ((v.val.string.len == 14 && memcmp(v.val.string.val, "channel_values", 14) == 0) ||
					(strip_id && v.val.string.len == 2 && memcmp(v.val.string.val, "id", 2) == 0)) ? 1 :
				(v.val.string.len == 2 && memcmp(v.val.string.val, "ts", 2) == 0) ? 2 : 0;
			continue;
		}
		if (r == WJB_VALUE)
		{
			JsonbValue *value = &v;

			if (kind == 1)
				continue;
			if (kind == 2)
			{
				ts_seen = true;
				if (lg_ts_parse(&v, created))
				{
					*has_created = true;
					continue;
				}
				if (v.type == jbvBinary && JsonContainerIsArray(v.val.binary.data))
					value = lg_wrap(&v);
			}
			pushJsonbValue(&ps, WJB_KEY, &key);
			res = pushJsonbValue(&ps, WJB_VALUE, value);
			continue;
		}
		if (r == WJB_END_OBJECT && !ts_seen)
		{
			key.type = jbvString, key.val.string.val = "ts", key.val.string.len = 2;
			pushJsonbValue(&ps, WJB_KEY, &key);
			pushJsonbValue(&ps, WJB_VALUE, lg_wrap(NULL));
		}
		res = pushJsonbValue(&ps, r, r == WJB_ELEM ? &v : NULL);
	}
	return JsonbValueToJsonb(res);
}

/* The stored checkpoint with its "ts" as put gave it (created: the row's created_at). */
Jsonb *
lg_restore_ts(Jsonb *cp, Datum created)
{
	JsonbValue *ts = lg_find(cp, "ts");
	JsonbParseState *ps = NULL;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbValue	restored = {.type = jbvNull};
	JsonbIteratorToken r;
	JsonbValue *res = NULL;
	bool		in_ts = false;
	char		buf[LG_TS_LEN + 1];

	if (ts && (ts->type != jbvBinary || !JsonContainerIsArray(ts->val.binary.data)))
		return cp;				/* kept as it was */
	if (ts == NULL)
	{
		if (!lg_ts_format(DatumGetTimestampTz(created), buf))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("checkpoint ts of created_at cannot be written back"),
					 errdetail("A row of the LangGraph.js tables was changed or removed outside stategraph.")));
		restored.type = jbvString, restored.val.string.val = buf, restored.val.string.len = LG_TS_LEN;
	}
	else if (JsonContainerSize(ts->val.binary.data) == 1)
		restored = *getIthJsonbValueFromContainer(ts->val.binary.data, 0);
	it = JsonbIteratorInit(&cp->root);
	while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (r == WJB_KEY && v.val.string.len == 2 && memcmp(v.val.string.val, "ts", 2) == 0)
		{
			in_ts = true;
			if (JsonContainerSize(ts->val.binary.data) == 0)
				continue;		/* [] : the checkpoint had no ts */
		}
		else if (r == WJB_VALUE && in_ts)
		{
			in_ts = false;
			if (JsonContainerSize(ts->val.binary.data) == 0)
				continue;
			v = restored;
		}
		else if (r == WJB_END_OBJECT && ts == NULL)
		{
			JsonbValue	k;

			k.type = jbvString, k.val.string.val = "ts", k.val.string.len = 2;
			pushJsonbValue(&ps, WJB_KEY, &k);
			pushJsonbValue(&ps, WJB_VALUE, &restored);
		}
		res = pushJsonbValue(&ps, r, (r == WJB_KEY || r == WJB_VALUE || r == WJB_ELEM) ? &v : NULL);
	}
	return JsonbValueToJsonb(res);
}

/* ---------------------------------------------------------------------------
 * put
 * ---------------------------------------------------------------------------
 */

/* What put needs to know of the checkpoint it extends. */
typedef struct LGParent
{
	bool		found;
	Jsonb	   *versions;		/* its channel_versions */
	Jsonb	   *blobs;			/* its {"channel": writer} */
} LGParent;

/* The typed-bytes value put received for channel, if any. */
static bool
lg_bytes_for(ArrayType *chans, ArrayType *types, ArrayType *vals, const char *channel,
			 text **type, bytea **bytes)
{
	Datum	   *cd, *td, *vd;
	bool	   *cn, *tn, *vn;
	int			nc, nt, nv, i;

	if (chans == NULL)
		return false;
	deconstruct_array(chans, TEXTOID, -1, false, TYPALIGN_INT, &cd, &cn, &nc);
	deconstruct_array(types, TEXTOID, -1, false, TYPALIGN_INT, &td, &tn, &nt);
	deconstruct_array(vals, BYTEAOID, -1, false, TYPALIGN_INT, &vd, &vn, &nv);
	if (nt != nc || nv != nc)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("bytes_channels, bytes_types and bytes_values must have the same length")));
	for (i = 0; i < nc; i++)
	{
		char	   *c;

		if (cn[i] || tn[i] || vn[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("bytes_channels, bytes_types and bytes_values must not hold nulls")));
		c = TextDatumGetCString(cd[i]);
		if (strcmp(c, channel) == 0)
		{
			*type = DatumGetTextPP(td[i]);
			*bytes = DatumGetByteaPP(vd[i]);
			return true;
		}
	}
	return false;
}

/*
 * A JSON value's text as it is stored (json): compressed (as TOAST would
 * compress it in a row over 2 kB) when it is LG_COMPRESS_MIN bytes or more
 * and compresses. The stored datum reads back as the same text everywhere.
 */
Datum
lg_stored_text(const char *json, int len)
{
	Datum		d = PointerGetDatum(cstring_to_text_with_len(json, len));
	Datum		c;

	if (len < LG_COMPRESS_MIN)
		return d;
	c = toast_compress_datum(d, default_toast_compression);
	return c != (Datum) 0 ? c : d;
}

/*
 * Whether the JSON text the new checkpoint stores for channel (the appended
 * elements, or a whole value) is exactly the text of the parent's one
 * pending write to that channel (a node's new messages, most often); if so,
 * the value row refers to that write (vals[11..13]: checkpoint, task, index)
 * instead of keeping a second copy. Writes never change once stored (a retry
 * stores nothing), so the reference stays true until pruning, which copies
 * the value back before the write goes (lg_collect). LangGraph's special
 * writes (__error__, __interrupt__..., negative idx) are the exception: a
 * later put_writes replaces them, so no value refers to one.
 */
static bool
lg_refer_to_write(Datum *vals, char *nulls, const pg_uuid_t *parent, const char *stored, int len)
{
	Datum		k[5] = {vals[0], vals[1], lg_uuid_datum(parent), vals[2],
	PointerGetDatum(cstring_to_text_with_len(stored, len))};
	bool		isnull;

	if (len < LG_REF_MIN || lg_run(LGP_W_SAME, k, NULL, 2) != 1 ||
		!DatumGetBool(lg_col(SPI_tuptable, 0, 3, &isnull)) || isnull)
		return false;
	vals[11] = k[2], nulls[11] = ' ';
	vals[12] = lg_col(SPI_tuptable, 0, 1, &isnull), nulls[12] = ' ';
	vals[13] = lg_col(SPI_tuptable, 0, 2, &isnull), nulls[13] = ' ';
	return true;
}

/*
 * An append put received (argument appends): the value sent for channel is
 * the elements appended to base's value of n elements, whose digest chain
 * (checked by lg_check_appends) is digest.
 */
typedef struct LGAppend
{
	char	   *channel;
	pg_uuid_t	base;
	int32		n;
	uint8		digest[LG_DIGEST_LEN];
} LGAppend;

/* The digest column datum of a digest. */
static Datum
lg_digest_datum(const uint8 *digest)
{
	bytea	   *d = palloc(VARHDRSZ + LG_DIGEST_LEN);

	SET_VARSIZE(d, VARHDRSZ + LG_DIGEST_LEN);
	memcpy(VARDATA(d), digest, LG_DIGEST_LEN);
	return PointerGetDatum(d);
}

/*
 * The array value jv (its text json, its elements' spans elems) of a value
 * row: fills its base (vals[5]), n (vals[6]) and digest (vals[7]) and returns how many of
 * its first elements the row does not store. With app, jv holds only the
 * appended elements (all stored); else, when jv begins with the whole value
 * of writer base (the parent's value of the channel, its elements written
 * alike), only the elements after it are kept.
 */
static int
lg_array_row(Datum *vals, char *nulls, const pg_uuid_t *id, Jsonb *jv, const char *json, List *elems,
			 const char *base, const LGAppend *app)
{
	int			n = JB_ROOT_COUNT(jv);
	int			prev_n = -1;
	uint8		prev_digest[LG_DIGEST_LEN];
	uint8		digest[LG_DIGEST_LEN];
	bool		extends = false;
	pg_uuid_t	base_id;

	if (app)
	{
		memcpy(digest, app->digest, LG_DIGEST_LEN);
		lg_digest_text(json, elems, digest, -1, NULL, NULL);
		vals[5] = lg_uuid_datum(&app->base), nulls[5] = ' ';
		vals[6] = Int32GetDatum(app->n + n), nulls[6] = ' ';
		vals[7] = lg_digest_datum(digest), nulls[7] = ' ';
		return 0;
	}
	if (base)
	{
		base_id = lg_uuid_parse(base);
		if (memcmp(&base_id, id, sizeof(pg_uuid_t)) < 0)
		{
			Datum		k[4] = {vals[0], vals[1], vals[2], lg_uuid_datum(&base_id)};
			bool		isnull;

			lg_run(LGP_BLOB_META, k, NULL, 1);
			if (SPI_processed == 1)
			{
				Datum		nd = lg_col(SPI_tuptable, 0, 1, &isnull);

				if (!isnull)
				{
					Datum		dd = lg_col(SPI_tuptable, 0, 2, &isnull);
					bytea	   *d = isnull ? NULL : DatumGetByteaPP(dd);	/* null: a row changed by SQL */

					prev_n = DatumGetInt32(nd);
					if (d == NULL || VARSIZE_ANY_EXHDR(d) != LG_DIGEST_LEN || prev_n > n)
						prev_n = -1;
					else
						memcpy(prev_digest, VARDATA_ANY(d), LG_DIGEST_LEN);
				}
			}
		}
	}
	memset(digest, 0, LG_DIGEST_LEN);
	lg_digest_text(json, elems, digest, prev_n, prev_n >= 0 ? prev_digest : NULL, &extends);
	if (extends && prev_n > 0)
		vals[5] = lg_uuid_datum(&base_id), nulls[5] = ' ';
	vals[6] = Int32GetDatum(n), nulls[6] = ' ';
	vals[7] = lg_digest_datum(digest), nulls[7] = ' ';
	return (extends && prev_n > 0) ? prev_n : 0;
}

/* A value's element count and digest chain, by writer (sg_lg_redigest_thread). */
typedef struct LGChain
{
	pg_uuid_t	writer;			/* the key */
	int32		n;
	uint8		digest[LG_DIGEST_LEN];
} LGChain;

/*
 * After an import (lgmaint.c, into a new thread): the element count and
 * digest chain of each array value of thread_id, made again from the
 * elements stored, as a put makes them (lg_array_row), where the export's
 * differ. An append put goes by them (its base must hold n elements of that
 * chain, lg_check_appends): a count or chain that does not fit the elements
 * would have it store a value that reads wrong. A value that extends
 * another (base) extends its chain; the rows come in writer order, so a
 * base (older) comes first. The import checked that every value of a chain
 * is an array.
 */
void
sg_lg_redigest_thread(const char *thread_id)
{
	static SPIPlanPtr rows_plan;
	static SPIPlanPtr set_plan;
	static SPIPlanPtr clear_plan;
	Oid			types[6] = {TEXTOID, TEXTOID, TEXTOID, UUIDOID, INT4OID, BYTEAOID};
	Datum		k[1] = {CStringGetTextDatum(thread_id)};
	HASHCTL		ctl = {0};
	HTAB	   *chains = NULL;
	char	   *ns = NULL;
	char	   *channel = NULL;
	Portal		portal;
	uint64		n,
				i;

	ctl.keysize = sizeof(pg_uuid_t);
	ctl.entrysize = sizeof(LGChain);
	ctl.hcxt = CurrentMemoryContext;
	portal = sg_spi_cursor_open(sg_spi_prepare(&rows_plan,
											   "SELECT b.checkpoint_ns, b.channel, b.writer, b.base, b.n, b.digest, " LG_BLOB_VALUE " "
											   "FROM stategraph.lg_blobs b WHERE b.thread_id OPERATOR(pg_catalog.=) $1 "
											   "AND pg_catalog.json_typeof(" LG_BLOB_VALUE ") OPERATOR(pg_catalog.=) 'array' "
											   "ORDER BY b.checkpoint_ns, b.channel, b.writer", 1, types),
								k, NULL);
	while ((n = sg_spi_cursor_fetch(portal, 64)) > 0)
	{
		SPITupleTable *tt = SPI_tuptable;

		for (i = 0; i < n; i++)
		{
			char	   *row_ns = lg_text_col(tt, i, 1);
			char	   *row_channel = lg_text_col(tt, i, 2);
			bool		isnull;
			pg_uuid_t  *writer = DatumGetUUIDP(lg_col(tt, i, 3, &isnull));
			Datum		base = lg_col(tt, i, 4, &isnull);
			bool		has_base = !isnull;
			Datum		stored_n = lg_col(tt, i, 5, &isnull);
			bool		n_null = isnull;
			Datum		stored_d = lg_col(tt, i, 6, &isnull);
			bytea	   *d = isnull ? NULL : DatumGetByteaPP(stored_d);
			char	   *json = text_to_cstring(lg_json_col(tt, i, 7));
			List	   *elems = lg_spans(json, strlen(json));
			LGChain    *c;
			LGChain    *from = NULL;
			bool		found;

			if (chains == NULL || strcmp(row_ns, ns) != 0 || strcmp(row_channel, channel) != 0)
			{
				if (chains != NULL)
					hash_destroy(chains);	/* a base is of the same namespace and channel */
				chains = hash_create("stategraph value chains", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
				ns = row_ns;
				channel = row_channel;
			}
			if (has_base)
				from = hash_search(chains, DatumGetUUIDP(base), HASH_FIND, NULL);
			if (has_base && from == NULL)
				sg_invalid_export(psprintf("The value of channel %s written by %s extends a value that is no JSON array.",
										   row_channel, sg_uuid_to_cstring(writer)));
			c = hash_search(chains, writer, HASH_ENTER, &found);
			if (from != NULL)
				memcpy(c->digest, from->digest, LG_DIGEST_LEN);
			else
				memset(c->digest, 0, LG_DIGEST_LEN);
			lg_digest_text(json, elems, c->digest, -1, NULL, NULL);
			c->n = (from ? from->n : 0) + list_length(elems);
			if (n_null || DatumGetInt32(stored_n) != c->n || d == NULL ||
				VARSIZE_ANY_EXHDR(d) != LG_DIGEST_LEN || memcmp(VARDATA_ANY(d), c->digest, LG_DIGEST_LEN) != 0)
			{
				Datum		v[6] = {k[0], CStringGetTextDatum(row_ns), CStringGetTextDatum(row_channel),
				UUIDPGetDatum(writer), Int32GetDatum(c->n), lg_digest_datum(c->digest)};

				sg_spi_execute(sg_spi_prepare(&set_plan,
											  "UPDATE stategraph.lg_blobs SET n = $5, digest = $6 "
											  "WHERE thread_id OPERATOR(pg_catalog.=) $1 AND checkpoint_ns OPERATOR(pg_catalog.=) $2 "
											  "AND channel OPERATOR(pg_catalog.=) $3 AND writer OPERATOR(pg_catalog.=) $4", 6, types),
							   v, NULL, 0);
			}
			list_free_deep(elems);
			pfree(json);
		}
	}
	sg_spi_cursor_close(portal);
	if (chains != NULL)
		hash_destroy(chains);
	/*
	 * A value that is no JSON array has no count nor chain (a put gives it
	 * none): one the export claims would make a later put from it store
	 * only what seems appended, and its reads then lose elements or fail.
	 */
	sg_spi_execute(sg_spi_prepare(&clear_plan,
								  "UPDATE stategraph.lg_blobs b SET n = NULL, digest = NULL "
								  "WHERE b.thread_id OPERATOR(pg_catalog.=) $1 AND (b.n IS NOT NULL OR b.digest IS NOT NULL) "
								  "AND (pg_catalog.json_typeof(" LG_BLOB_VALUE ") OPERATOR(pg_catalog.=) 'array') IS NOT TRUE",
								  1, types),
				   k, NULL, 0);
}

/*
 * Stores channel's new value written by checkpoint id (parent: its parent):
 * a JSON value as its text (json, of vlen bytes: the writer's when
 * text_given, else jsonb's print; value is its jsonb form); a JSON array that extends the parent's value (writer base)
 * keeps only the text of its new elements, as does one sent as an append
 * (app), and JSON that the parent's pending write holds is not copied
 * (lg_refer_to_write).
 */
static void
lg_store_value(const char *thread_id, const char *ns, const pg_uuid_t *id, const pg_uuid_t *parent,
			   const char *channel, JsonbValue *version, JsonbValue *value, char *json, int vlen,
			   bool text_given, text *type, bytea *bytes, const char *base, const LGAppend *app)
{
	Datum		vals[14];
	char		nulls[14];
	Jsonb	   *jv = value ? JsonbValueToJsonb(value) : NULL;

	memset(nulls, 'n', sizeof(nulls));
	vals[0] = CStringGetTextDatum(thread_id), nulls[0] = ' ';
	vals[1] = CStringGetTextDatum(ns), nulls[1] = ' ';
	vals[2] = CStringGetTextDatum(channel), nulls[2] = ' ';
	vals[3] = lg_uuid_datum(id), nulls[3] = ' ';
	vals[4] = JsonbPGetDatum(JsonbValueToJsonb(version)), nulls[4] = ' ';
	if (jv && JB_ROOT_IS_ARRAY(jv) && !JB_ROOT_IS_SCALAR(jv))
	{
		List	   *elems = lg_spans(json, vlen);
		int			cut = lg_array_row(vals, nulls, id, jv, json, elems, base, app);

		if (cut > 0)
		{
			/* "[" and the text after the comma that ends the elements stored before ("[]": none) */
			LGSpan	   *last = list_nth(elems, cut - 1);
			int			from = last->start + last->len;

			while (from < vlen && json[from] != ',')
				from++;
			json = from < vlen ? psprintf("[%.*s", vlen - from - 1, json + from + 1) : pstrdup("[]");
			vlen = strlen(json);
		}
		else if (app && !text_given)
		{
			/* appended elements as jsonb prints them: joined after ", " as jsonb prints a list */
			json = psprintf("[ %.*s", vlen - 1, json + 1);
			vlen++;
		}
	}
	if (jv)
	{
		/* a write's text begins "[" and its first element: the separator white space is not its */
		int			lead = 0;

		if (vlen > 1 && json[0] == '[')
			while (1 + lead < vlen && LG_JSON_SPACE(json[1 + lead]))
				lead++;
		if (!(parent && lg_refer_to_write(vals, nulls, parent, lead ? psprintf("[%.*s", vlen - 1 - lead, json + 1 + lead) : json,
										  vlen - lead)))
			vals[8] = lg_stored_text(json, vlen), nulls[8] = ' ';
	}
	else
	{
		vals[9] = PointerGetDatum(type), nulls[9] = ' ';
		vals[10] = PointerGetDatum(bytes), nulls[10] = ' ';
	}
	lg_run(LGP_BLOB_UPSERT, vals, nulls, 0);
}

/* The parent checkpoint row (same thread and namespace), if stored. */
static LGParent
lg_parent(const char *thread_id, const char *ns, const pg_uuid_t *parent)
{
	LGParent	p = {false, NULL, NULL};
	Datum		k[3];

	if (parent == NULL)
		return p;
	k[0] = CStringGetTextDatum(thread_id);
	k[1] = CStringGetTextDatum(ns);
	k[2] = lg_uuid_datum(parent);
	lg_run(LGP_CP_PARENT, k, NULL, 1);
	if (SPI_processed == 1)
	{
		Jsonb	   *cp = lg_checkpoint_col(SPI_tuptable, 0);
		JsonbValue *v = lg_find(cp, "channel_versions");

		p.found = true;
		p.versions = (v && v->type == jbvBinary) ? JsonbValueToJsonb(v) : NULL;
		p.blobs = lg_jsonb_col(SPI_tuptable, 0, CP_BLOBS);
	}
	return p;
}

/*
 * Refuses a loop/input checkpoint that does not extend the newest one (or
 * whose parent went with its whole namespace, the thread deleted meanwhile), or
 * that would not become the newest itself: LangGraph's newest checkpoint is
 * the greatest id, and ids are made by the clients, so an id made by another
 * process in the same instant can sort before the head it extends (the other
 * writer would then go on from the head and leave it on a dead branch).
 * parent_by_id: the writer read the parent by its id, a run from an older
 * checkpoint (time travel with a new input), which LangGraph forks there: it
 * need not be the newest, but the new checkpoint must still become it.
 */
static void
lg_check_head(const char *thread_id, const char *ns, const pg_uuid_t *id,
			  const pg_uuid_t *parent, Jsonb *metadata, bool expect_new,
			  bool parent_by_id)
{
	char	   *source = lg_find_string(metadata, "source");
	bool		first = (parent == NULL && expect_new); /* from a writer that saw the thread empty */
	Datum		k[2];
	bool		isnull;
	pg_uuid_t  *head;
	char	   *detail;

	if (!first && (parent == NULL || source == NULL ||
				   (strcmp(source, "loop") != 0 && strcmp(source, "input") != 0)))
		return;
	k[0] = CStringGetTextDatum(thread_id);
	k[1] = CStringGetTextDatum(ns);
	lg_run(LGP_HEAD, k, NULL, 1);
	if (SPI_processed == 0)
	{
		if (first)
			return;
		/*
		 * no checkpoint the caller can see: another role's thread, or a
		 * stategraph thread's id, is refused as such (42501, 42710), not as
		 * a deletion a retry would get past
		 */
		sg_thread_id_check_new(thread_id, true);
		/*
		 * the parent is gone with the whole namespace (the thread deleted
		 * while a run went on): the channels this put does not send would
		 * read as empty, so a run would go on from a thread missing them
		 */
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("parent checkpoint %s of thread \"%s\" is not stored", sg_uuid_to_cstring(parent), thread_id),
				 errdetail("Namespace \"%s\" has no checkpoint: the thread was deleted while a run was writing it, or the parent never was one of its checkpoints.",
						   ns),
				 errhint("Read the thread again and start the run from what it holds.")));
	}
	head = palloc(sizeof(pg_uuid_t));
	memcpy(head, DatumGetUUIDP(lg_col(SPI_tuptable, 0, CP_ID, &isnull)), sizeof(pg_uuid_t));
	if (!first && memcmp(head, parent, sizeof(pg_uuid_t)) != 0)
	{
		Datum		c[3] = {k[0], k[1], lg_uuid_datum(parent)};

		/*
		 * not the newest because it is gone (sg_lg_delete_for_runs, a prune,
		 * retention), not because another writer went on from it: said so
		 */
		lg_run(LGP_CP_GET, c, NULL, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("parent checkpoint %s of thread \"%s\" was removed", sg_uuid_to_cstring(parent), thread_id),
					 errdetail("A delete of runs, a prune or the retention sweep removed it; the newest checkpoint of namespace \"%s\" is %s.",
							   ns, sg_uuid_to_cstring(head)),
					 errhint("Read the thread again and go on from what it holds now.")));
	}
	if (first)
		detail = psprintf("The new checkpoint %s starts namespace \"%s\", which another writer has started since.",
						  sg_uuid_to_cstring(id), ns);
	else if (memcmp(head, parent, sizeof(pg_uuid_t)) != 0 && !parent_by_id)
		detail = psprintf("The new checkpoint's parent is %s, but the newest checkpoint of namespace \"%s\" is %s.",
						  sg_uuid_to_cstring(parent), ns, sg_uuid_to_cstring(head));
	else if (memcmp(id, head, sizeof(pg_uuid_t)) <= 0 && memcmp(head, parent, sizeof(pg_uuid_t)) == 0)
	{
		/*
		 * no other writer: the id (LangGraph's uuid6, made from the
		 * writing process's clock) sorts before its own parent's, so that
		 * process's clock is behind the one that wrote the parent (app
		 * hosts whose clocks differ), or both ids were made in the same
		 * instant; said so, not blamed on another writer
		 */
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("checkpoint %s of thread \"%s\" sorts before its parent %s",
						sg_uuid_to_cstring(id), thread_id, sg_uuid_to_cstring(head)),
				 errdetail("Checkpoint ids are made from the writing process's clock, and the parent, the newest checkpoint of namespace \"%s\", has a later one: that clock is behind the one that wrote the parent, or both made their ids in the same instant.",
						   ns),
				 errhint("Retry; keep the clocks of the hosts that write a thread in step (NTP): a retry succeeds once this host's clock has passed the parent's time.")));
	}
	else if (memcmp(id, head, sizeof(pg_uuid_t)) <= 0)
		detail = psprintf("The new checkpoint %s extends checkpoint %s of namespace \"%s\" but sorts before its newest checkpoint %s.",
						  sg_uuid_to_cstring(id), sg_uuid_to_cstring(parent), ns, sg_uuid_to_cstring(head));
	else
		return;
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("thread \"%s\" was advanced by another writer", thread_id),
			 errdetail_internal("%s", detail),
			 errhint("Two processes ran the same thread at once; read the thread again and retry.")));
}

/* A map entry naming the value row of writer (a string). */
static JsonbValue *
lg_writer_entry(const char *writer)
{
	JsonbValue *e = palloc(sizeof(JsonbValue));

	e->type = jbvString, e->val.string.val = (char *) writer, e->val.string.len = strlen(writer);
	return e;
}

/*
 * Where channel's value is when it is not in new_versions: the parent's
 * map entry if the version did not change, else the newest value row
 * stored with that version, else the entry of the newest checkpoint at that
 * version (a value kept in its map); NULL: none.
 */
static JsonbValue *
lg_inherit(const char *thread_id, const char *ns, LGParent *p, const char *channel,
		   JsonbValue *version)
{
	Datum		k[4];

	if (p->found && p->versions)
	{
		JsonbValue *pv = lg_find(p->versions, channel);

		if (pv && pv->type != jbvBinary && version->type != jbvBinary &&
			compareJsonbContainers(&JsonbValueToJsonb(pv)->root,
								   &JsonbValueToJsonb(version)->root) == 0)
			return lg_find(p->blobs, channel);
	}
	if (version->type == jbvBinary)
		return NULL;
	k[0] = CStringGetTextDatum(thread_id);
	k[1] = CStringGetTextDatum(ns);
	k[2] = CStringGetTextDatum(channel);
	k[3] = JsonbPGetDatum(JsonbValueToJsonb(version));
	lg_run(LGP_BLOB_BYVER, k, NULL, 1);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		w = lg_col(SPI_tuptable, 0, 1, &isnull);

		return lg_writer_entry(sg_uuid_to_cstring(DatumGetUUIDP(w)));
	}
	/* a value kept in a map: the newest checkpoint at that version has it */
	lg_run(LGP_CP_BYVER, k, NULL, 1);
	if (SPI_processed == 1)
	{
		Jsonb	   *e = lg_jsonb_col(SPI_tuptable, 0, 1);
		JsonbValue *v = palloc(sizeof(JsonbValue));

		if (JB_ROOT_IS_SCALAR(e))
			return getIthJsonbValueFromContainer(&e->root, 0);
		v->type = jbvBinary, v->val.binary.data = &e->root, v->val.binary.len = VARSIZE(e) - VARHDRSZ;
		return v;
	}
	return NULL;
}

/*
 * A small JSON value is kept in the checkpoint row's map as [value] instead
 * of a value row of its own (a row, its key and its index entry cost ~250
 * bytes): a value up to LG_INLINE_MAX bytes (no bigger than the writer id
 * it replaces, so inheriting it costs nothing more) that is not an array
 * (an array may grow, and only a value row can be extended), and the values
 * of LangGraph's own channels (the input, branch triggers) up to
 * LG_INLINE_INTERNAL, which the next step consumes. The entry is
 * [value, "its text"] when jsonb would not print the value as its writer
 * wrote it (json: vlen bytes; NULL: no text but jsonb's), as an object whose
 * keys are not in jsonb's order: reads return that text. A text longer than
 * the limit (white space, escapes) makes a value row.
 */
static JsonbValue *
lg_inline_entry(const char *channel, JsonbValue *value, const char *json, int vlen)
{
	bool		internal = lg_internal_channel(channel, strlen(channel));
	int			limit = internal ? LG_INLINE_INTERNAL : LG_INLINE_MAX;
	Jsonb	   *j;
	JsonbParseState *ps = NULL;
	JsonbValue *e;
	text	   *printed;

	if (value->type == jbvBinary && value->val.binary.len > LG_INLINE_INTERNAL)
		return NULL;			/* too big either way: no copy to learn it */
	/* nor a longer text (white space, escapes): every checkpoint inheriting the entry copies it */
	if (json && vlen > limit)
		return NULL;
	j = JsonbValueToJsonb(value);
	if ((int) VARSIZE(j) > limit || (!internal && JB_ROOT_IS_ARRAY(j) && !JB_ROOT_IS_SCALAR(j)))
		return NULL;
	printed = json ? DatumGetTextPP(lg_compact_json(j)) : NULL;
	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	pushJsonbValue(&ps, WJB_ELEM, value);
	if (json && ((int) VARSIZE_ANY_EXHDR(printed) != vlen || memcmp(VARDATA_ANY(printed), json, vlen) != 0))
	{
		JsonbValue	t;

		t.type = jbvString, t.val.string.val = (char *) json, t.val.string.len = vlen;
		pushJsonbValue(&ps, WJB_ELEM, &t);
	}
	j = JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_ARRAY, NULL));
	e = palloc(sizeof(JsonbValue));
	e->type = jbvBinary, e->val.binary.data = &j->root, e->val.binary.len = VARSIZE(j) - VARHDRSZ;
	return e;
}

/* Pushes "channel": entry (a writer id, or [value]) into the map being built. */
static void
lg_push_ref(JsonbParseState **ps, const char *channel, JsonbValue *entry)
{
	JsonbValue	k;

	k.type = jbvString, k.val.string.val = (char *) channel, k.val.string.len = strlen(channel);
	pushJsonbValue(ps, WJB_KEY, &k);
	pushJsonbValue(ps, WJB_VALUE, entry);
}

/*
 * The appends argument of put: {"channel": {"base": writer, "n": elements}}
 * for each channel whose value in channel_values holds only the elements
 * appended to the value (n elements) that checkpoint base wrote. Only its
 * form is checked here (a malformed call is an error); lg_check_appends
 * checks the bases against what is stored.
 */
static List *
lg_parse_appends(Jsonb *appends, Jsonb *newv, Jsonb *values, const char *idstr)
{
	List	   *out = NIL;
	JsonbIterator *it;
	JsonbValue	v;
	char	   *channel;

	if (appends == NULL)
		return NIL;
	if (!JB_ROOT_IS_OBJECT(appends))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("appends must be a JSON object"),
				 errdetail("Checkpoint \"%s\" was not stored.", idstr)));
	it = JsonbIteratorInit(&appends->root);
	while (sg_jsonb_next_pair(&it, &channel, &v))
	{
		Jsonb	   *a = (v.type == jbvBinary) ? JsonbValueToJsonb(&v) : NULL;
		char	   *base = a ? lg_find_string(a, "base") : NULL;
		JsonbValue *n = a ? lg_find(a, "n") : NULL;
		JsonbValue *jv = lg_find(values, channel);
		LGAppend   *app;
		bool		not_int = true;
		int32		count = 0;

		/*
		 * a count of elements: an integer (numeric_int4 rounded 2.5 to 3, so
		 * that a base of 3 elements was extended, and failed with 22003 on 1e20)
		 */
		if (n != NULL && n->type == jbvNumeric)
		{
			count = numeric_int4_opt_error(n->val.numeric, &not_int);
			not_int = not_int ||
				DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(n->val.numeric),
												  NumericGetDatum(int64_to_numeric(count)))) != 0;
		}
		if (base == NULL || not_int ||
			!lg_find(newv, channel) || jv == NULL || jv->type != jbvBinary ||
			!JsonContainerIsArray(jv->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("append of channel \"%s\" is not {\"base\": checkpoint id, \"n\": elements} for an array value in new_versions", channel),
					 errdetail("Checkpoint \"%s\" was not stored.", idstr)));
		app = palloc0(sizeof(LGAppend));
		app->channel = channel;
		app->base = lg_uuid_parse(base);
		app->n = count;
		out = lappend(out, app);
	}
	return out;
}

/*
 * Whether every append's base checks out (under the writers' lock): a value
 * row of that channel, visible and owned by the thread's owner, older than
 * the new checkpoint, of exactly n elements; fills in its digest. A base
 * that does not (pruned, deleted, rewritten, another role's) makes put
 * store nothing and return NULL, and the client sends the whole value.
 * What the check cannot see: another writer putting the base checkpoint id
 * again with other elements of the same count (LangGraph makes a new id for
 * every checkpoint; a saver that re-puts an id updates its own memory).
 */
static bool
lg_check_appends(List *appends, const char *thread_id, const char *ns, const pg_uuid_t *id)
{
	ListCell   *lc;

	foreach(lc, appends)
	{
		LGAppend   *app = lfirst(lc);
		Datum		k[4] = {CStringGetTextDatum(thread_id), CStringGetTextDatum(ns),
		CStringGetTextDatum(app->channel), lg_uuid_datum(&app->base)};
		bool		isnull;
		Datum		dd;
		bytea	   *d;

		if (app->n < 1 || memcmp(&app->base, id, sizeof(pg_uuid_t)) >= 0 ||
			lg_run(LGP_BLOB_BASE, k, NULL, 1) != 1 ||
			DatumGetInt32(lg_col(SPI_tuptable, 0, 1, &isnull)) != app->n)
			return false;
		dd = lg_col(SPI_tuptable, 0, 2, &isnull);
		if (isnull)
			return false;		/* a row changed by SQL: the client sends the whole values */
		d = DatumGetByteaPP(dd);
		if (VARSIZE_ANY_EXHDR(d) != LG_DIGEST_LEN)
			return false;
		memcpy(app->digest, VARDATA_ANY(d), LG_DIGEST_LEN);
	}
	return true;
}

/* The append put received for channel, or NULL. */
static const LGAppend *
lg_append_for(List *appends, const char *channel)
{
	ListCell   *lc;

	foreach(lc, appends)
		if (strcmp(((LGAppend *) lfirst(lc))->channel, channel) == 0)
			return lfirst(lc);
	return NULL;
}


/*
 * Before a checkpoint put again overwrites its values: the values other
 * checkpoints stored as what they append to one of them are rewritten
 * whole, so that they keep reading what was put (else they read the new
 * value plus their own elements, a list no checkpoint ever held).
 */
static void
lg_keep_dependants(const char *thread_id, const char *ns, const pg_uuid_t *id)
{
	static SPIPlanPtr plan;
	Oid			types[3] = {TEXTOID, TEXTOID, UUIDOID};
	Datum		k[3] = {CStringGetTextDatum(thread_id), CStringGetTextDatum(ns), lg_uuid_datum(id)};

	sg_spi_prepare(&plan, "SELECT thread_id, checkpoint_ns, channel, writer FROM stategraph.lg_blobs "
				   "WHERE thread_id OPERATOR(pg_catalog.=) $1 AND checkpoint_ns OPERATOR(pg_catalog.=) $2 "
				   "AND base OPERATOR(pg_catalog.=) $3", 3, types);
	if (sg_spi_execute(plan, k, NULL, 0) > 0)
		lg_rewrite_whole(SPI_tuptable, SPI_processed);
}

/*
 * Before a checkpoint put again overwrites its values: the other
 * checkpoints whose maps read one of them (they inherited it: the same
 * version) get a copy of it to read, stored as the value of the oldest of
 * them, so that they keep reading what was put (else they read the new
 * value, which their channel_versions do not name; PostgresSaver keeps a
 * value per version). The copy is made whole (lg_rewrite_whole): it
 * depends on no base nor pending write, which a prune that let go of the
 * thread's lock may be removing (the copy is read before the put waits for
 * it), and the oldest of them may be older than such a base. A row the
 * keeper has already is one it no longer reads (its map names the put
 * checkpoint): replaced.
 */
static void
lg_keep_inheritors(const char *thread_id, const char *ns, const pg_uuid_t *id)
{
	static SPIPlanPtr plan;
	Oid			types[3] = {TEXTOID, TEXTOID, UUIDOID};
	Datum		k[3] = {CStringGetTextDatum(thread_id), CStringGetTextDatum(ns), lg_uuid_datum(id)};

	sg_spi_prepare(&plan,
				   "WITH r AS (SELECT c.checkpoint_id, m.key AS channel FROM stategraph.lg_checkpoints c, "
				   "  pg_catalog.jsonb_each(c.blobs) m WHERE c.thread_id OPERATOR(pg_catalog.=) $1 "
				   "  AND c.checkpoint_ns OPERATOR(pg_catalog.=) $2 AND c.checkpoint_id OPERATOR(pg_catalog.<>) $3 "
				   "  AND pg_catalog.jsonb_typeof(m.value) OPERATOR(pg_catalog.=) 'string' "
				   "  AND (m.value OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.=) $3::pg_catalog.text), "
				   "k AS (SELECT r.channel, (pg_catalog.array_agg(r.checkpoint_id ORDER BY r.checkpoint_id))[1] AS keeper "
				   "  FROM r GROUP BY r.channel), "
				   "copied AS (INSERT INTO stategraph.lg_blobs AS x (thread_id, checkpoint_ns, channel, writer, version, base, n, "
				   "  digest, value, type, bytes, wcheckpoint, wtask, widx, owner) "
				   "  SELECT b.thread_id, b.checkpoint_ns, b.channel, k.keeper, b.version, b.base, b.n, b.digest, b.value, "
				   "  b.type, b.bytes, b.wcheckpoint, b.wtask, b.widx, b.owner FROM stategraph.lg_blobs b, k "
				   "  WHERE b.thread_id OPERATOR(pg_catalog.=) $1 AND b.checkpoint_ns OPERATOR(pg_catalog.=) $2 "
				   "  AND b.channel OPERATOR(pg_catalog.=) k.channel AND b.writer OPERATOR(pg_catalog.=) $3 "
				   "  ON CONFLICT (thread_id, checkpoint_ns, channel, writer) DO UPDATE SET version = EXCLUDED.version, "
				   "  base = EXCLUDED.base, n = EXCLUDED.n, digest = EXCLUDED.digest, value = EXCLUDED.value, "
				   "  type = EXCLUDED.type, bytes = EXCLUDED.bytes, wcheckpoint = EXCLUDED.wcheckpoint, "
				   "  wtask = EXCLUDED.wtask, widx = EXCLUDED.widx "
				   "  RETURNING x.thread_id, x.checkpoint_ns, x.channel, x.writer, "
				   "  x.base IS NOT NULL OR x.wcheckpoint IS NOT NULL AS dependent), "
				   "repointed AS (UPDATE stategraph.lg_checkpoints c SET blobs = c.blobs OPERATOR(pg_catalog.||) "
				   "  (SELECT pg_catalog.jsonb_object_agg(r.channel, k.keeper::pg_catalog.text) FROM r, k "
				   "   WHERE r.channel OPERATOR(pg_catalog.=) k.channel AND r.checkpoint_id OPERATOR(pg_catalog.=) c.checkpoint_id) "
				   "  WHERE c.thread_id OPERATOR(pg_catalog.=) $1 AND c.checkpoint_ns OPERATOR(pg_catalog.=) $2 "
				   "  AND c.checkpoint_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT r.checkpoint_id FROM r))) "
				   "SELECT thread_id, checkpoint_ns, channel, writer FROM copied WHERE dependent",
				   3, types);
	if (sg_spi_execute(plan, k, NULL, 0) > 0)
		lg_rewrite_whole(SPI_tuptable, SPI_processed);
}

/* Where channel's value is in the text of channel_values (the last, as in jsonb). */
static LGSpan *
lg_value_span(List *spans, const char *channel)
{
	ListCell   *lc;
	LGSpan	   *found = NULL;

	foreach(lc, spans)
	{
		LGSpan	   *sp = lfirst(lc);

		if (sp->name && strcmp(sp->name, channel) == 0)
			found = sp;
	}
	if (found == NULL)
		elog(ERROR, "value of channel \"%s\" not found in the checkpoint's text", channel);
	return found;
}

/* Whether key of obj is missing, null, or a JSON object. */
static bool
lg_object_or_absent(Jsonb *obj, const char *key)
{
	JsonbValue *v = lg_find(obj, key);

	return v == NULL || v->type == jbvNull ||
		(v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data));
}

/*
 * A channel of the object in c (channel_versions, new_versions) whose
 * version is an object or an array, or NULL. LangGraph's versions are
 * numbers or strings; a child checkpoint inherits a value by comparing
 * versions as scalars, so such a version stored a value that no child read.
 */
static char *
lg_container_version(JsonbContainer *c)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;
	char	   *key;

	while (sg_jsonb_next_pair(&it, &key, &v))
		if (v.type == jbvBinary)
			return key;
	return NULL;
}

/*
 * Checks put's arguments before anything is read or stored (a bad one
 * stores nothing): the checkpoint (returned) and its id (*idstr, *id), metadata
 * and new_versions, and the bytes triple.
 */
static Jsonb *
lg_put_check_args(FunctionCallInfo fcinfo, const char *thread_id, char **idstr, pg_uuid_t *id)
{
	Jsonb	   *cp;
	Jsonb	   *metadata = PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4);
	Jsonb	   *newv = PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5);
	ArrayType  *bc = PG_ARGISNULL(6) ? NULL : PG_GETARG_ARRAYTYPE_P(6);
	ArrayType  *bt = PG_ARGISNULL(7) ? NULL : PG_GETARG_ARRAYTYPE_P(7);
	ArrayType  *bv = PG_ARGISNULL(8) ? NULL : PG_GETARG_ARRAYTYPE_P(8);

	sg_require_arg_hint(fcinfo, 4, "metadata", "Pass '{}' for a checkpoint without metadata.");
	sg_require_arg_hint(fcinfo, 5, "new_versions", "Pass '{}' when no channel has a new value.");
	sg_require_arg(fcinfo, 9, "expect_new");
	sg_require_arg(fcinfo, 11, "parent_by_id");
	/* NULL is a missing argument (22004), as for every required one; a non-object a malformed one */
	sg_require_arg(fcinfo, 3, "checkpoint");
	if (!JB_ROOT_IS_OBJECT(PG_GETARG_JSONB_P(3)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("checkpoint must be a JSON object"),
				 errdetail("LangGraph checkpoints (v4) are objects with v, id, ts, channel_values, channel_versions and versions_seen.")));
	cp = PG_GETARG_JSONB_P(3);
	*idstr = lg_find_string(cp, "id");
	if (*idstr == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("checkpoint of thread \"%s\" has no string \"id\"", thread_id)));
	*id = lg_uuid_parse(*idstr);
	/* another type would silently store no value and no metadata */
	if ((metadata && !JB_ROOT_IS_OBJECT(metadata)) || (newv && !JB_ROOT_IS_OBJECT(newv)) ||
		!lg_object_or_absent(cp, "channel_values") || !lg_object_or_absent(cp, "channel_versions"))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("metadata, new_versions, and the checkpoint's channel_values and channel_versions must be JSON objects"),
				 errdetail("Checkpoint \"%s\" of thread \"%s\" was not stored.", *idstr, thread_id)));
	{
		JsonbValue *cv = lg_find(cp, "channel_versions");
		char	   *bad = NULL;

		if (cv && cv->type == jbvBinary)
			bad = lg_container_version(cv->val.binary.data);
		if (bad == NULL && newv)
			bad = lg_container_version(&newv->root);
		if (bad != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("version of channel \"%s\" must be a number or a string", bad),
					 errdetail("Checkpoint \"%s\" of thread \"%s\" was not stored.", *idstr, thread_id)));
	}
	/*
	 * versions_seen is an object of objects (node -> channel -> version):
	 * reads look keys up in both (lgread.c, lg_next_nodes)
	 */
	{
		JsonbValue *vs = lg_find(cp, "versions_seen");
		bool		bad = vs != NULL && vs->type != jbvNull &&
			(vs->type != jbvBinary || !JsonContainerIsObject(vs->val.binary.data));

		if (!bad && vs != NULL && vs->type == jbvBinary)
		{
			JsonbIterator *it = JsonbIteratorInit(vs->val.binary.data);
			JsonbValue	v;
			char	   *node;

			while (!bad && sg_jsonb_next_pair(&it, &node, &v))
				bad = v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data);
		}
		if (bad)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the checkpoint's versions_seen must be a JSON object of JSON objects"),
					 errdetail("Checkpoint \"%s\" of thread \"%s\" was not stored.", *idstr, thread_id),
					 errhint("LangGraph's versions_seen maps each node to the versions of the channels it saw.")));
	}
	/* a stored value's channel is part of the key of stategraph.lg_blobs: as long as an id at most */
	if (newv)
	{
		JsonbIterator *it = JsonbIteratorInit(&newv->root);
		JsonbValue	v;
		char	   *channel;

		while (sg_jsonb_next_pair(&it, &channel, &v))
			sg_check_max_length(channel, "channel name in new_versions", "Names and ids");
	}
	if (bc && (bt == NULL || bv == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("bytes_channels needs bytes_types and bytes_values")));
	if (bc == NULL && (bt != NULL || bv != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bytes_types and bytes_values need bytes_channels"),
				 errdetail("Checkpoint \"%s\" of thread \"%s\" was not stored.", *idstr, thread_id)));
	/* checked here, not only when a channel's bytes are looked up: a bad triple stores nothing */
	if (bc && (ArrayGetNItems(ARR_NDIM(bt), ARR_DIMS(bt)) != ArrayGetNItems(ARR_NDIM(bc), ARR_DIMS(bc)) ||
			   ArrayGetNItems(ARR_NDIM(bv), ARR_DIMS(bv)) != ArrayGetNItems(ARR_NDIM(bc), ARR_DIMS(bc))))
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("bytes_channels, bytes_types and bytes_values must have the same length")));
	if (bc && (array_contains_nulls(bc) || array_contains_nulls(bt) || array_contains_nulls(bv)))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("bytes_channels, bytes_types and bytes_values must not hold nulls")));
	return cp;
}

/* The values a put stores, read from its arguments (lg_put_values). */
typedef struct LGPutValues
{
	Jsonb	   *values;			/* channel_values */
	Jsonb	   *versions;		/* channel_versions */
	Jsonb	   *newv;			/* new_versions */
	bool		text_given;		/* the values' text came as argument channel_values */
	char	   *vtext;			/* the values' text: channel_values as given, or as jsonb prints them */
	List	   *texts;			/* where each value is in vtext (LGSpan) */
} LGPutValues;

/*
 * The channel values and versions of a put: inside the checkpoint, or the
 * values as their writer wrote them in argument channel_values (jsonb for
 * what put reads and refuses, the text to store).
 */
static LGPutValues
lg_put_values(FunctionCallInfo fcinfo, Jsonb *cp, const char *thread_id, const char *idstr)
{
	LGPutValues v = {0};
	JsonbValue *jv = lg_find(cp, "channel_values");

	v.newv = PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5);
	v.text_given = !PG_ARGISNULL(12);
	v.values = (jv && jv->type == jbvBinary) ? JsonbValueToJsonb(jv) : NULL;
	if (v.text_given)
	{
		if (jv != NULL && jv->type != jbvNull)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("checkpoint has channel_values, and channel_values is given too"),
					 errdetail("Checkpoint \"%s\" of thread \"%s\" was not stored.", idstr, thread_id)));
		v.vtext = text_to_cstring(PG_GETARG_TEXT_PP(12));
		v.values = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(v.vtext)));
		if (!JB_ROOT_IS_OBJECT(v.values))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("channel_values must be a JSON object"),
					 errdetail("Checkpoint \"%s\" of thread \"%s\" was not stored.", idstr, thread_id)));
	}
	else if (v.values)
		v.vtext = JsonbToCString(NULL, &v.values->root, VARSIZE(v.values));
	jv = lg_find(cp, "channel_versions");
	v.versions = (jv && jv->type == jbvBinary) ? JsonbValueToJsonb(jv) : NULL;
	v.texts = v.vtext ? lg_spans(v.vtext, strlen(v.vtext)) : NIL;
	return v;
}

/*
 * Refuses a channel given typed bytes twice, or typed bytes and a JSON value
 * in channel_values: put stored one of the two and dropped the other
 * silently (the bytes after the first, the bytes beside a JSON value), as
 * it refuses channel_values given twice. The client sends each channel's
 * value once, as JSON or as bytes.
 */
static void
lg_check_bytes_channels(FunctionCallInfo fcinfo, Jsonb *values, const char *thread_id, const char *idstr)
{
	Datum	   *cd;
	bool	   *cn;
	int			nc, i, j;

	if (PG_ARGISNULL(6))
		return;
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(6), TEXTOID, -1, false, TYPALIGN_INT, &cd, &cn, &nc);
	for (i = 0; i < nc; i++)
	{
		char	   *c = TextDatumGetCString(cd[i]);

		for (j = 0; j < i; j++)
			if (strcmp(c, TextDatumGetCString(cd[j])) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("channel \"%s\" is in bytes_channels twice", c),
						 errdetail("Checkpoint \"%s\" of thread \"%s\" was not stored.", idstr, thread_id)));
		if (values && lg_find(values, c))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("channel \"%s\" has a value in channel_values and typed bytes in bytes_channels", c),
					 errdetail("Checkpoint \"%s\" of thread \"%s\" was not stored.", idstr, thread_id),
					 errhint("Give each channel's value once, as JSON or as typed bytes.")));
	}
}

/*
 * Takes the thread for a put (its role, its lock, a first put, copy or
 * import in flight waited for) and checks where the checkpoint goes
 * (lg_check_head); returns whether it is stored already (a put again).
 */
static bool
lg_put_begin(const char *thread_id, const char *ns, const pg_uuid_t *id, const pg_uuid_t *parent,
			 Jsonb *metadata, bool expect_new, bool parent_by_id)
{
	bool		may_wait = sg_role_hold_may_wait();
	bool		waited;			/* for the lock of a first put in flight */
	Datum		k[3];

	lg_hold_owner(thread_id, may_wait);
	if (ns[0] != '\0')
		lg_lock_root_shared(thread_id);
	waited = lg_lock_waited(thread_id, ns, LG_LOCK_PUT);
	if (lg_wait_stored(thread_id, ns, LG_LOCK_PUT) || waited)
		lg_hold_owner(thread_id, may_wait);	/* a first put, copy or import waited for: the thread is its role's (lg_lock_thread) */
	/* REPEATABLE READ: a head committed since the snapshot would be forked from unseen */
	sg_thread_refuse_changed_unseen("lg_checkpoints", thread_id, ns);
	k[0] = CStringGetTextDatum(thread_id);
	k[1] = CStringGetTextDatum(ns);
	k[2] = lg_uuid_datum(id);
	lg_run(LGP_CP_GET, k, NULL, 1);
	if (SPI_processed == 1)
		return true;

	/*
	 * a namespace's first checkpoint: the thread id must be free or the
	 * caller's (thread_ids.c), for a subgraph's namespace too
	 */
	if (parent == NULL)
		sg_thread_id_check_new(thread_id, true);
	lg_check_head(thread_id, ns, id, parent, metadata, expect_new, parent_by_id);
	return false;
}

/*
 * The checkpoint row's map of values (blobs): for each channel of
 * channel_versions, the value stored now (new_versions: a row of
 * lg_blobs, or inline when small), or the parent's entry inherited.
 */
static JsonbValue *
lg_put_blobs(FunctionCallInfo fcinfo, const char *thread_id, const char *ns, const pg_uuid_t *id,
			 const pg_uuid_t *parent, LGParent *p, LGPutValues *v, List *appends)
{
	ArrayType  *bc = PG_ARGISNULL(6) ? NULL : PG_GETARG_ARRAYTYPE_P(6);
	ArrayType  *bt = PG_ARGISNULL(7) ? NULL : PG_GETARG_ARRAYTYPE_P(7);
	ArrayType  *bv = PG_ARGISNULL(8) ? NULL : PG_GETARG_ARRAYTYPE_P(8);
	JsonbParseState *ps = NULL;
	JsonbIterator *it;
	JsonbValue	ver;
	char	   *channel;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	if (v->versions == NULL || !JB_ROOT_IS_OBJECT(v->versions))
		return pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	it = JsonbIteratorInit(&v->versions->root);
	while (sg_jsonb_next_pair(&it, &channel, &ver))
	{
		JsonbValue *nv = lg_find(v->newv, channel);
		JsonbValue *entry;

		if (nv)
		{
			JsonbValue *jv = lg_find(v->values, channel);
			text	   *type = NULL;
			bytea	   *bytes = NULL;
			const LGAppend *app = lg_append_for(appends, channel);
			LGSpan	   *span = jv ? lg_value_span(v->texts, channel) : NULL;
			char	   *json = span ? v->vtext + span->start : NULL;
			int			vlen = span ? span->len : 0;

			if (jv == NULL && !lg_bytes_for(bc, bt, bv, channel, &type, &bytes))
				continue;		/* no value: the channel is empty */
			if (jv == NULL || app || (entry = lg_inline_entry(channel, jv, v->text_given ? json : NULL, vlen)) == NULL)
			{
				/*
				 * A parent that is not stored (an update's or fork's id
				 * that never was) has no write to refer to, only strays:
				 * a copy or prune takes writes along with their checkpoints
				 */
				lg_store_value(thread_id, ns, id, p->found ? parent : NULL, channel, nv, jv, json, vlen,
							   v->text_given, type, bytes, p->found ? lg_find_string(p->blobs, channel) : NULL, app);
				entry = lg_writer_entry(sg_uuid_to_cstring(id));
			}
		}
		else
			entry = lg_inherit(thread_id, ns, p, channel, &ver);
		if (entry)
			lg_push_ref(&ps, channel, entry);
	}
	return pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
}

PG_FUNCTION_INFO_V1(sg_lg_put);

/*
 * sg_lg_put(thread_id, checkpoint_ns, parent_checkpoint_id, checkpoint,
 * metadata, new_versions, bytes_channels, bytes_types, bytes_values,
 * expect_new, appends, parent_by_id) -> uuid, or NULL (nothing stored) when
 * a base of appends does not check out
 */
Datum
sg_lg_put(PG_FUNCTION_ARGS)
{
	char	   *thread_id = lg_thread_arg(fcinfo, 0, "thread_id");
	char	   *ns = lg_ns_arg(fcinfo, 1);
	pg_uuid_t  *parent = PG_ARGISNULL(2) ? NULL : PG_GETARG_UUID_P(2);
	Jsonb	   *cp;
	LGPutValues v;
	Jsonb	   *metadata = PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4);
	char	   *idstr;
	pg_uuid_t	id;
	LGParent	p;
	Datum		row[8];
	char		nulls[8] = "        ";
	TimestampTz created;
	bool		has_created;
	List	   *appends;
	bool		again;			/* the checkpoint is stored already: put again */

	cp = lg_put_check_args(fcinfo, thread_id, &idstr, &id);
	/* a client that walks parents (LangGraph's getDeltaChannelHistory) would loop */
	if (parent != NULL && memcmp(parent->data, id.data, UUID_LEN) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("checkpoint \"%s\" of thread \"%s\" cannot be its own parent", idstr, thread_id)));
	v = lg_put_values(fcinfo, cp, thread_id, idstr);
	lg_check_bytes_channels(fcinfo, v.values, thread_id, idstr);
	appends = lg_parse_appends(PG_ARGISNULL(10) ? NULL : PG_GETARG_JSONB_P(10), v.newv, v.values, idstr);

	sg_prevent_write("sg_lg_put");
	sg_spi_connect();
	again = lg_put_begin(thread_id, ns, &id, parent, metadata, PG_GETARG_BOOL(9), PG_GETARG_BOOL(11));
	if (!lg_check_appends(appends, thread_id, ns, &id))
	{
		sg_spi_finish();
		PG_RETURN_NULL();		/* nothing stored: the client sends the whole values */
	}
	if (again)
	{
		lg_keep_dependants(thread_id, ns, &id);
		lg_keep_inheritors(thread_id, ns, &id);
	}
	p = lg_parent(thread_id, ns, parent);
	if (parent != NULL && !p.found)
	{
		/*
		 * removed by a prune or delete that let go of the thread's lock
		 * before it committed (lg_unlock_thread), which lg_parent waited
		 * for: the head lg_check_head read may be gone with it (and a
		 * parent read by its id cannot be run from once gone)
		 */
		if (!again)
			lg_check_head(thread_id, ns, &id, parent, metadata, PG_GETARG_BOOL(9), false);
		sg_thread_id_check_new(thread_id, true);	/* a parent it cannot see: maybe another role's thread */
	}

	row[0] = CStringGetTextDatum(thread_id);
	row[1] = CStringGetTextDatum(ns);
	row[2] = lg_uuid_datum(&id);
	if (parent)
		row[3] = lg_uuid_datum(parent);
	else
		nulls[3] = 'n';
	row[4] = lg_compact_json(lg_strip_values(cp, strcmp(idstr, sg_uuid_to_cstring(&id)) == 0,
											 &created, &has_created));
	row[7] = TimestampTzGetDatum(created);
	if (!has_created)
		nulls[7] = 'n';
	if (metadata)
		row[5] = JsonbPGetDatum(metadata);
	else
		row[5] = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	row[6] = JsonbPGetDatum(JsonbValueToJsonb(lg_put_blobs(fcinfo, thread_id, ns, &id, parent, &p, &v, appends)));
	lg_run(LGP_CP_UPSERT, row, nulls, 0);
	if (!again && parent == NULL)
		lg_forget_strays(thread_id);	/* its writes sent ahead are no strays */
	sg_spi_finish();
	PG_RETURN_UUID_P(DatumGetUUIDP(lg_uuid_datum(&id)));
}

/* ---------------------------------------------------------------------------
 * put_writes
 * ---------------------------------------------------------------------------
 */

/*
 * Removes the notes of thread_id (lg_note_stray), once it has a checkpoint:
 * its writes are no strays, and the table stays empty in the ordinary flow.
 */
void
lg_forget_strays(const char *thread_id)
{
	static SPIPlanPtr plan;

	(void) lg_run_on_thread(&plan, "DELETE FROM stategraph.lg_stray_threads WHERE thread_id OPERATOR(pg_catalog.=) $1",
							thread_id, 0);
}

/*
 * Notes thread_id, whose writes put_writes stores while it has no firm
 * checkpoint (sg_lg_checkpoint_firm), in stategraph.lg_stray_threads: its
 * writes may be strays, which the sweep and sg_prune of every thread look
 * for there (lg_drop_old_strays) instead of reading all of lg_writes. Under
 * the owner its writes get (LG_THREAD_OWNER).
 */
static void
lg_note_stray(const char *thread_id)
{
	static SPIPlanPtr plan;

	/* a row each time: with a unique key, the first writes of a new thread sent at once waited for each other */
	(void) lg_run_on_thread(&plan, "INSERT INTO stategraph.lg_stray_threads (thread_id, owner) VALUES ($1, " LG_THREAD_OWNER ")",
							thread_id, 0);
}

/* LangGraph's index of a special write channel (WRITES_IDX_MAP), or 0. */
static int
lg_special_idx(const char *channel)
{
	if (strcmp(channel, "__error__") == 0)
		return -1;
	if (strcmp(channel, "__scheduled__") == 0)
		return -2;
	if (strcmp(channel, "__interrupt__") == 0)
		return -3;
	if (strcmp(channel, "__resume__") == 0)
		return -4;
	return 0;
}

/* The non-JSON writes of a put_writes call: bytes_index names writes, bytes_types and bytes_values their type and bytes. */
typedef struct LGWriteBytes
{
	int			n;
	int32	   *index;
	Datum	   *types;
	Datum	   *values;
} LGWriteBytes;

/* Reads and checks bytes_index, bytes_types and bytes_values (arguments 6-8) of nwrites writes. */
static LGWriteBytes
lg_write_bytes_args(FunctionCallInfo fcinfo, int nwrites, const char *task_id)
{
	LGWriteBytes b = {0};
	ArrayType  *ai;
	int			nt, nv, i;
	bool	   *nulls;

	if (PG_ARGISNULL(6))
		return b;				/* bytes_types and bytes_values without it: refused by the caller */
	ai = PG_GETARG_ARRAYTYPE_P(6);
	if (PG_ARGISNULL(7) || PG_ARGISNULL(8))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("bytes_index needs bytes_types and bytes_values")));
	if (ARR_NDIM(ai) > 1 || array_contains_nulls(ai))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bytes_index must be a one-dimensional array without nulls")));
	/* a null type or value would be stored from a null pointer */
	if (array_contains_nulls(PG_GETARG_ARRAYTYPE_P(7)) || array_contains_nulls(PG_GETARG_ARRAYTYPE_P(8)))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("bytes_types and bytes_values must not hold nulls")));
	b.n = ArrayGetNItems(ARR_NDIM(ai), ARR_DIMS(ai));
	b.index = (int32 *) ARR_DATA_PTR(ai);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(7), TEXTOID, -1, false, TYPALIGN_INT, &b.types, &nulls, &nt);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(8), BYTEAOID, -1, false, TYPALIGN_INT, &b.values, &nulls, &nv);
	if (nt != b.n || nv != b.n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("bytes_index, bytes_types and bytes_values must have the same length")));
	/* an index that names no write would drop its bytes silently */
	for (i = 0; i < b.n; i++)
		if (b.index[i] < 0 || b.index[i] >= nwrites)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("bytes_index %d of task \"%s\" names no write", b.index[i], task_id),
					 errdetail("The task has %d writes, numbered from 0.", nwrites)));
	return b;
}

/* Position of write i among the bytes' index (-1: a JSON write). */
static int
lg_bytes_slot(const LGWriteBytes *b, int i)
{
	int			j;

	for (j = 0; j < b->n; j++)
		if (b->index[j] == i)
			return j;
	return -1;
}

/*
 * The [channel, value] pairs of writes, checked; *all_special says whether
 * every channel is one of LangGraph's special ones (a later put_writes
 * replaces those).
 */
static JsonbValue **
lg_write_items(Jsonb *writes, const char *task_id, bool *all_special)
{
	int			n = JB_ROOT_COUNT(writes), i;
	JsonbValue **items = palloc(sizeof(JsonbValue *) * (n + 1));

	*all_special = true;
	for (i = 0; i < n; i++)
	{
		JsonbValue *w = getIthJsonbValueFromContainer(&writes->root, i);
		JsonbValue *ch = NULL;

		if (w && w->type == jbvBinary && JsonContainerIsArray(w->val.binary.data) &&
			JsonContainerSize(w->val.binary.data) == 2)
			ch = getIthJsonbValueFromContainer(w->val.binary.data, 0);
		if (ch == NULL || ch->type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("write %d of task \"%s\" is not a [channel, value] pair", i, task_id)));
		items[i] = w;
		/* (an export holds channels of SG_MAX_NAME bytes at most: a longer one was stored, and its export refused) */
		sg_check_max_length(pnstrdup(ch->val.string.val, ch->val.string.len), "channel of a write", "Names and ids");
		if (lg_special_idx(pnstrdup(ch->val.string.val, ch->val.string.len)) == 0)
			*all_special = false;
	}
	return items;
}

/*
 * Where each write's value is in vtext, the values' text as their writer
 * wrote them (argument "values"): jsonb checks them (and refuses what it
 * cannot hold), the text is what is stored.
 */
static LGSpan **
lg_write_spans(char *vtext, JsonbValue **items, int nwrites, const char *task_id)
{
	LGSpan	  **vspan = palloc0(sizeof(LGSpan *) * (nwrites + 1));
	Jsonb	   *vals = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(vtext)));
	ListCell   *lc;
	int			i;

	if (!JB_ROOT_IS_ARRAY(vals) || JB_ROOT_IS_SCALAR(vals) || (int) JB_ROOT_COUNT(vals) != nwrites)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("values must be a JSON array of one value for each write"),
				 errdetail("Task \"%s\" has %d writes.", task_id, nwrites)));
	foreach(lc, lg_spans(vtext, strlen(vtext)))
		vspan[((LGSpan *) lfirst(lc))->index] = lfirst(lc);
	/* as put refuses channel_values given twice: one of the two would be dropped silently */
	for (i = 0; i < nwrites; i++)
		if (getIthJsonbValueFromContainer(items[i]->val.binary.data, 1)->type != jbvNull)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("write %d of task \"%s\" has a value, and values is given too", i, task_id),
					 errhint("With values, each write is [channel, null].")));
	return vspan;
}

/*
 * Refuses a write named twice in bytes_index, or named there and given a
 * JSON value too (in writes, or in values): put_writes stored the first
 * bytes and dropped the rest, or the JSON value, silently. A write with
 * typed bytes is [channel, null], and null in values (as the client sends it).
 */
static void
lg_check_write_bytes(const LGWriteBytes *b, JsonbValue **items, const char *vtext, LGSpan **vspan,
					 const char *task_id)
{
	int			j, k;

	for (j = 0; j < b->n; j++)
	{
		int			i = b->index[j];
		LGSpan	   *sp = vspan ? vspan[i] : NULL;

		for (k = 0; k < j; k++)
			if (b->index[k] == i)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("bytes_index names write %d of task \"%s\" twice", i, task_id)));
		if (getIthJsonbValueFromContainer(items[i]->val.binary.data, 1)->type != jbvNull ||
			(sp && (sp->len != 4 || strncmp(vtext + sp->start, "null", 4) != 0)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("write %d of task \"%s\" has a JSON value and typed bytes", i, task_id),
					 errhint("A write whose value is typed bytes is [channel, null], and null in values.")));
	}
}

/*
 * The stored form of write i's value (row[7..9] of an lg_writes row): its
 * type and bytes, or its JSON text as given (span), or as jsonb prints it
 * (SQL callers that pass no values text).
 */
static void
lg_write_value(Datum *row, char *nulls, JsonbValue *item, const LGWriteBytes *b, int slot,
			   const char *vtext, const LGSpan *span)
{
	if (slot >= 0)
	{
		nulls[7] = 'n';
		row[8] = b->types[slot];
		row[9] = b->values[slot];
		return;
	}
	if (vtext)
		row[7] = lg_stored_text(vtext + span->start, span->len);
	else
	{
		Jsonb	   *j = JsonbValueToJsonb(getIthJsonbValueFromContainer(item->val.binary.data, 1));
		char	   *printed = JsonbToCString(NULL, &j->root, VARSIZE(j));

		row[7] = lg_stored_text(printed, strlen(printed));
	}
	nulls[8] = nulls[9] = 'n';
}

PG_FUNCTION_INFO_V1(sg_lg_put_writes);

/*
 * sg_lg_put_writes(thread_id, checkpoint_ns, checkpoint_id, task_id, writes,
 * task_path, bytes_index, bytes_types, bytes_values, "values") -> integer
 */
Datum
sg_lg_put_writes(PG_FUNCTION_ARGS)
{
	char	   *thread_id = lg_thread_arg(fcinfo, 0, "thread_id");
	char	   *ns = lg_ns_arg(fcinfo, 1);
	char	   *task_id = lg_required_text(fcinfo, 3, "task_id");
	char	   *task_path;
	Jsonb	   *writes;
	char	   *vtext = NULL;	/* the values' text, when given */
	LGSpan	  **vspan = NULL;	/* where each write's value is in vtext */
	LGWriteBytes bytes;
	int			nwrites, i, stored = 0;
	int			specials_counted = 0;	/* bit -idx: a special channel's write counted */
	bool		all_special;
	JsonbValue **items;
	bool		may_wait;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("checkpoint_id must not be null"),
				 errhint("Writes belong to a checkpoint: pass the config returned by put.")));
	sg_check_max_length(task_id, "task_id", "Names and ids");
	sg_require_arg_hint(fcinfo, 5, "task_path", "A task without a path has ''.");
	task_path = text_to_cstring(PG_GETARG_TEXT_PP(5));
	if (PG_ARGISNULL(6) && (!PG_ARGISNULL(7) || !PG_ARGISNULL(8)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bytes_types and bytes_values need bytes_index")));
	/* NULL is a missing argument (22004), as for every required one ('[]': no writes) */
	sg_require_arg_hint(fcinfo, 4, "writes", "Pass '[]' for a task without writes.");
	if (!JB_ROOT_IS_ARRAY(PG_GETARG_JSONB_P(4)) || JB_ROOT_IS_SCALAR(PG_GETARG_JSONB_P(4)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("writes must be a JSON array of [channel, value] pairs")));
	writes = PG_GETARG_JSONB_P(4);
	nwrites = JB_ROOT_COUNT(writes);
	bytes = lg_write_bytes_args(fcinfo, nwrites, task_id);
	items = lg_write_items(writes, task_id, &all_special);
	if (!PG_ARGISNULL(9))
	{
		vtext = text_to_cstring(PG_GETARG_TEXT_PP(9));
		vspan = lg_write_spans(vtext, items, nwrites, task_id);
	}
	lg_check_write_bytes(&bytes, items, vtext, vspan, task_id);

	sg_prevent_write("sg_lg_put_writes");
	may_wait = sg_role_hold_may_wait();
	sg_spi_connect();
	lg_hold_owner(thread_id, may_wait);

	/*
	 * the writes of a stategraph thread's id, or of another role's thread,
	 * as sg_lg_put refuses its checkpoints (thread_ids.c): stored, the first
	 * were rows no reader saw, the second a row-level security error quoting
	 * the insert
	 */
	sg_thread_id_check_writes(thread_id);
	lg_lock_root_shared(thread_id);
	if (lg_wait_stored(thread_id, "", LG_LOCK_WRITES))
	{
		/* a copy or import of the id committed meanwhile: its owner's name, and its owner's */
		lg_hold_owner(thread_id, may_wait);
		sg_thread_id_check_writes(thread_id);
	}
	if (!sg_lg_checkpoint_firm(thread_id))
		lg_note_stray(thread_id);	/* maybe a stray's: where the sweep looks (lg_drop_old_strays) */
	for (i = 0; i < nwrites; i++)
	{
		JsonbValue *ch = getIthJsonbValueFromContainer(items[i]->val.binary.data, 0);
		char	   *channel = pnstrdup(ch->val.string.val, ch->val.string.len);
		int			special = lg_special_idx(channel);
		Datum		row[10];
		char		nulls[10] = "          ";

		row[0] = CStringGetTextDatum(thread_id);
		row[1] = CStringGetTextDatum(ns);
		row[2] = UUIDPGetDatum(PG_GETARG_UUID_P(2));
		row[3] = CStringGetTextDatum(task_id);
		row[4] = Int32GetDatum(special ? special : i);
		row[5] = CStringGetTextDatum(task_path);
		row[6] = CStringGetTextDatum(channel);
		lg_write_value(row, nulls, items[i], &bytes, lg_bytes_slot(&bytes, i), vtext, vspan ? vspan[i] : NULL);
		lg_run(all_special ? LGP_W_UPSERT : LGP_W_INSERT, row, nulls, 0);
		/* a special channel written twice in one call is one row (the last write): counted once */
		if (special && (specials_counted & (1 << -special)))
			continue;
		if (special)
			specials_counted |= 1 << -special;
		stored += SPI_processed;
	}
	sg_spi_finish();
	PG_RETURN_INT32(stored);
}
