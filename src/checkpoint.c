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
 * segment, then follow the segments' pointers down to a full image. A
 * fork's rows lead on into the thread it was forked from (parent_thread),
 * and the walk with them, one statement per thread. Other threads' writers
 * (a delete or prune of the source) do not wait for this thread's row, so a
 * walk that leaves its thread is made again under one snapshot, taken as it
 * begins; so is one that misses a row a prune of its own thread removed
 * between its statements. A walk that stays in its thread and finds its
 * rows reads with a snapshot per statement as before (load_state).
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
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "common/md5.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
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
		/* the bits that count: the version nibble and variant bits are carried over */
		uint8		mask = i == 8 ? 0x3F : i == 6 ? 0x0F : 0xFF;
		uint8		low = ((u->data[i] & mask) + 1) & mask;

		u->data[i] = (u->data[i] & ~mask) | low;
		if (low != 0)
			return;
	}
}

/*
 * The step of a checkpoint made after one of step `step` of thread_id.
 * Steps are int4: a thread at the last one (an import may carry any step)
 * gets no further checkpoint (54000), rather than one whose step wrapped
 * to a negative number.
 */
int
sg_step_after(const char *thread_id, int step)
{
	if (step >= PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("thread \"%s\" is at step %d, the last one a checkpoint can have", thread_id, step),
				 errhint("Start a new thread from its values (sg_get_state).")));
	return step + 1;
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
 * Thread locks
 *
 * One writer per thread. A writer takes the thread's advisory lock, then
 * its row FOR NO KEY UPDATE (a foreign key to the row does not hold it
 * up: thread_fetch_locked), and lets the advisory lock go as soon as it holds the
 * row (or has inserted it, for a new thread): the row lock lasts until
 * commit and costs nothing in the shared lock table, so one transaction
 * may change any number of threads (a million sg_invoke in one SELECT).
 * The advisory lock is what CALL sg_run holds for a whole run, across its
 * commits (at session level), and what the next writer waits on then; it
 * also orders two writers that both find no row yet. Two transactions
 * that create the same new thread at once: the second one's insert waits
 * for the first, and fails with a serialization failure (40001) if the
 * first commits, as under REPEATABLE READ.
 *
 * A call that writes two threads locks them in an order others keep, or
 * never waits for one while holding another: sg_fork, and sg_update_state
 * from a checkpoint of another thread, take the two advisory locks in
 * thread id order; sg_fork then locks the new fork's thread row before
 * its source's (branch.c), as sg_import_thread of a fork's export holds
 * the fork's row and then share-locks its source's; sg_update_state from
 * another thread, sg_delete_thread (the rows of the thread and of the
 * threads with forks of it) and sg_prune of one thread take their rows
 * apart (retention.c, "Rows taken apart").
 * ---------------------------------------------------------------------------
 */
/* A transaction-level thread lock held, and the subtransaction that took it (first: sg_subxact_ended). */
typedef struct HeldThreadLock
{
	SubTransactionId subid;
	char	   *thread_id;
} HeldThreadLock;

static List *xact_thread_locks = NIL;	/* HeldThreadLocks, in TopTransactionContext */
static List *session_thread_locks = NIL;	/* session-level ones (a run's), in TopMemoryContext */
static bool xact_callback_registered = false;

/* Forget the list of held transaction-level locks when the transaction ends (they are gone). */
static void
thread_locks_xact_callback(XactEvent event, void *arg)
{
	xact_thread_locks = NIL;
}

static void
free_held_lock(void *entry)
{
	HeldThreadLock *held = (HeldThreadLock *) entry;

	pfree(held->thread_id);
	pfree(held);
}

/*
 * A subtransaction's end: an aborted one's locks are released with it, so
 * its entries go (a call that failed between the lock and its settling,
 * caught by an EXCEPTION block, left its entry for the rest of the
 * transaction: 10,000 such calls kept 0.8 MB, and every settle scanned
 * them; pg_regress xact_locks_subxact); a committed one's pass to its parent.
 */
static void
thread_locks_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							  SubTransactionId parentSubid, void *arg)
{
	xact_thread_locks = sg_subxact_ended(xact_thread_locks, event, mySubid,
										 parentSubid, free_held_lock);
}

static void
thread_locktag(LOCKTAG *tag, const char *thread_id)
{
	uint64		h = sg_key(SG_LOCK_FIELD4, thread_id, strlen(thread_id), NULL, 0);

	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h, SG_LOCK_FIELD4);
}

/*
 * The error of a thread another writer holds, with stategraph.lock_wait off
 * (55P03): one text for every place that refuses to wait, only the detail
 * says who holds it (NULL: a session running or changing the thread).
 */
void
sg_refuse_busy_thread(const char *thread_id, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("thread \"%s\" is busy", thread_id),
			 errdetail("%s", detail ? detail : "Another session is running or changing it."),
			 errhint("Retry later, or SET stategraph.lock_wait = on to wait for it.")));
}

/*
 * Take the lock of a thread for this transaction (or, for sg_run, the
 * session). Waits unless stategraph.lock_wait is off; lock_timeout applies.
 * A transaction-level lock lasts until the thread's row is locked or
 * inserted (sg_thread_fetch, sg_thread_create, sg_thread_lock_settled).
 * The busy thread of a role the caller may not own is not waited for (nor
 * called busy), and not taken: waiting told another role that the thread
 * is in use, where a free one is "does not exist" at once; the caller, which
 * cannot see its row, fails as it does then (isolation tenants_busy_thread).
 */
void
sg_lock_thread(const char *thread_id, bool session)
{
	LOCKTAG		tag;
	MemoryContext old;

	thread_locktag(&tag, thread_id);
	if (LockAcquire(&tag, ExclusiveLock, session, true) == LOCKACQUIRE_NOT_AVAIL)
	{
		if (sg_thread_of_another_role(thread_id))
			return;
		if (!sg_lock_wait)
			sg_refuse_busy_thread(thread_id, NULL);
		(void) LockAcquire(&tag, ExclusiveLock, session, false);
	}
	if (session)
	{
		old = MemoryContextSwitchTo(TopMemoryContext);
		session_thread_locks = lappend(session_thread_locks, pstrdup(thread_id));
		MemoryContextSwitchTo(old);
		return;
	}
	if (!xact_callback_registered)
	{
		RegisterXactCallback(thread_locks_xact_callback, NULL);
		RegisterSubXactCallback(thread_locks_subxact_callback, NULL);
		xact_callback_registered = true;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	{
		HeldThreadLock *held = palloc(sizeof(HeldThreadLock));

		held->thread_id = pstrdup(thread_id);
		held->subid = GetCurrentSubTransactionId();
		xact_thread_locks = lappend(xact_thread_locks, held);
	}
	MemoryContextSwitchTo(old);
}

/*
 * The thread's row is now locked (or inserted) by this transaction: release
 * the transaction-level advisory locks sg_lock_thread took on it.
 */
void
sg_thread_lock_settled(const char *thread_id)
{
	ListCell   *lc;

	foreach(lc, xact_thread_locks)
	{
		HeldThreadLock *held = (HeldThreadLock *) lfirst(lc);
		LOCKTAG		tag;

		if (strcmp(held->thread_id, thread_id) != 0)
			continue;
		thread_locktag(&tag, thread_id);
		if (LockHeldByMe(&tag, ExclusiveLock))	/* (held: the entries of aborted subtransactions are gone) */
			LockRelease(&tag, ExclusiveLock, false);
		xact_thread_locks = foreach_delete_current(xact_thread_locks, lc);
		pfree(held->thread_id);
		pfree(held);
	}
}

/* Take the lock of a thread for this transaction if it is free; false if busy. */
bool
sg_try_lock_thread(const char *thread_id)
{
	LOCKTAG		tag;

	thread_locktag(&tag, thread_id);
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

/*
 * Release the (session or transaction) lock of a thread, if this session
 * holds it. A session lock only if sg_lock_thread took one: after an error
 * before a background run took it, the executor holds its claim's
 * transaction lock alone, and releasing that as a session lock warned
 * "you don't own a lock" at every retried stop (TAP 080).
 */
void
sg_unlock_thread(const char *thread_id, bool session)
{
	LOCKTAG		tag;

	if (session)
	{
		ListCell   *lc;
		bool		found = false;

		foreach(lc, session_thread_locks)
		{
			char	   *held = (char *) lfirst(lc);

			if (strcmp(held, thread_id) == 0)
			{
				session_thread_locks = foreach_delete_current(session_thread_locks, lc);
				pfree(held);
				found = true;
				break;
			}
		}
		if (!found)
			return;
	}
	thread_locktag(&tag, thread_id);
	if (LockHeldByMe(&tag, ExclusiveLock))
		LockRelease(&tag, ExclusiveLock, session);
}

/*
 * A durable run's session lock of its thread (sg_lock_thread) is all that
 * keeps other writers off the thread between its steps, and it is an
 * advisory lock: a node's pg_advisory_unlock_all() lets it go, and a
 * worker then took the run for one whose executor died and ran it at the
 * same time, or an sg_update_state moved the head under the run. At each
 * step's end the run takes it again if it is free (nobody came in), and
 * else refuses the step (40001: rolled back, effects and all; the other
 * writer has the thread). The head's compare-and-set (sg_thread_advance)
 * catches a writer that came and went in between.
 */
void
sg_keep_thread_lock(const char *thread_id)
{
	ListCell   *lc;
	LOCKTAG		tag;

	foreach(lc, session_thread_locks)
		if (strcmp((char *) lfirst(lc), thread_id) == 0)
			break;
	if (lc == NULL)
		return;					/* a transaction's run: its row is locked */
	thread_locktag(&tag, thread_id);
	if (LockHeldByMe(&tag, ExclusiveLock))
		return;
	if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		sg_refuse_thread_taken(thread_id);
}

/* The error of a durable run whose thread another writer took during a step (40001). */
void
sg_refuse_thread_taken(const char *thread_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("thread \"%s\" was taken by another writer during a step of this run", thread_id),
			 errdetail("A node let go of the run's lock of the thread (pg_advisory_unlock_all, or pg_advisory_unlock of its key); the step is rolled back."),
			 errhint("Let a node release only the advisory locks it took (pg_advisory_unlock of its own keys, or pg_advisory_xact_lock).")));
}

