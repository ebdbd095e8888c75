/*-------------------------------------------------------------------------
 *
 * thread_ids.c
 *		One namespace of thread ids: a new thread, of a stategraph graph or
 *		of LangGraph.js storage, never takes an id that is already a
 *		thread of the other kind, or of another role.
 *
 * Two tables hold threads: stategraph.threads (one row per thread of a
 * stategraph graph) and stategraph.lg_checkpoints (the checkpoints of
 * LangGraph.js threads, written by sg_lg_put). sg_threads lists both and
 * sg_get_state reads either, by id; so an id that named one thread of each
 * kind was listed twice and read as the stategraph one only, the other
 * left unreachable from SQL. And row-level security hides the rows of
 * other roles from SQL, so a check made with SQL cannot see that an id is
 * taken by another role: stategraph.threads then refused the insert (its
 * primary key), but a run queued by sg_submit failed later, and
 * lg_checkpoints, whose key includes the checkpoint id, took a second
 * thread of the same id.
 *
 * So the places that start a thread ask here first: sg_thread_create
 * (every run, update, fork and branch that makes a thread), sg_submit (a
 * run that will make one), sg_import_thread, and sg_lg_put when it stores
 * the first checkpoint of a thread. The tables' primary keys are probed
 * below SQL, where no policy applies, with the snapshot SQL would use:
 * only the existence of an id is read (which the error then tells, as
 * sg_invoke's 42501 already does), never a row's content. The probes are
 * index lookups made when a thread starts, not at every step, and a table
 * that never had a row (lg_checkpoints where LangGraph.js is not used) is
 * not probed at all: a new stategraph thread then costs nothing more.
 *
 * The lg_ tables are written by SQL too (SECURITY INVOKER functions need
 * INSERT on them), and each of their rows has an owner of its own: another
 * role could INSERT a checkpoint under a thread id that is not its own,
 * which its owner never sees but a superuser's maintenance does (sg_prune
 * and the retention sweep keep a namespace's newest checkpoint: a stranger's
 * newer one made them delete the owner's whole chain). So a restrictive
 * policy asks lg_thread_owner_is whether a row's owner is its thread's,
 * the owner of the thread's first checkpoint, read below row-level
 * security as the probes above are; it answers only for an owner the
 * caller may own (which the permissive policy requires anyway), so it
 * tells nothing of a thread that is not the caller's but that it is not.
 *
 * The claim of CALL sg_work, made by an ordinary role, asks here whether
 * its candidate run is the first active run of its thread (FIFO per
 * thread): the earlier runs that count may be another role's (a member of
 * the thread's owner writes to the owner's threads, and the owner cannot
 * see its member's runs), so the run queue and the thread's owner are read
 * below row-level security too. Only a yes or no comes out: the caller's
 * own run waits, and nothing of the earlier run is read or returned.
 * sg_submit's multitask rule asks the same of a thread (is an active run
 * of it hidden from the caller?): the thread has one active run whoever
 * submitted it, so 'reject' refuses, and 'interrupt' and 'rollback', which
 * cannot change a run row the caller cannot see, refuse too.
 *
 * The owner ending a step of its thread (completing the last external
 * task, failing it, moving the thread on) moves on the run that waits for
 * that step, which may be its member's, hidden from it: the step's state
 * learns here that such a run exists (its role, nothing of the row), and
 * the one fixed statement that makes it pending or ends it runs as that
 * role, which may change its own run's row.
 *
 * A checkpoint row that starts a fork names the thread it forks
 * (parent_thread), and reading it walks on into that thread: the trigger
 * fork_source_owned lets a role name only a thread it may own, which it
 * learns from the thread's owner read below row-level security too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/multixact.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation_d.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

/*
 * The snapshot of a read below row-level security: the one the SPI queries
 * that follow see (the transaction's under REPEATABLE READ, else a new one).
 */
static Snapshot
below_rls_snapshot(void)
{
	return IsolationUsesXactSnapshot() ? GetTransactionSnapshot() : GetLatestSnapshot();
}

/*
 * The keys of a scan of rel's primary key for the rows of thread_id (its
 * first column), and of namespace ns (its second) unless ns is NULL: key
 * has room for two; returns how many it set.
 */
static int
thread_rows_keys(ScanKey key, const char *thread_id, const char *ns)
{
	ScanKeyEntryInitialize(&key[0], 0, 1, BTEqualStrategyNumber, InvalidOid, DEFAULT_COLLATION_OID,
						   F_TEXTEQ, CStringGetTextDatum(thread_id));
	if (ns == NULL)
		return 1;
	ScanKeyEntryInitialize(&key[1], 0, 2, BTEqualStrategyNumber, InvalidOid, DEFAULT_COLLATION_OID,
						   F_TEXTEQ, CStringGetTextDatum(ns));
	return 2;
}

/* A scan of the rows of thread_id in rel (see thread_rows_scan) with the given snapshot. */
static SysScanDesc
thread_rows_scan_as(Relation rel, const char *thread_id, ScanKey key, Snapshot snapshot)
{
	int			nkeys = thread_rows_keys(key, thread_id, NULL);

	return systable_beginscan(rel, RelationGetPrimaryKeyIndex(rel), true, snapshot, nkeys, key);
}

/*
 * A scan of the rows of thread_id in rel (thread_id is the first column of
 * every primary key here: a prefix lookup), below row-level security, with
 * the snapshot the SPI queries that follow see: the transaction's under
 * REPEATABLE READ, else a new one (a thread deleted by a transaction that
 * committed after this statement began is gone, as sg_thread_fetch sees).
 */
static SysScanDesc
thread_rows_scan(Relation rel, const char *thread_id, ScanKey key)
{
	return thread_rows_scan_as(rel, thread_id, key, below_rls_snapshot());
}

/*
 * Table (of schema stategraph) opened for a scan of its rows of a thread,
 * or NULL when it has none to scan: it does not exist (lg_checkpoints
 * before ALTER EXTENSION UPDATE) or never had a row (no LangGraph.js
 * thread in this database, say; an insert, even one in flight, has
 * extended it).
 */
static Relation
thread_table_open(const char *table)
{
	Oid			relid = sg_table_oid(table);
	Relation	rel;

	if (!OidIsValid(relid))
		return NULL;
	rel = table_open(relid, AccessShareLock);
	if (RelationGetNumberOfBlocks(rel) == 0)
	{
		table_close(rel, AccessShareLock);
		return NULL;
	}
	return rel;
}

/* The snapshot of a ThreadRows scan (taken once the table is open and locked). */
typedef enum ThreadRowsSnapshot
{
	ROWS_BELOW_RLS,				/* below_rls_snapshot */
	ROWS_LATEST,				/* GetLatestSnapshot */
	ROWS_DIRTY,					/* a dirty snapshot, in ThreadRows.dirty */
	ROWS_ANY					/* SnapshotAny: every version */
} ThreadRowsSnapshot;

/*
 * A probe of the rows of one thread in one of the extension's tables,
 * below row-level security: the table as thread_table_open opens it, the
 * scan of its primary key (thread_rows_scan_as) and, for ROWS_DIRTY, the
 * dirty snapshot whose xmin and xmax tell, after each row, which
 * transaction in flight inserted or deletes it. The probes here open and
 * end their scans alike, and wrote it all out each time; what differs is
 * what each reads of the rows between thread_rows_begin and
 * thread_rows_end.
 */
typedef struct ThreadRows
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	SnapshotData dirty;
} ThreadRows;

/*
 * Begin a probe of thread_id's rows in table (of schema stategraph) under
 * the snapshot which names; false, with nothing open, when the table has
 * no rows to scan (thread_table_open).
 */
static bool
thread_rows_begin(ThreadRows *r, const char *table, const char *thread_id, ThreadRowsSnapshot which)
{
	Snapshot	snapshot;

	if ((r->rel = thread_table_open(table)) == NULL)
		return false;
	switch (which)
	{
		case ROWS_BELOW_RLS:
			snapshot = below_rls_snapshot();
			break;
		case ROWS_LATEST:
			snapshot = GetLatestSnapshot();
			break;
		case ROWS_DIRTY:
			InitDirtySnapshot(r->dirty);
			snapshot = &r->dirty;
			break;
		default:
			snapshot = SnapshotAny;
			break;
	}
	r->scan = thread_rows_scan_as(r->rel, thread_id, &r->key, snapshot);
	return true;
}

/* The probe's next row, or NULL past its last. */
static HeapTuple
thread_rows_next(ThreadRows *r)
{
	return systable_getnext(r->scan);
}

