/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The background launcher and the per-database workers that execute
 *		submitted runs (runs.c has the queue and the executor of one run).
 *
 * With shared_preload_libraries = 'stategraph' the postmaster starts one
 * launcher. It connects to no database; it keeps SG_MAX_WORKERS slots in
 * shared memory, of which it fills at most stategraph.max_workers (a reload
 * may change that number), and starts a dynamic background worker in a slot
 * for each database that needs one: every connectable database at start
 * (a worker that finds no extension there, or one of a version without
 * background runs, 0.1.0, leaves, and the launcher stops asking for that
 * database), and any database whose transaction committed a submit, a
 * CREATE EXTENSION or the ALTER EXTENSION UPDATE to 0.2.0. A slot is one worker and a worker runs
 * one run at a time, so the slots cap concurrent runs server-wide.
 *
 * Slots are shared between databases: when a database wants a worker and
 * none is free, the launcher asks an idle worker of another database to
 * give its slot up, and a busy worker that has held its slot for
 * SG_SLICE_MS gives it up after its run (asking for its database again,
 * at the end of the line), one busy worker at a time. A database's last
 * worker that leaves so asks the launcher for a worker when its next
 * delayed run or sweep is due (a timed want; so does an idle worker that
 * leaves while others stay, and a worker that claims a run while a delayed
 * run is due later: the others may all be busy then), and the time of its
 * database's last sweep is kept in shared memory, so that more databases
 * than stategraph.max_workers all get their runs, delayed runs and sweeps
 * done.
 *
 * Waking is done at commit, as pg_net does: sg_submit (and CREATE
 * EXTENSION) set a flag, and once the commit is complete (its invalidation
 * messages sent and its locks released: the last phase of its release of
 * resources, so that a woken worker never runs a run with a graph
 * definition the commit replaced) a callback sets the latch of an
 * idle worker of the database, or, when none is idle and a slot is free,
 * asks the launcher for one more worker. The worker's loop is the usual
 * latch protocol (reset, look for work, sleep), so no wakeup is lost; it
 * sleeps until the next delayed run is due or the next retention sweep,
 * and polls once a second only while a due run waits for a thread another
 * session holds. When the next delayed run is due is looked up again only
 * after a transaction that delayed a run committed (a shared counter; a
 * restore's rows of stategraph.runs count, restore.c). A
 * worker that stayed idle for a while leaves unless it is the last one of
 * its database (which does the sweeps).
 *
 * An error that escapes a run (the executor records a node's own) does not
 * end the worker: it rolls the transaction back and, in a new one, records
 * it on the run (sg_run_failure): an error of the graph's step ends the run
 * with status error, any other is retried after a backoff and ends the run
 * at its SG_RUN_MAX_FAILURES-th time. A worker that cannot even record that
 * passes the run over and sleeps with a growing backoff, so no error makes
 * it loop. One whose own statements fail read-only (the database's
 * default_transaction_read_only, read as it connected) leaves, and the
 * launcher starts one again after a backoff, which reads it anew.
 *
 * sg_wait registers the run it waits for in a shared slot of its backend
 * and sleeps on its latch; the commit of a transaction that finished or
 * cancelled runs sets the latches of those runs' waiters only (a
 * transaction that cannot name its runs wakes every waiter). sg_claim's
 * long polls (tasks.c) wait in the same slots, naming their queue, and a
 * commit that queued tasks wakes those of its queues at the same point.
 *
 * Workers connect as the bootstrap superuser only to claim runs; each run
 * executes as the role that submitted it (runs.c). The worker's own
 * statements (claims, sweeps, the record of a failure) go by the search
 * path "pg_catalog, pg_temp", as PostgreSQL's maintenance commands do: the
 * database's search path, which its owner sets, may name a schema where a
 * role made an operator or a type that would otherwise be found before
 * pg_catalog's and run as the superuser. A run goes by the database's
 * search path, as a session of its submitter would (sg_worker_search_path). With
 * stategraph.max_workers_per_role set, a worker claims a run only while
 * fewer other workers hold a run of the same role (a slot records the role
 * of the run it claims or executes, taken under the slots' lock), so that
 * one role's many runs leave workers to the other roles' runs. A worker
 * refused a share does not poll: the one that gives the share back claims
 * again or wakes it, as do a reassign of the runs to another role and a
 * reload that raises the share (sg_worker_take_role_share). SIGTERM (die)
 * ends a worker at the next CHECK_FOR_INTERRUPTS: the run's transaction rolls
 * back and the run, still 'running', is taken up again from its last
 * committed step by the next worker, which the launcher starts at once
 * for a worker that left without meaning to (so is a run whose worker was
 * killed, after the postmaster's crash restart). DROP DATABASE first stops the
 * workers of that database (a utility hook), as do the statements that
 * need it alone (ALTER DATABASE RENAME or SET TABLESPACE, CREATE DATABASE
 * of it as a template), which give them back after whatever ends them
 * (so does a DROP DATABASE that fails, or is cancelled, even as it waits
 * for the workers to leave; the database's mark as being dropped, which
 * keeps the launcher from starting a worker there, goes at the end of the
 * transaction of one that succeeds); once no other session
 * is connected to it: PostgreSQL refuses these statements for a database
 * in use, so the hook first takes the lock on the database they take
 * (new sessions wait for it) and waits as they do (up to 5 s) for the
 * other sessions to leave, and stops nothing if some stay (a DROP DATABASE is
 * then refused at once with PostgreSQL's error, not after a second wait of
 * 5 s; DROP DATABASE WITH (FORCE) terminates them: the workers are stopped
 * at once). DROP
 * EXTENSION is seen by the workers, which then leave.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_subscription.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "commands/tablespace.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/slot.h"
#include "storage/backendid.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/sinvaladt.h"
#include "storage/spin.h"
#include "rewrite/rewriteHandler.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/uuid.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(sg_wake_launcher);

PGDLLEXPORT void sg_launcher_main(Datum arg);
PGDLLEXPORT void sg_worker_main(Datum arg);

/* GUCs */
int			sg_max_workers = 4;
int			sg_max_workers_per_role = 0;	/* 0: no share per role */
int			sg_sweep_interval_s = 300;
int			sg_sweep_limit = 1000;
int			sg_run_retention_s = 7 * 24 * 3600;
int			sg_max_run_recoveries = 20;
bool		sg_worker_sync_steps = false;
static int	sg_worker_idle_timeout_s = 10;	/* an idle worker that is not its database's last leaves */

#define SG_MAX_WORKERS		64		/* the most stategraph.max_workers allows */
#define SG_MAX_WANTS		1024	/* databases waiting for a worker (and swept times kept) */
#define SG_SLICE_MS			2000	/* a busy worker gives its slot to a waiting database after this */
#define SG_MAX_WAKES		(3 * SG_MAX_WORKERS + 2)	/* latches a worker sets at once (release_share) */

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
	bool		leave;			/* asked to give the slot to another database */
	bool		no_extension;	/* left because the database has no stategraph */
	bool		connected;		/* connected to its database (it may have claimed a run) */
	bool		leaving;		/* left by itself (idle, or its slot given up): no replacement now */
	bool		woken;			/* a commit set its latch since it last looked for work */
	bool		woken_alone;	/* and that submit found no idle worker, nor a slot to start one */
	bool		has_run;		/* executing run, holding its thread (sg_worker_report_run) */
	pg_uuid_t	run;
	bool		waits;			/* a node of run is in sg_wait for run waits_for (sg_wait_cycle) */
	pg_uuid_t	waits_for;
	bool		waits_thread_known;	/* and waits_thread is the hash of that run's thread id */
	uint64		waits_thread;
	uint64		thread_hash;	/* of the run's thread_id */
	bool		role_held;		/* claiming or executing a run of role (sg_worker_take_role_share) */
	Oid			role;
	Oid			refused_role;	/* of the first run its last claim was refused a share for, if it took none */
	TimestampTz refused_due;	/* that run's due time */
	bool		refusal_seen;	/* a claim was refused the share of role while this slot held it */
} SGWorkerSlot;

/*
 * A database with a run waiting for a share of role that no worker's slot
 * records (note_left_refused), for the worker that gives the role's share
 * back to wake one of it, or have the launcher start one (release_share).
 */
typedef struct SGLeftRefused
{
	Oid			dboid;
	Oid			role;
} SGLeftRefused;

/* A database and a time: a timed want, or when the database was last swept. */
typedef struct SGDbTime
{
	Oid			dboid;
	TimestampTz at;
	int			read_only_exits;	/* (swept entries) workers that left read-only in a row */
} SGDbTime;

/*
 * A backend that sleeps until a commit wakes it: in sg_wait, for a run,
 * or in sg_claim's long poll, for a queue of external tasks (by its name's
 * hash). One per backend, after the worker slots.
 */
typedef struct SGWaiter
{
	Latch	   *latch;			/* NULL: not waiting */
	bool		for_run;		/* sg_wait (run_id), else sg_claim (queue_hash) */
	pg_uuid_t	run_id;
	uint32		queue_hash;
} SGWaiter;

typedef struct SGShared
{
	slock_t		mutex;
	Latch	   *launcher_latch;
	uint64		delayed_gen;	/* bumped by every commit that delayed a run */
	uint64		work_gen;		/* bumped by every commit that woke workers */
	uint64		stop_gen;		/* bumped by every commit that asked a run to stop (runs.c) */
	uint64		queue_gen;		/* bumped by every commit that lowered a claim_from */
	uint64		left_gen;		/* bumped by every commit that left a step (tasks.c, leave_step) */
	Oid			dropping;		/* a database being dropped: start no worker there */
	int			max_workers;	/* stategraph.max_workers as the launcher last read it */
	int			nwants;
	Oid			wants[SG_MAX_WANTS];
	bool		starved;		/* a wanted database found no free slot */
	int			yielder;		/* 1 + the slot of the busy worker giving its slot up (0: none) */
	int			ntimed;
	SGDbTime	timed[SG_MAX_WANTS];	/* databases that want a worker at a time */
	SGDbTime	swept[SG_MAX_WANTS];	/* when each database was last swept */
	SGDbTime	claim_from[SG_MAX_WANTS];	/* by dboid % SG_MAX_WANTS; another's entry: QUEUE_START */
	int			nleft_refused;
	SGLeftRefused left_refused[SG_MAX_WORKERS]; /* until a claim of its database, or the role's share frees */
	slock_t		waiters_mutex;	/* guards the waiters after the slots */
	SGWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
	/* then, MAXALIGNed, one SGWaiter per backend (waiters()) */
} SGShared;

static SGShared *shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_utility_hook = NULL;

/* what this transaction asks for at commit */
static bool wake_at_commit = false;
static bool done_at_commit = false;
static bool want_at_commit = false;
static bool delayed_at_commit = false;
static bool stop_at_commit = false;
static bool left_at_commit = false;
#define QUEUE_START DT_NOBEGIN	/* claims read the queue from its start */
static TimestampTz queued_from = DT_NOEND;	/* the earliest due time of a run it queued */
#define SG_DONE_IDS 8
static pg_uuid_t done_ids[SG_DONE_IDS];	/* the runs it finished or cancelled */
static int	ndone = 0;
static bool in_round = false;	/* this worker's sweep round goes on (sg_sweep) */
static bool done_all = false;	/* more, or unnamed: wake every sg_wait */
#define SG_WAKE_QUEUES 16
static uint32 queue_hashes[SG_WAKE_QUEUES];	/* the queues it queued tasks on (tasks.c) */
static int	nqueues = 0;
static bool queues_all = false;	/* more: wake every sg_claim long poll */
static bool committed = false;	/* the transaction committed: its wakes are due */
static Oid	dropped_at_commit = InvalidOid;	/* the database this transaction's DROP DATABASE dropped */

static int	my_slot = -1;		/* in a worker */

/*
 * What a worker's messages concern, for the CONTEXT line of each
 * (worker_error_context): its database, the run it executes and that run's
 * thread, or its sweep. A worker has no client connection, so
 * log_line_prefix's %d and %a are empty for it, and its messages (a node's
 * failure, its retries, a node's own RAISE, the FATAL of a shutdown that
 * interrupted a step) said at most a graph, a thread or a run: with several
 * databases a DBA could not tell whose they were, nor which run a FATAL
 * stopped (TAP 348). As autovacuum's "automatic vacuum of table" does.
 */
static char *ctx_dbname = NULL;
static bool ctx_has_run = false;
static char ctx_run[UUID_LEN * 2 + 5];
static char ctx_thread[64];
static bool ctx_sweeping = false;
static bool refused_in_claim = false;	/* this claim was refused a share (refused_role) */
static bool look_again = false;	/* it gave back a share a claim was refused: claim again at once */
static TimestampTz last_worked = 0;	/* when this worker last executed a run */
static Oid	worker_user;		/* the worker's own role (a run executes as its submitter) */
static int	worker_sec;

static bool start_worker_transaction(void);
static int	release_share(Latch **latches, bool goes_on);
static int	wake_mine(Latch **latches);
static int	wake_database_of(Oid dboid, Latch **latches);
static int	hand_look_again_on(Latch **latches);
static void hand_look_again(void);
static int	drop_refusal(Latch **latches);
static void note_left_refused(Oid dboid, Oid role);
static void forget_refusal(void);
static void mark_leaving(void);

/* Bytes of shared memory: the header, one slot per worker and one waiter per backend. */
static Size
shared_size(void)
{
	Size		slots = add_size(offsetof(SGShared, slots), mul_size(sizeof(SGWorkerSlot), SG_MAX_WORKERS));

	return add_size(MAXALIGN(slots), mul_size(sizeof(SGWaiter), MaxBackends));
}

/* The waiters, after the worker slots. */
static SGWaiter *
waiters(void)
{
	return (SGWaiter *) ((char *) shared +
						 MAXALIGN(offsetof(SGShared, slots) + sizeof(SGWorkerSlot) * SG_MAX_WORKERS));
}

/*
 * A free slot the launcher may start a worker in, or -1 when the slots in
 * use already number stategraph.max_workers (as the launcher last read
 * it: a reload can lower it below the slots in use). Caller holds the
 * mutex.
 */
static int
startable_slot(void)
{
	int			used = 0;
	int			free_slot = -1;
	int			i;

	for (i = 0; i < SG_MAX_WORKERS; i++)
	{
		if (shared->slots[i].state != SLOT_FREE)
			used++;
		else if (free_slot < 0)
			free_slot = i;
	}
	return used < shared->max_workers ? free_slot : -1;
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
		shared->max_workers = sg_max_workers;
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

/* Make this backend's waiter sleep for a run or a queue, or (latch NULL) no longer. */
static void
set_waiter(Latch *latch, const pg_uuid_t *run_id, uint32 queue_hash)
{
	SGWaiter   *w;

	if (shared == NULL || MyBackendId < 1 || MyBackendId > MaxBackends)
		return;
	w = &waiters()[MyBackendId - 1];
	SpinLockAcquire(&shared->waiters_mutex);
	w->latch = latch;
	w->for_run = run_id != NULL;
	if (run_id)
		w->run_id = *run_id;
	w->queue_hash = queue_hash;
	SpinLockRelease(&shared->waiters_mutex);
	/* a worker's sg_wait: what its run waits for (sg_wait_cycle) */
	if (my_slot >= 0)
	{
		SpinLockAcquire(&shared->mutex);
		shared->slots[my_slot].waits = run_id != NULL;
		shared->slots[my_slot].waits_thread_known = false;
		if (run_id)
			shared->slots[my_slot].waits_for = *run_id;
		SpinLockRelease(&shared->mutex);
	}
}

/*
 * Set the latches of the waiters for runs ids[0..n) (runs) or for the
 * queues of hashes[0..n) (!runs); all: of every waiter of that kind.
 */
static void
wake_waiters(bool runs, const pg_uuid_t *ids, const uint32 *hashes, int n, bool all)
{
	SGWaiter   *w = waiters();
	Latch	   *latches[64];
	int			nlatches = 0,
				i,
				j;

	for (i = 0; i < MaxBackends; i++)
	{
		SpinLockAcquire(&shared->waiters_mutex);
		if (w[i].latch != NULL && w[i].for_run == runs)
		{
			bool		match = all;

			for (j = 0; j < n && !match; j++)
				match = runs ? memcmp(&ids[j], &w[i].run_id, sizeof(pg_uuid_t)) == 0 :
					hashes[j] == w[i].queue_hash;
			if (match)
				latches[nlatches++] = w[i].latch;
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

/* Put this backend among the long-pollers of the queue whose name hashes to hash, or (!waiting) out. */
void
sg_queue_wait_set(uint32 hash, bool waiting)
{
	set_waiter(waiting ? MyLatch : NULL, NULL, waiting ? hash : 0);
}

/*
 * This transaction queued tasks on the queue of hash: wake the sg_claim
 * long polls of that queue when it commits (release_callback, with the
 * other wakes).
 */
void
sg_queue_wake_at_commit(uint32 hash)
{
	int			i;

	for (i = 0; i < nqueues; i++)
		if (queue_hashes[i] == hash)
			return;
	if (nqueues < SG_WAKE_QUEUES)
		queue_hashes[nqueues++] = hash;
	else
		queues_all = true;
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

/*
 * Ask the launcher for a worker of dboid at time at, or earlier if already
 * asked (mutex held). True if that made the want earlier (or new).
 */
static bool
add_timed_want(Oid dboid, TimestampTz at)
{
	int			i;

	for (i = 0; i < shared->ntimed; i++)
		if (shared->timed[i].dboid == dboid)
		{
			if (at >= shared->timed[i].at)
				return false;
			shared->timed[i].at = at;
			return true;
		}
	if (shared->ntimed < SG_MAX_WANTS)
	{
		shared->timed[shared->ntimed].dboid = dboid;
		shared->timed[shared->ntimed++].at = at;
		return true;
	}
	return false;
}

/* Turn the timed wants due by now into wants; the next one's time, or 0 (mutex held). */
static TimestampTz
take_due_wants(TimestampTz now)
{
	TimestampTz next = 0;
	int			i = 0;

	while (i < shared->ntimed)
	{
		if (shared->timed[i].at <= now)
		{
			add_want(shared->timed[i].dboid);
			shared->timed[i] = shared->timed[--shared->ntimed];
			continue;
		}
		if (next == 0 || shared->timed[i].at < next)
			next = shared->timed[i].at;
		i++;
	}
	return next;
}

/* The entry of dboid's last sweep (a new or the oldest one if it has none; mutex held). */
static SGDbTime *
swept_entry(Oid dboid)
{
	SGDbTime   *oldest = &shared->swept[0];
	int			i;

	for (i = 0; i < SG_MAX_WANTS; i++)
	{
		if (shared->swept[i].dboid == dboid)
			return &shared->swept[i];
		if (shared->swept[i].at < oldest->at)
			oldest = &shared->swept[i];
	}
	oldest->dboid = dboid;
	oldest->at = 0;
	oldest->read_only_exits = 0;
	return oldest;
}

/* A dropped database: no want of it is kept (mutex held). */
static void
forget_database(Oid dboid)
{
	int			i;

	for (i = shared->nwants - 1; i >= 0; i--)
		if (shared->wants[i] == dboid)
		{
			memmove(&shared->wants[i], &shared->wants[i + 1], sizeof(Oid) * (shared->nwants - i - 1));
			shared->nwants--;
		}
	for (i = shared->ntimed - 1; i >= 0; i--)
		if (shared->timed[i].dboid == dboid)
			shared->timed[i] = shared->timed[--shared->ntimed];
	for (i = 0; i < SG_MAX_WANTS; i++)
		if (shared->swept[i].dboid == dboid)
			memset(&shared->swept[i], 0, sizeof(SGDbTime));
	if (shared->claim_from[dboid % SG_MAX_WANTS].dboid == dboid)
		memset(&shared->claim_from[dboid % SG_MAX_WANTS], 0, sizeof(SGDbTime));
	for (i = 0; i < shared->nleft_refused; i++)
		if (shared->left_refused[i].dboid == dboid)
			shared->left_refused[i--] = shared->left_refused[--shared->nleft_refused];
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
	SGWorkerSlot *busy_slot = NULL;
	Latch	   *launcher = NULL;
	bool		free_slot = false;
	bool		starting = false;
	int			i;

	SpinLockAcquire(&shared->mutex);
	shared->work_gen++;
	for (i = 0; i < SG_MAX_WORKERS; i++)
	{
		SGWorkerSlot *s = &shared->slots[i];

		if (s->state == SLOT_FREE)
			continue;
		if (s->dboid == dboid && s->state == SLOT_STARTING)
			starting = true;	/* not looking yet: it will */
		else if (s->state == SLOT_RUNNING && s->dboid == dboid && s->latch != NULL && !s->leaving)
		{
			if (s->idle && idle == NULL)
				idle = s->latch, s->woken = true;
			else if (!s->idle && busy == NULL && s->pid != MyProcPid)
				busy = s->latch, busy_slot = s, s->woken = (kind == WAKE_SUBMIT);
		}
	}
	free_slot = startable_slot() >= 0;
	/* the submit's only look is that busy worker's, after its run (launcher_pass) */
	if (kind == WAKE_SUBMIT && idle == NULL && !free_slot && busy_slot != NULL)
		busy_slot->woken_alone = true;
	/*
	 * A nudge (a cancel, a run ended by a client) in a database that has no
	 * worker (it gave its slot up until its next delayed run or sweep) may
	 * have let a run go on: a worker is needed now.
	 */
	if (kind == WAKE_WANT ||
		(kind == WAKE_SUBMIT && idle == NULL && (free_slot || busy == NULL)) ||
		(kind == WAKE_NUDGE && idle == NULL && busy == NULL && !starting))
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

static void lower_claim_from(Oid dboid, TimestampTz at);
static uint64 thread_hash(const char *thread_id);

/*
 * What a committed transaction asked for (wake workers, wake sg_wait, wake
 * sg_claim's long polls), done once its commit is complete: after its
 * invalidation messages are sent and its locks released (release_callback),
 * the one wake-up point. Woken at XACT_EVENT_COMMIT, before either, a
 * worker could claim a run submitted with a new definition of its graph
 * (or after sg_drop_graph) and execute it with the definition it had
 * cached, and a woken session could wait on the committer's locks, or find
 * nothing to take and sleep until its next poll.
 */
static void
wake_committed(void)
{
	if (delayed_at_commit || stop_at_commit || queued_from != DT_NOEND || left_at_commit)
	{
		SpinLockAcquire(&shared->mutex);
		if (left_at_commit)
			shared->left_gen++;
		if (delayed_at_commit)
			shared->delayed_gen++;
		if (stop_at_commit)
			shared->stop_gen++;
		if (queued_from != DT_NOEND)
			lower_claim_from(MyDatabaseId, queued_from);
		SpinLockRelease(&shared->mutex);
	}
	if (want_at_commit)
		wake_database(MyDatabaseId, WAKE_WANT);
	else if (wake_at_commit || left_at_commit)
		wake_database(MyDatabaseId, WAKE_SUBMIT);
	else if (done_at_commit && my_slot < 0)
		wake_database(MyDatabaseId, WAKE_NUDGE);	/* a worker looks for the thread's next run itself */
	if (done_at_commit)
		wake_waiters(true, done_ids, NULL, ndone, done_all);
	if (nqueues > 0 || queues_all)
		wake_waiters(false, NULL, queue_hashes, nqueues, queues_all);
}

/* Forget what this transaction asked for. */
static void
forget_wakes(void)
{
	wake_at_commit = done_at_commit = want_at_commit = delayed_at_commit = stop_at_commit = done_all = false;
	left_at_commit = false;
	queued_from = DT_NOEND;
	ndone = 0;
	nqueues = 0;
	queues_all = false;
}

/*
 * The transaction of a DROP DATABASE ended: the database is no longer
 * being dropped. The mark was kept after the drop, and a database created
 * later with the same OID (CREATE DATABASE ... OID) got no worker (TAP
 * 329). Taken off at the end of the transaction, not when dropdb returns:
 * the launcher's scan of pg_database sees the database until the commit,
 * and would start a worker there.
 */
static void
dropped_database_ended(void)
{
	if (!OidIsValid(dropped_at_commit))
		return;
	if (shared != NULL)
	{
		SpinLockAcquire(&shared->mutex);
		if (shared->dropping == dropped_at_commit)
			shared->dropping = InvalidOid;
		SpinLockRelease(&shared->mutex);
	}
	dropped_at_commit = InvalidOid;
}

/* At commit, note that the wakes are due (release_callback does them); forget them at abort. */
static void
xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
		dropped_database_ended();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
		committed = true;
	if (event == XACT_EVENT_PREPARE)
		forget_wakes();			/* (COMMIT PREPARED does: prepared_committed) */
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		forget_wakes();
		committed = false;
		set_waiter(NULL, NULL, 0);	/* an sg_wait or sg_claim that failed */
	}
}

/* The last phase of a top-level commit's release of resources: do its wakes now. */
static void
release_callback(ResourceReleasePhase phase, bool isCommit, bool isTopLevel, void *arg)
{
	if (phase != RESOURCE_RELEASE_AFTER_LOCKS || !isTopLevel || !committed)
		return;
	committed = false;
	if (shared != NULL)
		wake_committed();
	forget_wakes();
}

/*
 * A worker's claim passed over other due runs: another worker (an idle
 * one, or a new one if a slot is free) takes the next at once, while this
 * one executes its run. Nothing in a session's CALL sg_work.
 */
void
sg_worker_ask_help(void)
{
	if (my_slot >= 0)
		wake_database(MyDatabaseId, WAKE_SUBMIT);
}

/*
 * This transaction queued work: wake a worker of this database when it
 * commits, and have claims read the queue from its start (the runs it made
 * claimable are not known).
 */
void
sg_wake_workers_at_commit(void)
{
	wake_at_commit = true;
	queued_from = QUEUE_START;
}

/*
 * This transaction left a step that nobody could go on with (tasks.c,
 * leave_step): once it commits, a worker of this database continues it
 * (worker_iteration), as the next sweep would.
 */
void
sg_steps_left_at_commit(void)
{
	left_at_commit = true;
}

/*
 * This transaction queued a run due at due (sg_submit; a waiting run pending
 * again): wake a worker when it commits, and have claims read the queue
 * from due at the latest.
 */
void
sg_run_queued_at_commit(TimestampTz due)
{
	wake_at_commit = true;
	queued_from = Min(queued_from, due);
}

/*
 * This transaction made runs claimable again (a waiting run pending): have
 * claims read the queue from its start once it commits; no worker is woken
 * for it (the caller asks for that if it must).
 */
void
sg_runs_requeued_at_commit(void)
{
	queued_from = QUEUE_START;
}

/* ---------------------------------------------------------------------------
 * Where claims start reading the queue
 *
 * runs_todo, the index of the queue (runs pending or running, by due time
 * not_before, then seq), keeps an entry for every version of every run row
 * until VACUUM: a run leaves two dead ones when it ends, all before the
 * live entries, since runs are due in the order they are queued but for
 * those delayed. A claim that read the index from its start went through
 * all of them (a million finished runs since the last VACUUM: thousands of
 * pages per claim). So claims read it from claim_from, the due time of the
 * first run they found pending or running (passing the running runs that
 * live workers execute and the runs queued behind them on their threads,
 * worker_executes: such a run ends with its worker's commit, which lowers
 * claim_from to its thread's next run, or its worker leaves during it and
 * lowers claim_from to the start, worker_exit), which only a commit that
 * made runs claimable lowers: to the earliest due time of those it queued
 * (sg_submit, a waiting run pending again, the next run of a thread whose
 * run ended), or to the start when it does not know it
 * (a stop request on a waiting run, rows written as a restore does, CREATE
 * EXTENSION, COMMIT PREPARED), and every sweep resets it to the start, for
 * whatever else may have made a run claimable (a run's row updated by
 * hand). A run delayed (sg_submit's after, a failure's backoff) is not in
 * the way: its entry is where it becomes due, after every run due before.
 *
 * A claim raises claim_from only if no commit lowered it between the
 * queue_gen it read before its snapshot and the raise: a run queued by a
 * transaction its snapshot did not see commits, and lowers claim_from,
 * after that read. That holds only if the claim's snapshot is taken after
 * the read, as a READ COMMITTED statement's is; in a REPEATABLE READ or
 * SERIALIZABLE transaction (default_transaction_isolation, for workers
 * too) it is the transaction's first, maybe older, and a run committed in
 * between would be passed over until the next sweep: there, and without
 * the preload (no shared memory), claims read the queue from its start.
 * ---------------------------------------------------------------------------
 */

/* Lower dboid's claim_from to at most at (mutex held). */
static void
lower_claim_from(Oid dboid, TimestampTz at)
{
	SGDbTime   *e = &shared->claim_from[dboid % SG_MAX_WANTS];

	shared->queue_gen++;
	if (e->dboid == dboid && e->at > at)
		e->at = at;
}

/*
 * Where this database's claims start reading the queue (a due time); *gen,
 * for sg_claim_from_raise (gen NULL: the caller keeps the one it read first).
 */
TimestampTz
sg_claim_from(uint64 *gen)
{
	SGDbTime   *e;
	TimestampTz at = QUEUE_START;

	if (gen != NULL)
		*gen = 0;
	if (shared == NULL || IsolationUsesXactSnapshot())
		return QUEUE_START;		/* (its snapshot may be older than gen: see above) */
	SpinLockAcquire(&shared->mutex);
	if (gen != NULL)
		*gen = shared->queue_gen;
	e = &shared->claim_from[MyDatabaseId % SG_MAX_WANTS];
	if (e->dboid == MyDatabaseId)
		at = e->at;
	SpinLockRelease(&shared->mutex);
	return at;
}

/*
 * A claim that read gen (sg_claim_from) before its snapshot found no run
 * pending or running due before at: later claims start there, unless a
 * commit lowered claim_from since.
 */
void
sg_claim_from_raise(uint64 gen, TimestampTz at)
{
	SGDbTime   *e;

	if (shared == NULL || IsolationUsesXactSnapshot())
		return;
	SpinLockAcquire(&shared->mutex);
	e = &shared->claim_from[MyDatabaseId % SG_MAX_WANTS];
	if (shared->queue_gen == gen && (e->dboid != MyDatabaseId || e->at < at))
	{
		e->dboid = MyDatabaseId;
		e->at = at;
	}
	SpinLockRelease(&shared->mutex);
}

/* A sweep: claims read this database's queue from its start again. */
void
sg_claim_from_reset(void)
{
	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	lower_claim_from(MyDatabaseId, QUEUE_START);
	SpinLockRelease(&shared->mutex);
}

/* This transaction finished or cancelled run run_id: wake its sg_wait callers when it commits. */
void
sg_run_ended_at_commit(const pg_uuid_t *run_id)
{
	done_at_commit = true;		/* and the thread's next run may start now */
	if (ndone == SG_DONE_IDS)
		done_all = true;
	else
		done_ids[ndone++] = *run_id;
}

/* This transaction finished or cancelled runs it does not name: wake every sg_wait when it commits. */
void
sg_run_done_at_commit(void)
{
	done_at_commit = true;
	done_all = true;
}

/*
 * This transaction asked a running run to stop (sg_cancel, a multitask
 * submit): when it commits, bump the stop generation, so that executors
 * read their runs' stop requests again at their next step boundary.
 */
void
sg_run_stop_asked_at_commit(void)
{
	stop_at_commit = true;
}

/*
 * The stop generation into *gen; false without the preload (no shared
 * memory), in a REPEATABLE READ or SERIALIZABLE transaction (its
 * snapshot, the transaction's first, may be older than the read), or when
 * this transaction asked a stop itself (a node that cancels its own run:
 * the bump comes only with its commit): the caller reads its run's stop
 * request then. A commit bumps it
 * only once the commit is visible, so an executor that reads it before a
 * statement's snapshot, finds it unchanged later, has seen every stop
 * request committed since that statement (runs.c, record_step).
 */
bool
sg_stop_generation(uint64 *gen)
{
	if (shared == NULL || IsolationUsesXactSnapshot() || stop_at_commit)
		return false;
	SpinLockAcquire(&shared->mutex);
	*gen = shared->stop_gen;
	SpinLockRelease(&shared->mutex);
	return true;
}

/* This transaction delayed a run: workers look up the next due time again after it commits. */
void
sg_run_delayed_at_commit(void)
{
	delayed_at_commit = true;
}

/*
 * stategraph.wake_launcher(): CREATE EXTENSION asks for a worker of this
 * database; a superuser, after rows of stategraph.runs written with no
 * trigger (a data-only restore with --disable-triggers, README), has the
 * workers read the whole queue and look up the next delayed run again.
 */
Datum
sg_wake_launcher(PG_FUNCTION_ARGS)
{
	want_at_commit = true;
	queued_from = QUEUE_START;			/* (a database of the same oid may have had the extension) */
	delayed_at_commit = true;			/* (a worker that stays kept the next due time it knew: TAP 331) */
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------------
 * sg_wait's sleep
 * ---------------------------------------------------------------------------
 */

/* Before looking at a run's status: from now on its end sets our latch. */
void
sg_wait_prepare(const pg_uuid_t *run_id)
{
	set_waiter(MyLatch, run_id, 0);	/* (the spinlock orders it before our look) */
}

/* Sleep until our latch is set or timeout_ms passes; true if woken. */
bool
sg_wait_for_runs(long timeout_ms)
{
	int			rc;

	/* without the preload nobody wakes us: look again ten times a second */
	if (shared == NULL)
		timeout_ms = Min(timeout_ms, 100);
	rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	return (rc & WL_LATCH_SET) != 0;
}

/* After the last look: no longer waiting. */
void
sg_wait_done(void)
{
	set_waiter(NULL, NULL, 0);
}

/*
 * The runs some backend sleeps for in sg_wait, as a uuid[] Datum (empty
 * without the preload): the sweep keeps their rows until their waiters
 * have looked. With stategraph.run_retention = 0 a sweep between a run's
 * end and its waiter's next look deleted the row, and a wait that began
 * while the run was running ended with 42704 (a review found it 2 times
 * in 6). A waiter is one before its first look (sg_wait_prepare), so only
 * an sg_wait that begins after the run ended may find it gone.
 */
Datum
sg_awaited_runs(void)
{
	SGWaiter   *w;
	pg_uuid_t  *runs;
	Datum	   *ids;
	int			n = 0,
				i;

	if (shared == NULL)
		return PointerGetDatum(construct_empty_array(UUIDOID));
	w = waiters();
	runs = palloc(sizeof(pg_uuid_t) * MaxBackends);
	ids = palloc(sizeof(Datum) * MaxBackends);
	for (i = 0; i < MaxBackends; i++)
	{
		SpinLockAcquire(&shared->waiters_mutex);
		if (w[i].latch != NULL && w[i].for_run)
		{
			runs[n] = w[i].run_id;
			ids[n] = UUIDPGetDatum(&runs[n]);
			n++;
		}
		SpinLockRelease(&shared->waiters_mutex);
	}
	return PointerGetDatum(construct_array(ids, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}

/*
 * Would a node of the run this worker executes wait for ever in sg_wait
 * for run awaited, of thread thread_id? So it would when awaited is
 * executed by a worker (or is queued behind a run a worker executes on its
 * thread) whose node waits (sg_wait) for a run executed by a worker (or
 * queued behind one) whose node waits ... for this worker's run: none of
 * them can end before the others do, and without a timeout they held
 * their workers (and threads) for good. One of them is told, the one
 * whose run has the greatest id among those executed, so that the others
 * go on once its node's error ends its wait; its cycle (the run ids, from
 * its own) in *cycle. Only background workers' runs are seen: a cycle
 * through CALL sg_work or a client session is not.
 */
bool
sg_wait_cycle(const pg_uuid_t *awaited, const char *thread_id, char **cycle)
{
	bool		has_run[SG_MAX_WORKERS];
	bool		waits[SG_MAX_WORKERS];
	bool		thread_known[SG_MAX_WORKERS];
	pg_uuid_t	run[SG_MAX_WORKERS];
	pg_uuid_t	waits_for[SG_MAX_WORKERS];
	uint64		thread[SG_MAX_WORKERS];
	uint64		waits_thread[SG_MAX_WORKERS];
	pg_uuid_t	me;
	pg_uuid_t	cur = *awaited;
	bool		cur_thread_known = thread_id != NULL;
	uint64		cur_thread = thread_id ? thread_hash(thread_id) : 0;
	StringInfoData buf;
	int			hops;
	int			i;

	if (shared == NULL || my_slot < 0)
		return false;
	SpinLockAcquire(&shared->mutex);
	/* what this one waits for, for the others' walks */
	if (shared->slots[my_slot].waits && memcmp(&shared->slots[my_slot].waits_for, awaited, sizeof(pg_uuid_t)) == 0)
	{
		shared->slots[my_slot].waits_thread_known = cur_thread_known;
		shared->slots[my_slot].waits_thread = cur_thread;
	}
	for (i = 0; i < SG_MAX_WORKERS; i++)
	{
		SGWorkerSlot *s = &shared->slots[i];

		has_run[i] = s->state == SLOT_RUNNING && s->has_run && s->dboid == MyDatabaseId;
		waits[i] = s->waits;
		thread_known[i] = s->waits_thread_known;
		run[i] = s->run;
		thread[i] = s->thread_hash;
		waits_for[i] = s->waits_for;
		waits_thread[i] = s->waits_thread;
	}
	SpinLockRelease(&shared->mutex);
	if (!has_run[my_slot])
		return false;
	me = run[my_slot];
	initStringInfo(&buf);
	appendStringInfoString(&buf, sg_uuid_to_cstring(&me));
	for (hops = 0; hops <= SG_MAX_WORKERS; hops++)
	{
		appendStringInfo(&buf, " -> %s", sg_uuid_to_cstring(&cur));
		for (i = 0; i < SG_MAX_WORKERS; i++)
			if (has_run[i] && memcmp(&run[i], &cur, sizeof(pg_uuid_t)) == 0)
				break;
		/* not executed: queued behind the run a worker executes on its thread? */
		if (i == SG_MAX_WORKERS && cur_thread_known)
			for (i = 0; i < SG_MAX_WORKERS; i++)
				if (has_run[i] && thread[i] == cur_thread)
				{
					cur = run[i];
					appendStringInfo(&buf, " (behind %s)", sg_uuid_to_cstring(&cur));
					break;
				}
		if (i == SG_MAX_WORKERS)
			return false;		/* not executed by a worker, nor held up by one */
		if (i == my_slot)
		{
			*cycle = buf.data;
			return true;
		}
		if (memcmp(&cur, &me, sizeof(pg_uuid_t)) > 0)
			return false;		/* (a run of the cycle with a greater id is told) */
		if (!waits[i])
			return false;		/* its node does not wait */
		cur = waits_for[i];
		cur_thread_known = thread_known[i];
		cur_thread = waits_thread[i];
	}
	return false;
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
		pid_t		pids[SG_MAX_WORKERS];
		int			npids = 0;

		SpinLockAcquire(&shared->mutex);
		shared->dropping = dboid;
		forget_database(dboid);
		for (i = 0; i < SG_MAX_WORKERS; i++)
		{
			SGWorkerSlot *s = &shared->slots[i];

			if (s->dboid != dboid || s->state == SLOT_FREE || s->state == SLOT_EXITED)
				continue;
			any = true;
			if (s->state == SLOT_RUNNING && s->pid != 0)
				pids[npids++] = s->pid;
		}
		SpinLockRelease(&shared->mutex);
		for (i = 0; i < npids; i++)
			kill(pids[i], SIGTERM);
		if (!any)
			return;
		pg_usleep(10000);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * A DROP DATABASE that stopped dboid's workers failed (a session is still
 * connected, the database is in use as a template...), or was cancelled
 * while it stopped them (statement_timeout): the database is no
 * longer being dropped, and it gets a worker again (its runs, one of them
 * maybe interrupted mid-step, would else stay pending until a restart).
 */
static void
drop_database_failed(Oid dboid)
{
	Latch	   *launcher;

	SpinLockAcquire(&shared->mutex);
	if (shared->dropping == dboid)
		shared->dropping = InvalidOid;
	add_want(dboid);
	launcher = shared->launcher_latch;
	SpinLockRelease(&shared->mutex);
	if (launcher)
		SetLatch(launcher);
}

/* Is pid one of the workers of dboid? pids: theirs, npids of them. */
static bool
is_worker_pid(pid_t pid, const pid_t *pids, int npids)
{
	int			i;

	for (i = 0; i < npids; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

/*
 * How many prepared transactions dboid has, by pg_prepared_xact(): twophase.c
 * keeps its list to itself, and a prepared transaction's stand-in PGPROC
 * says nothing of whether it is still prepared.
 */
static int64
prepared_transactions(Oid dboid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(dboid)};
	bool		isnull;
	int64		n = 0;

	if (max_prepared_xacts == 0)
		return 0;				/* none can be */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT pg_catalog.count(*) FROM pg_catalog.pg_prepared_xact() p "
							  "WHERE p.dbid OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not count the prepared transactions of database %u", dboid);
	n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return n;
}

/*
 * dropdb's check of the sessions connected to the database (procarray.c,
 * CountOtherDBBackends, which ALTER DATABASE RENAME and SET TABLESPACE,
 * and CREATE DATABASE of its template, make too), minus dboid's workers,
 * which the caller stops next: wait, up to 5 s in sleeps of 100 ms (as
 * CountOtherDBBackends does), until no other backend is connected to
 * dboid and no prepared transaction of it is left. true if some still
 * are (*others sessions and *prepared transactions then): the workers
 * must be left alone (stopped first, a step in progress was killed, taken
 * again by a new worker and counted as a death of its worker, for a
 * statement that did nothing), and the statement is refused: DROP
 * DATABASE here (refuse_drop_database_in_use), the others by PostgreSQL
 * after 5 s more of its own wait (the workers still connected).
 *
 * Not counted: this backend; dboid's workers, and the parallel workers of
 * their steps (a lock group whose leader is one of them), which end with
 * their leader; autovacuum, which CountOtherDBBackends terminates itself.
 * Backends are found by their backend id (sinvaladt.c's array of them):
 * the procarray, which CountOtherDBBackends walks, is not exported. The
 * caller holds the lock PostgreSQL's statement takes on the database
 * (lock_database_as_postgres): a session that connects meanwhile waits
 * for it before it counts as connected, as it would for PostgreSQL's own
 * wait.
 */
static bool
others_stay_connected(Oid dboid, int *others_out, int *prepared_out)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 5000);

	for (;;)
	{
		pid_t		pids[SG_MAX_WORKERS];
		int			npids = 0;
		int			others = 0;
		int			id;
		int			i;

		CHECK_FOR_INTERRUPTS();
		SpinLockAcquire(&shared->mutex);
		for (i = 0; i < SG_MAX_WORKERS; i++)
			if (shared->slots[i].dboid == dboid && shared->slots[i].pid != 0 &&
				shared->slots[i].state != SLOT_FREE)
				pids[npids++] = shared->slots[i].pid;
		SpinLockRelease(&shared->mutex);

		for (id = 1; id <= MaxBackends; id++)
		{
			PGPROC	   *proc = BackendIdGetProc(id);
			PGPROC	   *leader;

			if (proc == NULL || proc == MyProc || proc->databaseId != dboid || proc->pid == 0)
				continue;
			if ((proc->statusFlags & PROC_IS_AUTOVACUUM) || is_worker_pid(proc->pid, pids, npids))
				continue;
			leader = proc->lockGroupLeader;	/* read without its lock: at worst stale for one look */
			if (leader != NULL && leader != proc && is_worker_pid(leader->pid, pids, npids))
				continue;
			others++;
		}
		*others_out = others;
		*prepared_out = 0;
		if (others == 0 && (*prepared_out = prepared_transactions(dboid)) == 0)
			return false;
		if (GetCurrentTimestamp() >= until)
		{
			if (others > 0)
				*prepared_out = prepared_transactions(dboid);	/* (for the error's detail) */
			return true;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * Whether a logical replication slot of dboid is in use, which dropdb
 * refuses (55006) before it looks for other sessions: its walsender is
 * connected to dboid, so without this the hook waited its 5 s for that
 * session first (TAP 309).
 */
static bool
has_active_logical_slot(Oid dboid)
{
	int			nslots;
	int			nslots_active;

	return ReplicationSlotsCountDBSlots(dboid, &nslots, &nslots_active) && nslots_active > 0;
}

/*
 * DROP DATABASE of a database that other sessions or prepared transactions
 * still use after others_stay_connected's 5 s: refused here with dropdb's
 * own error (55006, its message and detail), the workers left running.
 * Left to dropdb, the refusal came after 5 s more of its own wait, about
 * 10 s in all (TAP 313, 314). database_to_drop has made dropdb's earlier
 * checks, an active logical replication slot among them; one that became
 * active during the wait is left to dropdb, whose error for it comes first
 * (at once).
 */
static void
refuse_drop_database_in_use(const char *dbname, Oid dboid, int others, int prepared)
{
	if (has_active_logical_slot(dboid))
		return;
	if (others > 0 && prepared > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("database \"%s\" is being accessed by other users", dbname),
				 errdetail("There are %d other session(s) and %d prepared transaction(s) using the database.",
						   others, prepared)));
	if (others > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("database \"%s\" is being accessed by other users", dbname),
				 errdetail_plural("There is %d other session using the database.",
								  "There are %d other sessions using the database.",
								  others, others)));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_IN_USE),
			 errmsg("database \"%s\" is being accessed by other users", dbname),
			 errdetail_plural("There is %d prepared transaction using the database.",
							  "There are %d prepared transactions using the database.",
							  prepared, prepared)));
}

/*
 * COMMIT PREPARED of a transaction of this database that may have used
 * stategraph: what that transaction asked for at its commit (runs queued,
 * stops asked, runs finished, tasks queued) was forgotten at its PREPARE
 * (xact_callback), and this session cannot know it. So this commit does
 * all of it, for any run: workers woken, claims read the queue from its
 * start (a claim made while it was prepared moved claim_from past its
 * runs), executors read their stop requests again, sg_wait and sg_claim
 * callers look again, and every queue with queued work is notified
 * (tasks.c). Without it, a run it queued waited for the next sweep while
 * later runs went ahead, and a stop it asked was seen only at the run's
 * end.
 */
static void
prepared_committed(void)
{
	if (!OidIsValid(get_extension_oid("stategraph", true)))
		return;
	wake_at_commit = delayed_at_commit = stop_at_commit = left_at_commit = true;
	done_at_commit = done_all = true;
	queues_all = true;
	queued_from = QUEUE_START;
	sg_tasks_prepared_committed();	/* and LISTENers of stategraph_tasks hear of its tasks */
}

static bool locks_shared_table_walker(Node *node, List **seen);

/* Is relid a member of extension stategraph (in this database)? */
static bool
extension_table(Oid relid)
{
	Oid			ext = getExtensionOfObject(RelationRelationId, relid);

	return OidIsValid(ext) && ext == get_extension_oid("stategraph", true);
}

/*
 * Would a lock of relid (a table, or a view and what it reads: LOCK of a
 * view locks its tables as the view's owner) take one of stategraph's
 * tables, which the caller does not own? Names that table in *name.
 * *seen: the views looked at so far, each once (a view's query lists the
 * view itself twice, as OLD and NEW: walked again, each level doubled the
 * calls, and LOCK of a view of no stategraph table never ended).
 */
static bool
locks_shared_table(Oid relid, List **seen, char **name)
{
	Oid			nsp = get_rel_namespace(relid);
	char		kind = get_rel_relkind(relid);
	char	   *nspname = OidIsValid(nsp) ? get_namespace_name(nsp) : NULL;
	bool		found = false;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (nspname == NULL)
		return false;

	/*
	 * One of the extension's own tables: a schema named stategraph in a
	 * database without the extension (or a table stategraph did not make)
	 * is any other schema, whose tables its owners may share as they like.
	 */
	if (strcmp(nspname, "stategraph") == 0 &&
		(kind == RELKIND_RELATION || kind == RELKIND_PARTITIONED_TABLE) &&
		!pg_class_ownercheck(relid, GetUserId()) &&
		extension_table(relid))
	{
		*name = psprintf("stategraph.%s", get_rel_name(relid));
		return true;
	}
	if (kind == RELKIND_VIEW && !list_member_oid(*seen, relid))
	{
		Relation	view = relation_open(relid, AccessShareLock);

		*seen = lappend_oid(*seen, relid);
		found = locks_shared_table_walker((Node *) get_view_query(view), seen);

		/*
		 * The lock is kept to the end of the transaction: the definition
		 * checked is the one LOCK then reads (a view inside it, redefined
		 * by another session meanwhile, was LOCK's to read anew).
		 */
		relation_close(view, NoLock);
		if (found)
			*name = psprintf("stategraph's tables (through view %s)", get_rel_name(relid));
	}
	return found;
}

static bool
locks_shared_table_walker(Node *node, List **seen)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *q = (Query *) node;
		ListCell   *lc;
		char	   *name;

		foreach(lc, q->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

			if (rte->rtekind == RTE_RELATION && locks_shared_table(rte->relid, seen, &name))
				return true;
		}
		return query_tree_walker(q, locks_shared_table_walker, (void *) seen, 0);
	}
	return expression_tree_walker(node, locks_shared_table_walker, (void *) seen);
}

/*
 * RangeVarGetRelidExtended's callback for refuse_shared_table_lock: what
 * LOCK TABLE's own callback checks (lockcmds.c: a table or view, UPDATE,
 * DELETE or TRUNCATE on it), and then that the lock takes none of
 * stategraph's tables. Called again for the relation the name names once
 * locked, if the name or the view changed while the lock was waited for.
 */
static void
shared_table_lock_check(const RangeVar *rv, Oid relid, Oid oldrelid, void *arg)
{
	char		kind = get_rel_relkind(relid);
	char	   *name;
	List	   *seen = NIL;
	AclResult	aclresult;

	if (kind == '\0')
		return;					/* not there (maybe dropped meanwhile): LOCK says so */
	if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE && kind != RELKIND_VIEW)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot lock relation \"%s\"", rv->relname),
				 errdetail_relkind_not_supported(kind)));
	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_UPDATE | ACL_DELETE | ACL_TRUNCATE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(kind), rv->relname);
	if (locks_shared_table(relid, &seen, &name))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to lock %s in a mode that blocks its writers", name),
				 errdetail("stategraph's tables are shared by every role: such a lock would hold up "
						   "every role's calls and the background workers."),
				 errhint("Lock them IN ROW EXCLUSIVE MODE or weaker, or as their owner.")));
}

