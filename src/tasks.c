/*-------------------------------------------------------------------------
 *
 * tasks.c
 *		External nodes: tasks handed to application workers (sg_claim,
 *		sg_heartbeat, sg_complete, sg_fail, sg_interrupt_task, sg_tasks) and
 *		the sweep that finds expired leases.
 *
 * A super-step that reaches an external node queues one row in
 * stategraph.tasks per task (executor.c calls sg_task_sync) and stops with
 * the thread 'waiting'. The row's task_id is the task's id in its
 * checkpoint, so it is the same for every attempt and for every later call
 * that continues the step: workers use it as their idempotency key.
 *
 * Claim. sg_claim takes visible 'queued' rows of one queue with FOR UPDATE
 * SKIP LOCKED (two workers never get one task), counts an attempt and gives
 * each a new token and a lease. Every later call of the worker names the
 * task and that token: the token is the fence. A newer claim replaces it,
 * so a worker that lost its lease can change nothing (SG010); a cancelled
 * task refuses everything (SG011). A lease that expired without anyone
 * claiming the task again leaves the token in place, so a slow worker's
 * correct result is still accepted (a paid model call is not thrown away),
 * even after the attempts ran out and the failure was recorded: the
 * failure is then taken back (and the heartbeat of that claim says go
 * on). The same completion twice is a no-op, as is the same interrupt
 * twice (while the task waits for its answer).
 *
 * Leases. The sweep (sweep_leases: run by sg_claim, by the server's sweep,
 * that is background workers every stategraph.sweep_interval and CALL
 * sg_work(), and by stategraph.sweep_leases()) takes expired claims with
 * SKIP LOCKED, counts the lost attempt and makes the task visible again
 * after the node's backoff (backoff_ms doubled per attempt); when attempts
 * are spent, it records a node failure on the thread exactly as a failing
 * SQL node does (pending error, thread status 'error'), and a resume queues
 * the task again. A long poll sweeps only its own queue's retries whose
 * backoff is over, and each of its looks is a subtransaction kept only
 * when it claims: its transaction stays open while it waits, and must
 * hold no task row meanwhile (a late completion would wait for it).
 *
 * Results. A completion stores the (reducer-checked) update in the task
 * row, in one UPDATE in the common case (claimed under this token). When
 * it was the step's last task out, the step goes on: a background run of
 * the thread is made pending (its worker continues it); without one,
 * sg_complete continues the step itself, in the completion's transaction,
 * as sg_invoke(graph, NULL, thread) would: one round trip and one commit
 * per finished external step. It counts the recursion limit of the call
 * that left the thread waiting (kept on the task rows: recursion_limit,
 * last_step) on from where that call began, as a background run counts
 * its own across its waits; a step it leaves (leave_step) is noted with
 * that limit, which the owner's run that goes on with it counts (runs.c,
 * sg_submit_for_owner): where an agent loop stops does not depend on
 * whether its completions could go on in-line. The completing UPDATE
 * also says where the step stands; a completion that saw other tasks of its step out looks
 * again under a lock of the step, so that the last one always knows it is
 * last (under REPEATABLE READ with the latest snapshot: see step_state);
 * the thread is taken without waiting (a session holding it takes
 * the result itself). A failure or an interrupt edits the pending writes of
 * the step's checkpoint and the thread's status, under the thread's lock,
 * taken before the task row's lock (the order a continuing run and
 * sg_reassign_owned use), as a late completion that takes back a recorded
 * failure does too, so they never deadlock; a background run waiting for the step then ends
 * 'error' or 'interrupted', as it would for a SQL node.
 *
 * Waking workers. Queueing work sends NOTIFY stategraph_tasks with the queue
 * name, at the commit (note_new_work: a transaction that notified could not
 * be prepared; COMMIT PREPARED notifies every queue with queued work, and
 * wakes every long poll); with the library preloaded, the commit also sets the latch of every
 * backend waiting in sg_claim(wait => ...) on that queue (a slot per backend
 * in shared memory), so a long poll returns within a millisecond of the
 * commit. Without the preload the long poll checks every 10 ms. The latches
 * are set where every other wake of a commit is (worker.c, once the commit
 * has sent its invalidation messages and released its locks), so a woken
 * long poll takes the task at once instead of finding it still out of reach
 * and sleeping until its next poll.
 *
 * Stale tasks. A task whose node is no longer an external node of its
 * graph (compiled again, or dropped), or whose graph is no longer the one
 * its step ran (another generation, graphs.gen: dropped and created again,
 * by anyone), can never have its result taken.
 * sg_compile cancels such tasks, but row-level security shows it only its
 * own and its members' threads; so every call that hands out or takes a
 * task asks the backend's cache of each graph's external nodes (graph.c:
 * no statement once a graph is cached) whether the task's node is still
 * external, in the same generation: sg_claim cancels a stale task instead
 * of handing it out, a heartbeat cancels it and says stop, a completion,
 * failure or interrupt is refused as a cancelled task's, the lease sweep
 * cancels it. The run that waited for it goes on as after sg_compile's
 * cancel. Such a cancel holds the task row and then waits for the
 * thread's row (thread_idle_if_nothing_out), against the order of every
 * writer (the thread, then its tasks): with a session that holds the
 * thread and wants the task row it is a deadlock PostgreSQL detects, one
 * call fails (40P01). Skipping a held thread instead left it 'waiting'
 * for ever when its holder only read it or rolled back.
 *
 * Who may work a task: stategraph.may_work(owner, queue), the row-level
 * security policy of stategraph.tasks (the install script explains it).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/portal.h"

PG_FUNCTION_INFO_V1(sg_claim);
PG_FUNCTION_INFO_V1(sg_heartbeat);
PG_FUNCTION_INFO_V1(sg_complete);
PG_FUNCTION_INFO_V1(sg_fail);
PG_FUNCTION_INFO_V1(sg_interrupt_task);
PG_FUNCTION_INFO_V1(sg_tasks);
PG_FUNCTION_INFO_V1(sg_sweep_leases);

/*
 * libpq/libpq.h's, which cannot be included here: its libpq-be.h needs the
 * GSSAPI headers of a server built with GSSAPI, which may not be installed
 */
extern bool pq_check_connection(void);

#define NOTIFY_CHANNEL		"stategraph_tasks"
#define POLL_MS_NO_SHMEM	10		/* long poll without the preload */
#define POLL_MS_SHMEM		250		/* with it: only for tasks whose backoff ends */
#define SWEEP_EVERY_MS		100		/* sg_claim sweeps at most this often per backend */
#define MAX_BACKOFF_MS		3600000
#define STEP_LOCK_FIELD4	0x5354	/* a step's completions ('ST'; thread locks use 0x5347) */

/* The statuses of a task still out: its step waits for it (... OPERATOR(pg_catalog.=) TASK_OUT). */
#define TASK_OUT "ANY (ARRAY['queued', 'claimed', 'interrupted', 'failed'])"

/* What an UPDATE of stategraph.tasks t that cancels tasks sets. */
#define CANCEL_TASKS \
	"UPDATE stategraph.tasks t SET status = 'cancelled', lease_expires_at = NULL, " \
	"finished_at = pg_catalog.now(), updated_at = pg_catalog.now() "

/* The columns of a task row as fetch_row reads them. */
enum
{
	TC_TASK_ID = 1, TC_QUEUE, TC_GRAPH, TC_THREAD_ID, TC_CHECKPOINT_ID, TC_NODE, TC_STEP,
	TC_STATUS, TC_ATTEMPT, TC_MAX_ATTEMPTS, TC_BACKOFF_MS, TC_TOKEN, TC_RESULT,
	TC_RESUME_VALUES, TC_LOST, TC_LEASE_MS, TC_WORKER, TC_HANDED_BACK, TC_GRAPH_GEN,
	TC_RECURSION_LIMIT, TC_LAST_STEP
};

#define TASK_COLUMNS "task_id, queue, graph, thread_id, checkpoint_id, node, step, status, attempt, " \
	"max_attempts, backoff_ms, token, result, resume_values, lost, " \
	"COALESCE(claim_lease, lease), worker, " \
	"COALESCE(status OPERATOR(pg_catalog.=) 'queued' AND (error OPERATOR(pg_catalog.->>) 'name') " \
	"OPERATOR(pg_catalog.=) 'external_task_error', false), graph_gen, recursion_limit, last_step"

typedef struct TaskRow
{
	char	   *task_id;
	char	   *queue;
	char	   *graph;
	char	   *thread_id;
	pg_uuid_t	checkpoint_id;
	char	   *node;
	int			step;
	char	   *status;
	int			attempt;
	int			max_attempts;
	int			backoff_ms;
	bool		has_token;
	pg_uuid_t	token;
	Jsonb	   *result;
	Jsonb	   *resume_values;
	bool		lost;
	int64		lease_ms;		/* what a heartbeat extends by: the claim's lease, else the node's */
	char	   *worker;
	bool		handed_back;	/* queued again by its token's own sg_fail: that claim is over */
	bool		has_graph_gen;	/* false: a row the executor did not queue (not checked) */
	int64		graph_gen;		/* graphs.gen of the graph whose step queued it */
	bool		has_last_step;	/* false: queued before 0.2.0's count (continue_step) */
	int			recursion_limit;	/* of the run that last ran its step */
	int			last_step;		/* the last step that run's limit allows */
	bool		thread_held;	/* this call holds its thread's row (lock_task_thread): record_on_thread */
} TaskRow;


/* ---------------------------------------------------------------------------
 * Waking long polls at commit (worker.c keeps the waiters, under the preload)
 * ---------------------------------------------------------------------------
 */

static int64 last_sweep_ms = 0;

/* Cancels made by cancel_stale, counted for a long poll's look (claim_look). */
static uint64 stale_cancels = 0;

SGStepReadyHook sg_step_ready_hook = NULL;

/* The task whose completion sg_complete is continuing the step with (continue_step). */
static struct
{
	const char *task_id;		/* NULL: none */
	Jsonb	   *result;
}			done_task;

/* The hash a waiter slot keeps of its queue's name. */
static uint32
queue_hash(const char *queue)
{
	return hash_bytes((const unsigned char *) queue, strlen(queue));
}

/*
 * The queues this transaction queued work on, each once, and the
 * subtransaction that queued it (first: sg_subxact_ended), in
 * TopTransactionContext. Their NOTIFY is sent at XACT_EVENT_PRE_COMMIT
 * (before PreCommit_Notify), not when the work is queued: a transaction
 * that has called Async_Notify cannot be prepared (0A000), and one that
 * queues or re-queues a task (sg_invoke, sg_claim's lease sweep, sg_fail
 * with retry, a resume) must be. A prepared transaction forgets them:
 * COMMIT PREPARED notifies every queue with queued work
 * (sg_tasks_prepared_committed).
 */
typedef struct NotifyQueue
{
	SubTransactionId subid;
	char		queue[FLEXIBLE_ARRAY_MEMBER];
} NotifyQueue;

static List *notify_queues = NIL;
static bool notify_callbacks_registered = false;

static void
notify_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_PRE_COMMIT)
	{
		ListCell   *lc;

		foreach(lc, notify_queues)
			Async_Notify(NOTIFY_CHANNEL, ((NotifyQueue *) lfirst(lc))->queue);
	}
	/* PRE_PREPARE too: COMMIT PREPARED sends them (sg_tasks_prepared_committed) */
	if (event != XACT_EVENT_PARALLEL_PRE_COMMIT)
		notify_queues = NIL;
}

static void
notify_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	notify_queues = sg_subxact_ended(notify_queues, event, mySubid, parentSubid, pfree);
}

/* Work for queue was committed by this transaction: tell workers at commit. */
static void
note_new_work(const char *queue)
{
	ListCell   *lc;
	NotifyQueue *nq;

	sg_queue_wake_at_commit(queue_hash(queue));
	if (!notify_callbacks_registered)
	{
		RegisterXactCallback(notify_xact_callback, NULL);
		RegisterSubXactCallback(notify_subxact_callback, NULL);
		notify_callbacks_registered = true;
	}

	/*
	 * Once is enough: every entry is of this subtransaction or of one that
	 * encloses it (a committed one's passed to its parent), so goes only
	 * if this one's would
	 */
	foreach(lc, notify_queues)
		if (strcmp(((NotifyQueue *) lfirst(lc))->queue, queue) == 0)
			return;
	nq = MemoryContextAlloc(TopTransactionContext, offsetof(NotifyQueue, queue) + strlen(queue) + 1);
	nq->subid = GetCurrentSubTransactionId();
	strcpy(nq->queue, queue);
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		notify_queues = lappend(notify_queues, nq);
		MemoryContextSwitchTo(old);
	}
}

/*
 * COMMIT PREPARED committed a transaction of this database (worker.c): what
 * it queued is not known here, its NOTIFYs were dropped at its PREPARE
 * (notify_xact_callback). So every queue with queued work, as this
 * session's role sees them, is notified at this commit (long polls are
 * woken for every queue by worker.c). A LISTENer may hear of a queue
 * whose work it knew of already: workers take a notification as a hint.
 * A failure here is a warning: the prepared transaction has committed.
 */
void
sg_tasks_prepared_committed(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		uint64		i;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute("SELECT DISTINCT queue FROM stategraph.tasks "
						"WHERE status OPERATOR(pg_catalog.=) 'queued'", false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the queues of queued tasks");
		for (i = 0; i < SPI_processed; i++)
			Async_Notify(NOTIFY_CHANNEL, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		SPI_finish();
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("could not notify stategraph_tasks of the work of the prepared transaction: %s",
						edata->message)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
}

/* Put this backend in (or take it out of) the long-pollers of queue. */
static void
set_waiting(const char *queue)
{
	sg_queue_wait_set(queue ? queue_hash(queue) : 0, queue != NULL);
}

/* ---------------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------------
 */

/*
 * An interval in whole milliseconds (a month as 30 days and a day as 24
 * hours, as PostgreSQL compares intervals), a fraction of a millisecond
 * rounded away from zero. Every duration argument (a lease, sg_claim's
 * wait, sg_wait's timeout, CALL sg_work's max_time, a heartbeat's extend)
 * is counted by this one rule: a positive interval is at least 1 ms and a
 * negative one at most -1 ms, never taken as 0 (a lease of '0.5 ms' was
 * refused as not positive, a wait of '-0.5 ms' taken as 0), as pg_sleep
 * rounds a fraction of a millisecond up rather than not sleeping.
 */
int64
sg_interval_ms(Interval *iv)
{
	int64		ms = iv->time / 1000 + ((int64) iv->day + (int64) iv->month * 30) * 86400000;
	int64		us = iv->time % 1000;	/* the fraction, of time's sign */

	if (us > 0 && ms >= 0)
		ms++;					/* 0.5 ms: 1; 1 day 0.5 ms: 1 day 1 ms */
	else if (us < 0 && ms <= 0)
		ms--;					/* -0.5 ms: -1 */
	/* otherwise the fraction is inside a whole millisecond of the other sign */
	return ms;
}

/*
 * Is an interval negative in total (as PostgreSQL compares intervals, a
 * month as 30 days and a day as 24 hours)? '1 day -1 hour' (what interval
 * '1 day' - interval '1 hour' gives) is 23 hours, not negative.
 */
bool
sg_interval_negative(Interval *iv)
{
	return sg_interval_ms(iv) < 0;
}

#define SG_SAFE_INTERVAL_MS	(INT64CONST(5000) * 365 * 86400000)	/* 5,000 years: in range either way */

/*
 * Is now() plus (minus, when subtract) iv a timestamp? Far below the
 * limits (the usual case) without more ado; otherwise PostgreSQL's own
 * arithmetic (calendar months) tries it in a subtransaction, in UTC as the
 * statements that add it do (SG_UTC_SHIFT).
 */
static bool
interval_in_range(Interval *iv, bool subtract)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	/*
	 * PostgreSQL adds the months first, then the days, then the time: each
	 * step must stay in range, not only the total ('7000 years -1095000
	 * days' is some 3,900 years, and now() minus its months is before 4713
	 * BC). The sizes of the parts added up (a month counted as 31 days)
	 * bound every step. The sum cannot overflow: at most 2^31 months
	 * (5.8e18 ms), 2^31 days (1.9e17 ms) and 9.3e15 ms of time, under 2^63.
	 */
	if (Abs((int64) iv->month) * 31 * INT64CONST(86400000) + Abs((int64) iv->day) * INT64CONST(86400000) +
		Abs(iv->time / 1000) < SG_SAFE_INTERVAL_MS)
		return true;
	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		(void) DirectFunctionCall2(subtract ? timestamp_mi_interval : timestamp_pl_interval,
								   TimestampTzGetDatum(GetCurrentTimestamp()), IntervalPGetDatum(iv));
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ok;
}

/*
 * An interval argument (name) that is added to now() (a delay, a lease) or
 * subtracted from it (an age, a ttl): a clear error naming it, before
 * anything is stored, when the result is past timestamptz's range (the
 * generic "timestamp out of range" came from inside a statement of ours).
 */
void
sg_check_interval_range(Interval *iv, bool subtract, const char *name)
{
	/*
	 * Its shortest length on the calendar, in days: its months' shortest
	 * span when months add (12 of them at least 365 days, 2 at least 59),
	 * their longest when they take away. The caller refused an interval
	 * negative in total (sg_interval_negative, months as 30 days), so
	 * '1 month -1 day' (27 days at least) is fine, and '1 year -350 days'
	 * (15); but '-2 mon 61 days' counts as one day there, while now() minus
	 * it is tomorrow (a ttl of it deleted threads a moment old, an after of
	 * it did not delay): its sign depends on the month it is counted from.
	 */
	static const int shortest_months[12] = {0, 28, 59, 89, 120, 150, 181, 212, 242, 273, 303, 334};
	static const int longest_months[12] = {0, 31, 62, 92, 123, 153, 184, 215, 245, 276, 306, 337};
	int64		months = Abs((int64) iv->month);
	double		month_days = iv->month > 0 ?
		(double) (months / 12) * 365 + shortest_months[months % 12] :
		-((double) (months / 12) * 366 + longest_months[months % 12]);
	double		shortest = month_days + iv->day + (double) iv->time / USECS_PER_DAY;

	if (iv->month != 0 && shortest < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", name),
				 errdetail("Its months and days (or time) have opposite signs, and counted from some dates it is negative: now() %s %s would go the other way.",
						   subtract ? "-" : "+", name),
				 errhint("Pass it in days, or in months and days of one sign.")));
	if (!interval_in_range(iv, subtract))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s is out of range", name),
				 subtract ?
				 errdetail("now() - %s would be before the earliest timestamp (4713 BC).", name) :
				 errdetail("now() + %s would be past the latest timestamp (294276 AD).", name),
				 errhint("Pass a shorter interval.")));
}