/* End a probe that thread_rows_begin began. */
static void
thread_rows_end(ThreadRows *r)
{
	systable_endscan(r->scan);
	table_close(r->rel, AccessShareLock);
}

/* Whether table (of schema stategraph) has a row of thread_id, whoever owns it. */
bool
sg_thread_id_stored(const char *table, const char *thread_id)
{
	ThreadRows	r;
	bool		found;

	if (!thread_rows_begin(&r, table, thread_id, ROWS_BELOW_RLS))
		return false;
	found = HeapTupleIsValid(thread_rows_next(&r));
	thread_rows_end(&r);
	return found;
}

/*
 * Whether, under REPEATABLE READ or SERIALIZABLE, the rows of thread_id in
 * table (of schema stategraph; of namespace ns, or of every namespace when
 * ns is NULL) are not those the transaction's snapshot shows: a writer
 * committed rows, or removed some, after the snapshot was taken. The
 * LangGraph.js thread locks (lgsaver.c) order writers, but a snapshot
 * taken before the lock does not show what the writer before committed:
 * a put then extended the head it saw and forked the chain, a delete left
 * a newer checkpoint without its values. Such a caller must fail as
 * PostgreSQL fails an update of a row changed since the snapshot (40001).
 * Read below row-level security. A row the latest snapshot shows whose
 * inserter the transaction's snapshot does not is new; with none new,
 * fewer rows shown now than then means some were removed.
 */
static bool
thread_rows_changed_unseen(const char *table, const char *thread_id, const char *ns)
{
	Relation	rel;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	Snapshot	xact;
	int64		now = 0, then = 0;
	bool		changed = false;
	int			nkeys;

	if (!IsolationUsesXactSnapshot() || (rel = thread_table_open(table)) == NULL)
		return false;
	xact = GetTransactionSnapshot();
	nkeys = thread_rows_keys(key, thread_id, ns);
	scan = systable_beginscan(rel, RelationGetPrimaryKeyIndex(rel), true, GetLatestSnapshot(), nkeys, key);
	while (!changed && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		TransactionId xmin = HeapTupleHeaderGetXmin(tup->t_data);

		now++;
		changed = !TransactionIdIsCurrentTransactionId(xmin) && XidInMVCCSnapshot(xmin, xact);
	}
	systable_endscan(scan);
	if (!changed)
	{
		scan = systable_beginscan(rel, RelationGetPrimaryKeyIndex(rel), true, xact, nkeys, key);
		while (HeapTupleIsValid(systable_getnext(scan)))
			then++;
		systable_endscan(scan);
		changed = then != now;
	}
	table_close(rel, AccessShareLock);
	return changed;
}

/* 40001 for a caller whose snapshot misses what another writer of thread_id committed (see above). */
void
sg_thread_refuse_changed_unseen(const char *table, const char *thread_id, const char *ns)
{
	if (thread_rows_changed_unseen(table, thread_id, ns))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access to thread \"%s\" due to concurrent update", thread_id),
				 errdetail("Another transaction changed the thread's LangGraph.js %s after this transaction's snapshot was taken.",
						   strcmp(table, "lg_writes") == 0 ? "writes" : "checkpoints"),
				 errhint("Retry the transaction.")));
}

/*
 * thread_storer_unseen where the check's snapshot is a new one (READ
 * COMMITTED), in one probe with a dirty snapshot: a row that it finds
 * committed (or this transaction's, or committed and being deleted) is one
 * the new snapshot sees, so the id has committed rows and no storer; else
 * the first row of a transaction in flight names it. The committed read
 * before the dirty one made two probes of every first put (lg_wait_stored)
 * where one tells the same.
 */
static TransactionId
thread_storer_latest(const char *table, const char *thread_id)
{
	ThreadRows	r;
	TransactionId storer = InvalidTransactionId;

	if (!thread_rows_begin(&r, table, thread_id, ROWS_DIRTY))
		return InvalidTransactionId;
	while (HeapTupleIsValid(thread_rows_next(&r)))
	{
		/* (a row of a transaction in flight sets xmin; a committed one, or this transaction's, does not) */
		if (!TransactionIdIsValid(r.dirty.xmin))
		{
			storer = InvalidTransactionId;
			break;
		}
		if (!TransactionIdIsValid(storer))
			storer = r.dirty.xmin;
	}
	thread_rows_end(&r);
	return storer;
}

/*
 * With stategraph.lock_wait off, a thread that another transaction in
 * flight is creating is busy (55P03) before this one inserts the thread's
 * row: that insert waits for the other transaction (cut to lock_timeout's
 * shortest, sg_thread_insert), and a wait it still was; on a loaded
 * machine isolation new_thread_race saw the call wait. A dirty snapshot
 * finds the row in flight without waiting.
 */
void
sg_thread_refuse_in_creation(const char *thread_id)
{
	TransactionId storer = thread_storer_latest("threads", thread_id);

	if (TransactionIdIsValid(storer) && !ConditionalXactLockTableWait(storer))
		sg_refuse_busy_thread(thread_id, SG_BUSY_THREAD_CREATING);
}

/*
 * A transaction in flight (not this one) that stored rows of thread_id in
 * table (of schema stategraph), while none of its rows is committed (read
 * below row-level security), or InvalidTransactionId. A dirty snapshot
 * finds rows of transactions in flight, as a unique index's check does; it
 * is read only for an id without committed rows. *unseen (if not NULL)
 * tells whether it found a committed row that the check's snapshot did not
 * have (REPEATABLE READ: committed after the transaction's snapshot).
 */
static TransactionId
thread_storer_unseen(const char *table, const char *thread_id, bool *unseen)
{
	ThreadRows	r;
	TransactionId storer = InvalidTransactionId;

	if (unseen)
		*unseen = false;
	if (!IsolationUsesXactSnapshot())
		return thread_storer_latest(table, thread_id);
	if (sg_thread_id_stored(table, thread_id) || !thread_rows_begin(&r, table, thread_id, ROWS_DIRTY))
		return InvalidTransactionId;
	while (HeapTupleIsValid(thread_rows_next(&r)))
	{
		/* (a row of a transaction in flight sets xmin; a committed one, or this transaction's, does not) */
		if (TransactionIdIsValid(r.dirty.xmin))
		{
			storer = r.dirty.xmin;
			break;
		}
		if (unseen)
			*unseen = true;
	}
	thread_rows_end(&r);
	return storer;
}

static TransactionId
thread_storer(const char *table, const char *thread_id)
{
	return thread_storer_unseen(table, thread_id, NULL);
}

/*
 * Whether table (of schema stategraph) has no row of thread_id at all,
 * committed or not, live or deleted by a transaction in flight (one probe
 * with a dirty snapshot; none for a table that never had a row: an insert
 * in flight has extended it). The checks of a new thread's id ask this
 * first: for a new id of a kind, the other kind has no row either, and the
 * committed read, the dirty one and the committed one again that follow
 * made three probes of every sg_invoke of a new thread and every first put.
 */
static bool
thread_rows_none(const char *table, const char *thread_id)
{
	ThreadRows	r;
	bool		none;

	if (!thread_rows_begin(&r, table, thread_id, ROWS_DIRTY))
		return true;
	none = !HeapTupleIsValid(thread_rows_next(&r));
	thread_rows_end(&r);
	return none;
}

/*
 * A transaction in flight (not this one) that stored LangGraph.js
 * checkpoints of thread_id, while none of its checkpoints is committed, or
 * InvalidTransactionId (thread_storer). A copy or import of a thread
 * (lgmaint.c) lets go of the thread's writers' lock once it has stored the
 * rows, not at commit, so that one transaction may store any number of
 * threads (one lock entry per thread, kept until commit, ran 20,000 copies
 * out of the shared lock table); its rows hold the thread until it
 * commits, as a new stategraph thread's row does: the writers of the id
 * that come after it see no checkpoint, ask here, and wait for that
 * transaction (lgsaver.c, lg_wait_stored). An id with a committed
 * checkpoint has no copy or import in flight: they wait for its writers
 * and then refuse it.
 */
TransactionId
sg_lg_thread_storer(const char *thread_id)
{
	return thread_storer("lg_checkpoints", thread_id);
}