/*
 * LOCK TABLE of one of stategraph's tables, by a role that does not own
 * it, in a mode that conflicts with the row locks every role's calls and
 * the workers take (SHARE and above): refused (42501) before it waits.
 * PUBLIC may write the tables (row-level security keeps the roles'
 * rows apart), which lets PostgreSQL's LOCK take them whole: one role's
 * open transaction held every other role's submits, runs and workers.
 *
 * Each name is looked up and locked here, checked before the lock and
 * again if it changed meanwhile (as LOCK does its own checks), so that
 * LOCK finds it locked: checked without the lock, a name whose relation an
 * open transaction was dropping (a table of the role's own, before
 * stategraph's in search_path), or a view being redefined, was LOCK's to
 * look up again once that committed, and it took stategraph's table.
 */
static void
refuse_shared_table_lock(LockStmt *stmt, bool toplevel)
{
	ListCell   *lc;

	if (stmt->mode < ShareLock || superuser())
		return;
	RequireTransactionBlock(toplevel, "LOCK TABLE");	/* as LOCK, before any lock */
	foreach(lc, stmt->relations)
		(void) RangeVarGetRelidExtended(lfirst_node(RangeVar, lc), stmt->mode,
										RVR_MISSING_OK | (stmt->nowait ? RVR_NOWAIT : 0),
										shared_table_lock_check, NULL);
}