/*
 * Is another session holding the thread's lock right now? Asked of the lock
 * table (GetLockConflicts: the holders of a lock that conflicts with share
 * mode, which a writer's exclusive lock does and another probe's would
 * not), without taking the lock: a probe that took it, even in share mode
 * and for a moment, made a writer with stategraph.lock_wait off that came
 * in that moment fail with "thread is busy" while a worker's claim or an
 * sg_threads listing looked at its thread (TAP 149). A holder is seen while
 * it is in a transaction; a session lock's holder between two of its
 * transactions (CALL sg_run, a worker, from one step's commit to the next
 * step's start) is not, for that moment: the claim then finds the thread
 * held when it tries to take it.
 */
bool
sg_thread_is_busy(const char *thread_id)
{
	LOCKTAG		tag;
	VirtualTransactionId *holders;
	int			n;

	thread_locktag(&tag, thread_id);
	holders = GetLockConflicts(&tag, ShareLock, &n);
	pfree(holders);				/* (palloc'd in a backend; a static array only in the startup process) */
	return n > 0;
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
	if (!sg_channel_kinds_valid(th->channels))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("thread \"%s\" has a damaged channel layout", th->thread_id),
				 errdetail("Its channels in stategraph.threads are not an object of channel names and store kinds (\"append\", \"image\", \"last\")."),
				 errhint("Restore the thread from an export, or delete its row from stategraph.threads.")));
	th->has_head = sg_spi_uuid(0, Anum_thread_head, &th->head);
	th->status = TextDatumGetCString(sg_spi_datum(0, Anum_thread_status, &isnull));
	th->created_at = DatumGetTimestampTz(sg_spi_datum(0, Anum_thread_created_at, &isnull));
	th->updated_at = DatumGetTimestampTz(sg_spi_datum(0, Anum_thread_updated_at, &isnull));
	th->xmin = DatumGetTransactionId(sg_spi_datum(0, Anum_thread_xmin, &isnull));
	return th;
}

/*
 * The row of a thread, or NULL. With lock, the row is locked FOR NO KEY
 * UPDATE (which waits for a writer of the thread, or an sg_prune, to
 * commit, and in REPEATABLE READ and SERIALIZABLE makes a concurrent
 * change an error), or FOR UPDATE with to_delete, and the thread's
 * advisory lock is let go (see Thread locks). Without wait, a row that
 * another transaction has locked sets *busy and gives NULL instead.
 *
 * Writers lock FOR NO KEY UPDATE, as their UPDATE of the row does: they
 * never change its key, and a FOR KEY SHARE of the row, the foreign key
 * check of a user's row that references the thread (conversations.thread_id
 * REFERENCES stategraph.threads) in a transaction still open, held a run's
 * step (FOR UPDATE) until that transaction ended, its worker stuck with it
 * (TAP 308_fk_key_share_runs). NO KEY UPDATE still conflicts with every
 * other writer's lock, with a delete and with FOR SHARE. sg_delete_thread
 * locks FOR UPDATE (to_delete): locking for no key first, its DELETE
 * would wait for such a reference while holding the row, and a write of
 * the thread by the referencing transaction would then deadlock with it.
 *
 * sg_export_thread locks FOR SHARE (FETCH_SHARE): until its transaction
 * ends no writer, delete or prune gets in, so what it returned stays the
 * thread's state, but another export, an sg_fork of the thread and an
 * import of a fork linked to it (its share lock of the source's row,
 * portable.c) go on. Locking FOR NO KEY UPDATE, two transactions that
 * each exported a thread and then imported a fork of the other's
 * deadlocked (isolation export_import_crossed).
 */
typedef enum FetchMode
{
	FETCH_PLAIN,				/* no lock */
	FETCH_WRITE,				/* FOR NO KEY UPDATE */
	FETCH_DELETE,				/* FOR UPDATE */
	FETCH_SHARE					/* FOR SHARE */
} FetchMode;

static SGThread *
thread_fetch_in_mode(const char *thread_id, FetchMode fmode, bool wait, bool *busy)
{
	static SPIPlanPtr plan[7];
	static SPIPlanPtr exists_plan;
	static const char *const clause[7] = {
		"", "FOR NO KEY UPDATE", "FOR NO KEY UPDATE SKIP LOCKED", "FOR UPDATE", "FOR UPDATE SKIP LOCKED",
		"FOR SHARE", "FOR SHARE SKIP LOCKED"
	};
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		lock = fmode != FETCH_PLAIN;
	int			i = !lock ? 0 : (fmode == FETCH_WRITE ? 1 : fmode == FETCH_DELETE ? 3 : 5) + (wait ? 0 : 1);
	SGThread   *th;

	sg_spi_prepare(&plan[i], psprintf("SELECT " THREAD_COLUMNS " FROM stategraph.threads "
									  "WHERE thread_id OPERATOR(pg_catalog.=) $1 %s", clause[i]),
				   1, types);
	values[0] = CStringGetTextDatum(thread_id);
	if (busy)
		*busy = false;
	if (sg_spi_execute(plan[i], values, NULL, 1) == 0)
	{
		if (lock && !wait && busy &&
			sg_spi_execute(sg_spi_prepare(&exists_plan,
										  "SELECT 1 FROM stategraph.threads WHERE thread_id OPERATOR(pg_catalog.=) $1",
										  1, types), values, NULL, 1) > 0)
			*busy = true;
		return NULL;
	}
	th = thread_from_result();
	if (lock)
		sg_thread_lock_settled(thread_id);
	return th;
}

static SGThread *
thread_fetch_locked(const char *thread_id, bool lock, bool to_delete, bool wait, bool *busy)
{
	return thread_fetch_in_mode(thread_id, !lock ? FETCH_PLAIN : to_delete ? FETCH_DELETE : FETCH_WRITE,
								wait, busy);
}

SGThread *
sg_thread_fetch_locked(const char *thread_id, bool lock, bool wait, bool *busy)
{
	return thread_fetch_locked(thread_id, lock, false, wait, busy);
}

/*
 * Lock a thread's row without waiting, for the sweeps that must not queue
 * behind an open transaction (the lease sweep of tasks.c, the retention
 * sweep of runs.c): SG_ROW_LOCKED, this transaction now holds it;
 * SG_ROW_HELD, another transaction does (the caller leaves the thread to
 * its next pass); SG_ROW_ABSENT, there is no row this role can see. With
 * cond, the FROM and WHERE of a query over stategraph.threads t (runs.c's
 * SWEEP_EXPIRED), only a row that meets it is locked, in the same
 * statement (a row changed under the lock is checked again, as any
 * locking statement does), and one that does not is ABSENT; the caller
 * keeps the two plans in plans. The thread's advisory lock is not
 * touched: the sweeps take and release it themselves. One statement when
 * the lock is had; a second, to tell a held row from a missing one, only
 * when it is not and the caller asks (tell); else SG_ROW_NOT_LOCKED.
 *
 * The lease sweep writes the row (FOR NO KEY UPDATE, as a step: a foreign
 * key's FOR KEY SHARE is no hold, thread_fetch_locked); the retention
 * sweep (cond) deletes or prunes it, FOR UPDATE: passed over while a
 * reference is open, rather than waiting for it at its DELETE, and the
 * router's stategraph.hold_partition, which locks the partition's
 * threads FOR KEY SHARE, waits for it (holds.c).
 */