/*
 * Whether a transaction in flight other than this one holds the row of
 * thread_id in stategraph.threads: is creating it (its insert is not
 * committed yet), or locked it for update or changed it, as every writer
 * of the thread does (sg_invoke, sg_stream, sg_update_state in a
 * transaction). Such a writer lets the thread's advisory lock go once it
 * holds the row (sg_thread_lock_settled), so the advisory lock alone showed
 * a thread that another session was running in its transaction as idle or
 * done in sg_threads, and a claim that took a run of such a thread waited
 * on that transaction for as long as it stayed open, not bounded by
 * sg_work's max_time, the worker stuck with it (and for a thread being
 * created, then failed with 40001: helper-143). A key-share lock (the
 * foreign key check of a row that references the thread) is no hold: a
 * step locks the row FOR NO KEY UPDATE, which it does not stop
 * (checkpoint.c, thread_fetch_locked).
 *
 * One probe with a dirty snapshot: it finds a row being inserted (and sets
 * xmin) as well as the committed one, whose header (its xmax) tells who
 * holds it. Takes no lock on the row: a probe that did would make a writer
 * with lock_wait off fail as busy.
 */
bool
sg_thread_row_held(const char *thread_id)
{
	ThreadRows	r;
	HeapTuple	tup;
	bool		held = false;

	if (!thread_rows_begin(&r, "threads", thread_id, ROWS_DIRTY))
		return false;
	while (!held && HeapTupleIsValid(tup = thread_rows_next(&r)))
	{
		Buffer		buf = ((BufferHeapTupleTableSlot *) r.scan->slot)->buffer;
		uint16		infomask;
		TransactionId xmax;

		/* (an insert in flight sets xmin: a new thread, or an update's new version) */
		if (TransactionIdIsValid(r.dirty.xmin))
		{
			held = true;
			break;
		}
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		infomask = tup->t_data->t_infomask;
		xmax = HeapTupleHeaderGetRawXmax(tup->t_data);
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		if (infomask & HEAP_XMAX_INVALID)
			held = false;
		else if (infomask & HEAP_XMAX_IS_MULTI)
		{
			MultiXactMember *members;
			int			n = GetMultiXactIdMembers(xmax, &members, false,
												  HEAP_XMAX_IS_LOCKED_ONLY(infomask));
			int			i;

			for (i = 0; i < n && !held; i++)
				held = members[i].status != MultiXactStatusForKeyShare &&
					!TransactionIdIsCurrentTransactionId(members[i].xid) &&
					TransactionIdIsInProgress(members[i].xid);
			if (n > 0)
				pfree(members);
		}
		else if (!(HEAP_XMAX_IS_LOCKED_ONLY(infomask) && HEAP_XMAX_IS_KEYSHR_LOCKED(infomask)))
			held = !TransactionIdIsCurrentTransactionId(xmax) && TransactionIdIsInProgress(xmax);
	}
	thread_rows_end(&r);
	return held;
}

/*
 * Whether LangGraph.js thread thread_id has a checkpoint that is committed
 * (or this transaction's) and that no transaction in flight deletes, read
 * below row-level security in one probe with a dirty snapshot. Not so, a
 * write stored now may be a stray: of a thread without checkpoints, or of
 * one whose delete let go of its lock before committing (lgsaver.c,
 * sg_lg_put_writes notes it then).
 */
bool
sg_lg_checkpoint_firm(const char *thread_id)
{
	ThreadRows	r;
	bool		firm = false;

	if (!thread_rows_begin(&r, "lg_checkpoints", thread_id, ROWS_DIRTY))
		return false;
	while (HeapTupleIsValid(thread_rows_next(&r)))
	{
		/* (the dirty snapshot names a transaction in flight that inserted the row in xmin, one deleting it in xmax) */
		if (!TransactionIdIsValid(r.dirty.xmin) && !TransactionIdIsValid(r.dirty.xmax))
		{
			firm = true;
			break;
		}
	}
	thread_rows_end(&r);
	return firm;
}

/*
 * Whether thread_id has a pending write of owner's (lg_writes) of a
 * time-based checkpoint id (uuid version 6, as LangGraph makes them),
 * committed, read below row-level security with the latest snapshot (under
 * REPEATABLE READ too): the writes that lgmaint.c's removal of strays may
 * remove later. One index range scan of the thread's writes, whatever the
 * statistics (a join the planner costed on them read all of lg_writes
 * when one thread held most of its rows).
 */
bool
sg_lg_v6_writes_left(const char *thread_id, const char *owner)
{
	ThreadRows	r;
	HeapTuple	tup;
	AttrNumber	owner_att, id_att;
	bool		left = false;

	if (!thread_rows_begin(&r, "lg_writes", thread_id, ROWS_LATEST))
		return false;
	owner_att = get_attnum(RelationGetRelid(r.rel), "owner");
	id_att = get_attnum(RelationGetRelid(r.rel), "checkpoint_id");
	while (!left && HeapTupleIsValid(tup = thread_rows_next(&r)))
	{
		bool		isnull;
		Datum		id = heap_getattr(tup, id_att, RelationGetDescr(r.rel), &isnull);
		Datum		o;

		if (isnull || (DatumGetUUIDP(id)->data[6] >> 4) != 6)
			continue;
		o = heap_getattr(tup, owner_att, RelationGetDescr(r.rel), &isnull);
		left = !isnull && strcmp(TextDatumGetCString(o), owner) == 0;
	}
	thread_rows_end(&r);
	return left;
}

/*
 * Waits for a transaction in flight that stores the first rows of thread_id
 * in table (a thread of the other kind: thread_storer), so that the check
 * that follows sees them once it commits: each kind's writers hold their
 * own locks, which the other kind does not take, so a stategraph thread
 * and a LangGraph.js copy, import or first put of one id in flight at once
 * both committed, and the id was a thread of both kinds. With
 * stategraph.lock_wait off (stategraph threads), the id is busy instead.
 * In REPEATABLE READ, a storer that committed is a serialization failure,
 * as another transaction's creation of the thread is (its rows are not
 * in the snapshot); so are rows that committed after the snapshot was
 * taken, before this call: the check that follows reads the snapshot and
 * did not see them, and the id became a thread of both kinds. Returns
 * false when table has no row of the id at all (thread_rows_none): the
 * caller has nothing more to check there.
 */
static bool
wait_other_kind(const char *table, const char *thread_id, bool may_fail_busy)
{
	TransactionId storer;
	bool		unseen;

	if (thread_rows_none(table, thread_id))
		return false;
	while (TransactionIdIsValid(storer = thread_storer_unseen(table, thread_id, &unseen)))
	{
		if (!may_fail_busy || sg_lock_wait)
			XactLockTableWait(storer, NULL, NULL, XLTW_None);
		else if (!ConditionalXactLockTableWait(storer))
			sg_refuse_busy_thread(thread_id, SG_BUSY_THREAD_CREATING);
		if (IsolationUsesXactSnapshot() && TransactionIdDidCommit(storer))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not create thread \"%s\": another transaction created it", thread_id),
					 errhint("Retry the transaction.")));
	}
	if (unseen && IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not create thread \"%s\": another transaction created it", thread_id),
				 errhint("Retry the transaction.")));
	return true;
}

/*
 * The error for an id another role's thread has (42501), the one place its
 * message is written: detail and hint default to the namespace's rule when
 * NULL; callers that know more (another role's stray writes, an import)
 * say it there.
 */
void
sg_refuse_thread_of_another_role(const char *thread_id, const char *detail, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg(SG_ANOTHER_ROLES_THREAD_MSG, thread_id),
			 errdetail("%s", detail ? detail : SG_ANOTHER_ROLES_THREAD_DETAIL),
			 errhint("%s", hint ? hint : SG_ANOTHER_ROLES_THREAD_HINT)));
}

/*
 * Refuse to start a stategraph thread under the id of a LangGraph.js
 * thread, whoever owns it (sg_thread_create, whose insert finds another
 * role's stategraph thread itself).
 */
void
sg_thread_id_check_not_lg(const char *thread_id)
{
	if (!wait_other_kind("lg_checkpoints", thread_id, true) ||	/* a LangGraph.js writer of the id in flight */
		!sg_thread_id_stored("lg_checkpoints", thread_id))
		return;
	if (!sg_lg_thread_visible(thread_id))
		sg_refuse_thread_of_another_role(thread_id, NULL, NULL);
	ereport(ERROR,
			(errcode(ERRCODE_DUPLICATE_OBJECT),
			 errmsg("thread \"%s\" already exists as a LangGraph.js thread", thread_id),
			 errdetail("A LangGraph.js thread and a stategraph thread cannot share an id: sg_threads and sg_get_state name threads by id."),
			 errhint("Use another thread id.")));
}

/*
 * Whether this transaction has stored rows of stategraph thread thread_id
 * (a thread it created and then deleted, say), deleted or not: any version
 * of the id's rows whose inserter is this transaction (a subtransaction of
 * it that has not rolled back). A LangGraph.js writer of the id that comes
 * now waits for this transaction (a dirty snapshot finds a row in insertion
 * by another transaction, deleted or not).
 */