/*
 * Has dboid a worker (starting or running)? A database without stategraph
 * (template1, mostly) has none to stop: its workers were not stopped and
 * given back (a worker started there only to find no extension, at every
 * CREATE DATABASE, and the database being dropped meanwhile, which
 * shared->dropping names, lost its mark).
 */
static bool
database_has_workers(Oid dboid)
{
	bool		any = false;
	int			i;

	SpinLockAcquire(&shared->mutex);
	for (i = 0; i < SG_MAX_WORKERS && !any; i++)
		any = shared->slots[i].dboid == dboid &&
			shared->slots[i].state != SLOT_FREE && shared->slots[i].state != SLOT_EXITED;
	SpinLockRelease(&shared->mutex);
	return any;
}

/*
 * The database a statement needs alone, with no other session connected:
 * ALTER DATABASE ... RENAME TO or SET TABLESPACE, and CREATE DATABASE
 * from it as a template (template1 when none is named). Its workers are
 * always connected (the first one never leaves), so that these failed with
 * 55006 for good (a terminated worker is replaced within a second).
 * InvalidOid for any other statement, and for a role that does not own
 * the database, unless it copies a database marked as a template with
 * CREATEDB (else PostgreSQL refuses it: its workers are left alone).
 *
 * InvalidOid too where PostgreSQL refuses the statement anyway, or does
 * it without needing the database alone, as can be told now cheaply: a
 * new name in use (CREATE DATABASE, RENAME), a rename without CREATEDB, a
 * move to the tablespace the database is in already (a no-op), a
 * read-only transaction, a transaction block or a function (CREATE
 * DATABASE, SET TABLESPACE; these two are PostgreSQL's own calls, made as
 * standard_ProcessUtility and AlterDatabase make them next). Its workers
 * were stopped and given back all the same, a step in progress killed,
 * taken again by a new worker and counted as a death of its worker (TAP
 * 286). So were they when other sessions stay connected to the database,
 * PostgreSQL's last refusal (55006, after 5 s): the caller waits for them
 * first (others_stay_connected).
 */