/* An interval of ms milliseconds. */
static Interval *
ms_interval(int64 ms)
{
	Interval   *iv = palloc0(sizeof(Interval));

	iv->time = ms * 1000;
	return iv;
}

/* A uuid Datum of its own (the caller's may not outlive the call). */
static Datum
uuid_datum(const pg_uuid_t *id)
{
	pg_uuid_t  *copy = palloc(sizeof(pg_uuid_t));

	memcpy(copy, id, sizeof(pg_uuid_t));
	return UUIDPGetDatum(copy);
}

/* Prepare (once, kept) and run a statement; returns SPI_processed (spi.c). */
static uint64
run_sql(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types, Datum *values,
		const char *nulls, long count)
{
	return sg_spi_execute(sg_spi_prepare(plan, sql, nargs, types), values, nulls, count);
}

/*
 * run_sql of a statement that writes notes of steps left on behalf of the
 * steps' owners (leave_step's, the sweep's putting back a note it keeps):
 * the trigger owner_writes lets them through (sg_leaving_step).
 */
static uint64
run_note_sql(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types, Datum *values,
			 const char *nulls)
{
	uint64		n;

	sg_leaving_step = true;
	PG_TRY();
	{
		n = run_sql(plan, sql, nargs, types, values, nulls, 0);
	}
	PG_FINALLY();
	{
		sg_leaving_step = false;
	}
	PG_END_TRY();
	return n;
}

/*
 * Prepare (and keep) a statement whose generic plan is right for every
 * parameter value: it is run as is, never planned again per call (the
 * plan cache would otherwise keep planning custom plans for a statement
 * whose generic cost it cannot compare well, sg_claim's for one).
 */
static SPIPlanPtr
generic_plan(const char *sql, int nargs, Oid *types)
{
	MemoryContext cxt = CurrentMemoryContext;
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);

	MemoryContextSwitchTo(cxt);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare_cursor failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/* How long to wait before attempt + 1: backoff_ms doubled per attempt. */
static int64
backoff_ms(int base, int attempt)
{
	int64		ms = (int64) base << Min(Max(attempt - 1, 0), 20);

	return Min(ms, MAX_BACKOFF_MS);
}

/* Column col (int4 or int8) of a result row; 0 when null. */
static int64
int_col(HeapTuple t, TupleDesc d, int col)
{
	bool		isnull;
	Datum		v = SPI_getbinval(t, d, col, &isnull);

	if (isnull)
		return 0;
	return TupleDescAttr(d, col - 1)->atttypid == INT8OID ? DatumGetInt64(v) : DatumGetInt32(v);
}

/* Column col (jsonb) of a result row, copied, or NULL. */
static Jsonb *
jsonb_col(HeapTuple t, TupleDesc d, int col)
{
	bool		isnull;
	Datum		v = SPI_getbinval(t, d, col, &isnull);

	return isnull ? NULL : DatumGetJsonbPCopy(v);
}

/* A task row read by the TASK_COLUMNS list. */
static TaskRow *
row_from_tuple(HeapTuple t, TupleDesc d)
{
	TaskRow    *r = palloc0(sizeof(TaskRow));
	bool		isnull;
	Datum		v;

	r->task_id = SPI_getvalue(t, d, TC_TASK_ID);
	r->queue = SPI_getvalue(t, d, TC_QUEUE);
	r->graph = SPI_getvalue(t, d, TC_GRAPH);
	r->thread_id = SPI_getvalue(t, d, TC_THREAD_ID);
	r->checkpoint_id = *DatumGetUUIDP(SPI_getbinval(t, d, TC_CHECKPOINT_ID, &isnull));
	r->node = SPI_getvalue(t, d, TC_NODE);
	r->step = (int) int_col(t, d, TC_STEP);
	r->status = SPI_getvalue(t, d, TC_STATUS);
	r->attempt = (int) int_col(t, d, TC_ATTEMPT);
	r->max_attempts = (int) int_col(t, d, TC_MAX_ATTEMPTS);
	r->backoff_ms = (int) int_col(t, d, TC_BACKOFF_MS);
	v = SPI_getbinval(t, d, TC_TOKEN, &isnull);
	r->has_token = !isnull;
	if (!isnull)
		r->token = *DatumGetUUIDP(v);
	r->result = jsonb_col(t, d, TC_RESULT);
	r->resume_values = jsonb_col(t, d, TC_RESUME_VALUES);
	r->lost = DatumGetBool(SPI_getbinval(t, d, TC_LOST, &isnull));
	/* in C, by the one rule: date_part's float rounded a lease of '0.5 ms' to 0 */
	v = SPI_getbinval(t, d, TC_LEASE_MS, &isnull);
	r->lease_ms = isnull ? 0 : sg_interval_ms(DatumGetIntervalP(v));
	r->worker = SPI_getvalue(t, d, TC_WORKER);
	r->handed_back = DatumGetBool(SPI_getbinval(t, d, TC_HANDED_BACK, &isnull));
	v = SPI_getbinval(t, d, TC_GRAPH_GEN, &isnull);
	r->has_graph_gen = !isnull;
	r->graph_gen = isnull ? 0 : DatumGetInt64(v);
	v = SPI_getbinval(t, d, TC_LAST_STEP, &isnull);
	r->has_last_step = !isnull;
	r->last_step = isnull ? 0 : DatumGetInt32(v);
	r->recursion_limit = (int) int_col(t, d, TC_RECURSION_LIMIT);
	return r;
}

/* The row of a task (locked when for_update), or NULL. */
static TaskRow *
fetch_row(const char *task_id, bool for_update)
{
	static SPIPlanPtr plans[2];
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(task_id)};

	run_sql(&plans[for_update ? 1 : 0],
			for_update ?
			"SELECT " TASK_COLUMNS " FROM stategraph.tasks WHERE task_id OPERATOR(pg_catalog.=) $1 FOR UPDATE" :
			"SELECT " TASK_COLUMNS " FROM stategraph.tasks WHERE task_id OPERATOR(pg_catalog.=) $1",
			1, types, values, NULL, 1);
	if (SPI_processed == 0)
		return NULL;
	return row_from_tuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
}

/*
 * A task row for a call naming it; unknown tasks are an error. A task that
 * row-level security hides from a caller holding its newest claim (token
 * not NULL) is one the claim's role could see and the caller cannot now:
 * 42501 saying so, where "does not exist" sent its worker looking for a
 * wrong task id. The claim is not recorded by role, so the detail names
 * only what is known: the task's owner, and that the caller is not a
 * member of it (a membership revoked, a role renamed, the task given to
 * that role by sg_reassign_owned, BYPASSRLS taken away, or the claim made
 * as another role), or that the owner is no role now (renamed or dropped).
 */
static TaskRow *
require_row(const char *task_id, const pg_uuid_t *token, bool for_update)
{
	TaskRow    *row = fetch_row(task_id, for_update);
	char	   *owner;

	if (row == NULL && token != NULL && (owner = sg_task_owner_of_claim(task_id, token)) != NULL)
	{
		const char *me = GetUserNameFromId(GetUserId(), false);

		if (OidIsValid(get_role_oid(owner, true)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for task \"%s\"", task_id),
					 errdetail("The task belongs to role \"%s\", of which role \"%s\" is not a member; the claim was made as a role that could see it (since then a membership, a role's name or BYPASSRLS changed, or the task was given to role \"%s\"; or the claim was another role's); nothing was changed.",
							   owner, me, owner),
					 errhint("Grant role \"%s\" to the worker's role, or stop working on the task: once its lease expires, a worker that may see it claims it again.",
							 owner)));
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for task \"%s\"", task_id),
				 errdetail("The task belongs to role \"%s\", which is no role now (renamed or dropped), so role \"%s\" may not see it; nothing was changed.",
						   owner, me),
				 errhint("Role \"%s\" does not exist (renamed or dropped): sg_reassign_owned gives its rows to another role. Stop working on the task.",
						 owner)));
	}
	if (row == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("task \"%s\" does not exist", task_id),
				 errhint("Pass the task_id that sg_claim returned.")));
	return row;
}

/* Is the task in status? */
static bool
has_status(TaskRow *row, const char *status)
{
	return strcmp(row->status, status) == 0;
}

/*
 * The fence of every call a worker makes: the task must not be cancelled,
 * and the token must be its newest claim's. A queued task keeps the token
 * of its lapsed claim (whose worker's late result is still taken), so a
 * queued task under another token waits for a worker: nobody has it (it
 * was refused as claimed by another worker).
 */
static TaskRow *
fenced_row(const char *task_id, pg_uuid_t *token, const char *what)
{
	TaskRow    *row = require_row(task_id, token, true);
	bool		current = row->has_token && memcmp(&row->token, token, sizeof(pg_uuid_t)) == 0;

	if (has_status(row, "cancelled"))
		ereport(ERROR,
				(errcode(ERRCODE_SG_TASK_CANCELLED),
				 errmsg("task \"%s\" of node \"%s\" was cancelled", task_id, row->node),
				 errdetail("Thread \"%s\" left the step the task belonged to; the %s was not taken.",
						   row->thread_id, what),
				 errhint("Stop working on it.")));
	if (!current && (!row->has_token || has_status(row, "queued")))
		ereport(ERROR,
				(errcode(ERRCODE_SG_TASK_SUPERSEDED),
				 errmsg("token %s is not the current claim of task \"%s\"",
						sg_uuid_to_cstring(token), task_id),
				 errdetail("The task is not claimed: it waits for a worker (%d attempts so far); the %s was not taken.",
						   row->attempt, what),
				 errhint("Claim it with sg_claim() first.")));
	if (!current)
		ereport(ERROR,
				(errcode(ERRCODE_SG_TASK_SUPERSEDED),
				 errmsg("token %s is not the current claim of task \"%s\"",
						sg_uuid_to_cstring(token), task_id),
				 errdetail("The lease of that claim expired and the task was claimed again (attempt %d); the %s was not taken.",
						   row->attempt, what),
				 errhint("Stop working on it: another worker has it.")));
	return row;
}

/*
 * The thread of a task, locked before its row is (the order runs use): its
 * lock, then its row, which waits for a writer of the thread to commit
 * (writers hold the row, not the lock, until then: checkpoint.c). True
 * when the thread's row is held (it exists).
 */
static bool
lock_task_thread(const char *task_id, const pg_uuid_t *token)
{
	TaskRow    *row = require_row(task_id, token, false);

	sg_lock_thread(row->thread_id, false);
	return sg_thread_fetch(row->thread_id, true) != NULL;
}

/*
 * Let go of the thread's lock taken without waiting (sg_try_lock_thread),
 * once its row is this transaction's: held to the commit, it was released
 * only after the commit made the thread's new state visible, and a caller
 * that saw it found the thread running in sg_threads, busy (55P03) with
 * stategraph.lock_wait off (TAP 142). The row stays locked until the commit.
 */
static void
let_thread_go(const char *thread_id)
{
	sg_unlock_thread(thread_id, false);
}

/* ---------------------------------------------------------------------------
 * Recording on the thread: pending writes and status
 * ---------------------------------------------------------------------------
 */

/* The thread status that the pending writes of its stopped step mean. */
static const char *
pending_status(Jsonb *pending)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		interrupted = false;

	if (pending == NULL || !sg_jsonb_is_object(pending))
		return "waiting";
	if (sg_jsonb_get(pending, "__error__") != NULL)
		return "error";			/* the step failed as a whole */
	it = JsonbIteratorInit(&pending->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		Jsonb	   *entry;

		if (tok != WJB_VALUE)
			continue;
		entry = sg_jsonb_from_value(&v);
		if (sg_jsonb_get(entry, "error") != NULL)
			return "error";
		if (sg_jsonb_array_length(sg_jsonb_get(entry, "interrupts")) > 0)
			interrupted = true;
	}
	return interrupted ? "interrupted" : "waiting";
}

/*
 * The thread's waiting step stopped (status 'error' or 'interrupted'): a
 * background run waiting for it ends so, as a run whose SQL node failed or
 * paused does, so that sg_wait returns and the thread's next run (a resume)
 * is not queued behind it. A late completion that takes a lost failure
 * back leaves that run ended: a resume (sg_submit or sg_invoke with input
 * NULL) continues the thread.
 */
#define END_WAITING_RUN \
	"UPDATE stategraph.runs SET status = $2, error = $3, finished_at = pg_catalog.clock_timestamp() " \
	"WHERE thread_id OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'waiting' " \
	"RETURNING run_id::pg_catalog.text"

/* Returns the id of the run it ended, or NULL (no background run waited). */
static char *
end_waiting_run(const char *thread_id, const char *status, Jsonb *error)
{
	static SPIPlanPtr plan;
	Oid			types[3] = {TEXTOID, TEXTOID, JSONBOID};
	Datum		values[3] = {CStringGetTextDatum(thread_id), CStringGetTextDatum(status),
	JsonbPGetDatum(error)};
	char		nulls[3] = {' ', ' ', error ? ' ' : 'n'};
	uint64		n = run_sql(&plan, END_WAITING_RUN, 3, types, values, nulls, 0);

	if (n == 0)					/* a member role's run on its parent's thread, hidden from the parent (TAP 231) */
		n = sg_spi_execute_as_hidden_waiting_run(thread_id, plan, values, nulls);
	if (n == 0)
		return NULL;
	sg_run_done_at_commit();
	sg_runs_requeued_at_commit();	/* the thread's next run: claims may have passed it (runs.c) */
	return sg_spi_text(0, 1);
}

