/*-------------------------------------------------------------------------
 *
 * checkpoint.c
 *		Checkpoint storage: ids, thread locks, thread and checkpoint rows,
 *		and rebuilding the state of any checkpoint.
 *
 * Layout. A checkpoint row does not hold a copy of the state. It holds the
 * writes that produced it from its parent ([[task, update], ...], which are
 * also the tasks' results that history shows), and sometimes:
 *	 image	the whole value of a channel at this checkpoint, or for an append
 *			channel a segment: the elements appended since its previous image;
 *	 refs	for a segment, the id of the row holding that previous image; for
 *			a channel that has not changed for a while, the id of the row
 *			(of the same thread) where its value is stored, or null for an
 *			empty channel.
 * A thread's first row has a complete image (the channel defaults).
 *
 * Reading the state of a checkpoint walks its ancestors newest first, with
 * one backward index range scan over (thread_id, checkpoint_id): ids are
 * time-ordered and a child is always created after its parent, so each
 * ancestor is met in turn; rows of other branches are skipped. Per channel
 * the walk stops at its image, its last write (replace channels), or a
 * reference; append channels collect their writes back to their newest
 * segment, then follow the segments' pointers down to a full image.
 *
 * Writing decides, per channel, when an image or reference is worth it, so
 * that the walk stays short without copying unchanged channels into every
 * row:
 *	 - replace and "image" channels: after SG_REF_DISTANCE rows without a
 *	   change, store a reference (or the value itself when it is smaller
 *	   than a reference);
 *	 - channels with add, merge or custom reducers store every new value
 *	   whole (so reading never calls a user's reducer);
 *	 - append channels store only what each step appends, and a segment once
 *	   the appended bytes (plus a cost per row walked) outweigh the value at
 *	   the previous image. Segments thus grow geometrically (a read follows
 *	   a logarithmic number of them), and no element is in two of them:
 *	   storage stays linear in the length of the conversation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "common/md5.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define SG_REF_DISTANCE		16		/* rows a reader may walk for an unchanged channel */
#define SG_SMALL_VALUE		64		/* bytes: below this an image beats a reference */
#define SG_ROW_COST			64		/* bytes: what walking one row is worth */
#define SG_MIN_IMAGE		1024	/* bytes: smallest base an append image is sized against */
#define SG_IMAGE_RATIO_NUM	1		/* new append segment when walk cost >= the value at the last */
#define SG_IMAGE_RATIO_DEN	1

#define SG_LOCK_FIELD4		0x5347	/* 'SG': our advisory locks in pg_locks.objsubid */

const char *sg_checkpoint_columns = SG_CHECKPOINT_COLUMNS;

/* The columns of a thread row as sg_thread_fetch reads them, and their numbers. */
#define THREAD_COLUMNS \
	"thread_id, graph, channels, head, status, created_at, updated_at, xmin"
#define Anum_thread_thread_id	1
#define Anum_thread_graph		2
#define Anum_thread_channels	3
#define Anum_thread_head		4
#define Anum_thread_status		5
#define Anum_thread_created_at	6
#define Anum_thread_updated_at	7
#define Anum_thread_xmin		8

/* ---------------------------------------------------------------------------
 * Uuids as SPI arguments and as text
 * ---------------------------------------------------------------------------
 */

/* A uuid as a Datum of its own (a palloc'd copy). */
static Datum
uuid_datum(const pg_uuid_t *id)
{
	pg_uuid_t  *copy = palloc(sizeof(pg_uuid_t));

	memcpy(copy, id, sizeof(pg_uuid_t));
	return UUIDPGetDatum(copy);
}

/* A uuid as text. */
char *
sg_uuid_to_cstring(const pg_uuid_t *id)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, uuid_datum(id)));
}

/* A uuid from its text. */
static pg_uuid_t
uuid_from_cstring(const char *s)
{
	pg_uuid_t  *u = DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(s)));

	return *u;
}

/* ---------------------------------------------------------------------------
 * Ids
 * ---------------------------------------------------------------------------
 */

/* Add one to the random bits of a version 7 uuid, carrying into the timestamp. */
static void
uuid7_increment(pg_uuid_t *u)
{
	int			i;

	for (i = UUID_LEN - 1; i >= 0; i--)
	{
		/* skip the version nibble and variant bits by carrying over them */
		if (i == 8)
		{
			uint8		low = u->data[8] & 0x3F;

			low = (low + 1) & 0x3F;
			u->data[8] = (u->data[8] & 0xC0) | low;
			if (low != 0)
				return;
			continue;
		}
		if (i == 6)
		{
			uint8		low = u->data[6] & 0x0F;

			low = (low + 1) & 0x0F;
			u->data[6] = (u->data[6] & 0xF0) | low;
			if (low != 0)
				return;
			continue;
		}
		if (++u->data[i] != 0)
			return;
	}
}

/*
 * A new UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random
 * bits. Ids made by one backend always increase, and an id is always greater
 * than after and also_after (the parent, and the thread's newest checkpoint,
 * which another backend may have made in the same millisecond), so within a
 * thread ORDER BY checkpoint_id is creation order.
 */
void
sg_new_checkpoint_id(pg_uuid_t *id, const pg_uuid_t *after, const pg_uuid_t *also_after)
{
	static pg_uuid_t last;
	static bool have_last = false;
	TimestampTz now = GetCurrentTimestamp();
	uint64		ms = (uint64) (now / 1000 + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000);
	const pg_uuid_t *floors[3] = {have_last ? &last : NULL, after, also_after};
	int			i;

	if (!pg_strong_random(id->data + 6, UUID_LEN - 6))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random values")));
	id->data[0] = (uint8) (ms >> 40);
	id->data[1] = (uint8) (ms >> 32);
	id->data[2] = (uint8) (ms >> 24);
	id->data[3] = (uint8) (ms >> 16);
	id->data[4] = (uint8) (ms >> 8);
	id->data[5] = (uint8) ms;
	id->data[6] = (id->data[6] & 0x0F) | 0x70;	/* version 7 */
	id->data[8] = (id->data[8] & 0x3F) | 0x80;	/* variant 10 */

	for (i = 0; i < 3; i++)
		if (floors[i] != NULL && memcmp(id->data, floors[i]->data, UUID_LEN) <= 0)
		{
			*id = *floors[i];
			uuid7_increment(id);
		}
	last = *id;
	have_last = true;
}