static Oid
database_needed_alone(Node *parsetree, bool toplevel)
{
	const char *name = NULL;
	const char *newname = NULL; /* the database CREATE DATABASE or RENAME makes */
	const char *tablespace = NULL;
	bool		template = false;
	ListCell   *lc;
	Oid			dboid;
	Oid			dbtablespace = InvalidOid;
	bool		istemplate = false;
	HeapTuple	tup;

	if (IsA(parsetree, RenameStmt) && castNode(RenameStmt, parsetree)->renameType == OBJECT_DATABASE)
	{
		name = castNode(RenameStmt, parsetree)->subname;
		newname = castNode(RenameStmt, parsetree)->newname;
	}
	else if (IsA(parsetree, AlterDatabaseStmt))
	{
		foreach(lc, castNode(AlterDatabaseStmt, parsetree)->options)
			if (strcmp(lfirst_node(DefElem, lc)->defname, "tablespace") == 0)
			{
				name = castNode(AlterDatabaseStmt, parsetree)->dbname;
				tablespace = defGetString(lfirst_node(DefElem, lc));
			}
	}
	else if (IsA(parsetree, CreatedbStmt))
	{
		name = "template1";		/* CREATE DATABASE's template when none is named */
		foreach(lc, castNode(CreatedbStmt, parsetree)->options)
		{
			DefElem    *d = lfirst_node(DefElem, lc);

			if (strcmp(d->defname, "template") == 0 && d->arg != NULL)
				name = defGetString(d);
		}
		newname = castNode(CreatedbStmt, parsetree)->dbname;
		template = true;
	}
	if (name == NULL)
		return InvalidOid;
	dboid = get_database_oid(name, true);
	if (!OidIsValid(dboid) || dboid == MyDatabaseId || !database_has_workers(dboid))
		return InvalidOid;

	/* PostgreSQL's refusals that come first, whoever owns the database */
	PreventCommandIfReadOnly(CreateCommandName(parsetree));
	if (IsA(parsetree, CreatedbStmt))
		PreventInTransactionBlock(toplevel, "CREATE DATABASE");
	else if (tablespace != NULL)
		PreventInTransactionBlock(toplevel, "ALTER DATABASE SET TABLESPACE");
	if (newname != NULL && OidIsValid(get_database_oid(newname, true)))
		return InvalidOid;		/* "already exists" */
	if (IsA(parsetree, RenameStmt) && !have_createdb_privilege())
		return InvalidOid;		/* "permission denied to rename database" */
	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));
	if (!HeapTupleIsValid(tup))
		return InvalidOid;
	istemplate = ((Form_pg_database) GETSTRUCT(tup))->datistemplate;
	dbtablespace = ((Form_pg_database) GETSTRUCT(tup))->dattablespace;
	ReleaseSysCache(tup);
	if (tablespace != NULL && get_tablespace_oid(tablespace, true) == dbtablespace)
		return InvalidOid;		/* already there: nothing to move */

	if (pg_database_ownercheck(dboid, GetUserId()))
		return dboid;

	/*
	 * PostgreSQL lets any role with CREATEDB copy a database marked as a
	 * template (datistemplate), such as template1 with stategraph in it,
	 * which every plain CREATE DATABASE copies.
	 */
	if (template && have_createdb_privilege() && istemplate)
		return dboid;
	return InvalidOid;
}

/*
 * The database the owner's DROP DATABASE drops (its workers stopped
 * first), or InvalidOid where PostgreSQL refuses the statement anyway,
 * which stops nothing: a template database, a subscription in it, the
 * current database, a database missing (IF EXISTS) or not the caller's
 * own (any role may type the statement), a read-only transaction, a
 * transaction block or a function. Stopped all the same (the hook runs
 * before dropdb's own checks), the workers of a database that was not
 * dropped had a step in progress killed, taken again by a new worker and
 * counted as a death of its worker (TAP 285, 281). The read-only and
 * transaction block refusals are PostgreSQL's own calls, made here as
 * standard_ProcessUtility makes them next; the others are left to dropdb
 * (in its order: owner, template, current database, an active logical
 * replication slot, subscriptions). The last of dropdb's refusals, other
 * sessions connected, is the caller's to
 * wait for (others_stay_connected) and to make (refuse_drop_database_in_use),
 * unless *force (WITH (FORCE): dropdb terminates them).
 */
static Oid
database_to_drop(DropdbStmt *stmt, bool toplevel, bool *force)
{
	Oid			dboid;
	HeapTuple	tup;
	bool		istemplate;
	ListCell   *lc;

	PreventCommandIfReadOnly("DROP DATABASE");
	PreventInTransactionBlock(toplevel, "DROP DATABASE");
	*force = false;
	foreach(lc, stmt->options)	/* DropDatabase reads them next, and refuses any other */
		if (strcmp(lfirst_node(DefElem, lc)->defname, "force") == 0)
			*force = defGetBoolean(lfirst_node(DefElem, lc));
	dboid = get_database_oid(stmt->dbname, true);
	if (!OidIsValid(dboid) || dboid == MyDatabaseId || !pg_database_ownercheck(dboid, GetUserId()))
		return InvalidOid;
	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));
	if (!HeapTupleIsValid(tup))
		return InvalidOid;
	istemplate = ((Form_pg_database) GETSTRUCT(tup))->datistemplate;
	ReleaseSysCache(tup);
	if (istemplate || CountDBSubscriptions(dboid) > 0 || has_active_logical_slot(dboid))
		return InvalidOid;
	return dboid;
}

/*
 * Lock dboid as PostgreSQL locks it before its own check of the sessions
 * connected to it (dbcommands.c: DROP DATABASE, ALTER DATABASE RENAME TO
 * and SET TABLESPACE an AccessExclusiveLock, CREATE DATABASE its template
 * a ShareLock), before others_stay_connected waits: a new session waits
 * for that lock before it counts as connected (InitPostgres), so the wait
 * sees only the sessions already there. Without it, clients that keep
 * connecting for a short while each (a health check, a pool opening
 * connections on demand) kept one session connected through the whole
 * wait, and the statement was refused (55006) where PostgreSQL, the
 * newcomers held off, does it (TAP 311). PostgreSQL takes the same lock
 * again next, which this transaction then holds already.
 */
static void
lock_database_as_postgres(Node *parsetree, Oid dboid)
{
	LockSharedObject(DatabaseRelationId, dboid, 0,
					 IsA(parsetree, CreatedbStmt) ? ShareLock : AccessExclusiveLock);
}

/*
 * ProcessUtility_hook: LOCK of stategraph's tables (refuse_shared_table_lock);
 * the owner's DROP DATABASE first stops that database's workers (without
 * FORCE, once no other session is connected to it: TAP 313, 314), and so do
 * the statements that need a database alone (database_needed_alone, once
 * no other session is connected to it either), which then give it its
 * workers back; COMMIT PREPARED does the wakes of the prepared transaction.
 */