/*
 * A background run that its task's failure ended 'error' (the lease sweep
 * at the last attempt, or sg_fail without a retry): one WARNING, as a
 * failing SQL node's (executor.c, run_task), from the process that ends
 * the run: a worker's sweep (its CONTEXT line names the database,
 * worker.c), or the session of sg_fail, sg_claim or sweep_leases(), whose
 * client sees it as sg_invoke's caller sees its node's failure. Once per
 * run: a later failure of another task of the step finds no waiting run.
 * A failure that is retried logs nothing, nor one that no background run
 * waited for (a thread sg_invoke left waiting: sg_tasks shows it). The
 * end went unlogged: sg_runs said error, and the log nothing (TAP 350).
 */
static void
warn_run_failed(TaskRow *row, Jsonb *entry, const char *run_id)
{
	const char *message = sg_jsonb_get_cstring(entry, "message");
	const char *name = sg_jsonb_get_cstring(entry, "name");

	if (name != NULL && strcmp(name, "lease_expired") == 0)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("node \"%s\" of graph \"%s\" failed: %s", row->node, row->graph, message),
				 errdetail("The lease of task %s lapsed at its last attempt (%d of %d), which ended background run %s with status error. "
						   "The failure is recorded on thread \"%s\"; resuming it queues the task again.",
						   row->task_id, row->attempt, row->max_attempts, run_id, row->thread_id)));
	else
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("node \"%s\" of graph \"%s\" failed: %s", row->node, row->graph,
						message ? message : "the worker failed"),
				 errdetail("Worker \"%s\" failed task %s at attempt %d of %d without a retry, which ended background run %s with status error. "
						   "The failure is recorded on thread \"%s\"; resuming it queues the task again.",
						   row->worker ? row->worker : "?", row->task_id, row->attempt, row->max_attempts,
						   run_id, row->thread_id)));
}

/*
 * Set (value) or remove (NULL) key of the task's entry in the pending
 * writes of its checkpoint, and the thread's status to match. Nothing is
 * recorded when the thread moved on (its tasks were cancelled then).
 * A caller that may run inside the thread's own run makes sure first that
 * this session is not running the thread (sg_thread_running_here): what
 * this wrote the running step would write its own checkpoint status over
 * (the task 'failed', the thread 'waiting' for it for ever:
 * reent_fail_own_task). A node of the thread's step calling sg_fail or
 * sg_interrupt_task is refused (55000, sg_refuse_running_thread); the lease
 * sweep of a node's sg_claim leaves an expired task of that thread to the
 * next sweep.
 */
static void
record_on_thread(TaskRow *row, const char *key, Jsonb *value)
{
	SGThread   *th;
	SGCheckpoint *cp;
	Jsonb	   *pending;
	Jsonb	   *entry;
	const char *status;

	/*
	 * A call that holds the thread's row already (lock_task_thread, the
	 * sweep's try) takes no lock its fetch of the row let go: a writer
	 * that took it meanwhile waits for this row, and this call waited for
	 * that lock (40P01 of sg_interrupt_task or sg_fail against sg_invoke;
	 * isolation task_call_relock).
	 */
	if (!row->thread_held)
		sg_lock_thread(row->thread_id, false);
	th = sg_thread_fetch(row->thread_id, true);
	if (th == NULL || !th->has_head ||
		memcmp(&th->head, &row->checkpoint_id, sizeof(pg_uuid_t)) != 0)
		return;
	cp = sg_checkpoint_fetch(row->thread_id, &row->checkpoint_id);
	if (cp == NULL)
		return;
	pending = cp->pending ? cp->pending : sg_jsonb_empty_object();
	entry = sg_jsonb_get(pending, row->task_id);
	if (entry == NULL)
	{
		entry = sg_jsonb_set_key(sg_jsonb_empty_object(), "node", sg_jsonb_string(row->node));
		if (row->resume_values)
			entry = sg_jsonb_set_key(entry, "resume", row->resume_values);
	}
	if (value != NULL)
		entry = sg_jsonb_set_key(entry, key, value);
	else
		entry = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(entry),
												   CStringGetTextDatum(key)));
	pending = sg_jsonb_set_key(pending, row->task_id, entry);
	sg_checkpoint_set_pending(row->thread_id, &row->checkpoint_id, pending);
	status = pending_status(pending);
	sg_thread_set(row->thread_id, &th->head, status, NULL);
	if (strcmp(status, "waiting") != 0)
	{
		bool		failure = value != NULL && strcmp(key, "error") == 0;
		char	   *run_id = end_waiting_run(row->thread_id, status, failure ? value : NULL);

		if (failure && run_id != NULL && strcmp(status, "error") == 0)
			warn_run_failed(row, value, run_id);
	}
}

/* A failure as the snapshot's tasks[].error shows it. */
static Jsonb *
failure_entry(TaskRow *row, const char *message, const char *name, Jsonb *detail)
{
	SGJsonBuilder b = {0};

	sg_jb_begin_object(&b);
	sg_jb_string_field(&b, "message", message);
	sg_jb_string_field(&b, "name", name);
	sg_jb_string_field(&b, "node", row->node);
	sg_jb_key(&b, "step");
	sg_jb_int(&b, row->step);
	sg_jb_string_field(&b, "task_id", row->task_id);
	sg_jb_key(&b, "attempt");
	sg_jb_int(&b, row->attempt);
	sg_jb_string_field(&b, "thread_id", row->thread_id);
	sg_jb_string_field(&b, "checkpoint_id", sg_uuid_to_cstring(&row->checkpoint_id));
	if (row->worker)
	{
		sg_jb_string_field(&b, "worker", row->worker);
	}
	if (detail)
	{
		sg_jb_field(&b, "error", detail);
	}
	sg_jb_end_object(&b);
	return sg_jb_finish(&b);
}

/* ---------------------------------------------------------------------------
 * Queueing (called by the executor) and cancelling
 * ---------------------------------------------------------------------------
 */
/* The last element of a JSON array, or NULL. */
static Jsonb *
last_value(Jsonb *arr)
{
	int			n = sg_jsonb_array_length(arr);

	return n > 0 ? sg_jsonb_array_get(arr, n - 1) : NULL;
}

/*
 * The keys of a node's config that are columns of its task row too: not
 * stored twice (a task row is written three times per task), claim_into
 * puts them back.
 */
#define CONFIG_COLUMN_KEYS "'{graph,thread_id,checkpoint_id,node,step,task_id,attempt}'::pg_catalog.text[]"

static bool stale_gen_task(const char *graph, const char *node, bool has_gen, int64 gen);

/*
 * Graphs this transaction compiled again or dropped (sg_tasks_cancel_graph),
 * in TopTransactionContext: the list belongs to transaction graphs_changed_lxid.
 */
static List *graphs_changed = NIL;
static LocalTransactionId graphs_changed_lxid = InvalidLocalTransactionId;

static bool
graph_changed_here(const char *graph)
{
	ListCell   *lc;

	if (graphs_changed_lxid != MyProc->lxid)
		return false;
	foreach(lc, graphs_changed)
		if (strcmp((char *) lfirst(lc), graph) == 0)
			return true;
	return false;
}

static void
note_graph_changed(const char *graph)
{
	MemoryContext old;

	if (graphs_changed_lxid != MyProc->lxid)
	{
		graphs_changed = NIL;	/* (its memory went with its transaction) */
		graphs_changed_lxid = MyProc->lxid;
	}
	if (graph_changed_here(graph))
		return;
	old = MemoryContextSwitchTo(TopTransactionContext);
	graphs_changed = lappend(graphs_changed, pstrdup(graph));
	MemoryContextSwitchTo(old);
}

/*
 * Refuse to queue a task that is stale already (stale_gen_task): its graph
 * was compiled again without the node as an external node, or dropped,
 * after the step began with it, by a node of the step (sg_compile or
 * sg_drop_graph of its own graph: the step's tasks are queued after its
 * SQL nodes ran) or by another session that committed meanwhile.
 * sg_compile cancels the tasks out it sees, not this one, which nobody
 * would ever complete or cancel unless a worker claimed it from its
 * queue: the thread (and its background run) waited for it for ever, and
 * retention never swept it. The step fails instead (its run ends in
 * error, the thread keeps what it had). A change committed after this
 * check and before the step's commit is not seen here; such a task is
 * cancelled where it is next handled (claim, heartbeat, completion, lease
 * sweep).
 */
static void
refuse_stale_task(SGExternalTask *et)
{
	bool		here = graph_changed_here(et->graph);

	if (!stale_gen_task(et->graph, et->node->name, true, et->graph_gen))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("graph \"%s\" was compiled again or dropped during the step of thread \"%s\"",
					et->graph, et->thread_id),
			 errdetail("The step's external node \"%s\" is not an external node of the graph as it is now: "
					   "its task could never be completed, and the thread would wait for it.",
					   et->node->name),
			 here ? errhint("Change a graph outside its own runs.") :
			 errhint("Another session changed the graph while the step ran; resume the thread with the graph as it is now.")));
}

/*
 * Insert the task, or queue its row again (after a failure, interrupt or
 * cancel). A task belongs to its thread's owner, whoever ran the step (a
 * member, or a worker of the owner's that carried the step on): the owner
 * sees it, cancels it with new input or a delete, and queues it again on a
 * resume, and every member of the owner may work it. A role above
 * row-level security that is not a member (it runs any thread, as itself)
 * keeps its tasks, as its run's.
 */
static void refuse_hidden_task(SGExternalTask *et);

static void
queue_task(SGExternalTask *et, bool again)
{
	static SPIPlanPtr insert_plan;
	static SPIPlanPtr requeue_plan;
	Oid			types[17] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, UUIDOID, TEXTOID, INT4OID,
	INT4OID, INT4OID, INTERVALOID, JSONBOID, JSONBOID, JSONBOID, JSONBOID, INT8OID, INT4OID, INT4OID};
	Datum		values[17];
	char		nulls[17];
	Jsonb	   *resume = last_value(et->resume_values);

	refuse_stale_task(et);
	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(et->task_id);
	values[1] = CStringGetTextDatum(et->node->queue);
	values[2] = CStringGetTextDatum(et->graph);
	values[3] = CStringGetTextDatum(et->thread_id);
	values[4] = uuid_datum(&et->checkpoint_id);
	values[5] = CStringGetTextDatum(et->node->name);
	values[6] = Int32GetDatum(et->step);
	values[7] = Int32GetDatum(et->node->retry.max_attempts);
	values[8] = Int32GetDatum(et->node->retry.backoff_ms);
	values[9] = IntervalPGetDatum(ms_interval(et->node->lease_ms));
	values[10] = JsonbPGetDatum(et->input);
	nulls[10] = et->input ? ' ' : 'n';
	values[11] = JsonbPGetDatum(et->config);
	values[12] = JsonbPGetDatum(resume);
	nulls[12] = resume ? ' ' : 'n';
	values[13] = JsonbPGetDatum(et->resume_values);
	nulls[13] = et->resume_values ? ' ' : 'n';
	values[14] = Int64GetDatum(et->graph_gen);
	values[15] = Int32GetDatum(et->recursion_limit);
	values[16] = Int32GetDatum(et->last_step);
	if (!again)
	{
		/* (a row row-level security hid from sg_task_sync: refuse_hidden_task) */
		if (run_sql(&insert_plan,
					"INSERT INTO stategraph.tasks (task_id, queue, graph, thread_id, checkpoint_id, node, step, "
					"max_attempts, backoff_ms, lease, input, config, resume, resume_values, graph_gen, "
					"recursion_limit, last_step, owner) "
					"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 OPERATOR(pg_catalog.-) " CONFIG_COLUMN_KEYS ", "
					"$13, $14, $15, $16, $17, COALESCE((SELECT h.owner FROM stategraph.threads h "
					"  WHERE h.thread_id OPERATOR(pg_catalog.=) $4 AND stategraph.owned(h.owner)), CURRENT_USER)) "
					"ON CONFLICT (task_id) DO NOTHING",
					17, types, values, nulls, 0) == 0)
			refuse_hidden_task(et);
	}
	else
		run_sql(&requeue_plan,
				"UPDATE stategraph.tasks SET queue = $2, status = 'queued', attempt = 0, token = NULL, "
				"worker = NULL, visible_at = pg_catalog.now(), lease_expires_at = NULL, "
				"max_attempts = $8, backoff_ms = $9, lease = $10, input = $11, "
				"config = $12 OPERATOR(pg_catalog.-) " CONFIG_COLUMN_KEYS ", "
				"resume = $13, resume_values = $14, result = NULL, interrupt = NULL, lost = false, "
				"finished_at = NULL, updated_at = pg_catalog.now(), graph_gen = $15, "
				"recursion_limit = $16, last_step = $17 "
				"WHERE task_id OPERATOR(pg_catalog.=) $1 AND graph OPERATOR(pg_catalog.=) $3 "
				"AND thread_id OPERATOR(pg_catalog.=) $4 AND checkpoint_id OPERATOR(pg_catalog.=) $5 "
				"AND node OPERATOR(pg_catalog.=) $6 AND step OPERATOR(pg_catalog.=) $7",
				17, types, values, nulls, 0);
	note_new_work(et->node->queue);
}

/*
 * A task id is that of its checkpoint, so a copy of a waiting thread made
 * in the same database (sg_import_thread) names its source's tasks: it
 * takes their results, or waits for them, but cannot queue again a row of
 * another thread (after its source was deleted, or left the step), which
 * would leave it waiting for ever. Say so instead.
 */
static void
refuse_other_threads_task(TaskRow *row, SGExternalTask *et)
{
	if (strcmp(row->thread_id, et->thread_id) == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("thread \"%s\" waits for external task %s of thread \"%s\", which is %s",
					et->thread_id, et->task_id, row->thread_id, row->status),
			 errdetail("A task's id is that of its checkpoint: a copy of a waiting thread in the same database names its source's tasks."),
			 errhint("Give the copy a checkpoint of its own first (sg_update_state with as_node naming the node that ran before \"%s\"), or import it into another database.",
					 row->node)));
}

/*
 * The task's row is there, but row-level security hides it from this
 * role: a thread copied from another role's (sg_import_thread of its
 * export, here or after its source was deleted, or a copy in the same
 * database) names the source's tasks, whose rows stay the source owner's.
 * The INSERT found the id taken (a unique violation, raw, for ever: the
 * row stays while it is at a thread's head); say so, as for a visible
 * task of another thread (refuse_other_threads_task).
 */
static void
refuse_hidden_task(SGExternalTask *et)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("thread \"%s\" waits for external task %s, which is another role's",
					et->thread_id, et->task_id),
			 errdetail("A task's id is that of its checkpoint: a copy of a waiting thread in the same database names its source's tasks, and the task of that id belongs to a role whose tasks role \"%s\" may not see.",
					   GetUserNameFromId(GetUserId(), false)),
			 errhint("Give the copy a checkpoint of its own first (sg_update_state with as_node naming the node that ran before \"%s\"), or import it into another database.",
					 et->node->name)));
}

/*
 * The run that went on with a step whose task is still out (an sg_invoke
 * continuing the thread) waits for it now: the completion that continues
 * the step counts the recursion limit of that run (continue_step), not of
 * the one that queued the task. Only a task of the run's own thread: a
 * copy of a waiting thread in the same database names its source's tasks
 * (refuse_other_threads_task), and its run set the limit that the source's
 * completion counted (a copy's sg_invoke with 1000 let the source's loop,
 * invoked with 3, go on to step 1001).
 */