/* A task's id: a hash of its checkpoint, node and position, as a uuid. */
void
sg_task_id(const pg_uuid_t *checkpoint, const char *node, int index, char *out)
{
	char	   *key = psprintf("%s|%s|%d", sg_uuid_to_cstring(checkpoint), node, index);
	char		hex[33];
	const char *errstr = NULL;

	if (!pg_md5_hash(key, strlen(key), hex, &errstr))
		elog(ERROR, "could not compute task id: %s", errstr);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

/* ---------------------------------------------------------------------------
 * Thread locks: one advisory lock per thread
 * ---------------------------------------------------------------------------
 */
static void
thread_locktag(LOCKTAG *tag, const char *thread_id)
{
	uint64		h = hash_bytes_extended((const unsigned char *) thread_id, strlen(thread_id), 0x5347);

	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h, SG_LOCK_FIELD4);
}

/*
 * Take the lock of a thread for this transaction (or, for sg_run, the
 * session). Waits unless stategraph.lock_wait is off; lock_timeout applies.
 */
void
sg_lock_thread(const char *thread_id, bool session)
{
	LOCKTAG		tag;

	/* every change of a thread takes its lock first: refuse it here on a standby */
	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot change thread \"%s\" in a read-only transaction", thread_id),
				 RecoveryInProgress() ?
				 errhint("This server is a hot standby: reads work here, changes go to the primary.") : 0));
	thread_locktag(&tag, thread_id);
	if (LockAcquire(&tag, ExclusiveLock, session, !sg_lock_wait) == LOCKACQUIRE_NOT_AVAIL)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("thread \"%s\" is busy", thread_id),
				 errdetail("Another session is running or changing it."),
				 errhint("Retry later, or SET stategraph.lock_wait = on to wait for it.")));
}

/* Take the lock of a thread for this transaction if it is free; false if busy. */
bool
sg_try_lock_thread(const char *thread_id)
{
	LOCKTAG		tag;

	thread_locktag(&tag, thread_id);
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

/* Release the (session or transaction) lock of a thread, if this session holds it. */
void
sg_unlock_thread(const char *thread_id, bool session)
{
	LOCKTAG		tag;

	thread_locktag(&tag, thread_id);
	if (LockHeldByMe(&tag, ExclusiveLock))
		LockRelease(&tag, ExclusiveLock, session);
}

/* Is another session holding the thread's lock right now? */
bool
sg_thread_is_busy(const char *thread_id)
{
	if (!sg_try_lock_thread(thread_id))
		return true;
	sg_unlock_thread(thread_id, false);
	return false;
}

/* ---------------------------------------------------------------------------
 * Thread rows
 * ---------------------------------------------------------------------------
 */
/* A thread from row 0 of SPI_tuptable (THREAD_COLUMNS), copied into the current context. */
static SGThread *
thread_from_result(void)
{
	SGThread   *th = palloc0(sizeof(SGThread));
	bool		isnull;

	th->thread_id = TextDatumGetCString(sg_spi_datum(0, Anum_thread_thread_id, &isnull));
	th->graph = TextDatumGetCString(sg_spi_datum(0, Anum_thread_graph, &isnull));
	th->channels = sg_spi_jsonb(0, Anum_thread_channels);
	th->has_head = sg_spi_uuid(0, Anum_thread_head, &th->head);
	th->status = TextDatumGetCString(sg_spi_datum(0, Anum_thread_status, &isnull));
	th->created_at = DatumGetTimestampTz(sg_spi_datum(0, Anum_thread_created_at, &isnull));
	th->updated_at = DatumGetTimestampTz(sg_spi_datum(0, Anum_thread_updated_at, &isnull));
	th->xmin = DatumGetTransactionId(sg_spi_datum(0, Anum_thread_xmin, &isnull));
	return th;
}

/*
 * The row of a thread, or NULL. Callers that change a thread take its
 * advisory lock, then the row with for_update: that waits for an sg_prune
 * that has released the thread's lock but not yet committed (see
 * retention.c), and in REPEATABLE READ and SERIALIZABLE makes a concurrent
 * change an error.
 */
SGThread *
sg_thread_fetch(const char *thread_id, bool for_update)
{
	static SPIPlanPtr plan[2];
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	int			i = for_update ? 1 : 0;

	sg_spi_prepare(&plan[i], for_update ?
				   "SELECT " THREAD_COLUMNS " "
				   "FROM stategraph.threads WHERE thread_id OPERATOR(pg_catalog.=) $1 FOR UPDATE" :
				   "SELECT " THREAD_COLUMNS " "
				   "FROM stategraph.threads WHERE thread_id OPERATOR(pg_catalog.=) $1",
				   1, types);
	values[0] = CStringGetTextDatum(thread_id);
	if (sg_spi_execute(plan[i], values, NULL, 1) == 0)
		return NULL;
	return thread_from_result();
}

/* The row of a thread, which must exist. */
SGThread *
sg_thread_fetch_required(const char *thread_id, bool for_update)
{
	SGThread   *th = sg_thread_fetch(thread_id, for_update);

	if (th == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("thread \"%s\" does not exist", thread_id)));
	return th;
}

/* A new thread row, with its newest checkpoint and status. */
void
sg_thread_create(const char *thread_id, const char *graph, Jsonb *channels, const pg_uuid_t *head,
				 const char *status)
{
	static SPIPlanPtr plan;
	Oid			types[5] = {TEXTOID, TEXTOID, JSONBOID, UUIDOID, TEXTOID};
	Datum		values[5];

	sg_spi_prepare(&plan,
				   "INSERT INTO stategraph.threads (thread_id, graph, channels, head, status, updated_at) "
				   "VALUES ($1, $2, $3, $4, $5, pg_catalog.clock_timestamp()) "
				   "ON CONFLICT (thread_id) DO NOTHING", 5, types);
	values[0] = CStringGetTextDatum(thread_id);
	values[1] = CStringGetTextDatum(graph);
	values[2] = JsonbPGetDatum(channels);
	values[3] = uuid_datum(head);
	values[4] = CStringGetTextDatum(status);
	/*
	 * The caller holds the thread's lock and saw no row, so a row can only
	 * be one committed after this transaction's snapshot was taken
	 * (REPEATABLE READ: PostgreSQL reports a serialization failure itself).
	 */
	if (sg_spi_execute(plan, values, NULL, 0) > 0)
		return;
	/* a row this role cannot see, even with a new snapshot, is another role's */
	if (!IsolationUsesXactSnapshot() && sg_thread_fetch(thread_id, false) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("thread \"%s\" belongs to another role", thread_id),
				 errdetail("Thread ids are one namespace shared by every role; only the owner of a thread can see or change it."),
				 errhint("Use another thread id.")));
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("could not create thread \"%s\": another transaction created it", thread_id),
			 errhint("Retry the transaction.")));
}