static bool
threads_stored_here(const char *thread_id)
{
	ThreadRows	r;
	HeapTuple	tup;
	bool		here = false;

	if (!thread_rows_begin(&r, "threads", thread_id, ROWS_ANY))
		return false;
	while (!here && HeapTupleIsValid(tup = thread_rows_next(&r)))
		here = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetRawXmin(tup->t_data));
	thread_rows_end(&r);
	return here;
}

/*
 * sg_thread_id_check_not_lg for a new stategraph thread that is inserted
 * next: also holds the lock of the id's LangGraph.js writers
 * (sg_lg_lock_id) until sg_thread_id_claimed, after the insert. A
 * LangGraph.js put, copy or import holds it from its check of the id to
 * its insert: without it, a put that checked the id while sg_invoke had
 * checked it and not inserted yet, or the reverse, found nothing to wait
 * for, and both committed (isolation revkinds_check_insert). The lock is
 * not held while waiting for a LangGraph.js transaction in flight (that
 * transaction's next put of the id would wait for it: a deadlock). Nor is
 * it waited for when this transaction stored rows of the id before (it
 * created the thread, deleted it and creates it again): a LangGraph.js
 * writer that holds it waits for this transaction (its check of the id
 * found those rows in flight), and waiting for it was a deadlock (40P01,
 * isolation revkinds2_recreate); that writer, and any that comes, cannot
 * store the id before this transaction ends. Returns whether it took the
 * lock (sg_thread_id_claimed's taken).
 */
bool
sg_thread_id_claim_not_lg(const char *thread_id)
{
	bool		taken = true;

	for (;;)
	{
		if (!sg_lg_lock_id(thread_id, true))
		{
			if (threads_stored_here(thread_id))
				taken = false;
			else
			{
				sg_lg_refuse_another_roles(thread_id);	/* its busy lock would tell */
				if (!sg_lock_wait)
					sg_refuse_busy_thread(thread_id, SG_BUSY_THREAD_CREATING);
				(void) sg_lg_lock_id(thread_id, false);
			}
		}
		if (thread_rows_none("lg_checkpoints", thread_id))
			return taken;
		if (!TransactionIdIsValid(thread_storer("lg_checkpoints", thread_id)))
			break;
		if (taken)
			sg_lg_unlock_id(thread_id);
		taken = true;
		(void) wait_other_kind("lg_checkpoints", thread_id, true);
	}
	sg_thread_id_check_not_lg(thread_id);
	return taken;
}

/* The new stategraph thread's row is inserted: sg_thread_id_claim_not_lg's lock goes (if it took it). */
void
sg_thread_id_claimed(const char *thread_id, bool taken)
{
	if (taken)
		sg_lg_unlock_id(thread_id);
}

/*
 * Whether thread_id, which has no LangGraph.js checkpoint, has pending
 * writes of a role the caller may not own, read below row-level security:
 * writes another role sent under the id before any checkpoint (strays, or
 * a run's writes ahead of its first put). A first checkpoint of the
 * caller's there made them rows of its thread for good, which its owner
 * can neither see nor remove (the sweep removes strays only while the id
 * has no checkpoint), and a superuser's export of the thread then failed
 * to import (SGX01: rows of more than one owner) and read them as pending
 * writes of a checkpoint of the same id. Committed or not (a dirty
 * snapshot): writes of a transaction still open, whose role checked the
 * id before the caller's checkpoint was there, would commit into the
 * caller's thread after it (a writer that comes after the caller's first
 * put waits for it, lg_wait_stored, and is then refused). A caller above
 * row-level security is not refused: its thread is its own (lgsaver.c's
 * LG_THREAD_OWNER), with those writes in it.
 */
static bool
lg_writes_of_another_role(const char *thread_id)
{
	ThreadRows	r;
	HeapTuple	tup;
	AttrNumber	owner_att;
	bool		other = false;

	if (check_enable_rls(sg_table_oid("lg_writes"),
						 InvalidOid, true) != RLS_ENABLED ||
		!thread_rows_begin(&r, "lg_writes", thread_id, ROWS_DIRTY))
		return false;
	owner_att = get_attnum(RelationGetRelid(r.rel), "owner");
	while (!other && HeapTupleIsValid(tup = thread_rows_next(&r)))
	{
		bool		isnull;
		Datum		o = heap_getattr(tup, owner_att, RelationGetDescr(r.rel), &isnull);

		other = !isnull && !sg_caller_is_owner(TextDatumGetCString(o));
	}
	thread_rows_end(&r);
	return other;
}

/*
 * Refuse to start a thread of a stategraph graph (lg false) or of
 * LangGraph.js storage (lg true) under an id that is a thread of the other
 * kind, or of another role; with SPI connected. The caller has checked the
 * visible threads of its own kind.
 */
void
sg_thread_id_check_new(const char *thread_id, bool lg)
{
	if (lg)
	{
		/* (waits for a stategraph thread of the id in flight) */
		if (wait_other_kind("threads", thread_id, false) && sg_thread_id_stored("threads", thread_id))
		{
			SGThread   *th = sg_thread_fetch(thread_id, false);

			if (th == NULL)
				sg_refuse_thread_of_another_role(thread_id, NULL, NULL);
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("thread \"%s\" already exists as a thread of graph \"%s\"", thread_id, th->graph),
					 errdetail("A LangGraph.js thread and a stategraph thread cannot share an id: sg_threads and sg_get_state name threads by id."),
					 errhint("Use another thread id.")));
		}
		if (sg_thread_id_stored("lg_checkpoints", thread_id))
		{
			if (!sg_lg_thread_visible(thread_id))
				sg_refuse_thread_of_another_role(thread_id, NULL, NULL);
		}
		else if (lg_writes_of_another_role(thread_id))
			sg_refuse_thread_of_another_role(thread_id,
											 "Another role stored LangGraph.js writes under the id without a checkpoint.",
											 "Use another thread id, or ask that role to delete its thread id; sg_prune of every thread and the retention sweep remove such writes once they are a minute old.");
		return;
	}
	sg_thread_id_check_not_lg(thread_id);
	if (sg_thread_id_stored("threads", thread_id) && sg_thread_fetch(thread_id, false) == NULL)
		sg_refuse_thread_of_another_role(thread_id, NULL, NULL);
}

/*
 * The owner of LangGraph.js thread thread_id (its first checkpoint's, by
 * namespace, then id), read below row-level security; NULL when no
 * checkpoint of it is stored.
 */
static char *
lg_first_owner(const char *thread_id)
{
	ThreadRows	r;
	HeapTuple	tup;
	char	   *owner = NULL;

	if (!thread_rows_begin(&r, "lg_checkpoints", thread_id, ROWS_BELOW_RLS))
		return NULL;
	if (HeapTupleIsValid(tup = thread_rows_next(&r)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, get_attnum(RelationGetRelid(r.rel), "owner"), RelationGetDescr(r.rel), &isnull);

		if (!isnull)
			owner = TextDatumGetCString(d);
	}
	thread_rows_end(&r);
	return owner;
}

/*
 * Whether LangGraph.js thread thread_id has no checkpoint yet, or its first
 * one (by namespace, then id, as sg_lg_put's owner lookup reads) is owner's,
 * read below row-level security.
 */
static bool
lg_first_owner_is(const char *thread_id, text *owner)
{
	char	   *first = lg_first_owner(thread_id);

	return first == NULL || strcmp(first, text_to_cstring(owner)) == 0;
}

/*
 * Refuse at once (42501) a thread of either kind under thread_id, or a
 * LangGraph.js write under it, when it is a LangGraph.js thread of a role
 * the caller may not own: before this, the caller waited for the lock of
 * its writers first (sg_lg_put, a copy or an import into it, sg_invoke of
 * a new thread under its id), which told another role that the thread was
 * being written ("is busy" with stategraph.lock_wait off, else a wait as
 * long as its owner's transaction), where an idle one is refused at once
 * (isolation revsec_lg_busy). A caller that row-level security lets see
 * every thread waits as for its own, as sg_thread_of_another_role says.
 */
void
sg_lg_refuse_another_roles(const char *thread_id)
{
	if (sg_lg_thread_of_another_role(thread_id))
		sg_refuse_thread_of_another_role(thread_id, NULL, NULL);
}

/*
 * Whether thread_id is a LangGraph.js thread (a committed checkpoint) of a
 * role the caller may not own, read below row-level security: false for a
 * caller that row-level security lets see every thread.
 */