SGRowLock
sg_thread_row_try_lock(const char *thread_id, const char *cond, SPIPlanPtr *plans, bool tell)
{
	static SPIPlanPtr own[2];
	SPIPlanPtr *p = cond ? plans : own;
	const char *from = cond ? cond : "FROM stategraph.threads t WHERE true ";
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(thread_id)};

	if (p[0] == NULL)
		sg_spi_prepare(&p[0], psprintf("SELECT 1 %sAND t.thread_id OPERATOR(pg_catalog.=) $1 "
									   "FOR %s OF t SKIP LOCKED", from, cond ? "UPDATE" : "NO KEY UPDATE"),
					   1, types);
	if (sg_spi_execute(p[0], values, NULL, 1) > 0)
		return SG_ROW_LOCKED;
	if (!tell)
		return SG_ROW_NOT_LOCKED;
	if (p[1] == NULL)
		sg_spi_prepare(&p[1], psprintf("SELECT 1 %sAND t.thread_id OPERATOR(pg_catalog.=) $1", from),
					   1, types);
	return sg_spi_execute(p[1], values, NULL, 1) > 0 ? SG_ROW_HELD : SG_ROW_ABSENT;
}

/*
 * The row of a thread, or NULL; for_update locks it (FOR NO KEY UPDATE, or
 * FOR UPDATE with to_delete: thread_fetch_locked), waiting for a writer
 * unless stategraph.lock_wait is off (then a busy thread is an error).
 */
static SGThread *
thread_fetch_mode(const char *thread_id, bool for_update, bool to_delete)
{
	bool		busy;
	SGThread   *th = thread_fetch_locked(thread_id, for_update, to_delete, sg_lock_wait, &busy);

	if (busy)
		sg_refuse_busy_thread(thread_id, NULL);
	return th;
}

/* The error of a thread required and missing (a LangGraph.js thread's own first). */
static void refuse_missing_thread(const char *thread_id) pg_attribute_noreturn();

static void
refuse_missing_thread(const char *thread_id)
{
	sg_refuse_lg_thread(thread_id);
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("thread \"%s\" does not exist", thread_id)));
}

/* thread_fetch_mode, the row required: a missing thread is an error. */
static SGThread *
thread_fetch_required_mode(const char *thread_id, bool for_update, bool to_delete)
{
	SGThread   *th = thread_fetch_mode(thread_id, for_update, to_delete);

	if (th == NULL)
		refuse_missing_thread(thread_id);
	return th;
}

/* The row of a thread, or NULL; for_update locks it for a write (thread_fetch_mode). */
SGThread *
sg_thread_fetch(const char *thread_id, bool for_update)
{
	return thread_fetch_mode(thread_id, for_update, false);
}

/* The row of a thread, which must exist. */
SGThread *
sg_thread_fetch_required(const char *thread_id, bool for_update)
{
	return thread_fetch_required_mode(thread_id, for_update, false);
}

/*
 * The row of a thread that must exist, locked FOR SHARE (thread_fetch_in_mode:
 * sg_export_thread), waiting for a writer unless stategraph.lock_wait is off.
 */
SGThread *
sg_thread_fetch_shared(const char *thread_id)
{
	bool		busy;
	SGThread   *th = thread_fetch_in_mode(thread_id, FETCH_SHARE, sg_lock_wait, &busy);

	if (busy)
		sg_refuse_busy_thread(thread_id, NULL);
	if (th == NULL)
		refuse_missing_thread(thread_id);
	return th;
}

/* The row of a thread that must exist, locked FOR UPDATE: the caller deletes it. */
SGThread *
sg_thread_fetch_for_delete(const char *thread_id)
{
	return thread_fetch_required_mode(thread_id, true, true);
}

/* The busy thread's error for an insert that timed out on another transaction's (thread_insert). */
static void pg_attribute_noreturn()
raise_insert_busy(ErrorData *edata, const void *thread_id)
{
	sg_refuse_busy_thread((const char *) thread_id,
						  "Another transaction is creating it, or holds a lock its creation needs.");
}

/*
 * Run the insert of a new thread's row (plan: an INSERT ... ON CONFLICT
 * (thread_id) DO NOTHING of values; sg_thread_create, and sg_import_thread
 * in portable.c). With stategraph.lock_wait off, a transaction that is
 * inserting the same thread is not waited for: the wait for it gets
 * lock_timeout's shortest, and its timeout is the busy thread's error
 * (55P03), as sg_lock_thread raises it. Returns how many rows it inserted;
 * none: see sg_refuse_thread_inserted.
 */
uint64
sg_thread_insert(SPIPlanPtr plan, Datum *values, const char *thread_id)
{
	int			nest;
	uint64		n;

	if (sg_lock_wait)
		return sg_spi_execute(plan, values, NULL, 0);
	sg_thread_refuse_in_creation(thread_id);	/* no wait at all, in the common case */
	nest = NewGUCNestLevel();
	(void) set_config_option("lock_timeout", "1", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	n = sg_spi_execute_or_raise(plan, values, NULL, 0, ERRCODE_LOCK_NOT_AVAILABLE,
								raise_insert_busy, thread_id);
	AtEOXact_GUC(true, nest);
	return n;
}

/* A new thread row, with its newest checkpoint and status. */
void
sg_thread_create(const char *thread_id, const char *graph, Jsonb *channels, const pg_uuid_t *head,
				 const char *status)
{
	static SPIPlanPtr plan;
	Oid			types[5] = {TEXTOID, TEXTOID, JSONBOID, UUIDOID, TEXTOID};
	Datum		values[5];
	bool		claimed;

	/*
	 * Another role's thread, read below row-level security: refused at
	 * once, as the insert below would refuse it, but without waiting for
	 * its owner's transaction that holds its row (an sg_invoke or
	 * sg_update_state not committed yet), which told that the thread was
	 * in use (isolation revsec_busy_insert). Unless an sg_reassign_owned
	 * holds the owner's name (reassign.c): it may be moving the thread to
	 * this role, which waits for it (if it may wait: else refused, without
	 * 55P03's naming the owner) and reads the owner again (isolation
	 * revmerge_reassign_create). Refused only for a name held before it
	 * was read, which no reassign can change until commit: a reassign that
	 * committed between the read and the hold was not waited for, and may
	 * have given the thread to this role (then 40001 below: retry, and
	 * find it) or to another, whose name is held in turn.
	 */
	{
		char	   *owner;

		while ((owner = sg_thread_other_owner(thread_id)) != NULL)
		{
			if (sg_role_held(owner) || !sg_role_hold_may_wait())
				sg_refuse_thread_of_another_role(thread_id, NULL, NULL);
			(void) sg_role_hold(owner, true);
		}
	}
	claimed = sg_thread_id_claim_not_lg(thread_id);	/* (thread_ids.c; another role's row: the insert below) */
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
	 * The caller took the thread's lock and saw no row, so a row can only
	 * be one another transaction inserted since: its insert is waited for,
	 * and if it commits this one fails (REPEATABLE READ: PostgreSQL reports
	 * the serialization failure itself). With stategraph.lock_wait off that
	 * transaction makes the thread busy, as its lock would: not waited for.
	 */
	if (sg_thread_insert(plan, values, thread_id) > 0)
	{
		sg_thread_id_claimed(thread_id, claimed);
		sg_thread_lock_settled(thread_id);
		return;
	}
	sg_refuse_thread_inserted(thread_id);
}

/*
 * The error of a new thread's insert (sg_thread_insert) that found a row
 * its caller, holding the thread's lock, had not seen: another transaction
 * inserted it since and committed. A row this role cannot see, even with a
 * new snapshot, is another role's (42501); one it sees is a thread created
 * at the same time (40001: retry, and find it). Under REPEATABLE READ
 * PostgreSQL reports the serialization failure itself.
 */
void
sg_refuse_thread_inserted(const char *thread_id)
{
	if (!IsolationUsesXactSnapshot() && sg_thread_fetch(thread_id, false) == NULL)
		sg_refuse_thread_of_another_role(thread_id, NULL, NULL);
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("could not create thread \"%s\": another transaction created it", thread_id),
			 errhint("Retry the transaction.")));
}