/* Record a thread's newest checkpoint and status (and its channel kinds, if given). */
void
sg_thread_set(const char *thread_id, const pg_uuid_t *head, const char *status, Jsonb *channels)
{
	static SPIPlanPtr plan;
	Oid			types[4] = {TEXTOID, UUIDOID, TEXTOID, JSONBOID};
	Datum		values[4];
	char		nulls[4] = {' ', head ? ' ' : 'n', ' ', channels ? ' ' : 'n'};

	sg_spi_prepare(&plan,
				   "UPDATE stategraph.threads SET head = $2, status = $3, "
				   "channels = COALESCE($4, channels), updated_at = pg_catalog.clock_timestamp() "
				   "WHERE thread_id OPERATOR(pg_catalog.=) $1", 4, types);
	values[0] = CStringGetTextDatum(thread_id);
	values[1] = head ? uuid_datum(head) : (Datum) 0;
	values[2] = CStringGetTextDatum(status);
	values[3] = channels ? JsonbPGetDatum(channels) : (Datum) 0;
	sg_state_cache_forget(thread_id);
	sg_spi_execute(plan, values, nulls, 0);
}

/*
 * Give a thread's row a new version without changing it, after its
 * checkpoint rows changed under the same head (sg_prune): every backend's
 * cached state of the thread, which may point at removed rows, is then
 * out of date.
 */
void
sg_thread_touch(const char *thread_id)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];

	sg_spi_prepare(&plan,
				   "UPDATE stategraph.threads SET head = head "
				   "WHERE thread_id OPERATOR(pg_catalog.=) $1", 1, types);
	values[0] = CStringGetTextDatum(thread_id);
	sg_state_cache_forget(thread_id);
	sg_spi_execute(plan, values, NULL, 0);
}

/* ---------------------------------------------------------------------------
 * Checkpoint rows
 * ---------------------------------------------------------------------------
 */
/* A jsonb column of a tuple, copied into the current context (NULL when null). */
static Jsonb *
jsonb_column(HeapTuple t, TupleDesc d, int col)
{
	bool		isnull;
	Datum		v = SPI_getbinval(t, d, col, &isnull);

	return isnull ? NULL : DatumGetJsonbPCopy(v);
}

/* A checkpoint from a row of sg_checkpoint_columns, copied into the current context. */
SGCheckpoint *
sg_checkpoint_from_tuple(HeapTuple t, TupleDesc d)
{
	SGCheckpoint *cp = palloc0(sizeof(SGCheckpoint));
	bool		isnull;
	Datum		v;
	ArrayType  *arr;
	Datum	   *elems;
	int			i;

	cp->thread_id = TextDatumGetCString(SPI_getbinval(t, d, Anum_checkpoint_thread_id, &isnull));
	cp->id = *DatumGetUUIDP(SPI_getbinval(t, d, Anum_checkpoint_checkpoint_id, &isnull));
	v = SPI_getbinval(t, d, Anum_checkpoint_parent_id, &isnull);
	cp->has_parent = !isnull;
	if (!isnull)
		cp->parent_id = *DatumGetUUIDP(v);
	v = SPI_getbinval(t, d, Anum_checkpoint_parent_thread, &isnull);
	cp->parent_thread = isnull ? NULL : TextDatumGetCString(v);
	cp->step = DatumGetInt32(SPI_getbinval(t, d, Anum_checkpoint_step, &isnull));
	cp->source = TextDatumGetCString(SPI_getbinval(t, d, Anum_checkpoint_source, &isnull));
	arr = DatumGetArrayTypeP(SPI_getbinval(t, d, Anum_checkpoint_next, &isnull));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &cp->nnext);
	cp->next = palloc(sizeof(char *) * (cp->nnext + 1));
	for (i = 0; i < cp->nnext; i++)
		cp->next[i] = TextDatumGetCString(elems[i]);
	cp->writes = jsonb_column(t, d, Anum_checkpoint_writes);
	cp->image = jsonb_column(t, d, Anum_checkpoint_image);
	cp->image_complete = DatumGetBool(SPI_getbinval(t, d, Anum_checkpoint_image_complete, &isnull));
	cp->refs = jsonb_column(t, d, Anum_checkpoint_refs);
	cp->barriers = jsonb_column(t, d, Anum_checkpoint_barriers);
	cp->sends = jsonb_column(t, d, Anum_checkpoint_sends);
	cp->pending = jsonb_column(t, d, Anum_checkpoint_pending);
	cp->meta = jsonb_column(t, d, Anum_checkpoint_meta);
	cp->created_at = DatumGetTimestampTz(SPI_getbinval(t, d, Anum_checkpoint_created_at, &isnull));
	return cp;
}

/* Checkpoint id of a thread, or NULL. */
SGCheckpoint *
sg_checkpoint_fetch(const char *thread_id, const pg_uuid_t *id)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {TEXTOID, UUIDOID};
	Datum		values[2];

	sg_spi_prepare(&plan,
				   "SELECT " SG_CHECKPOINT_COLUMNS " FROM stategraph.checkpoints "
				   "WHERE thread_id OPERATOR(pg_catalog.=) $1 "
				   "AND checkpoint_id OPERATOR(pg_catalog.=) $2", 2, types);
	values[0] = CStringGetTextDatum(thread_id);
	values[1] = uuid_datum(id);
	if (sg_spi_execute(plan, values, NULL, 1) == 0)
		return NULL;
	return sg_checkpoint_from_tuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
}

/* Checkpoint id of a thread, which must exist. */
SGCheckpoint *
sg_checkpoint_fetch_required(const char *thread_id, const pg_uuid_t *id)
{
	SGCheckpoint *cp = sg_checkpoint_fetch(thread_id, id);

	if (cp == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("checkpoint %s does not exist in thread \"%s\"", sg_uuid_to_cstring(id), thread_id)));
	return cp;
}