bool
sg_lg_thread_of_another_role(const char *thread_id)
{
	char	   *owner;

	if (check_enable_rls(sg_table_oid("lg_checkpoints"),
						 InvalidOid, true) != RLS_ENABLED)
		return false;
	owner = lg_first_owner(thread_id);
	return owner != NULL && !sg_caller_is_owner(owner);
}

/*
 * sg_thread_id_check_new(thread_id, true) for writes under a LangGraph.js
 * thread id (sg_lg_put_writes, called for every task): the common case, a
 * thread of the caller's own, takes two index probes and no query.
 */
void
sg_thread_id_check_writes(const char *thread_id)
{
	if (!sg_thread_id_stored("threads", thread_id) &&
		lg_first_owner_is(thread_id, cstring_to_text(GetUserNameFromId(GetUserId(), false))))
		return;
	sg_thread_id_check_new(thread_id, true);
}

/*
 * Whether role member may own what role owner owns: stategraph.owned's
 * test for member (owner is member or a role it is a member of). A role
 * that no longer exists owns nothing anyone may act for.
 */
static bool
member_may_own(Oid member, const char *owner)
{
	Oid			role = get_role_oid(owner, true);

	return OidIsValid(role) && is_member_of_role(member, role);
}

/* Whether the caller may own what role owner owns: stategraph.owned's test, in C. */
bool
sg_caller_is_owner(const char *owner)
{
	return member_may_own(GetUserId(), owner);
}

PG_FUNCTION_INFO_V1(lg_thread_owner_is);

/*
 * stategraph.lg_thread_owner_is(thread_id text, owner text) -> boolean: the
 * restrictive policy of the lg_ tables. Whether owner (a role the caller may
 * own) owns thread thread_id (lg_first_owner_is). For an owner the caller
 * may not own, true without looking. An owner too long for a role name is
 * no role's: false. The permissive policy reads the owner cast to name,
 * which cuts it to NAMEDATALEN - 1 bytes, so a role whose name is that long
 * passed it with its name and a suffix, which names no role here, and
 * planted rows under another role's thread id (pg_regress rl_lg_owner_cut).
 */
Datum
lg_thread_owner_is(PG_FUNCTION_ARGS)
{
	char	   *thread_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *owner = PG_GETARG_TEXT_PP(1);

	if (VARSIZE_ANY_EXHDR(owner) >= NAMEDATALEN)
		PG_RETURN_BOOL(false);
	if (!sg_caller_is_owner(text_to_cstring(owner)))
		PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(lg_first_owner_is(thread_id, owner));
}

/*
 * The owner of stategraph thread thread_id read below row-level security
 * (palloc'd), or NULL if there is no such thread.
 */
static char *
thread_owner_stored(const char *thread_id)
{
	Relation	rel = table_open(sg_table_oid("threads"),
								 AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan = thread_rows_scan(rel, thread_id, &key);
	HeapTuple	tup = systable_getnext(scan);
	char	   *owner = NULL;

	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, get_attnum(RelationGetRelid(rel), "owner"),
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			owner = pstrdup(NameStr(*DatumGetName(d)));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

/*
 * The owner of task task_id read below row-level security (palloc'd) when
 * the task's newest claim is the one of token, else NULL. A worker whose
 * role lost its membership in the task's owner while it worked on the task
 * no longer sees the row, and its heartbeat or completion would be told
 * that the task does not exist (tasks.c refuses it as a permission error
 * instead). The token, drawn at random for each claim, shows that the
 * caller held the claim, so this tells nothing of another role's tasks to
 * a role that merely guesses task ids.
 */
char *
sg_task_owner_of_claim(const char *task_id, const pg_uuid_t *token)
{
	Relation	rel = table_open(sg_table_oid("tasks"),
								 AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan = thread_rows_scan(rel, task_id, &key);	/* task_id leads the primary key */
	HeapTuple	tup = systable_getnext(scan);
	char	   *owner = NULL;

	if (HeapTupleIsValid(tup))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;
		Datum		t = heap_getattr(tup, get_attnum(RelationGetRelid(rel), "token"), desc, &isnull);

		if (!isnull && memcmp(DatumGetUUIDP(t), token, sizeof(pg_uuid_t)) == 0)
		{
			Datum		o = heap_getattr(tup, get_attnum(RelationGetRelid(rel), "owner"), desc, &isnull);

			if (!isnull)
				owner = pstrdup(NameStr(*DatumGetName(o)));
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

/*
 * Whether thread_id is a stategraph thread of a role the caller may not own
 * (read below row-level security): sg_lock_thread does not wait for such a
 * thread, whose busy lock would tell that it is in use (the caller then
 * fails as for any thread of another role). False for a caller that row-level
 * security lets see every thread (BYPASSRLS, the tables' owner): it writes
 * the thread, and must wait for its lock (isolation revtenants_bypassrls_busy).
 */
bool
sg_thread_of_another_role(const char *thread_id)
{
	return sg_thread_other_owner(thread_id) != NULL;
}

/* The owner of thread_id when sg_thread_of_another_role says yes (palloc'd), else NULL. */
char *
sg_thread_other_owner(const char *thread_id)
{
	char	   *owner;

	if (check_enable_rls(sg_table_oid("threads"),
						 InvalidOid, true) != RLS_ENABLED)
		return NULL;
	if (!sg_thread_id_stored("threads", thread_id))
		return NULL;
	owner = thread_owner_stored(thread_id);
	return owner != NULL && !sg_caller_is_owner(owner) ? owner : NULL;
}

/*
 * Refuse (42501) a checkpoint of thread_id that the current role may no
 * longer write: a node of the running call revoked the role's membership in
 * the thread's owner (or another session's revoke committed meanwhile, or a
 * node changed the current role). Row-level security then refused the row
 * with its generic "new row violates row-level security policy". Asked
 * before every checkpoint row is inserted (and by the executor before it
 * keeps a failure, an interrupt or a wait on the thread: executor.c,
 * check_thread_kept), so it must cost nothing in the
 * common case: the thread's owner is read (below row-level security) only
 * in a transaction that has seen a change to roles or memberships (a
 * syscache callback) or under another current role than at the last check.
 */
static LocalTransactionId roles_changed_in = InvalidLocalTransactionId;
static Oid	roles_checked_as = InvalidOid;
static uint64 roles_changes = 0;	/* changes seen since the callbacks were registered */

static void
roles_changed_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	roles_changed_in = MyProc->lxid;
	roles_changes++;
}

static void
register_roles_callbacks(void)
{
	static bool registered = false;

	if (!registered)
	{
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, roles_changed_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, roles_changed_callback, (Datum) 0);
		registered = true;
	}
}

/*
 * A number that grows whenever this backend takes in a change to roles or
 * memberships (any role's: a rename, a revoke, a new role; or a reset of
 * the caches), from the first call on: a reader compares it before and
 * after to learn whether row-level security may have changed its mind in
 * between (lgread.c, lg_check_still_readable).
 */
uint64
sg_roles_changes(void)
{
	register_roles_callbacks();
	return roles_changes;
}

void
sg_thread_check_still_writable(const char *thread_id)
{
	char	   *owner;

	register_roles_callbacks();
	/*
	 * A revoke another session committed during the step is seen now, not
	 * when the insert locks its table (then row-level security saw it and
	 * this did not). Once a change is seen, every row of the transaction is
	 * checked, whichever thread it is of: a check of one thread (a node's
	 * nested call on another) clears nothing.
	 */
	AcceptInvalidationMessages();
	if (roles_changed_in != MyProc->lxid && roles_checked_as == GetUserId())
		return;
	owner = sg_thread_other_owner(thread_id);
	if (owner != NULL)
		sg_refuse_lost_write(thread_id, owner);
	roles_checked_as = GetUserId();
}

/*
 * 42501: the current role may no longer write thread_id, whose row it
 * wrote or read at the start of the call; owner is the thread's owner (NULL:
 * the row is hidden, owner unknown). A step's checkpoint, a failure,
 * interrupt or wait kept on the thread (sg_thread_check_still_writable)
 * and the run's end (executor.c, save_thread) raise it.
 */
void
sg_refuse_lost_write(const char *thread_id, const char *owner)
{
	const char *me = GetUserNameFromId(GetUserId(), false);

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" may no longer write thread \"%s\"", me, thread_id),
			 owner != NULL ?
			 errdetail("The thread belongs to role \"%s\", of which role \"%s\" is not a member now: "
					   "the membership was revoked, the current role changed, or sg_reassign_owned gave "
					   "the thread to that role, during the step. The step is not recorded.", owner, me) :
			 errdetail("Role \"%s\" no longer sees the thread's row; the step is not recorded.", me)));
}

/*
 * Whether a run of role run_owner may act on a thread of role owner, as
 * stategraph.owned tests it for run_owner: the same name, or a member of
 * an existing role (a dropped role's runs act on nothing of another name).
 */
