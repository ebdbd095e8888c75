/*-------------------------------------------------------------------------
 *
 * lgmaint.c
 *		LangGraph checkpoint storage, maintenance: delete_thread,
 *		copy_thread, prune, delete_for_runs, and the same threads in
 *		stategraph's own maintenance (sg_prune, sg_delete_thread, the
 *		retention sweep, sg_export_thread / sg_import_thread).
 *
 * The storage and its locks are lgsaver.c's (its essay: "Pruning" and
 * "One writer per thread"). A removal takes its threads' writers' locks
 * exclusive, a batch at a time in one order, removes checkpoint rows, then
 * the values no surviving checkpoint refers to, rewriting whole first a
 * surviving value whose base goes, and lets go of each thread's lock once
 * its rows are removed: one statement may remove any number of threads
 * without a lock entry per thread. Writes sent without a checkpoint
 * (strays) go once a minute old, found through lg_stray_threads. An
 * export carries the rows as stored; an import checks them (format,
 * digest, completeness) and stores them under the thread's own or a new id.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"
#include "lgsaver.h"

#include "catalog/pg_collation.h"
#include "common/base64.h"
#include "common/sha2.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"

/* ---------------------------------------------------------------------------
 * Deleting, copying, pruning
 * ---------------------------------------------------------------------------
 */

/* Whether every element of threads (text[], not empty) is one id: then *one is it (text). */
static bool
lg_one_thread(Datum threads, Datum *one)
{
	Datum	   *ids;
	bool	   *inull;
	int			n, i;

	deconstruct_array(DatumGetArrayTypeP(threads), TEXTOID, -1, false, TYPALIGN_INT, &ids, &inull, &n);
	for (i = 0; i < n; i++)
		if (inull[i] || !DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, ids[i], ids[0])))
			return false;
	*one = n > 0 ? ids[0] : (Datum) 0;
	return n > 0;
}

/* Runs a one-off statement with text[] argument $1; returns rows affected. */
static uint64
lg_exec_array(const char *sql, Datum arr)
{
	Oid			t = TEXTARRAYOID;

	return sg_spi_run(sql, 1, &t, &arr, NULL);
}

/*
 * Deletes the given threads entirely; returns checkpoints removed. One
 * statement, so one snapshot: a first put of an id that lg_lock_thread
 * left unlocked (nothing of it stored yet) and that commits meanwhile is
 * removed whole or kept whole, never kept without its values.
 */
static uint64 lg_delete_thread(const char *thread_id);

/*
 * Under REPEATABLE READ or SERIALIZABLE, notes the given threads (text[])
 * and the owners of their checkpoints in stategraph.lg_stray_threads, before
 * a removal of their checkpoints: the removal waited on the thread's lock
 * for a put_writes in flight, whose write its transaction's snapshot does
 * not show, and which did not note the thread (it had a checkpoint then).
 * Unnoted, that write outlived its thread and no removal of strays found
 * it (isolation revstray_rr_delete). A note of a thread without such a
 * write goes at the next removal. With READ COMMITTED the removal's
 * statements see the write.
 */
static void
lg_note_unseen_writes(Datum threads)
{
	if (!IsolationUsesXactSnapshot())
		return;
	(void) lg_exec_array("INSERT INTO stategraph.lg_stray_threads (thread_id, owner) "
						 "SELECT DISTINCT c.thread_id, c.owner FROM stategraph.lg_checkpoints c "
						 "WHERE c.thread_id OPERATOR(pg_catalog.=) ANY ($1)", threads);
}

static uint64
lg_delete_threads(Datum threads, void *arg)
{
	Datum		thread;

	if (lg_one_thread(threads, &thread))
		return lg_delete_thread(TextDatumGetCString(thread));	/* kept, planned once */
	lg_note_unseen_writes(threads);
	return lg_exec_array("WITH b AS (DELETE FROM stategraph.lg_blobs WHERE thread_id OPERATOR(pg_catalog.=) ANY ($1)), "
						 "w AS (DELETE FROM stategraph.lg_writes WHERE thread_id OPERATOR(pg_catalog.=) ANY ($1)) "
						 "DELETE FROM stategraph.lg_checkpoints WHERE thread_id OPERATOR(pg_catalog.=) ANY ($1)", threads);
}

/*
 * lg_delete_threads of one thread, a kept scalar statement, as in
 * lg_hold_owner: the one-element array form, one-off, was planned again
 * at every deleteThread and every thread the sweep deleted.
 */
static uint64
lg_delete_thread(const char *thread_id)
{
	static SPIPlanPtr plan;
	Oid			t = TEXTOID;
	Datum		k = CStringGetTextDatum(thread_id);

	if (IsolationUsesXactSnapshot())
		lg_note_unseen_writes(PointerGetDatum(construct_array(&k, 1, TEXTOID, -1, false, TYPALIGN_INT)));
	sg_spi_prepare(&plan, "WITH b AS (DELETE FROM stategraph.lg_blobs WHERE thread_id OPERATOR(pg_catalog.=) $1), "
				   "w AS (DELETE FROM stategraph.lg_writes WHERE thread_id OPERATOR(pg_catalog.=) $1) "
				   "DELETE FROM stategraph.lg_checkpoints WHERE thread_id OPERATOR(pg_catalog.=) $1", 1, &t);
	return sg_spi_execute(plan, &k, NULL, 0);
}

/*
 * Whether thread_id has a checkpoint, key-share-locked: a delete or prune of
 * it that let go of its lock before committing (lg_unlock_thread) is waited
 * for, as it was on the lock, and its rows are then passed over (without, a
 * copy or import into a thread being deleted failed, 42710).
 */
static bool
lg_checkpoints_stored(const char *thread_id)
{
	static SPIPlanPtr plan;

	return lg_run_on_thread(&plan, "SELECT 1 FROM stategraph.lg_checkpoints "
							"WHERE thread_id OPERATOR(pg_catalog.=) $1 LIMIT 1 FOR KEY SHARE", thread_id, 0) > 0;
}

PG_FUNCTION_INFO_V1(sg_lg_delete_thread);

/* sg_lg_delete_thread(thread_id) -> bigint */
Datum
sg_lg_delete_thread(PG_FUNCTION_ARGS)
{
	char	   *thread_id = lg_required_text(fcinfo, 0, "thread_id");
	uint64		n;
	bool		taken;
	bool		may_wait = sg_role_hold_may_wait();

	sg_prevent_write("sg_lg_delete_thread");
	sg_spi_connect();
	lg_hold_owner(thread_id, may_wait);
	(void) lg_lock_thread(thread_id, false, &taken);
	n = lg_delete_thread(thread_id);
	if (taken)
		lg_unlock_thread(thread_id);
	sg_spi_finish();
	PG_RETURN_INT64((int64) n);
}

/*
 * Removes the writes of a thread id without checkpoints, before an import
 * or a copy stores a thread under it: writes a run sent after its thread
 * was deleted (put_writes cannot refuse them: LangGraph sends writes ahead
 * of their checkpoint's put). Kept, they became pending writes of a
 * restored checkpoint of the same id, or failed the import on their key.
 * Writes that row-level security keeps the caller from removing are
 * another role's: refused as an id another role's thread has (42501), not
 * stored beside (they stayed in the new thread for good) nor failing the
 * import on their key as if the export had it twice (SGX01).
 */
static void
lg_drop_strays(const char *thread_id)
{
	static SPIPlanPtr plan;

	/* REPEATABLE READ: writes committed since the snapshot would be neither removed nor refused */
	sg_thread_refuse_changed_unseen("lg_writes", thread_id, NULL);
	/* a kept scalar statement, as in lg_hold_owner: = ANY of a one-element array was planned at every call */
	(void) lg_run_on_thread(&plan, "DELETE FROM stategraph.lg_writes WHERE thread_id OPERATOR(pg_catalog.=) $1",
							thread_id, 0);
	if (sg_thread_id_stored("lg_writes", thread_id))	/* below row-level security */
		sg_refuse_thread_of_another_role(thread_id,
										 "Another role stored LangGraph.js writes under the id without a checkpoint.",
										 "Use another thread id, or ask that role to delete its thread id (sg_lg_delete_thread).");
	lg_forget_strays(thread_id);
}

PG_FUNCTION_INFO_V1(sg_lg_copy_thread);

/* sg_lg_copy_thread(source_thread_id, target_thread_id) -> bigint */
Datum
sg_lg_copy_thread(PG_FUNCTION_ARGS)
{
	char	   *src = lg_required_text(fcinfo, 0, "source_thread_id");
	char	   *dst = lg_thread_arg(fcinfo, 1, "target_thread_id");
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		args[2] = {CStringGetTextDatum(src), CStringGetTextDatum(dst)};
	uint64		n;
	bool		isnull;

	bool		may_wait = sg_role_hold_may_wait();

	sg_prevent_write("sg_lg_copy_thread");
	sg_spi_connect();
	lg_hold_owner(dst, may_wait);	/* a new thread: the caller's name */
	(void) lg_lock_waited(dst, "", LG_LOCK_REMOVE);	/* and waits for late writes in flight, dropped below */
	(void) lg_wait_stored(dst, "", LG_LOCK_REMOVE);	/* and for a copy or import into it in flight */
	if (lg_checkpoints_stored(dst))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("thread \"%s\" already has checkpoints", dst),
				 errhint("Copy into a new thread id, or delete the thread first with sg_lg_delete_thread.")));
	sg_thread_id_check_new(dst, true);	/* nor a stategraph thread's, nor another role's (thread_ids.c) */
	lg_drop_strays(dst);

	/*
	 * One statement, so one snapshot of the source: a prune or delete of it
	 * committed between three left the copy's checkpoints without their
	 * values. Writes sent ahead of a checkpoint of the source's are its own.
	 */
	sg_spi_run("WITH c AS (INSERT INTO stategraph.lg_checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
			   "parent_checkpoint_id, checkpoint, metadata, blobs, created_at) SELECT $2, checkpoint_ns, checkpoint_id, "
			   "parent_checkpoint_id, checkpoint, metadata, blobs, created_at FROM stategraph.lg_checkpoints "
			   "WHERE thread_id OPERATOR(pg_catalog.=) $1 RETURNING 1), "
			   "b AS (INSERT INTO stategraph.lg_blobs (thread_id, checkpoint_ns, channel, writer, version, "
			   "base, n, digest, value, type, bytes, wcheckpoint, wtask, widx) SELECT $2, checkpoint_ns, channel, "
			   "writer, version, base, n, digest, value, type, bytes, wcheckpoint, wtask, widx FROM stategraph.lg_blobs "
			   "WHERE thread_id OPERATOR(pg_catalog.=) $1), "
			   "w AS (INSERT INTO stategraph.lg_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, "
			   "idx, task_path, channel, value, type, bytes) SELECT $2, w.checkpoint_ns, w.checkpoint_id, "
			   "w.task_id, w.idx, w.task_path, w.channel, w.value, w.type, w.bytes FROM stategraph.lg_writes w "
			   "WHERE w.thread_id OPERATOR(pg_catalog.=) $1 AND EXISTS (SELECT 1 FROM stategraph.lg_checkpoints k "
			   "WHERE k.thread_id OPERATOR(pg_catalog.=) $1 AND k.checkpoint_ns OPERATOR(pg_catalog.=) w.checkpoint_ns "
			   "AND k.checkpoint_id OPERATOR(pg_catalog.=) w.checkpoint_id)) "
			   "SELECT pg_catalog.count(*) FROM c", 2, types, args, NULL);
	n = (uint64) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	lg_unlock_thread(dst);		/* stored: its rows hold it until commit (lg_wait_stored) */
	sg_spi_finish();
	PG_RETURN_INT64((int64) n);
}