static void
note_task_limit(SGExternalTask *et)
{
	static SPIPlanPtr plan;
	Oid			types[4] = {TEXTOID, INT4OID, INT4OID, TEXTOID};
	Datum		values[4] = {CStringGetTextDatum(et->task_id), Int32GetDatum(et->recursion_limit),
	Int32GetDatum(et->last_step), CStringGetTextDatum(et->thread_id)};

	run_sql(&plan,
			"UPDATE stategraph.tasks SET recursion_limit = $2, last_step = $3 "
			"WHERE task_id OPERATOR(pg_catalog.=) $1 AND thread_id OPERATOR(pg_catalog.=) $4",
			4, types, values, NULL, 0);
}

/*
 * The executor's side of an external task: queue it when it has no row yet
 * (or queue it again after a failure, an interrupt or a cancel); true with
 * *result the update when a worker completed it, false while it is out.
 */
bool
sg_task_sync(SGExternalTask *et, Jsonb **result)
{
	TaskRow    *row;

	/* the task sg_complete has just completed, and continues the step with */
	if (done_task.task_id != NULL && strcmp(done_task.task_id, et->task_id) == 0)
	{
		*result = done_task.result;
		return true;
	}
	/* completed is final: only a task still out needs its row locked */
	row = fetch_row(et->task_id, false);
	*result = NULL;
	if (row != NULL && !has_status(row, "completed"))
		row = fetch_row(et->task_id, true);
	if (row == NULL)
	{
		queue_task(et, false);
		return false;
	}
	if (has_status(row, "completed"))
	{
		*result = row->result;
		return true;
	}
	if (has_status(row, "queued") || has_status(row, "claimed"))
	{
		/*
		 * a session that goes on with the step waits now: its completion
		 * counts that run's limit (not a copy's run waiting on its source's
		 * task: the source's completion continues the source)
		 */
		if (strcmp(row->thread_id, et->thread_id) == 0 &&
			(!row->has_last_step || row->last_step != et->last_step ||
			 row->recursion_limit != et->recursion_limit))
			note_task_limit(et);
		return false;
	}
	refuse_other_threads_task(row, et);
	queue_task(et, true);
	return false;
}

/*
 * The thread leaves the step its workers are on (new input, time travel,
 * sg_update_state, sg_delete_thread, a cancelled run): cancel its tasks, so
 * that their heartbeats say stop and their results are refused, and let a
 * background run that waited for them go on (else it waited for ever, and
 * held up every later run of the thread).
 */
void
sg_tasks_cancel_thread(SGThread *th)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];

	/* only a stopped step can have tasks out */
	if (strcmp(th->status, "waiting") != 0 && strcmp(th->status, "interrupted") != 0 &&
		strcmp(th->status, "error") != 0)
		return;
	if (sg_schema_is_010())
		return;					/* no tasks before the update (it failed with 42P01) */
	values[0] = CStringGetTextDatum(th->thread_id);
	run_sql(&plan,
			CANCEL_TASKS "WHERE t.thread_id OPERATOR(pg_catalog.=) $1 "
			"AND t.status OPERATOR(pg_catalog.=) " TASK_OUT,
			1, types, values, NULL, 0);
	/* a background run waiting for the step no longer waits: it goes on from the thread's head (runs.c) */
	if (strcmp(th->status, "waiting") == 0 && sg_step_ready_hook != NULL)
		sg_step_ready_hook(th->graph, th->thread_id);
}

/*
 * A rollback (runs.c) put the thread back on a step that waits for
 * workers, and the stopped run had cancelled that step's tasks (its new
 * input left the step): queue them again, so that the step goes on as
 * before the run instead of waiting for tasks nobody can claim.
 */
void
sg_tasks_requeue_step(const char *thread_id, const pg_uuid_t *checkpoint_id)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {TEXTOID, UUIDOID};
	Datum		values[2] = {CStringGetTextDatum(thread_id), uuid_datum(checkpoint_id)};
	uint64		n,
				i;

	n = run_sql(&plan,
				"UPDATE stategraph.tasks SET status = 'queued', attempt = 0, token = NULL, worker = NULL, "
				"visible_at = pg_catalog.now(), lease_expires_at = NULL, result = NULL, interrupt = NULL, "
				"lost = false, finished_at = NULL, updated_at = pg_catalog.now() "
				"WHERE thread_id OPERATOR(pg_catalog.=) $1 AND checkpoint_id OPERATOR(pg_catalog.=) $2 "
				"AND status OPERATOR(pg_catalog.=) 'cancelled' RETURNING queue",
				2, types, values, NULL, 0);
	for (i = 0; i < n; i++)
		note_new_work(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
}

/*
 * A waiting thread whose step has no task out any more (they were
 * cancelled as stale) is idle: stopped with its step next, as after
 * sg_cancel of its waiting run; `waiting` said that workers were on it.
 * This transaction holds the rows of the tasks it cancelled, so no
 * completion of them continues the step meanwhile; a task of the step
 * still out (a node that stays external) keeps the thread waiting.
 * The thread's row is taken before the look, and the look sees what
 * committed meanwhile (the latest snapshot, under REPEATABLE READ too):
 * two transactions cancelling the step's two tasks at once each saw the
 * other's task out, and the thread stayed waiting for ever (isolation
 * stale_cancels_crossed). Now the second waits for the first's commit
 * and sees both cancelled.
 */
static void
thread_idle_if_nothing_out(const char *thread_id)
{
	static SPIPlanPtr lock_plan;
	static SPIPlanPtr out_plan;
	static SPIPlanPtr idle_plan;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(thread_id)};

	if (run_sql(&lock_plan,
				"SELECT 1 FROM stategraph.threads h WHERE h.thread_id OPERATOR(pg_catalog.=) $1 "
				"AND h.status OPERATOR(pg_catalog.=) 'waiting' FOR NO KEY UPDATE OF h",
				1, types, values, NULL, 0) == 0)
		return;
	if (sg_spi_execute_latest(sg_spi_prepare(&out_plan,
											 "SELECT 1 FROM stategraph.tasks t WHERE t.thread_id OPERATOR(pg_catalog.=) $1 "
											 "AND t.status OPERATOR(pg_catalog.=) " TASK_OUT " LIMIT 1",
											 1, types),
							  values, NULL) > 0)
		return;
	if (run_sql(&idle_plan,
				"UPDATE stategraph.threads h SET status = 'idle', updated_at = pg_catalog.clock_timestamp() "
				"WHERE h.thread_id OPERATOR(pg_catalog.=) $1 AND h.status OPERATOR(pg_catalog.=) 'waiting'",
				1, types, values, NULL, 0) > 0)
		sg_state_cache_forget(thread_id);
}

/*
 * The n tasks just cancelled left their step (SPI's result: rows of graph,
 * thread_id): a background run that waited for them goes on instead of
 * waiting for ever. It takes the step again with the graph as it is now
 * (a node that became SQL runs its function), or ends with status error
 * if the graph or the node is gone; a thread without one is idle until
 * its next sg_invoke(graph, NULL, thread) takes the step.
 */
static void
cancelled_steps_go_on(uint64 n)
{
	SPITupleTable *tt = SPI_tuptable;
	uint64		i;

	for (i = 0; i < n; i++)
	{
		char	   *thread_id = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);

		if (sg_step_ready_hook != NULL)
			sg_step_ready_hook(SPI_getvalue(tt->vals[i], tt->tupdesc, 1), thread_id);
		thread_idle_if_nothing_out(thread_id);
	}
}

/*
 * The graph is dropped (spec NULL), or compiled anew (spec: its new
 * definition): cancel its tasks still out whose node is no longer an
 * external node, all of them for a dropped graph. Their results could
 * never be taken (the update is checked against the graph, and a SQL node
 * runs its function), so workers must not claim them, and a worker holding
 * one is told to stop (sg_heartbeat false, SG011 for its completion); the
 * runs that waited for them go on (cancelled_steps_go_on). Only the tasks
 * the caller sees (row-level security): those of its own threads and of
 * the roles it is a member of. Those of other roles are found where they
 * are next handled (claim, heartbeat, completion, lease sweep: stale_gen_task).
 */
void
sg_tasks_cancel_graph(const char *graph, Jsonb *spec)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {TEXTOID, JSONBOID};
	Datum		values[2] = {CStringGetTextDatum(graph), spec ? JsonbPGetDatum(spec) : (Datum) 0};
	char		nulls[2] = {' ', spec ? ' ' : 'n'};

	note_graph_changed(graph);	/* (refuse_stale_task) */
	if (sg_schema_is_010())
		return;					/* before ALTER EXTENSION UPDATE: no external nodes, no tasks */
	cancelled_steps_go_on(run_sql(&plan,
								  "WITH c AS (" CANCEL_TASKS
								  "WHERE t.graph OPERATOR(pg_catalog.=) $1 "
								  "AND t.status OPERATOR(pg_catalog.=) " TASK_OUT " "
								  "AND ($2 IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements($2 OPERATOR(pg_catalog.->) 'nodes') e "
								  "  WHERE e OPERATOR(pg_catalog.->>) 'name' OPERATOR(pg_catalog.=) t.node "
								  "  AND e OPERATOR(pg_catalog.?) 'queue')) "
								  "RETURNING t.graph, t.thread_id) SELECT DISTINCT graph, thread_id FROM c",
								  2, types, values, nulls, 0));
}

/*
 * Whether a task of graph generation gen (has_gen: known) is stale: its
 * node is no longer an external node of its graph as compiled now
 * (recompiled or dropped since the task was queued), or its graph is no
 * longer that generation (dropped and created again, by anyone, since the
 * step queued it), even with an external node of that name: its step must
 * not go on with another definition's nodes. Generations, not times: a
 * drop and create in a transaction that began before the task was queued
 * and committed after it left a graph made "before" the task. sg_compile
 * cancels only the stale tasks its role can see; another role's are caught
 * here by every call that hands out or takes a task, from the backend's
 * cache of each graph's external nodes (graph.c: no statement once the
 * graph is cached). A superuser's claim or sweep (row-level security does
 * not stop it) finds another role's stale task too.
 */
static bool
stale_gen_task(const char *graph, const char *node, bool has_gen, int64 gen)
{
	return !sg_graph_node_is_external(graph, node) || (has_gen && sg_graph_replaced(graph, gen));
}

/* Whether a task row is stale (stale_gen_task). */
static bool
stale_row(TaskRow *row)
{
	return stale_gen_task(row->graph, row->node, row->has_graph_gen, row->graph_gen);
}

/*
 * Cancel the n stale tasks task_ids (their rows visible to the caller: it
 * has just claimed or fenced them) as sg_compile would have, and let their
 * runs go on: those of tasks whose owner may act on their thread (a task
 * row any role can insert for itself, naming another role's thread, must
 * not move that thread's run when a superuser's claim or sweep finds it).
 * undo_claim: this transaction's claim gave them their last attempt, which
 * no worker got: it is not counted.
 */
static void
cancel_stale(Datum *task_ids, int n, bool undo_claim)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {TEXTARRAYOID, BOOLOID};
	Datum		values[2];

	values[0] = PointerGetDatum(construct_array(task_ids, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = BoolGetDatum(undo_claim);
	stale_cancels++;			/* (a long poll keeps the look: claim_look) */
	cancelled_steps_go_on(run_sql(&plan,
								  "WITH c AS (" CANCEL_TASKS ", attempt = t.attempt OPERATOR(pg_catalog.-) "
								  "  CASE WHEN $2 THEN 1 ELSE 0 END "
								  "WHERE t.task_id OPERATOR(pg_catalog.=) ANY ($1) "
								  "RETURNING t.graph, t.thread_id, t.owner) "
								  "SELECT DISTINCT c.graph, c.thread_id FROM c JOIN stategraph.threads h "
								  "ON h.thread_id OPERATOR(pg_catalog.=) c.thread_id WHERE " OWNER_ACTS("c", "h"),
								  2, types, values, NULL, 0));
}

static void stale_error(TaskRow *row, const char *what);

/*
 * The error of a call on a stale task still claimed (sg_complete, sg_fail,
 * sg_interrupt_task): refused as a cancelled task's; its heartbeat or the
 * lease sweep cancels it.
 */
static void
refuse_stale(TaskRow *row, const char *what)
{
	if (stale_row(row))
		stale_error(row, what);
}

/* refuse_stale's error. */
static void
stale_error(TaskRow *row, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_SG_TASK_CANCELLED),
			 errmsg("task \"%s\" of node \"%s\" was cancelled", row->task_id, row->node),
			 errdetail("Graph \"%s\" was compiled again without external node \"%s\", or dropped (and maybe created again), since the task was queued; the %s was not taken.",
					   row->graph, row->node, what),
			 errhint("Stop working on it.")));
}

/* ---------------------------------------------------------------------------
 * The lease sweep
 * ---------------------------------------------------------------------------
 */

/* Runs an UPDATE of one task row whose parameters are its id ($1) and a jsonb ($2, NULL allowed). */
static void
update_task(SPIPlanPtr *plan, const char *sql, TaskRow *row, Jsonb *value)
{
	Oid			types[2] = {TEXTOID, JSONBOID};
	Datum		values[2] = {CStringGetTextDatum(row->task_id), value ? JsonbPGetDatum(value) : (Datum) 0};
	char		nulls[2] = {' ', value ? ' ' : 'n'};

	run_sql(plan, sql, 2, types, values, nulls, 0);
}

/*
 * Queues a failed attempt's task again after its backoff, recording the
 * failure entry; at_once, visible now (a long poll's sweep: the backoff
 * passed since the lease expired).
 */
static void
requeue_task(TaskRow *row, Jsonb *entry, bool at_once)
{
	static SPIPlanPtr plan;
	Oid			types[3] = {TEXTOID, JSONBOID, INTERVALOID};
	Datum		values[3] = {CStringGetTextDatum(row->task_id), JsonbPGetDatum(entry),
		IntervalPGetDatum(ms_interval(at_once ? 0 : backoff_ms(row->backoff_ms, row->attempt)))};

	run_sql(&plan,
			"UPDATE stategraph.tasks SET status = 'queued', error = $2, lease_expires_at = NULL, "
			"visible_at = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) $3, "
			"updated_at = pg_catalog.clock_timestamp() WHERE task_id OPERATOR(pg_catalog.=) $1",
			3, types, values, NULL, 0);
	note_new_work(row->queue);
}

/*
 * Whether a task's owner may act on its thread (is the thread's owner or a
 * member of it). The sweep of the background workers runs as a superuser,
 * which row-level security does not stop: a task row any role can insert
 * for itself, naming another role's thread and its head, must not let
 * that sweep record a failure there.
 */
static bool
owner_may_act(TaskRow *row)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(row->task_id)};

	return run_sql(&plan,
				   "SELECT 1 FROM stategraph.tasks k JOIN stategraph.threads t "
				   "ON t.thread_id OPERATOR(pg_catalog.=) k.thread_id WHERE k.task_id OPERATOR(pg_catalog.=) $1 "
				   "AND " OWNER_ACTS("k", "t"),
				   1, types, values, NULL, 1) > 0;
}

/*
 * Find up to limit expired leases: queue each task again after its backoff,
 * or, when its attempts are spent, fail it and record the failure on its
 * thread (a thread busy right now, or whose row an open transaction holds,
 * waits for the next sweep). Returns the number of tasks handled.
 *
 * A long poll's sweep (poll_queue: the queue it waits on) runs in a
 * transaction that stays open while it waits; each of its looks is a
 * subtransaction, kept only when it claims (sg_claim). It takes only
 * expired tasks of its own queue that are to be retried and whose backoff,
 * counted from the lease's end, is over: those it queues again visible at
 * once, and the look's claim takes them. None of another queue (their
 * workers would not see them requeued), none whose attempts are spent (a
 * late completion would wait on it: the failures are left to the other
 * sweeps), none still in their backoff: requeued at every look and rolled
 * back, they were only locked, and sg_complete of the worker whose lease
 * lapsed waited for the look to end.
 */
