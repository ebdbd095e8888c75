/*-------------------------------------------------------------------------
 *
 * lgsaver.c
 *		LangGraph checkpoint storage: the SQL side of a BaseCheckpointSaver
 *		(clients/langgraph-js), so that LangGraph.js applications keep their
 *		graphs in JS and their threads in stategraph's database.
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
 * a SHA-256 chain over its elements' binary jsonb form, so recognising an
 * extension costs hashing the new value (which put receives whole anyway)
 * and no read of older elements. A 200-turn chat thus stores each message
 * once. Reading a value follows the base pointers with one backward index
 * scan over the channel's rows (writers are time-ordered uuids and a base is
 * always older than the value extending it) and joins the parts as text.
 *
 * Documents. get_tuple and list return json text built here: the stored
 * jsonb values are printed once, and the client parses once.
 *
 * One writer per thread. put takes a transaction advisory lock on the
 * (thread, namespace) and refuses a "loop" or "input" checkpoint whose
 * parent is not the namespace's newest checkpoint: two processes running
 * the same thread get a serialization failure instead of a silent fork.
 * Forks ("fork", "update") may start from any checkpoint.
 *
 * Pruning (prune, delete_for_runs) removes checkpoint rows, then values no
 * surviving checkpoint refers to; a surviving value whose base goes away is
 * rewritten whole first.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "common/base64.h"
#include "common/cryptohash.h"
#include "common/hashfn.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/uuid.h"
#include "utils/varlena.h"

#define LG_DIGEST_LEN	PG_SHA256_DIGEST_LENGTH
#define LG_TASKS		"__pregel_tasks"
#define LG_REF_MIN		64		/* smallest stored value pending writes refer to instead of copying */
#define LG_LOCK_FIELD4	0x4c47	/* 'LG': our advisory locks in pg_locks.objsubid */

/* the kept plans of this file */
typedef enum LGPlan
{
	LGP_CP_GET,
	LGP_HEAD,
	LGP_CP_UPSERT,
	LGP_BLOB_META,
	LGP_BLOB_BYVER,
	LGP_BLOB_UPSERT,
	LGP_BLOB_GET,
	LGP_BLOB_CHAIN,
	LGP_WRITES,
	LGP_SENDS,
	LGP_W_INSERT,
	LGP_W_UPSERT,
	LGP_W_REF,
	LGP_W_UNREF,
	LGP_LIST_NS,
	LGP_LIST_THREAD,
	LGP_LIST_ALL,
	LGP_COUNT
} LGPlan;

/* parameter types of the statements below (each uses the first nargs of its list) */
static const Oid cp_key[] = {TEXTOID, TEXTOID, UUIDOID};
static const Oid blob_key[] = {TEXTOID, TEXTOID, TEXTOID, UUIDOID};
static const Oid blob_ver[] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID};
static const Oid cp_row[] = {TEXTOID, TEXTOID, UUIDOID, UUIDOID, JSONBOID, JSONBOID, JSONBOID};
static const Oid blob_row[] = {TEXTOID, TEXTOID, TEXTOID, UUIDOID, JSONBOID, UUIDOID, INT4OID,
BYTEAOID, JSONBOID, TEXTOID, BYTEAOID};
static const Oid w_row[] = {TEXTOID, TEXTOID, UUIDOID, TEXTOID, INT4OID, TEXTOID, TEXTOID,
JSONBOID, TEXTOID, BYTEAOID};
static const Oid list_args[] = {TEXTOID, TEXTOID, JSONBOID, UUIDOID, INT8OID, UUIDOID};
static const Oid w_ref[] = {TEXTOID, TEXTOID, UUIDOID, UUIDOID, TEXTARRAYOID, JSONBARRAYOID};

/* a kept statement: its text and its parameter types */
typedef struct LGStatement
{
	const char *sql;
	const Oid  *types;
	int			nargs;
} LGStatement;

/* the list queries: which checkpoints (thread, namespace), then list's filters, newest first */
#define LG_LIST_SELECT \
	"SELECT checkpoint_id, parent_checkpoint_id, checkpoint, metadata, blobs, thread_id, checkpoint_ns " \
	"FROM stategraph.lg_checkpoints WHERE "
#define LG_LIST_FILTERS \
	"AND ($3::jsonb IS NULL OR metadata OPERATOR(pg_catalog.@>) $3) " \
	"AND ($4::uuid IS NULL OR checkpoint_id OPERATOR(pg_catalog.<) $4) " \
	"AND ($6::uuid IS NULL OR checkpoint_id OPERATOR(pg_catalog.=) $6) " \
	"ORDER BY checkpoint_id DESC LIMIT $5"

static const LGStatement lg_statements[LGP_COUNT] = {
	[LGP_CP_GET] = {
		"SELECT checkpoint_id, parent_checkpoint_id, checkpoint, metadata, blobs FROM stategraph.lg_checkpoints "
		"WHERE thread_id OPERATOR(pg_catalog.=) $1 AND checkpoint_ns OPERATOR(pg_catalog.=) $2 "
		"AND checkpoint_id OPERATOR(pg_catalog.=) $3",
	cp_key, 3},
	[LGP_HEAD] = {
		"SELECT checkpoint_id, parent_checkpoint_id, checkpoint, metadata, blobs FROM stategraph.lg_checkpoints "
		"WHERE thread_id OPERATOR(pg_catalog.=) $1 AND checkpoint_ns OPERATOR(pg_catalog.=) $2 "
		"ORDER BY checkpoint_id DESC LIMIT 1",
	cp_key, 2},
	[LGP_CP_UPSERT] = {
		"INSERT INTO stategraph.lg_checkpoints AS c (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, "
		"checkpoint, metadata, blobs) VALUES ($1, $2, $3, $4, $5, $6, $7) "
		"ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id) DO UPDATE SET "
		"parent_checkpoint_id = EXCLUDED.parent_checkpoint_id, checkpoint = EXCLUDED.checkpoint, "
		"metadata = EXCLUDED.metadata, blobs = EXCLUDED.blobs",
	cp_row, 7},
	[LGP_BLOB_META] = {
		"SELECT n, digest FROM stategraph.lg_blobs WHERE thread_id OPERATOR(pg_catalog.=) $1 "
		"AND checkpoint_ns OPERATOR(pg_catalog.=) $2 AND channel OPERATOR(pg_catalog.=) $3 "
		"AND writer OPERATOR(pg_catalog.=) $4",
	blob_key, 4},
	[LGP_BLOB_BYVER] = {
		"SELECT writer FROM stategraph.lg_blobs WHERE thread_id OPERATOR(pg_catalog.=) $1 "
		"AND checkpoint_ns OPERATOR(pg_catalog.=) $2 AND channel OPERATOR(pg_catalog.=) $3 "
		"AND version OPERATOR(pg_catalog.=) $4 ORDER BY writer DESC LIMIT 1",
	blob_ver, 4},
	[LGP_BLOB_UPSERT] = {
		"INSERT INTO stategraph.lg_blobs (thread_id, checkpoint_ns, channel, writer, version, base, n, digest, "
		"value, type, bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
		"ON CONFLICT (thread_id, checkpoint_ns, channel, writer) DO UPDATE SET version = EXCLUDED.version, "
		"base = EXCLUDED.base, n = EXCLUDED.n, digest = EXCLUDED.digest, value = EXCLUDED.value, "
		"type = EXCLUDED.type, bytes = EXCLUDED.bytes",
	blob_row, 11},
	[LGP_BLOB_GET] = {
		"SELECT writer, base, value, type, bytes FROM stategraph.lg_blobs WHERE thread_id OPERATOR(pg_catalog.=) $1 "
		"AND checkpoint_ns OPERATOR(pg_catalog.=) $2 AND channel OPERATOR(pg_catalog.=) $3 "
		"AND writer OPERATOR(pg_catalog.=) $4",
	blob_key, 4},
	[LGP_BLOB_CHAIN] = {
		"SELECT writer, base, value FROM stategraph.lg_blobs WHERE thread_id OPERATOR(pg_catalog.=) $1 "
		"AND checkpoint_ns OPERATOR(pg_catalog.=) $2 AND channel OPERATOR(pg_catalog.=) $3 "
		"AND writer OPERATOR(pg_catalog.<=) $4 ORDER BY writer DESC",
	blob_key, 4},
	[LGP_WRITES] = {
		"SELECT task_id, channel, COALESCE(w.value, (SELECT b.value FROM stategraph.lg_blobs b "
		"WHERE b.thread_id OPERATOR(pg_catalog.=) w.thread_id AND b.checkpoint_ns OPERATOR(pg_catalog.=) w.checkpoint_ns "
		"AND b.channel OPERATOR(pg_catalog.=) w.channel AND b.writer OPERATOR(pg_catalog.=) w.ref)), type, bytes "
		"FROM stategraph.lg_writes w WHERE thread_id OPERATOR(pg_catalog.=) $1 "
		"AND checkpoint_ns OPERATOR(pg_catalog.=) $2 AND checkpoint_id OPERATOR(pg_catalog.=) $3 "
		"ORDER BY task_path, task_id, idx",
	cp_key, 3},
	[LGP_SENDS] = {
		"SELECT COALESCE(w.value, (SELECT b.value FROM stategraph.lg_blobs b "
		"WHERE b.thread_id OPERATOR(pg_catalog.=) w.thread_id AND b.checkpoint_ns OPERATOR(pg_catalog.=) w.checkpoint_ns "
		"AND b.channel OPERATOR(pg_catalog.=) w.channel AND b.writer OPERATOR(pg_catalog.=) w.ref)), type, bytes "
		"FROM stategraph.lg_writes w WHERE thread_id OPERATOR(pg_catalog.=) $1 "
		"AND checkpoint_ns OPERATOR(pg_catalog.=) $2 AND checkpoint_id OPERATOR(pg_catalog.=) $3 "
		"AND channel OPERATOR(pg_catalog.=) '" LG_TASKS "' ORDER BY task_path, task_id, idx",
	cp_key, 3},
	[LGP_W_INSERT] = {
		"INSERT INTO stategraph.lg_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, task_path, "
		"channel, value, type, bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
		"ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO NOTHING",
	w_row, 10},
	[LGP_W_UPSERT] = {
		"INSERT INTO stategraph.lg_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, task_path, "
		"channel, value, type, bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
		"ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO UPDATE SET "
		"task_path = EXCLUDED.task_path, channel = EXCLUDED.channel, value = EXCLUDED.value, "
		"type = EXCLUDED.type, bytes = EXCLUDED.bytes, ref = NULL",
	w_row, 10},
	[LGP_W_REF] = {
		"UPDATE stategraph.lg_writes w SET value = NULL, ref = $4 FROM ROWS FROM (pg_catalog.unnest($5::text[]), pg_catalog.unnest($6::jsonb[])) v(channel, value) "
		"WHERE w.thread_id OPERATOR(pg_catalog.=) $1 AND w.checkpoint_ns OPERATOR(pg_catalog.=) $2 "
		"AND w.checkpoint_id OPERATOR(pg_catalog.=) $3 AND w.channel OPERATOR(pg_catalog.=) v.channel "
		"AND w.value OPERATOR(pg_catalog.=) v.value",
	w_ref, 6},
	[LGP_W_UNREF] = {
		"UPDATE stategraph.lg_writes w SET value = b.value, ref = NULL FROM stategraph.lg_blobs b "
		"WHERE w.thread_id OPERATOR(pg_catalog.=) $1 AND w.checkpoint_ns OPERATOR(pg_catalog.=) $2 "
		"AND w.ref OPERATOR(pg_catalog.=) $3 AND b.thread_id OPERATOR(pg_catalog.=) w.thread_id "
		"AND b.checkpoint_ns OPERATOR(pg_catalog.=) w.checkpoint_ns AND b.channel OPERATOR(pg_catalog.=) w.channel "
		"AND b.writer OPERATOR(pg_catalog.=) w.ref",
	cp_key, 3},
	[LGP_LIST_NS] = {
		LG_LIST_SELECT "thread_id OPERATOR(pg_catalog.=) $1 AND checkpoint_ns OPERATOR(pg_catalog.=) $2 "
		LG_LIST_FILTERS,
	list_args, 6},
	[LGP_LIST_THREAD] = {
		LG_LIST_SELECT "thread_id OPERATOR(pg_catalog.=) $1 "
		"AND ($2::text IS NULL OR checkpoint_ns OPERATOR(pg_catalog.=) $2) " LG_LIST_FILTERS,
	list_args, 6},
	[LGP_LIST_ALL] = {
		LG_LIST_SELECT "($1::text IS NULL OR thread_id OPERATOR(pg_catalog.=) $1) "
		"AND ($2::text IS NULL OR checkpoint_ns OPERATOR(pg_catalog.=) $2) " LG_LIST_FILTERS,
	list_args, 6},
};

