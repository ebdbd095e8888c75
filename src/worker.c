/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The background launcher and the per-database workers that execute
 *		submitted runs (runs.c has the queue and the executor of one run).
 *
 * With shared_preload_libraries = 'stategraph' the postmaster starts one
 * launcher. It connects to no database; it keeps stategraph.max_workers
 * slots in shared memory and starts a dynamic background worker in a slot
 * for each database that needs one: every connectable database at start
 * (a worker that finds no extension there leaves, and the launcher stops
 * asking for that database), and any database whose transaction committed
 * a submit or a CREATE EXTENSION. A slot is one worker and a worker runs
 * one run at a time, so the slots cap concurrent runs server-wide.
 *
 * Waking is done at commit, as pg_net does: sg_submit (and CREATE
 * EXTENSION) set a flag, and the transaction callback sets the latch of an
 * idle worker of the database, or, when none is idle and a slot is free,
 * asks the launcher for one more worker. The worker's loop is the usual
 * latch protocol (reset, look for work, sleep), so no wakeup is lost; it
 * sleeps until the next delayed run is due or the next retention sweep,
 * and polls once a second only while a due run waits for a thread another
 * session holds. A worker that stayed idle for a while leaves unless it is
 * the last one of its database (which does the sweeps).
 *
 * sg_wait sleeps on a condition variable that is broadcast after the
 * commit of every transaction that finished or cancelled a run.
 *
 * Workers connect as the bootstrap superuser only to claim runs; each run
 * executes as the role that submitted it (runs.c). SIGTERM (die) ends a
 * worker at the next CHECK_FOR_INTERRUPTS: the run's transaction rolls
 * back and the run, still 'running', is taken up again from its last
 * committed step by the next worker (so is a run whose worker was killed,
 * after the postmaster's crash restart). DROP DATABASE first stops the
 * workers of that database (a utility hook); DROP EXTENSION is seen by
 * the workers, which then leave.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/utility.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(sg_wake_launcher);

PGDLLEXPORT void sg_launcher_main(Datum arg);
PGDLLEXPORT void sg_worker_main(Datum arg);

/* GUCs */
int			sg_max_workers = 4;
int			sg_sweep_interval_s = 300;
int			sg_sweep_limit = 1000;
int			sg_run_retention_s = 7 * 24 * 3600;
bool		sg_worker_sync_steps = false;

#define SG_MAX_WANTS		64		/* databases waiting for a worker */
#define SG_IDLE_EXIT_MS		10000	/* an idle worker that is not its database's last leaves */

typedef enum SlotState
{
	SLOT_FREE,
	SLOT_STARTING,				/* registered by the launcher, not running yet */
	SLOT_RUNNING,
	SLOT_EXITED					/* left; the launcher frees it */
} SlotState;

typedef struct SGWorkerSlot
{
	SlotState	state;
	Oid			dboid;
	pid_t		pid;
	Latch	   *latch;
	bool		idle;
	bool		no_extension;	/* left because the database has no stategraph */
} SGWorkerSlot;

typedef struct SGShared
{
	slock_t		mutex;
	Latch	   *launcher_latch;
	ConditionVariable run_done;	/* broadcast after a run finishes */
	Oid			dropping;		/* a database being dropped: start no worker there */
	int			nwants;
	Oid			wants[SG_MAX_WANTS];
	slock_t		waiters_mutex;	/* guards the queue waiters after the slots */
	SGWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
	/* then, MAXALIGNed, one SGQueueWaiter per backend (queue_waiters()) */
} SGShared;

/* A backend long-polling a queue of external tasks (sg_claim's wait), by its queue name's hash. */
typedef struct SGQueueWaiter
{
	Latch	   *latch;			/* NULL: not waiting */
	uint32		queue_hash;
} SGQueueWaiter;

static SGShared *shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_utility_hook = NULL;

/* what this transaction asks for at commit */
static bool wake_at_commit = false;
static bool done_at_commit = false;
static bool want_at_commit = false;

static int	my_slot = -1;		/* in a worker */

static bool start_worker_transaction(void);

/* Bytes of shared memory: the header, one slot per worker and one queue waiter per backend. */
static Size
shared_size(void)
{
	Size		slots = add_size(offsetof(SGShared, slots), mul_size(sizeof(SGWorkerSlot), sg_max_workers));

	return add_size(MAXALIGN(slots), mul_size(sizeof(SGQueueWaiter), MaxBackends));
}

/* The queue waiters, after the worker slots. */
static SGQueueWaiter *
queue_waiters(void)
{
	return (SGQueueWaiter *) ((char *) shared +
							  MAXALIGN(offsetof(SGShared, slots) + sizeof(SGWorkerSlot) * sg_max_workers));
}

/* shmem_request_hook: reserve our shared memory. */
static void
shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(shared_size());
}