static int
sweep_leases(int limit, const char *poll_queue)
{
	static SPIPlanPtr select_plan;
	static SPIPlanPtr fail_plan;
	Oid			types[3] = {INT4OID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[3];
	SPITupleTable *tab;
	uint64		n,
				i;
	int			done = 0;

	/* the time as a parameter, not clock_timestamp(): an index condition stops at the first live lease */
	values[0] = Int32GetDatum(limit);
	values[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[2] = poll_queue != NULL ? CStringGetTextDatum(poll_queue) : (Datum) 0;
	run_sql(&select_plan,
			"SELECT " TASK_COLUMNS " FROM stategraph.tasks "
			"WHERE status OPERATOR(pg_catalog.=) 'claimed' "
			"AND lease_expires_at OPERATOR(pg_catalog.<) $2 "
			"AND ($3::pg_catalog.text IS NULL "
			"     OR (queue OPERATOR(pg_catalog.=) $3 AND attempt OPERATOR(pg_catalog.<) max_attempts "
			"         AND lease_expires_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => "
			"           LEAST(backoff_ms::pg_catalog.int8 OPERATOR(pg_catalog.<<) "
			"             LEAST(GREATEST(attempt OPERATOR(pg_catalog.-) 1, 0), 20), " CppAsString2(MAX_BACKOFF_MS) ") "
			"           OPERATOR(pg_catalog./) 1000.0) OPERATOR(pg_catalog.<=) $2)) "
			"ORDER BY lease_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED",
			3, types, values, poll_queue != NULL ? NULL : "  n", 0);
	tab = SPI_tuptable;
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		TaskRow    *row = row_from_tuple(tab->vals[i], tab->tupdesc);
		Jsonb	   *err = failure_entry(row, "the lease of the task expired", "lease_expired", NULL);
		Datum		id = CStringGetTextDatum(row->task_id);

		/* (a task planted on another role's thread is handled as before: owner_may_act) */
		if (stale_row(row) && owner_may_act(row))
		{
			cancel_stale(&id, 1, false);	/* its node is no longer external: neither retried nor failed */
			done++;
		}
		else if (row->attempt < row->max_attempts)
		{
			requeue_task(row, err, poll_queue != NULL);
			done++;
		}
		else if (poll_queue == NULL && !sg_thread_running_here(row->thread_id) &&
				 sg_try_lock_thread(row->thread_id))
		{
			/*
			 * Its row locked without waiting: waiting, the sweep held up
			 * sg_claim or a worker until that transaction ended. A thread
			 * this role cannot see (or that is gone) is not held. Nor one
			 * this session runs (a node's sg_claim sweeps, and the lock is
			 * its own): its step would write over the failure.
			 */
			if (sg_thread_row_try_lock(row->thread_id, NULL, NULL, true) == SG_ROW_HELD)
			{
				sg_unlock_thread(row->thread_id, false);
				continue;		/* held by an open transaction: the next sweep */
			}
			update_task(&fail_plan,
						"UPDATE stategraph.tasks SET status = 'failed', lost = true, error = $2, "
						"lease_expires_at = NULL, finished_at = pg_catalog.clock_timestamp(), "
						"updated_at = pg_catalog.clock_timestamp() WHERE task_id OPERATOR(pg_catalog.=) $1",
						row, err);
			row->thread_held = true;
			if (owner_may_act(row))
				record_on_thread(row, "error", err);
			let_thread_go(row->thread_id);
			done++;
		}
	}
	return done;
}

/*
 * The lease sweep of the server's own sweep (runs.c's sg_sweep: background
 * workers every stategraph.sweep_interval, and CALL sg_work()); SPI is
 * connected. Returns the number of tasks handled.
 */
int
sg_tasks_sweep(int limit)
{
	return sweep_leases(limit, NULL);
}

/*
 * Whether role name a (a note's owner) may act on the threads of role name
 * b (the thread's owner): b itself or a member of it, as stategraph.owned
 * decides for the current role (NULL for a dropped role: no).
 */
#define ROLE_ACTS_FOR(a, b) \
	"(" a " OPERATOR(pg_catalog.=) " b " OR pg_catalog.pg_has_role(" \
	"pg_catalog.to_regrole(pg_catalog.quote_ident(" a "::pg_catalog.text))::pg_catalog.oid, " \
	"pg_catalog.to_regrole(pg_catalog.quote_ident(" b "::pg_catalog.text))::pg_catalog.oid, 'MEMBER') IS TRUE)"

/*
 * The notes that name a step to go on with: at the thread's head, the
 * thread waiting, of a role that may act on the thread (its owner, whose
 * the step's tasks are, or a member: a note written before the tasks
 * belonged to the owner, or by a role above row-level security). Any role may write notes, for itself (row-level security),
 * so a note of another role, or of a step the thread has left, is nobody's
 * to act on: it is dropped without the thread being touched.
 */
#define STEP_NOTE_VALID(n) \
	"EXISTS (SELECT FROM stategraph.threads t WHERE t.thread_id OPERATOR(pg_catalog.=) " n ".thread_id " \
	"AND t.head OPERATOR(pg_catalog.=) " n ".checkpoint_id AND t.status OPERATOR(pg_catalog.=) 'waiting' " \
	"AND " ROLE_ACTS_FOR(n ".owner", "t.owner") ")"

/*
 * Continue up to limit left steps (stategraph.steps_left, leave_step): each
 * whose thread still waits at that checkpoint with none of its tasks out
 * and no background run gets one, queued as the note's owner (runs.c,
 * sg_submit_for_owner), which goes on from the head as sg_invoke(graph,
 * NULL, thread) would, with the recursion limit the note keeps (that of
 * the call that left the thread waiting, leave_step); the note goes. A
 * thread held by another session, or whose row an open transaction holds, or whose run could not be
 * queued for now (a lock, a deadlock), keeps its note for the next pass
 * (*held), written again so that it goes to the back of the line: a role
 * holding threads of its own does not keep the others' notes waiting. Run
 * by the server's sweep, soon after a completion left a step by a
 * background worker (worker.c), and by CALL sg_work (the notes its
 * caller's row-level security shows it); SPI is connected. Returns the
 * number of runs queued.
 */
int
sg_tasks_continue_left(int limit, bool *held)
{
	static SPIPlanPtr stale_plan;
	static SPIPlanPtr list_plan;
	static SPIPlanPtr still_plan;
	static SPIPlanPtr drop_plan;
	static SPIPlanPtr back_plan;
	Oid			types[5] = {TEXTOID, UUIDOID, NAMEOID, INT4OID, INT4OID};
	Oid			limit_type = INT4OID;
	Datum		limit_arg = Int32GetDatum(limit);
	SPITupleTable *tt;
	uint64		n,
				i;
	int			queued = 0;

	*held = false;
	run_sql(&stale_plan,
			"DELETE FROM stategraph.steps_left WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
			"SELECT n.ctid FROM stategraph.steps_left n WHERE NOT " STEP_NOTE_VALID("n") " LIMIT $1 "
			"FOR UPDATE SKIP LOCKED))", 1, &limit_type, &limit_arg, NULL, 0);
	n = run_sql(&list_plan,
				"SELECT n.thread_id, n.checkpoint_id, n.owner, n.recursion_limit, n.last_step "
				"FROM stategraph.steps_left n "
				"WHERE " STEP_NOTE_VALID("n") " ORDER BY n.left_at LIMIT $1 FOR UPDATE OF n SKIP LOCKED",
				1, &limit_type, &limit_arg, NULL, 0);
	tt = SPI_tuptable;
	for (i = 0; i < n; i++)
	{
		char	   *thread_id = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
		bool		isnull,
					limit_null,
					last_null;
		Datum		values[5] = {CStringGetTextDatum(thread_id), SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull),
		SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull), SPI_getbinval(tt->vals[i], tt->tupdesc, 4, &limit_null),
		SPI_getbinval(tt->vals[i], tt->tupdesc, 5, &last_null)};
		/* the limit of the call that left the thread waiting (leave_step); none: a fresh 25 */
		bool		counted = !limit_null && !last_null && DatumGetInt32(values[3]) > 0;
		char		nulls[5] = {' ', ' ', ' ', counted ? ' ' : 'n', counted ? ' ' : 'n'};
		SGLeftLimit left = {counted ? DatumGetInt32(values[3]) : 0, counted ? DatumGetInt32(values[4]) : 0,
		*DatumGetUUIDP(values[1])};
		SGRowLock	lock;
		bool		keep = false;

		CHECK_FOR_INTERRUPTS();
		if (!sg_try_lock_thread(thread_id))
			keep = true;		/* a session runs it (and may go on with the step itself) */
		else
		{
			lock = sg_thread_row_try_lock(thread_id, NULL, NULL, true);
			if (lock == SG_ROW_HELD)
				keep = true;
			/* under the row's lock, in a new snapshot: nobody moves the thread on meanwhile */
			else if (lock == SG_ROW_LOCKED &&
					 run_sql(&still_plan,
							 /* and the generation of the graph that queued the step's tasks (-1: they disagree) */
							 "SELECT t.graph, (SELECT CASE WHEN pg_catalog.min(k.graph_gen) OPERATOR(pg_catalog.=) "
							 "  pg_catalog.max(k.graph_gen) THEN pg_catalog.min(k.graph_gen) "
							 "  WHEN pg_catalog.min(k.graph_gen) IS NOT NULL THEN -1 END "
							 "  FROM stategraph.tasks k WHERE k.thread_id OPERATOR(pg_catalog.=) $1 "
							 "  AND k.checkpoint_id OPERATOR(pg_catalog.=) $2 AND " OWNER_COUNTS("k", "t") ") "
							 "FROM stategraph.threads t "
							 "WHERE t.thread_id OPERATOR(pg_catalog.=) $1 AND t.head OPERATOR(pg_catalog.=) $2 "
							 "AND " ROLE_ACTS_FOR("$3", "t.owner") " "
							 "AND t.status OPERATOR(pg_catalog.=) 'waiting' "
							 "AND NOT EXISTS (SELECT FROM stategraph.tasks k WHERE k.thread_id OPERATOR(pg_catalog.=) $1 "
							 "  AND k.checkpoint_id OPERATOR(pg_catalog.=) $2 AND k.status OPERATOR(pg_catalog.=) " TASK_OUT " "
							 "  AND " OWNER_COUNTS("k", "t") ") "
							 /* a run or task of a role that may not act on the thread (any role may write one) holds nothing up */
							 "AND NOT EXISTS (SELECT FROM stategraph.runs r WHERE r.thread_id OPERATOR(pg_catalog.=) $1 "
							 "  AND r.status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running', 'waiting']) "
							 "  AND " OWNER_COUNTS("r", "t") ")",
							 3, types, values, NULL, 1) == 1)
			{
				bool		gen_null;
				int64		gen = DatumGetInt64(sg_spi_datum(0, 2, &gen_null));

				switch (sg_submit_for_owner(sg_spi_text(0, 1), thread_id, SPI_getvalue(tt->vals[i], tt->tupdesc, 3),
											gen_null ? NULL : &gen, counted ? &left : NULL))
				{
					case OWNER_SUBMITTED:
						queued++;
						break;
					case OWNER_RETRY:
						keep = true;
						break;
					case OWNER_REFUSED:
						break;
				}
			}
			sg_unlock_thread(thread_id, false);
		}
		run_sql(&drop_plan,
				"DELETE FROM stategraph.steps_left WHERE thread_id OPERATOR(pg_catalog.=) $1 "
				"AND checkpoint_id OPERATOR(pg_catalog.=) $2", 2, types, values, NULL, 0);
		if (keep)
		{
			*held = true;
			(void) run_note_sql(&back_plan,
								"INSERT INTO stategraph.steps_left (thread_id, checkpoint_id, owner, recursion_limit, last_step) "
								"VALUES ($1, $2, $3, $4, $5)",
								5, types, values, nulls);
		}
	}
	return queued;
}

/*
 * Remove up to limit tasks that finished (completed, failed, cancelled)
 * more than retention_s seconds ago, as runs expire (runs.c's sg_sweep),
 * except those of a thread's head checkpoint: a step that waits keeps the
 * results of its completed tasks in their rows until it goes on. A task
 * whose row is gone is queued anew if its step is ever taken again (time
 * travel to it). A row another transaction holds (sg_reassign_owned's) is
 * left to the next sweep, as runs.c's expiry does: waiting for it, holding
 * the expired runs, could deadlock. SPI is connected; returns the number
 * removed.
 */
uint64
sg_tasks_expire(int retention_s, int limit)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {TIMESTAMPTZOID, INT4OID};
	Datum		values[2] = {TimestampTzGetDatum(sg_expiry_cutoff(retention_s)), Int32GetDatum(limit)};

	/* the time a parameter, oldest first, as runs.c's expiry (clock_timestamp() read all of tasks) */
	return run_sql(&plan,
				   "DELETE FROM stategraph.tasks WHERE task_id OPERATOR(pg_catalog.=) ANY (ARRAY("
				   "SELECT k.task_id FROM stategraph.tasks k WHERE k.finished_at OPERATOR(pg_catalog.<) $1 "
				   "AND k.status OPERATOR(pg_catalog.=) ANY (ARRAY['completed', 'failed', 'cancelled']) "
				   "AND NOT EXISTS (SELECT 1 FROM stategraph.threads t WHERE t.thread_id OPERATOR(pg_catalog.=) k.thread_id "
				   "  AND t.head OPERATOR(pg_catalog.=) k.checkpoint_id) "
				   /* nor of the head an active run's rollback goes back to (its step's results and requeue) */
				   "AND NOT EXISTS (SELECT 1 FROM stategraph.runs r WHERE r.thread_id OPERATOR(pg_catalog.=) k.thread_id "
				   "  AND r.status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running', 'waiting']) "
				   "  AND r.start_head OPERATOR(pg_catalog.=) k.checkpoint_id AND " RUN_MAY_ACT("r") ") "
				   "ORDER BY k.finished_at LIMIT $2 FOR UPDATE OF k SKIP LOCKED))",
				   2, types, values, NULL, 0);
}

/* stategraph.sg_sweep_leases(limit): the sweep, for background workers and cron jobs. */
Datum
sg_sweep_leases(PG_FUNCTION_ARGS)
{
	int			limit;
	int			done;

	/* NULL is no default here (that is 100): an error, as for every argument with one */
	sg_require_arg(fcinfo, 0, "limit");
	limit = PG_GETARG_INT32(0);
	if (limit <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("limit must be positive, not %d", limit)));
	sg_prevent_write("stategraph.sweep_leases");
	sg_spi_connect();
	done = sweep_leases(limit, NULL);
	sg_spi_finish();
	PG_RETURN_INT32(done);
}

/* ---------------------------------------------------------------------------
 * sg_claim
 * ---------------------------------------------------------------------------
 */

/*
 * sg_claim's statement, in pieces: the update of the picked rows ($1 queue,
 * $2 worker, $3 n, $4 lease, $5 now), the pick (visible queued tasks in
 * queue order, skipping those another claim holds) and what a worker gets:
 * its config is the task's columns, what the step stored (config) and the
 * claim.
 */
#define CLAIM_UPDATE \
	"UPDATE stategraph.tasks t SET status = 'claimed', attempt = t.attempt OPERATOR(pg_catalog.+) 1, " \
	" token = pg_catalog.gen_random_uuid(), worker = $2, " \
	" lease_expires_at = " SG_UTC_SHIFT("pg_catalog.clock_timestamp()", "+", "COALESCE($4, t.lease)") ", claim_lease = $4, " \
	" updated_at = pg_catalog.clock_timestamp() WHERE "
#define CLAIM_PICK \
	"SELECT task_id FROM stategraph.tasks WHERE status OPERATOR(pg_catalog.=) 'queued' " \
	"AND queue OPERATOR(pg_catalog.=) $1 AND visible_at OPERATOR(pg_catalog.<=) $5 " \
	"ORDER BY visible_at, seq LIMIT "