/*
 * Set a thread's newest checkpoint and status (and its channel kinds, if
 * given); with check, only if its head is still expected (NULL: none).
 * The number of rows set: 0 if the head moved, or if the caller's role no
 * longer sees the thread's row.
 */
static uint64
thread_update(const char *thread_id, bool check, const pg_uuid_t *expected, const pg_uuid_t *head,
			  const char *status, Jsonb *channels)
{
	static SPIPlanPtr plan;
	Oid			types[6] = {TEXTOID, UUIDOID, TEXTOID, JSONBOID, BOOLOID, UUIDOID};
	Datum		values[6];
	char		nulls[6] = {' ', head ? ' ' : 'n', ' ', channels ? ' ' : 'n', ' ', expected ? ' ' : 'n'};

	sg_spi_prepare(&plan,
				   "UPDATE stategraph.threads SET head = $2, status = $3, "
				   "channels = COALESCE($4, channels), updated_at = pg_catalog.clock_timestamp() "
				   "WHERE thread_id OPERATOR(pg_catalog.=) $1 "
				   /* IS NOT DISTINCT FROM, spelt out: it looks its = up by search_path */
				   "AND (NOT $5 OR COALESCE(head OPERATOR(pg_catalog.=) $6, head IS NULL AND $6 IS NULL))", 6, types);
	values[0] = CStringGetTextDatum(thread_id);
	values[1] = head ? uuid_datum(head) : (Datum) 0;
	values[2] = CStringGetTextDatum(status);
	values[3] = channels ? JsonbPGetDatum(channels) : (Datum) 0;
	values[4] = BoolGetDatum(check);
	values[5] = expected ? uuid_datum(expected) : (Datum) 0;
	sg_state_cache_forget(thread_id);
	return sg_spi_execute(plan, values, nulls, 0);
}

/*
 * Record a thread's newest checkpoint and status (and its channel kinds, if
 * given). False if the caller's role no longer sees the thread's row.
 */
bool
sg_thread_set(const char *thread_id, const pg_uuid_t *head, const char *status, Jsonb *channels)
{
	return thread_update(thread_id, false, NULL, head, status, channels) > 0;
}

/*
 * sg_thread_set for a run's step (executor.c, save_thread), as a
 * compare-and-set: only if the thread's head is still `expected` (the head
 * the run read or last wrote; NULL: none). Returns SG_ADVANCED, or
 * SG_ADVANCE_MOVED when another writer moved the head since (the run's
 * lock of the thread was let go by a node: sg_keep_thread_lock), or
 * SG_ADVANCE_HIDDEN when row-level security hides the row now.
 */
SGAdvance
sg_thread_advance(const char *thread_id, const pg_uuid_t *expected, const pg_uuid_t *head,
				  const char *status, Jsonb *channels)
{
	static SPIPlanPtr seen_plan;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(thread_id)};

	if (thread_update(thread_id, true, expected, head, status, channels) > 0)
		return SG_ADVANCED;
	sg_spi_prepare(&seen_plan, "SELECT 1 FROM stategraph.threads WHERE thread_id OPERATOR(pg_catalog.=) $1", 1, types);
	return sg_spi_execute(seen_plan, values, NULL, 1) > 0 ? SG_ADVANCE_MOVED : SG_ADVANCE_HIDDEN;
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

/*
 * Run a kept statement on one checkpoint: $1 its thread, $2 its id, then
 * njsonb jsonb arguments (at most two; NULL is SQL null). Returns how many
 * rows it found (at most count; 0: all) or changed.
 */