static void
utility_hook(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			 ProcessUtilityContext context, ParamListInfo params,
			 QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	volatile Oid dboid = InvalidOid;
	volatile bool back = false;	/* the database gets its workers back, whatever the outcome */

	if (IsA(parsetree, LockStmt))
		refuse_shared_table_lock((LockStmt *) parsetree, context == PROCESS_UTILITY_TOPLEVEL);

	/*
	 * Only a DROP DATABASE that PostgreSQL does not refuse first stops the
	 * workers; without FORCE, only once no other session is connected.
	 */
	if (shared != NULL && IsA(parsetree, DropdbStmt))
	{
		bool		force;
		int			others;
		int			prepared;

		dboid = database_to_drop((DropdbStmt *) parsetree, context == PROCESS_UTILITY_TOPLEVEL, &force);
		/* no worker: nothing to stop, nor to wait for (dropdb waits alone) */
		if (OidIsValid(dboid) && !force && database_has_workers(dboid))
		{
			lock_database_as_postgres(parsetree, dboid);
			if (others_stay_connected(dboid, &others, &prepared))
			{
				refuse_drop_database_in_use(((DropdbStmt *) parsetree)->dbname, dboid, others, prepared);
				dboid = InvalidOid;	/* (an active slot's error: dropdb's, at once) */
			}
		}
	}
	else if (shared != NULL && OidIsValid(dboid = database_needed_alone(parsetree, context == PROCESS_UTILITY_TOPLEVEL)))
	{
		int			others;
		int			prepared;

		/* PostgreSQL makes the same check of the other sessions (CountOtherDBBackends) */
		lock_database_as_postgres(parsetree, dboid);
		if (others_stay_connected(dboid, &others, &prepared))
			dboid = InvalidOid;	/* refused: 55006 */
		else
			back = true;
	}
	PG_TRY();
	{
		/*
		 * Inside the PG_TRY: a cancel or a statement_timeout while it waits
		 * for the workers to leave left shared->dropping naming a database
		 * still there, which then never got a worker again (TAP 329).
		 */
		if (OidIsValid(dboid))
			stop_database_workers(dboid);
		if (prev_utility_hook)
			prev_utility_hook(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		if (OidIsValid(dboid))
			drop_database_failed(dboid);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (back)
		drop_database_failed(dboid);
	else if (OidIsValid(dboid))
		dropped_at_commit = dboid;	/* dropped: the mark goes at the end of the transaction */
	if (shared != NULL && IsA(parsetree, TransactionStmt) &&
		castNode(TransactionStmt, parsetree)->kind == TRANS_STMT_COMMIT_PREPARED)
		prepared_committed();
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

/* Say (at most once a minute) that the postmaster had no process for a worker of dboid. */
static void
log_no_process(Oid dboid)
{
	static TimestampTz last = 0;

	if (last != 0 && !TimestampDifferenceExceeds(last, GetCurrentTimestamp(), 60 * 1000))
		return;
	last = GetCurrentTimestamp();
	ereport(LOG,
			(errmsg("stategraph could not start a background worker for database %u: no background worker process is free",
					dboid),
			 errdetail("stategraph.max_workers is %d; max_worker_processes counts other background workers too.",
					   sg_max_workers),
			 errhint("Raise max_worker_processes, or lower stategraph.max_workers. Meanwhile an idle worker of another database gives its process up.")));
}

/*
 * A database without a worker wants one and no slot is free (starved): ask
 * one idle worker to give its slot up, and tell busy ones (which give it up
 * after a run once they held it SG_SLICE_MS).
 */
static void
share_slots(bool starved)
{
	SGWorkerSlot *pick = NULL;
	Latch	   *latch = NULL;
	int			i;

	SpinLockAcquire(&shared->mutex);
	shared->starved = starved;
	for (i = 0; starved && i < SG_MAX_WORKERS; i++)
	{
		SGWorkerSlot *s = &shared->slots[i];

		if (s->state == SLOT_RUNNING && s->leave)
		{
			pick = NULL;		/* one asked already: wait for it */
			break;
		}
		if (s->state == SLOT_RUNNING && s->idle && s->latch != NULL && pick == NULL)
			pick = s;
	}
	if (pick)
	{
		pick->leave = true;
		latch = pick->latch;
	}
	SpinLockRelease(&shared->mutex);
	if (latch)
		SetLatch(latch);
}

/*
 * One pass of the launcher: free the slots of workers that left (noting
 * databases without the extension), then give a free slot to each wanted
 * database that has no idle worker, and share the slots if one is left
 * without (share_slots). Returns when the next timed want is due (0: none).
 */
static TimestampTz
launcher_pass(BackgroundWorkerHandle **handles, List **absent)
{
	Oid			wants[SG_MAX_WANTS];
	int			nwants;
	int			i,
				w;
	pid_t		pid;
	TimestampTz next_timed;
	TimestampTz now;
	static TimestampTz last_replaced = 0;	/* a worker that left without meaning to was last replaced */
	bool		starved = false;
	Oid			no_extension[SG_MAX_WORKERS];
	int			nabsent = 0;
	bool		stopped[SG_MAX_WORKERS];
	bool		freed = false;

	/* workers registered that never started (the postmaster's lock: not under our spinlock) */
	for (i = 0; i < SG_MAX_WORKERS; i++)
		stopped[i] = handles[i] != NULL && GetBackgroundWorkerPid(handles[i], &pid) == BGWH_STOPPED;
	now = GetCurrentTimestamp();
	SpinLockAcquire(&shared->mutex);
	for (i = 0; i < SG_MAX_WORKERS; i++)
	{
		SGWorkerSlot *s = &shared->slots[i];

		if (s->state == SLOT_STARTING && stopped[i])
			s->state = SLOT_EXITED;		/* never started */
		stopped[i] = s->state == SLOT_EXITED;
		if (s->state == SLOT_EXITED)
		{
			if (s->no_extension)
				no_extension[nabsent++] = s->dboid;
			else if (s->connected && !s->leaving && shared->dropping != s->dboid)
			{
				/*
				 * Terminated (pg_terminate_backend, a FATAL error): its run,
				 * left 'running', goes on in a new worker now; but a second
				 * such exit within a second waits a second (a run whose node
				 * ends its own backend would otherwise restart in a loop).
				 */
				if (TimestampDifferenceExceeds(last_replaced, now, 1000))
					add_want(s->dboid);
				else
					add_timed_want(s->dboid, TimestampTzPlusMilliseconds(now, 1000));
				last_replaced = now;
			}
			memset(s, 0, sizeof(SGWorkerSlot));
			freed = true;
			if (shared->yielder == i + 1)
				shared->yielder = 0;	/* its slot is free: another busy worker may yield next */
		}
	}
	/*
	 * A slot is free now: a busy worker that a submit woke while no worker
	 * was idle and no slot was free (wake_database asked for no worker
	 * then) has not looked yet, and may execute a long run: its database's
	 * new runs would wait for that run's end, the freed slot unused. Its
	 * database gets a worker (once: the busy worker looks again after its
	 * run all the same). Not for a busy worker woken beside an idle one,
	 * which looked for that submit: a worker started for it found only
	 * runs refused their role's share, and idled (TAP 131).
	 */
	for (i = 0; freed && i < SG_MAX_WORKERS; i++)
		if (shared->slots[i].state == SLOT_RUNNING && !shared->slots[i].idle &&
			shared->slots[i].woken && shared->slots[i].woken_alone && !shared->slots[i].leaving)
		{
			shared->slots[i].woken_alone = false;
			add_want(shared->slots[i].dboid);
		}
	next_timed = take_due_wants(now);	/* (after the loop: it may add one) */
	nwants = shared->nwants;
	memcpy(wants, shared->wants, sizeof(Oid) * nwants);
	shared->nwants = 0;
	SpinLockRelease(&shared->mutex);
	for (i = 0; i < SG_MAX_WORKERS; i++)
		if (stopped[i] && handles[i] != NULL)
		{
			pfree(handles[i]);
			handles[i] = NULL;
		}
	for (i = 0; i < nabsent; i++)
		*absent = list_append_unique_oid(*absent, no_extension[i]);

	for (w = 0; w < nwants; w++)
	{
		int			free_slot = -1;
		bool		has_idle = false;
		bool		has_any = false;

		*absent = list_delete_oid(*absent, wants[w]);
		SpinLockAcquire(&shared->mutex);
		free_slot = startable_slot();
		for (i = 0; i < SG_MAX_WORKERS; i++)
		{
			SGWorkerSlot *s = &shared->slots[i];

			if (s->state == SLOT_FREE)
				continue;
			if (s->dboid == wants[w] &&
					 (s->state == SLOT_STARTING || (s->state == SLOT_RUNNING && s->idle)))
				has_idle = true;
			if (s->dboid == wants[w] && (s->state == SLOT_STARTING || s->state == SLOT_RUNNING))
				has_any = true;
		}
		if (shared->dropping == wants[w])
			has_idle = true;	/* being dropped: no new worker */
		if (!has_idle && free_slot >= 0)
		{
			shared->slots[free_slot].state = SLOT_STARTING;
			shared->slots[free_slot].dboid = wants[w];
		}
		else if (!has_idle)
		{
			add_want(wants[w]);		/* no slot free now: when one is */
			if (!has_any)
				starved = true;
		}
		SpinLockRelease(&shared->mutex);
		if (!has_idle && free_slot >= 0 && !start_worker(free_slot, wants[w], &handles[free_slot]))
		{
			SpinLockAcquire(&shared->mutex);
			memset(&shared->slots[free_slot], 0, sizeof(SGWorkerSlot));
			add_want(wants[w]);
			SpinLockRelease(&shared->mutex);
			/*
			 * No background worker process free (max_worker_processes,
			 * which others take too: pg_cron, logical replication): as
			 * when no slot is free, an idle worker of another database
			 * gives its process up. It was only tried again every second,
			 * so a database whose runs came after the processes were taken
			 * waited for ever, the others' idle first workers staying.
			 */
			if (!has_any)
				starved = true;
			log_no_process(wants[w]);
		}
	}
	share_slots(starved);
	return next_timed;
}

/*
 * Make the launcher's stategraph.max_workers the one every process goes
 * by. Raised, the launcher's next pass starts workers for the databases
 * that wait for one, and for each database whose workers are busy (a run
 * submitted there while no slot was free asked for none: it waited for a
 * busy worker's run to end); lowered, the workers are woken, and those
 * beyond the new number give their slots up after their runs
 * (over_max_workers).
 */
static void
publish_max_workers(void)
{
	Latch	   *latches[SG_MAX_WORKERS];
	int			n = 0;
	int			i;

	SpinLockAcquire(&shared->mutex);
	if (sg_max_workers > shared->max_workers)
		for (i = 0; i < SG_MAX_WORKERS; i++)
			if (shared->slots[i].state == SLOT_RUNNING && !shared->slots[i].idle &&
				!shared->slots[i].leaving)
				add_want(shared->slots[i].dboid);	/* a worker with nothing to do leaves */
	if (sg_max_workers < shared->max_workers)
		for (i = 0; i < SG_MAX_WORKERS; i++)
			if (shared->slots[i].state == SLOT_RUNNING && shared->slots[i].latch != NULL)
				latches[n++] = shared->slots[i].latch;
	shared->max_workers = sg_max_workers;
	SpinLockRelease(&shared->mutex);
	for (i = 0; i < n; i++)
		SetLatch(latches[i]);
}

/*
 * Has a reload raised stategraph.max_workers_per_role (or set it to 0)
 * from was? Then the runs that wait for their role's share may start: the
 * workers take the reload up themselves (SIGHUP sets their latches, and an
 * idle one refused a share claims again at once), but a run whose refused
 * worker left, or took another run (note_left_refused), may have no worker
 * to take it: its database is wanted, and gets one if it has no idle one
 * (launcher_pass). Nothing is done for any other reload.
 */
static void
want_for_raised_share(int was)
{
	int			i;

	if (was <= 0 || (sg_max_workers_per_role > 0 && sg_max_workers_per_role <= was))
		return;
	SpinLockAcquire(&shared->mutex);
	for (i = 0; i < shared->nleft_refused; i++)
		add_want(shared->left_refused[i].dboid);	/* (kept until a claim there begins) */
	SpinLockRelease(&shared->mutex);
}

/*
 * After a reload: a database whose worker gave its slot up asked for one
 * again when its next sweep was due by the old stategraph.sweep_interval
 * (give_slot_up); with the interval lowered, it is due sooner. (It waited
 * for the old time, days at the longest, and launcher_rescan passes over
 * databases with a timed want.)
 */
static void
timed_sweeps_by_new_interval(void)
{
	TimestampTz now = GetCurrentTimestamp();
	int			i,
				j;

	SpinLockAcquire(&shared->mutex);
	for (i = 0; i < shared->ntimed; i++)
	{
		TimestampTz due = TimestampTzPlusMilliseconds(now, sg_sweep_interval_s * 1000L);

		for (j = 0; j < SG_MAX_WANTS; j++)
			if (shared->swept[j].dboid == shared->timed[i].dboid)
				due = TimestampTzPlusMilliseconds(shared->swept[j].at, sg_sweep_interval_s * 1000L);
		shared->timed[i].at = Min(shared->timed[i].at, due);
	}
	SpinLockRelease(&shared->mutex);
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
		for (i = 0; i < SG_MAX_WORKERS; i++)
			if (shared->slots[i].state != SLOT_FREE && shared->slots[i].dboid == dboid)
				has = true;
		for (i = 0; i < shared->ntimed; i++)
			if (shared->timed[i].dboid == dboid)
				has = true;		/* it gave its slot up: it asks again when due */
		if (!has)
			add_want(dboid);
	}
	SpinLockRelease(&shared->mutex);
	list_free(dbs);
}

/*
 * A reload that the postmaster signals between forking a background worker
 * and the worker's SIGHUP handler is lost (PostgreSQL starts a background
 * worker with SIGHUP ignored, which discards one pending), while the
 * settings the worker inherited at the fork are the old ones: the first
 * worker of a database, which never leaves, kept a statement_timeout set
 * just before it started for good (TAP 038, now and then). So the launcher
 * and each worker read the configuration files once as they start, as on
 * SIGHUP.
 */
static void
catch_up_on_reload(void)
{
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
}

/* Entry point of the launcher (a static background worker). */
void
sg_launcher_main(Datum arg)
{
	BackgroundWorkerHandle **handles;
	List	   *absent = NIL;
	TimestampTz last_scan = 0;
	TimestampTz next_timed;
	long		timeout;
	MemoryContext loop_cxt;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	catch_up_on_reload();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("stategraph launcher");

	handles = MemoryContextAllocZero(TopMemoryContext, sizeof(BackgroundWorkerHandle *) * SG_MAX_WORKERS);
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "stategraph launcher loop", ALLOCSET_DEFAULT_SIZES);
	SpinLockAcquire(&shared->mutex);
	shared->launcher_latch = MyLatch;
	SpinLockRelease(&shared->mutex);
	publish_max_workers();

	while (!ShutdownRequestPending)
	{
		MemoryContext old;

		MemoryContextReset(loop_cxt);
		old = MemoryContextSwitchTo(loop_cxt);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();	/* ProcSignalBarriers (DROP DATABASE waits for them) */
		if (ConfigReloadPending)
		{
			int			share_was = sg_max_workers_per_role;

			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			publish_max_workers();
			want_for_raised_share(share_was);
			timed_sweeps_by_new_interval();
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
		next_timed = launcher_pass(handles, &absent);
		MemoryContextSwitchTo(old);
		timeout = shared->nwants > 0 ? 1000 : 60000;
		if (next_timed != 0)
			timeout = Min(timeout, (long) ((next_timed - GetCurrentTimestamp()) / 1000) + 1);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(timeout, 1), PG_WAIT_EXTENSION);
	}
	SpinLockAcquire(&shared->mutex);
	shared->launcher_latch = NULL;
	SpinLockRelease(&shared->mutex);

	/*
	 * Exit code 1, as PostgreSQL's logical replication launcher: the
	 * postmaster starts the launcher again after bgw_restart_time. A
	 * superuser's pg_terminate_backend (an administrator ending every other
	 * session, say) ended it for good with 0: no database got a worker any
	 * more, and every background run stopped with the workers that left,
	 * until the server restarted. At shutdown nothing is started again.
	 */
	proc_exit(1);
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
	Latch	   *waiters[SG_MAX_WAKES];
	int			nwaiters;
	int			i;

	SpinLockAcquire(&shared->mutex);
	nwaiters = release_share(waiters, false);	/* (its run, if any, is taken up by another) */
	nwaiters += hand_look_again_on(waiters + nwaiters);
	if (OidIsValid(s->refused_role) && !s->no_extension && shared->dropping != s->dboid)
		note_left_refused(s->dboid, s->refused_role);	/* its run waits: woken when the share frees */
	nwaiters += drop_refusal(waiters + nwaiters);
	s->state = SLOT_EXITED;
	s->latch = NULL;
	s->pid = 0;
	/*
	 * Left during a run (a FATAL error: terminated, its database dropped):
	 * the run is claimable again, its locks released by now (this callback
	 * runs after the transaction's abort), and claims may have passed it
	 * while this worker executed it (sg_worker_executes_run).
	 */
	if (s->has_run)
		lower_claim_from(s->dboid, QUEUE_START);
	s->has_run = false;
	launcher = shared->launcher_latch;
	SpinLockRelease(&shared->mutex);
	for (i = 0; i < nwaiters; i++)
		SetLatch(waiters[i]);
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
	pgstat_report_stat(false);	/* (see sg_worker_main) */
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

static bool told_no_runs = false;	/* the LOG of has_background_runs' false was written */

/*
 * Does the database's stategraph have background runs (stategraph.runs:
 * 0.2.0 on)? A database still at 0.1.0 under the newer library does not.
 */
static bool
has_background_runs(void)
{
	Oid			nsp = get_namespace_oid("stategraph", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("runs", nsp));
}

/* The extversion of extension ext, for a message. */
static char *
extension_version(Oid ext)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	char	   *version = "?";

	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(ext));
	rel = table_open(ExtensionRelationId, AccessShareLock);
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion, RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = TextDatumGetCString(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/*
 * The extension and its runs table as this worker's last transaction found
 * them (InvalidOid: look them up). pg_extension has no syscache, and its
 * two scans by name and by OID took a tenth of a worker transaction's
 * start, five of which a run of three steps has; the runs table is dropped
 * with the extension, whose relcache invalidation (or a reset of every
 * cache) forgets them (ext_cache_callback).
 */
static Oid	known_ext = InvalidOid;
static Oid	known_runs = InvalidOid;

static void
ext_cache_callback(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == known_runs)
		known_ext = known_runs = InvalidOid;
}

/*
 * Start a worker transaction holding the extension's object lock (as
 * DROP EXTENSION takes it, before any of the extension's tables): a
 * worker and DROP EXTENSION then never lock tables in opposite orders.
 * False (and no transaction) if the database no longer has the extension.
 * The extension known from the last transaction is locked at once: the
 * start of the transaction and the lock (once granted, after a DROP
 * EXTENSION it waited for) take in the invalidations committed before, so
 * it is still known after the lock only if its runs table was not dropped.
 */
/*
 * The next worker transaction is the worker's own bookkeeping (the record
 * of a failure, recover), no step: at READ COMMITTED, whatever the
 * database's default_transaction_isolation. Under serializable the record
 * itself failed (40001), and the run was passed over (TAP 343).
 */
static bool bookkeeping_only = false;

static bool
start_worker_transaction(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			ext;
	static bool callback_set = false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (bookkeeping_only)
		XactIsoLevel = XACT_READ_COMMITTED;	/* (no snapshot taken yet) */
	if (!callback_set)
	{
		CacheRegisterRelcacheCallback(ext_cache_callback, (Datum) 0);
		callback_set = true;
	}
	if (OidIsValid(known_ext))
	{
		LockDatabaseObject(ExtensionRelationId, known_ext, 0, AccessShareLock);
		if (OidIsValid(known_ext))
		{
			PushActiveSnapshot(GetTransactionSnapshot());
			MemoryContextSwitchTo(cxt);
			return true;
		}
		/* (the lock on an extension maybe dropped is held to the transaction's end, as below) */
	}
	ext = get_extension_oid("stategraph", true);
	if (OidIsValid(ext))
	{
		LockDatabaseObject(ExtensionRelationId, ext, 0, AccessShareLock);
		if (get_extension_name(ext) == NULL)
			ext = InvalidOid;	/* dropped while we waited */
	}
	if (OidIsValid(ext) && has_background_runs())
	{
		known_runs = sg_table_oid("runs");
		known_ext = ext;
	}
	else if (OidIsValid(ext))
	{
		/*
		 * An extension of a version without background runs (0.1.0, before
		 * ALTER EXTENSION UPDATE; the library is newer): nothing to do here.
		 * The worker leaves as if the database had no extension, once
		 * (LOG), and the update's wake_launcher() asks for a worker again.
		 */
		if (!told_no_runs)
			ereport(LOG,
					(errmsg("stategraph worker leaves database %u: its extension (version %s) has no background runs",
							MyDatabaseId, extension_version(ext)),
					 errhint("ALTER EXTENSION stategraph UPDATE starts them.")));
		told_no_runs = true;
		ext = InvalidOid;
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
 * Milliseconds until the next delayed run is due (-1: none), looked up
 * again only when a transaction delayed a run since the last look or the
 * time looked up has come.
 */
static TimestampTz known_due = 0;	/* next_due_ms's: 0, no delayed run */

static long
next_due_ms(TimestampTz since)
{
	static uint64 known_gen = PG_UINT64_MAX;
	TimestampTz now = GetCurrentTimestamp();
	uint64		gen;
	long		due;

	SpinLockAcquire(&shared->mutex);
	gen = shared->delayed_gen;
	SpinLockRelease(&shared->mutex);
	if (gen == known_gen && (known_due == 0 || known_due > now))
		return known_due == 0 ? -1 : (long) ((known_due - now) / 1000) + 1;
	due = sg_next_due_ms(since);
	known_gen = gen;
	known_due = due < 0 ? 0 : now + (TimestampTz) due * 1000;
	return due;
}

/* Leave when the database no longer has the extension (no transaction is open). */
static void
leave_without_extension(void)
{
	shared->slots[my_slot].no_extension = true;
	proc_exit(0);
}

/* A count of shared (work_gen, left_gen: commits that woke workers, that left a step) as it is now. */
static uint64
read_gen(const uint64 *counter)
{
	uint64		gen;

	SpinLockAcquire(&shared->mutex);
	gen = *counter;
	SpinLockRelease(&shared->mutex);
	return gen;
}

static uint64 left_seen = 0;	/* the left_gen this worker last continued left steps at */
static TimestampTz left_retry_at = 0;	/* when to look again at left steps whose thread was held */

/*
 * Continue the steps that completions left since this worker last looked
 * (tasks.c, sg_tasks_continue_left), every worker of the server once per
 * such commit (a statement that finds nothing elsewhere), rather than at
 * the next sweep, an interval later. A step whose thread was held (the
 * transaction that made the completion leave it may not have ended) is
 * looked at again within a second. *did: a run was queued.
 */
static void
continue_left_steps(bool *did)
{
	uint64		gen = read_gen(&shared->left_gen);
	bool		still_held;

	if (gen == left_seen && (left_retry_at == 0 || GetCurrentTimestamp() < left_retry_at))
		return;
	left_seen = gen;
	if (sg_tasks_continue_left(sg_sweep_limit, &still_held) > 0)
		*did = true;
	left_retry_at = still_held ? TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000) : 0;
}

/*
 * One iteration: run one due run, and sweep when a sweep is due. Returns
 * true if there may be more to do at once; *sleep_ms is how long to sleep
 * otherwise.
 *
 * After a run, the worker looks for the next one at once only if there
 * may be one: its claim passed over other due runs, the run's thread has
 * another run queued, a due run waits for a thread a client holds, or for
 * a share of its role's (its claim was refused one, or a claim was refused
 * the share this worker gave back: release_share), or a transaction that
 * woke workers committed since the claim (a submit, a cancel). Otherwise
 * it goes to sleep without one more transaction that would find nothing;
 * a wake-up that comes meanwhile sets its latch.
 */
static bool
worker_iteration(TimestampTz *last_sweep, long *sleep_ms)
{
	bool		did = false;
	bool		blocked = false;
	bool		held;
	long		due;
	uint64		gen = read_gen(&shared->work_gen);
	TimestampTz began = GetCurrentTimestamp();	/* before the claim looks for due runs */
	MemoryContext cxt = CurrentMemoryContext;	/* the loop's: outlives transactions */

	if (!start_worker_transaction())
		leave_without_extension();
	sg_spi_connect();
	sg_claim_left_more = sg_run_thread_next = false;
	look_again = false;
	held = sg_restore_holds(true);	/* a restore is loading the database (restore.c) */
	/*
	 * When the next delayed run is due, known before the claim: a worker
	 * that claims a run asks the launcher for a worker at that time
	 * (sg_worker_report_run), since it may still execute it then.
	 */
	if (!held)
		(void) next_due_ms(began);
	if (!held)
		did = sg_work_one(worker_commit, false, &blocked);
	else
		forget_refusal();
	if (did)
	{
		last_worked = GetCurrentTimestamp();
		/*
		 * Session-level advisory locks a node took (pg_advisory_lock) go
		 * with its run: kept by this worker, they would block the
		 * applications of every role until it exits. (The thread's own
		 * session lock is released already.)
		 */
		LockReleaseSession(USER_LOCKMETHOD);
	}
	if (did && sg_claim_left_more)
		wake_database(MyDatabaseId, WAKE_SUBMIT);	/* a backlog: another worker helps */
	else if (did && !blocked && !refused_in_claim && !look_again && !sg_run_thread_next && read_gen(&shared->work_gen) == gen)
		did = false;			/* nothing new since the claim */
	if (!held)
		continue_left_steps(&did);
	/* another worker of the database may have swept since: its round counts */
	SpinLockAcquire(&shared->mutex);
	if (!in_round && swept_entry(MyDatabaseId)->at > *last_sweep)
		*last_sweep = swept_entry(MyDatabaseId)->at;
	SpinLockRelease(&shared->mutex);
	/*
	 * A due sweep is taken after a run too: under a steady stream of runs
	 * the worker always has the next one, and finished runs piled up
	 * unswept. A round's batches thus alternate with runs. The next round
	 * is due an interval after this one started, also when an error cuts
	 * it short (a sweep that fails every time is not retried after every
	 * run).
	 */
	if (!held && (in_round || TimestampDifferenceExceeds(*last_sweep, GetCurrentTimestamp(),
														 sg_sweep_interval_s * 1000L))
		&& !(held = sg_restore_holds(true)))	/* the run's steps committed: asked again */
	{
		bool		more;
		bool		new_round = !in_round;

		if (new_round)
		{
			*last_sweep = GetCurrentTimestamp();
			SpinLockAcquire(&shared->mutex);
			swept_entry(MyDatabaseId)->at = *last_sweep;
			SpinLockRelease(&shared->mutex);
		}
		in_round = false;		/* until the batch is done: an error ends the round */
		pgstat_report_activity(STATE_RUNNING, "stategraph retention sweep");
		ctx_sweeping = true;
		(void) sg_sweep(sg_sweep_limit, new_round, &more);
		ctx_sweeping = false;
		in_round = more;
		if (more)
			did = true;			/* the round goes on at the next iteration, after any due run */
		/*
		 * The sweep made runs claimable (a waiting run ended by its task's
		 * expired lease, tasks.c end_waiting_run: its thread's next run is
		 * due): look for them at once, since no commit wakes its own
		 * worker; that run waited for the next sweep (TAP 099).
		 */
		if (queued_from != DT_NOEND)
			did = true;
	}
	due = did ? 0 : next_due_ms(began);
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
	if (held)
		*sleep_ms = 1000;		/* a restore goes on: its due runs wait for its end */
	if (left_retry_at != 0 && *sleep_ms > 1000)
		*sleep_ms = 1000;		/* a left step's thread was held: look again */
	if (*sleep_ms < 1)
		*sleep_ms = 1;
	return did;
}

/*
 * After an error escaped an iteration: roll back, and record it on the run
 * being executed, if any, in a new transaction (sg_run_failure). Returns
 * how long to sleep: nothing when the failure was recorded (the run is
 * delayed or ended; other runs are due), else a backoff that doubles with
 * every failure in a row, up to a minute.
 */
/* unrecorded errors since the last iteration that ended without one (recover's backoff) */
static int	failures_in_a_row = 0;

#define SG_READ_ONLY_RETRY_MS	10000	/* the longest a database's workers wait to reconnect read-only */
static bool read_only_before = false;	/* this worker started after one that left read-only */

/*
 * The worker's own statement (a claim, a sweep) failed for a read-only
 * transaction (25006) because the database's (or the server's)
 * default_transaction_read_only is on, which a session reads as it
 * connects: leave, and let the launcher start a worker again after a
 * backoff (1 s, 2 s, ... up to 10 s, the count kept per database in shared
 * memory), whose new connection reads the setting anew. The first worker,
 * which never leaves, stayed read-only for good: after ALTER DATABASE ...
 * RESET its database's runs stayed pending, a line logged every 10 s (TAP
 * 342). Logged once; the later tries at DEBUG1. Not on a hot standby,
 * where a new connection would be read-only all the same.
 */
static void
leave_read_only(ErrorData *edata)
{
	SGDbTime   *entry;
	int			n;
	long		delay;

	SpinLockAcquire(&shared->mutex);
	entry = swept_entry(MyDatabaseId);
	n = entry->read_only_exits = Min(entry->read_only_exits + 1, 16);
	delay = Min(1000L << Min(n - 1, 4), SG_READ_ONLY_RETRY_MS);
	(void) add_timed_want(MyDatabaseId, TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay));
	mark_leaving();
	SpinLockRelease(&shared->mutex);
	ereport(n == 1 ? LOG : DEBUG1,
			(errmsg("stategraph worker leaves database %u: %s", MyDatabaseId, edata->message),
			 errdetail("default_transaction_read_only is on for its session."),
			 errhint("A worker connects again every %d s at most, reading the database's settings anew: "
					 "runs wait until the setting is off.", SG_READ_ONLY_RETRY_MS / 1000)));
	proc_exit(0);				/* worker_exit wakes the launcher */
}

static long
recover(MemoryContext cxt)
{
	ErrorData  *edata;
	volatile bool recorded = false;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	/* as PostgresMain after an error: a step's timer (runs.c) that fired meanwhile cancels nothing more */
	disable_all_timeouts(false);
	QueryCancelPending = false;
	AbortOutOfAnyTransaction();
	LockReleaseSession(USER_LOCKMETHOD);	/* a failed run's too (see worker_iteration) */
	sg_worker_drop_role_share();
	hand_look_again();			/* (it may sleep a backoff first) */
	forget_refusal();
	/* the abort went back to the role its transaction started with: a run's submitter, maybe */
	SetUserIdAndSecContext(worker_user, worker_sec);
	sg_worker_search_path(false);	/* and to the path it started with: a run's, maybe */
	MemoryContextSwitchTo(cxt);
	pgstat_report_activity(STATE_IDLE, NULL);
	PG_TRY();
	{
		bookkeeping_only = true;
		if (!start_worker_transaction())
		{
			bookkeeping_only = false;
			leave_without_extension();
		}
		bookkeeping_only = false;
		recorded = sg_run_failure(edata);
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(cxt);
	}
	PG_CATCH();
	{
		bookkeeping_only = false;
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		SetUserIdAndSecContext(worker_user, worker_sec);
		MemoryContextSwitchTo(cxt);
		sg_run_unrecordable();
		recorded = false;
	}
	PG_END_TRY();
	if (!recorded && edata->sqlerrcode == ERRCODE_READ_ONLY_SQL_TRANSACTION && DefaultXactReadOnly &&
		!RecoveryInProgress())
		leave_read_only(edata);
	if (!recorded)
		ereport(LOG,
				(errmsg("stategraph worker of database %u: %s", MyDatabaseId, edata->message)));
	if (recorded)
	{
		failures_in_a_row = 0;
		return 0;
	}
	failures_in_a_row = Min(failures_in_a_row + 1, 7);
	ereport(DEBUG1,
			(errmsg_internal("stategraph worker backs off %ld ms (unrecorded errors in a row: %d)",
							 1000L << (failures_in_a_row - 1), failures_in_a_row)));
	return 1000L << (failures_in_a_row - 1);	/* 1 s, 2 s, ... 64 s */
}

/* worker_iteration, with an error that escapes it recovered from (recover()). */
static bool
guarded_iteration(TimestampTz *last_sweep, long *sleep_ms, MemoryContext cxt)
{
	volatile bool did = false;

	PG_TRY();
	{
		did = worker_iteration(last_sweep, sleep_ms);
		failures_in_a_row = 0;	/* the row is broken: the next error backs off 1 s again */
		if (read_only_before)
		{
			/* the database's workers are read-write again: the next read-only exit is logged */
			SpinLockAcquire(&shared->mutex);
			swept_entry(MyDatabaseId)->read_only_exits = 0;
			SpinLockRelease(&shared->mutex);
			read_only_before = false;
		}
	}
	PG_CATCH();
	{
		*sleep_ms = recover(cxt);
		did = *sleep_ms == 0;
	}
	PG_END_TRY();
	return did;
}

/*
 * This worker leaves (mutex held): no wake is for it any more. A run its
 * last claim was refused a share for is noted at once (note_left_refused),
 * not only in worker_exit: a share given back in between would otherwise
 * wake this worker, which does not look again.
 */
static void
mark_leaving(void)
{
	shared->slots[my_slot].leaving = true;
	if (OidIsValid(shared->slots[my_slot].refused_role) && shared->dropping != MyDatabaseId)
		note_left_refused(MyDatabaseId, shared->slots[my_slot].refused_role);
}

/*
 * Leave the slot to another database (share_slots): ask for a worker of
 * this database again at once (more: work is left) or when its next
 * delayed run or sweep is due (at).
 */
static void
give_slot_up(bool more, TimestampTz at)
{
	SpinLockAcquire(&shared->mutex);
	if (more || shared->slots[my_slot].woken)
		add_want(MyDatabaseId);	/* (woken: work committed since it looked) */
	else
		add_timed_want(MyDatabaseId, at);
	mark_leaving();				/* (its wants are made) */
	SpinLockRelease(&shared->mutex);
	proc_exit(0);				/* worker_exit wakes the launcher */
}

/*
 * An idle worker that is not its database's last leaves, unless a commit
 * woke it since it last looked for work (it would leave that work behind:
 * the committer counted on it). Leaving is decided under the lock that
 * committers take, and a leaving worker is not counted on any more.
 */
static void
leave_if_not_woken(TimestampTz sweep_at)
{
	bool		woken;

	SpinLockAcquire(&shared->mutex);
	woken = shared->slots[my_slot].woken;
	if (!woken)
	{
		/*
		 * The database's other workers may all be busy when its next
		 * delayed run or sweep is due: ask for a worker then, as a worker
		 * that gives its slot up does (a delayed run whose submit started
		 * this worker waited for the end of the first worker's run, slots
		 * free; TAP 341). The launcher starts none if one is idle then.
		 */
		add_timed_want(MyDatabaseId, known_due > 0 ? Min(known_due, sweep_at) : sweep_at);
		mark_leaving();
	}
	SpinLockRelease(&shared->mutex);
	if (!woken)
		proc_exit(0);
}

/* Has the launcher asked this idle worker to give its slot to another database (share_slots)? */
static bool
asked_to_leave(void)
{
	bool		leave;

	SpinLockAcquire(&shared->mutex);
	leave = shared->slots[my_slot].leave;
	SpinLockRelease(&shared->mutex);
	return leave;
}

/*
 * Should this busy worker, in its slot since since, give it up now? When a
 * database has none and it held it SG_SLICE_MS; one busy worker at a time
 * (the others go on until the launcher placed the waiting database).
 */
static bool
slice_over(TimestampTz since)
{
	bool		leave;

	if (!TimestampDifferenceExceeds(since, GetCurrentTimestamp(), SG_SLICE_MS))
		return false;
	SpinLockAcquire(&shared->mutex);
	leave = shared->starved && shared->yielder == 0;
	if (leave)
		shared->yielder = my_slot + 1;
	SpinLockRelease(&shared->mutex);
	return leave;
}

/*
 * Is this worker beyond stategraph.max_workers, lowered by a reload? The
 * workers of the lowest slots keep theirs; the others give theirs up.
 */
static bool
over_max_workers(void)
{
	int			below = 0;
	int			i;
	bool		over;

	SpinLockAcquire(&shared->mutex);
	for (i = 0; i < my_slot; i++)
		if (shared->slots[i].state == SLOT_STARTING ||
			(shared->slots[i].state == SLOT_RUNNING && !shared->slots[i].leaving))
			below++;
	over = below >= shared->max_workers;
	SpinLockRelease(&shared->mutex);
	return over;
}

/*
 * The search path of the worker's own statements, or (for_run) the
 * database's, that of a run (see the top). Set outside a transaction, or
 * within one whose abort goes back to the earlier path: the loop sets the
 * worker's again at every iteration, and after an error. It follows the
 * role (runs.c sets it where it takes the submitter's): what a worker
 * does as a run's submitter, its steps and also its stop, its rollback
 * and the record of its end, fires the database's triggers as a session
 * of the submitter would, with the database's search path (TAP 079).
 */
#define WORKER_SEARCH_PATH "pg_catalog, pg_temp"
void
sg_worker_search_path(bool for_run)
{
	if (my_slot < 0)
		return;					/* sg_work in a client session keeps its own */
	if (for_run)
		SetConfigOption("search_path", NULL, PGC_SUSET, PGC_S_SESSION);	/* RESET */
	else if (strcmp(namespace_search_path, WORKER_SEARCH_PATH) != 0)
		SetConfigOption("search_path", WORKER_SEARCH_PATH, PGC_SUSET, PGC_S_SESSION);
}

/*
 * The worker's synchronous_commit as stategraph.worker_sync_steps says:
 * off for the session, or (on) the server's and database's own again. Set
 * as the worker starts and at every reload: set only at the start, a
 * reload that turned the setting on left the workers running (the first
 * of each database never leaves) committing their steps asynchronously
 * (TAP 279_worker_sync_steps_reload).
 */
static void
apply_sync_steps(void)
{
	SetConfigOption("synchronous_commit", sg_worker_sync_steps ? NULL : "off", PGC_SUSET, PGC_S_SESSION);
}

/* The CONTEXT line of every message of a worker (see ctx_dbname). */
static void
worker_error_context(void *arg)
{
	if (ctx_dbname == NULL)
		return;
	if (ctx_has_run)
		errcontext("stategraph background run %s of thread \"%s\" in database \"%s\"",
				   ctx_run, ctx_thread, ctx_dbname);
	else if (ctx_sweeping)
		errcontext("stategraph retention sweep of database \"%s\"", ctx_dbname);
	else
		errcontext("stategraph worker of database \"%s\"", ctx_dbname);
}

/* Entry point of a worker of one database. */
void
sg_worker_main(Datum arg)
{
	ErrorContextCallback errcallback;
	Oid			dboid;
	MemoryContext loop_cxt;
	TimestampTz started = GetCurrentTimestamp();
	TimestampTz last_sweep;
	SGDbTime   *swept;

	my_slot = DatumGetInt32(arg);
	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	catch_up_on_reload();

	SpinLockAcquire(&shared->mutex);
	shared->slots[my_slot].state = SLOT_RUNNING;
	shared->slots[my_slot].pid = MyProcPid;
	shared->slots[my_slot].latch = MyLatch;
	shared->slots[my_slot].idle = false;
	shared->slots[my_slot].has_run = false;
	shared->slots[my_slot].waits = false;
	shared->slots[my_slot].role_held = false;
	shared->slots[my_slot].refused_role = InvalidOid;
	SpinLockRelease(&shared->mutex);
	before_shmem_exit(worker_exit, Int32GetDatum(my_slot));

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	/* the database's last sweep, by whichever worker (the first after one interval) */
	SpinLockAcquire(&shared->mutex);
	shared->slots[my_slot].connected = true;
	swept = swept_entry(dboid);
	if (swept->at == 0)
		swept->at = started;
	last_sweep = swept->at;
	read_only_before = swept->read_only_exits > 0;
	SpinLockRelease(&shared->mutex);
	GetUserIdAndSecContext(&worker_user, &worker_sec);
	pgstat_report_appname("stategraph worker");
	StartTransactionCommand();
	{
		char	   *name = get_database_name(dboid);

		ctx_dbname = MemoryContextStrdup(TopMemoryContext, name ? name : "?");
	}
	CommitTransactionCommand();
	/* at the bottom of the stack: every PG_TRY below restores it so */
	errcallback.callback = worker_error_context;
	errcallback.arg = NULL;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	apply_sync_steps();
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "stategraph worker loop", ALLOCSET_DEFAULT_SIZES);
	last_worked = GetCurrentTimestamp();

	for (;;)
	{
		long		sleep_ms = 0;
		bool		did;

		MemoryContextReset(loop_cxt);
		MemoryContextSwitchTo(loop_cxt);
		ResetLatch(MyLatch);
		ctx_sweeping = false;	/* (a sweep's error escaped it) */
		SpinLockAcquire(&shared->mutex);
		shared->slots[my_slot].woken = false;	/* it looks now */
		shared->slots[my_slot].woken_alone = false;
		SpinLockRelease(&shared->mutex);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			apply_sync_steps();
		}
		sg_worker_search_path(false);
		did = guarded_iteration(&last_sweep, &sleep_ms, loop_cxt);
		/*
		 * The tables' statistics of what it wrote, at most once a second
		 * (pgstat_report_stat does the timing): a background worker has no
		 * idle loop of a client backend to send them, and autovacuum, which
		 * goes by them, did not know of a worker's dead rows until it left.
		 */
		pgstat_report_stat(false);
		if (did && (slice_over(started) || over_max_workers()))
			give_slot_up(true, 0);
		if (did)
			continue;
		if (asked_to_leave() || over_max_workers())
			give_slot_up(false, Min(TimestampTzPlusMilliseconds(last_sweep, sg_sweep_interval_s * 1000L),
									TimestampTzPlusMilliseconds(GetCurrentTimestamp(), sleep_ms)));
		if (TimestampDifferenceExceeds(last_worked, GetCurrentTimestamp(), sg_worker_idle_timeout_s * 1000) &&
			!is_first_of_database())
			leave_if_not_woken(TimestampTzPlusMilliseconds(last_sweep, sg_sweep_interval_s * 1000L));
		sg_worker_drop_role_share();	/* (a run it claimed and did not execute) */
		set_idle(true);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(sleep_ms, sg_worker_idle_timeout_s * 1000L), PG_WAIT_EXTENSION);
		set_idle(false);
	}
}