#define CLAIM_LOCK "FOR UPDATE SKIP LOCKED"
#define CLAIM_RETURNING \
	"RETURNING t.task_id, t.token, t.queue, t.graph, t.thread_id, t.node, t.step, t.attempt, t.input, " \
	" pg_catalog.jsonb_build_object('graph', t.graph, 'thread_id', t.thread_id, " \
	"  'checkpoint_id', t.checkpoint_id, 'node', t.node, 'step', t.step, 'task_id', t.task_id) " \
	" OPERATOR(pg_catalog.||) t.config OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(" \
	"  'attempt', t.attempt, 'queue', t.queue, 'worker', $2, 'resume_values', t.resume_values), " \
	" t.resume, t.lease_expires_at, t.graph_gen"

/*
 * The columns of a claimed task that put_claimed reads (CLAIM_RETURNING);
 * the last one, graph_gen, is past sg_claim's columns, which
 * sg_spi_put_rows fills from the first ones.
 */
#define CLAIMED_TASK_ID		1
#define CLAIMED_GRAPH		4
#define CLAIMED_NODE		6
#define CLAIMED_GRAPH_GEN	13

/*
 * Hand the tasks just claimed (SPI's result) to the worker, except stale
 * ones (stale_gen_task), which are cancelled instead; returns how many were
 * handed out. The common case, nothing stale, reads the cached graph once
 * per task and runs no statement.
 */
static uint64
put_claimed(ReturnSetInfo *rsinfo)
{
	SPITupleTable *tt = SPI_tuptable;
	uint64		n = SPI_processed;
	bool	   *skip = palloc0(sizeof(bool) * (n + 1));
	Datum	   *stale = palloc(sizeof(Datum) * (n + 1));
	int			nstale = 0;
	uint64		i;

	for (i = 0; i < n; i++)
	{
		bool		no_gen;
		Datum		gen = SPI_getbinval(tt->vals[i], tt->tupdesc, CLAIMED_GRAPH_GEN, &no_gen);

		if (!stale_gen_task(SPI_getvalue(tt->vals[i], tt->tupdesc, CLAIMED_GRAPH),
							SPI_getvalue(tt->vals[i], tt->tupdesc, CLAIMED_NODE),
							!no_gen, no_gen ? 0 : DatumGetInt64(gen)))
			continue;
		skip[i] = true;
		stale[nstale++] = CStringGetTextDatum(SPI_getvalue(tt->vals[i], tt->tupdesc, CLAIMED_TASK_ID));
	}
	sg_spi_put_rows(rsinfo, skip);
	if (nstale > 0)
		cancel_stale(stale, nstale, true);
	return n - nstale;
}

/* Claim up to n visible tasks of queue into the result set; returns how many. */
static uint64
claim_into(ReturnSetInfo *rsinfo, const char *queue, const char *worker, int n, Interval *lease)
{
	static SPIPlanPtr plans[2];
	int			many = n > 1 ? 1 : 0;
	SPIPlanPtr	plan;
	Oid			types[5] = {TEXTOID, TEXTOID, INT4OID, INTERVALOID, TIMESTAMPTZOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', lease ? ' ' : 'n', ' '};

	values[0] = CStringGetTextDatum(queue);
	values[1] = CStringGetTextDatum(worker);
	values[2] = Int32GetDatum(n);
	values[3] = lease ? IntervalPGetDatum(lease) : (Datum) 0;
	values[4] = TimestampTzGetDatum(GetCurrentTimestamp());	/* a parameter: an index condition */
	/* one task: an index scan on the primary key; more: a bitmap scan of the picked ids */
	if (plans[many] == NULL)
		plans[many] = generic_plan(many ?
								   CLAIM_UPDATE "t.task_id OPERATOR(pg_catalog.=) ANY (ARRAY("
								   CLAIM_PICK "$3 " CLAIM_LOCK ")) " CLAIM_RETURNING :
								   CLAIM_UPDATE "t.task_id OPERATOR(pg_catalog.=) ("
								   CLAIM_PICK "1 " CLAIM_LOCK ") " CLAIM_RETURNING,
								   5, types);
	plan = plans[many];
	sg_spi_execute(plan, values, nulls, 0);
	return put_claimed(rsinfo);
}

/* Is it this backend's turn to sweep expired leases (every SWEEP_EVERY_MS)? */
static bool
sweep_due(int64 now_ms)
{
	if (now_ms - last_sweep_ms < SWEEP_EVERY_MS)
		return false;
	last_sweep_ms = now_ms;
	return true;
}

/*
 * End a long poll whose client is gone. A worker killed (SIGKILL, the OOM
 * killer) while its claim waits leaves its backend waiting: the poll went
 * on and claimed the next task committed, for nobody (its rows, small,
 * stay in the send buffer until the commit, whose flush alone finds the
 * client gone), and the task sat claimed until its lease lapsed, an
 * attempt spent (with max_attempts 1, failed unworked). The check is
 * postgres.c's for client_connection_check_interval (off by default),
 * made at every wake of the poll, before it claims.
 */
static void
check_client_alive(void)
{
	if (whereToSendOutput == DestRemote && !pq_check_connection())
	{
		ClientConnectionLost = true;
		InterruptPending = true;
		CHECK_FOR_INTERRUPTS(); /* FATAL "connection to client lost" */
	}
}

/* Check sg_claim's arguments: n > 0, lease > 0, 0 <= wait <= 24 days. */
static void
check_claim_args(int n, Interval *lease, Interval *wait)
{
	if (n <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n must be positive, not %d", n),
				 errhint("n is how many tasks a worker takes at most.")));
	if (lease != NULL && sg_interval_ms(lease) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease must be positive"),
				 errhint("Pass NULL for the node's own lease.")));
	if (lease != NULL)
		sg_check_interval_range(lease, false, "lease");
	if (sg_interval_ms(wait) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wait must not be negative")));
	/* the bound of a node's lease (graph.c): longer is a mistake, not a long poll */
	if (sg_interval_ms(wait) > SG_MAX_LEASE_MS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wait must be at most 24 days"),
				 errhint("A worker that waits longer calls sg_claim again.")));
}

/* What one look of sg_claim needs, and what it found (claim_look). */
typedef struct ClaimLook
{
	ReturnSetInfo *rsinfo;
	const char *queue;
	const char *worker;
	int			n;
	Interval   *lease;
	bool		poll;			/* a long poll (wait > 0) */
	int64		now_ms;
	bool		claimed;		/* tasks were handed out */
	bool		cancelled;		/* stale tasks were cancelled */
	Oid			ext;			/* the extension, as a long poll began */
} ClaimLook;

/*
 * One look of sg_claim: the lease sweep when due, then the claim. Run in a
 * subtransaction by a long poll (an SGSubxactFn), and kept only when it
 * claimed or cancelled: the poll's transaction stays open while it waits,
 * and a look that requeued an expired task or cancelled a stale one (whose
 * thread it may make idle), kept, held those rows out of every other
 * session's reach for the whole wait: the late sg_complete of the worker
 * whose lease lapsed, its heartbeat, and new input for the thread waited
 * for the poll to return, and the completion was then refused because the
 * poll had claimed the task. A look that changed nothing leaves nothing.
 */
static bool
claim_look(void *arg)
{
	ClaimLook  *l = (ClaimLook *) arg;
	bool		held;
	uint64		cancels = stale_cancels;

	/*
	 * A long poll's look after a DROP EXTENSION says so (55000), not what
	 * its query met (42P01, with the query's text: stategraph.c,
	 * sg_extension_after_wait; TAP 332).
	 */
	if (l->poll)
		sg_extension_after_wait(l->ext, psprintf("tasks of queue \"%s\"", l->queue));

	/*
	 * Each look in an SPI connection of its own: its results (SPI tuple
	 * tables, 8 kB each, kept until the connection ends) went with the
	 * call, and a long poll grew by some 60 kB a second (TAP
	 * 278_claim_wait_memory_flat).
	 */
	sg_spi_connect();
	held = sg_restore_holds(false); /* a restore is loading the database (restore.c) */
	if (!held && sweep_due(l->now_ms))
		sweep_leases(100, l->poll ? l->queue : NULL);
	l->claimed = !held && claim_into(l->rsinfo, l->queue, l->worker, l->n, l->lease) > 0;
	sg_spi_finish();
	l->cancelled = stale_cancels != cancels;
	return l->claimed || l->cancelled;
}

/*
 * sg_claim(queue, worker, n, lease, wait): claim up to n tasks; with wait,
 * long-poll until one is committed or wait passes. A look of the long poll
 * that cancelled stale tasks without claiming ends it (with no task): its
 * cancels are kept, and must not stay locked while it waits.
 */
Datum
sg_claim(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *queue = sg_arg_text(fcinfo, 0, "queue");
	char	   *worker = sg_arg_text(fcinfo, 1, "worker");
	int			n;
	Interval   *lease = PG_ARGISNULL(3) ? NULL : PG_GETARG_INTERVAL_P(3);
	Interval   *wait;
	TimestampTz deadline;
	MemoryContext loop_cxt;
	MemoryContext caller = CurrentMemoryContext;
	Oid			ext = InvalidOid;
	const char *look = "its first look";	/* what led to this look: DEBUG2 below */
	bool		poll;

	sg_require_arg(fcinfo, 2, "n");
	sg_require_arg(fcinfo, 4, "wait");
	n = PG_GETARG_INT32(2);
	wait = PG_GETARG_INTERVAL_P(4);
	check_claim_args(n, lease, wait);
	sg_prevent_write("sg_claim");
	poll = sg_interval_ms(wait) != 0;
	if (poll)
		ext = sg_extension_oid();
	InitMaterializedSRF(fcinfo, 0);
	/* a transaction snapshot never sees new work: there a claim does not wait */
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   IsolationUsesXactSnapshot() ? 0 : sg_interval_ms(wait));
	loop_cxt = AllocSetContextCreate(CurrentMemoryContext, "stategraph claim", ALLOCSET_DEFAULT_SIZES);

	sg_spi_connect();
	set_waiting(queue);
	PG_TRY();
	{
		for (;;)
		{
			ClaimLook	l = {0};
			long		left;

			l.rsinfo = rsinfo;
			l.queue = queue;
			l.worker = worker;
			l.n = n;
			l.lease = lease;
			l.poll = poll;
			l.ext = ext;
			l.now_ms = GetCurrentTimestamp() / 1000;

			MemoryContextSwitchTo(loop_cxt);
			ResetLatch(MyLatch);
			if (!poll)
				(void) claim_look(&l);
			else
			{
				ErrorData  *edata = sg_spi_subxact(claim_look, &l);

				if (edata != NULL)
					ReThrowError(edata);
			}
			if (l.cancelled && !l.claimed)
				break;			/* (see above) */
			if (l.claimed)
			{
				/*
				 * Whether a wake found the work it announced, or the poll's
				 * next look did: what TAP 037 checks of the wake on commit,
				 * without timing it.
				 */
				ereport(DEBUG2,
						(errmsg_internal("sg_claim of queue \"%s\" claimed at %s", queue, look)));
				break;
			}
			MemoryContextSwitchTo(caller);
			MemoryContextReset(loop_cxt);
			left = (long) ((deadline - GetCurrentTimestamp()) / 1000);
			if (left <= 0)
				break;
			look = (WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							  Min(left, sg_queue_waiters_ready() ? POLL_MS_SHMEM : POLL_MS_NO_SHMEM),
							  PG_WAIT_EXTENSION) & WL_LATCH_SET) ? "a look after a wake" : "a look after a poll's timeout";
			CHECK_FOR_INTERRUPTS();
			check_client_alive();
		}
	}
	PG_FINALLY();
	{
		set_waiting(NULL);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
	sg_spi_finish();
	return (Datum) 0;
}

/* ---------------------------------------------------------------------------
 * What a worker says of its task
 * ---------------------------------------------------------------------------
 */

/* sg_heartbeat(task_id, token, extend): extend the lease; false: stop working. */
Datum
sg_heartbeat(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan;
	char	   *task_id = sg_arg_text(fcinfo, 0, "task_id");
	pg_uuid_t  *token;
	Interval   *extend = PG_ARGISNULL(2) ? NULL : PG_GETARG_INTERVAL_P(2);
	TaskRow    *row;
	bool		alive;
	bool		lost;

	sg_require_arg(fcinfo, 1, "token");
	token = PG_GETARG_UUID_P(1);
	if (extend != NULL && sg_interval_ms(extend) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("extend must be positive"),
				 errhint("Pass NULL to extend by the lease the task was claimed with.")));
	if (extend != NULL)
		sg_check_interval_range(extend, false, "extend");
	sg_prevent_write("sg_heartbeat");
	sg_spi_connect();
	row = require_row(task_id, token, true);
	/*
	 * An expired lease nobody claimed again is taken back by its worker. So
	 * is, in effect, one whose attempts ran out (a lost failure): its result
	 * is still taken (sg_complete takes the failure back), so its worker goes
	 * on, with no lease to extend (nobody can claim the task until a resume
	 * queues it again, with no token). False, it dropped that result (TAP 144).
	 */
	lost = has_status(row, "failed") && row->lost;
	alive = row->has_token && memcmp(&row->token, token, sizeof(pg_uuid_t)) == 0 &&
		(has_status(row, "claimed") || (has_status(row, "queued") && !row->handed_back) || lost);
	if (alive && stale_row(row))
	{
		Datum		id = CStringGetTextDatum(task_id);

		cancel_stale(&id, 1, false);	/* the worker stops; the run goes on */
		alive = false;
	}
	if (alive && !lost)
	{
		Oid			types[2] = {TEXTOID, INTERVALOID};
		Datum		values[2] = {CStringGetTextDatum(task_id),
		IntervalPGetDatum(extend ? extend : ms_interval(row->lease_ms))};

		run_sql(&plan,
				"UPDATE stategraph.tasks SET status = 'claimed', "
				"lease_expires_at = " SG_UTC_SHIFT("pg_catalog.clock_timestamp()", "+", "$2") ", "
				"updated_at = pg_catalog.clock_timestamp() WHERE task_id OPERATOR(pg_catalog.=) $1",
				2, types, values, NULL, 0);
	}
	sg_spi_finish();
	PG_RETURN_BOOL(alive);
}

/* Refuse a call on a task that finished otherwise (completed, failed or interrupted). */
static void
refuse_finished(TaskRow *row, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_SG_TASK_FINISHED),
			 errmsg("task \"%s\" of node \"%s\" is %s already", row->task_id, row->node, row->status),
			 errdetail("The %s was not taken.", what)));
}

/*
 * Refuse a call under a token whose worker failed the task (sg_fail with
 * retry): the task waits for its retry, and that claim is over.
 */
static void
refuse_handed_back(TaskRow *row, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_SG_TASK_FINISHED),
			 errmsg("task \"%s\" of node \"%s\" was failed already by this claim", row->task_id, row->node),
			 errdetail("The task waits for its retry (attempt %d of %d); the %s was not taken.",
					   row->attempt + 1, row->max_attempts, what)));
}

/* Where the step of a completed task stands. */
typedef enum StepState
{
	STEP_TASKS_OUT,				/* other tasks of the step are still out */
	STEP_RUN,					/* complete, and a background run of the thread goes on with it */
	STEP_FREE,					/* complete, nobody else will go on with it: thread row locked */
	STEP_BUSY					/* complete, and another session holds the thread (and goes on) */
} StepState;

/*
 * STEP_STATE(thread, checkpoint, task): the SQL of a StepState ('out',
 * 'run', 'free', 'busy') of a step after task completed: its other tasks
 * still out (its cancelled ones belong to a step the thread left), the
 * thread's active background run (of a role that may act on the thread:
 * RUN_MAY_ACT; not one submitted with a delay that has not started: the
 * step would wait for it with nothing out, though sg_invoke may take the
 * thread meanwhile), else the thread's row, locked without waiting.
 * Evaluated in order, so only a step to go on with locks a row.
 */
#define STEP_OTHER_TASKS_OUT(thread, checkpoint, task) \
	"EXISTS (SELECT FROM stategraph.tasks s WHERE s.thread_id OPERATOR(pg_catalog.=) " thread \
	"  AND s.checkpoint_id OPERATOR(pg_catalog.=) " checkpoint " AND s.task_id OPERATOR(pg_catalog.<>) " task \
	"  AND s.status OPERATOR(pg_catalog.=) " TASK_OUT ")"