/* shmem_startup_hook: create (or find) our shared memory. */
static void
shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("stategraph workers", shared_size(), &found);
	if (!found)
	{
		memset(shared, 0, shared_size());
		SpinLockInit(&shared->mutex);
		SpinLockInit(&shared->waiters_mutex);
		ConditionVariableInit(&shared->run_done);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* ---------------------------------------------------------------------------
 * Waking at commit
 * ---------------------------------------------------------------------------
 */

/* Can sg_claim's long poll be woken by commits (the preload made shared memory)? */
bool
sg_queue_waiters_ready(void)
{
	return shared != NULL;
}

/* Put this backend among the long-pollers of the queue whose name hashes to hash, or (!waiting) out. */
void
sg_queue_wait_set(uint32 hash, bool waiting)
{
	SGQueueWaiter *w;

	if (shared == NULL || MyBackendId < 1 || MyBackendId > MaxBackends)
		return;
	w = &queue_waiters()[MyBackendId - 1];
	SpinLockAcquire(&shared->waiters_mutex);
	w->latch = waiting ? MyLatch : NULL;
	w->queue_hash = waiting ? hash : 0;
	SpinLockRelease(&shared->waiters_mutex);
}

/* Work for the queues of hashes[0..n) (all: for any queue) was committed: wake their long-pollers. */
void
sg_queue_wake(const uint32 *hashes, int n, bool all)
{
	SGQueueWaiter *waiters;
	Latch	   *latches[64];
	int			nlatches = 0,
				i,
				j;

	if (shared == NULL)
		return;
	waiters = queue_waiters();
	for (i = 0; i < MaxBackends; i++)
	{
		SpinLockAcquire(&shared->waiters_mutex);
		if (waiters[i].latch != NULL)
		{
			bool		match = all;

			for (j = 0; j < n && !match; j++)
				match = hashes[j] == waiters[i].queue_hash;
			if (match)
				latches[nlatches++] = waiters[i].latch;
		}
		SpinLockRelease(&shared->waiters_mutex);
		if (nlatches == (int) lengthof(latches) || (i == MaxBackends - 1 && nlatches > 0))
		{
			for (j = 0; j < nlatches; j++)
				SetLatch(latches[j]);
			nlatches = 0;
		}
	}
}

/* Add a database to the launcher's wants (mutex held). */
static void
add_want(Oid dboid)
{
	int			i;

	for (i = 0; i < shared->nwants; i++)
		if (shared->wants[i] == dboid)
			return;
	if (shared->nwants < SG_MAX_WANTS)
		shared->wants[shared->nwants++] = dboid;
}

typedef enum WakeKind
{
	WAKE_NUDGE,					/* a run finished: an idle worker looks for the thread's next */
	WAKE_SUBMIT,				/* a run was queued: more workers if none is idle */
	WAKE_WANT					/* CREATE EXTENSION: the database needs a worker */
} WakeKind;

/*
 * Work was committed in dboid: set the latch of an idle worker there (and,
 * for a submit, of a busy one, which looks again after its run); for a
 * submit with none idle and a slot free, ask the launcher for a worker.
 */
static void
wake_database(Oid dboid, WakeKind kind)
{
	Latch	   *idle = NULL;
	Latch	   *busy = NULL;
	Latch	   *launcher = NULL;
	bool		free_slot = false;
	int			i;

	SpinLockAcquire(&shared->mutex);
	for (i = 0; i < sg_max_workers; i++)
	{
		SGWorkerSlot *s = &shared->slots[i];

		if (s->state == SLOT_FREE)
			free_slot = true;
		else if (s->state == SLOT_RUNNING && s->dboid == dboid && s->latch != NULL)
		{
			if (s->idle && idle == NULL)
				idle = s->latch;
			else if (!s->idle && busy == NULL && s->pid != MyProcPid)
				busy = s->latch;
		}
	}
	if (kind == WAKE_WANT ||
		(kind == WAKE_SUBMIT && idle == NULL && (free_slot || busy == NULL)))
	{
		add_want(dboid);
		launcher = shared->launcher_latch;
	}
	SpinLockRelease(&shared->mutex);
	if (idle)
		SetLatch(idle);
	if (busy && kind == WAKE_SUBMIT)
		SetLatch(busy);
	if (launcher)
		SetLatch(launcher);
}

/* At commit, do what the transaction asked for (wake workers, wake sg_wait); forget it at abort. */
static void
xact_callback(XactEvent event, void *arg)
{
	if (shared != NULL && (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT))
	{
		if (want_at_commit)
			wake_database(MyDatabaseId, WAKE_WANT);
		else if (wake_at_commit)
			wake_database(MyDatabaseId, WAKE_SUBMIT);
		else if (done_at_commit)
			wake_database(MyDatabaseId, WAKE_NUDGE);
		if (done_at_commit)
			ConditionVariableBroadcast(&shared->run_done);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		wake_at_commit = done_at_commit = want_at_commit = false;
}

/* This transaction queued work: wake a worker of this database when it commits. */
void
sg_wake_workers_at_commit(void)
{
	wake_at_commit = true;
}

/* This transaction finished or cancelled a run: wake sg_wait callers when it commits. */
void
sg_run_done_at_commit(void)
{
	done_at_commit = true;		/* and the thread's next run may start now */
}

/* stategraph.wake_launcher(): CREATE EXTENSION asks for a worker of this database. */
Datum
sg_wake_launcher(PG_FUNCTION_ARGS)
{
	want_at_commit = true;
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------------
 * sg_wait's sleep
 * ---------------------------------------------------------------------------
 */

/* Before looking at a run's status: from now on a broadcast is not missed. */
void
sg_wait_prepare(void)
{
	if (shared != NULL)
		ConditionVariablePrepareToSleep(&shared->run_done);
}

/* Sleep until some run finishes or timeout_ms passes; true if woken. */
bool
sg_wait_for_runs(long timeout_ms)
{
	if (shared != NULL)
		return !ConditionVariableTimedSleep(&shared->run_done, timeout_ms, PG_WAIT_EXTENSION);

	/* without the preload nobody broadcasts: look again ten times a second */
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 Min(timeout_ms, 100), PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	return false;
}

/* After the last look: stop listening for broadcasts. */
void
sg_wait_done(void)
{
	if (shared != NULL)
		ConditionVariableCancelSleep();
}

/* ---------------------------------------------------------------------------
 * DROP DATABASE: stop that database's workers first
 * ---------------------------------------------------------------------------
 */

/* Ask the workers of dboid to leave and wait (up to 10 s) until they have. */
static void
stop_database_workers(Oid dboid)
{
	int			waited;

	for (waited = 0; waited < 1000; waited++)
	{
		int			i;
		bool		any = false;

		SpinLockAcquire(&shared->mutex);
		shared->dropping = dboid;
		for (i = 0; i < sg_max_workers; i++)
		{
			SGWorkerSlot *s = &shared->slots[i];

			if (s->dboid != dboid || s->state == SLOT_FREE || s->state == SLOT_EXITED)
				continue;
			any = true;
			if (s->state == SLOT_RUNNING && s->pid != 0)
				kill(s->pid, SIGTERM);
		}
		SpinLockRelease(&shared->mutex);
		if (!any)
			return;
		pg_usleep(10000);
		CHECK_FOR_INTERRUPTS();
	}
}

/* ProcessUtility_hook: DROP DATABASE first stops that database's workers. */
static void
utility_hook(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			 ProcessUtilityContext context, ParamListInfo params,
			 QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (shared != NULL && IsA(parsetree, DropdbStmt))
	{
		Oid			dboid = get_database_oid(((DropdbStmt *) parsetree)->dbname, true);

		if (OidIsValid(dboid))
			stop_database_workers(dboid);
	}
	if (prev_utility_hook)
		prev_utility_hook(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

/* ---------------------------------------------------------------------------
 * The launcher
 * ---------------------------------------------------------------------------
 */

/* Connectable databases (templates left out). */
static List *
list_databases(void)
{
	List	   *out = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	MemoryContext cxt = CurrentMemoryContext;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (db->datallowconn && !db->datistemplate)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			out = lappend_oid(out, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return out;
}

/* Register a worker for dboid in slot i; false if the postmaster has no room. */
static bool
start_worker(int i, Oid dboid, BackgroundWorkerHandle **handle)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "stategraph");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "sg_worker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "stategraph worker %d (database %u)", i, dboid);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "stategraph worker");
	bgw.bgw_main_arg = Int32GetDatum(i);
	memcpy(bgw.bgw_extra, &dboid, sizeof(Oid));
	bgw.bgw_notify_pid = MyProcPid;
	return RegisterDynamicBackgroundWorker(&bgw, handle);
}

/*
 * One pass of the launcher: free the slots of workers that left (noting
 * databases without the extension), then give a free slot to each wanted
 * database that has no idle worker.
 */
static void
launcher_pass(BackgroundWorkerHandle **handles, List **absent)
{
	Oid			wants[SG_MAX_WANTS];
	int			nwants;
	int			i,
				w;
	pid_t		pid;

	SpinLockAcquire(&shared->mutex);
	for (i = 0; i < sg_max_workers; i++)
	{
		SGWorkerSlot *s = &shared->slots[i];

		if (s->state == SLOT_STARTING && handles[i] != NULL &&
			GetBackgroundWorkerPid(handles[i], &pid) == BGWH_STOPPED)
			s->state = SLOT_EXITED;		/* never started */
		if (s->state == SLOT_EXITED)
		{
			if (s->no_extension)
				*absent = list_append_unique_oid(*absent, s->dboid);
			memset(s, 0, sizeof(SGWorkerSlot));
			if (handles[i] != NULL)
				pfree(handles[i]);
			handles[i] = NULL;
		}
	}
	nwants = shared->nwants;
	memcpy(wants, shared->wants, sizeof(Oid) * nwants);
	shared->nwants = 0;
	SpinLockRelease(&shared->mutex);

	for (w = 0; w < nwants; w++)
	{
		int			free_slot = -1;
		bool		has_idle = false;

		*absent = list_delete_oid(*absent, wants[w]);
		SpinLockAcquire(&shared->mutex);
		for (i = 0; i < sg_max_workers; i++)
		{
			SGWorkerSlot *s = &shared->slots[i];

			if (s->state == SLOT_FREE && free_slot < 0)
				free_slot = i;
			else if (s->dboid == wants[w] &&
					 (s->state == SLOT_STARTING || (s->state == SLOT_RUNNING && s->idle)))
				has_idle = true;
		}
		if (shared->dropping == wants[w])
			has_idle = true;	/* being dropped: no new worker */
		if (!has_idle && free_slot >= 0)
		{
			shared->slots[free_slot].state = SLOT_STARTING;
			shared->slots[free_slot].dboid = wants[w];
		}
		else if (!has_idle)
			add_want(wants[w]);		/* no slot free now: when one is */
		SpinLockRelease(&shared->mutex);
		if (!has_idle && free_slot >= 0 && !start_worker(free_slot, wants[w], &handles[free_slot]))
		{
			SpinLockAcquire(&shared->mutex);
			memset(&shared->slots[free_slot], 0, sizeof(SGWorkerSlot));
			add_want(wants[w]);
			SpinLockRelease(&shared->mutex);
		}
	}
}

/* Want a worker for every database that has none and is not known to lack the extension. */
static void
launcher_rescan(List *absent)
{
	List	   *dbs = list_databases();
	ListCell   *lc;

	SpinLockAcquire(&shared->mutex);
	foreach(lc, dbs)
	{
		Oid			dboid = lfirst_oid(lc);
		bool		has = false;
		int			i;

		if (list_member_oid(absent, dboid))
			continue;
		for (i = 0; i < sg_max_workers; i++)
			if (shared->slots[i].state != SLOT_FREE && shared->slots[i].dboid == dboid)
				has = true;
		if (!has)
			add_want(dboid);
	}
	SpinLockRelease(&shared->mutex);
	list_free(dbs);
}

/* Entry point of the launcher (a static background worker). */
void
sg_launcher_main(Datum arg)
{
	BackgroundWorkerHandle **handles;
	List	   *absent = NIL;
	TimestampTz last_scan = 0;
	MemoryContext loop_cxt;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("stategraph launcher");

	handles = MemoryContextAllocZero(TopMemoryContext, sizeof(BackgroundWorkerHandle *) * sg_max_workers);
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "stategraph launcher loop", ALLOCSET_DEFAULT_SIZES);
	SpinLockAcquire(&shared->mutex);
	shared->launcher_latch = MyLatch;
	SpinLockRelease(&shared->mutex);

	while (!ShutdownRequestPending)
	{
		MemoryContext old;

		MemoryContextReset(loop_cxt);
		old = MemoryContextSwitchTo(loop_cxt);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();	/* ProcSignalBarriers (DROP DATABASE waits for them) */
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		/* at start, and once a minute: databases whose workers are gone */
		if (TimestampDifferenceExceeds(last_scan, GetCurrentTimestamp(), 60000))
		{
			MemoryContextSwitchTo(TopMemoryContext);
			launcher_rescan(absent);
			MemoryContextSwitchTo(loop_cxt);
			last_scan = GetCurrentTimestamp();
		}
		MemoryContextSwitchTo(TopMemoryContext);
		launcher_pass(handles, &absent);
		MemoryContextSwitchTo(old);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 shared->nwants > 0 ? 1000 : 60000, PG_WAIT_EXTENSION);
	}
	SpinLockAcquire(&shared->mutex);
	shared->launcher_latch = NULL;
	SpinLockRelease(&shared->mutex);
	proc_exit(0);
}

/* ---------------------------------------------------------------------------
 * A worker of one database
 * ---------------------------------------------------------------------------
 */

/* On exit (SIGTERM, error, no extension): leave the slot to the launcher. */
static void
worker_exit(int code, Datum arg)
{
	SGWorkerSlot *s = &shared->slots[DatumGetInt32(arg)];
	Latch	   *launcher;

	SpinLockAcquire(&shared->mutex);
	s->state = SLOT_EXITED;
	s->latch = NULL;
	s->pid = 0;
	launcher = shared->launcher_latch;
	SpinLockRelease(&shared->mutex);
	if (launcher)
		SetLatch(launcher);
}

/* Tell committers whether this worker sleeps (an idle worker is woken first). */
static void
set_idle(bool idle)
{
	SpinLockAcquire(&shared->mutex);
	shared->slots[my_slot].idle = idle;
	SpinLockRelease(&shared->mutex);
}

/* Is this the lowest-numbered live worker of its database (the one that stays)? */
static bool
is_first_of_database(void)
{
	int			i;
	bool		first = true;

	SpinLockAcquire(&shared->mutex);
	for (i = 0; i < my_slot; i++)
		if (shared->slots[i].state == SLOT_RUNNING && shared->slots[i].dboid == MyDatabaseId)
			first = false;
	SpinLockRelease(&shared->mutex);
	return first;
}

/* The commit between two steps of a run in a worker (sg_work uses SPI_commit). */
static void
worker_commit(void)
{
	MemoryContext cxt = CurrentMemoryContext;	/* the loop's: outlives transactions */

	sg_spi_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	if (!start_worker_transaction())
	{
		/* DROP EXTENSION committed between two steps: leave (no transaction is open) */
		ereport(LOG,
				(errmsg("stategraph worker leaves database %u: the extension was dropped during a run",
						MyDatabaseId)));
		shared->slots[my_slot].no_extension = true;
		proc_exit(0);
	}
	sg_spi_connect();
}

/*
 * Start a worker transaction holding the extension's object lock (as
 * DROP EXTENSION takes it, before any of the extension's tables): a
 * worker and DROP EXTENSION then never lock tables in opposite orders.
 * False (and no transaction) if the database no longer has the extension.
 */
static bool
start_worker_transaction(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			ext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	ext = get_extension_oid("stategraph", true);
	if (OidIsValid(ext))
	{
		LockDatabaseObject(ExtensionRelationId, ext, 0, AccessShareLock);
		if (get_extension_name(ext) == NULL)
			ext = InvalidOid;	/* dropped while we waited */
	}
	if (!OidIsValid(ext))
	{
		CommitTransactionCommand();
		MemoryContextSwitchTo(cxt);
		return false;
	}
	PushActiveSnapshot(GetTransactionSnapshot());
	MemoryContextSwitchTo(cxt);
	return true;
}

/*
 * One iteration: run one due run, or sweep when a sweep is due. Returns
 * true if there may be more to do at once; *sleep_ms is how long to sleep
 * otherwise.
 */
static bool
worker_iteration(TimestampTz *last_sweep, long *sleep_ms)
{
	bool		did = false;
	bool		blocked = false;
	long		due;
	MemoryContext cxt = CurrentMemoryContext;	/* the loop's: outlives transactions */

	if (!start_worker_transaction())
	{
		shared->slots[my_slot].no_extension = true;
		proc_exit(0);
	}
	sg_spi_connect();
	sg_claim_left_more = false;
	did = sg_work_one(worker_commit, &blocked);
	if (did && sg_claim_left_more)
		wake_database(MyDatabaseId, WAKE_SUBMIT);	/* a backlog: another worker helps */
	if (!did && TimestampDifferenceExceeds(*last_sweep, GetCurrentTimestamp(),
										   sg_sweep_interval_s * 1000L))
	{
		pgstat_report_activity(STATE_RUNNING, "stategraph retention sweep");
		did = sg_sweep(sg_sweep_limit) >= (uint64) sg_sweep_limit;
		*last_sweep = GetCurrentTimestamp();
	}
	due = did ? 0 : sg_next_due_ms();
	sg_spi_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	pgstat_report_activity(STATE_IDLE, NULL);

	*sleep_ms = sg_sweep_interval_s * 1000L;
	if (due >= 0 && due < *sleep_ms)
		*sleep_ms = due;
	if (blocked && *sleep_ms > 1000)
		*sleep_ms = 1000;		/* a due run waits for a thread held by another session */
	if (*sleep_ms < 1)
		*sleep_ms = 1;
	return did;
}

/* Entry point of a worker of one database. */
void
sg_worker_main(Datum arg)
{
	Oid			dboid;
	MemoryContext loop_cxt;
	TimestampTz last_sweep = GetCurrentTimestamp();	/* the first sweep after one interval */
	TimestampTz idle_since = GetCurrentTimestamp();

	my_slot = DatumGetInt32(arg);
	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	SpinLockAcquire(&shared->mutex);
	shared->slots[my_slot].state = SLOT_RUNNING;
	shared->slots[my_slot].pid = MyProcPid;
	shared->slots[my_slot].latch = MyLatch;
	shared->slots[my_slot].idle = false;
	SpinLockRelease(&shared->mutex);
	before_shmem_exit(worker_exit, Int32GetDatum(my_slot));

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("stategraph worker");
	if (!sg_worker_sync_steps)
		SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_SESSION);
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "stategraph worker loop", ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		long		sleep_ms = 0;
		bool		did;

		MemoryContextReset(loop_cxt);
		MemoryContextSwitchTo(loop_cxt);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		did = worker_iteration(&last_sweep, &sleep_ms);
		if (did)
		{
			idle_since = GetCurrentTimestamp();
			continue;
		}
		if (TimestampDifferenceExceeds(idle_since, GetCurrentTimestamp(), SG_IDLE_EXIT_MS) &&
			!is_first_of_database())
			proc_exit(0);
		set_idle(true);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(sleep_ms, SG_IDLE_EXIT_MS), PG_WAIT_EXTENSION);
		set_idle(false);
	}
}