static uint64
run_on_checkpoint(SPIPlanPtr *plan, const char *sql, const char *thread_id, const pg_uuid_t *id,
				  int njsonb, Jsonb **jsonb, long count)
{
	Oid			types[4] = {TEXTOID, UUIDOID, JSONBOID, JSONBOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int			i;

	Assert(njsonb <= 2);
	sg_spi_prepare(plan, sql, 2 + njsonb, types);
	values[0] = CStringGetTextDatum(thread_id);
	values[1] = uuid_datum(id);
	for (i = 0; i < njsonb; i++)
	{
		values[2 + i] = jsonb[i] ? JsonbPGetDatum(jsonb[i]) : (Datum) 0;
		nulls[2 + i] = jsonb[i] ? ' ' : 'n';
	}
	return sg_spi_execute(*plan, values, nulls, count);
}

/* Checkpoint id of a thread, or NULL. */
SGCheckpoint *
sg_checkpoint_fetch(const char *thread_id, const pg_uuid_t *id)
{
	static SPIPlanPtr plan;

	if (run_on_checkpoint(&plan,
						  "SELECT " SG_CHECKPOINT_COLUMNS " FROM stategraph.checkpoints "
						  "WHERE thread_id OPERATOR(pg_catalog.=) $1 "
						  "AND checkpoint_id OPERATOR(pg_catalog.=) $2",
						  thread_id, id, 0, NULL, 1) == 0)
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

	if (run_on_checkpoint(&plan,
						  "SELECT writes FROM stategraph.checkpoints "
						  "WHERE thread_id OPERATOR(pg_catalog.=) $1 "
						  "AND checkpoint_id OPERATOR(pg_catalog.>) $2 "
						  "AND parent_id OPERATOR(pg_catalog.=) $2 AND parent_thread IS NULL "
						  "AND source OPERATOR(pg_catalog.=) 'loop' "
						  "ORDER BY checkpoint_id LIMIT 1",
						  thread_id, id, 0, NULL, 1) == 0)
		return NULL;
	return sg_spi_jsonb(0, SG_SOLE_COLUMN);
}

/*
 * The write of checkpoint cp's __start__ task that its step kept pending
 * when it stopped (a router of __start__ or a reducer failed on the input,
 * with on_error 'return'), as [["__start__", input]]; NULL if none. No loop
 * checkpoint follows cp then: the input is only there.
 */
static Jsonb *
pending_start_writes(SGCheckpoint *cp)
{
	int			i;

	for (i = 0; i < cp->nnext && cp->pending != NULL; i++)
	{
		char		task_id[37];
		Jsonb	   *w;
		SGJsonBuilder b = {0};

		if (strcmp(cp->next[i], SG_START_NAME) != 0)
			continue;
		sg_task_id(&cp->id, cp->next[i], i, task_id);
		w = sg_jsonb_get(sg_jsonb_get(cp->pending, task_id), "writes");
		if (w == NULL)
			continue;
		sg_jb_begin_array(&b);
		sg_jb_begin_array(&b);
		sg_jb_string(&b, SG_START_NAME);
		sg_jb_jsonb(&b, w);
		sg_jb_end_array(&b);
		sg_jb_end_array(&b);
		return sg_jb_finish(&b);
	}
	return NULL;
}

/*
 * The writes that hold the input of a run resumed at checkpoint cp (its
 * __start__ task's write): those of the loop checkpoint that followed cp
 * or, for a fork not resumed yet, followed the checkpoint it was forked
 * from (forks of forks walked to their source); or, where the step after
 * such a checkpoint failed, the write its __start__ task kept pending
 * there; else the input a fork row keeps in its meta ("input_writes",
 * sg_fork_start_input), for a fork whose source is gone (deleted, pruned) or
 * elsewhere (an import, a router's move). NULL if none.
 */
Jsonb *
sg_checkpoint_input_writes(SGCheckpoint *cp)
{
	SGCheckpoint *from = cp;
	Jsonb	   *kept = NULL;	/* the nearest fork row's own copy */
	Jsonb	   *writes;

	while ((writes = sg_checkpoint_child_writes(from->thread_id, &from->id)) == NULL &&
		   (writes = pending_start_writes(from)) == NULL &&
		   strcmp(from->source, "fork") == 0 && from->has_parent)
	{
		if (kept == NULL)
			kept = sg_jsonb_get(from->meta, "input_writes");
		from = sg_checkpoint_fetch(from->parent_thread ? from->parent_thread : from->thread_id,
								   &from->parent_id);
		if (from == NULL)
			break;
		CHECK_FOR_INTERRUPTS();	/* (a chain of rows written by hand could loop) */
	}
	return writes != NULL ? writes : kept;
}

/*
 * The input of a run resumed at checkpoint cp: the __start__ task's writes
 * among those sg_checkpoint_input_writes finds (an array of [task, value]
 * pairs), or NULL if none. What a run replays (executor's replay_input),
 * what a fork of an input checkpoint keeps in its row (branch.c's
 * sg_fork_start_input), and what an older fork row gets before it is cut off
 * from its source (sg_checkpoint_fork_input).
 */
Jsonb *
sg_checkpoint_start_writes(SGCheckpoint *cp)
{
	Jsonb	   *writes = sg_checkpoint_input_writes(cp);
	SGJsonBuilder b = {0};
	bool		any = false;
	int			i;

	if (writes == NULL)
		return NULL;
	sg_jb_begin_array(&b);
	for (i = 0; i < sg_jsonb_array_length(writes); i++)
	{
		Jsonb	   *w = sg_jsonb_array_get(writes, i);
		char	   *task = sg_jsonb_as_cstring(sg_jsonb_array_get(w, 0));

		if (task != NULL && strcmp(task, SG_START_NAME) == 0)
		{
			sg_jb_jsonb(&b, w);
			any = true;
		}
	}
	sg_jb_end_array(&b);
	return any ? sg_jb_finish(&b) : NULL;
}

/* Is one of cp's next tasks __start__'s (cp is an input checkpoint)? */
bool
sg_checkpoint_is_input(SGCheckpoint *cp)
{
	int			i;

	for (i = 0; i < cp->nnext; i++)
		if (strcmp(cp->next[i], SG_START_NAME) == 0)
			return true;
	return false;
}

/*
 * The input a fork row cp is to keep in its own meta ("input_writes") before
 * it is cut off from its source (sg_detach_forks) or carried out of its
 * database (an export): sg_checkpoint_start_writes, for a row that starts a
 * fork of another thread's input checkpoint, keeps no such copy yet (forks
 * made before branch.c's sg_fork_start_input, or imported from their exports)
 * and has not been resumed (no loop child of its own, which holds the input
 * in its thread). NULL otherwise.
 */
Jsonb *
sg_checkpoint_fork_input(SGCheckpoint *cp)
{
	if (cp->parent_thread == NULL)
		return NULL;
	return sg_checkpoint_copy_input(cp);
}

/*
 * The same for any copy of an input checkpoint, in its own thread too (the
 * copy a run from an older input checkpoint starts with, made before it kept
 * its input itself): what it must keep before prune removes its source.
 */
Jsonb *
sg_checkpoint_copy_input(SGCheckpoint *cp)
{
	if (strcmp(cp->source, "fork") != 0 || !cp->has_parent || sg_jsonb_get(cp->meta, "input_writes") != NULL ||
		!sg_checkpoint_is_input(cp) || sg_checkpoint_child_writes(cp->thread_id, &cp->id) != NULL)
		return NULL;
	return sg_checkpoint_start_writes(cp);
}

/* Store the pending writes of checkpoint id (NULL: none). */
void
sg_checkpoint_set_pending(const char *thread_id, const pg_uuid_t *id, Jsonb *pending)
{
	static SPIPlanPtr plan;

	run_on_checkpoint(&plan,
					  "UPDATE stategraph.checkpoints SET pending = $3 "
					  "WHERE thread_id OPERATOR(pg_catalog.=) $1 "
					  "AND checkpoint_id OPERATOR(pg_catalog.=) $2",
					  thread_id, id, 1, &pending, 0);
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

		if (pair == NULL || pair->type != jbvBinary || !JsonContainerIsArray(pair->val.binary.data))
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

/* Add v to arrays[*n] if it is an array (an empty base, or anything else, adds nothing). */
static void
add_array(JsonbContainer **arrays, int *n, JsonbValue *v)
{
	if (v != NULL && v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data))
		arrays[(*n)++] = v->val.binary.data;
}

/* base followed by the elements of parts (array JsonbValues, in place), as one new array. */
static Jsonb *
concat_values(JsonbValue *base, List *parts)
{
	JsonbContainer **arrays;
	int			n = 0;
	ListCell   *lc;

	if (parts == NIL)
		return base ? JsonbValueToJsonb(base) : NULL;
	arrays = palloc(sizeof(JsonbContainer *) * (list_length(parts) + 1));
	add_array(arrays, &n, base);
	foreach(lc, parts)
		add_array(arrays, &n, (JsonbValue *) lfirst(lc));
	return sg_jsonb_array_concat(n, arrays);
}

/* A jsonb column of a tuple, in place (NULL when null). */
static Jsonb *
jsonb_datum(HeapTuple t, TupleDesc d, int col)
{
	bool		isnull;
	Datum		v = SPI_getbinval(t, d, col, &isnull);

	return isnull ? NULL : DatumGetJsonbP(v);
}

/* A row a loaded state still needs: a reference's target, or a segment's previous image. */
typedef struct RefFetch
{
	int			channel;
	pg_uuid_t	row;
	const char *thread;			/* segment chains: the thread the row is in */
} RefFetch;

/* The uuid a jsonb string (a reference to a row) holds. */
static pg_uuid_t
uuid_from_jsonb(JsonbValue *v)
{
	return uuid_from_cstring(pnstrdup(v->val.string.val, v->val.string.len));
}

/* A RefFetch of channel c to the row whose id the jsonb string v holds. */
static RefFetch *
ref_fetch(int c, JsonbValue *v, const char *thread)
{
	RefFetch   *rf = palloc(sizeof(RefFetch));

	rf->channel = c;
	rf->row = uuid_from_jsonb(v);
	rf->thread = thread;
	return rf;
}

/* Bytes (and, added to *count, elements) of a list of appended arrays (JsonbValues in place). */
static int64
appended_bytes(List *appended, int64 *count)
{
	ListCell   *lc;
	int64		n = 0;

	foreach(lc, appended)
	{
		JsonbValue *v = (JsonbValue *) lfirst(lc);

		n += v->type == jbvBinary ? v->val.binary.len : 16;
		if (v->type == jbvBinary)
			*count += JsonContainerSize(v->val.binary.data);
	}
	return n;
}

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
 * The walk of sg_load_state back through a checkpoint's ancestors. Values
 * found are JsonbValues in place in the fetched rows (tuptables), until the
 * state copies what it keeps.
 */
typedef struct StateWalk
{
	SGChannelSet *cs;
	SGState    *s;
	bool	   *resolved;		/* per channel: its walk has ended */
	int			nresolved;
	JsonbValue **base;			/* per channel: its value, or (append) the value before deltas */
	List	  **deltas;			/* per append channel: arrays appended after base, oldest first */
	List	   *refs;			/* RefFetch: channels whose value is in another row */
	List	   *segments;		/* RefFetch: segments whose previous image is still to read */
	List	   *tuptables;		/* fetched rows, freed once the state is copied out */
	int			depth;			/* rows walked */
	SGCheckpoint *row;			/* the checkpoint itself, once met */
	const char *thread;			/* the thread the walk is in (forks lead into others) */
	bool		same_thread;	/* still in the thread of the checkpoint */
	pg_uuid_t	expected;		/* the next ancestor to meet */
	bool		have_expected;	/* false: the walk reached the first checkpoint */
	int			batch;			/* rows to fetch next */
	bool		first_try;		/* not under one snapshot: stop where the walk would
								 * leave the thread or misses a row */
	bool		stopped;		/* ... and it did: to be walked again under one snapshot */
} StateWalk;

/* Channel c is resolved at the current row of the walk. */
static void
walk_resolved(StateWalk *w, int c)
{
	w->resolved[c] = true;
	w->nresolved++;
	w->s->track[c].rows = w->depth;
}

/* Is there more to walk (in the current thread)? */
static bool
walk_goes_on(StateWalk *w)
{
	return w->have_expected && !w->stopped && w->nresolved < w->cs->n;
}

/*
 * The columns of one row of the walk that a channel's resolution reads
 * (in place), and the row's id.
 */
typedef struct WalkRow
{
	Jsonb	   *writes;
	Jsonb	   *image;
	bool		complete;
	Jsonb	   *refs;
	pg_uuid_t  *id;
} WalkRow;

/* Channel c at a segment of its values in this row: what was appended since the image it refers to. */
static void
walk_segment(StateWalk *w, int c, WalkRow *row, JsonbValue *v)
{
	w->deltas[c] = lcons(v, w->deltas[c]);
	w->segments = lappend(w->segments, ref_fetch(c, find_key(row->refs, w->cs->names[c]), w->thread));
	walk_resolved(w, c);
	w->s->track[c].has_loc = w->same_thread;
	w->s->track[c].loc = *row->id;
}

/* The append writes of channel c in this row: collected, and counted in its track. */
static void
walk_appends(StateWalk *w, int c, WalkRow *row)
{
	List	   *appended = writes_to(row->writes, w->cs->names[c]);

	w->s->track[c].bytes += appended_bytes(appended, &w->s->track[c].count);
	w->deltas[c] = list_concat(appended, w->deltas[c]);
}

/* Resolve channel c at one row of the walk, if the row says its value or where it is. */
static void
walk_channel(StateWalk *w, int c, WalkRow *row)
{
	const char *name = w->cs->names[c];
	JsonbValue *v;

	if (is_segment(w->cs, c, row->refs, row->complete) && (v = find_key(row->image, name)) != NULL)
	{
		walk_segment(w, c, row, v);
		return;
	}
	if (row->complete || (v = find_key(row->image, name)) != NULL)
		w->base[c] = row->complete ? find_key(row->image, name) : v;
	else if ((v = find_key(row->refs, name)) != NULL)
	{
		if (v->type == jbvString)
		{
			/* a row of the thread the walk is in: a fork's walk goes on into another */
			RefFetch   *rf = ref_fetch(c, v, w->thread);

			w->refs = lappend(w->refs, rf);
			w->s->track[c].has_loc = w->same_thread;
			w->s->track[c].loc = rf->row;
		}
		walk_resolved(w, c);
		return;
	}
	else if (w->cs->kinds[c] == SG_STORE_LAST)
	{
		List	   *written = writes_to(row->writes, name);

		if (written == NIL)
			return;
		w->base[c] = (JsonbValue *) llast(written);
	}
	else
	{
		if (w->cs->kinds[c] == SG_STORE_APPEND)
			walk_appends(w, c, row);
		return;
	}

	/* resolved in this row */
	walk_resolved(w, c);
	if (w->same_thread)
	{
		w->s->track[c].has_loc = true;
		w->s->track[c].loc = *row->id;
	}
}

/*
 * Take one row of the walk, if it is the ancestor expected next (not a row
 * of another branch): resolve what channels it can, and go on to its
 * parent. Returns true when the parent is in another thread.
 */
static bool
walk_row(StateWalk *w, HeapTuple t, TupleDesc d)
{
	WalkRow		row;
	bool		isnull;
	Datum		parent;
	Datum		parent_thread;
	int			c;

	row.id = DatumGetUUIDP(SPI_getbinval(t, d, Anum_checkpoint_checkpoint_id, &isnull));
	if (memcmp(row.id->data, w->expected.data, UUID_LEN) != 0)
		return false;			/* a row of another branch */
	if (w->row == NULL)
	{
		w->row = sg_checkpoint_from_tuple(t, d);
		w->s->barriers = w->row->barriers;
	}
	row.writes = jsonb_datum(t, d, Anum_checkpoint_writes);
	row.image = jsonb_datum(t, d, Anum_checkpoint_image);
	row.complete = DatumGetBool(SPI_getbinval(t, d, Anum_checkpoint_image_complete, &isnull));
	row.refs = jsonb_datum(t, d, Anum_checkpoint_refs);
	for (c = 0; c < w->cs->n; c++)
		if (!w->resolved[c])
			walk_channel(w, c, &row);
	w->depth++;

	parent = SPI_getbinval(t, d, Anum_checkpoint_parent_id, &isnull);
	w->have_expected = !isnull;
	if (!w->have_expected)
		return false;
	w->expected = *DatumGetUUIDP(parent);
	parent_thread = SPI_getbinval(t, d, Anum_checkpoint_parent_thread, &isnull);
	if (isnull)
		return false;
	if (w->first_try)
	{
		w->stopped = true;
		return true;
	}
	w->thread = TextDatumGetCString(parent_thread);
	w->same_thread = false;
	return true;
}

/*
 * Walk the rows of the current thread, newest first from the expected
 * ancestor, in batches that grow, until every channel is resolved, the
 * first checkpoint is reached, or the walk moves on into another thread.
 */
static void
walk_thread(StateWalk *w)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {TEXTOID, UUIDOID};
	Datum		values[2];
	Portal		portal;
	bool		switched = false;

	sg_spi_prepare(&plan,
				   "SELECT " SG_CHECKPOINT_COLUMNS " FROM stategraph.checkpoints "
				   "WHERE thread_id OPERATOR(pg_catalog.=) $1 "
				   "AND checkpoint_id OPERATOR(pg_catalog.<=) $2 "
				   "ORDER BY checkpoint_id DESC", 2, types);
	values[0] = CStringGetTextDatum(w->thread);
	values[1] = uuid_datum(&w->expected);
	portal = sg_spi_cursor_open(plan, values, NULL);
	while (!switched && walk_goes_on(w))
	{
		uint64		nrows = sg_spi_cursor_fetch(portal, w->batch);
		SPITupleTable *tt = SPI_tuptable;
		uint64		i;

		if (nrows == 0)
		{
			w->have_expected = false;
			break;
		}
		w->tuptables = lappend(w->tuptables, tt);
		w->batch = Min(w->batch * 4, 1024);
		for (i = 0; i < nrows && !switched && walk_goes_on(w); i++)
			switched = walk_row(w, tt->vals[i], tt->tupdesc);
	}
	sg_spi_cursor_close(portal);
}