/*
 * Rewrites whole the value rows of tt (thread_id, checkpoint_ns, channel,
 * writer): a value stored as what it appends to another, or as a pending
 * write, keeps its own JSON and no longer depends on either. Every whole
 * value is read before any is rewritten.
 */
void
lg_rewrite_whole(SPITupleTable *tt, uint64 n)
{
	static SPIPlanPtr plan;
	char	  **whole = palloc(sizeof(char *) * (n + 1));
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, UUIDOID, JSONOID};
	uint64		i;

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
		lg_col(tt, i, 4, &isnull), lg_stored_text(whole[i], strlen(whole[i]))};

		sg_spi_execute(sg_spi_prepare(&plan, "UPDATE stategraph.lg_blobs SET base = NULL, value = $5, "
									  "wcheckpoint = NULL, wtask = NULL, widx = NULL "
									  "WHERE thread_id OPERATOR(pg_catalog.=) $1 AND checkpoint_ns OPERATOR(pg_catalog.=) $2 "
									  "AND channel OPERATOR(pg_catalog.=) $3 AND writer OPERATOR(pg_catalog.=) $4",
									  5, types), a, NULL, 0);
	}
}

/*
 * lg_collect's statements (see there), each with %1$s for the test of a
 * row's thread against $1: one thread (text) or an array of them (text[]).
 */
typedef enum LGCollect
{
	LGC_COPY_WRITES,			/* values that refer to writes deleted below: copied in first */
	LGC_REBASED,				/* values still referred to whose base is not: to rewrite whole */
	LGC_UNREFERENCED,			/* values no checkpoint refers to: deleted */
	LGC_WRITES,					/* writes of removed checkpoints ($2, or passed): deleted */
	LGC_COUNT
} LGCollect;

#define LG_LIVE \
	"WITH live AS (SELECT DISTINCT c.thread_id, c.checkpoint_ns, e.key AS channel, " \
	"(e.value OPERATOR(pg_catalog.#>>) '{}')::pg_catalog.uuid AS writer " \
	"FROM stategraph.lg_checkpoints c, pg_catalog.jsonb_each(c.blobs) e " \
	"WHERE c.thread_id %1$s AND pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) 'string') "

static const char *const lg_collect_sql[LGC_COUNT] = {
	[LGC_COPY_WRITES] =
	"UPDATE stategraph.lg_blobs b SET value = " LG_BLOB_VALUE ", wcheckpoint = NULL, wtask = NULL, widx = NULL "
	"WHERE b.thread_id %1$s AND b.wcheckpoint IS NOT NULL "
	"AND NOT EXISTS (SELECT 1 FROM stategraph.lg_checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) b.thread_id "
	"AND c.checkpoint_ns OPERATOR(pg_catalog.=) b.checkpoint_ns AND c.checkpoint_id OPERATOR(pg_catalog.=) b.wcheckpoint)",
	[LGC_REBASED] =
	LG_LIVE "SELECT b.thread_id, b.checkpoint_ns, b.channel, b.writer FROM stategraph.lg_blobs b "
	"JOIN live l ON l.thread_id OPERATOR(pg_catalog.=) b.thread_id AND l.checkpoint_ns OPERATOR(pg_catalog.=) b.checkpoint_ns "
	"AND l.channel OPERATOR(pg_catalog.=) b.channel AND l.writer OPERATOR(pg_catalog.=) b.writer WHERE b.base IS NOT NULL "
	"AND NOT EXISTS (SELECT 1 FROM live l2 WHERE l2.thread_id OPERATOR(pg_catalog.=) b.thread_id "
	"AND l2.checkpoint_ns OPERATOR(pg_catalog.=) b.checkpoint_ns AND l2.channel OPERATOR(pg_catalog.=) b.channel "
	"AND l2.writer OPERATOR(pg_catalog.=) b.base)",
	[LGC_UNREFERENCED] =
	LG_LIVE "DELETE FROM stategraph.lg_blobs b WHERE b.thread_id %1$s "
	"AND NOT EXISTS (SELECT 1 FROM live l WHERE l.thread_id OPERATOR(pg_catalog.=) b.thread_id "
	"AND l.checkpoint_ns OPERATOR(pg_catalog.=) b.checkpoint_ns AND l.channel OPERATOR(pg_catalog.=) b.channel "
	"AND l.writer OPERATOR(pg_catalog.=) b.writer)",
	[LGC_WRITES] =
	"DELETE FROM stategraph.lg_writes w WHERE w.thread_id %1$s "
	"AND NOT EXISTS (SELECT 1 FROM stategraph.lg_checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) w.thread_id "
	"AND c.checkpoint_ns OPERATOR(pg_catalog.=) w.checkpoint_ns AND c.checkpoint_id OPERATOR(pg_catalog.=) w.checkpoint_id) "
	"AND (w.checkpoint_id OPERATOR(pg_catalog.=) ANY ($2) OR EXISTS (SELECT 1 FROM stategraph.lg_checkpoints h "
	"WHERE h.thread_id OPERATOR(pg_catalog.=) w.thread_id AND h.checkpoint_ns OPERATOR(pg_catalog.=) w.checkpoint_ns "
	"AND h.checkpoint_id OPERATOR(pg_catalog.>) w.checkpoint_id))",
};

#undef LG_LIVE

/*
 * Runs sql, whose %1$s is the test of a row's thread against $1 (and $2,
 * if nargs is 2, is removed: uuid[]), for one thread (one: thread is its
 * id, text) with a kept plan in *plan, planned once per session; or for an
 * array of them (thread is text[]) one-off, planned for the array it is
 * given (a generic plan assumes ten elements, where a prune of every
 * thread passes thousands). One-off, the one-thread statements were
 * planned at every sg_prune of a thread and every thread the sweep pruned.
 */
static uint64
lg_exec_threads(SPIPlanPtr *plan, const char *sql, bool one, Datum thread, int nargs, Datum removed)
{
	Oid			types[2] = {one ? TEXTOID : TEXTARRAYOID, UUIDARRAYOID};
	Datum		args[2] = {thread, removed};
	char		nulls[2] = {' ', removed ? ' ' : 'n'};

	if (!one)
		return sg_spi_run(psprintf(sql, "OPERATOR(pg_catalog.=) ANY ($1)"), nargs, types, args, nulls);
	if (*plan == NULL)
		(void) sg_spi_prepare(plan, psprintf(sql, "OPERATOR(pg_catalog.=) $1"), nargs, types);
	return sg_spi_execute(*plan, args, nulls, 0);
}

/* Runs step of lg_collect (lg_exec_threads). */
static uint64
lg_collect_run(LGCollect step, bool one, Datum thread, Datum removed)
{
	static SPIPlanPtr plans[LGC_COUNT];

	return lg_exec_threads(&plans[step], lg_collect_sql[step], one, thread, step == LGC_WRITES ? 2 : 1, removed);
}

/*
 * After checkpoints of the given threads were deleted (removed: their ids,
 * uuid[], or 0 when each namespace keeps its newest): copies into the value
 * rows the pending writes they refer to whose checkpoint is gone, rewrites
 * whole every value still referred to whose base is no longer referred to,
 * then deletes values no checkpoint refers to, and the writes of removed
 * checkpoints. A write whose checkpoint is not stored and that no stored
 * checkpoint of its namespace passes was sent ahead of its checkpoint's put
 * (LangGraph does not order them) and stays: removed, the interrupt or
 * error of a step in flight was lost once its checkpoint came.
 */
static void
lg_collect(Datum threads, Datum removed)
{
	Datum		thread;
	bool		one = lg_one_thread(threads, &thread);

	if (!one)
		thread = threads;
	(void) lg_collect_run(LGC_COPY_WRITES, one, thread, removed);
	(void) lg_collect_run(LGC_REBASED, one, thread, removed);
	lg_rewrite_whole(SPI_tuptable, SPI_processed);
	(void) lg_collect_run(LGC_UNREFERENCED, one, thread, removed);
	(void) lg_collect_run(LGC_WRITES, one, thread, removed);
}

/*
 * LangGraph.js's DeltaChannel (beta in 1.7) stores its value only now and
 * then (a DeltaSnapshot in channel_values); in between, a checkpoint's
 * metadata counts the steps since (counters_since_delta_snapshot, left out
 * once every such channel has its snapshot there), and LangGraph rebuilds
 * the value from the pending writes of the checkpoint's ancestors back to
 * the snapshot (getDeltaChannelHistory). So such a checkpoint needs its
 * parent, and that one its own, and so on. A prune keeps those ancestors
 * of the checkpoints it keeps (their writes and values stay with them):
 * it removed them, and the newest checkpoint read the channel as empty.
 * LG_DELTA_ANCESTORS(kept) is the CTE delta_needs (thread_id,
 * checkpoint_ns, checkpoint_id) of the ancestors that the checkpoints of
 * the query kept (with thread_id, checkpoint_ns, parent_checkpoint_id,
 * metadata) need; LG_NOT_DELTA_NEEDED(c), checkpoint c is none of them.
 */
#define LG_DELTA_NEEDS(c) \
	"(" c ".metadata OPERATOR(pg_catalog.?) 'counters_since_delta_snapshot' AND " c ".parent_checkpoint_id IS NOT NULL)"