/* columns of the checkpoint queries (LGP_CP_GET, LGP_HEAD, LGP_LIST_*) */
#define CP_ID		1
#define CP_PARENT	2
#define CP_CHECKPOINT 3
#define CP_METADATA 4
#define CP_BLOBS	5
#define CP_THREAD	6
#define CP_NS		7

static SPIPlanPtr lg_plans[LGP_COUNT];

/* The kept plan of a statement, prepared on first use. */
static SPIPlanPtr
lg_plan(LGPlan which)
{
	const LGStatement *st = &lg_statements[which];

	return sg_spi_prepare(&lg_plans[which], st->sql, st->nargs, (Oid *) st->types);
}

/* Runs a kept plan; nulls as SPI wants them ('n' null, ' ' not). */
static uint64
lg_run(LGPlan which, Datum *values, const char *nulls, long count)
{
	return sg_spi_execute(lg_plan(which), values, nulls, count);
}

/* A uuid Datum of its own. */
static Datum
lg_uuid_datum(const pg_uuid_t *id)
{
	pg_uuid_t  *copy = palloc(sizeof(pg_uuid_t));

	*copy = *id;
	return UUIDPGetDatum(copy);
}

/* A uuid from its text form (errors as uuid_in does). */
static pg_uuid_t
lg_uuid_parse(const char *s)
{
	return *DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(s)));
}

/* Column col of row i of SPI_tuptable, NULL when null. */
static Datum
lg_col(SPITupleTable *tt, uint64 i, int col, bool *isnull)
{
	return SPI_getbinval(tt->vals[i], tt->tupdesc, col, isnull);
}

/* A jsonb column, detoasted; NULL when null. */
static Jsonb *
lg_jsonb_col(SPITupleTable *tt, uint64 i, int col)
{
	bool		isnull;
	Datum		d = lg_col(tt, i, col, &isnull);

	return isnull ? NULL : DatumGetJsonbP(d);
}

/* A text column as a C string; NULL when null. */
static char *
lg_text_col(SPITupleTable *tt, uint64 i, int col)
{
	bool		isnull;
	Datum		d = lg_col(tt, i, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* A required text argument: NULL is an error naming it. */
static char *
lg_required_text(FunctionCallInfo fcinfo, int arg, const char *name)
{
	if (PG_ARGISNULL(arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name),
				 errhint("LangGraph configs carry it as configurable.%s.", name)));
	return text_to_cstring(PG_GETARG_TEXT_PP(arg));
}

/* The namespace argument: NULL is the root namespace ''. */
static char *
lg_ns_arg(FunctionCallInfo fcinfo, int arg)
{
	return PG_ARGISNULL(arg) ? pstrdup("") : text_to_cstring(PG_GETARG_TEXT_PP(arg));
}

/*
 * Serialises concurrent writers of one (thread, namespace) until commit: an
 * advisory lock of our own (field4 'LG', beside the 'SG' locks of
 * stategraph's threads), so that it never meets an application's
 * pg_advisory_lock keys.
 */
static void
lg_lock(const char *thread_id, const char *ns)
{
	LOCKTAG		tag;
	uint64		h = hash_bytes_extended((const unsigned char *) thread_id, strlen(thread_id), LG_LOCK_FIELD4);

	h = hash_bytes_extended((const unsigned char *) ns, strlen(ns), h);
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h, LG_LOCK_FIELD4);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/* The value of key in a jsonb object, or NULL. */
static JsonbValue *
lg_find(Jsonb *obj, const char *key)
{
	if (obj == NULL || !JB_ROOT_IS_OBJECT(obj))
		return NULL;
	return getKeyJsonValueFromContainer(&obj->root, key, strlen(key), NULL);
}

/* A jsonb object's string member as a C string, or NULL. */
static char *
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

/* digest := SHA-256(digest || kind || bytes of one element). */
static void
lg_digest_element(uint8 *digest, JsonbValue *v)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		kind = (uint8) v->type;
	const uint8 *data = NULL;
	size_t		len = 0;

	switch (v->type)
	{
		case jbvBinary:
			data = (const uint8 *) v->val.binary.data, len = v->val.binary.len;
			break;
		case jbvString:
			data = (const uint8 *) v->val.string.val, len = v->val.string.len;
			break;
		case jbvNumeric:
			data = (const uint8 *) v->val.numeric, len = VARSIZE_ANY(v->val.numeric);
			break;
		case jbvBool:
			data = (const uint8 *) &v->val.boolean, len = sizeof(bool);
			break;
		default:
			break;
	}
	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, digest, LG_DIGEST_LEN) < 0 ||
		pg_cryptohash_update(ctx, &kind, 1) < 0 ||
		(len > 0 && pg_cryptohash_update(ctx, data, len) < 0) ||
		pg_cryptohash_final(ctx, digest, LG_DIGEST_LEN) < 0)
		elog(ERROR, "could not compute a SHA-256 digest");
	pg_cryptohash_free(ctx);
}

/*
 * Digests the elements of array value; when prefix_n >= 0, also reports in
 * *prefix_match whether its first prefix_n elements chain to prefix_digest.
 * Leaves the whole array's digest in digest.
 */
static void
lg_digest_array(Jsonb *value, int prefix_n, const uint8 *prefix_digest,
				bool *prefix_match, uint8 *digest)
{
	JsonbIterator *it = JsonbIteratorInit(&value->root);
	JsonbValue	v;
	JsonbIteratorToken r;
	int			i = 0;

	memset(digest, 0, LG_DIGEST_LEN);
	*prefix_match = (prefix_n == 0 && prefix_digest &&
					 memcmp(digest, prefix_digest, LG_DIGEST_LEN) == 0);
	while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (r != WJB_ELEM)
			continue;
		lg_digest_element(digest, &v);
		if (++i == prefix_n && prefix_digest)
			*prefix_match = memcmp(digest, prefix_digest, LG_DIGEST_LEN) == 0;
	}
}

/*
 * The checkpoint without its channel_values (stored apart) and, when it is
 * the row's checkpoint_id in canonical form, without its "id" (lg_tuple_json
 * puts it back): ~46 bytes less per checkpoint row.
 */