/* A thread id's hash, as worker slots publish it. */
static uint64
thread_hash(const char *thread_id)
{
	return hash_bytes_extended((const unsigned char *) thread_id, strlen(thread_id), 0);
}

/*
 * The run this worker executes, holding its thread (NULL: none), for
 * pg_stat_activity and for claims (sg_worker_executes_run,
 * sg_worker_executes_thread). Cleared before the statement that records the
 * run's end, and so before the worker lets the thread go (runs.c,
 * execute_run): while it is set the thread is this worker's.
 */
void
sg_worker_report_run(const pg_uuid_t *run_id, const char *thread_id)
{
	Latch	   *waiters[SG_MAX_WAKES];
	int			nwaiters = 0;
	int			i;
	char		buf[NAMEDATALEN];
	TimestampTz now;
	Latch	   *launcher = NULL;

	if (my_slot < 0)
		return;					/* sg_work in a client session keeps its own name */
	ctx_has_run = run_id != NULL;
	if (run_id)
	{
		strlcpy(ctx_run, sg_uuid_to_cstring(run_id), sizeof(ctx_run));
		/* a thread id may be long: its start names it in a line of the log */
		strlcpy(ctx_thread, thread_id, pg_mbcliplen(thread_id, strlen(thread_id), sizeof(ctx_thread) - 1) + 1);
	}
	now = GetCurrentTimestamp();
	SpinLockAcquire(&shared->mutex);
	shared->slots[my_slot].has_run = run_id != NULL;
	if (run_id)
	{
		shared->slots[my_slot].run = *run_id;
		shared->slots[my_slot].thread_hash = thread_hash(thread_id);
		/*
		 * A delayed run due during this one: a worker then, should none
		 * be idle (this one was, and no other started for it; TAP 341).
		 */
		if (known_due > now && add_timed_want(MyDatabaseId, known_due))
			launcher = shared->launcher_latch;	/* (it sleeps until its earliest timed want) */
	}
	else
		nwaiters = release_share(waiters, true);	/* the run ends: its role's share is free */
	SpinLockRelease(&shared->mutex);
	for (i = 0; i < nwaiters; i++)
		SetLatch(waiters[i]);
	if (launcher)
		SetLatch(launcher);
	if (run_id)
		snprintf(buf, sizeof(buf), "stategraph run %s", sg_uuid_to_cstring(run_id));
	else
		snprintf(buf, sizeof(buf), "stategraph worker");
	pgstat_report_appname(buf);
	/*
	 * pg_stat_activity's state and query too: reported for sweeps only, a
	 * worker that had swept showed 'idle' and its sweep while it executed
	 * runs (TAP 280_worker_activity). The loop reports it idle again.
	 */
	if (run_id)
		pgstat_report_activity(STATE_RUNNING, buf);
}