/* Follow each segment the walk found to the image before it, down to a full one. */
static void
walk_segments(StateWalk *w)
{
	ListCell   *lc;

	foreach(lc, w->segments)
	{
		RefFetch   *rf = (RefFetch *) lfirst(lc);
		pg_uuid_t	at = rf->row;
		const char *name = w->cs->names[rf->channel];

		for (;;)
		{
			SGCheckpoint *row = sg_checkpoint_fetch(rf->thread, &at);
			JsonbValue *v = row ? find_key(row->image, name) : NULL;

			/* gone since the walk's cursor: a prune or delete committed in between (load_state) */
			if (row == NULL && w->first_try)
			{
				w->stopped = true;
				return;
			}

			/*
			 * A complete image leaves empty channels out: earlier builds
			 * wrote the first segment of an append channel a recompiled
			 * graph added (its default) against the thread's first row,
			 * where the channel has no value.
			 */
			if (v == NULL && row != NULL && row->image_complete)
			{
				w->base[rf->channel] = NULL;
				break;
			}
			if (v == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("checkpoint %s of thread \"%s\" lacks the image of channel \"%s\" it should have",
								sg_uuid_to_cstring(&at), rf->thread, name)));
			if (is_segment(w->cs, rf->channel, row->refs, row->image_complete))
			{
				w->deltas[rf->channel] = lcons(v, w->deltas[rf->channel]);
				at = uuid_from_jsonb(find_key(row->refs, name));
				continue;
			}
			w->base[rf->channel] = v;
			break;
		}
	}
}

/* Read the values of the channels the walk found references for (checkpoint id of thread_id). */
static void
walk_refs(StateWalk *w, const char *thread_id, const pg_uuid_t *id)
{
	ListCell   *lc;

	foreach(lc, w->refs)
	{
		RefFetch   *rf = (RefFetch *) lfirst(lc);
		SGCheckpoint *row = sg_checkpoint_fetch(rf->thread, &rf->row);

		if (row == NULL && w->first_try)
		{
			w->stopped = true;	/* as in walk_segments */
			return;
		}
		if (row == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("checkpoint %s of thread \"%s\" refers to missing checkpoint %s of thread \"%s\" for channel \"%s\"",
							sg_uuid_to_cstring(id), thread_id, sg_uuid_to_cstring(&rf->row), rf->thread,
							w->cs->names[rf->channel])));
		w->s->values[rf->channel] = value_in_row(row, w->cs->names[rf->channel]);
	}
}

static SGState *load_state(SGChannelSet *cs, const char *thread_id, const pg_uuid_t *id,
						   SGCheckpoint **cp_out, int only);

/*
 * Rebuild the state of checkpoint id of a thread (see the header comment).
 * *cp_out, if given, receives the checkpoint row itself. The state's track
 * tells the writer of the next row how far each channel's walk was.
 */
SGState *
sg_load_state(SGChannelSet *cs, const char *thread_id, const pg_uuid_t *id, SGCheckpoint **cp_out)
{
	return load_state(cs, thread_id, id, cp_out, -1);
}

/*
 * The value of one channel (its index in cs) at checkpoint id of a thread
 * (NULL: empty), walking only as far as that channel needs.
 */
Jsonb *
sg_load_channel(SGChannelSet *cs, const char *thread_id, const pg_uuid_t *id, int channel)
{
	return load_state(cs, thread_id, id, NULL, channel)->values[channel];
}

/*
 * One walk of load_state (see there); first_try: give up, returning NULL,
 * where the walk would go on into another thread or misses a row.
 */