#define STEP_STATE(thread, checkpoint, task) \
	"CASE WHEN " STEP_OTHER_TASKS_OUT(thread, checkpoint, task) " THEN 'out' " STEP_STATE_NONE_OUT(thread)
/* STEP_STATE's other cases, once no other task of the step is out */
#define STEP_STATE_NONE_OUT(thread) \
	" WHEN EXISTS (SELECT FROM stategraph.runs r WHERE r.thread_id OPERATOR(pg_catalog.=) " thread \
	"  AND r.status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running', 'waiting']) AND " RUN_MAY_ACT("r") \
	"  AND (r.stepped OR r.status OPERATOR(pg_catalog.<>) 'pending' " \
	"       OR r.not_before OPERATOR(pg_catalog.<=) pg_catalog.now())) THEN 'run' " \
	" WHEN EXISTS (SELECT FROM stategraph.threads h WHERE h.thread_id OPERATOR(pg_catalog.=) " thread \
	"  FOR NO KEY UPDATE SKIP LOCKED) THEN 'free' ELSE 'busy' END"

/*
 * The StepState in column col of SPI's first result row, for thread
 * thread_id. STEP_STATE's look for a run is made under the caller's
 * row-level security: a member role's run on its parent's thread, which
 * the parent cannot see, is looked for below it (the parent went on with
 * the step itself, or left it, and the member's run waited for good).
 */
static StepState
step_state_of(int col, const char *thread_id)
{
	char	   *s = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);
	StepState	state = strcmp(s, "out") == 0 ? STEP_TASKS_OUT : strcmp(s, "run") == 0 ? STEP_RUN :
		strcmp(s, "free") == 0 ? STEP_FREE : STEP_BUSY;

	if ((state == STEP_FREE || state == STEP_BUSY) &&
		OidIsValid(sg_thread_hidden_step_run_role(thread_id, false)))
		state = STEP_RUN;
	return state;
}

/*
 * Where the row's step stands, under the step's lock: the completions of
 * one step that find other tasks out take it, held until commit; of two
 * completing at once, the second to take it sees the first committed (a
 * new snapshot per statement), so the last completion of a step always
 * finds the step complete. Without it, each could see the other still
 * claimed, and the step would wait forever.
 *
 * Under REPEATABLE READ or SERIALIZABLE (a database default makes
 * autocommit so too) the transaction's snapshot is older than the lock:
 * both completions saw the other's task out, and the step (its background
 * run, or its thread) waited for ever with every task completed. So a
 * look that finds a task out there looks again with the latest snapshot
 * (read only: what committed before the lock was taken). When that finds
 * none, a sibling's completion committed after this transaction's
 * snapshot: a background run of the thread is woken as ever (it goes on
 * in a transaction of its own), a session holding the thread is left the
 * step (leave_step's note is read after the commit); but the step cannot
 * go on here, in this transaction, whose snapshot still shows the
 * sibling's task claimed (its result unseen): that is a serialization
 * failure (40001), as SERIALIZABLE reports it already. The retry sees
 * the step complete and goes on with it; a worker that does not retry
 * leaves its task claimed, and its lease expiry queues it again, so no
 * step waits for ever (isolation external_rr_completions).
 */
static StepState
step_state(TaskRow *row)
{
	static SPIPlanPtr plan;
	static SPIPlanPtr out_plan;
	static SPIPlanPtr none_out_plan;
	Oid			types[3] = {TEXTOID, UUIDOID, TEXTOID};
	Datum		values[3] = {CStringGetTextDatum(row->thread_id), uuid_datum(&row->checkpoint_id),
	CStringGetTextDatum(row->task_id)};
	LOCKTAG		tag;
	uint64		h = sg_key(STEP_LOCK_FIELD4, row->thread_id, strlen(row->thread_id),
						   row->checkpoint_id.data, UUID_LEN);
	StepState	state;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h, STEP_LOCK_FIELD4);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	run_sql(&plan, "SELECT " STEP_STATE("$1", "$2", "$3"), 3, types, values, NULL, 1);
	state = step_state_of(1, row->thread_id);
	if (state != STEP_TASKS_OUT || !IsolationUsesXactSnapshot())
		return state;
	if (sg_spi_execute_latest(sg_spi_prepare(&out_plan,
											 "SELECT 1 WHERE " STEP_OTHER_TASKS_OUT("$1", "$2", "$3"),
											 3, types),
							  values, NULL) > 0)
		return STEP_TASKS_OUT;
	run_sql(&none_out_plan, "SELECT CASE " STEP_STATE_NONE_OUT("$1"), 1, types, values, NULL, 1);
	state = step_state_of(1, row->thread_id);
	if (state == STEP_FREE)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a concurrent completion in the waiting step of thread \"%s\"",
						row->thread_id),
				 errdetail("Another task of the step was completed by a transaction that committed after this transaction's snapshot was taken: this transaction cannot go on with the step, and task \"%s\" was not completed.",
						   row->task_id),
				 errhint("Retry the transaction.")));
	return state;
}

/*
 * The step of row is complete but cannot go on here: another transaction
 * holds the thread's row (STEP_BUSY), or this role may not execute the
 * graph's functions. Noted in stategraph.steps_left, in the completion's
 * transaction: once it commits, a worker continues the step with a run
 * of the tasks' owner (the thread's owner) if it still waits then (sg_tasks_continue_left),
 * or CALL sg_work or the sweep does; a session that held the thread to go
 * on with the step itself (a continuing sg_invoke) has moved the thread on
 * by then, and the note is dropped. The note keeps the recursion limit
 * the step would have counted here (run_continued_step): the run counts
 * it on (TAP 317_left_step_recursion_limit).
 */
static void
leave_step(TaskRow *row)
{
	static SPIPlanPtr plan;
	Oid			types[4] = {TEXTOID, UUIDOID, INT4OID, INT4OID};
	Datum		values[4] = {CStringGetTextDatum(row->thread_id), uuid_datum(&row->checkpoint_id),
	Int32GetDatum(row->recursion_limit), Int32GetDatum(row->last_step)};
	bool		counted = row->has_last_step && row->recursion_limit > 0;
	char		nulls[4] = {' ', ' ', counted ? ' ' : 'n', counted ? ' ' : 'n'};

	/*
	 * the note of the role the step's tasks are (the thread's owner, see
	 * queue_task), whose run sees them; the completer is one of its members
	 * (the tasks' policy). With the limit the step would have counted gone
	 * on with here (run_continued_step): the run counts it on.
	 */
	(void) run_note_sql(&plan,
						"INSERT INTO stategraph.steps_left (thread_id, checkpoint_id, owner, recursion_limit, last_step) "
						"SELECT k.thread_id, k.checkpoint_id, k.owner, $3, $4 FROM stategraph.tasks k "
						"WHERE k.thread_id OPERATOR(pg_catalog.=) $1 AND k.checkpoint_id OPERATOR(pg_catalog.=) $2 LIMIT 1 "
						"ON CONFLICT DO NOTHING",
						4, types, values, nulls);
	sg_steps_left_at_commit();
}

/*
 * The role the step goes on as: the thread's owner, whose the step's tasks
 * are, or InvalidOid when there is none (a dropped role's thread: the step
 * is left, and sg_submit_for_owner says why). The completer is the owner,
 * a member of it (the tasks' policy), a superuser or a BYPASSRLS role; run
 * with the completer's rights, the owner's next nodes acted as a superuser
 * worker (a role's node made it a superuser: ALTER ROLE ... SUPERUSER) or
 * read the threads of every role a worker role shared by tenants is a
 * member of (TAP 297_complete_runs_as_owner).
 */
static Oid
step_owner_role(TaskRow *row)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(row->thread_id)};
	char	   *owner;

	if (run_sql(&plan, "SELECT owner FROM stategraph.threads WHERE thread_id OPERATOR(pg_catalog.=) $1",
				1, types, values, NULL, 1) == 0)
		return InvalidOid;
	owner = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	return owner == NULL ? InvalidOid : get_role_oid(owner, true);
}

/*
 * continue_step's run of the step, the thread's lock taken, as
 * sg_invoke(graph, NULL, thread) would: the step takes the task's result
 * from here (done_task), not from its row. The run has a context of its own, deleted whatever
 * happens: called from a reducer written in SQL, the context of the call
 * lives in the graph's memory, and a failed run kept its pin on its graph
 * there.
 */
static void
run_continued_step(TaskRow *row, SGGraph *g, Jsonb *result)
{
	SGRunOptions opts;
	SGRun	   *run;
	MemoryContext cxt;

	memset(&opts, 0, sizeof(opts));
	opts.graph = row->graph;
	opts.has_graph_gen = true;	/* the graph sg_complete checked the task against */
	opts.graph_gen = g->gen;
	opts.thread_id = row->thread_id;
	/*
	 * The run whose step this is goes on: its limit counts on from where it
	 * began, as a background run's does across its waits (runs.c,
	 * run_last_step). A fresh limit for each continuation let an agent loop
	 * whose model is an external node go on for as long as its worker
	 * answered (pg_regress external, section 17).
	 */
	if (row->has_last_step && row->recursion_limit > 0)
	{
		opts.recursion_limit = row->recursion_limit;
		opts.has_last_step = true;
		opts.last_step = row->last_step;
	}
	else
		opts.recursion_limit = SG_DEFAULT_RECURSION_LIMIT;
	opts.on_error = SG_ON_ERROR_RETURN;
	done_task.task_id = row->task_id;
	done_task.result = result;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "stategraph continued step", ALLOCSET_SMALL_SIZES);
	PG_TRY();
	{
		run = sg_run_begin(&opts, cxt);
		while (sg_run_step(run))
			CHECK_FOR_INTERRUPTS();
		sg_run_end(run);
	}
	PG_FINALLY();
	{
		done_task.task_id = NULL;
		MemoryContextDelete(cxt);
	}
	PG_END_TRY();
}

/*
 * The last task of a step without a background run completed: go on with
 * the step here, in the completion's transaction, as sg_invoke(graph, NULL,
 * thread) would as the thread's owner (a node's failure is recorded on the
 * thread, not raised), if the owner may execute the graph's functions
 * (else the step waits for a session that may). The completer acts as the
 * owner as a background run does (runs.c, act_as_submitter): it cannot SET
 * ROLE back, makes no temporary object, and every setting its nodes make
 * is undone at the end (AtEOXact_GUC as at an abort: a plain SET would
 * otherwise stay in the worker's session). The thread's row is locked already
 * (STEP_FREE), and its lock is taken without waiting: the task row is
 * locked too, and a session holding the thread (a continuing sg_invoke
 * waits for this row; sg_update_state, time travel or a deletion moves the
 * thread on) takes the result itself, so waiting could only deadlock.
 * An error leaves the role and the settings to the (sub)transaction's abort
 * (continue_step_or_leave), as fmgr_security_definer does.
 */