#define LG_DELTA_ANCESTORS(kept) \
	"delta_needs (thread_id, checkpoint_ns, checkpoint_id) AS (" \
	"SELECT c.thread_id, c.checkpoint_ns, c.parent_checkpoint_id FROM (" kept ") c WHERE " LG_DELTA_NEEDS("c") " " \
	"UNION SELECT p.thread_id, p.checkpoint_ns, p.parent_checkpoint_id FROM delta_needs n, stategraph.lg_checkpoints p " \
	"WHERE p.thread_id OPERATOR(pg_catalog.=) n.thread_id AND p.checkpoint_ns OPERATOR(pg_catalog.=) n.checkpoint_ns " \
	"AND p.checkpoint_id OPERATOR(pg_catalog.=) n.checkpoint_id AND " LG_DELTA_NEEDS("p") ")"
#define LG_NOT_DELTA_NEEDED(c) \
	"NOT EXISTS (SELECT FROM delta_needs n WHERE n.thread_id OPERATOR(pg_catalog.=) " c ".thread_id " \
	"AND n.checkpoint_ns OPERATOR(pg_catalog.=) " c ".checkpoint_ns AND n.checkpoint_id OPERATOR(pg_catalog.=) " c ".checkpoint_id)"

/* prune(keep_latest) of the given threads (text[]), locked: returns checkpoints removed. */
static uint64
lg_keep_latest(Datum threads, void *arg)
{
	static SPIPlanPtr plan;		/* of one thread (lg_exec_threads) */
	Datum		thread;
	bool		one = lg_one_thread(threads, &thread);
	uint64		n;

	n = lg_exec_threads(&plan, "WITH RECURSIVE "
						LG_DELTA_ANCESTORS("SELECT DISTINCT ON (k.thread_id, k.checkpoint_ns) k.thread_id, k.checkpoint_ns, "
										   "k.parent_checkpoint_id, k.metadata FROM stategraph.lg_checkpoints k "
										   "WHERE k.thread_id %1$s ORDER BY k.thread_id, k.checkpoint_ns, k.checkpoint_id DESC")
						" DELETE FROM stategraph.lg_checkpoints c WHERE c.thread_id %1$s "
						"AND c.checkpoint_id OPERATOR(pg_catalog.<>) (SELECT c2.checkpoint_id "
						"FROM stategraph.lg_checkpoints c2 WHERE c2.thread_id OPERATOR(pg_catalog.=) c.thread_id "
						"AND c2.checkpoint_ns OPERATOR(pg_catalog.=) c.checkpoint_ns ORDER BY c2.checkpoint_id DESC LIMIT 1) "
						"AND " LG_NOT_DELTA_NEEDED("c"),
						one, one ? thread : threads, 1, (Datum) 0);
	lg_collect(threads, (Datum) 0);
	return n;
}

PG_FUNCTION_INFO_V1(sg_lg_prune);

/* sg_lg_prune(thread_ids, strategy) -> bigint */
Datum
sg_lg_prune(PG_FUNCTION_ARGS)
{
	char	   *strategy;
	Datum		threads;
	uint64		n;
	bool		may_wait;

	lg_required_array(fcinfo, 0, "thread_ids");
	sg_require_arg_hint(fcinfo, 1, "strategy", "Use \"keep_latest\" or \"delete\".");
	strategy = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strcmp(strategy, "keep_latest") != 0 && strcmp(strategy, "delete") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown prune strategy \"%s\"", strategy),
				 errhint("Use \"keep_latest\" or \"delete\".")));
	threads = PG_GETARG_DATUM(0);
	sg_prevent_write("sg_lg_prune");
	may_wait = sg_role_hold_may_wait();
	sg_spi_connect();
	lg_hold_owners(threads, may_wait);
	n = lg_remove_in_batches(threads, strcmp(strategy, "delete") == 0 ? lg_delete_threads : lg_keep_latest, NULL);
	sg_spi_finish();
	PG_RETURN_INT64((int64) n);
}

/*
 * delete_for_runs of the given threads (text[]), locked: removes their
 * checkpoints of the runs *(Datum *) arg (text[]); returns how many.
 */
static uint64
lg_delete_runs_of(Datum threads, void *arg)
{
	Oid			types[2] = {TEXTARRAYOID, TEXTARRAYOID};
	Datum		args[2] = {*(Datum *) arg, threads};
	uint64		n, i;

	lg_note_unseen_writes(threads);	/* (REPEATABLE READ: a write its snapshot does not show) */
	n = sg_spi_run("DELETE FROM stategraph.lg_checkpoints WHERE metadata OPERATOR(pg_catalog.->>) 'run_id' "
				   "OPERATOR(pg_catalog.=) ANY ($1) AND thread_id OPERATOR(pg_catalog.=) ANY ($2) "
				   "RETURNING thread_id, checkpoint_id", 2, types, args, NULL);
	if (n > 0)
	{
		SPITupleTable *tt = SPI_tuptable;
		bool		isnull;
		Datum	   *ids = palloc(sizeof(Datum) * n);
		Datum	   *cps = palloc(sizeof(Datum) * n);

		for (i = 0; i < n; i++)
		{
			ids[i] = lg_col(tt, i, 1, &isnull);
			cps[i] = lg_col(tt, i, 2, &isnull);
		}
		lg_collect(PointerGetDatum(construct_array(ids, (int) n, TEXTOID, -1, false, TYPALIGN_INT)),
				   PointerGetDatum(construct_array(cps, (int) n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR)));

		/*
		 * a thread left without checkpoints keeps the writes sent ahead of
		 * its next one, which none will read: noted as put_writes notes
		 * them (lg_note_stray), for the removal of strays
		 */
		(void) lg_exec_array("INSERT INTO stategraph.lg_stray_threads (thread_id, owner) "
							 "SELECT DISTINCT w.thread_id, w.owner FROM stategraph.lg_writes w "
							 "WHERE w.thread_id OPERATOR(pg_catalog.=) ANY ($1) AND NOT EXISTS (SELECT 1 "
							 "FROM stategraph.lg_checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) w.thread_id)",
							 threads);
	}
	return n;
}

PG_FUNCTION_INFO_V1(sg_lg_delete_for_runs);

/*
 * sg_lg_delete_for_runs(run_ids) -> bigint: the threads with checkpoints
 * of these runs, their owners' names held first, then in batches as a
 * prune (lg_remove_in_batches).
 */
Datum
sg_lg_delete_for_runs(PG_FUNCTION_ARGS)
{
	uint64		n = 0;
	bool		may_wait;
	Datum		runs;

	lg_required_array(fcinfo, 0, "run_ids");
	runs = PG_GETARG_DATUM(0);
	sg_prevent_write("sg_lg_delete_for_runs");
	may_wait = sg_role_hold_may_wait();
	sg_spi_connect();
	lg_exec_array("SELECT pg_catalog.array_agg(DISTINCT thread_id) FROM stategraph.lg_checkpoints "
				  "WHERE metadata OPERATOR(pg_catalog.->>) 'run_id' OPERATOR(pg_catalog.=) ANY ($1)", runs);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = lg_col(SPI_tuptable, 0, 1, &isnull);

		if (!isnull)
		{
			Datum		threads = PointerGetDatum(DatumGetArrayTypePCopy(d));

			lg_hold_owners(threads, may_wait);
			n = lg_remove_in_batches(threads, lg_delete_runs_of, &runs);
		}
	}
	sg_spi_finish();
	PG_RETURN_INT64((int64) n);
}

/* ---------------------------------------------------------------------------
 * LangGraph.js threads in stategraph's maintenance: sg_prune, sg_delete_thread,
 * the retention sweep, sg_export_thread / sg_import_thread. retention.c,
 * runs.c and portable.c call these for a thread id that names no stategraph
 * thread (a stategraph thread of the same id wins, as in sg_get_state), with
 * SPI connected.
 * ---------------------------------------------------------------------------
 */

#define LG_EXPORT_FORMAT	"stategraph.lg_thread"
#define LG_EXPORT_VERSION	2	/* 2: a value as ["its text"]; 1 (still read): as [value] */

/*
 * Member m of an export ($1) as an array: an export of a thread without
 * values or pending writes has JSON null there (jsonb_agg of no rows).
 */
#define LG_MEMBER(m) "(CASE WHEN pg_catalog.jsonb_typeof($1 OPERATOR(pg_catalog.->) '" m "') " \
	"OPERATOR(pg_catalog.=) 'array' THEN $1 OPERATOR(pg_catalog.->) '" m "' ELSE '[]' END)"

/*
 * The digest of a LangGraph.js export's members, as SQL computes it on
 * import (sg_lg_export_thread hashes the same text as it builds the rows). It covers the version too (from version 2: version 1's did not),
 * which says how a value is read: a version 2 export marked 1 imported
 * each value's text as a JSON string.
 */
#define LG_DIGEST_TEXT(d, version) \
	"CASE WHEN (" version ") OPERATOR(pg_catalog.=) '1' THEN '' ELSE (" version ") END " \
	"OPERATOR(pg_catalog.||) COALESCE((" d ") OPERATOR(pg_catalog.->) 'thread_id', 'null')::pg_catalog.text " \
	"OPERATOR(pg_catalog.||) COALESCE((" d ") OPERATOR(pg_catalog.->) 'checkpoints', 'null')::pg_catalog.text " \
	"OPERATOR(pg_catalog.||) COALESCE((" d ") OPERATOR(pg_catalog.->) 'blobs', 'null')::pg_catalog.text " \
	"OPERATOR(pg_catalog.||) COALESCE((" d ") OPERATOR(pg_catalog.->) 'writes', 'null')::pg_catalog.text"
#define LG_DIGEST_SQL(d, version) SG_UTF8_MD5(LG_DIGEST_TEXT(d, version))	/* (as UTF-8: portable.c) */

#define LG_STRAY_AGE_SECS	60	/* age of a write without its thread's checkpoints that is a stray (below) */

/*
 * The smallest version 6 uuid (LangGraph's checkpoint ids: time first, so
 * that their order is their time's) of time now - LG_STRAY_AGE_SECS.
 */
static Datum
lg_stray_threshold(void)
{
	/* 100 ns units since 1582-10-15, the uuid epoch (the Unix epoch is 122192928000000000 of them) */
	int64		unix_us = GetCurrentTimestamp() + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	uint64		ts = (uint64) (unix_us - LG_STRAY_AGE_SECS * USECS_PER_SEC) * 10 + UINT64CONST(122192928000000000);
	pg_uuid_t	id;

	memset(&id, 0, sizeof(id));
	id.data[0] = (uint8) (ts >> 52);
	id.data[1] = (uint8) (ts >> 44);
	id.data[2] = (uint8) (ts >> 36);
	id.data[3] = (uint8) (ts >> 28);
	id.data[4] = (uint8) (ts >> 20);
	id.data[5] = (uint8) (ts >> 12);
	id.data[6] = (uint8) (0x60 | ((ts >> 8) & 0x0f));
	id.data[7] = (uint8) ts;
	return lg_uuid_datum(&id);
}