static SGState *
load_state_walk(SGChannelSet *cs, const char *thread_id, const pg_uuid_t *id, SGCheckpoint **cp_out, int only,
				bool first_try)
{
	StateWalk	w = {0};
	int			c;
	ListCell   *lc;

	w.cs = cs;
	w.s = sg_state_new(cs->n);
	w.resolved = palloc0(sizeof(bool) * (cs->n + 1));
	w.base = palloc0(sizeof(JsonbValue *) * (cs->n + 1));
	w.deltas = palloc0(sizeof(List *) * (cs->n + 1));
	w.thread = thread_id;
	w.same_thread = true;
	w.expected = *id;
	w.have_expected = true;
	w.batch = 16;
	w.first_try = first_try;
	for (c = 0; only >= 0 && c < cs->n; c++)
		if (c != only)
		{
			w.resolved[c] = true;
			w.nresolved++;
		}

	/* a first try may stop in the cursor's walk or in the segments' */
	while (walk_goes_on(&w))
		walk_thread(&w);
	if (!w.stopped)
	{
		if (w.row == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("checkpoint %s does not exist in thread \"%s\"", sg_uuid_to_cstring(id), thread_id)));
		walk_segments(&w);
	}
	if (w.stopped)
	{
		foreach(lc, w.tuptables)
			SPI_freetuptable((SPITupleTable *) lfirst(lc));
		return NULL;
	}
	if (cp_out)
		*cp_out = w.row;

	/* copy out what the state keeps, then let the fetched rows go */
	for (c = 0; c < cs->n; c++)
	{
		if (!w.resolved[c])
			w.s->track[c].rows = w.depth;
		if (cs->kinds[c] == SG_STORE_APPEND)
			w.s->values[c] = concat_values(w.base[c], w.deltas[c]);
		else
			w.s->values[c] = w.base[c] ? JsonbValueToJsonb(w.base[c]) : NULL;
	}
	foreach(lc, w.tuptables)
		SPI_freetuptable((SPITupleTable *) lfirst(lc));

	walk_refs(&w, thread_id, id);
	return w.stopped ? NULL : w.s;
}

/*
 * sg_load_state, or (only >= 0) the value of channel only alone: the
 * others count as resolved from the start, so the walk ends when that one
 * is, and reads no reference or segment of theirs.
 *
 * One snapshot. The walk reads in several statements (a cursor per thread,
 * then the rows of segments and references), and in READ COMMITTED each
 * took a snapshot of its own. A fork's walk goes on into its source, and
 * into the source's source, whose rows another thread's sg_delete_thread
 * or sg_prune changes: the delete of c0 locks the rows of the threads
 * holding c0's forks (c3), not of the forks of those (c1), gives c3's fork
 * row an image, unlinks it and deletes c0's rows. A walk of c1 that read
 * c3's fork row before that commit (linked, no image) and c0's rows after
 * it found neither (values silently missing, and sg_invoke stored the state
 * without them), and one that read c0's rows before and the image a
 * segment of them refers to after failed with XX001 "lacks the image"
 * (test/fuzz/RESULTS.md). Within one thread, a prune of it that commits
 * between the walk's cursor and its reads of segments and references
 * (sg_get_state does not hold the thread's row; sg_invoke does, and the
 * prune waits for it) removes a row they name, and fails the read the
 * same way. So the first try of a walk stops where it would leave its
 * thread or misses a row, and the walk is then made again, whole, under
 * one snapshot taken as it begins again (sg_spi_reads_begin, spi.c),
 * seeing every thread as one commit left them (isolation
 * fork_walk_one_snapshot). A walk that stays in its thread and finds its
 * rows, as every walk of sg_invoke of a thread that is not a fork does,
 * takes no snapshot more than before: sg_invoke's hot path is unchanged;
 * a fork reads again only the rows of its own thread that its first try
 * walked. (Within one thread a missing row is the only trace a prune can
 * leave: a row it keeps gets the value it names in full, the same value.)
 * A walk under one snapshot already (a caller's) is not made again, and a
 * row missing there is damage (XX001).
 */