static bool
acts_for(const char *run_owner, const char *owner)
{
	Oid			member;

	if (strcmp(run_owner, owner) == 0)
		return true;
	member = get_role_oid(run_owner, true);
	return OidIsValid(member) && member_may_own(member, owner);
}

/*
 * Whether a run of role run_owner on thread thread_id may not act on it:
 * the thread exists (read below row-level security) and belongs to a role
 * run_owner is not a member of, nor is run_owner above row-level security.
 * Any role may write such a run row, naming any thread: a claim ends it
 * without waiting for the thread, nor for the thread's runs (runs.c,
 * claim_checks), whose wait told its writer whether that role's thread
 * was in use, or had an active run (isolation forged_run_busy).
 */
bool
sg_run_may_not_act(const char *thread_id, const char *run_owner)
{
	char	   *thread_owner = thread_owner_stored(thread_id);
	Oid			role;

	if (thread_owner == NULL || acts_for(run_owner, thread_owner))
		return false;
	role = get_role_oid(run_owner, true);
	return OidIsValid(role) && !has_bypassrls_privilege(role);
}

/*
 * A thread's owner as the scans of its active runs below read it, below
 * row-level security: only once a row needs it (most threads have no
 * other run to weigh), and once. NULL: no thread of that id.
 */
typedef struct LazyOwner
{
	const char *thread_id;
	bool		read;
	char	   *owner;
} LazyOwner;

static char *
owner_of(LazyOwner *lazy)
{
	if (!lazy->read)
	{
		lazy->owner = thread_owner_stored(lazy->thread_id);
		lazy->read = true;
	}
	return lazy->owner;
}

/*
 * Which active runs of a thread active_run_before counts: those that count
 * for a run of role owner (FIFO per thread), those of them the caller
 * cannot see, or every run the caller cannot see, whatever its role.
 */
typedef enum RunsCounted
{
	RUNS_COUNTING,
	RUNS_COUNTING_HIDDEN,
	RUNS_HIDDEN
} RunsCounted;

/*
 * A scan of the active runs of one thread, below row-level security:
 * stategraph.runs read through its partial index of active runs
 * (thread_id, seq), under a snapshot registered for the scan's life. The
 * readers of a thread's active runs here opened and ended it alike; what
 * differs is which runs each counts. An index entry may be of a row
 * version that is no longer active: each reader checks the status.
 */
typedef struct ActiveRuns
{
	Relation	rel;
	TupleDesc	desc;
	Snapshot	snapshot;
	ScanKeyData keys[2];
	SysScanDesc scan;
} ActiveRuns;

/*
 * Begin a scan of thread thread_id's active runs (numbered below *below_seq
 * when it is not NULL) under the latest snapshot (latest) or
 * below_rls_snapshot, taken once the table is open.
 */
static void
active_runs_begin(ActiveRuns *a, const char *thread_id, const int64 *below_seq, bool latest)
{
	Oid			relid = sg_table_oid("runs");
	int			nkeys = 1;

	a->rel = table_open(relid, AccessShareLock);
	a->desc = RelationGetDescr(a->rel);
	a->snapshot = RegisterSnapshot(latest ? GetLatestSnapshot() : below_rls_snapshot());
	ScanKeyEntryInitialize(&a->keys[0], 0, get_attnum(relid, "thread_id"), BTEqualStrategyNumber, InvalidOid,
						   DEFAULT_COLLATION_OID, F_TEXTEQ, CStringGetTextDatum(thread_id));
	if (below_seq != NULL)
		ScanKeyEntryInitialize(&a->keys[nkeys++], 0, get_attnum(relid, "seq"), BTLessStrategyNumber, InvalidOid,
							   InvalidOid, F_INT8LT, Int64GetDatum(*below_seq));
	a->scan = systable_beginscan(a->rel, sg_table_oid("runs_active"), true, a->snapshot, nkeys, a->keys);
}

/* End a scan that active_runs_begin began. */
static void
active_runs_end(ActiveRuns *a)
{
	systable_endscan(a->scan);
	UnregisterSnapshot(a->snapshot);
	table_close(a->rel, AccessShareLock);
}

/*
 * Whether thread thread_id has an active run numbered below seq that
 * counts for a run of role owner, read below row-level security through
 * the partial index of active runs (thread_id, seq); which count: see
 * RunsCounted. A run counts if its role may act on the thread: a member
 * of the thread's owner or, before the thread exists, of owner, or a role
 * owner is a member of (whose run owner sees, and whose thread it may act
 * on once that run creates it: bob's run queued behind his parent alice's
 * on a new thread id went first, created the thread as bob, and alice's
 * then failed on it). Another role's run can only fail on the thread;
 * counting it would let that role hold up the owner's runs unseen.
 */
static bool
active_run_before(const char *thread_id, int64 seq, const char *owner, RunsCounted counted)
{
	Oid			relid = sg_table_oid("runs");
	AttrNumber	status_att = get_attnum(relid, "status");
	AttrNumber	owner_att = get_attnum(relid, "owner");
	LazyOwner	thread = {thread_id, false, NULL};
	ActiveRuns	a;
	HeapTuple	tup;
	bool		found = false;

	active_runs_begin(&a, thread_id, &seq, false);
	while (!found && HeapTupleIsValid(tup = systable_getnext(a.scan)))
	{
		bool		isnull;
		Datum		status = heap_getattr(tup, status_att, a.desc, &isnull);
		const char *run_owner = NameStr(*DatumGetName(heap_getattr(tup, owner_att, a.desc, &isnull)));

		/* (the index entry may be of a row version that is no longer active) */
		if (!sg_run_status_active(TextDatumGetCString(status)))
			continue;
		if (counted == RUNS_HIDDEN)
		{
			found = !sg_caller_is_owner(run_owner);
			continue;
		}
		found = (owner_of(&thread) ? acts_for(run_owner, owner_of(&thread)) :
				 acts_for(run_owner, owner) || acts_for(owner, run_owner)) &&
			!(counted == RUNS_COUNTING_HIDDEN && sg_caller_is_owner(run_owner));
	}
	active_runs_end(&a);
	return found;
}

/*
 * Has thread thread_id an active run the caller cannot see, of the runs
 * which (one of the RUNS_ modes above) counts? A caller that row-level
 * security does not stop (a superuser, BYPASSRLS) sees every run.
 */
static bool
active_run_hidden(const char *thread_id, RunsCounted which)
{
	Oid			relid = sg_table_oid("runs");

	if (check_enable_rls(relid, InvalidOid, true) != RLS_ENABLED)
		return false;
	return active_run_before(thread_id, PG_INT64_MAX, GetUserNameFromId(GetUserId(), false), which);
}

/*
 * Is the run numbered seq of role owner the first active run of thread
 * thread_id (FIFO per thread), whatever the caller may see? The caller
 * holds the thread's lock, so no earlier run can appear meanwhile.
 */
bool
sg_first_of_thread(const char *thread_id, int64 seq, const char *owner)
{
	return !active_run_before(thread_id, seq, owner, RUNS_COUNTING);
}

/*
 * Has thread thread_id an active run the caller cannot see (row-level
 * security hides another role's runs: a member's on its parent's thread,
 * say) that a new run of the caller would follow (sg_submit's multitask
 * rule)? Only a yes or no comes out.
 */
bool
sg_thread_has_hidden_run(const char *thread_id)
{
	return active_run_hidden(thread_id, RUNS_COUNTING_HIDDEN);
}

/*
 * Has thread thread_id an active run the caller cannot see, of any role
 * (runs.c, record_step: claims may have passed it)? Also a run of a role
 * that may not act on the thread, which sg_thread_has_hidden_run leaves
 * out: queued on the id before another role's run created the thread, it
 * is to be taken (and fail) at once, not at the next sweep. Only a yes or
 * no comes out.
 */
bool
sg_thread_hides_a_run(const char *thread_id)
{
	return active_run_hidden(thread_id, RUNS_HIDDEN);
}

/*
 * The role of the run of thread thread_id that the thread's step goes on
 * with, when the caller cannot see it: the first active run of a role that
 * may act on the thread (a member's run on its parent role's thread) that
 * is waiting for the step's external tasks or (unless waiting_only) taken
 * or due, read below row-level security. InvalidOid: none, the caller
 * sees it, or the caller may not act on the thread (a stranger's task row
 * of its own under the thread's id, completed, made the owner's waiting run
 * pending again, and taken again). tasks.c's completions (their step's state) and the statements
 * that move that run on (runs.c, runs_step_ready; tasks.c,
 * end_waiting_run) act as this role for it: the thread's owner completing
 * a task of its member's run left that run waiting for good.
 */