/* The writes of the loop checkpoint that followed id, or NULL: the results of id's tasks. */
Jsonb *
sg_checkpoint_child_writes(const char *thread_id, const pg_uuid_t *id)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {TEXTOID, UUIDOID};
	Datum		values[2];

	sg_spi_prepare(&plan,
				   "SELECT writes FROM stategraph.checkpoints "
				   "WHERE thread_id OPERATOR(pg_catalog.=) $1 "
				   "AND checkpoint_id OPERATOR(pg_catalog.>) $2 "
				   "AND parent_id OPERATOR(pg_catalog.=) $2 AND parent_thread IS NULL "
				   "AND source OPERATOR(pg_catalog.=) 'loop' "
				   "ORDER BY checkpoint_id LIMIT 1", 2, types);
	values[0] = CStringGetTextDatum(thread_id);
	values[1] = uuid_datum(id);
	if (sg_spi_execute(plan, values, NULL, 1) == 0)
		return NULL;
	return sg_spi_jsonb(0, SG_SOLE_COLUMN);
}

/* Store the pending writes of checkpoint id (NULL: none). */
void
sg_checkpoint_set_pending(const char *thread_id, const pg_uuid_t *id, Jsonb *pending)
{
	static SPIPlanPtr plan;
	Oid			types[3] = {TEXTOID, UUIDOID, JSONBOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', pending ? ' ' : 'n'};

	sg_spi_prepare(&plan,
				   "UPDATE stategraph.checkpoints SET pending = $3 "
				   "WHERE thread_id OPERATOR(pg_catalog.=) $1 "
				   "AND checkpoint_id OPERATOR(pg_catalog.=) $2", 3, types);
	values[0] = CStringGetTextDatum(thread_id);
	values[1] = uuid_datum(id);
	values[2] = pending ? JsonbPGetDatum(pending) : (Datum) 0;
	sg_spi_execute(plan, values, nulls, 0);
}

/* ---------------------------------------------------------------------------
 * Rebuilding states
 *
 * Rows are read in place: values are JsonbValues pointing into the fetched
 * tuples, and only what the state keeps is copied, at the end.
 * ---------------------------------------------------------------------------
 */

/* obj[key] as a JsonbValue (in place), or NULL when obj is NULL or has no key. */
static JsonbValue *
find_key(Jsonb *obj, const char *key)
{
	JsonbValue	k;

	if (obj == NULL || !JB_ROOT_IS_OBJECT(obj))
		return NULL;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(&obj->root, JB_FOBJECT, &k);
}

/* The writes to a channel in a row's writes ([[task, update], ...]), in apply order. */
static List *
writes_to(Jsonb *writes, const char *channel)
{
	List	   *out = NIL;
	JsonbValue	k;
	int			i,
				n;

	if (writes == NULL || !sg_jsonb_is_array(writes))
		return NIL;
	k.type = jbvString;
	k.val.string.val = (char *) channel;
	k.val.string.len = strlen(channel);
	n = JB_ROOT_COUNT(writes);
	for (i = 0; i < n; i++)
	{
		JsonbValue *pair = getIthJsonbValueFromContainer(&writes->root, i);
		JsonbValue *update;
		JsonbValue *v;

		if (pair == NULL || pair->type != jbvBinary)
			continue;
		update = getIthJsonbValueFromContainer(pair->val.binary.data, 1);
		if (update == NULL || update->type != jbvBinary ||
			!JsonContainerIsObject(update->val.binary.data))
			continue;
		v = findJsonbValueFromContainer(update->val.binary.data, JB_FOBJECT, &k);
		if (v != NULL)
			out = lappend(out, v);
	}
	return out;
}

/* base followed by the elements of parts (array JsonbValues, in place), as one new array. */
static Jsonb *
concat_values(JsonbValue *base, List *parts)
{
	JsonbContainer **arrays = palloc(sizeof(JsonbContainer *) * (list_length(parts) + 1));
	int			n = 0;
	ListCell   *lc;

	if (parts == NIL)
		return base ? JsonbValueToJsonb(base) : NULL;
	if (base != NULL && base->type == jbvBinary && JsonContainerIsArray(base->val.binary.data))
		arrays[n++] = base->val.binary.data;
	foreach(lc, parts)
	{
		JsonbValue *v = (JsonbValue *) lfirst(lc);

		if (v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data))
			arrays[n++] = v->val.binary.data;
	}
	return sg_jsonb_array_concat(n, arrays);
}

static Jsonb *
jsonb_datum(HeapTuple t, TupleDesc d, int col)
{
	bool		isnull;
	Datum		v = SPI_getbinval(t, d, col, &isnull);

	return isnull ? NULL : DatumGetJsonbP(v);
}

typedef struct RefFetch
{
	int			channel;
	pg_uuid_t	row;
	const char *thread;			/* segment chains: the thread the row is in */
} RefFetch;

/* The value of a channel as stored in one row (its image, else its last write). */
static Jsonb *
value_in_row(SGCheckpoint *row, const char *channel)
{
	JsonbValue *v = find_key(row->image, channel);
	List	   *w;

	if (v != NULL)
		return JsonbValueToJsonb(v);
	w = writes_to(row->writes, channel);
	return w ? JsonbValueToJsonb((JsonbValue *) llast(w)) : NULL;
}

/* Is a row's image of an append channel a segment (what was appended since an earlier image)? */
static bool
is_segment(SGChannelSet *cs, int c, Jsonb *refs, bool complete)
{
	JsonbValue *r;

	if (complete || cs->kinds[c] != SG_STORE_APPEND)
		return false;
	r = find_key(refs, cs->names[c]);
	return r != NULL && r->type == jbvString;
}

/*
 * Rebuild the state of checkpoint id of a thread (see the header comment).
 * *cp_out, if given, receives the checkpoint row itself. The state's track
 * tells the writer of the next row how far each channel's walk was.
 */