#define LG_STRAY_BATCH	100		/* noted threads locked at a time by lg_drop_old_strays */

/* a write of a time-based (version 6 uuid) checkpoint id */
#define LG_V6_WRITE "pg_catalog.substr(w.checkpoint_id::pg_catalog.text, 15, 1) OPERATOR(pg_catalog.=) '6'"

/*
 * Removes stray writes, for sg_prune of every thread and the retention
 * sweep: writes that a run sent after its thread was deleted (put_writes
 * cannot refuse them: LangGraph sends writes ahead of their checkpoint's
 * put, and a new thread's first writes may come before its first
 * checkpoint), which no checkpoint would ever read. A write is a stray
 * when its thread id has no checkpoint and its checkpoint's id, time-based
 * (uuid version 6, as LangGraph makes them), is older than a minute: a
 * first put in flight is of a checkpoint made just before its writes. A
 * write of another kind of id stays (its age is not known), as does one of
 * a thread whose owner's name a reassign holds, or that a writer holds
 * (next time). Returns the writes removed.
 *
 * A stray can only be a write that put_writes stored while its thread had
 * no firm checkpoint, and put_writes noted that thread then
 * (stategraph.lg_stray_threads, lg_note_stray): the strays are looked for
 * among the writes of the noted threads, not in all of lg_writes (a scan
 * of 1.7 s per million writes, at every pass). A batch of noted threads at
 * a time is locked as a delete locks a thread (no put or put_writes of
 * them in flight, so the statements that follow see all of their writes;
 * one a writer holds is passed over); a note goes once its thread has a
 * firm checkpoint, or no write of a time-based id is left (a write sent
 * later, once the lock is let go of, notes it again in a row of its own,
 * which the removal's statement did not see).
 */
static uint64
lg_drop_old_strays(void)
{
	static SPIPlanPtr list_plan;
	static SPIPlanPtr drop_plan;
	static SPIPlanPtr forget_plan;
	Oid			types[3] = {UUIDOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		threshold = lg_stray_threshold();
	SPITupleTable *tt;
	char	  **ids, **owners;
	uint64		n, i, removed = 0;

	n = sg_spi_execute(sg_spi_prepare(&list_plan, "SELECT DISTINCT thread_id COLLATE pg_catalog.\"C\", owner "
									  "FROM stategraph.lg_stray_threads ORDER BY 1, 2", 0, NULL), NULL, NULL, 0);
	if (n == 0)
		return 0;
	tt = SPI_tuptable;
	ids = palloc(sizeof(char *) * n);
	owners = palloc(sizeof(char *) * n);
	for (i = 0; i < n; i++)
	{
		ids[i] = lg_text_col(tt, i, 1);
		owners[i] = lg_text_col(tt, i, 2);
	}
	for (i = 0; i < n; i += LG_STRAY_BATCH)
	{
		uint64		end = Min(n, i + LG_STRAY_BATCH), j;
		char	   *open_ids[LG_STRAY_BATCH], *open_owners[LG_STRAY_BATCH];
		char	   *done_ids[LG_STRAY_BATCH], *done_owners[LG_STRAY_BATCH];
		bool		locked[LG_STRAY_BATCH];
		int			nopen = 0, ndone = 0, k;
		Datum		args[3];

		CHECK_FOR_INTERRUPTS();
		for (j = i; j < end; j++)
		{
			/*
			 * A note of the caller's naming another role's thread (any role
			 * may write one, for itself): that thread has checkpoints, so the
			 * note goes, without a try of its lock, whose outcome (the note
			 * kept while the thread's owner writes it) told the caller that
			 * the other role's thread was being written (isolation
			 * lg_stray_busy).
			 */
			if (sg_lg_thread_of_another_role(ids[j]))
			{
				locked[j - i] = false;
				done_ids[ndone] = ids[j];
				done_owners[ndone++] = owners[j];
				continue;
			}
			locked[j - i] = sg_role_try_hold(owners[j]) && lg_lock_mode(ids[j], "", LG_LOCK_REMOVE, true);
			if (!locked[j - i])
				continue;		/* a reassign or a writer holds it: next time */
			if (sg_lg_checkpoint_firm(ids[j]))
			{
				done_ids[ndone] = ids[j];	/* a thread with checkpoints: no strays */
				done_owners[ndone++] = owners[j];
			}
			else
			{
				open_ids[nopen] = ids[j];
				open_owners[nopen++] = owners[j];
			}
		}
		if (nopen > 0)
		{
			args[0] = threshold;
			args[1] = sg_text_array(open_ids, nopen);
			args[2] = sg_text_array(open_owners, nopen);
			/* thread_id = ANY: estimated from the thread's own statistics (a join read all of lg_writes) */
			removed += sg_spi_execute(sg_spi_prepare(&drop_plan,
													 "DELETE FROM stategraph.lg_writes w "
													 "WHERE w.thread_id OPERATOR(pg_catalog.=) ANY ($2) "
													 "AND w.checkpoint_id OPERATOR(pg_catalog.<) $1 AND " LG_V6_WRITE " "
													 "AND EXISTS (SELECT 1 FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) "
													 "s (thread_id, owner) WHERE s.thread_id OPERATOR(pg_catalog.=) w.thread_id "
													 "AND s.owner OPERATOR(pg_catalog.=) w.owner) "
													 "AND NOT EXISTS (SELECT 1 FROM stategraph.lg_checkpoints c "
													 "WHERE c.thread_id OPERATOR(pg_catalog.=) w.thread_id)",
													 3, types), args, NULL, 0);
			/* the note of a thread with no write of a time-based id left goes too */
			CommandCounterIncrement();	/* (the probes' snapshot without the writes removed) */
			for (k = 0; k < nopen; k++)
				if (!sg_lg_v6_writes_left(open_ids[k], open_owners[k]))
				{
					done_ids[ndone] = open_ids[k];
					done_owners[ndone++] = open_owners[k];
				}
		}
		if (ndone > 0)
		{
			args[0] = sg_text_array(done_ids, ndone);
			args[1] = sg_text_array(done_owners, ndone);
			(void) sg_spi_execute(sg_spi_prepare(&forget_plan,
												 "DELETE FROM stategraph.lg_stray_threads t "
												 "USING ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[])) s (thread_id, owner) "
												 "WHERE t.thread_id OPERATOR(pg_catalog.=) s.thread_id "
												 "AND t.owner OPERATOR(pg_catalog.=) s.owner", 2, &types[1]), args, NULL, 0);
		}
		for (j = i; j < end; j++)
			if (locked[j - i])
				lg_unlock_thread(ids[j]);
	}
	return removed;
}

#undef LG_V6_WRITE

/*
 * sg_prune for LangGraph.js threads (thread_id NULL: every one): removes the
 * checkpoints older than older_than (NULL: any age) that are not among the
 * newest keep_last (0: 1) of their namespace, so the newest checkpoint of
 * each namespace always stays, as in LangGraph's prune(keep_latest); kept
 * checkpoints read the same values. Returns the checkpoints removed.
 */
uint64
sg_lg_prune_threads(const char *thread_id, Interval *older_than, int keep_last)
{
	/* one thread's ($1), or those of the owners held ($4): two kept statements, each planned once */
	static SPIPlanPtr plans[2];
	static const char *const which[2] = {
		"thread_id OPERATOR(pg_catalog.=) $1",
		"owner OPERATOR(pg_catalog.=) ANY ($4)",
	};
	Oid			types[4] = {TEXTOID, INTERVALOID, INT4OID, TEXTARRAYOID};
	Datum		args[4] = {thread_id ? CStringGetTextDatum(thread_id) : (Datum) 0,
	older_than ? IntervalPGetDatum(older_than) : (Datum) 0, Int32GetDatum(Max(keep_last, 1)), (Datum) 0};
	char		nulls[4] = {thread_id ? ' ' : 'n', older_than ? ' ' : 'n', ' ', 'n'};
	int			all = thread_id == NULL;
	bool		isnull;
	bool		taken = false;
	uint64		n;
	Datum		threads;

	if (sg_schema_is_010())
		return 0;
	if (thread_id)
	{
		lg_hold_owner(thread_id, sg_role_hold_may_wait());
		(void) lg_lock_thread(thread_id, false, &taken);	/* after a put of the thread in flight, before the next */
	}
	else
	{
		args[3] = lg_try_hold_all_owners();	/* the threads of the owners a reassign holds: next time */
		nulls[3] = ' ';
	}
	if (plans[all] == NULL)
		(void) sg_spi_prepare(&plans[all],
							  psprintf("WITH RECURSIVE k AS (SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, metadata, "
									   "  ($2::pg_catalog.interval IS NULL OR created_at OPERATOR(pg_catalog.<) "
									   "   " SG_UTC_SHIFT("pg_catalog.clock_timestamp()", "-", "$2") ") AS old, "
									   "  pg_catalog.row_number() OVER (PARTITION BY thread_id, checkpoint_ns ORDER BY checkpoint_id DESC) AS rn "
									   "  FROM stategraph.lg_checkpoints WHERE %s), "
									   LG_DELTA_ANCESTORS("SELECT * FROM k WHERE NOT (k.rn OPERATOR(pg_catalog.>) $3 AND k.old)") ", "
									   "d AS (DELETE FROM stategraph.lg_checkpoints c USING k "
									   "  WHERE c.thread_id OPERATOR(pg_catalog.=) k.thread_id AND c.checkpoint_ns OPERATOR(pg_catalog.=) k.checkpoint_ns "
									   "  AND c.checkpoint_id OPERATOR(pg_catalog.=) k.checkpoint_id AND k.rn OPERATOR(pg_catalog.>) $3 "
									   "  AND k.old AND " LG_NOT_DELTA_NEEDED("c") " RETURNING c.thread_id) "
									   "SELECT pg_catalog.count(*), pg_catalog.array_agg(DISTINCT thread_id) FROM d", which[all]),
							  4, types);
	sg_spi_execute(plans[all], args, nulls, 1);
	n = (uint64) DatumGetInt64(lg_col(SPI_tuptable, 0, 1, &isnull));
	threads = lg_col(SPI_tuptable, 0, 2, &isnull);
	if (n > 0)
		lg_collect(threads, (Datum) 0);
	if (thread_id == NULL)
		(void) lg_drop_old_strays();	/* of every thread only: not with one thread's lock left untaken */
	else if (taken)
		lg_unlock_thread(thread_id);	/* as sg_lg_prune does: sg_prune of many ids in one statement (the sweep's lock is its own) */
	return n;
}

/* sg_delete_thread for a LangGraph.js thread: all its namespaces, values and writes. */
void
sg_lg_delete_thread_rows(const char *thread_id)
{
	bool		taken;

	lg_hold_owner(thread_id, sg_role_hold_may_wait());
	(void) lg_lock_thread(thread_id, false, &taken);
	(void) lg_delete_thread(thread_id);
	if (taken)
		lg_unlock_thread(thread_id);
}

/*
 * The expired LangGraph.js threads l of the sweep, with the default
 * retention p, their last checkpoint time read by the subquery lsub
 * (thread_id, updated): see sg_lg_sweep.
 */
#define LG_SWEEP_EXPIRED(lsub) \
	"SELECT l.thread_id, p.strategy, COALESCE(p.keep_last, 1) FROM (" lsub ") l, " \
	"(SELECT * FROM stategraph.retention r WHERE r.graph IS NULL) p " \
	"WHERE p.ttl IS NOT NULL AND l.updated OPERATOR(pg_catalog.<) " \
	SG_UTC_SHIFT("pg_catalog.clock_timestamp()", "-", SG_SWEEP_TTL("p.ttl")) " " \
	"AND (p.strategy OPERATOR(pg_catalog.=) 'delete' OR EXISTS (SELECT 1 FROM stategraph.lg_checkpoints c " \
	"  WHERE c.thread_id OPERATOR(pg_catalog.=) l.thread_id GROUP BY c.checkpoint_ns " \
	"  HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) COALESCE(p.keep_last, 1))) " \
	"AND NOT EXISTS (SELECT 1 FROM stategraph.lg_writes x WHERE x.thread_id OPERATOR(pg_catalog.=) l.thread_id " \
	"  AND x.checkpoint_ns OPERATOR(pg_catalog.=) '' AND x.channel OPERATOR(pg_catalog.=) '__interrupt__' " \
	"  AND x.checkpoint_id OPERATOR(pg_catalog.=) (SELECT h.checkpoint_id FROM stategraph.lg_checkpoints h " \
	"    WHERE h.thread_id OPERATOR(pg_catalog.=) l.thread_id AND h.checkpoint_ns OPERATOR(pg_catalog.=) '' " \
	"    ORDER BY h.checkpoint_id DESC LIMIT 1)) "

/*
 * Which of these LangGraph.js threads (n of them, in ids), whose locks
 * this session now holds, are still expired? A put may have committed
 * since the sweep listed its batch. Sets expired[i] for each. One
 * statement for the batch: one for each thread was a fifth of the sweep's
 * time (the statement's start and end, with its subqueries, cost more
 * than reading the thread's few rows).
 */
static void
lg_still_expired(char **ids, int n, bool *expired)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {TEXTARRAYOID};
	Datum		args[1] = {sg_text_array(ids, n)};

	sg_spi_prepare(&plan,
				   LG_SWEEP_EXPIRED("SELECT thread_id, pg_catalog.max(created_at) AS updated FROM stategraph.lg_checkpoints "
									"WHERE thread_id OPERATOR(pg_catalog.=) ANY ($1) GROUP BY thread_id"), 1, types);
	(void) sg_spi_execute(plan, args, NULL, 0);
	sg_spi_mark_found(ids, n, expired);
}