Oid
sg_thread_hidden_step_run_role(const char *thread_id, bool waiting_only)
{
	Oid			relid = sg_table_oid("runs");
	AttrNumber	status_att = get_attnum(relid, "status");
	AttrNumber	owner_att = get_attnum(relid, "owner");
	AttrNumber	stepped_att = get_attnum(relid, "stepped");
	AttrNumber	not_before_att = get_attnum(relid, "not_before");
	ActiveRuns	a;
	HeapTuple	tup;
	LazyOwner	thread = {thread_id, false, NULL};
	Oid			role = InvalidOid;

	if (check_enable_rls(relid, InvalidOid, true) != RLS_ENABLED)
		return InvalidOid;
	active_runs_begin(&a, thread_id, NULL, false);
	while (HeapTupleIsValid(tup = systable_getnext(a.scan)))
	{
		bool		isnull;
		char	   *status = TextDatumGetCString(heap_getattr(tup, status_att, a.desc, &isnull));
		const char *run_owner = NameStr(*DatumGetName(heap_getattr(tup, owner_att, a.desc, &isnull)));
		bool		taken;

		/* (the index entry may be of a row version that is no longer active) */
		if (!sg_run_status_active(status))
			continue;
		/* only for a caller that may act on the thread: anyone may write a task row of its own under its id */
		if (owner_of(&thread) == NULL || !sg_caller_is_owner(owner_of(&thread)))
			break;
		if (!acts_for(run_owner, owner_of(&thread)))
			continue;
		/* the thread's first run that counts: the step's, whoever sees it */
		taken = strcmp(status, "pending") != 0 ||
			DatumGetBool(heap_getattr(tup, stepped_att, a.desc, &isnull)) ||
			DatumGetTimestampTz(heap_getattr(tup, not_before_att, a.desc, &isnull)) <=
			GetCurrentTransactionStartTimestamp();
		if ((waiting_only ? strcmp(status, "waiting") == 0 : taken) && !sg_caller_is_owner(run_owner))
			role = get_role_oid(run_owner, true);
		break;
	}
	active_runs_end(&a);
	return role;
}

/*
 * Execute plan, a statement on thread thread_id's waiting run that found
 * none as the caller, again as the role of that run when the caller cannot
 * see it (sg_thread_hidden_step_run_role), security-restricted as a run's
 * submitter is (runs.c, act_as_submitter); an error goes back to the
 * caller's role with the (sub)transaction's abort. Returns the rows
 * processed: 0 when there is no such run.
 */
uint64
sg_spi_execute_as_hidden_waiting_run(const char *thread_id, SPIPlanPtr plan, Datum *values, const char *nulls)
{
	Oid			role = sg_thread_hidden_step_run_role(thread_id, true);
	Oid			user;
	int			sec;
	uint64		n;

	if (!OidIsValid(role))
		return 0;
	GetUserIdAndSecContext(&user, &sec);
	SetUserIdAndSecContext(role, sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	n = sg_spi_execute(plan, values, nulls, 0);
	SetUserIdAndSecContext(user, sec);
	return n;
}

/*
 * Has thread thread_id a run the caller cannot see, queued and not started
 * (no step taken), that is to start from a checkpoint newer than after
 * (NULL: from any checkpoint)? Those are the checkpoints a rollback of the
 * caller's running run removes (runs.c, refuse_rollback_under_run, which
 * finds the runs the caller sees with SQL): such a run failed with 42704
 * when it started. Only a run of a role that may act on the thread counts
 * (a member's on its owner's thread): any role may write a run row of its
 * own naming the thread, and a stranger's blocked the owner's rollback for
 * good (pg_regress rollback_forged_run). Read below row-level security
 * under the latest snapshot, as that check reads; only a yes or no comes out.
 */
bool
sg_thread_has_hidden_run_from(const char *thread_id, const pg_uuid_t *after)
{
	Oid			relid = sg_table_oid("runs");
	AttrNumber	status_att;
	AttrNumber	owner_att;
	AttrNumber	stepped_att;
	AttrNumber	checkpoint_att;
	ActiveRuns	a;
	HeapTuple	tup;
	LazyOwner	thread = {thread_id, false, NULL};
	bool		found = false;

	if (check_enable_rls(relid, InvalidOid, true) != RLS_ENABLED)
		return false;
	status_att = get_attnum(relid, "status");
	owner_att = get_attnum(relid, "owner");
	stepped_att = get_attnum(relid, "stepped");
	checkpoint_att = get_attnum(relid, "checkpoint_id");
	active_runs_begin(&a, thread_id, NULL, true);
	while (!found && HeapTupleIsValid(tup = systable_getnext(a.scan)))
	{
		bool		isnull;
		bool		checkpoint_null;
		const char *run_owner;
		Datum		status = heap_getattr(tup, status_att, a.desc, &isnull);
		Datum		stepped = heap_getattr(tup, stepped_att, a.desc, &isnull);
		Datum		checkpoint = heap_getattr(tup, checkpoint_att, a.desc, &checkpoint_null);

		/* (the index entry may be of a row version that is no longer active) */
		if (!sg_run_status_active(TextDatumGetCString(status)) || DatumGetBool(stepped) || checkpoint_null)
			continue;
		if (after != NULL && memcmp(DatumGetUUIDP(checkpoint)->data, after->data, UUID_LEN) <= 0)
			continue;
		run_owner = NameStr(*DatumGetName(heap_getattr(tup, owner_att, a.desc, &isnull)));
		if (sg_caller_is_owner(run_owner))
			continue;
		/* a run of a role that may not act on the thread counts nowhere (any role may write one) */
		found = owner_of(&thread) == NULL || acts_for(run_owner, owner_of(&thread));
	}
	active_runs_end(&a);
	return found;
}

PG_FUNCTION_INFO_V1(sg_fork_source_owned);

/*
 * Trigger (BEFORE INSERT OR UPDATE OF parent_thread ON stategraph.checkpoints,
 * for a row with a parent_thread): the row may start a fork only of a
 * thread its writer may own. Row-level security checks only the row's own
 * thread, so a role could write into its thread a row whose parent is
 * another role's checkpoint: reading it then walks into that thread, which
 * the role's own reads cannot see but a superuser's can, and the retention
 * sweep, a superuser's sg_prune or sg_delete_thread of the source (which
 * give its forks an image of their own) and a superuser's export (a
 * router's move) copied the other role's state into the role's thread.
 * A parent thread that does not exist (yet: a restore loads checkpoints
 * before threads) is let through: its checkpoint ids are not known.
 */
Datum
sg_fork_source_owned(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	HeapTuple	tup;
	Datum		d;
	bool		isnull;
	char	   *parent_thread;
	char	   *owner;
	int			attnum;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || TRIGGER_FIRED_BY_DELETE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("stategraph.fork_source_owned() must be called as a row trigger before insert or update")));
	/* on another table (a superuser's trigger): no column, or another type, crashed or failed with XX000 */
	attnum = SPI_fnumber(RelationGetDescr(td->tg_relation), "parent_thread");
	if (attnum <= 0 || SPI_gettypeid(RelationGetDescr(td->tg_relation), attnum) != TEXTOID)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("stategraph.fork_source_owned() must be a trigger of a table with a text column parent_thread"),
				 errdetail("Table \"%s\" has none.", RelationGetRelationName(td->tg_relation))));
	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	d = heap_getattr(tup, attnum, RelationGetDescr(td->tg_relation), &isnull);
	if (isnull || superuser() || has_bypassrls_privilege(GetUserId()))
		return PointerGetDatum(tup);
	parent_thread = TextDatumGetCString(d);
	owner = thread_owner_stored(parent_thread);
	if (owner != NULL && !sg_caller_is_owner(owner))
		sg_refuse_thread_of_another_role(parent_thread,
										 "A checkpoint can start a fork only of a thread of its writer's own.",
										 "Fork a thread with sg_fork.");
	return PointerGetDatum(tup);
}

/*
 * Has thread thread_id a run that has not started (pending, no step taken)
 * that this transaction's snapshot does not show: queued (or changed) by
 * a transaction that committed after the snapshot was taken? Only under
 * REPEATABLE READ or SERIALIZABLE, where sg_delete_thread, which waited
 * for such a submit (its submit lock), would not see the run it cancels
 * (retention.c): the run would start the deleted thread anew. Only a run
 * of a role that may act on the thread counts: a stranger's run row naming
 * it, committed meanwhile, failed the owner's delete or prune with 40001
 * (isolation rr_delete_stranger_run). Read below
 * row-level security with the newest snapshot, through the partial index
 * of active runs; only a yes or no comes out.
 */