static Jsonb *
lg_strip_values(Jsonb *cp, bool strip_id)
{
	JsonbParseState *ps = NULL;
	JsonbIterator *it = JsonbIteratorInit(&cp->root);
	JsonbValue	v;
	JsonbIteratorToken r;
	JsonbValue *res = NULL;
	bool		skip = false;

	while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (r == WJB_KEY)
		{
			skip = (v.val.string.len == 14 && memcmp(v.val.string.val, "channel_values", 14) == 0) ||
				(strip_id && v.val.string.len == 2 && memcmp(v.val.string.val, "id", 2) == 0);
			if (skip)
				continue;
		}
		else if (r == WJB_VALUE && skip)
		{
			skip = false;
			continue;
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
 * Stores channel's new value written by checkpoint id; a JSON array that
 * extends the parent's value (writer base) keeps only its new elements.
 * Returns the JSON stored (those elements, or the whole value), NULL for bytes.
 */
static Jsonb *
lg_store_value(const char *thread_id, const char *ns, const pg_uuid_t *id, const char *channel,
			   JsonbValue *version, JsonbValue *value, text *type, bytea *bytes, const char *base)
{
	Datum		vals[11];
	char		nulls[11];
	Jsonb	   *jv = value ? JsonbValueToJsonb(value) : NULL;
	uint8		digest[LG_DIGEST_LEN];

	memset(nulls, 'n', sizeof(nulls));
	vals[0] = CStringGetTextDatum(thread_id), nulls[0] = ' ';
	vals[1] = CStringGetTextDatum(ns), nulls[1] = ' ';
	vals[2] = CStringGetTextDatum(channel), nulls[2] = ' ';
	vals[3] = lg_uuid_datum(id), nulls[3] = ' ';
	vals[4] = JsonbPGetDatum(JsonbValueToJsonb(version)), nulls[4] = ' ';
	if (jv && JB_ROOT_IS_ARRAY(jv) && !JB_ROOT_IS_SCALAR(jv))
	{
		int			n = JB_ROOT_COUNT(jv);
		int			prev_n = -1;
		uint8		prev_digest[LG_DIGEST_LEN];
		bool		extends = false;
		pg_uuid_t	base_id;

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
						bytea	   *d;

						prev_n = DatumGetInt32(nd);
						d = DatumGetByteaPP(lg_col(SPI_tuptable, 0, 2, &isnull));
						if (isnull || VARSIZE_ANY_EXHDR(d) != LG_DIGEST_LEN || prev_n > n)
							prev_n = -1;
						else
							memcpy(prev_digest, VARDATA_ANY(d), LG_DIGEST_LEN);
					}
				}
			}
		}
		lg_digest_array(jv, prev_n, prev_n >= 0 ? prev_digest : NULL, &extends, digest);
		if (extends && prev_n > 0)
		{
			vals[5] = lg_uuid_datum(&base_id), nulls[5] = ' ';
			jv = sg_jsonb_array_tail(jv, n - prev_n);	/* what was appended */
		}
		vals[6] = Int32GetDatum(n), nulls[6] = ' ';
		{
			bytea	   *d = palloc(VARHDRSZ + LG_DIGEST_LEN);

			SET_VARSIZE(d, VARHDRSZ + LG_DIGEST_LEN);
			memcpy(VARDATA(d), digest, LG_DIGEST_LEN);
			vals[7] = PointerGetDatum(d), nulls[7] = ' ';
		}
	}
	if (jv)
		vals[8] = JsonbPGetDatum(jv), nulls[8] = ' ';
	else
	{
		vals[9] = PointerGetDatum(type), nulls[9] = ' ';
		vals[10] = PointerGetDatum(bytes), nulls[10] = ' ';
	}
	lg_run(LGP_BLOB_UPSERT, vals, nulls, 0);
	return jv;
}

/*
 * The pending writes of the parent checkpoint whose value is one a put just
 * stored (a task's appended messages, most often) keep a reference to that
 * value row instead of a second copy: ref = the new checkpoint, value NULL.
 * LGP_WRITES reads them back through it; values under LG_REF_MIN bytes are
 * not worth the update.
 */
static void
lg_ref_writes(const char *thread_id, const char *ns, const pg_uuid_t *parent, const pg_uuid_t *id,
			  List *channels, List *values)
{
	Datum		a[6];
	Datum	   *cd, *vd;
	ListCell   *lc, *lv;
	int			n = 0;

	if (channels == NIL)
		return;
	cd = palloc(sizeof(Datum) * list_length(channels));
	vd = palloc(sizeof(Datum) * list_length(channels));
	forboth(lc, channels, lv, values)
	{
		cd[n] = CStringGetTextDatum((char *) lfirst(lc));
		vd[n] = PointerGetDatum(lfirst(lv));
		n++;
	}
	a[0] = CStringGetTextDatum(thread_id);
	a[1] = CStringGetTextDatum(ns);
	a[2] = lg_uuid_datum(parent);
	a[3] = lg_uuid_datum(id);
	a[4] = PointerGetDatum(construct_array(cd, n, TEXTOID, -1, false, TYPALIGN_INT));
	a[5] = PointerGetDatum(construct_array(vd, n, JSONBOID, -1, false, TYPALIGN_INT));
	lg_run(LGP_W_REF, a, NULL, 0);
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
	lg_run(LGP_CP_GET, k, NULL, 1);
	if (SPI_processed == 1)
	{
		Jsonb	   *cp = lg_jsonb_col(SPI_tuptable, 0, CP_CHECKPOINT);
		JsonbValue *v = lg_find(cp, "channel_versions");

		p.found = true;
		p.versions = (v && v->type == jbvBinary) ? JsonbValueToJsonb(v) : NULL;
		p.blobs = lg_jsonb_col(SPI_tuptable, 0, CP_BLOBS);
	}
	return p;
}

/*
 * Refuses a loop/input checkpoint that does not extend the newest one, or
 * that would not become the newest itself: LangGraph's newest checkpoint is
 * the greatest id, and ids are made by the clients, so an id made by another
 * process in the same instant can sort before the head it extends (the other
 * writer would then go on from the head and leave it on a dead branch).
 */
static void
lg_check_head(const char *thread_id, const char *ns, const pg_uuid_t *id,
			  const pg_uuid_t *parent, Jsonb *metadata, bool expect_new)
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
		return;
	head = DatumGetUUIDP(lg_col(SPI_tuptable, 0, CP_ID, &isnull));
	if (first)
		detail = psprintf("The new checkpoint %s starts namespace \"%s\", which another writer has started since.",
						  sg_uuid_to_cstring(id), ns);
	else if (memcmp(head, parent, sizeof(pg_uuid_t)) != 0)
		detail = psprintf("The new checkpoint's parent is %s, but the newest checkpoint of namespace \"%s\" is %s.",
						  sg_uuid_to_cstring(parent), ns, sg_uuid_to_cstring(head));
	else if (memcmp(id, head, sizeof(pg_uuid_t)) <= 0)
		detail = psprintf("The new checkpoint %s extends the newest checkpoint %s of namespace \"%s\" but sorts before it.",
						  sg_uuid_to_cstring(id), sg_uuid_to_cstring(head), ns);
	else
		return;
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("thread \"%s\" was advanced by another writer", thread_id),
			 errdetail_internal("%s", detail),
			 errhint("Two processes ran the same thread at once; read the thread again and retry.")));
}

/*
 * Where channel's value is when it is not in new_versions: the parent's
 * reference if the version did not change, else the newest value stored
 * with that version; NULL: none.
 */
static char *
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
			return lg_find_string(p->blobs, channel);
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

		return sg_uuid_to_cstring(DatumGetUUIDP(w));
	}
	return NULL;
}

/* Pushes "channel": "writer" into the blobs map being built. */
static void
lg_push_ref(JsonbParseState **ps, const char *channel, const char *writer)
{
	JsonbValue	k, v;

	k.type = jbvString, k.val.string.val = (char *) channel, k.val.string.len = strlen(channel);
	v.type = jbvString, v.val.string.val = (char *) writer, v.val.string.len = strlen(writer);
	pushJsonbValue(ps, WJB_KEY, &k);
	pushJsonbValue(ps, WJB_VALUE, &v);
}

PG_FUNCTION_INFO_V1(sg_lg_put);

/* Whether key of obj is missing, null, or a JSON object. */
static bool
lg_object_or_absent(Jsonb *obj, const char *key)
{
	JsonbValue *v = lg_find(obj, key);

	return v == NULL || v->type == jbvNull ||
		(v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data));
}

/*
 * sg_lg_put(thread_id, checkpoint_ns, parent_checkpoint_id, checkpoint,
 * metadata, new_versions, bytes_channels, bytes_types, bytes_values) -> uuid
 */