/*
 * A share of the workers for the role of a run this worker is about to
 * claim (stategraph.max_workers_per_role): granted while fewer other
 * workers hold a run of that role, and then held by this slot until the
 * claim fails (sg_worker_drop_role_share) or the run ends
 * (sg_worker_report_run). Counted and taken under the slots' lock, so two
 * workers claiming at once cannot both take a role's last share. Always
 * granted outside a background worker (CALL sg_work executes its runs in
 * its caller's session) and with the setting 0, but taken all the same: a
 * reload that sets it counts the runs claimed before (TAP 115). Roles by
 * OID, not by name: a role renamed while its run executes is the same
 * role (TAP 116); a run whose owner names no role (InvalidOid) is ended
 * unexecuted by its claim (runs.c, sg_work_one), and counts for none.
 *
 * The share is server-wide, but each database has its own queue: a worker
 * that ended a run of the role took the role's next run of its database at
 * once, before the idle worker of another database that had been refused
 * a share for an older run looked again (within a second), and the role's
 * runs there waited for as long as it queued runs in the first (TAP 118).
 * So a worker refused a share that takes no run records the role and due
 * time of the first run its claim was refused for (refused_role, until
 * its next claim); a share is not granted for a run due later than such a
 * run of another database; and a worker that gives a share back wakes the
 * workers of other databases so refused (release_share), as does one
 * whose refusal goes (drop_refusal). Within a database, its queue keeps
 * the order.
 *
 * No worker polls for a share: one that gives its share back (its run
 * ends, is stopped or abandoned at its claim, the claim fails, an error,
 * the worker exits or dies: worker_exit) wakes the workers of other
 * databases refused it and one of its own database (release_share). A
 * refusal also marks the workers that hold the role's shares
 * (refusal_seen): the refused worker may take another run, or leave,
 * before the share frees; then the marked one claims again itself after
 * its run (look_again), or, if it does not go on, wakes an idle worker of
 * its database (TAP 119, 120, 122). A run of the role whose refused worker
 * left (idle, or its slot given to another database), or whose claim was
 * refused another role's share first, is noted with its database
 * (note_left_refused): the share's worker of another database wakes a
 * worker there, or has the launcher start one (TAP 135, 136). A worker
 * killed outright (SIGKILL)
 * makes the postmaster restart every process, and the new workers claim
 * as they start.
 *
 * A share also frees for waiting runs without a run's end: sg_reassign_owned
 * gives them to a role whose share is free, and its commit wakes a worker
 * of its database, as a submit's does (reassign.c, TAP 129); a reload
 * raises the setting (or sets it to 0), and every worker takes it up
 * (SIGHUP sets its latch: an idle one refused a share claims again), while
 * the launcher wants a worker for each database noted with a waiting run
 * no worker is left to take (want_for_raised_share, TAP 130).
 */