bool
sg_thread_has_unseen_run(const char *thread_id)
{
	Oid			relid = sg_table_oid("runs");
	Relation	rel;
	TupleDesc	desc;
	AttrNumber	status_att = get_attnum(relid, "status");
	AttrNumber	stepped_att = get_attnum(relid, "stepped");
	AttrNumber	owner_att = get_attnum(relid, "owner");
	Snapshot	xact_snapshot;
	Snapshot	snapshot;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	LazyOwner	thread = {thread_id, false, NULL};
	bool		found = false;

	if (!IsolationUsesXactSnapshot())
		return false;
	xact_snapshot = GetTransactionSnapshot();
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	ScanKeyEntryInitialize(&key, 0, get_attnum(relid, "thread_id"), BTEqualStrategyNumber, InvalidOid,
						   DEFAULT_COLLATION_OID, F_TEXTEQ, CStringGetTextDatum(thread_id));
	scan = systable_beginscan(rel, sg_table_oid("runs_active"), true, snapshot, 1, &key);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		TransactionId xmin = HeapTupleHeaderGetXmin(tup->t_data);

		if (strcmp(TextDatumGetCString(heap_getattr(tup, status_att, desc, &isnull)), "pending") != 0 ||
			DatumGetBool(heap_getattr(tup, stepped_att, desc, &isnull)) ||
			TransactionIdIsCurrentTransactionId(xmin) || !XidInMVCCSnapshot(xmin, xact_snapshot))
			continue;
		/* a run of a role that may not act on the thread counts nowhere (any role may write one) */
		found = owner_of(&thread) == NULL ||
			acts_for(NameStr(*DatumGetName(heap_getattr(tup, owner_att, desc, &isnull))), owner_of(&thread));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	UnregisterSnapshot(snapshot);
	return found;
}

/*
 * Writes that decide what executes as whom.
 *
 * BYPASSRLS (and owning the tables) lets a role past every policy, the
 * writing ones too: such a role queued a run of its own graph naming a
 * superuser as the run's owner, which a background worker then executed as
 * that superuser, or gave a superuser's graph a node of its own, which the
 * superuser's next invoke (a pg_cron job) executed. The trigger
 * stategraph.owner_writes() keeps every writer but a superuser to the
 * policies' rule where a row decides what executes as whom: an insert, or
 * an update of a column that decides it, of a row whose owner (before and
 * after) the writer is not a member of is refused (42501), and so is a
 * delete of a graph's definition (a graph deleted and made again under its
 * name and generation was another's). It checks the writer itself, row-level
 * security or not: a write through a view goes by the view owner's
 * policies, and a BYPASSRLS role's view let any role write what it could.
 * Reads stay open to such a role (a backup needs them), and so do writes
 * that decide nothing executed: a cancel, a delete of a thread or run, a
 * step of a thread it may run (as itself), the completion of any role's
 * task it may finish (the note of the step it leaves is the tasks'
 * owner's: sg_leaving_step).
 *
 * Its arguments: where the row's owner is ("owner": its owner column;
 * "note": the owner column of a note of a step left (steps_left), which
 * the sweep continues as that owner, but for leave_step's own;
 * "graph": the owner of the graph its graph column names, which must exist
 * for an insert or update, as the policies ask; "run": the owner column of
 * a run, checked only when the run is pending, running or waiting after
 * the write), then the columns whose update is checked (none: every
 * update). A run made active by an update counts as a change.
 */

/* The owner of a row (see above); "" for the graph kind when its graph does not exist. */
static char *
owner_writes_owner(Relation rel, HeapTuple tup, const char *where)
{
	TupleDesc	desc = RelationGetDescr(rel);
	char	   *graph;
	Oid			t = TEXTOID;
	Datum		g;
	char	   *owner = "";
	MemoryContext cxt = CurrentMemoryContext;
	static SPIPlanPtr plan;

	if (strcmp(where, "graph") != 0)
		return SPI_getvalue(tup, desc, SPI_fnumber(desc, "owner"));	/* owner, note, run */
	graph = SPI_getvalue(tup, desc, SPI_fnumber(desc, "graph"));
	if (graph == NULL)
		return owner;
	g = CStringGetTextDatum(graph);
	SPI_connect();
	sg_spi_prepare(&plan, "SELECT g.owner::pg_catalog.text FROM stategraph.graphs g "
				   "WHERE g.graph OPERATOR(pg_catalog.=) $1", 1, &t);
	if (SPI_execute_plan(plan, &g, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		char	   *o = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (o != NULL)
			owner = MemoryContextStrdup(cxt, o);
	}
	SPI_finish();
	return owner;
}

static bool
run_row_active(Relation rel, HeapTuple tup)
{
	TupleDesc	desc = RelationGetDescr(rel);
	char	   *status = SPI_getvalue(tup, desc, SPI_fnumber(desc, "status"));

	return status != NULL && sg_run_status_active(status);
}

/* Whether an update changed one of the trigger's columns (its arguments after the first). */
static bool
owner_writes_changed(TriggerData *td)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	int			i;

	if (td->tg_trigger->tgnargs < 2)
		return true;
	for (i = 1; i < td->tg_trigger->tgnargs; i++)
	{
		int			attnum = SPI_fnumber(desc, td->tg_trigger->tgargs[i]);
		Form_pg_attribute att;
		bool		onull, nnull;
		Datum		o, n;

		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("stategraph.owner_writes(): table \"%s\" has no column \"%s\"",
							RelationGetRelationName(td->tg_relation), td->tg_trigger->tgargs[i])));
		att = TupleDescAttr(desc, attnum - 1);
		o = heap_getattr(td->tg_trigtuple, attnum, desc, &onull);
		n = heap_getattr(td->tg_newtuple, attnum, desc, &nnull);
		/* (the bytes: a value stored otherwise but equal counts as a change, never the reverse) */
		if (onull != nnull || (!onull && !datumIsEqual(o, n, att->attbyval, att->attlen)))
			return true;
	}
	return false;
}

/* Refuse the write unless the writer may own the row's owner; a delete may remove rows of a graph that is gone. */
static void
owner_writes_check(Relation rel, HeapTuple tup, const char *where, bool delete)
{
	char	   *owner = owner_writes_owner(rel, tup, where);

	if (owner == NULL || sg_caller_is_owner(owner))
		return;
	if (owner[0] == '\0' && !delete)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to write a row of a graph that does not exist in table %s",
						RelationGetRelationName(rel)),
				 errhint("Create the graph first (sg_create_graph).")));
	if (owner[0] != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to write a row of role \"%s\" in table %s", owner, RelationGetRelationName(rel)),
				 errdetail("The row decides what executes as a role: only a member of that role or a superuser may write it, row-level security or not."),
				 errhint("Write it as a member of role \"%s\", or as a superuser.", owner)));
}

/*
 * Set while leave_step (tasks.c) writes the note of a step left by a task's
 * completion: the note names the owner of the step's tasks, whose writes
 * the trigger on stategraph.tasks keeps to that owner's roles, and the
 * completer may be any role that may finish them (a BYPASSRLS worker of
 * every role's queues). Any other note (kind "note") is its writer's own.
 */
bool		sg_leaving_step = false;

PG_FUNCTION_INFO_V1(sg_owner_writes);

Datum
sg_owner_writes(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	HeapTuple	tup;
	const char *where;
	bool		update, delete;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || td->tg_trigger->tgnargs < 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("stategraph.owner_writes() must be called as a row trigger before insert, update or delete, with arguments")));
	rel = td->tg_relation;
	update = TRIGGER_FIRED_BY_UPDATE(td->tg_event);
	delete = TRIGGER_FIRED_BY_DELETE(td->tg_event);
	tup = update ? td->tg_newtuple : td->tg_trigtuple;
	if (superuser())
		return PointerGetDatum(tup);
	where = td->tg_trigger->tgargs[0];
	if (strcmp(where, "note") == 0 && sg_leaving_step)
		return PointerGetDatum(tup);
	if (!delete)
	{
		if (strcmp(where, "run") == 0 && !run_row_active(rel, tup))
			return PointerGetDatum(tup);	/* nothing executes */
		if (update && !owner_writes_changed(td) &&
			(strcmp(where, "run") != 0 || run_row_active(rel, td->tg_trigtuple)))
			return PointerGetDatum(tup);
	}
	owner_writes_check(rel, tup, where, delete);
	if (update)
		owner_writes_check(rel, td->tg_trigtuple, where, false);
	return PointerGetDatum(tup);
}