SGState *
sg_load_state(SGChannelSet *cs, const char *thread_id, const pg_uuid_t *id, SGCheckpoint **cp_out)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {TEXTOID, UUIDOID};
	SGState    *s = sg_state_new(cs->n);
	bool	   *resolved = palloc0(sizeof(bool) * (cs->n + 1));
	JsonbValue **base = palloc0(sizeof(JsonbValue *) * (cs->n + 1));
	List	  **deltas = palloc0(sizeof(List *) * (cs->n + 1));
	List	   *refs = NIL;
	List	   *segments = NIL;
	List	   *tuptables = NIL;
	int			nresolved = 0;
	int			depth = 0;
	bool		first = true;
	bool		same_thread = true;
	const char *cur_thread = thread_id;
	pg_uuid_t	expected = *id;
	bool		have_expected = true;
	int			batch = 16;
	int			c;
	ListCell   *lc;

	sg_spi_prepare(&plan,
				   "SELECT " SG_CHECKPOINT_COLUMNS " FROM stategraph.checkpoints "
				   "WHERE thread_id OPERATOR(pg_catalog.=) $1 "
				   "AND checkpoint_id OPERATOR(pg_catalog.<=) $2 "
				   "ORDER BY checkpoint_id DESC", 2, types);

	while (have_expected && nresolved < cs->n)
	{
		Datum		values[2];
		Portal		portal;
		bool		switched = false;

		values[0] = CStringGetTextDatum(cur_thread);
		values[1] = uuid_datum(&expected);
		portal = sg_spi_cursor_open(plan, values, NULL);

		while (!switched && have_expected && nresolved < cs->n)
		{
			SPITupleTable *tt;
			uint64		nrows;
			uint64		i;

			nrows = sg_spi_cursor_fetch(portal, batch);
			tt = SPI_tuptable;
			if (nrows == 0)
			{
				have_expected = false;
				break;
			}
			tuptables = lappend(tuptables, tt);
			batch = Min(batch * 4, 1024);
			for (i = 0; i < nrows && !switched && have_expected && nresolved < cs->n; i++)
			{
				HeapTuple	t = tt->vals[i];
				TupleDesc	d = tt->tupdesc;
				bool		isnull;
				Jsonb	   *writes,
						   *image,
						   *refs_col;
				bool		complete;
				Datum		parent;

				if (memcmp(DatumGetUUIDP(SPI_getbinval(t, d, Anum_checkpoint_checkpoint_id, &isnull))->data,
						   expected.data, UUID_LEN) != 0)
					continue;	/* a row of another branch */
				if (first)
				{
					SGCheckpoint *row = sg_checkpoint_from_tuple(t, d);

					if (cp_out)
						*cp_out = row;
					s->barriers = row->barriers;
					first = false;
				}
				writes = jsonb_datum(t, d, Anum_checkpoint_writes);
				image = jsonb_datum(t, d, Anum_checkpoint_image);
				complete = DatumGetBool(SPI_getbinval(t, d, Anum_checkpoint_image_complete, &isnull));
				refs_col = jsonb_datum(t, d, Anum_checkpoint_refs);

				for (c = 0; c < cs->n; c++)
				{
					const char *name = cs->names[c];
					JsonbValue *v;
					JsonbValue *r;

					if (resolved[c])
						continue;
					if (is_segment(cs, c, refs_col, complete) && (v = find_key(image, name)) != NULL)
					{
						/* a segment: what was appended since the image at r */
						RefFetch   *rf = palloc(sizeof(RefFetch));

						deltas[c] = lcons(v, deltas[c]);
						rf->channel = c;
						r = find_key(refs_col, name);
						rf->row = uuid_from_cstring(pnstrdup(r->val.string.val, r->val.string.len));
						rf->thread = cur_thread;
						segments = lappend(segments, rf);
						resolved[c] = true;
						nresolved++;
						s->track[c].rows = depth;
						s->track[c].has_loc = same_thread;
						s->track[c].loc = *DatumGetUUIDP(SPI_getbinval(t, d, Anum_checkpoint_checkpoint_id, &isnull));
						continue;
					}
					if (complete || (v = find_key(image, name)) != NULL)
					{
						base[c] = complete ? find_key(image, name) : v;
					}
					else if ((v = find_key(refs_col, name)) != NULL)
					{
						if (v->type == jbvString)
						{
							RefFetch   *rf = palloc(sizeof(RefFetch));

							rf->channel = c;
							rf->row = uuid_from_cstring(pnstrdup(v->val.string.val, v->val.string.len));
							refs = lappend(refs, rf);
							s->track[c].has_loc = true;
							s->track[c].loc = rf->row;
						}
						resolved[c] = true;
						s->track[c].rows = depth;
						nresolved++;
						continue;
					}
					else if (cs->kinds[c] == SG_STORE_LAST)
					{
						List	   *w = writes_to(writes, name);

						if (w == NIL)
							continue;
						base[c] = (JsonbValue *) llast(w);
					}
					else if (cs->kinds[c] == SG_STORE_APPEND)
					{
						List	   *w = writes_to(writes, name);
						ListCell   *wl;

						foreach(wl, w)
						{
							JsonbValue *wv = (JsonbValue *) lfirst(wl);

							s->track[c].bytes += wv->type == jbvBinary ? wv->val.binary.len : 16;
							if (wv->type == jbvBinary)
								s->track[c].count += JsonContainerSize(wv->val.binary.data);
						}
						deltas[c] = list_concat(w, deltas[c]);
						continue;
					}
					else
						continue;

					/* resolved in this row */
					resolved[c] = true;
					nresolved++;
					s->track[c].rows = depth;
					if (same_thread)
					{
						s->track[c].has_loc = true;
						s->track[c].loc = *DatumGetUUIDP(SPI_getbinval(t, d, Anum_checkpoint_checkpoint_id, &isnull));
					}
				}
				depth++;
				parent = SPI_getbinval(t, d, Anum_checkpoint_parent_id, &isnull);
				have_expected = !isnull;
				if (have_expected)
				{
					Datum		pt;

					expected = *DatumGetUUIDP(parent);
					pt = SPI_getbinval(t, d, Anum_checkpoint_parent_thread, &isnull);
					if (!isnull)
					{
						cur_thread = TextDatumGetCString(pt);
						same_thread = false;
						switched = true;
					}
				}
			}
		}
		sg_spi_cursor_close(portal);
	}

	if (first)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("checkpoint %s does not exist in thread \"%s\"", sg_uuid_to_cstring(id), thread_id)));

	/* each segment leads to the image before it, down to a full one */
	foreach(lc, segments)
	{
		RefFetch   *rf = (RefFetch *) lfirst(lc);
		pg_uuid_t	at = rf->row;
		const char *name = cs->names[rf->channel];

		for (;;)
		{
			SGCheckpoint *row = sg_checkpoint_fetch(rf->thread, &at);
			JsonbValue *v = row ? find_key(row->image, name) : NULL;
			JsonbValue *r;

			if (v == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("checkpoint %s of thread \"%s\" lacks the image of channel \"%s\" it should have",
								sg_uuid_to_cstring(&at), rf->thread, name)));
			r = find_key(row->refs, name);
			if (is_segment(cs, rf->channel, row->refs, row->image_complete))
			{
				deltas[rf->channel] = lcons(v, deltas[rf->channel]);
				at = uuid_from_cstring(pnstrdup(r->val.string.val, r->val.string.len));
				continue;
			}
			base[rf->channel] = v;
			break;
		}
	}

	/* copy out what the state keeps, then let the fetched rows go */
	for (c = 0; c < cs->n; c++)
	{
		if (!resolved[c])
			s->track[c].rows = depth;
		if (cs->kinds[c] == SG_STORE_APPEND)
			s->values[c] = concat_values(base[c], deltas[c]);
		else
			s->values[c] = base[c] ? JsonbValueToJsonb(base[c]) : NULL;
	}
	foreach(lc, tuptables)
		SPI_freetuptable((SPITupleTable *) lfirst(lc));

	foreach(lc, refs)
	{
		RefFetch   *rf = (RefFetch *) lfirst(lc);
		SGCheckpoint *row = sg_checkpoint_fetch(thread_id, &rf->row);

		if (row == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("checkpoint %s of thread \"%s\" refers to missing checkpoint %s for channel \"%s\"",
							sg_uuid_to_cstring(id), thread_id, sg_uuid_to_cstring(&rf->row),
							cs->names[rf->channel])));
		s->values[rf->channel] = value_in_row(row, cs->names[rf->channel]);
	}
	return s;
}