bool
sg_worker_take_role_share(Oid role, TimestampTz due)
{
	int			i,
				held = 0;
	bool		older = false;	/* a run of the role due before, refused in another database */
	bool		granted;

	if (my_slot < 0)
		return true;
	SpinLockAcquire(&shared->mutex);
	for (i = 0; sg_max_workers_per_role > 0 && OidIsValid(role) && i < SG_MAX_WORKERS; i++)
	{
		SGWorkerSlot *s = &shared->slots[i];

		if (i == my_slot || s->state != SLOT_RUNNING)
			continue;
		if (s->role_held && s->role == role)
			held++;
		if (s->refused_role == role && s->dboid != MyDatabaseId && s->refused_due < due)
			older = true;
	}
	granted = sg_max_workers_per_role <= 0 || (held < sg_max_workers_per_role && !older);
	if (granted)
	{
		shared->slots[my_slot].role_held = true;
		shared->slots[my_slot].role = role;
		shared->slots[my_slot].refusal_seen = false;
	}
	else
	{
		/* the workers holding the role's shares now look again once they give one back */
		for (i = 0; i < SG_MAX_WORKERS; i++)
			if (shared->slots[i].state == SLOT_RUNNING && shared->slots[i].role_held &&
				shared->slots[i].role == role)
				shared->slots[i].refusal_seen = true;
		if (!refused_in_claim)
		{
			shared->slots[my_slot].refused_role = role;
			shared->slots[my_slot].refused_due = due;
			refused_in_claim = true;
		}
		else if (role != shared->slots[my_slot].refused_role)
			note_left_refused(MyDatabaseId, role);	/* a second role: not in the slot (TAP 136) */
	}
	SpinLockRelease(&shared->mutex);
	return granted;
}

/*
 * Wake slot s (mutex held): put its latch in latches[*n], and mark it
 * woken, so that it looks again before it may leave (leave_if_not_woken).
 */
static void
wake_slot(SGWorkerSlot *s, Latch **latches, int *n)
{
	s->woken = true;
	latches[(*n)++] = s->latch;
}

/*
 * Give back this worker's share, if it holds one (mutex held), and put in
 * latches those of the workers to wake once the mutex is released;
 * returns how many. Those are the workers of other databases refused a
 * share of its role, and one worker of its database refused it, if there
 * is one (wake_mine). If there is none but a claim was refused the share
 * while this worker held it (refusal_seen: that claim took another run,
 * or its worker left, since), this worker claims again at once if it goes
 * on (goes_on: its run ended, look_again), or else wakes an idle worker
 * of its database. So no run of the role waits for a free share while the
 * workers sleep, also when this worker leaves or dies first (worker_exit,
 * hand_look_again_on), or its last commit waits.
 */
static int
release_share(Latch **latches, bool goes_on)
{
	SGWorkerSlot *me = &shared->slots[my_slot];
	bool		held = me->role_held && OidIsValid(me->role);
	bool		seen = held && me->refusal_seen;
	bool		refused_here = false;	/* a worker of this database is refused the share */
	int			n = 0;
	int			i;

	for (i = 0; held && i < SG_MAX_WORKERS; i++)
	{
		SGWorkerSlot *s = &shared->slots[i];

		if (i == my_slot || s->state != SLOT_RUNNING || s->latch == NULL || s->leaving ||
			s->refused_role != me->role)
			continue;
		if (s->dboid != me->dboid)
			wake_slot(s, latches, &n);
		else
			refused_here = true;
	}
	/* databases whose runs of the role wait with no worker refused them in its slot (note_left_refused) */
	for (i = 0; held && i < shared->nleft_refused; i++)
	{
		SGLeftRefused *l = &shared->left_refused[i];

		if (l->role != me->role)
			continue;
		if (l->dboid == me->dboid)
			seen = true;		/* as a refusal in this database: look again, or wake one */
		else
			n += wake_database_of(l->dboid, latches + n);
		shared->left_refused[i--] = shared->left_refused[--shared->nleft_refused];
	}
	me->role_held = false;
	me->refusal_seen = false;
	if (seen && goes_on && !refused_here)
		look_again = true;
	else if (seen || refused_here)
		n += wake_mine(latches + n);
	return n;
}

/*
 * Wake a worker of database dboid (mutex held) for a run of its that waits
 * for the share this worker gave back: an idle one, else a busy one (it
 * claims again after its run), else, if none is starting, have the
 * launcher start one. Put the latch to set in latches; returns 1, or 0.
 */
static int
wake_database_of(Oid dboid, Latch **latches)
{
	SGWorkerSlot *pick = NULL;
	int			n = 0;
	int			i;

	for (i = 0; i < SG_MAX_WORKERS; i++)
	{
		SGWorkerSlot *s = &shared->slots[i];

		if (s->dboid != dboid || s->state == SLOT_FREE || s->state == SLOT_EXITED)
			continue;
		if (s->state == SLOT_STARTING)
			return 0;			/* it claims as it starts */
		if (s->latch != NULL && !s->leaving && (pick == NULL || (s->idle && !pick->idle)))
			pick = s;
	}
	if (pick != NULL)
		wake_slot(pick, latches, &n);
	else
	{
		add_want(dboid);
		if (shared->launcher_latch != NULL)
			latches[n++] = shared->launcher_latch;
	}
	return n;
}

/*
 * Wake one worker of this database (mutex held) for the role of the share
 * this worker gave back: one refused that share if there is one, else an
 * idle one, else a busy one (it claims again after its run), those not
 * woken yet first, never one that is leaving (its latch would be lost).
 * Put its latch in latches; returns 1, or 0 if there is none.
 */
static int
wake_mine(Latch **latches)
{
	SGWorkerSlot *me = &shared->slots[my_slot];
	SGWorkerSlot *pick = NULL;
	int			best = -1;
	int			n = 0;
	int			i;

	for (i = 0; i < SG_MAX_WORKERS; i++)
	{
		SGWorkerSlot *s = &shared->slots[i];
		int			rank;

		if (i == my_slot || s->state != SLOT_RUNNING || s->latch == NULL || s->leaving ||
			s->dboid != me->dboid)
			continue;
		rank = s->refused_role == me->role ? 4 : s->idle ? 2 : 0;
		if (!s->woken)
			rank++;
		if (rank > best)
			pick = s, best = rank;
	}
	if (pick != NULL)
		wake_slot(pick, latches, &n);
	return n;
}

/*
 * This worker gave a share back at its run's end to claim again
 * (look_again), but does not (it exits, or sleeps a backoff after an
 * error): wake another of its database instead (mutex held; latches and
 * the count as release_share's).
 */
static int
hand_look_again_on(Latch **latches)
{
	int			n = 0;

	if (look_again)
		n = wake_mine(latches);
	look_again = false;
	return n;
}

/*
 * Forget this worker's refusal (mutex held), and put in latches those of
 * the workers of other databases refused a share of the same role, to set
 * once the mutex is released (returns how many): a share may be theirs
 * now that no run waits for it here (sg_worker_take_role_share).
 */
static int
drop_refusal(Latch **latches)
{
	SGWorkerSlot *me = &shared->slots[my_slot];
	int			n = 0;
	int			i;

	for (i = 0; OidIsValid(me->refused_role) && i < SG_MAX_WORKERS; i++)
	{
		SGWorkerSlot *s = &shared->slots[i];

		if (i != my_slot && s->state == SLOT_RUNNING && s->latch != NULL &&
			s->dboid != me->dboid && s->refused_role == me->refused_role)
			wake_slot(s, latches, &n);
	}
	me->refused_role = InvalidOid;
	return n;
}

/*
 * A run of role waits in database dboid for a share, and no worker's slot
 * records it (refused_role): its refused worker left (worker_exit), or took
 * another run (sg_worker_claim_end), or its claim was refused a share of
 * another role first. Noted (mutex held)
 * until the role's share frees (release_share) or a claim in dboid begins
 * (sg_worker_claim_begin), and wanted by a reload that raises the share
 * (want_for_raised_share); with no room, a worker of dboid is asked for.
 */
static void
note_left_refused(Oid dboid, Oid role)
{
	int			i;

	for (i = 0; i < shared->nleft_refused; i++)
		if (shared->left_refused[i].dboid == dboid && shared->left_refused[i].role == role)
			return;
	if (shared->nleft_refused < SG_MAX_WORKERS)
	{
		shared->left_refused[shared->nleft_refused].dboid = dboid;
		shared->left_refused[shared->nleft_refused++].role = role;
	}
	else
		add_want(dboid);
}

/* Give back this worker's share, if any, and wake whom release_share says (goes_on: see there). */
static void
give_share_back(bool goes_on)
{
	Latch	   *waiters[SG_MAX_WAKES];
	int			n;
	int			i;

	if (my_slot < 0)
		return;
	SpinLockAcquire(&shared->mutex);
	n = release_share(waiters, goes_on);
	SpinLockRelease(&shared->mutex);
	for (i = 0; i < n; i++)
		SetLatch(waiters[i]);
}

/* Give back the share of a run this worker claimed and does not execute. */
void
sg_worker_drop_role_share(void)
{
	give_share_back(false);
}

/* recover: hand_look_again_on, the mutex taken. */
static void
hand_look_again(void)
{
	Latch	   *waiters[1];
	int			n;

	SpinLockAcquire(&shared->mutex);
	n = hand_look_again_on(waiters);
	SpinLockRelease(&shared->mutex);
	if (n > 0)
		SetLatch(waiters[0]);
}

/*
 * A claim begins (runs.c, claim_run): no share held, none refused yet; the
 * runs of this database noted waiting for a share are this claim's to take
 * or to be refused (note_left_refused).
 */
void
sg_worker_claim_begin(void)
{
	int			i;

	sg_worker_drop_role_share();	/* of a run claimed before and not executed (stopped at once) */
	refused_in_claim = false;
	if (my_slot < 0)
		return;
	SpinLockAcquire(&shared->mutex);
	for (i = 0; i < shared->nleft_refused; i++)
		if (shared->left_refused[i].dboid == MyDatabaseId)
			shared->left_refused[i--] = shared->left_refused[--shared->nleft_refused];
	SpinLockRelease(&shared->mutex);
}

/*
 * No run waits for a share in this worker's name any more: its claim took
 * a run, or was refused none, or it does not claim (a restore holds its
 * database, an error): the runs of the role in other databases are not
 * held back for a run it does not take.
 */
static void
forget_refusal(void)
{
	Latch	   *waiters[SG_MAX_WORKERS];
	int			n;
	int			i;

	SpinLockAcquire(&shared->mutex);
	n = drop_refusal(waiters);
	SpinLockRelease(&shared->mutex);
	for (i = 0; i < n; i++)
		SetLatch(waiters[i]);
}

/*
 * A claim ends (runs.c, claim_run): its refusal is kept if it took no run.
 * If it took another run, the run refused waits with no worker's slot
 * recording it: noted (note_left_refused), so that a reload that raises
 * the share has a worker started for it while this one is busy (TAP 130),
 * and a worker of another database that gives the share back wakes one
 * here.
 */
void
sg_worker_claim_end(bool took_run)
{
	if (my_slot < 0 || (refused_in_claim && !took_run))
		return;
	if (refused_in_claim)
	{
		SpinLockAcquire(&shared->mutex);
		note_left_refused(MyDatabaseId, shared->slots[my_slot].refused_role);
		SpinLockRelease(&shared->mutex);
	}
	forget_refusal();
}

/*
 * Is run_id (when given) or else a run of thread_id being executed by a
 * live background worker of this database? Then a claim may leave a run behind
 * claim_from: the run so executed ends with a commit of its worker, which
 * lowers claim_from to its thread's next run (runs.c, record_step), or the
 * worker leaves during it and lowers claim_from to the start (worker_exit);
 * a run of its thread waits for it. An executor this does not know (CALL
 * sg_work, a client session holding a thread) is never passed. (A 64-bit
 * hash of the thread id: a collision is as likely as a guessed uuid.)
 */
static bool
worker_executes(const pg_uuid_t *run_id, const char *thread_id)
{
	uint64		hash = run_id ? 0 : thread_hash(thread_id);
	int			i;
	bool		found = false;

	if (shared == NULL)
		return false;
	SpinLockAcquire(&shared->mutex);
	for (i = 0; i < SG_MAX_WORKERS && !found; i++)
	{
		SGWorkerSlot *s = &shared->slots[i];

		found = s->state == SLOT_RUNNING && s->has_run && s->dboid == MyDatabaseId &&
			(run_id ? memcmp(&s->run, run_id, sizeof(pg_uuid_t)) == 0 : s->thread_hash == hash);
	}
	SpinLockRelease(&shared->mutex);
	return found;
}

/* Is this session a stategraph background worker (whose runs claims may pass, worker_executes)? */
bool
sg_in_background_worker(void)
{
	return my_slot >= 0;
}

/* Is run_id being executed by a live background worker? (worker_executes) */
bool
sg_worker_executes_run(const pg_uuid_t *run_id)
{
	return worker_executes(run_id, NULL);
}

/* Is a run of thread_id being executed by a live background worker? (worker_executes) */
bool
sg_worker_executes_thread(const char *thread_id)
{
	return worker_executes(NULL, thread_id);
}

/*
 * This transaction ended a run: once it commits, claims read the queue
 * from due at the latest, the due time of the thread's next run, which
 * claims may have passed while it waited for this one (claim_run).
 */
void
sg_run_next_due_at_commit(TimestampTz due)
{
	queued_from = Min(queued_from, due);
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
							"Threads, finished runs and finished tasks one batch of a retention sweep removes at most.",
							"Each batch is its own transaction; a sweep takes batch after batch until nothing expired is left.", &sg_sweep_limit, 1000, 1, INT_MAX, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("stategraph.run_retention",
							"How long finished runs and tasks stay listed by sg_runs and sg_tasks.",
							NULL, &sg_run_retention_s, 7 * 24 * 3600, 0, INT_MAX, PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("stategraph.max_run_recoveries",
							"Times in a row a background run is taken up again after its worker ended during it, with no step committed in between.",
							"Then the run ends with status error (SQLSTATE SG014): a node that crashes the server "
							"or ends its own backend does not make the run restart for ever.",
							&sg_max_run_recoveries, 20, 0, INT_MAX, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("stategraph.worker_sync_steps",
							 "Background workers wait for the WAL flush of every step's commit.",
							 "Off: the workers commit steps asynchronously (synchronous_commit = off), the end of a "
							 "run durably; a crash may then lose the last steps of a run, which is taken up again "
							 "from its last durable step: a node's effects are lost with its step, so they still "
							 "happen once.",
							 &sg_worker_sync_steps, false, PGC_SIGHUP, 0, NULL, NULL, NULL);
	RegisterXactCallback(xact_callback, NULL);
	RegisterResourceReleaseCallback(release_callback, NULL);
	sg_runs_init();

	/* without the preload there are no workers, nor their setting */
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomIntVariable("stategraph.max_workers_per_role",
							"Background workers that execute runs of one role at once, server-wide (0: no limit).",
							"A role's runs beyond it wait, in their order, while other roles' runs take the free workers; "
							"CALL sg_work() in a session is not counted.",
							&sg_max_workers_per_role, 0, 0, SG_MAX_WORKERS, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("stategraph.max_workers",
							"Background workers that execute runs, server-wide (runs at once).",
							"A reload takes a new value up: raised, more workers start for the runs that wait; lowered, "
							"the workers beyond it leave after their runs. Each is a background worker process, "
							"counted in max_worker_processes.",
							&sg_max_workers, 4, 1, SG_MAX_WORKERS, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("stategraph.worker_idle_timeout",
							"How long an idle background worker waits for work before it leaves.",
							"The first worker of a database stays; the others leave once idle this long, and start "
							"again when runs wait.",
							&sg_worker_idle_timeout_s, 10, 1, 24 * 3600, PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = utility_hook;

	/*
	 * No launcher while pg_upgrade runs a server (binary upgrade mode), as
	 * pg_cron: pg_upgrade reads the old cluster's next transaction and
	 * multixact IDs before it starts that cluster to dump it, and a worker
	 * that claimed a run meanwhile left the run's row with IDs the new
	 * cluster then counted as not made yet ("MultiXactId 1 has not been
	 * created yet", TAP 003); the new cluster's runs wait for its data.
	 */
	if (IsBinaryUpgrade)
		return;
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