Datum
sg_lg_put(PG_FUNCTION_ARGS)
{
	char	   *thread_id = lg_required_text(fcinfo, 0, "thread_id");
	char	   *ns = lg_ns_arg(fcinfo, 1);
	pg_uuid_t  *parent = PG_ARGISNULL(2) ? NULL : PG_GETARG_UUID_P(2);
	Jsonb	   *cp;
	Jsonb	   *metadata = PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4);
	Jsonb	   *newv = PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5);
	ArrayType  *bc = PG_ARGISNULL(6) ? NULL : PG_GETARG_ARRAYTYPE_P(6);
	ArrayType  *bt = PG_ARGISNULL(7) ? NULL : PG_GETARG_ARRAYTYPE_P(7);
	ArrayType  *bv = PG_ARGISNULL(8) ? NULL : PG_GETARG_ARRAYTYPE_P(8);
	char	   *idstr;
	pg_uuid_t	id;
	Jsonb	   *values, *versions;
	LGParent	p;
	List	   *ref_channels = NIL, *ref_values = NIL;
	JsonbParseState *ps = NULL;
	JsonbValue *blobs;
	Datum		row[7];
	char		nulls[7] = "       ";

	if (PG_ARGISNULL(3) || !JB_ROOT_IS_OBJECT(PG_GETARG_JSONB_P(3)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("checkpoint must be a JSON object"),
				 errdetail("LangGraph checkpoints (v4) are objects with v, id, ts, channel_values, channel_versions and versions_seen.")));
	cp = PG_GETARG_JSONB_P(3);
	idstr = lg_find_string(cp, "id");
	if (idstr == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("checkpoint of thread \"%s\" has no string \"id\"", thread_id)));
	id = lg_uuid_parse(idstr);
	/* another type would silently store no value and no metadata */
	if ((metadata && !JB_ROOT_IS_OBJECT(metadata)) || (newv && !JB_ROOT_IS_OBJECT(newv)) ||
		!lg_object_or_absent(cp, "channel_values") || !lg_object_or_absent(cp, "channel_versions"))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("metadata, new_versions, and the checkpoint's channel_values and channel_versions must be JSON objects"),
				 errdetail("Checkpoint \"%s\" of thread \"%s\" was not stored.", idstr, thread_id)));
	if (bc && (bt == NULL || bv == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("bytes_channels needs bytes_types and bytes_values")));
	{
		JsonbValue *v = lg_find(cp, "channel_values");

		values = (v && v->type == jbvBinary) ? JsonbValueToJsonb(v) : NULL;
		v = lg_find(cp, "channel_versions");
		versions = (v && v->type == jbvBinary) ? JsonbValueToJsonb(v) : NULL;
	}

	sg_spi_connect();
	lg_lock(thread_id, ns);
	{
		Datum		k[3] = {CStringGetTextDatum(thread_id), CStringGetTextDatum(ns), lg_uuid_datum(&id)};

		lg_run(LGP_CP_GET, k, NULL, 1);
		if (SPI_processed == 0)
			lg_check_head(thread_id, ns, &id, parent, metadata, !PG_ARGISNULL(9) && PG_GETARG_BOOL(9));
		else					/* stored again: its values may change, copy them back into writes */
			lg_run(LGP_W_UNREF, k, NULL, 0);
	}
	p = lg_parent(thread_id, ns, parent);

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	if (versions && JB_ROOT_IS_OBJECT(versions))
	{
		JsonbIterator *it = JsonbIteratorInit(&versions->root);
		JsonbValue	ver;
		char	   *channel;

		while (sg_jsonb_next_pair(&it, &channel, &ver))
		{
			JsonbValue *nv;
			char	   *writer;

			nv = lg_find(newv, channel);
			if (nv)
			{
				JsonbValue *jv = lg_find(values, channel);
				text	   *type = NULL;
				bytea	   *bytes = NULL;
				Jsonb	   *stored;

				if (jv == NULL && !lg_bytes_for(bc, bt, bv, channel, &type, &bytes))
					continue;	/* no value: the channel is empty */
				stored = lg_store_value(thread_id, ns, &id, channel, nv, jv, type, bytes,
										p.found ? lg_find_string(p.blobs, channel) : NULL);
				if (parent && stored && VARSIZE(stored) >= LG_REF_MIN)
				{
					ref_channels = lappend(ref_channels, channel);
					ref_values = lappend(ref_values, stored);
				}
				writer = sg_uuid_to_cstring(&id);
			}
			else
				writer = lg_inherit(thread_id, ns, &p, channel, &ver);
			if (writer)
				lg_push_ref(&ps, channel, writer);
		}
	}
	blobs = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	if (parent)
		lg_ref_writes(thread_id, ns, parent, &id, ref_channels, ref_values);

	row[0] = CStringGetTextDatum(thread_id);
	row[1] = CStringGetTextDatum(ns);
	row[2] = lg_uuid_datum(&id);
	if (parent)
		row[3] = lg_uuid_datum(parent);
	else
		nulls[3] = 'n';
	row[4] = JsonbPGetDatum(lg_strip_values(cp, strcmp(idstr, sg_uuid_to_cstring(&id)) == 0));
	if (metadata)
		row[5] = JsonbPGetDatum(metadata);
	else
		row[5] = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	row[6] = JsonbPGetDatum(JsonbValueToJsonb(blobs));
	lg_run(LGP_CP_UPSERT, row, nulls, 0);
	sg_spi_finish();
	PG_RETURN_UUID_P(DatumGetUUIDP(lg_uuid_datum(&id)));
}

/* ---------------------------------------------------------------------------
 * put_writes
 * ---------------------------------------------------------------------------
 */

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

/* Position of write i among bytes_index (-1: a JSON write). */
static int
lg_bytes_slot(int32 *bidx, int nb, int i)
{
	int			j;

	for (j = 0; j < nb; j++)
		if (bidx[j] == i)
			return j;
	return -1;
}

PG_FUNCTION_INFO_V1(sg_lg_put_writes);

/*
 * sg_lg_put_writes(thread_id, checkpoint_ns, checkpoint_id, task_id, writes,
 * task_path, bytes_index, bytes_types, bytes_values) -> integer
 */
Datum
sg_lg_put_writes(PG_FUNCTION_ARGS)
{
	char	   *thread_id = lg_required_text(fcinfo, 0, "thread_id");
	char	   *ns = lg_ns_arg(fcinfo, 1);
	char	   *task_id = lg_required_text(fcinfo, 3, "task_id");
	char	   *task_path = PG_ARGISNULL(5) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(5));
	Jsonb	   *writes;
	int32	   *bidx = NULL;
	Datum	   *td = NULL, *vd = NULL;
	int			nb = 0, nwrites, i, stored = 0;
	bool		all_special = true;
	JsonbValue **items;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("checkpoint_id must not be null"),
				 errhint("Writes belong to a checkpoint: pass the config returned by put.")));
	if (PG_ARGISNULL(4) || !JB_ROOT_IS_ARRAY(PG_GETARG_JSONB_P(4)) || JB_ROOT_IS_SCALAR(PG_GETARG_JSONB_P(4)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("writes must be a JSON array of [channel, value] pairs")));
	writes = PG_GETARG_JSONB_P(4);
	if (!PG_ARGISNULL(6))
	{
		ArrayType  *ai = PG_GETARG_ARRAYTYPE_P(6);
		int			nt, nv;
		bool	   *nulls;

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
		nb = ArrayGetNItems(ARR_NDIM(ai), ARR_DIMS(ai));
		bidx = (int32 *) ARR_DATA_PTR(ai);
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(7), TEXTOID, -1, false, TYPALIGN_INT, &td, &nulls, &nt);
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(8), BYTEAOID, -1, false, TYPALIGN_INT, &vd, &nulls, &nv);
		if (nt != nb || nv != nb)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("bytes_index, bytes_types and bytes_values must have the same length")));
	}

	nwrites = JB_ROOT_COUNT(writes);
	items = palloc(sizeof(JsonbValue *) * (nwrites + 1));
	for (i = 0; i < nwrites; i++)
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
		if (lg_special_idx(pnstrdup(ch->val.string.val, ch->val.string.len)) == 0)
			all_special = false;
	}

	sg_spi_connect();
	for (i = 0; i < nwrites; i++)
	{
		JsonbValue *ch = getIthJsonbValueFromContainer(items[i]->val.binary.data, 0);
		JsonbValue *val = getIthJsonbValueFromContainer(items[i]->val.binary.data, 1);
		char	   *channel = pnstrdup(ch->val.string.val, ch->val.string.len);
		int			special = lg_special_idx(channel);
		int			slot = lg_bytes_slot(bidx, nb, i);
		Datum		row[10];
		char		nulls[10] = "          ";

		row[0] = CStringGetTextDatum(thread_id);
		row[1] = CStringGetTextDatum(ns);
		row[2] = UUIDPGetDatum(PG_GETARG_UUID_P(2));
		row[3] = CStringGetTextDatum(task_id);
		row[4] = Int32GetDatum(special ? special : i);
		row[5] = CStringGetTextDatum(task_path);
		row[6] = CStringGetTextDatum(channel);
		if (slot >= 0)
		{
			nulls[7] = 'n';
			row[8] = td[slot];
			row[9] = vd[slot];
		}
		else
		{
			row[7] = JsonbPGetDatum(JsonbValueToJsonb(val));
			nulls[8] = nulls[9] = 'n';
		}
		lg_run(all_special ? LGP_W_UPSERT : LGP_W_INSERT, row, nulls, 0);
		stored += SPI_processed;
	}
	sg_spi_finish();
	PG_RETURN_INT32(stored);
}

/* ---------------------------------------------------------------------------
 * Reading: values, writes, tuple documents
 * ---------------------------------------------------------------------------
 */

/* The base64 text of bytes. */
static char *
lg_b64(bytea *b)
{
	int			len = VARSIZE_ANY_EXHDR(b);
	int			enclen = pg_b64_enc_len(len);
	char	   *enc = palloc(enclen + 1);
	int			n = pg_b64_encode(VARDATA_ANY(b), len, enc, enclen);

	if (n < 0)
		elog(ERROR, "could not encode bytes in base64");
	enc[n] = '\0';
	return enc;
}

/* Appends bytes as ["type", "base64"]. */
static void
lg_append_bytes(StringInfo out, const char *type, bytea *b)
{
	appendStringInfoChar(out, '[');
	escape_json(out, type);
	appendStringInfoString(out, ", ");
	escape_json(out, lg_b64(b));
	appendStringInfoChar(out, ']');
}

/* Appends a jsonb value as JSON text. */
static void
lg_append_jsonb(StringInfo out, Jsonb *j)
{
	(void) JsonbToCString(out, &j->root, VARSIZE(j));
}

/* Appends a stored checkpoint as JSON text, with the "id" lg_strip_values left out. */
static void
lg_append_checkpoint(StringInfo out, Jsonb *cp, Datum id)
{
	StringInfoData s;

	if (lg_find(cp, "id") != NULL)
	{
		lg_append_jsonb(out, cp);
		return;
	}
	initStringInfo(&s);
	lg_append_jsonb(&s, cp);
	appendStringInfo(out, "{\"id\": \"%s\"", sg_uuid_to_cstring(DatumGetUUIDP(id)));
	if (s.len > 2)				/* "{...}" with keys: continue after its "{" */
		appendStringInfo(out, ", %s", s.data + 1);
	else
		appendStringInfoChar(out, '}');
	pfree(s.data);
}

/*
 * The last whole value read of each channel, while one call reads several
 * checkpoints (a history page, oldest first): a newer value that extends it
 * is read as that text plus the parts appended since.
 */
typedef struct LGValueCache
{
	List	   *entries;		/* of LGCachedValue, one per channel */
} LGValueCache;

typedef struct LGCachedValue
{
	char	   *channel;
	pg_uuid_t	writer;
	char	   *text;			/* the JSON array */
	int			len;
} LGCachedValue;