/* What pg_stat_activity shows for this worker: the run it executes (NULL: none). */
void
sg_worker_report_run(const char *run_id)
{
	char		buf[NAMEDATALEN];

	if (my_slot < 0)
		return;					/* sg_work in a client session keeps its own name */
	if (run_id)
		snprintf(buf, sizeof(buf), "stategraph run %s", run_id);
	else
		snprintf(buf, sizeof(buf), "stategraph worker");
	pgstat_report_appname(buf);
}

/* ---------------------------------------------------------------------------
 * Set-up (_PG_init)
 * ---------------------------------------------------------------------------
 */

/* The GUCs of background runs; with the preload also shared memory and the launcher. */
void
sg_worker_init(void)
{
	BackgroundWorker bgw;

	DefineCustomIntVariable("stategraph.sweep_interval",
							"Time between retention sweeps of the background workers.",
							NULL, &sg_sweep_interval_s, 300, 1, INT_MAX / 1000, PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("stategraph.sweep_limit",
							"Threads (and finished runs) one retention sweep removes at most.",
							NULL, &sg_sweep_limit, 1000, 1, INT_MAX, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("stategraph.run_retention",
							"How long finished runs stay listed by sg_runs.",
							NULL, &sg_run_retention_s, 7 * 24 * 3600, 0, INT_MAX, PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("stategraph.worker_sync_steps",
							 "Background workers wait for the WAL flush of every step's commit.",
							 "Off: the workers commit asynchronously (synchronous_commit = off); a crash may then "
							 "lose the last steps of a run (and its end), which is taken up again from its last "
							 "durable step: a node's effects are lost with its step, so they still happen once.",
							 &sg_worker_sync_steps, false, PGC_SIGHUP, 0, NULL, NULL, NULL);
	RegisterXactCallback(xact_callback, NULL);
	sg_runs_init();

	/* without the preload there are no workers (and no PGC_POSTMASTER setting can be made) */
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomIntVariable("stategraph.max_workers",
							"Background workers that execute runs, server-wide (runs at once).",
							NULL, &sg_max_workers, 4, 1, 64, PGC_POSTMASTER, 0, NULL, NULL, NULL);
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = utility_hook;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 5;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "stategraph");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "sg_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "stategraph launcher");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "stategraph launcher");
	RegisterBackgroundWorker(&bgw);
}
