/*-------------------------------------------------------------------------
 *
 * session_threads.c
 *	  The threads this session is running or updating now
 *
 * A node, reducer or router may call back into stategraph. It must not
 * change the thread whose run or sg_update_state called it: the outer
 * call's next checkpoint would be written over the change, which would be
 * lost on a dead branch. So each run with a thread, and each sg_update_state,
 * holds its thread here for as long as it goes on, and executor.c refuses
 * a held thread to the calls made inside it (55000).
 *
 * A hold lets go when the run's (or the update's) memory goes: a callback
 * on the context it was taken for. That alone is not enough: an error does
 * not always reset that context. A reducer or router written in SQL runs
 * its statements under the graph's cached function, whose context
 * outlives the transaction; an sg_invoke, sg_update_state or sg_complete
 * called there that failed held its thread until the function was next
 * called, for the backend's life if it never was, and every later run of
 * the thread in this session was refused. So a hold also lets go when the
 * (sub)transaction it was taken in is rolled back, and when the
 * transaction ends: whoever caught the error rolled that (sub)transaction
 * back, or an outer one. A hold taken in a subtransaction that commits
 * moves to its parent.
 *
 * Durable runs (CALL sg_run, background runs) commit between their steps:
 * their holds outlast transactions, and their callers let them go when the
 * run ends or fails (its context deleted).
 *
 * Each hold has a number, and the context callback lets go of the hold of
 * its number if it is still there: a transaction's end may have let it go
 * already, and its memory may hold another hold by then.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "access/xact.h"
#include "utils/memutils.h"

typedef struct SessionThread
{
	SubTransactionId subid;		/* the (sub)transaction it was taken in, first
								 * (sg_subxact_ended); none for a durable run's */
	uint64		number;
	char	   *thread_id;
	bool		updating;		/* sg_update_state's, else a run's */
	bool		durable;		/* a run that commits its steps */
} SessionThread;

/* The callback on the holder's context, and the number of its hold. */
typedef struct HoldCallback
{
	MemoryContextCallback cb;
	uint64		number;
} HoldCallback;

static List *session_threads = NIL; /* SessionThread *, in TopMemoryContext */
static uint64 last_number = 0;
static bool callbacks_registered = false;

static void
free_hold(void *entry)
{
	SessionThread *t = (SessionThread *) entry;

	pfree(t->thread_id);
	pfree(t);
}

/* The cell of the hold of that number, or NULL if it has gone. */
static ListCell *
find_hold(uint64 number)
{
	ListCell   *lc;

	foreach(lc, session_threads)
		if (((SessionThread *) lfirst(lc))->number == number)
			return lc;
	return NULL;
}

/* The holder's context is going: the hold goes with it (if still there). */
static void
holder_gone(void *arg)
{
	ListCell   *lc = find_hold(((HoldCallback *) arg)->number);
	SessionThread *t;

	if (lc == NULL)
		return;
	t = (SessionThread *) lfirst(lc);
	session_threads = list_delete_cell(session_threads, lc);
	free_hold(t);
}

/* A transaction ended: every hold but a durable run's goes. */
static void
xact_ended(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (event != XACT_EVENT_ABORT && event != XACT_EVENT_COMMIT &&
		event != XACT_EVENT_PREPARE && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT)
		return;
	foreach(lc, session_threads)
	{
		SessionThread *t = (SessionThread *) lfirst(lc);

		if (!t->durable)
		{
			session_threads = foreach_delete_current(session_threads, lc);
			free_hold(t);
		}
	}
}

/* A subtransaction ended: its holds go if it was rolled back, else pass to its parent. */
static void
subxact_ended(SubXactEvent event, SubTransactionId mySubid,
			  SubTransactionId parentSubid, void *arg)
{
	session_threads = sg_subxact_ended(session_threads, event, mySubid,
									   parentSubid, free_hold);
}

/*
 * Hold thread_id for this session until holder (a context) is reset or
 * deleted, or, unless durable, until the (sub)transaction of now ends
 * without passing it on. Returns the hold's number.
 */
uint64
sg_session_hold_thread(const char *thread_id, bool updating, bool durable, MemoryContext holder)
{
	MemoryContext old;
	SessionThread *t;
	HoldCallback *hc;

	if (!callbacks_registered)
	{
		RegisterXactCallback(xact_ended, NULL);
		RegisterSubXactCallback(subxact_ended, NULL);
		callbacks_registered = true;
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	t = palloc(sizeof(SessionThread));
	t->number = ++last_number;
	t->thread_id = pstrdup(thread_id);
	t->updating = updating;
	t->durable = durable;
	t->subid = durable ? InvalidSubTransactionId : GetCurrentSubTransactionId();
	session_threads = lappend(session_threads, t);
	MemoryContextSwitchTo(old);

	hc = MemoryContextAlloc(holder, sizeof(HoldCallback));
	hc->cb.func = holder_gone;
	hc->cb.arg = hc;
	hc->number = t->number;
	MemoryContextRegisterResetCallback(holder, &hc->cb);
	return hc->number;
}

/* Is the hold of that number still there? */
bool
sg_session_hold_kept(uint64 number)
{
	return find_hold(number) != NULL;
}

/* Does this session hold thread_id, for a run (updating false) or an sg_update_state (true)? */
bool
sg_session_holds_thread(const char *thread_id, bool updating)
{
	ListCell   *lc;

	foreach(lc, session_threads)
	{
		SessionThread *t = (SessionThread *) lfirst(lc);

		if (t->updating == updating && strcmp(t->thread_id, thread_id) == 0)
			return true;
	}
	return false;
}

/* Is thread_id being run or updated by this session (a node calling back into its own thread)? */
bool
sg_thread_running_here(const char *thread_id)
{
	return sg_session_holds_thread(thread_id, false) ||
		sg_session_holds_thread(thread_id, true);
}