/* The cached value of channel if it is the one writer wrote, else NULL. */
static LGCachedValue *
lg_cache_find(LGValueCache *cache, const char *channel, const pg_uuid_t *writer)
{
	ListCell   *lc;

	if (cache == NULL)
		return NULL;
	foreach(lc, cache->entries)
	{
		LGCachedValue *e = lfirst(lc);

		if (strcmp(e->channel, channel) == 0)
			return memcmp(&e->writer, writer, sizeof(pg_uuid_t)) == 0 ? e : NULL;
	}
	return NULL;
}

/* Remembers the whole value of channel written by writer (replacing the channel's last). */
static void
lg_cache_put(LGValueCache *cache, const char *channel, const pg_uuid_t *writer, const char *text, int len)
{
	ListCell   *lc;
	LGCachedValue *e = NULL;

	if (cache == NULL)
		return;
	foreach(lc, cache->entries)
		if (strcmp(((LGCachedValue *) lfirst(lc))->channel, channel) == 0)
			e = lfirst(lc);
	if (e == NULL)
	{
		e = palloc0(sizeof(LGCachedValue));
		e->channel = pstrdup(channel);
		cache->entries = lappend(cache->entries, e);
	}
	else
		pfree(e->text);
	e->writer = *writer;
	e->text = pnstrdup(text, len);
	e->len = len;
}

/*
 * Walks back the chain of appended parts ending with writer's (newest
 * first, one cursor over the channel's rows), to a whole value or to a value
 * in the cache (*base). Returns the parts, oldest first.
 */
static List *
lg_value_parts(Datum *k, const char *channel, const pg_uuid_t *writer, LGValueCache *cache,
			   LGCachedValue **base)
{
	Portal		portal = sg_spi_cursor_open(lg_plan(LGP_BLOB_CHAIN), k, NULL);
	List	   *parts = NIL;
	pg_uuid_t	want = *writer;
	bool		done = false;
	uint64		n, i;

	*base = NULL;
	while (!done && (n = sg_spi_cursor_fetch(portal, 32)) > 0)
	{
		SPITupleTable *tt = SPI_tuptable;

		for (i = 0; i < n && !done; i++)
		{
			bool		isnull;
			pg_uuid_t  *w = DatumGetUUIDP(lg_col(tt, i, 1, &isnull));
			Datum		b;

			if (memcmp(w, &want, sizeof(pg_uuid_t)) != 0)
				continue;		/* a value of another branch */
			if ((*base = lg_cache_find(cache, channel, &want)) != NULL)
			{
				done = true;
				break;
			}
			parts = lcons(lg_jsonb_col(tt, i, 3), parts);
			b = lg_col(tt, i, 2, &isnull);
			if (isnull)
				done = true;
			else
				want = *DatumGetUUIDP(b);
		}
	}
	sg_spi_cursor_close(portal);
	if (!done)
		elog(ERROR, "values of channel \"%s\" extended by %s are missing", channel, sg_uuid_to_cstring(writer));
	return parts;
}

/*
 * Appends the whole JSON value of channel written by writer: a value stored
 * as appended elements is joined with the values it extends, oldest first.
 * Returns false (nothing appended) when the value is typed bytes, which are
 * then left in *type and *bytes.
 */
static bool
lg_append_value(StringInfo out, Datum thread, Datum ns, const char *channel, const pg_uuid_t *writer,
				char **type, bytea **bytes, LGValueCache *cache)
{
	Datum		k[4] = {thread, ns, CStringGetTextDatum(channel), lg_uuid_datum(writer)};
	SPITupleTable *tt;
	bool		isnull;
	List	   *parts;
	ListCell   *lc;
	bool		first = true;
	LGCachedValue *base = lg_cache_find(cache, channel, writer);
	int			start = out->len;

	if (base)
	{
		appendBinaryStringInfo(out, base->text, base->len);
		return true;
	}
	lg_run(LGP_BLOB_GET, k, NULL, 1);
	if (SPI_processed == 0)
		elog(ERROR, "value of channel \"%s\" written by %s is missing", channel, sg_uuid_to_cstring(writer));
	tt = SPI_tuptable;
	(void) lg_col(tt, 0, 2, &isnull);
	if (isnull)
	{
		Jsonb	   *v = lg_jsonb_col(tt, 0, 3);

		if (v == NULL)
		{
			*type = lg_text_col(tt, 0, 4);
			*bytes = DatumGetByteaPP(lg_col(tt, 0, 5, &isnull));
			return false;
		}
		lg_append_jsonb(out, v);
		if (JB_ROOT_IS_ARRAY(v) && !JB_ROOT_IS_SCALAR(v))
			lg_cache_put(cache, channel, writer, out->data + start, out->len - start);
		return true;
	}

	/* a chain of appended parts: walk back to the whole value it started from */
	parts = lg_value_parts(k, channel, writer, cache, &base);
	if (base && base->len > 2)
	{
		appendBinaryStringInfo(out, base->text, base->len - 1);	/* without ] */
		first = false;
	}
	else
		appendStringInfoChar(out, '[');
	foreach(lc, parts)
	{
		Jsonb	   *part = lfirst(lc);
		StringInfoData s;

		if (part == NULL || JB_ROOT_COUNT(part) == 0)
			continue;
		initStringInfo(&s);
		lg_append_jsonb(&s, part);
		if (!first)
			appendStringInfoString(out, ", ");
		appendBinaryStringInfo(out, s.data + 1, s.len - 2);	/* without [ ] */
		first = false;
		pfree(s.data);
	}
	appendStringInfoChar(out, ']');
	lg_cache_put(cache, channel, writer, out->data + start, out->len - start);
	return true;
}

/* Appends "channel_values" and "channel_bytes" of a blobs map. */
static void
lg_append_values(StringInfo out, Datum thread, Datum ns, Jsonb *blobs, LGValueCache *cache)
{
	StringInfoData bytes_out;
	JsonbIterator *it;
	JsonbValue	v;
	char	   *channel;
	bool		first = true;

	initStringInfo(&bytes_out);
	appendStringInfoString(out, "\"channel_values\": {");
	if (blobs && JB_ROOT_IS_OBJECT(blobs))
	{
		it = JsonbIteratorInit(&blobs->root);
		while (sg_jsonb_next_pair(&it, &channel, &v))
		{
			char	   *ws;
			pg_uuid_t	w;
			StringInfoData one;
			char	   *type;
			bytea	   *b;

			ws = pnstrdup(v.val.string.val, v.val.string.len);
			w = lg_uuid_parse(ws);
			initStringInfo(&one);
			if (lg_append_value(&one, thread, ns, channel, &w, &type, &b, cache))
			{
				if (!first)
					appendStringInfoString(out, ", ");
				escape_json(out, channel);
				appendStringInfoString(out, ": ");
				appendBinaryStringInfo(out, one.data, one.len);
				first = false;
			}
			else
			{
				if (bytes_out.len > 0)
					appendStringInfoString(&bytes_out, ", ");
				escape_json(&bytes_out, channel);
				appendStringInfoString(&bytes_out, ": ");
				lg_append_bytes(&bytes_out, type, b);
			}
			pfree(one.data);
		}
	}
	appendStringInfo(out, "}, \"channel_bytes\": {%s}", bytes_out.data);
}

/*
 * Appends open, then the rows of a kept query on a checkpoint's key
 * (thread, ns, id), each through item and separated by commas, then ']'.
 */
static void
lg_append_rows(StringInfo out, const char *open, LGPlan which, Datum thread, Datum ns, Datum id,
			   void (*item) (StringInfo out, SPITupleTable *tt, uint64 i))
{
	Datum		k[3] = {thread, ns, id};
	uint64		i;

	lg_run(which, k, NULL, 0);
	appendStringInfoString(out, open);
	for (i = 0; i < SPI_processed; i++)
	{
		if (i > 0)
			appendStringInfoString(out, ", ");
		item(out, SPI_tuptable, i);
	}
	appendStringInfoChar(out, ']');
}

/* One pending write: [task_id, channel, value] (typed bytes: [task_id, channel, "base64", "type"]). */
static void
lg_append_write(StringInfo out, SPITupleTable *tt, uint64 i)
{
	Jsonb	   *v = lg_jsonb_col(tt, i, 3);

	appendStringInfoChar(out, '[');
	escape_json(out, lg_text_col(tt, i, 1));
	appendStringInfoString(out, ", ");
	escape_json(out, lg_text_col(tt, i, 2));
	appendStringInfoString(out, ", ");
	if (v)
		lg_append_jsonb(out, v);
	else
	{
		bool		isnull;

		escape_json(out, lg_b64(DatumGetByteaPP(lg_col(tt, i, 5, &isnull))));
		appendStringInfoString(out, ", ");
		escape_json(out, lg_text_col(tt, i, 4));
	}
	appendStringInfoChar(out, ']');
}

/* One pending send: its JSON value, or null. */
static void
lg_append_send(StringInfo out, SPITupleTable *tt, uint64 i)
{
	Jsonb	   *v = lg_jsonb_col(tt, i, 1);

	if (v)
		lg_append_jsonb(out, v);
	else
		appendStringInfoString(out, "null");
}

/*
 * The tuple document of row i of a checkpoint query:
 * {thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id,
 *  checkpoint, metadata, channel_values, channel_bytes, pending_writes
 *  [, pending_sends]}
 */