static void
continue_step(TaskRow *row, SGGraph *g, Jsonb *result, bool *went_as_owner)
{
	Oid			owner = g->nodes == NULL ? InvalidOid : step_owner_role(row);
	Oid			save_user;
	int			save_sec;
	int			nest = 0;
	bool		as_owner;
	bool		go_on;

	/*
	 * a graph that cannot run now (a function of it dropped or given away:
	 * completion_graph, its channels alone) leaves the step to a run of
	 * the owner, which says so, and which goes on once the graph is
	 * repaired; so does a thread whose owner is gone (step_owner_role)
	 */
	if (!OidIsValid(owner))
	{
		leave_step(row);
		return;
	}
	GetUserIdAndSecContext(&save_user, &save_sec);

	/*
	 * Unrestricted only in the owner's own session (its session user too):
	 * a worker that SET ROLE to the owner first ran the owner's nodes able
	 * to RESET ROLE back to the worker's session user, a superuser say
	 */
	as_owner = owner != save_user || owner != GetSessionUserId();

	/*
	 * The owner's nodes could FETCH from any cursor open in the completer's
	 * session (a cursor WITH HOLD, a driver's portal, a PL/pgSQL FOR loop
	 * around the call: plpgsql's FETCH finds a portal by name), reading
	 * what the completer's rights chose, another role's threads say: such a
	 * step is left to a run of the owner (TAP 302_complete_as_owner_session)
	 */
	if (as_owner && !ThereAreNoReadyPortals())
	{
		leave_step(row);
		return;
	}

	/*
	 * Advisory locks are the session's, whoever takes them: the owner's
	 * nodes could let go of the completer's own (pg_advisory_unlock_all),
	 * which another role's work in this session relies on. A completer that
	 * holds some (of its session or its transaction: PostgreSQL does not
	 * tell them apart here) leaves the step to a run of the owner; those
	 * the nodes leave are let go after the step (sg_release_advisory_locks).
	 * (TAP 304_complete_owner_advisory_locks)
	 */
	if (as_owner && sg_advisory_locks_held(false) != NIL)
	{
		leave_step(row);
		return;
	}
	if (as_owner)
	{
		char	   *path = sg_owner_step_search_path();

		*went_as_owner = true;

		SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
		nest = NewGUCNestLevel();
		(void) set_config_option("search_path", path, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		sg_hide_session_settings();
	}

	/*
	 * an owner that may not run the graph's functions leaves the step to a
	 * run of its own (whose submit says why); so does a thread another
	 * session holds
	 */
	go_on = !OidIsValid(sg_graph_unprivileged_fn(g)) && sg_try_lock_thread(row->thread_id);
	if (go_on)
	{
		run_continued_step(row, g, result);
		let_thread_go(row->thread_id);
	}
	if (as_owner)
	{
		AtEOXact_GUC(false, nest);
		SetUserIdAndSecContext(save_user, save_sec);
	}
	if (!go_on)
		leave_step(row);	/* (as the completer) */
}

/* continue_step's arguments, for sg_spi_subxact. */
typedef struct ContinueArgs
{
	TaskRow    *row;
	SGGraph    *g;
	Jsonb	   *result;
	bool		as_owner;		/* set when the step went on as the owner */
} ContinueArgs;

static bool
continue_step_fn(void *arg)
{
	ContinueArgs *a = (ContinueArgs *) arg;

	continue_step(a->row, a->g, a->result, &a->as_owner);
	return true;
}

/*
 * continue_step in a subtransaction: a step cancelled under way (the
 * worker's statement_timeout shorter than the step's SQL nodes, or
 * pg_cancel_backend) leaves the step to a run of the tasks' owner instead
 * of refusing the completion. The worker's result is valid: refused so,
 * every completion of the task failed alike, the reference worker handed
 * the task back as a failure after 5 tries, a model was called again for
 * each attempt, and the thread ended in error (TAP
 * 298_complete_step_cancelled_leaves_step). Any other error is the
 * completion's, as before.
 */
static void
continue_step_or_leave(TaskRow *row, SGGraph *g, Jsonb *result)
{
	ContinueArgs a = {row, g, result, false};
	ErrorData  *e = sg_spi_subxact(continue_step_fn, &a);

	/*
	 * those the owner's nodes took, in a session that held none before
	 * (continue_step), a failed step's too; those of the transaction last
	 * until the completer's commit, as if it had taken them
	 */
	if (a.as_owner)
		sg_release_advisory_locks(NIL);
	if (e == NULL)
		return;
	if (e->sqlerrcode != ERRCODE_QUERY_CANCELED)
		ReThrowError(e);
	ereport(LOG,
			(errmsg("the step of thread \"%s\" that external task \"%s\" completed was cancelled under way: %s",
					row->thread_id, row->task_id, e->message),
			 errdetail("The result is kept; a run of the thread's owner goes on with the step.")));
	leave_step(row);
}

/*
 * The common completion in one statement: the task is claimed (or queued
 * again after its lease expired, nobody claimed it since) under this
 * token. Returns its row and where its step stands as this statement saw
 * it (without the step's lock: a completion that finds no task out is the
 * last, and one that finds some looks again under the lock), or NULL for
 * every other case (complete_fenced sorts those out).
 */
static TaskRow *
complete_claimed(const char *task_id, pg_uuid_t *token, Jsonb *update, StepState *state)
{
	static SPIPlanPtr plan;
	Oid			types[3] = {TEXTOID, UUIDOID, JSONBOID};
	Datum		values[3] = {CStringGetTextDatum(task_id), UUIDPGetDatum(token), JsonbPGetDatum(update)};
	char		nulls[3] = {' ', ' ', update ? ' ' : 'n'};
	TaskRow    *row;

	if (run_sql(&plan,
				"UPDATE stategraph.tasks t SET status = 'completed', result = $3, lease_expires_at = NULL, "
				"finished_at = pg_catalog.clock_timestamp(), updated_at = pg_catalog.clock_timestamp() "
				"WHERE task_id OPERATOR(pg_catalog.=) $1 AND token OPERATOR(pg_catalog.=) $2 "
				"AND (status OPERATOR(pg_catalog.=) 'claimed' OR (status OPERATOR(pg_catalog.=) 'queued' "
				"AND ((error OPERATOR(pg_catalog.->>) 'name') OPERATOR(pg_catalog.=) 'external_task_error') IS NOT TRUE)) "
				"RETURNING " TASK_COLUMNS ", " STEP_STATE("t.thread_id", "t.checkpoint_id", "t.task_id"),
				3, types, values, nulls, 1) == 0)
		return NULL;
	row = row_from_tuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	*state = step_state_of(TC_LAST_STEP + 1, row->thread_id);
	return row;
}

/*
 * The task_id and token arguments of a worker's call (sg_complete,
 * sg_fail, sg_interrupt_task), with SPI connected.
 */
static void
fenced_call_args(FunctionCallInfo fcinfo, char **task_id, pg_uuid_t **token)
{
	*task_id = sg_arg_text(fcinfo, 0, "task_id");
	sg_require_arg(fcinfo, 1, "token");
	*token = PG_GETARG_UUID_P(1);
	sg_spi_connect();
}

/*
 * The opening shared by sg_fail and sg_interrupt_task: the arguments, the
 * thread's lock when the call may record on the thread, and the task row,
 * fenced by the token (and refused if stale).
 */
static TaskRow *
begin_fenced_call(FunctionCallInfo fcinfo, const char *what, bool lock_thread)
{
	char	   *task_id;
	pg_uuid_t  *token;
	TaskRow    *row;

	bool		held = false;

	fenced_call_args(fcinfo, &task_id, &token);
	if (lock_thread)
		held = lock_task_thread(task_id, token);
	row = fenced_row(task_id, token, what);
	row->thread_held = held;
	refuse_stale(row, what);
	return row;
}

/*
 * Before a completion that complete_claimed did not take locks its task's
 * row: if the task is a lost failure (its expired lease's attempts ran out
 * and the sweep recorded the failure), the late result takes that failure
 * back on the thread, so the thread is locked first, the order runs, sg_fail
 * and sg_reassign_owned keep (the task row after the thread's). Locked
 * after the task row, the completion deadlocked with a reassign holding
 * the thread and waiting for the task, or with a resume. A task in any
 * other state is left as it is: complete_claimed found it neither claimed
 * nor queued under this token, and a failure recorded meanwhile would
 * have made its UPDATE wait and then skip it, so this read sees that too.
 */
static bool
lock_thread_of_lost(const char *task_id)
{
	TaskRow    *row = fetch_row(task_id, false);

	return row != NULL && has_status(row, "failed") && row->lost && lock_task_thread(task_id, NULL);
}

/*
 * The other completions, of a row fenced_row let through: an error for a
 * task finished otherwise; true for the same completion again (nothing to
 * do); else (a late result after the failure its expired lease recorded)
 * stores the update and returns false.
 */
static bool
complete_fenced(TaskRow *row, Jsonb *update)
{
	static SPIPlanPtr plan;

	if (has_status(row, "completed"))
	{
		bool		same = (row->result == NULL && update == NULL) ||
			(row->result != NULL && update != NULL &&
			 DatumGetBool(DirectFunctionCall2(jsonb_eq, JsonbPGetDatum(row->result),
											  JsonbPGetDatum(update))));

		if (!same)
			ereport(ERROR,
					(errcode(ERRCODE_SG_TASK_FINISHED),
					 errmsg("task \"%s\" of node \"%s\" was completed already with another update",
							row->task_id, row->node),
					 errdetail("The first completion stands; this one was not taken.")));
		return true;
	}
	if (has_status(row, "interrupted") || (has_status(row, "failed") && !row->lost))
		refuse_finished(row, "update");
	if (row->handed_back)
		refuse_handed_back(row, "update");
	update_task(&plan,
				"UPDATE stategraph.tasks SET status = 'completed', result = $2, lease_expires_at = NULL, "
				"finished_at = pg_catalog.clock_timestamp(), updated_at = pg_catalog.clock_timestamp() "
				"WHERE task_id OPERATOR(pg_catalog.=) $1",
				row, update);
	return false;
}

/*
 * The graph a completion checks its update against and goes on with: the
 * graph as sg_graph_get loads it, or, when that fails because a function of
 * it was dropped, replaced or given to another role since it was compiled
 * (42883, 42P13, 42501), its channels alone (sg_graph_channels, no nodes):
 * the update is checked as ever and the worker's result kept, and the step
 * waits for the graph to be repaired, as a background run's step does (the
 * run says why). Refusing the completion sent a paid result back as the
 * task's failure, retried with another model call for each attempt, until
 * the failure was recorded as the external node's.
 */
static SGGraph *
completion_graph(TaskRow *row)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	SGGraph    *volatile g = NULL;

	/* the common case: a graph loaded before, and not changed since, loads (no subtransaction) */
	g = sg_graph_get_cached(row->graph);
	if (g != NULL)
		return g;
	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		/* the caller's context, in which sg_graph_get pins the graph (not the subtransaction's) */
		MemoryContextSwitchTo(cxt);
		g = sg_graph_get(row->graph);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (e->sqlerrcode != ERRCODE_UNDEFINED_FUNCTION &&
			e->sqlerrcode != ERRCODE_INVALID_FUNCTION_DEFINITION &&
			e->sqlerrcode != ERRCODE_INSUFFICIENT_PRIVILEGE)
			ReThrowError(e);
		ereport(LOG,
				(errmsg("external task \"%s\" of thread \"%s\" completed while graph \"%s\" cannot run: %s",
						row->task_id, row->thread_id, row->graph, e->message),
				 errdetail("The result is kept; the step goes on once the graph is repaired.")));
		g = NULL;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	if (g == NULL)
		return sg_graph_channels(row->graph);
	return g;
}

/* sg_complete(task_id, token, update): hand back the task's update. */
Datum
sg_complete(PG_FUNCTION_ARGS)
{
	Jsonb	   *update = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	char	   *task_id;
	pg_uuid_t  *token;
	TaskRow    *row;
	SGGraph    *g;
	StepState	state = STEP_TASKS_OUT;

	sg_prevent_write("sg_complete");
	fenced_call_args(fcinfo, &task_id, &token);
	row = complete_claimed(task_id, token, update, &state);
	if (row == NULL)
	{
		bool		held = lock_thread_of_lost(task_id);

		row = fenced_row(task_id, token, "update");
		row->thread_held = held;
		if (complete_fenced(row, update))
		{
			sg_spi_finish();
			PG_RETURN_VOID();	/* the same completion again */
		}
	}

	/* the update must be one the node could return (else the error takes the completion back) */
	refuse_stale(row, "update");
	g = completion_graph(row);
	/* replaced since the check above (its invalidation read by sg_graph_get): stale as well */
	if (row->has_graph_gen && g->gen != row->graph_gen)
		stale_error(row, "update");
	sg_check_update(g, psprintf("external node \"%s\"", row->node), update);

	/* a late result takes back the failure its expired lease recorded (thread locked first) */
	if (has_status(row, "failed"))
		record_on_thread(row, "error", NULL);
	if (state == STEP_TASKS_OUT)
		state = step_state(row);	/* again, under the step's lock */
	switch (state)
	{
		case STEP_TASKS_OUT:
			break;
		case STEP_BUSY:
			leave_step(row);
			break;
		case STEP_RUN:
			if (sg_step_ready_hook != NULL)
				sg_step_ready_hook(row->graph, row->thread_id);
			break;
		case STEP_FREE:
			continue_step_or_leave(row, g, update);
			break;
	}
	sg_spi_finish();
	PG_RETURN_VOID();
}

/*
 * A second sg_fail under the claim's token that its worker's own first one
 * answered: the same report again is a retry of the call (nothing to do),
 * another (another error, or retry false after a retry was queued, or true
 * after a final failure with attempts left) is refused (SG012), as a
 * second sg_complete or sg_interrupt_task that says something else is: it
 * was dropped without a word, and a worker that first reported a failure
 * worth a retry and then a fatal one thought the task failed for good.
 * A failure the lease sweep recorded (not a worker's) is left as before.
 */
static void
refuse_other_failure(TaskRow *row, Jsonb *error, bool retry)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(row->task_id)};
	Jsonb	   *entry;
	Jsonb	   *stored;
	bool		retried;

	if (run_sql(&plan, "SELECT t.error FROM stategraph.tasks t WHERE t.task_id OPERATOR(pg_catalog.=) $1",
				1, types, values, NULL, 1) != 1)
		return;
	entry = sg_spi_jsonb(0, 1);
	if (entry == NULL || sg_jsonb_get_cstring(entry, "name") == NULL ||
		strcmp(sg_jsonb_get_cstring(entry, "name"), "external_task_error") != 0)
		return;
	stored = sg_jsonb_get(entry, "error");
	retried = row->handed_back;
	if ((stored == NULL) == (error == NULL) &&
		(stored == NULL || compareJsonbContainers(&stored->root, &error->root) == 0) &&
		(retry == retried || (!retried && row->attempt >= row->max_attempts)))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_SG_TASK_FINISHED),
			 errmsg("task \"%s\" of node \"%s\" was failed already by this claim", row->task_id, row->node),
			 errdetail("This claim's first sg_fail (%s) stands; this one says something else and was not taken.",
					   retried ? "a retry was queued" : "a final failure")));
}

/* sg_fail(task_id, token, error, retry): a failed attempt. */
Datum
sg_fail(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr fail_plan;
	Jsonb	   *error;
	bool		retry;
	TaskRow    *row;
	char	   *message;
	Jsonb	   *entry;

	sg_require_arg(fcinfo, 2, "error");
	sg_require_arg(fcinfo, 3, "retry");
	error = PG_GETARG_JSONB_P(2);
	retry = PG_GETARG_BOOL(3);
	sg_prevent_write("sg_fail");
	row = begin_fenced_call(fcinfo, "failure", true);
	sg_refuse_running_thread(row->thread_id, "sg_fail");	/* (see record_on_thread) */
	if (has_status(row, "failed") || row->handed_back)
	{
		refuse_other_failure(row, error, retry);
		sg_spi_finish();
		PG_RETURN_VOID();		/* reported already */
	}
	if (has_status(row, "completed") || has_status(row, "interrupted"))
		refuse_finished(row, "failure");

	message = error ? sg_jsonb_get_cstring(error, "message") : NULL;
	if (message == NULL && error != NULL && sg_jsonb_as_cstring(error) != NULL)
		message = sg_jsonb_as_cstring(error);
	entry = failure_entry(row, message ? message : "the worker failed", "external_task_error", error);
	if (retry && row->attempt < row->max_attempts)
		requeue_task(row, entry, false);
	else
	{
		update_task(&fail_plan,
					"UPDATE stategraph.tasks SET status = 'failed', error = $2, lease_expires_at = NULL, "
					"finished_at = pg_catalog.clock_timestamp(), updated_at = pg_catalog.clock_timestamp() "
					"WHERE task_id OPERATOR(pg_catalog.=) $1",
					row, entry);
		record_on_thread(row, "error", entry);
	}
	sg_spi_finish();
	PG_RETURN_VOID();
}

/* Whether the interrupt the task's worker asked (its row's) is value (NULL: SQL NULL). */
static bool
same_interrupt(TaskRow *row, Jsonb *value)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(row->task_id)};
	Jsonb	   *asked;

	if (run_sql(&plan, "SELECT interrupt FROM stategraph.tasks WHERE task_id OPERATOR(pg_catalog.=) $1",
				1, types, values, NULL, 1) == 0)
		return false;
	asked = jsonb_col(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (asked == NULL || value == NULL)
		return asked == NULL && value == NULL;
	return DatumGetBool(DirectFunctionCall2(jsonb_eq, JsonbPGetDatum(asked), JsonbPGetDatum(value)));
}

/* sg_interrupt_task(task_id, token, value): pause the thread to ask a human. */
Datum
sg_interrupt_task(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan;
	Jsonb	   *value = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	TaskRow    *row;
	bool		lost;

	sg_prevent_write("sg_interrupt_task");
	row = begin_fenced_call(fcinfo, "interrupt", true);
	/* a lost failure's worker was told to go on (sg_heartbeat): its question is taken, as its result would be */
	lost = has_status(row, "failed") && row->lost;
	sg_refuse_running_thread(row->thread_id, "sg_interrupt_task");	/* (see record_on_thread) */

	/*
	 * The same question again under the same token (a worker that lost the
	 * reply and asks again on a new connection) is a no-op, as the same
	 * completion is: it was refused (SG012) though it had been taken.
	 */
	if (has_status(row, "interrupted") && same_interrupt(row, value))
	{
		sg_spi_finish();
		PG_RETURN_VOID();
	}
	if (!has_status(row, "claimed") && !has_status(row, "queued") && !lost)
		refuse_finished(row, "interrupt");
	if (row->handed_back)
		refuse_handed_back(row, "interrupt");
	update_task(&plan,
				"UPDATE stategraph.tasks SET status = 'interrupted', interrupt = $2, lease_expires_at = NULL, "
				"finished_at = NULL, updated_at = pg_catalog.clock_timestamp() WHERE task_id OPERATOR(pg_catalog.=) $1",
				row, value);
	if (lost)
		record_on_thread(row, "error", NULL);	/* the failure its expired lease recorded is taken back */
	record_on_thread(row, "interrupts", sg_interrupt_entry(row->task_id, row->node, sg_jsonb_array_length(row->resume_values), value));
	sg_spi_finish();
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------------
 * sg_tasks
 * ---------------------------------------------------------------------------
 */
/* sg_tasks(queue, status): the tasks this role may see, in queue order. */
Datum
sg_tasks(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *queue = sg_arg_text_or_null(fcinfo, 0);
	char	   *status = sg_arg_text_or_null(fcinfo, 1);
	static const char *const statuses[] = {"queued", "claimed", "completed", "failed", "interrupted", "cancelled"};
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	char		nulls[2] = {queue ? ' ' : 'n', status ? ' ' : 'n'};
	uint64		i;
	bool		known = status == NULL;

	for (i = 0; i < lengthof(statuses) && !known; i++)
		known = strcmp(status, statuses[i]) == 0;
	if (!known)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown task status \"%s\"", status),
				 errhint("A task is queued, claimed, completed, failed, interrupted or cancelled.")));
	InitMaterializedSRF(fcinfo, 0);
	sg_spi_connect();
	values[0] = queue ? CStringGetTextDatum(queue) : (Datum) 0;
	values[1] = status ? CStringGetTextDatum(status) : (Datum) 0;
	run_sql(&plan,
			"SELECT task_id, queue, graph, thread_id, node, step, status, attempt, max_attempts, worker, "
			"visible_at, lease_expires_at, result, error, created_at, updated_at, finished_at "
			"FROM stategraph.tasks WHERE ($1::pg_catalog.text IS NULL OR queue OPERATOR(pg_catalog.=) $1) "
			"AND ($2::pg_catalog.text IS NULL OR status OPERATOR(pg_catalog.=) $2) "
			"ORDER BY seq",
			2, types, values, nulls, 0);
	sg_spi_put_rows(rsinfo, NULL);
	sg_spi_finish();
	return (Datum) 0;
}