/* Move a state from a row's parent to the row itself. */
void
sg_state_apply_row(SGChannelSet *cs, SGState *s, SGCheckpoint *row)
{
	int			c;

	for (c = 0; c < cs->n; c++)
	{
		const char *name = cs->names[c];
		bool		segment = is_segment(cs, c, row->refs, row->image_complete);
		JsonbValue *v;

		if (!segment && (row->image_complete || find_key(row->image, name) != NULL))
		{
			v = find_key(row->image, name);
			s->values[c] = v ? JsonbValueToJsonb(v) : NULL;
		}
		else if (!segment && find_key(row->refs, name) != NULL)
			continue;			/* unchanged */
		else if (cs->kinds[c] == SG_STORE_LAST)
		{
			List	   *w = writes_to(row->writes, name);

			if (w)
				s->values[c] = JsonbValueToJsonb((JsonbValue *) llast(w));
		}
		else if (cs->kinds[c] == SG_STORE_APPEND)
		{
			/* a segment says nothing new: the row's writes are what it appended */
			List	   *w = writes_to(row->writes, name);

			if (w != NIL)
			{
				JsonbValue	cur;

				if (s->values[c] != NULL)
				{
					cur.type = jbvBinary;
					cur.val.binary.data = &s->values[c]->root;
					cur.val.binary.len = VARSIZE(s->values[c]) - VARHDRSZ;
				}
				s->values[c] = concat_values(s->values[c] ? &cur : NULL, w);
			}
		}
	}
	s->barriers = row->barriers;
}

/* Bytes (and, in *count, elements) appended to a channel by a row's writes. */
static int64
appended_bytes(Jsonb *writes, const char *channel, int64 *count)
{
	List	   *w = writes_to(writes, channel);
	ListCell   *lc;
	int64		n = 0;

	foreach(lc, w)
	{
		JsonbValue *v = (JsonbValue *) lfirst(lc);

		n += v->type == jbvBinary ? v->val.binary.len : 16;
		if (v->type == jbvBinary)
			*count += JsonContainerSize(v->val.binary.data);
	}
	return n;
}

/*
 * Decide the image and references of a new row (see the header comment),
 * update the state's track to describe the new row, and insert it.
 * written[c] tells which channels the row's writes changed.
 */