static text *
lg_tuple_json(SPITupleTable *tt, uint64 i, Datum thread, Datum ns, LGValueCache *cache)
{
	StringInfoData out;
	bool		isnull;
	Datum		id = lg_col(tt, i, CP_ID, &isnull);
	Datum		parent = lg_col(tt, i, CP_PARENT, &isnull);
	bool		has_parent = !isnull;
	Jsonb	   *cp = lg_jsonb_col(tt, i, CP_CHECKPOINT);
	Jsonb	   *meta = lg_jsonb_col(tt, i, CP_METADATA);
	Jsonb	   *blobs = lg_jsonb_col(tt, i, CP_BLOBS);
	JsonbValue *v = lg_find(cp, "v");
	bool		old = false;
	text	   *res;

	if (v && v->type == jbvNumeric)
		old = DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(v->val.numeric))) < 4;
	initStringInfo(&out);
	appendStringInfoString(&out, "{\"thread_id\": ");
	escape_json(&out, TextDatumGetCString(thread));
	appendStringInfoString(&out, ", \"checkpoint_ns\": ");
	escape_json(&out, TextDatumGetCString(ns));
	appendStringInfo(&out, ", \"checkpoint_id\": \"%s\", \"parent_checkpoint_id\": ",
					 sg_uuid_to_cstring(DatumGetUUIDP(id)));
	if (has_parent)
		appendStringInfo(&out, "\"%s\"", sg_uuid_to_cstring(DatumGetUUIDP(parent)));
	else
		appendStringInfoString(&out, "null");
	appendStringInfoString(&out, ", \"checkpoint\": ");
	lg_append_checkpoint(&out, cp, id);
	appendStringInfoString(&out, ", \"metadata\": ");
	lg_append_jsonb(&out, meta);
	appendStringInfoString(&out, ", ");
	lg_append_values(&out, thread, ns, blobs, cache);
	appendStringInfoString(&out, ", ");
	lg_append_rows(&out, "\"pending_writes\": [", LGP_WRITES, thread, ns, id, lg_append_write);
	if (old && has_parent)
		lg_append_rows(&out, ", \"pending_sends\": [", LGP_SENDS, thread, ns, parent, lg_append_send);
	appendStringInfoChar(&out, '}');
	res = cstring_to_text_with_len(out.data, out.len);
	pfree(out.data);
	return res;
}

PG_FUNCTION_INFO_V1(sg_lg_get_tuple);

/* sg_lg_get_tuple(thread_id, checkpoint_ns, checkpoint_id) -> json */
Datum
sg_lg_get_tuple(PG_FUNCTION_ARGS)
{
	Datum		k[3];
	text	   *res = NULL;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	k[0] = PG_GETARG_DATUM(0);
	k[1] = PG_ARGISNULL(1) ? CStringGetTextDatum("") : PG_GETARG_DATUM(1);
	sg_spi_connect();
	if (PG_ARGISNULL(2))
		lg_run(LGP_HEAD, k, NULL, 1);
	else
	{
		k[2] = PG_GETARG_DATUM(2);
		lg_run(LGP_CP_GET, k, NULL, 1);
	}
	if (SPI_processed == 1)
		res = lg_tuple_json(SPI_tuptable, 0, k[0], k[1], NULL);
	sg_spi_finish();
	if (res == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(res);
}

PG_FUNCTION_INFO_V1(sg_lg_list);

/* sg_lg_list(thread_id, checkpoint_ns, filter, before, limit, checkpoint_id) -> SETOF json */
Datum
sg_lg_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		args[6];
	char		nulls[6];
	int			i;
	LGPlan		plan;
	SPITupleTable *tt;
	uint64		n, r;
	Datum	   *docs;
	LGValueCache cache = {NIL};

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	for (i = 0; i < 6; i++)
	{
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		args[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	if (!PG_ARGISNULL(4))
	{
		if (PG_GETARG_INT32(4) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("limit must not be negative")));
		args[4] = Int64GetDatum((int64) PG_GETARG_INT32(4));
	}
	if (!PG_ARGISNULL(2) && JB_ROOT_COUNT(PG_GETARG_JSONB_P(2)) == 0)
		nulls[2] = 'n';			/* an empty filter matches everything */
	plan = PG_ARGISNULL(0) ? LGP_LIST_ALL : PG_ARGISNULL(1) ? LGP_LIST_THREAD : LGP_LIST_NS;

	sg_spi_connect();
	lg_run(plan, args, nulls, 0);
	tt = SPI_tuptable;
	n = SPI_processed;
	docs = palloc(sizeof(Datum) * (n + 1));
	/* oldest first, so that a value extending the one before is read as an increment */
	for (r = n; r-- > 0;)
	{
		bool		isnull;
		Datum		thread = lg_col(tt, r, CP_THREAD, &isnull);
		Datum		ns = lg_col(tt, r, CP_NS, &isnull);

		if (r + 1 < n && (!DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, thread, lg_col(tt, r + 1, CP_THREAD, &isnull))) ||
						  !DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, ns, lg_col(tt, r + 1, CP_NS, &isnull)))))
			cache.entries = NIL;	/* values are cached per thread and namespace */
		docs[r] = PointerGetDatum(lg_tuple_json(tt, r, thread, ns, &cache));
	}
	for (r = 0; r < n; r++)
	{
		bool		dnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &docs[r], &dnull);
	}
	sg_spi_finish();
	return (Datum) 0;
}

/* ---------------------------------------------------------------------------
 * Deleting, copying, pruning
 * ---------------------------------------------------------------------------
 */

/* Runs a one-off statement with text[] argument $1; returns rows affected. */
static uint64
lg_exec_array(const char *sql, Datum arr)
{
	Oid			t = TEXTARRAYOID;

	return sg_spi_run(sql, 1, &t, &arr, NULL);
}

/* Deletes the given threads entirely; returns checkpoints removed. */
static uint64
lg_delete_threads(Datum threads)
{
	uint64		n;

	n = lg_exec_array("DELETE FROM stategraph.lg_checkpoints WHERE thread_id OPERATOR(pg_catalog.=) ANY ($1)", threads);
	lg_exec_array("DELETE FROM stategraph.lg_blobs WHERE thread_id OPERATOR(pg_catalog.=) ANY ($1)", threads);
	lg_exec_array("DELETE FROM stategraph.lg_writes WHERE thread_id OPERATOR(pg_catalog.=) ANY ($1)", threads);
	return n;
}