/*
 * Where the retention sweep's pass over LangGraph.js threads has got to.
 * A sweep reads the threads window by window in thread_id order, as the
 * stategraph sweep does (runs.c), so that each batch reads only its
 * window's rows and a pass reads each thread once, however many expired
 * threads there are.
 */
static SGSweepPass lg_pass;

/*
 * Threads per window of the LangGraph.js sweep: fewer than the stategraph
 * sweep's SG_SWEEP_WINDOW. Listing a window's expired threads groups all of
 * its rows after the cursor (a thread's last checkpoint time) before the
 * batch's few dozen are taken, so each batch of a window of 1,000 sorted
 * up to 2,000 rows again; a pass reads every row once either way.
 */
#define LG_SWEEP_WINDOW 100

/* The sweep's removal of one expired LangGraph.js thread. */
typedef struct LGSweepRemoval
{
	const char *thread_id;
	bool		delete;
	int			keep;
	bool		taken;			/* its lock is this call's (lg_lock_thread) */
} LGSweepRemoval;

/* Run an LGSweepRemoval, as sg_spi_subxact calls it. */
static bool
lg_sweep_removal(void *arg)
{
	LGSweepRemoval *r = (LGSweepRemoval *) arg;

	if (r->delete)
		(void) lg_delete_thread(r->thread_id);
	else
		(void) sg_lg_prune_threads(r->thread_id, NULL, r->keep);
	return true;
}

/*
 * Lock the threads that the sweep listed (n rows of tt: thread_id,
 * strategy, keep_last, in thread_id order), each and its rows, for their
 * removal: those that no put holds (a put running: next pass) and no
 * sg_reassign_owned (moving its owner's rows: next pass), that are still
 * expired once locked (a put may have committed since they were listed),
 * their rows locked in thread_id order. Sets *removal to them, and *held
 * to whether a router's move holds each one's partition (holds.c: next
 * pass); returns how many. Whether still expired, and held, is one
 * statement for the threads locked, not one for each thread (a fifth and
 * a tenth of the sweep's time, most of it in starting and ending them).
 * A thread found written is let go of at once, its rows not locked (its
 * tasks' writes and puts do not wait for the rest of the batch: isolation
 * lgr_sweep_active). And the sweep never waits holding the lock of a
 * thread after the one it waits for: when another transaction holds a row
 * of a thread, the threads after it are let go of first, and locked and
 * looked at again after the wait (a put of one of them meanwhile goes on,
 * and the thread stays: isolation retention_race_lg).
 */
static int
lg_sweep_lock(SPITupleTable *tt, uint64 n, LGSweepRemoval **removal, bool *held_out[])
{
	LGSweepRemoval *r = palloc(sizeof(LGSweepRemoval) * (n + 1));
	LGSweepRemoval *c = palloc(sizeof(LGSweepRemoval) * (n + 1));
	char	  **ids = palloc(sizeof(char *) * (n + 1));
	bool	   *expired = palloc(sizeof(bool) * (n + 1));
	uint64	   *pos = palloc(sizeof(uint64) * (n + 1));
	bool	   *held = palloc(sizeof(bool) * (n + 1));
	uint64		next = 0,
				i;
	int			locked = 0,
				m,
				k,
				k2;
	bool		isnull;

	while (next < n)
	{
		/* lock the threads from next on, and look at them again */
		m = 0;
		for (i = next; i < n; i++)
		{
			char	   *thread_id = lg_text_col(tt, i, 1);

			CHECK_FOR_INTERRUPTS();
			if (!lg_try_hold_owner(thread_id) || !lg_lock_thread(thread_id, true, &c[m].taken))
				continue;
			c[m].thread_id = ids[m] = thread_id;
			c[m].delete = strcmp(lg_text_col(tt, i, 2), "delete") == 0;
			c[m].keep = DatumGetInt32(lg_col(tt, i, 3, &isnull));
			pos[m++] = i;
		}
		next = n;
		if (m == 0)
			break;
		lg_still_expired(ids, m, expired);
		for (k = 0; k < m; k++)
			if (!expired[k] && c[k].taken)
				lg_unlock_thread(ids[k]);	/* written meanwhile: next pass */

		/* their rows, in thread_id order */
		for (k = 0; k < m; k++)
		{
			if (!expired[k])
				continue;
			if (!sg_lg_lock_rows(ids[k], true))
			{
				/* another transaction holds some: let go of the threads after it, then wait */
				for (k2 = k + 1; k2 < m; k2++)
					if (expired[k2] && c[k2].taken)
						lg_unlock_thread(ids[k2]);
				(void) sg_lg_lock_rows(ids[k], false);
				next = pos[k] + 1;
			}
			r[locked++] = c[k];
			if (next < n)
				break;
		}
	}
	for (k = 0; k < locked; k++)
		ids[k] = (char *) r[k].thread_id;
	if (locked > 0)
		sg_lg_partitions_held(ids, locked, held);
	*removal = r;
	*held_out = held;
	return locked;
}

/*
 * The retention sweep of LangGraph.js threads: they have no graph, so the
 * default retention (sg_set_retention(NULL, ...)) applies. A thread none of
 * whose checkpoints is newer than the ttl is deleted whole ('delete'), or
 * keeps the newest keep_last checkpoints of each namespace ('keep_latest',
 * LangGraph's prune). As for stategraph's threads, a thread waiting on an
 * interrupt (its newest root checkpoint has an __interrupt__ write), one
 * being written (a put holds its lock) and one whose partition a router's
 * move holds (holds.c) are left for later, and one written
 * since the batch was listed is looked at again under its lock. At most
 * limit threads, read window by window from where the last sweep stopped;
 * returns how many were deleted or pruned, and *pass_over whether the pass
 * read to the last thread (the cursor then starts again).
 */