static SGState *
load_state(SGChannelSet *cs, const char *thread_id, const pg_uuid_t *id, SGCheckpoint **cp_out, int only)
{
	SGState    *s;
	bool		was;

	if (sg_spi_reading_one_snapshot())
		return load_state_walk(cs, thread_id, id, cp_out, only, false);
	s = load_state_walk(cs, thread_id, id, cp_out, only, true);
	if (s != NULL)
		return s;

	was = sg_spi_reads_begin();
	PG_TRY();
	{
		s = load_state_walk(cs, thread_id, id, cp_out, only, false);
	}
	PG_CATCH();
	{
		sg_spi_reads_end(was, true);
		PG_RE_THROW();
	}
	PG_END_TRY();
	sg_spi_reads_end(was, false);
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

/* What a new row stores of a channel, besides its writes. */
typedef enum ChannelStore
{
	STORE_NOTHING,
	STORE_IMAGE,				/* its whole value */
	STORE_SEGMENT,				/* what was appended since its last image, and where that is */
	STORE_REF					/* where its value is (or null: empty) */
} ChannelStore;

/* What new row cp stores of append channel c; its track moves one row on. */
static ChannelStore
append_store(SGChannelSet *cs, SGCheckpoint *cp, SGState *state, int c, bool changed)
{
	SGTrack    *t = &state->track[c];
	bool		empty = state->values[c] == NULL && state->parts[c] == NIL;
	int64		size = sg_state_value_size(state, c);
	int64		count = 0;
	int64		added = changed ? appended_bytes(writes_to(cp->writes, cs->names[c]), &count) : 0;
	int64		base = Max(size - t->bytes - added, SG_MIN_IMAGE);	/* at the last image */

	t->rows++;
	t->bytes += added;
	t->count += count;
	if ((changed || t->rows >= SG_REF_DISTANCE) &&
		t->rows * SG_ROW_COST + t->bytes >= base * SG_IMAGE_RATIO_NUM / SG_IMAGE_RATIO_DEN)
	{
		if (empty)
			return STORE_REF;
		if (t->has_loc)
			return STORE_SEGMENT;
		return STORE_IMAGE;
	}
	return STORE_NOTHING;
}

/* What new row cp stores of channel c, not an append channel; its track moves one row on. */
static ChannelStore
value_store(SGChannelSet *cs, SGCheckpoint *cp, SGState *state, int c, bool changed)
{
	SGTrack    *t = &state->track[c];
	bool		empty = state->values[c] == NULL && state->parts[c] == NIL;

	if (changed)
	{
		/* a replace write is the value itself; other reducers store it whole */
		if (cs->kinds[c] == SG_STORE_IMAGE)
			return STORE_IMAGE;
		t->rows = 0;
		t->has_loc = true;
		t->loc = cp->id;
		return STORE_NOTHING;
	}
	if (++t->rows >= SG_REF_DISTANCE)
	{
		if (!empty && (sg_state_value_size(state, c) <= SG_SMALL_VALUE || !t->has_loc))
			return STORE_IMAGE;
		return STORE_REF;
	}
	return STORE_NOTHING;
}

/* The image and refs of a new row, as they are built. */
typedef struct RowStore
{
	SGJsonBuilder image;
	SGJsonBuilder refs;
	bool		any_image;
	bool		any_ref;
} RowStore;

/* Put what new row cp stores of channel c into its image or refs; the track then describes cp. */
static void
store_channel(RowStore *rs, SGChannelSet *cs, SGCheckpoint *cp, SGState *state, int c, ChannelStore what)
{
	SGTrack    *t = &state->track[c];
	bool		empty = state->values[c] == NULL && state->parts[c] == NIL;

	if (what == STORE_NOTHING)
		return;
	if (what == STORE_SEGMENT)
	{
		/* what was appended since the last image, and where that image is */
		sg_jb_key(&rs->image, cs->names[c]);
		sg_jb_jsonb(&rs->image, sg_jsonb_array_tail(sg_state_value(state, c), (int) t->count));
		sg_jb_key(&rs->refs, cs->names[c]);
		sg_jb_string(&rs->refs, sg_uuid_to_cstring(&t->loc));
		rs->any_image = rs->any_ref = true;
	}
	else if (what == STORE_IMAGE)
	{
		/* a complete image leaves empty channels out */
		if (!empty)
		{
			sg_jb_key(&rs->image, cs->names[c]);
			sg_jb_jsonb(&rs->image, sg_state_value(state, c));
		}
		rs->any_image = true;
		t->has_loc = true;
	}
	else
	{
		sg_jb_key(&rs->refs, cs->names[c]);
		if (empty || !t->has_loc)
			sg_jb_null(&rs->refs);
		else
			sg_jb_string(&rs->refs, sg_uuid_to_cstring(&t->loc));
		rs->any_ref = true;
	}
	t->rows = 0;
	t->bytes = 0;
	t->count = 0;
	if (what != STORE_REF)
		t->loc = cp->id;
}

/* Insert checkpoint row cp as it is. */
static void
insert_row(SGCheckpoint *cp)
{
	static SPIPlanPtr plan;
	Oid			types[Natts_checkpoint] = {TEXTOID, UUIDOID, UUIDOID, TEXTOID, INT4OID, TEXTOID, TEXTARRAYOID,
		JSONBOID, JSONBOID, BOOLOID, JSONBOID, JSONBOID, JSONBOID, JSONBOID, JSONBOID, TIMESTAMPTZOID};
	Datum		values[Natts_checkpoint];
	char		nulls[Natts_checkpoint];
	Datum	   *next = palloc(sizeof(Datum) * (cp->nnext + 1));
	int			i;

	sg_spi_prepare(&plan,
				   "INSERT INTO stategraph.checkpoints (" SG_CHECKPOINT_COLUMNS ") VALUES "
				   "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
				   Natts_checkpoint, types);
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
	sg_thread_check_still_writable(cp->thread_id);
	sg_spi_execute(plan, values, nulls, 0);
}

/*
 * Decide the image and references of a new row (see the header comment),
 * update the state's track to describe the new row, and insert it.
 * written[c] tells which channels the row's writes changed.
 */
void
sg_checkpoint_insert(SGChannelSet *cs, SGCheckpoint *cp, SGState *state, bool *written)
{
	RowStore	rs;
	int			c;

	sg_check_state_size(cs, state, cp->thread_id);
	memset(&rs, 0, sizeof(rs));
	sg_jb_begin_object(&rs.image);
	sg_jb_begin_object(&rs.refs);
	for (c = 0; c < cs->n; c++)
	{
		bool		changed = written && written[c];
		ChannelStore what;

		if (cp->image_complete)
			what = STORE_IMAGE;
		else if (cs->kinds[c] == SG_STORE_APPEND)
			what = append_store(cs, cp, state, c, changed);
		else
			what = value_store(cs, cp, state, c, changed);
		store_channel(&rs, cs, cp, state, c, what);
	}
	sg_jb_end_object(&rs.image);
	sg_jb_end_object(&rs.refs);
	cp->image = rs.any_image || cp->image_complete ? sg_jb_finish(&rs.image) : NULL;
	cp->refs = rs.any_ref ? sg_jb_finish(&rs.refs) : NULL;
	if (cp->created_at == 0)
		cp->created_at = GetCurrentTimestamp();
	insert_row(cp);
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
 * For a row without writes of its own (a fork, an input): the names of the
 * nodes that ran last, with empty updates ([[node, {}], ...]), which its
 * ancestors tell today and may not once pruned or left behind by an export.
 * NULL when the row has writes or nothing ran before it.
 */
Jsonb *
sg_checkpoint_standin_writes(SGCheckpoint *cp)
{
	Jsonb	   *last = sg_jsonb_array_length(cp->writes) > 0 ? NULL : sg_checkpoint_last_writes(cp);
	int			n = last ? sg_jsonb_array_length(last) : 0;
	SGJsonBuilder b = {0};

	if (last == NULL)
		return NULL;
	sg_jb_begin_array(&b);
	for (int i = 0; i < n; i++)
	{
		sg_jb_begin_array(&b);
		sg_jb_jsonb(&b, sg_jsonb_array_get(sg_jsonb_array_get(last, i), 0));
		sg_jb_jsonb(&b, sg_jsonb_empty_object());
		sg_jb_end_array(&b);
	}
	sg_jb_end_array(&b);
	return sg_jb_finish(&b);
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
	Jsonb	   *args[2] = {sg_state_to_jsonb(cs, s), NULL};	/* image, writes */

	args[1] = sg_checkpoint_standin_writes(row);
	run_on_checkpoint(&plan,
					  "UPDATE stategraph.checkpoints SET image = $3, image_complete = true, refs = NULL, "
					  "writes = COALESCE($4, writes) "
					  "WHERE thread_id OPERATOR(pg_catalog.=) $1 "
					  "AND checkpoint_id OPERATOR(pg_catalog.=) $2",
					  thread_id, id, 2, args, 0);
}

/*
 * Give a row the value of one channel in its image, in place of its
 * reference (or, for an append channel, its segment and the pointer to the
 * image before it), before the row the reference points at is pruned: the
 * row then reads that channel without it, and nothing else changes. An
 * empty channel becomes a null reference.
 */
void
sg_checkpoint_image_channel(SGChannelSet *cs, const char *thread_id, const pg_uuid_t *id, const char *channel)
{
	static SPIPlanPtr plan;
	Oid			types[4] = {TEXTOID, UUIDOID, TEXTOID, JSONBOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int			c = sg_channelset_index(cs, channel);
	/* (that channel alone: loading the whole state read every other channel's value too) */
	Jsonb	   *value = c >= 0 ? sg_load_channel(cs, thread_id, id, c) : NULL;

	sg_spi_prepare(&plan,
				   "UPDATE stategraph.checkpoints SET "
				   "image = CASE WHEN $4 IS NULL THEN image OPERATOR(pg_catalog.-) $3 "
				   "        ELSE COALESCE(image, '{}') OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object($3, $4) END, "
				   "refs = CASE WHEN $4 IS NULL "
				   "       THEN COALESCE(refs, '{}') OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object($3, 'null'::pg_catalog.jsonb) "
				   "       WHEN refs OPERATOR(pg_catalog.-) $3 OPERATOR(pg_catalog.=) '{}'::pg_catalog.jsonb THEN NULL "
				   "       ELSE refs OPERATOR(pg_catalog.-) $3 END "
				   "WHERE thread_id OPERATOR(pg_catalog.=) $1 AND checkpoint_id OPERATOR(pg_catalog.=) $2",
				   4, types);
	values[0] = CStringGetTextDatum(thread_id);
	values[1] = uuid_datum(id);
	values[2] = CStringGetTextDatum(channel);
	values[3] = value ? JsonbPGetDatum(value) : (Datum) 0;
	nulls[3] = value ? ' ' : 'n';
	sg_spi_execute(plan, values, nulls, 0);
}

/*
 * Load the state of checkpoint id of thread th to run it with graph g. The
 * thread's channels must still be g's (same names, same kinds); channels g
 * added since start at their defaults, and *new_kinds says so.
 */
SGState *
sg_load_for_graph(SGGraph *g, SGThread *th, const pg_uuid_t *id, SGCheckpoint **cp, bool *new_kinds)
{
	SGChannelSet *tk = sg_channelset_from_jsonb(th->channels);
	SGState    *state;
	int			i;

	for (i = 0; i < tk->n; i++)
	{
		int			c = sg_channelset_index(g->cs, tk->names[i]);

		if (c < 0 || g->cs->kinds[c] != tk->kinds[i])
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("thread \"%s\" cannot continue with graph \"%s\": channel \"%s\" %s",
							th->thread_id, g->name, tk->names[i],
							c < 0 ? "was removed" : "has another reducer"),
					 errdetail("The thread was written with other channels than the graph has now."),
					 errhint("Start a new thread for the changed graph.")));
	}
	*new_kinds = tk->n != g->cs->n;
	if (memcmp(id, &th->head, sizeof(pg_uuid_t)) != 0 || *new_kinds ||
		!sg_state_cache_get(th, cp, &state, CurrentMemoryContext))
		state = sg_load_state(g->cs, th->thread_id, id, cp);
	/*
	 * A channel with a default is empty only at a checkpoint written before
	 * the graph had it (a complete image leaves empty channels out, and the
	 * thread's first row has every default): a channel the graph added since
	 * starts at its default there, also once the thread's layout has it (a
	 * run gone back to a checkpoint older than the change). It is stored
	 * whole at the next checkpoint: the walk took the row where it found the
	 * channel missing for where its value is, and a segment or reference to
	 * that row would read back as no image at all, or as empty.
	 */
	for (i = 0; i < g->nchannels; i++)
		if ((*new_kinds && sg_channelset_index(tk, g->channels[i].name) < 0) ||
			(g->channels[i].initial != NULL && state->values[i] == NULL && state->parts[i] == NIL))
		{
			state->values[i] = g->channels[i].initial;
			state->track[i].rows = 1000;
			state->track[i].bytes = 0;
			state->track[i].count = 0;
			state->track[i].has_loc = false;
		}
	return state;
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

/* Free a cache entry. */
static void
cache_entry_free(StateCacheEntry *e)
{
	MemoryContextDelete(e->cxt);	/* the entry lives in its own context */
}

/* Take an entry out of the cache; free it unless a run still uses it. */
static void
cache_evict(StateCacheEntry *e)
{
	state_cache = list_delete_ptr(state_cache, e);
	state_cache_bytes -= e->size;
	e->evicted = true;
	if (e->pins == 0)
		cache_entry_free(e);
}

/* A run that used an entry is done with it (a memory context reset callback). */
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