/* A one-element text[] Datum. */
static Datum
lg_text_array1(text *t)
{
	Datum		d = PointerGetDatum(t);

	return PointerGetDatum(construct_array(&d, 1, TEXTOID, -1, false, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(sg_lg_delete_thread);

/* sg_lg_delete_thread(thread_id) -> bigint */
Datum
sg_lg_delete_thread(PG_FUNCTION_ARGS)
{
	char	   *thread_id = lg_required_text(fcinfo, 0, "thread_id");
	uint64		n;

	sg_spi_connect();
	n = lg_delete_threads(lg_text_array1(cstring_to_text(thread_id)));
	sg_spi_finish();
	PG_RETURN_INT64((int64) n);
}

PG_FUNCTION_INFO_V1(sg_lg_copy_thread);

/* sg_lg_copy_thread(source_thread_id, target_thread_id) -> bigint */
Datum
sg_lg_copy_thread(PG_FUNCTION_ARGS)
{
	char	   *src = lg_required_text(fcinfo, 0, "source_thread_id");
	char	   *dst = lg_required_text(fcinfo, 1, "target_thread_id");
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		args[2] = {CStringGetTextDatum(src), CStringGetTextDatum(dst)};
	uint64		n;

	sg_spi_connect();
	lg_lock(dst, "");
	if (sg_spi_run("SELECT 1 FROM stategraph.lg_checkpoints WHERE thread_id OPERATOR(pg_catalog.=) $2 "
				   "AND $1 IS NOT NULL LIMIT 1", 2, types, args, NULL) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("thread \"%s\" already has checkpoints", dst),
				 errhint("Copy into a new thread id, or delete the thread first with sg_lg_delete_thread.")));
	n = sg_spi_run("INSERT INTO stategraph.lg_checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
				   "parent_checkpoint_id, checkpoint, metadata, blobs) SELECT $2, checkpoint_ns, checkpoint_id, "
				   "parent_checkpoint_id, checkpoint, metadata, blobs FROM stategraph.lg_checkpoints "
				   "WHERE thread_id OPERATOR(pg_catalog.=) $1", 2, types, args, NULL);
	sg_spi_run("INSERT INTO stategraph.lg_blobs (thread_id, checkpoint_ns, channel, writer, version, "
			   "base, n, digest, value, type, bytes) SELECT $2, checkpoint_ns, channel, writer, version, "
			   "base, n, digest, value, type, bytes FROM stategraph.lg_blobs "
			   "WHERE thread_id OPERATOR(pg_catalog.=) $1", 2, types, args, NULL);
	sg_spi_run("INSERT INTO stategraph.lg_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, "
			   "idx, task_path, channel, value, type, bytes, ref) SELECT $2, checkpoint_ns, checkpoint_id, "
			   "task_id, idx, task_path, channel, value, type, bytes, ref FROM stategraph.lg_writes "
			   "WHERE thread_id OPERATOR(pg_catalog.=) $1", 2, types, args, NULL);
	sg_spi_finish();
	PG_RETURN_INT64((int64) n);
}

/*
 * After checkpoints of the given threads were deleted: rewrites whole every
 * value still referred to whose base is no longer referred to, then deletes
 * values and writes no checkpoint refers to.
 */
static void
lg_collect(Datum threads)
{
	static const char *live =
		"WITH live AS (SELECT DISTINCT c.thread_id, c.checkpoint_ns, e.key AS channel, e.value::uuid AS writer "
		"FROM stategraph.lg_checkpoints c, pg_catalog.jsonb_each_text(c.blobs) e "
		"WHERE c.thread_id OPERATOR(pg_catalog.=) ANY ($1)) ";
	SPITupleTable *tt;
	uint64		n, i;

	/* writes kept refer to values that may be rewritten or deleted below: copy them back first */
	lg_exec_array("UPDATE stategraph.lg_writes w SET value = b.value, ref = NULL FROM stategraph.lg_blobs b "
				  "WHERE w.thread_id OPERATOR(pg_catalog.=) ANY ($1) AND w.ref IS NOT NULL "
				  "AND b.thread_id OPERATOR(pg_catalog.=) w.thread_id AND b.checkpoint_ns OPERATOR(pg_catalog.=) w.checkpoint_ns "
				  "AND b.channel OPERATOR(pg_catalog.=) w.channel AND b.writer OPERATOR(pg_catalog.=) w.ref "
				  "AND EXISTS (SELECT 1 FROM stategraph.lg_checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) w.thread_id "
				  "AND c.checkpoint_ns OPERATOR(pg_catalog.=) w.checkpoint_ns AND c.checkpoint_id OPERATOR(pg_catalog.=) w.checkpoint_id)",
				  threads);
	lg_exec_array(psprintf("%sSELECT b.thread_id, b.checkpoint_ns, b.channel, b.writer FROM stategraph.lg_blobs b "
						   "JOIN live l USING (thread_id, checkpoint_ns, channel, writer) WHERE b.base IS NOT NULL "
						   "AND NOT EXISTS (SELECT 1 FROM live l2 WHERE l2.thread_id OPERATOR(pg_catalog.=) b.thread_id "
						   "AND l2.checkpoint_ns OPERATOR(pg_catalog.=) b.checkpoint_ns AND l2.channel OPERATOR(pg_catalog.=) b.channel "
						   "AND l2.writer OPERATOR(pg_catalog.=) b.base)", live), threads);
	tt = SPI_tuptable;
	n = SPI_processed;
	/* read every whole value before rewriting any of them */
	{
		char	  **whole = palloc(sizeof(char *) * (n + 1));
		Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, UUIDOID, JSONBOID};

		for (i = 0; i < n; i++)
		{
			bool		isnull;
			StringInfoData s;
			char	   *type;
			bytea	   *b;

			initStringInfo(&s);
			(void) lg_append_value(&s, lg_col(tt, i, 1, &isnull), lg_col(tt, i, 2, &isnull),
								   lg_text_col(tt, i, 3), DatumGetUUIDP(lg_col(tt, i, 4, &isnull)), &type, &b, NULL);
			whole[i] = s.data;
		}
		for (i = 0; i < n; i++)
		{
			bool		isnull;
			Datum		a[5] = {lg_col(tt, i, 1, &isnull), lg_col(tt, i, 2, &isnull), lg_col(tt, i, 3, &isnull),
			lg_col(tt, i, 4, &isnull), DirectFunctionCall1(jsonb_in, CStringGetDatum(whole[i]))};

			sg_spi_run("UPDATE stategraph.lg_blobs SET base = NULL, value = $5 "
					   "WHERE thread_id OPERATOR(pg_catalog.=) $1 AND checkpoint_ns OPERATOR(pg_catalog.=) $2 "
					   "AND channel OPERATOR(pg_catalog.=) $3 AND writer OPERATOR(pg_catalog.=) $4",
					   5, types, a, NULL);
		}
	}
	lg_exec_array(psprintf("%sDELETE FROM stategraph.lg_blobs b WHERE b.thread_id OPERATOR(pg_catalog.=) ANY ($1) "
						   "AND NOT EXISTS (SELECT 1 FROM live l WHERE l.thread_id OPERATOR(pg_catalog.=) b.thread_id "
						   "AND l.checkpoint_ns OPERATOR(pg_catalog.=) b.checkpoint_ns AND l.channel OPERATOR(pg_catalog.=) b.channel "
						   "AND l.writer OPERATOR(pg_catalog.=) b.writer)", live), threads);
	lg_exec_array("DELETE FROM stategraph.lg_writes w WHERE w.thread_id OPERATOR(pg_catalog.=) ANY ($1) "
				  "AND NOT EXISTS (SELECT 1 FROM stategraph.lg_checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) w.thread_id "
				  "AND c.checkpoint_ns OPERATOR(pg_catalog.=) w.checkpoint_ns AND c.checkpoint_id OPERATOR(pg_catalog.=) w.checkpoint_id)",
				  threads);
}

PG_FUNCTION_INFO_V1(sg_lg_prune);

/* sg_lg_prune(thread_ids, strategy) -> bigint */
Datum
sg_lg_prune(PG_FUNCTION_ARGS)
{
	char	   *strategy = PG_ARGISNULL(1) ? "keep_latest" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	Datum		threads;
	uint64		n;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("thread_ids must not be null")));
	if (strcmp(strategy, "keep_latest") != 0 && strcmp(strategy, "delete") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown prune strategy \"%s\"", strategy),
				 errhint("Use \"keep_latest\" or \"delete\".")));
	threads = PG_GETARG_DATUM(0);
	sg_spi_connect();
	if (strcmp(strategy, "delete") == 0)
		n = lg_delete_threads(threads);
	else
	{
		n = lg_exec_array("DELETE FROM stategraph.lg_checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) ANY ($1) "
						  "AND c.checkpoint_id OPERATOR(pg_catalog.<>) (SELECT c2.checkpoint_id "
						  "FROM stategraph.lg_checkpoints c2 WHERE c2.thread_id OPERATOR(pg_catalog.=) c.thread_id "
						  "AND c2.checkpoint_ns OPERATOR(pg_catalog.=) c.checkpoint_ns ORDER BY c2.checkpoint_id DESC LIMIT 1)", threads);
		lg_collect(threads);
	}
	sg_spi_finish();
	PG_RETURN_INT64((int64) n);
}

PG_FUNCTION_INFO_V1(sg_lg_delete_for_runs);

/* sg_lg_delete_for_runs(run_ids) -> bigint */
Datum
sg_lg_delete_for_runs(PG_FUNCTION_ARGS)
{
	uint64		n;
	Datum	   *ids;
	uint64		i;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("run_ids must not be null")));
	sg_spi_connect();
	n = lg_exec_array("DELETE FROM stategraph.lg_checkpoints WHERE metadata OPERATOR(pg_catalog.->>) 'run_id' "
					  "OPERATOR(pg_catalog.=) ANY ($1) RETURNING thread_id", PG_GETARG_DATUM(0));
	if (n > 0)
	{
		SPITupleTable *tt = SPI_tuptable;
		bool		isnull;

		ids = palloc(sizeof(Datum) * n);
		for (i = 0; i < n; i++)
			ids[i] = lg_col(tt, i, 1, &isnull);
		lg_collect(PointerGetDatum(construct_array(ids, (int) n, TEXTOID, -1, false, TYPALIGN_INT)));
	}
	sg_spi_finish();
	PG_RETURN_INT64((int64) n);
}

/* ---------------------------------------------------------------------------
 * LangGraph.js threads in SQL: sg_threads, sg_get_state, sg_get_state_history
 * ---------------------------------------------------------------------------
 */

/* A channel LangGraph keeps for itself (triggers, inputs, Send tasks), not state. */
static bool
lg_internal_channel(const char *name, int len)
{
	return (len >= 2 && name[0] == '_' && name[1] == '_') ||
		(len >= 10 && strncmp(name, "branch:to:", 10) == 0) ||
		(len >= 5 && strncmp(name, "join:", 5) == 0);
}

/* -1, 0, 1: LangGraph channel versions (numbers, or strings) compared; 2: not comparable. */
static int
lg_version_cmp(JsonbValue *a, JsonbValue *b)
{
	if (a->type == jbvNumeric && b->type == jbvNumeric)
		return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(a->val.numeric),
												 NumericGetDatum(b->val.numeric)));
	if (a->type == jbvString && b->type == jbvString)
	{
		int			c = varstr_cmp(a->val.string.val, a->val.string.len,
								   b->val.string.val, b->val.string.len, C_COLLATION_OID);

		return c < 0 ? -1 : c > 0;
	}
	return 2;
}

/*
 * The nodes a LangGraph checkpoint will run next: those whose trigger
 * channel ("__start__" for the input, "branch:to:<node>" for edges) holds a
 * value (blobs: a consumed trigger is emptied) with a version the node has
 * not seen (versions_seen). Joins and Send tasks are not resolved (their
 * nodes are named by LangGraph.js only).
 */