uint64
sg_lg_sweep(int limit, bool *pass_over)
{
	static SPIPlanPtr window_plans[2];
	static SPIPlanPtr plans[2];
	static SPIPlanPtr ttl_plan;
	uint64		done = 0,
				read = 0;

	*pass_over = true;
	if (sg_schema_is_010() || limit <= 0)
		return 0;
	/* no default ttl (the usual case): no read of the checkpoints at each sweep */
	if (sg_spi_execute(sg_spi_prepare(&ttl_plan, "SELECT 1 FROM stategraph.retention "
									  "WHERE graph IS NULL AND ttl IS NOT NULL", 0, NULL), NULL, NULL, 1) == 0)
	{
		sg_sweep_pass_move(&lg_pass, NULL, false);
		return 0;
	}
	*pass_over = false;
	while (done < (uint64) limit && read < SG_SWEEP_MAX_READ)
	{
		const char *cursor = lg_pass.cursor;
		Oid			types[3] = {TEXTOID, TEXTOID, INT4OID};
		Datum		args[3];
		char		nulls[3] = {cursor ? ' ' : 'n', ' ', ' '};
		char	   *last;
		uint64		inwindow, want, n;
		int			locked, j;
		SPITupleTable *tt;
		bool	   *held;
		LGSweepRemoval *removal;

		/* the window the cursor is in, or the next (runs.c) */
		inwindow = sg_sweep_pass_window(&lg_pass, window_plans, "SELECT DISTINCT thread_id FROM stategraph.lg_checkpoints",
										LG_SWEEP_WINDOW, &last);
		read += inwindow;
		if (inwindow == 0)
		{
			sg_sweep_pass_move(&lg_pass, NULL, false);	/* read to the end: the pass is over */
			*pass_over = true;
			(void) lg_drop_old_strays();	/* and the writes of deleted threads, once a pass */
			break;
		}

		/* its expired threads after the cursor, in thread_id order, as many as are still wanted */
		args[0] = cursor ? CStringGetTextDatum(cursor) : (Datum) 0;
		args[1] = CStringGetTextDatum(last);
		want = (uint64) limit - done;
		args[2] = Int32GetDatum((int) want);
		n = sg_spi_execute(sg_spi_prepare(&plans[cursor != NULL],
										  psprintf(LG_SWEEP_EXPIRED("SELECT thread_id, pg_catalog.max(created_at) AS updated "
																	"FROM stategraph.lg_checkpoints WHERE %s "
																	"AND thread_id OPERATOR(pg_catalog.<=) $2 GROUP BY thread_id")
												   "ORDER BY l.thread_id LIMIT $3",
												   SG_AFTER_CURSOR(cursor, "thread_id")), 3, types),
						   args, nulls, 0);
		tt = SPI_tuptable;
		locked = lg_sweep_lock(tt, n, &removal, &held);
		for (j = 0; j < locked; j++)
		{
			CHECK_FOR_INTERRUPTS();
			/* in a subtransaction: a thread that fails is passed over (runs.c) */
			if (!held[j] && sg_sweep_remove_one(removal[j].thread_id, lg_sweep_removal, &removal[j]))
				done++;
			if (removal[j].taken)
				lg_unlock_thread(removal[j].thread_id);	/* kept, a batch of thousands ran the lock table out */
		}
		/* as many as were wanted: the window may hold more, so go on after the last one listed, in it */
		if (n == want && strcmp(lg_text_col(tt, n - 1, 1), last) != 0)
			sg_sweep_pass_move(&lg_pass, lg_text_col(tt, n - 1, 1), true);
		else
			sg_sweep_pass_move(&lg_pass, last, false);
		if (inwindow < LG_SWEEP_WINDOW && strcmp(lg_pass.cursor, last) == 0)
		{
			sg_sweep_pass_move(&lg_pass, NULL, false);	/* that was the last window: the pass is over */
			*pass_over = true;
			(void) lg_drop_old_strays();	/* and the writes of deleted threads, once a pass */
			break;
		}
	}
	return done;
}

/*
 * sg_export_thread of a LangGraph.js thread: its rows as stored (every
 * namespace, each with its owner, which an import keeps when the importing
 * role may own that role's rows: LG_IMPORT_OWNER), read under one snapshot
 * and built row by row (exportbuild.c):
 *
 *	 {"format": "stategraph.lg_thread", "version": 2, "thread_id": ...,
 *	  "checkpoints": [...], "blobs": [...], "writes": [...], "digest": md5}
 *
 * A value is ["its text"]: the export is jsonb, which would reorder the
 * keys of a value (version 1, which import still reads, had [value]).
 * Values stored as appended parts, references of writes to values and the
 * map of where each value is are ids within the thread, so the rows read the
 * same under any thread id.
 */
Jsonb *
sg_lg_export_thread(const char *thread_id)
{
	static SPIPlanPtr plans[3];
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(thread_id)};
	SGExport	ex;
	SGExportArray rows[3];
	SGExportMember members[7];
	StringInfoData id;
	bool		was;
	int			i;

	/*
	 * a value goes as ["its text"]: jsonb, which the export is, would order
	 * its object keys its own way; and a JSON null stays apart from SQL NULL
	 */
#define LG_EXPORT_ROWS(table, value, order) \
	"SELECT pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.-) 'thread_id' " value \
	" FROM stategraph." table " r WHERE r.thread_id OPERATOR(pg_catalog.=) $1 ORDER BY " order
#define LG_EXPORT_VALUE "OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('value', CASE WHEN r.value IS NOT NULL " \
	"THEN pg_catalog.jsonb_build_array(r.value::pg_catalog.text) END)"
	static const char *const sql[3] = {
		LG_EXPORT_ROWS("lg_checkpoints", "", "r.checkpoint_ns, r.checkpoint_id"),
		LG_EXPORT_ROWS("lg_blobs", LG_EXPORT_VALUE, "r.checkpoint_ns, r.channel, r.writer"),
		LG_EXPORT_ROWS("lg_writes", LG_EXPORT_VALUE, "r.checkpoint_ns, r.checkpoint_id, r.task_id, r.idx")
	};
#undef LG_EXPORT_ROWS
#undef LG_EXPORT_VALUE

	/* the digest's text: version, thread_id, checkpoints, blobs, writes (LG_DIGEST_TEXT) */
	sg_export_begin(&ex, NULL, NULL);
	sg_export_digest_text(&ex, CppAsString2(LG_EXPORT_VERSION), strlen(CppAsString2(LG_EXPORT_VERSION)));
	initStringInfo(&id);
	escape_json(&id, thread_id);
	sg_export_digest_text(&ex, id.data, id.len);
	/* the three tables read under one snapshot (they were one statement) */
	was = sg_spi_reads_begin();
	PG_TRY();
	{
		for (i = 0; i < 3; i++)
			sg_export_rows(&ex, &rows[i], sg_spi_prepare(&plans[i], sql[i], 1, types), args, NULL);
	}
	PG_CATCH();
	{
		sg_spi_reads_end(was, true);
		PG_RE_THROW();
	}
	PG_END_TRY();
	sg_spi_reads_end(was, false);
	sg_export_member_string(&members[0], "format", LG_EXPORT_FORMAT);
	sg_export_member_number(&members[1], "version", CppAsString2(LG_EXPORT_VERSION));
	sg_export_member_string(&members[2], "thread_id", thread_id);
	sg_export_member_array(&members[3], "checkpoints", &rows[0]);
	sg_export_member_array(&members[4], "blobs", &rows[1]);
	sg_export_member_array(&members[5], "writes", &rows[2]);
	sg_export_member_string(&members[6], "digest", sg_export_digest(&ex));
	return sg_export_finish(&ex, members, 7);
}

/* Whether data is a LangGraph.js thread export (by its "format"), for sg_import_thread. */
bool
sg_lg_is_export(Jsonb *data)
{
	char	   *format = JB_ROOT_IS_OBJECT(data) ? lg_find_string(data, "format") : NULL;

	return format != NULL && strcmp(format, LG_EXPORT_FORMAT) == 0;
}

/* The version of an export: 1 or LG_EXPORT_VERSION, else 0. */
static int
lg_export_version(Jsonb *data)
{
	JsonbValue *v = lg_find(data, "version");
	char	   *s;

	if (v == NULL || v->type != jbvNumeric)
		return 0;
	s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	return strcmp(s, "1") == 0 ? 1 : strcmp(s, CppAsString2(LG_EXPORT_VERSION)) == 0 ? LG_EXPORT_VERSION : 0;
}

/*
 * Checks a LangGraph.js export before anything is stored: version, digest
 * (SGX02 when the data changed since the export), members, and that every
 * value a row refers to is in it (SGX01).
 */