void
sg_checkpoint_insert(SGChannelSet *cs, SGCheckpoint *cp, SGState *state, bool *written)
{
	static SPIPlanPtr plan;
	Oid			types[Natts_checkpoint] = {TEXTOID, UUIDOID, UUIDOID, TEXTOID, INT4OID, TEXTOID, TEXTARRAYOID,
		JSONBOID, JSONBOID, BOOLOID, JSONBOID, JSONBOID, JSONBOID, JSONBOID, JSONBOID, TIMESTAMPTZOID};
	SGJsonBuilder ib = {0};
	SGJsonBuilder rb = {0};
	bool		any_image = false;
	bool		any_ref = false;
	Datum		values[Natts_checkpoint];
	char		nulls[Natts_checkpoint];
	Datum	   *next;
	int			c,
				i;

	sg_check_state_size(cs, state, cp->thread_id);
	sg_spi_prepare(&plan,
				   "INSERT INTO stategraph.checkpoints (" SG_CHECKPOINT_COLUMNS ") VALUES "
				   "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
				   Natts_checkpoint, types);

	sg_jb_begin_object(&ib);
	sg_jb_begin_object(&rb);
	for (c = 0; c < cs->n; c++)
	{
		SGTrack    *t = &state->track[c];
		bool		empty = state->values[c] == NULL && state->parts[c] == NIL;
		int64		size = sg_state_value_size(state, c);
		bool		image = false;
		bool		segment = false;
		bool		ref = false;
		bool		changed = written && written[c];

		if (cp->image_complete)
			image = true;
		else if (cs->kinds[c] == SG_STORE_APPEND)
		{
			int64		count = 0;
			int64		added = changed ? appended_bytes(cp->writes, cs->names[c], &count) : 0;
			int64		base = Max(size - t->bytes - added, SG_MIN_IMAGE);	/* at the last image */

			t->rows++;
			t->bytes += added;
			t->count += count;
			if ((changed || t->rows >= SG_REF_DISTANCE) &&
				t->rows * SG_ROW_COST + t->bytes >= base * SG_IMAGE_RATIO_NUM / SG_IMAGE_RATIO_DEN)
			{
				if (empty)
					ref = true;
				else if (t->has_loc)
					segment = true;
				else
					image = true;
			}
		}
		else if (changed)
		{
			/* a replace write is the value itself; other reducers store it whole */
			image = cs->kinds[c] == SG_STORE_IMAGE;
			if (!image)
			{
				t->rows = 0;
				t->has_loc = true;
				t->loc = cp->id;
			}
		}
		else if (++t->rows >= SG_REF_DISTANCE)
		{
			if (!empty && (size <= SG_SMALL_VALUE || !t->has_loc))
				image = true;
			else
				ref = true;
		}

		if (segment)
		{
			/* what was appended since the last image, and where that image is */
			sg_jb_key(&ib, cs->names[c]);
			sg_jb_jsonb(&ib, sg_jsonb_array_tail(sg_state_value(state, c), (int) t->count));
			sg_jb_key(&rb, cs->names[c]);
			sg_jb_string(&rb, sg_uuid_to_cstring(&t->loc));
			any_image = any_ref = true;
			t->rows = 0;
			t->bytes = 0;
			t->count = 0;
			t->loc = cp->id;
		}
		else if (image)
		{
			/* a complete image leaves empty channels out */
			if (!empty)
			{
				sg_jb_key(&ib, cs->names[c]);
				sg_jb_jsonb(&ib, sg_state_value(state, c));
			}
			any_image = true;
			t->rows = 0;
			t->bytes = 0;
			t->count = 0;
			t->has_loc = true;
			t->loc = cp->id;
		}
		else if (ref)
		{
			sg_jb_key(&rb, cs->names[c]);
			if (empty || !t->has_loc)
				sg_jb_null(&rb);
			else
				sg_jb_string(&rb, sg_uuid_to_cstring(&t->loc));
			any_ref = true;
			t->rows = 0;
			t->bytes = 0;
			t->count = 0;
		}
	}
	sg_jb_end_object(&ib);
	sg_jb_end_object(&rb);
	cp->image = any_image || cp->image_complete ? sg_jb_finish(&ib) : NULL;
	cp->refs = any_ref ? sg_jb_finish(&rb) : NULL;
	if (cp->created_at == 0)
		cp->created_at = GetCurrentTimestamp();

	next = palloc(sizeof(Datum) * (cp->nnext + 1));
	for (i = 0; i < cp->nnext; i++)
		next[i] = CStringGetTextDatum(cp->next[i]);
	memset(nulls, ' ', sizeof(nulls));
	/* parameter $n is column n of SG_CHECKPOINT_COLUMNS */
#define ARG(col) values[Anum_checkpoint_##col - 1]
#define NULL_ARG(col, isnull) (nulls[Anum_checkpoint_##col - 1] = (isnull) ? 'n' : ' ')
#define JSONB_ARG(col, j) (ARG(col) = (j) ? JsonbPGetDatum(j) : (Datum) 0, NULL_ARG(col, (j) == NULL))
	ARG(thread_id) = CStringGetTextDatum(cp->thread_id);
	ARG(checkpoint_id) = uuid_datum(&cp->id);
	ARG(parent_id) = cp->has_parent ? uuid_datum(&cp->parent_id) : (Datum) 0;
	NULL_ARG(parent_id, !cp->has_parent);
	ARG(parent_thread) = cp->parent_thread ? CStringGetTextDatum(cp->parent_thread) : (Datum) 0;
	NULL_ARG(parent_thread, cp->parent_thread == NULL);
	ARG(step) = Int32GetDatum(cp->step);
	ARG(source) = CStringGetTextDatum(cp->source);
	ARG(next) = PointerGetDatum(construct_array(next, cp->nnext, TEXTOID, -1, false, TYPALIGN_INT));
	JSONB_ARG(writes, cp->writes);
	JSONB_ARG(image, cp->image);
	ARG(image_complete) = BoolGetDatum(cp->image_complete);
	JSONB_ARG(refs, cp->refs);
	JSONB_ARG(barriers, cp->barriers);
	JSONB_ARG(sends, cp->sends);
	JSONB_ARG(pending, cp->pending);
	JSONB_ARG(meta, cp->meta);
	ARG(created_at) = TimestampTzGetDatum(cp->created_at);
#undef JSONB_ARG
#undef NULL_ARG
#undef ARG
	sg_spi_execute(plan, values, nulls, 0);
}

/*
 * The writes of checkpoint cp, or of its nearest ancestor that has some:
 * the nodes that ran last (sg_update_state's default as_node). NULL when
 * no node has written yet.
 */
Jsonb *
sg_checkpoint_last_writes(SGCheckpoint *cp)
{
	SGCheckpoint *row = cp;

	while (row != NULL)
	{
		if (sg_jsonb_array_length(row->writes) > 0)
			return row->writes;
		if (!row->has_parent)
			break;
		row = sg_checkpoint_fetch(row->parent_thread ? row->parent_thread : row->thread_id, &row->parent_id);
	}
	return NULL;
}

/*
 * Give a row a complete image of its state, so that nothing before it is
 * needed to read it (before its ancestors are pruned or deleted). A row
 * without writes of its own (a fork, an input) also gets the names of the
 * nodes that ran last, with empty updates, since its ancestors will no
 * longer tell.
 */