static List *
lg_next_nodes(Jsonb *cp, Jsonb *blobs)
{
	JsonbValue *versions = lg_find(cp, "channel_versions");
	JsonbValue *seen = lg_find(cp, "versions_seen");
	JsonbIterator *it;
	JsonbValue	k, v;
	JsonbIteratorToken r;
	List	   *next = NIL;

	if (versions == NULL || versions->type != jbvBinary)
		return NIL;
	it = JsonbIteratorInit(versions->val.binary.data);
	while ((r = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		char	   *channel, *node;
		JsonbValue *node_seen = NULL, *ver = NULL;

		if (r != WJB_KEY)
			continue;
		channel = pnstrdup(k.val.string.val, k.val.string.len);
		(void) JsonbIteratorNext(&it, &v, true);
		if (strcmp(channel, SG_START_NAME) == 0)
			node = channel;
		else if (strncmp(channel, "branch:to:", 10) == 0)
			node = channel + 10;
		else
			continue;
		if (lg_find(blobs, channel) == NULL)
			continue;			/* no value: consumed */
		if (seen && seen->type == jbvBinary)
			node_seen = getKeyJsonValueFromContainer(seen->val.binary.data, node, strlen(node), NULL);
		if (node_seen && node_seen->type == jbvBinary)
			ver = getKeyJsonValueFromContainer(node_seen->val.binary.data, channel, strlen(channel), NULL);
		if (ver == NULL || lg_version_cmp(&v, ver) == 1)
			next = lappend(next, node);
	}
	return next;
}

/* text[] of a list of names, sorted as LangGraph lists next nodes. */
static Datum
lg_names_array(List *names)
{
	Datum	   *d = palloc(sizeof(Datum) * (list_length(names) + 1));
	ListCell   *lc;
	int			n = 0;

	list_sort(names, (list_sort_comparator) pg_qsort_strcmp);
	foreach(lc, names)
		d[n++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(lg_next);

/* stategraph.lg_next(checkpoint jsonb, blobs jsonb) -> text[]: the next nodes of a LangGraph checkpoint row. */
Datum
lg_next(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(lg_names_array(lg_next_nodes(PG_GETARG_JSONB_P(0), PG_GETARG_JSONB_P(1))));
}

/* The state values of a checkpoint row: its JSON channel values, internal channels left out. */
static Jsonb *
lg_state_values(Datum thread, Datum ns, Jsonb *blobs, LGValueCache *cache)
{
	StringInfoData s;
	Jsonb	   *doc;
	JsonbValue *vals;
	JsonbParseState *ps = NULL;
	JsonbIterator *it;
	JsonbValue	k, v;
	JsonbIteratorToken r;
	JsonbValue *res;

	initStringInfo(&s);
	appendStringInfoChar(&s, '{');
	lg_append_values(&s, thread, ns, blobs, cache);
	appendStringInfoChar(&s, '}');
	doc = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data)));
	vals = lg_find(doc, "channel_values");
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	it = JsonbIteratorInit(vals->val.binary.data);
	while ((r = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		if (r != WJB_KEY)
			continue;
		(void) JsonbIteratorNext(&it, &v, true);
		if (lg_internal_channel(k.val.string.val, k.val.string.len))
			continue;
		pushJsonbValue(&ps, WJB_KEY, &k);
		pushJsonbValue(&ps, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/*
 * The tasks and interrupts of a checkpoint row from its pending writes:
 * one task per task id, {id, name: null, error, interrupts, result}.
 */
static Jsonb *
lg_state_tasks(Datum thread, Datum ns, Datum id, Jsonb **interrupts)
{
	Datum		k[3] = {thread, ns, id};
	SPITupleTable *tt;
	uint64		n, i = 0;
	SGJsonBuilder b = {0};
	SGJsonBuilder ib = {0};

	n = lg_run(LGP_WRITES, k, NULL, 0);
	tt = SPI_tuptable;
	sg_jb_begin_array(&b);
	sg_jb_begin_array(&ib);
	while (i < n)
	{
		char	   *task = lg_text_col(tt, i, 1);
		Jsonb	   *error = NULL;
		List	   *intr = NIL;
		SGJsonBuilder rb = {0};
		ListCell   *lc;

		sg_jb_begin_object(&rb);
		for (; i < n && strcmp(lg_text_col(tt, i, 1), task) == 0; i++)
		{
			char	   *channel = lg_text_col(tt, i, 2);
			Jsonb	   *v = lg_jsonb_col(tt, i, 3);

			if (v == NULL)
				continue;		/* typed bytes: not shown */
			if (strcmp(channel, "__error__") == 0)
				error = v;
			else if (strcmp(channel, "__interrupt__") == 0)
				intr = lappend(intr, v);
			else if (!lg_internal_channel(channel, strlen(channel)))
			{
				sg_jb_key(&rb, channel);
				sg_jb_jsonb(&rb, v);
			}
		}
		sg_jb_end_object(&rb);
		sg_jb_begin_object(&b);
		sg_jb_key(&b, "id");
		sg_jb_string(&b, task);
		sg_jb_key(&b, "name");
		sg_jb_null(&b);
		sg_jb_key(&b, "error");
		if (error)
			sg_jb_jsonb(&b, error);
		else
			sg_jb_null(&b);
		sg_jb_key(&b, "interrupts");
		sg_jb_begin_array(&b);
		foreach(lc, intr)
		{
			sg_jb_jsonb(&b, lfirst(lc));
			sg_jb_jsonb(&ib, lfirst(lc));
		}
		sg_jb_end_array(&b);
		sg_jb_key(&b, "result");
		sg_jb_jsonb(&b, sg_jb_finish(&rb));
		sg_jb_end_object(&b);
	}
	sg_jb_end_array(&ib);
	*interrupts = sg_jb_finish(&ib);
	sg_jb_end_array(&b);
	return sg_jb_finish(&b);
}

/* Columns of the snapshot queries (LGP_CP_GET / LGP_HEAD shape plus created_at). */
#define SNAP_CREATED	6

/* An sg_snapshot row of row i of a snapshot query. */
static HeapTuple
lg_snapshot_tuple(TupleDesc desc, SPITupleTable *tt, uint64 i, Datum thread, LGValueCache *cache)
{
	Datum		values[12];
	bool		nulls[12];
	Datum		ns = CStringGetTextDatum("");
	Jsonb	   *cp = lg_jsonb_col(tt, i, CP_CHECKPOINT);
	Jsonb	   *meta = lg_jsonb_col(tt, i, CP_METADATA);
	JsonbValue *step = lg_find(meta, "step");
	char	   *source = lg_find_string(meta, "source");
	Jsonb	   *interrupts;

	memset(nulls, 0, sizeof(nulls));
	values[0] = thread;
	values[1] = ns;
	values[2] = lg_col(tt, i, CP_ID, &nulls[2]);
	values[3] = lg_col(tt, i, CP_PARENT, &nulls[3]);
	if (step && step->type == jbvNumeric)
		values[4] = DirectFunctionCall1(numeric_int4, NumericGetDatum(step->val.numeric));
	else
		nulls[4] = true;
	values[5] = source ? CStringGetTextDatum(source) : (Datum) 0;
	nulls[5] = source == NULL;
	values[6] = JsonbPGetDatum(lg_state_values(thread, ns, lg_jsonb_col(tt, i, CP_BLOBS), cache));
	values[7] = lg_names_array(lg_next_nodes(cp, lg_jsonb_col(tt, i, CP_BLOBS)));
	values[8] = JsonbPGetDatum(lg_state_tasks(thread, ns, values[2], &interrupts));
	values[9] = JsonbPGetDatum(interrupts);
	values[10] = JsonbPGetDatum(meta);
	values[11] = lg_col(tt, i, SNAP_CREATED, &nulls[11]);
	return heap_form_tuple(desc, values, nulls);
}

/* Whether a LangGraph.js thread of this id is stored (root namespace). */
bool
sg_lg_thread_exists(const char *thread_id)
{
	static SPIPlanPtr plan;
	Oid			t = TEXTOID;
	Datum		k = CStringGetTextDatum(thread_id);

	if (sg_schema_is_010())
		return false;			/* no LangGraph.js tables before ALTER EXTENSION UPDATE */
	sg_spi_prepare(&plan, "SELECT 1 FROM stategraph.lg_checkpoints WHERE thread_id OPERATOR(pg_catalog.=) $1 "
				   "AND checkpoint_ns OPERATOR(pg_catalog.=) '' LIMIT 1", 1, &t);
	return sg_spi_execute(plan, &k, NULL, 1) > 0;
}

/* sg_get_state of a LangGraph.js thread (checkpoint id NULL: its newest). */
HeapTuple
sg_lg_get_state(TupleDesc desc, const char *thread_id, const pg_uuid_t *id)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {TEXTOID, UUIDOID};
	Datum		k[2] = {CStringGetTextDatum(thread_id), id ? lg_uuid_datum(id) : (Datum) 0};
	char		nulls[2] = {' ', id ? ' ' : 'n'};

	sg_spi_prepare(&plan, "SELECT checkpoint_id, parent_checkpoint_id, checkpoint, metadata, blobs, created_at "
				   "FROM stategraph.lg_checkpoints WHERE thread_id OPERATOR(pg_catalog.=) $1 "
				   "AND checkpoint_ns OPERATOR(pg_catalog.=) '' "
				   "AND ($2::uuid IS NULL OR checkpoint_id OPERATOR(pg_catalog.=) $2) "
				   "ORDER BY checkpoint_id DESC LIMIT 1", 2, types);
	if (sg_spi_execute(plan, k, nulls, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("checkpoint %s of thread \"%s\" does not exist", sg_uuid_to_cstring(id), thread_id)));
	return lg_snapshot_tuple(desc, SPI_tuptable, 0, k[0], NULL);
}

/* sg_get_state_history of a LangGraph.js thread, newest first, into rsinfo's tuplestore. */
void
sg_lg_get_state_history(ReturnSetInfo *rsinfo, const char *thread_id, int limit,
						const pg_uuid_t *before, Jsonb *filter)
{
	static SPIPlanPtr plan;
	Oid			types[4] = {TEXTOID, UUIDOID, JSONBOID, INT8OID};
	Datum		k[4] = {CStringGetTextDatum(thread_id), before ? lg_uuid_datum(before) : (Datum) 0,
	filter ? JsonbPGetDatum(filter) : (Datum) 0, Int64GetDatum(limit)};
	char		nulls[4] = {' ', before ? ' ' : 'n', filter ? ' ' : 'n', limit < 0 ? 'n' : ' '};
	SPITupleTable *tt;
	uint64		n, i;
	HeapTuple  *rows;
	LGValueCache cache = {NIL};

	sg_spi_prepare(&plan, "SELECT checkpoint_id, parent_checkpoint_id, checkpoint, metadata, blobs, created_at "
				   "FROM stategraph.lg_checkpoints WHERE thread_id OPERATOR(pg_catalog.=) $1 "
				   "AND checkpoint_ns OPERATOR(pg_catalog.=) '' "
				   "AND ($2::uuid IS NULL OR checkpoint_id OPERATOR(pg_catalog.<) $2) "
				   "AND ($3::jsonb IS NULL OR metadata OPERATOR(pg_catalog.@>) $3) "
				   "ORDER BY checkpoint_id DESC LIMIT $4", 4, types);
	n = sg_spi_execute(plan, k, nulls, 0);
	tt = SPI_tuptable;
	rows = palloc(sizeof(HeapTuple) * (n + 1));
	for (i = n; i-- > 0;)		/* oldest first: see sg_lg_list */
		rows[i] = lg_snapshot_tuple(rsinfo->setDesc, tt, i, k[0], &cache);
	for (i = 0; i < n; i++)
		tuplestore_puttuple(rsinfo->setResult, rows[i]);
}