static void
lg_check_export(Jsonb *data)
{
	static SPIPlanPtr digest_plan;
	static SPIPlanPtr legacy_digest_plan;
	static SPIPlanPtr rows_plan;
	Oid			types[1] = {JSONBOID};
	Datum		args[1] = {JsonbPGetDatum(data)};
	JsonbValue *v = lg_find(data, "version");
	char	   *digest = lg_find_string(data, "digest");
	char	   *problem;
	int			i;
	static const char *const members[] = {"checkpoints", "blobs", "writes"};

	/* exactly 1 or 2: numeric_int4 rounded 1.4 to 1, and failed with 22003 on 1e20 */
	if (lg_export_version(data) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("stategraph LangGraph.js thread export version is not supported"),
				 errdetail("This version of stategraph reads export versions 1 to %d.", LG_EXPORT_VERSION),
				 errhint("Import it with the stategraph version that exported it, or a newer one.")));
	if (lg_find_string(data, "thread_id") == NULL)
		sg_invalid_export("It has no string \"thread_id\" member.");
	for (i = 0; i < (int) lengthof(members); i++)
	{
		v = lg_find(data, members[i]);
		if (v == NULL || (v->type != jbvNull && (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))))
			sg_invalid_export(psprintf("Its \"%s\" member is not an array.", members[i]));
	}
	v = lg_find(data, "checkpoints");
	if (v->type != jbvBinary || JsonContainerSize(v->val.binary.data) == 0)
		sg_invalid_export("Its \"checkpoints\" member is empty.");
	if (digest == NULL)
		sg_invalid_export("It has no \"digest\" member.");
	sg_spi_prepare(&digest_plan, "SELECT " LG_DIGEST_SQL("$1", "($1 OPERATOR(pg_catalog.->) 'version')::pg_catalog.text"), 1, types);
	if ((sg_spi_execute(digest_plan, args, NULL, 1) != 1 || strcmp(sg_spi_text(0, 1), digest) != 0) &&
		(!sg_digest_may_be_legacy() ||	/* (an export of before digests over UTF-8: portable.c) */
		 sg_spi_execute(sg_spi_prepare(&legacy_digest_plan,
									   "SELECT pg_catalog.md5(" LG_DIGEST_TEXT("$1", "($1 OPERATOR(pg_catalog.->) 'version')::pg_catalog.text") ")",
									   1, types), args, NULL, 1) != 1 ||
		 strcmp(sg_spi_text(0, 1), digest) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_SG_EXPORT_TAMPERED),
				 errmsg("stategraph thread export does not match its digest"),
				 errdetail("The data was changed after sg_export_thread made it."),
				 errhint("Export the thread again; pass the value on unchanged (as jsonb or text).")));

	/* every value is JSON or typed bytes; every one a row refers to is in the export */
	sg_spi_prepare(&rows_plan,
				   "WITH b AS (SELECT e OPERATOR(pg_catalog.->>) 'checkpoint_ns' AS ns, e OPERATOR(pg_catalog.->>) 'channel' AS channel, e OPERATOR(pg_catalog.->>) 'writer' AS writer, "
				   "  e OPERATOR(pg_catalog.->>) 'base' AS base FROM pg_catalog.jsonb_array_elements(" LG_MEMBER("blobs") ") e) "
				   "SELECT COALESCE("
				   /* the ids in the tables' keys are as long as put allows at most (over a btree entry: 54000) */
				   " (SELECT pg_catalog.format('A row has a %s over %s bytes.', x.k, " CppAsString2(SG_MAX_NAME) ") FROM ("
				   "  SELECT r.key AS k FROM pg_catalog.jsonb_array_elements(" LG_MEMBER("checkpoints") " OPERATOR(pg_catalog.||) "
				   "    " LG_MEMBER("blobs") " OPERATOR(pg_catalog.||) " LG_MEMBER("writes") ") e, "
				   "    pg_catalog.jsonb_each_text(CASE WHEN pg_catalog.jsonb_typeof(e) OPERATOR(pg_catalog.=) 'object' THEN e ELSE '{}' END) r "
				   "  WHERE r.key OPERATOR(pg_catalog.=) ANY (ARRAY['checkpoint_ns', 'channel', 'task_id']) "
				   "    AND pg_catalog.octet_length(r.value) OPERATOR(pg_catalog.>) " CppAsString2(SG_MAX_NAME) ") x LIMIT 1), "
				   /* a thread's rows are one role's (the policies see no other row of the same statement) */
				   " (SELECT 'Its rows do not all have the same owner.' FROM ("
				   "  SELECT r OPERATOR(pg_catalog.->) 'owner' AS o FROM pg_catalog.jsonb_array_elements(" LG_MEMBER("checkpoints") ") r "
				   "  UNION SELECT r OPERATOR(pg_catalog.->) 'owner' FROM pg_catalog.jsonb_array_elements(" LG_MEMBER("blobs") ") r "
				   "  UNION SELECT r OPERATOR(pg_catalog.->) 'owner' FROM pg_catalog.jsonb_array_elements(" LG_MEMBER("writes") ") r) x "
				   "  HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1), "
				   " (SELECT pg_catalog.format('A value of channel %s has neither JSON nor typed bytes.', e OPERATOR(pg_catalog.->>) 'channel') "
				   "  FROM pg_catalog.jsonb_array_elements(" LG_MEMBER("blobs") " OPERATOR(pg_catalog.||) "
				   "    " LG_MEMBER("writes") ") e "
				   /* JSON: ["its text"], or [value] in version 1 ([] or [null] is none: it was stored as no value) */
				   "  WHERE (CASE WHEN ($1 OPERATOR(pg_catalog.->>) 'version') OPERATOR(pg_catalog.=) '1' "
				   "    THEN pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'value' OPERATOR(pg_catalog.->) 0) IS NOT NULL "
				   "    ELSE pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'value' OPERATOR(pg_catalog.->) 0) OPERATOR(pg_catalog.=) 'string' END) IS NOT TRUE "
				   "    AND ((pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'bytes') OPERATOR(pg_catalog.=) 'string') IS NOT TRUE "
				   "      OR (pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'type') OPERATOR(pg_catalog.=) 'string') IS NOT TRUE) "
				   "    AND (pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'wcheckpoint') OPERATOR(pg_catalog.=) 'string') IS NOT TRUE LIMIT 1), "
				   " (SELECT pg_catalog.format('Checkpoint %s reads a value of channel %s that is not in the export.', "
				   "    c OPERATOR(pg_catalog.->>) 'checkpoint_id', m.key) "
				   "  FROM pg_catalog.jsonb_array_elements($1 OPERATOR(pg_catalog.->) 'checkpoints') c, "
				   "  pg_catalog.jsonb_each(CASE WHEN pg_catalog.jsonb_typeof(c OPERATOR(pg_catalog.->) 'blobs') OPERATOR(pg_catalog.=) 'object' "
				   "    THEN c OPERATOR(pg_catalog.->) 'blobs' ELSE '{}' END) m "
				   "  WHERE pg_catalog.jsonb_typeof(m.value) OPERATOR(pg_catalog.<>) 'array' "
				   "    AND NOT EXISTS (SELECT 1 FROM b WHERE b.ns OPERATOR(pg_catalog.=) (c OPERATOR(pg_catalog.->>) 'checkpoint_ns') "
				   "    AND b.channel OPERATOR(pg_catalog.=) m.key AND b.writer OPERATOR(pg_catalog.=) (m.value OPERATOR(pg_catalog.#>>) '{}')) LIMIT 1), "
				   " (SELECT pg_catalog.format('The value of channel %s written by %s extends %s, which is not in the export.', "
				   "    x.channel, x.writer, x.base) FROM b x WHERE x.base IS NOT NULL AND NOT EXISTS (SELECT 1 FROM b "
				   "    WHERE b.ns OPERATOR(pg_catalog.=) x.ns AND b.channel OPERATOR(pg_catalog.=) x.channel "
				   "    AND b.writer OPERATOR(pg_catalog.=) x.base) LIMIT 1), "
				   " (SELECT pg_catalog.format('The value of channel %s written by %s is a write of checkpoint %s that is not in the export.', "
				   "    x OPERATOR(pg_catalog.->>) 'channel', x OPERATOR(pg_catalog.->>) 'writer', x OPERATOR(pg_catalog.->>) 'wcheckpoint') "
				   "  FROM pg_catalog.jsonb_array_elements(" LG_MEMBER("blobs") ") x "
				   "  WHERE x OPERATOR(pg_catalog.->>) 'wcheckpoint' IS NOT NULL AND NOT EXISTS (SELECT 1 "
				   "    FROM pg_catalog.jsonb_array_elements(" LG_MEMBER("writes") ") w "
				   "    WHERE (w OPERATOR(pg_catalog.->>) 'checkpoint_ns') OPERATOR(pg_catalog.=) (x OPERATOR(pg_catalog.->>) 'checkpoint_ns') "
				   "    AND (w OPERATOR(pg_catalog.->>) 'checkpoint_id') OPERATOR(pg_catalog.=) (x OPERATOR(pg_catalog.->>) 'wcheckpoint') "
				   "    AND (w OPERATOR(pg_catalog.->>) 'task_id') OPERATOR(pg_catalog.=) (x OPERATOR(pg_catalog.->>) 'wtask') AND (w OPERATOR(pg_catalog.->) 'idx') OPERATOR(pg_catalog.=) (x OPERATOR(pg_catalog.->) 'widx') "
				   "    AND (w OPERATOR(pg_catalog.->>) 'channel') OPERATOR(pg_catalog.=) (x OPERATOR(pg_catalog.->>) 'channel')) LIMIT 1))",
				   1, types);
	problem = sg_spi_execute(rows_plan, args, NULL, 1) == 1 ? sg_spi_text(0, 1) : NULL;
	if (problem != NULL)
		sg_invalid_export(problem);
}

/*
 * The owner of an imported row: the export's (each row carries its owner)
 * when the importing role may own that role's rows (it is that role, a
 * member of it, or a superuser: an administrator's restore, the router's
 * move_partition), else the importing role.
 * An owner too long for a role name is not kept: cast to name, it is cut
 * to a role's name, which stategraph.owned passed, while the rows stored
 * it whole, naming no role (lg_thread_owner_is).
 */
#define LG_IMPORT_OWNER "CASE WHEN pg_catalog.octet_length(x.owner) OPERATOR(pg_catalog.<) " CppAsString2(NAMEDATALEN) \
	" AND stategraph.owned(x.owner::pg_catalog.name) THEN x.owner ELSE CURRENT_USER::pg_catalog.text END"

/* The owners an import's rows name, as rows x(owner) */
#define LG_IMPORT_OWNERS \
	"(SELECT r OPERATOR(pg_catalog.->>) 'owner' AS owner FROM pg_catalog.jsonb_array_elements(" \
	LG_MEMBER("checkpoints") ") r " \
	"  UNION SELECT r OPERATOR(pg_catalog.->>) 'owner' FROM pg_catalog.jsonb_array_elements(" \
	LG_MEMBER("blobs") ") r " \
	"  UNION SELECT r OPERATOR(pg_catalog.->>) 'owner' FROM pg_catalog.jsonb_array_elements(" \
	LG_MEMBER("writes") ") r) x"

/*
 * Hold the names an import's rows go under (LG_IMPORT_OWNER), as a writer
 * of a thread does; a superuser's import naming an owner that is no role
 * here is refused first, as stategraph's own (portable.c).
 */