void
sg_checkpoint_materialize(SGChannelSet *cs, const char *thread_id, const pg_uuid_t *id)
{
	static SPIPlanPtr plan;
	SGCheckpoint *row;
	SGState    *s = sg_load_state(cs, thread_id, id, &row);
	Oid			types[4] = {TEXTOID, UUIDOID, JSONBOID, JSONBOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', 'n'};

	sg_spi_prepare(&plan,
				   "UPDATE stategraph.checkpoints SET image = $3, image_complete = true, refs = NULL, "
				   "writes = COALESCE($4, writes) "
				   "WHERE thread_id OPERATOR(pg_catalog.=) $1 "
				   "AND checkpoint_id OPERATOR(pg_catalog.=) $2", 4, types);
	values[0] = CStringGetTextDatum(thread_id);
	values[1] = uuid_datum(id);
	values[2] = JsonbPGetDatum(sg_state_to_jsonb(cs, s));
	if (sg_jsonb_array_length(row->writes) == 0)
	{
		Jsonb	   *last = sg_checkpoint_last_writes(row);
		SGJsonBuilder b = {0};
		int			i;

		if (last != NULL)
		{
			sg_jb_begin_array(&b);
			for (i = 0; i < sg_jsonb_array_length(last); i++)
			{
				sg_jb_begin_array(&b);
				sg_jb_jsonb(&b, sg_jsonb_array_get(sg_jsonb_array_get(last, i), 0));
				sg_jb_jsonb(&b, sg_jsonb_empty_object());
				sg_jb_end_array(&b);
			}
			sg_jb_end_array(&b);
			values[3] = JsonbPGetDatum(sg_jb_finish(&b));
			nulls[3] = ' ';
		}
	}
	sg_spi_execute(plan, values, nulls, 0);
}

/* ---------------------------------------------------------------------------
 * The state cache
 *
 * Each backend keeps the newest state of the threads it ran or read last,
 * keyed by the thread's head checkpoint and the xmin of its row: every
 * change to a thread (a run, an update, a failure recorded on its head, a
 * prune) writes a new row version, so an entry is used only while it is
 * exactly what storage holds, whatever other sessions did or whichever
 * transactions rolled back. Two row versions written by one transaction
 * share their xmin, so this backend also forgets a thread's entry whenever
 * it changes the thread's row itself. A run that uses an entry pins it
 * until the run's memory goes.
 * ---------------------------------------------------------------------------
 */
#define SG_STATE_CACHE_ENTRIES	64

typedef struct StateCacheEntry
{
	char	   *thread_id;
	pg_uuid_t	head;
	TransactionId xmin;
	SGCheckpoint *cp;
	SGState    *state;
	Size		size;
	MemoryContext cxt;
	int			pins;
	bool		evicted;		/* out of the cache; freed when unpinned */
	uint64		used;			/* for LRU */
} StateCacheEntry;

static List *state_cache = NIL;
static Size state_cache_bytes = 0;
static uint64 state_cache_clock = 0;

static void
cache_entry_free(StateCacheEntry *e)
{
	MemoryContextDelete(e->cxt);	/* the entry lives in its own context */
}

static void
cache_evict(StateCacheEntry *e)
{
	state_cache = list_delete_ptr(state_cache, e);
	state_cache_bytes -= e->size;
	e->evicted = true;
	if (e->pins == 0)
		cache_entry_free(e);
}

static void
cache_unpin(void *arg)
{
	StateCacheEntry *e = (StateCacheEntry *) arg;

	if (--e->pins == 0 && e->evicted)
		cache_entry_free(e);
}

/* A deep copy of a checkpoint, in the current memory context. */
static SGCheckpoint *
checkpoint_copy(SGCheckpoint *cp)
{
	SGCheckpoint *c = palloc(sizeof(SGCheckpoint));
	int			i;

	*c = *cp;
	c->thread_id = pstrdup(cp->thread_id);
	c->parent_thread = cp->parent_thread ? pstrdup(cp->parent_thread) : NULL;
	c->source = pstrdup(cp->source);
	c->next = palloc(sizeof(char *) * (cp->nnext + 1));
	for (i = 0; i < cp->nnext; i++)
		c->next[i] = pstrdup(cp->next[i]);
	c->writes = sg_jsonb_copy(cp->writes);
	c->image = sg_jsonb_copy(cp->image);
	c->refs = sg_jsonb_copy(cp->refs);
	c->barriers = sg_jsonb_copy(cp->barriers);
	c->sends = sg_jsonb_copy(cp->sends);
	c->pending = sg_jsonb_copy(cp->pending);
	c->meta = sg_jsonb_copy(cp->meta);
	return c;
}

/*
 * The cached newest state of thread th, if the cache holds exactly what
 * storage holds; pinned until pin is reset. *cp and *state share the entry's
 * values, which must not be changed.
 */
bool
sg_state_cache_get(SGThread *th, SGCheckpoint **cp, SGState **state, MemoryContext pin)
{
	ListCell   *lc;

	if (!th->has_head || sg_state_cache_kb == 0)
		return false;
	foreach(lc, state_cache)
	{
		StateCacheEntry *e = (StateCacheEntry *) lfirst(lc);
		MemoryContextCallback *cb;

		if (strcmp(e->thread_id, th->thread_id) != 0)
			continue;
		if (e->xmin != th->xmin || memcmp(&e->head, &th->head, sizeof(pg_uuid_t)) != 0)
			return false;
		e->used = ++state_cache_clock;
		e->pins++;
		cb = MemoryContextAlloc(pin, sizeof(MemoryContextCallback));
		cb->func = cache_unpin;
		cb->arg = e;
		MemoryContextRegisterResetCallback(pin, cb);
		*cp = palloc(sizeof(SGCheckpoint));
		**cp = *e->cp;
		*state = sg_state_copy(e->state);
		return true;
	}
	return false;
}

/* Drop the entry of a thread, if any. */
void
sg_state_cache_forget(const char *thread_id)
{
	ListCell   *lc;

	foreach(lc, state_cache)
	{
		StateCacheEntry *e = (StateCacheEntry *) lfirst(lc);

		if (strcmp(e->thread_id, thread_id) == 0)
		{
			cache_evict(e);
			return;
		}
	}
}

/*
 * Remember the newest state of a thread, whose row version carries xmin:
 * the row this transaction just wrote, or the one a reader found. A frozen
 * or special xmin does not tell row versions apart, so nothing is kept then.
 */
void
sg_state_cache_put(const char *thread_id, TransactionId xmin, SGCheckpoint *cp, SGState *state)
{
	StateCacheEntry *e;
	MemoryContext cxt;
	MemoryContext old;
	Size		size = 0;
	ListCell   *lc;
	int			i;

	sg_state_cache_forget(thread_id);
	if (sg_state_cache_kb == 0 || !TransactionIdIsNormal(xmin))
		return;
	for (i = 0; i < state->n; i++)
		size += sg_state_value_size(state, i);
	if (size > (Size) sg_state_cache_kb * 1024 / 4)
		return;					/* too big to be worth a quarter of the cache */

	cxt = AllocSetContextCreate(CacheMemoryContext, "stategraph state cache", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	e = palloc0(sizeof(StateCacheEntry));
	e->cxt = cxt;
	e->thread_id = pstrdup(thread_id);
	e->head = cp->id;
	e->xmin = xmin;
	e->cp = checkpoint_copy(cp);
	e->state = sg_state_copy_deep(state);
	e->size = size + sizeof(StateCacheEntry);
	e->used = ++state_cache_clock;
	MemoryContextSwitchTo(CacheMemoryContext);
	state_cache = lappend(state_cache, e);
	MemoryContextSwitchTo(old);
	state_cache_bytes += e->size;

	/* least recently used first out */
	while (state_cache != NIL &&
		   (state_cache_bytes > (Size) sg_state_cache_kb * 1024 ||
			list_length(state_cache) > SG_STATE_CACHE_ENTRIES))
	{
		StateCacheEntry *lru = NULL;

		foreach(lc, state_cache)
		{
			StateCacheEntry *c = (StateCacheEntry *) lfirst(lc);

			if (lru == NULL || c->used < lru->used)
				lru = c;
		}
		cache_evict(lru);
	}
}