static void
lg_hold_import_owners(Jsonb *data)
{
	static SPIPlanPtr plan;
	static SPIPlanPtr missing;
	Oid			t = JSONBOID;
	Datum		arg = JsonbPGetDatum(data);

	if (superuser() &&
		sg_spi_execute(sg_spi_prepare(&missing,
									  "SELECT x.owner FROM " LG_IMPORT_OWNERS " WHERE pg_catalog.octet_length(x.owner) "
									  "OPERATOR(pg_catalog.<) " CppAsString2(NAMEDATALEN) " AND "
									  "pg_catalog.to_regrole(pg_catalog.quote_ident(x.owner)) IS NULL "
									  "ORDER BY x.owner COLLATE pg_catalog.\"C\" LIMIT 1", 1, &t),
					   &arg, NULL, 1) == 1)
		sg_import_refuse_missing_owner(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	sg_role_hold_names(sg_spi_prepare(&plan,
									  "SELECT DISTINCT (" LG_IMPORT_OWNER ") COLLATE pg_catalog.\"C\" FROM "
									  LG_IMPORT_OWNERS " ORDER BY 1",
									  1, &t),
					   arg, sg_role_hold_may_wait());
}

/* A value of an imported row: ["its text"] (version 2) or [value] (version 1, $3). */
#define LG_IMPORT_VALUE "CASE WHEN $3 OPERATOR(pg_catalog.=) 1 THEN x.value OPERATOR(pg_catalog.->) 0 " \
	"ELSE (x.value OPERATOR(pg_catalog.->>) 0)::pg_catalog.json END"

/* An import's rows, for lg_store_rows: the export and the thread id they go under. */
typedef struct LGImport
{
	Jsonb	   *data;
	const char *thread_id;
} LGImport;

/*
 * Store an import's rows (as sg_spi_subxact runs it), then check what only
 * typed rows show: a checkpoint or metadata that is no object, blobs that
 * are no map or keep a channel in no form a read knows, a value that
 * extends itself or a newer one (reads follow bases to older writers), a
 * value of a chain of appended ones that is no JSON array. A problem is
 * SGX01. Element counts and digests are then made from the values stored.
 */
static bool
lg_store_rows(void *arg)
{
	LGImport   *im = (LGImport *) arg;
	static SPIPlanPtr plans[3];
	static SPIPlanPtr check_plan;
	static const char *const sql[3] = {
		"INSERT INTO stategraph.lg_checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, "
		"checkpoint, metadata, blobs, created_at, owner) SELECT $2, x.checkpoint_ns, x.checkpoint_id, x.parent_checkpoint_id, "
		"x.checkpoint, x.metadata, x.blobs, x.created_at, " LG_IMPORT_OWNER " "
		"FROM pg_catalog.jsonb_populate_recordset(NULL::stategraph.lg_checkpoints, $1 OPERATOR(pg_catalog.->) 'checkpoints') x",
		"INSERT INTO stategraph.lg_blobs (thread_id, checkpoint_ns, channel, writer, version, base, n, digest, "
		"value, type, bytes, wcheckpoint, wtask, widx, owner) SELECT $2, x.checkpoint_ns, x.channel, x.writer, x.version, "
		"x.base, x.n, x.digest, " LG_IMPORT_VALUE ", x.type, x.bytes, x.wcheckpoint, x.wtask, x.widx, "
		LG_IMPORT_OWNER " "
		"FROM pg_catalog.jsonb_populate_recordset(NULL::stategraph.lg_blobs, " LG_MEMBER("blobs") ") x",
		"INSERT INTO stategraph.lg_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, task_path, "
		"channel, value, type, bytes, owner) SELECT $2, x.checkpoint_ns, x.checkpoint_id, x.task_id, x.idx, "
		"x.task_path, x.channel, " LG_IMPORT_VALUE ", x.type, x.bytes, " LG_IMPORT_OWNER " "
		"FROM pg_catalog.jsonb_populate_recordset(NULL::stategraph.lg_writes, " LG_MEMBER("writes") ") x",
	};
	Oid			types[3] = {JSONBOID, TEXTOID, INT4OID};
	Datum		args[3];
	int			i;
	char	   *problem;

	args[0] = JsonbPGetDatum(im->data);
	args[1] = CStringGetTextDatum(im->thread_id);
	args[2] = Int32GetDatum(lg_export_version(im->data));
	for (i = 0; i < 3; i++)
		sg_spi_execute(sg_spi_prepare(&plans[i], sql[i], i == 0 ? 2 : 3, types), args, NULL, 0);
	sg_spi_prepare(&check_plan,
				   "SELECT COALESCE("
				   " (SELECT pg_catalog.format('Checkpoint %s has a checkpoint, metadata or blobs member of another type.', c.checkpoint_id) "
				   "  FROM stategraph.lg_checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) $2 "
				   "  AND (pg_catalog.json_typeof(c.checkpoint) OPERATOR(pg_catalog.<>) 'object' "
				   "    OR pg_catalog.jsonb_typeof(c.metadata) OPERATOR(pg_catalog.<>) 'object' "
				   "    OR pg_catalog.jsonb_typeof(c.blobs) OPERATOR(pg_catalog.<>) 'object') LIMIT 1), "
				   /* as put checks it (lgsaver.c): reads look keys up in both levels */
				   " (SELECT pg_catalog.format('Checkpoint %s has a versions_seen that is not an object of objects.', c.checkpoint_id) "
				   "  FROM stategraph.lg_checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) $2 "
				   "  AND CASE WHEN pg_catalog.json_typeof(c.checkpoint OPERATOR(pg_catalog.->) 'versions_seen') "
				   "      OPERATOR(pg_catalog.=) 'object' THEN EXISTS (SELECT 1 FROM pg_catalog.json_each(c.checkpoint OPERATOR(pg_catalog.->) 'versions_seen') s "
				   "      WHERE pg_catalog.json_typeof(s.value) OPERATOR(pg_catalog.<>) 'object') "
				   "    WHEN COALESCE(pg_catalog.json_typeof(c.checkpoint OPERATOR(pg_catalog.->) 'versions_seen'), 'null') "
				   "      OPERATOR(pg_catalog.=) 'null' THEN false ELSE true END LIMIT 1), "
				   /* a checkpoint stored without "ts" reads it from created_at (lg_restore_ts) */
				   " (SELECT pg_catalog.format('Checkpoint %s has no ts, and its created_at %s is not one (years 1 to 9999, whole milliseconds).', "
				   "    c.checkpoint_id, c.created_at) "
				   "  FROM stategraph.lg_checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) $2 "
				   "  AND (c.checkpoint OPERATOR(pg_catalog.->) 'ts') IS NULL "
				   "  AND (NOT pg_catalog.isfinite(c.created_at) "
				   "    OR c.created_at OPERATOR(pg_catalog.<) '0001-01-01 00:00:00+00'::pg_catalog.timestamptz "
				   "    OR c.created_at OPERATOR(pg_catalog.>=) '10000-01-01 00:00:00+00'::pg_catalog.timestamptz "
				   "    OR pg_catalog.date_part('microseconds', c.created_at)::pg_catalog.int8 OPERATOR(pg_catalog.%) 1000 OPERATOR(pg_catalog.<>) 0) LIMIT 1), "
				   " (SELECT pg_catalog.format('The value of channel %s written by %s extends %s, which is not older.', b.channel, b.writer, b.base) "
				   "  FROM stategraph.lg_blobs b WHERE b.thread_id OPERATOR(pg_catalog.=) $2 "
				   "  AND b.base OPERATOR(pg_catalog.>=) b.writer LIMIT 1), "
				   /* JSON text that jsonb cannot hold (SQL readers cast values to jsonb): the cast fails */
				   " (SELECT 'unreachable' FROM stategraph.lg_blobs b WHERE b.thread_id OPERATOR(pg_catalog.=) $2 "
				   "  AND (b.value::pg_catalog.jsonb) IS NULL AND b.value IS NOT NULL LIMIT 1), "
				   " (SELECT 'unreachable' FROM stategraph.lg_writes w WHERE w.thread_id OPERATOR(pg_catalog.=) $2 "
				   "  AND (w.value::pg_catalog.jsonb) IS NULL AND w.value IS NOT NULL LIMIT 1), "
				   /*
				    * A checkpoint's map keeps a channel's value as [value],
				    * [value, "its text"] or the id of the value's writer
				    * (lgread.c, lg_append_values): the text must be one
				    * JSON value that jsonb holds, as SQL reads cast it (the
				    * cast fails otherwise: SGX01).
				    */
				   " (SELECT pg_catalog.format('Checkpoint %s keeps channel %s as neither [value], [value, \"its text\"] nor the id of a writer.', "
				   "    c.checkpoint_id, m.key) "
				   "  FROM stategraph.lg_checkpoints c, pg_catalog.jsonb_each(CASE WHEN pg_catalog.jsonb_typeof(c.blobs) "
				   "    OPERATOR(pg_catalog.=) 'object' THEN c.blobs ELSE '{}' END) m "
				   "  WHERE c.thread_id OPERATOR(pg_catalog.=) $2 AND NOT CASE "
				   "    WHEN pg_catalog.jsonb_typeof(m.value) OPERATOR(pg_catalog.=) 'string' THEN true "
				   "    WHEN pg_catalog.jsonb_typeof(m.value) OPERATOR(pg_catalog.<>) 'array' THEN false "
				   "    WHEN pg_catalog.jsonb_array_length(m.value) OPERATOR(pg_catalog.=) 1 THEN true "
				   "    WHEN pg_catalog.jsonb_array_length(m.value) OPERATOR(pg_catalog.<>) 2 THEN false "
				   "    WHEN pg_catalog.jsonb_typeof(m.value OPERATOR(pg_catalog.->) 1) OPERATOR(pg_catalog.<>) 'string' THEN false "
				   "    ELSE ((m.value OPERATOR(pg_catalog.->>) 1)::pg_catalog.jsonb) IS NOT NULL END LIMIT 1), "
				   /*
				    * A read joins a chain of appended values element by
				    * element (lgread.c): each value of one, the whole value
				    * it starts from too, is a JSON array.
				    */
				   " (SELECT pg_catalog.format('The value of channel %s written by %s is in a chain of appended values but is no JSON array.', "
				   "    b.channel, b.writer) "
				   "  FROM stategraph.lg_blobs b WHERE b.thread_id OPERATOR(pg_catalog.=) $2 "
				   "  AND (b.base IS NOT NULL OR EXISTS (SELECT 1 FROM stategraph.lg_blobs x "
				   "    WHERE x.thread_id OPERATOR(pg_catalog.=) $2 AND x.checkpoint_ns OPERATOR(pg_catalog.=) b.checkpoint_ns "
				   "    AND x.channel OPERATOR(pg_catalog.=) b.channel AND x.base OPERATOR(pg_catalog.=) b.writer)) "
				   "  AND (pg_catalog.json_typeof(" LG_BLOB_VALUE ") OPERATOR(pg_catalog.=) 'array') IS NOT TRUE LIMIT 1))", 2, types);
	problem = sg_spi_execute(check_plan, args, NULL, 1) == 1 ? sg_spi_text(0, 1) : NULL;
	if (problem != NULL)
		sg_invalid_export(problem);
	sg_lg_redigest_thread(im->thread_id);	/* element counts and digests: the values' own */
	return true;
}

/*
 * sg_import_thread of a LangGraph.js export: stores its rows under thread_id
 * (NULL: the exported id), owned as LG_IMPORT_OWNER says; returns the thread
 * id. A thread id that already has LangGraph.js checkpoints, or names a
 * stategraph thread (which would hide it), is refused (42710). A row that
 * does not fit its table (a value of another type, a key twice, a member
 * missing) is SGX01, as the checks before.
 */
char *
sg_lg_import_thread(Jsonb *data, const char *thread_id)
{
	LGImport	im;
	ErrorData  *edata;

	if (sg_schema_is_010())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("this database's stategraph schema has no LangGraph.js tables"),
				 errhint("Run ALTER EXTENSION stategraph UPDATE first.")));
	lg_check_export(data);
	if (thread_id == NULL)
		thread_id = lg_find_string(data, "thread_id");
	/* as an import of stategraph's own threads (portable.c): an id over 512 bytes was stored, read by no sg_ function */
	sg_check_length(thread_id, "thread name", "Names");
	lg_hold_import_owners(data);
	(void) lg_lock_waited(thread_id, "", LG_LOCK_REMOVE);
	(void) lg_wait_stored(thread_id, "", LG_LOCK_REMOVE);	/* a copy or import into it in flight */
	/* the locked check first: a delete of it that let go of its lock is waited for */
	if (lg_checkpoints_stored(thread_id) ||
		sg_thread_fetch(thread_id, false) != NULL || sg_lg_thread_exists(thread_id))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("thread \"%s\" already exists", thread_id),
				 errhint("Import under a new thread id, or delete the thread first.")));
	sg_thread_id_check_new(thread_id, true);	/* nor another role's (thread_ids.c) */
	lg_drop_strays(thread_id);
	im.data = data;
	im.thread_id = thread_id;
	edata = sg_spi_subxact(lg_store_rows, &im);
	if (edata != NULL)
	{
		int			category = ERRCODE_TO_CATEGORY(edata->sqlerrcode);

		/* the thread is locked and new: a duplicate key is the export's own */
		if (category != ERRCODE_DATA_EXCEPTION && category != ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION)
			ReThrowError(edata);
		sg_invalid_export(psprintf("A row does not fit its table: %s.", edata->message));
	}
	lg_unlock_thread(thread_id);	/* stored: its rows hold it until commit (lg_wait_stored) */
	return pstrdup(thread_id);
}
