/*-------------------------------------------------------------------------
 *
 * retention.c
 *		sg_delete_thread and sg_prune: removing checkpoints without breaking
 *		the ones that remain.
 *
 * A remaining row may need removed rows to be read: its parent (the walk
 * of checkpoint.c goes through it), a reference to an old value, or, for a
 * fork in another thread, the forked checkpoint. A row whose parent or
 * forked checkpoint goes first gets a complete image of its state, so that
 * nothing before it is needed; references to removed rows are fixed one
 * channel at a time (fix_references).
 *
 * Detaching a fork writes its thread's row, so a delete or prune locks
 * the rows of the source's forks too. No one order of those rows fits
 * every transaction that writes two of them: sg_fork and an import of a
 * fork's export take a fork's row before its source's, sg_update_state
 * from another thread's checkpoint its own row before the source's, and
 * the forks of one thread come in no order that suits both a delete of
 * that thread and a delete of one of its forks. So sg_delete_thread,
 * sg_prune of one thread and that sg_update_state take their rows apart
 * (sg_lock_rows_apart, also for branch.c's lock_for_update_rows and
 * portable.c's share locks of an import's fork sources: "Rows taken
 * apart" below): all of them without waiting, and if one is busy, none:
 * the try is rolled back, and they wait for that row alone, their thread
 * locks let go meanwhile, before the next try. They never wait for a row
 * while holding another of theirs or a thread's lock, whatever order
 * others take them in. A
 * delete takes the thread's row and every fork's (lock_delete_rows); a
 * prune of one thread the thread's row and then the rows of the forks of
 * the checkpoints it removes, chosen once the thread's row is held
 * (lock_prune_rows): it waits only for the forks it detaches. The
 * removers that must not wait (sg_prune of every thread, the retention
 * sweep) take the thread's row, then its forks' without waiting, and pass
 * the thread over when one is held.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(sg_delete_thread);
PG_FUNCTION_INFO_V1(sg_prune);
PG_FUNCTION_INFO_V1(sg_owner_detaches);

/* A row of a checkpoint: what the queries that list rows to fix select, and its column numbers. */
#define ROW_COLUMNS "thread_id, checkpoint_id"
#define Anum_row_thread_id		1
#define Anum_row_checkpoint_id	2

/* (thread_id, checkpoint_id) pairs of a query's result. */
typedef struct RowRef
{
	char	   *thread_id;
	pg_uuid_t	id;
} RowRef;

/* The rows of the last query's result (ROW_COLUMNS). */
static List *
collect_rows(uint64 n)
{
	List	   *out = NIL;
	uint64		i;

	for (i = 0; i < n; i++)
	{
		RowRef	   *r = palloc(sizeof(RowRef));

		r->thread_id = sg_spi_text(i, Anum_row_thread_id);
		sg_spi_uuid(i, Anum_row_checkpoint_id, &r->id);
		out = lappend(out, r);
	}
	return out;
}

/*
 * Give each of these rows a complete image of its state. A fork's thread
 * that another transaction deleted after the rows were listed (it waited
 * for that delete's commit, writing the fork's rows) has nothing left to
 * give an image to: its rows are passed over (read with its thread's
 * lock, this failed with 42704, "thread ... does not exist", and so did
 * the delete or prune of the fork's source: isolation prune_fork_deleted).
 */
static void
materialize_rows(List *rows)
{
	ListCell   *lc;

	foreach(lc, rows)
	{
		RowRef	   *r = (RowRef *) lfirst(lc);
		SGThread   *th = sg_thread_fetch(r->thread_id, false);

		if (th == NULL)
			continue;
		sg_checkpoint_materialize(sg_channelset_from_jsonb(th->channels), r->thread_id, &r->id);
	}
}

/*
 * Before these fork rows lose their source: each that starts a fork of an
 * input checkpoint keeps its source's input in its meta ("input_writes",
 * sg_checkpoint_fork_input), so that resumed detached it runs that input as
 * a linked fork does (forks made since branch.c's sg_fork_start_input keep it
 * already). own_thread: copies in the source's own thread, whose source
 * prune removes (sg_checkpoint_copy_input: those made before a run from an
 * older input checkpoint kept its input in its copy).
 */
static void
keep_fork_inputs(List *rows, bool own_thread)
{
	static SPIPlanPtr plan;
	Oid			types[3] = {TEXTOID, UUIDOID, JSONBOID};
	ListCell   *lc;

	foreach(lc, rows)
	{
		RowRef	   *r = (RowRef *) lfirst(lc);
		SGCheckpoint *cp = sg_checkpoint_fetch(r->thread_id, &r->id);
		Jsonb	   *input = cp == NULL ? NULL :
			own_thread ? sg_checkpoint_copy_input(cp) : sg_checkpoint_fork_input(cp);
		Datum		values[3];

		if (input == NULL)
			continue;
		values[0] = CStringGetTextDatum(r->thread_id);
		values[1] = UUIDPGetDatum(&r->id);
		values[2] = JsonbPGetDatum(input);
		sg_spi_execute(sg_spi_prepare(&plan,
									  "UPDATE stategraph.checkpoints SET meta = COALESCE(meta, '{}') "
									  "OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('input_writes', $3) "
									  "WHERE thread_id OPERATOR(pg_catalog.=) $1 AND checkpoint_id OPERATOR(pg_catalog.=) $2",
									  3, types), values, NULL, 0);
	}
}

/*
 * Under REPEATABLE READ or SERIALIZABLE, refuse to remove checkpoints of
 * thread_id (those in $2 of values, or all) if a fork of one of them was
 * committed after this transaction's snapshot: sg_fork only locks the
 * source thread's row, so the remover's lock of it does not fail with
 * 40001, and its snapshot does not show the fork row, which it could
 * neither give an image nor detach (the fork would read as if its source
 * had never been written). seen: the fork rows the snapshot shows
 * (RowRef). The forks are read again with the newest snapshot.
 */
static void
refuse_unseen_forks(const char *thread_id, Datum *values, const char *nulls, List *seen)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {TEXTOID, UUIDARRAYOID};
	List	   *now;
	ListCell   *lc;
	ListCell   *lc2;

	if (!IsolationUsesXactSnapshot())
		return;
	sg_spi_prepare(&plan,
				   "SELECT c.thread_id, c.checkpoint_id FROM stategraph.checkpoints c "
				   "WHERE c.thread_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT t.thread_id FROM stategraph.threads t "
				   "  WHERE t.forked_from OPERATOR(pg_catalog.@>) ARRAY[$1])) "
				   "AND c.parent_thread OPERATOR(pg_catalog.=) $1 "
				   "AND ($2 IS NULL OR c.parent_id OPERATOR(pg_catalog.=) ANY ($2))",
				   2, types);
	now = collect_rows(sg_spi_execute_latest(plan, values, nulls));
	foreach(lc, now)
	{
		RowRef	   *r = (RowRef *) lfirst(lc);
		bool		found = false;

		foreach(lc2, seen)
		{
			RowRef	   *s = (RowRef *) lfirst(lc2);

			if (strcmp(s->thread_id, r->thread_id) == 0 && memcmp(s->id.data, r->id.data, UUID_LEN) == 0)
				found = true;
		}
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not remove checkpoints of thread \"%s\": another transaction forked it into thread \"%s\"",
							thread_id, r->thread_id),
					 errdetail("The fork was committed after this transaction's snapshot, which cannot detach it."),
					 errhint("Retry the transaction.")));
	}
}

/*
 * Give every fork in another thread that starts at one of these checkpoints
 * of thread_id (a uuid[] datum; all of them when ids is 0) an image of its
 * own, before they are removed (here, and by a run's rollback in runs.c). Threads
 * with such forks list thread_id in forked_from, which the partial GIN index
 * threads_forked_from finds (@>) without reading every thread; they are
 * looked up first, and their checkpoints by the primary key. Most threads
 * have no forks, and then nothing more is read: joined in one statement,
 * the planner read every checkpoint for the fork rows (a parent_thread has
 * no index), so each delete took time growing with the table, and
 * deleting every thread (the retention sweep) time quadratic in it.
 * Under REPEATABLE READ, a fork the snapshot does not show is refused
 * (refuse_unseen_forks). detach_forks_in does it for the forks that
 * threads holders hold (a text[] datum; 0: none); all says they are every
 * thread that holds one (sg_detach_forks), for that refusal.
 */
static void
detach_forks_in(const char *thread_id, Datum ids, Datum holders, bool all)
{
	static SPIPlanPtr plan;
	static SPIPlanPtr unlink;
	static SPIPlanPtr touch;
	static SPIPlanPtr forget;
	Oid			types[3] = {TEXTOID, UUIDARRAYOID, TEXTARRAYOID};
	Datum		values[3];
	char		nulls[3] = {' ', ids ? ' ' : 'n', ' '};
	List	   *forks;

	values[0] = CStringGetTextDatum(thread_id);
	values[1] = ids;
	values[2] = holders;
	if (holders == (Datum) 0)
	{
		if (all)
			refuse_unseen_forks(thread_id, values, nulls, NIL);
		return;					/* no forks */
	}
	forks = collect_rows(sg_spi_execute(sg_spi_prepare(&plan,
													   "SELECT c.thread_id, c.checkpoint_id FROM stategraph.checkpoints c "
													   "WHERE c.thread_id OPERATOR(pg_catalog.=) ANY ($3) "
													   "AND c.parent_thread OPERATOR(pg_catalog.=) $1 "
													   "AND ($2 IS NULL OR c.parent_id OPERATOR(pg_catalog.=) ANY ($2))",
													   3, types), values, nulls, 0));
	if (all)
		refuse_unseen_forks(thread_id, values, nulls, forks);
	if (forks != NIL)
	{
		uint64		n,
					i;

		/*
		 * A fork whose newest row is one of these: its thread's row gets a
		 * new version (as sg_thread_touch), or a backend's state cache
		 * would go on using that row as it was, linked to what goes.
		 */
		n = sg_spi_execute(sg_spi_prepare(&touch,
										  "UPDATE stategraph.threads t SET head = t.head "
										  "WHERE t.thread_id OPERATOR(pg_catalog.=) ANY ($3) "
										  "AND EXISTS (SELECT 1 FROM stategraph.checkpoints c "
										  "  WHERE c.thread_id OPERATOR(pg_catalog.=) t.thread_id "
										  "  AND c.checkpoint_id OPERATOR(pg_catalog.=) t.head "
										  "  AND c.parent_thread OPERATOR(pg_catalog.=) $1 "
										  "  AND ($2 IS NULL OR c.parent_id OPERATOR(pg_catalog.=) ANY ($2))) "
										  "RETURNING t.thread_id",
										  3, types), values, nulls, 0);
		for (i = 0; i < n; i++)
			sg_state_cache_forget(sg_spi_text(i, SG_SOLE_COLUMN));
		keep_fork_inputs(forks, false);
		materialize_rows(forks);
		sg_spi_execute(sg_spi_prepare(&unlink,
									  "UPDATE stategraph.checkpoints c SET parent_thread = NULL "
									  "WHERE c.thread_id OPERATOR(pg_catalog.=) ANY ($3) "
									  "AND c.parent_thread OPERATOR(pg_catalog.=) $1 "
									  "AND ($2 IS NULL OR c.parent_id OPERATOR(pg_catalog.=) ANY ($2))",
									  3, types), values, nulls, 0);
	}
	if (ids == (Datum) 0)
		sg_spi_execute(sg_spi_prepare(&forget,
									  "UPDATE stategraph.threads SET forked_from = pg_catalog.array_remove(forked_from, $1) "
									  "WHERE thread_id OPERATOR(pg_catalog.=) ANY ($3) "
									  "AND forked_from OPERATOR(pg_catalog.@>) ARRAY[$1]",
									  3, types), values, nulls, 0);
}

/* sg_detach_forks, once the threads that hold the forks are known. */
void
sg_detach_forks(const char *thread_id, Datum ids)
{
	static SPIPlanPtr holders_plan;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(thread_id)};
	bool		isnull;
	Datum		holders;

	sg_spi_execute(sg_spi_prepare(&holders_plan,
								  "SELECT pg_catalog.array_agg(thread_id) FROM stategraph.threads "
								  "WHERE forked_from OPERATOR(pg_catalog.@>) ARRAY[$1]",
								  1, types), values, NULL, 0);
	holders = sg_spi_datum(0, 1, &isnull);
	/* (copied: it outlives the tuple table) */
	detach_forks_in(thread_id, ids, isnull ? (Datum) 0 : PointerGetDatum(PG_DETOAST_DATUM_COPY(holders)), true);
}

/*
 * Trigger AFTER UPDATE OF owner ON stategraph.threads (owner_detaches): a
 * thread given to another role (UPDATE ... SET owner, as README says to
 * do with the threads of 0.1.0, whose rows all became the extension
 * owner's) must not read into a thread of another owner, nor be read into
 * by one: row-level security hides each one's rows from the other, and a
 * fork read the values of its source as missing, silently. So the forks
 * that cross owners after the change are detached (detach_forks_in: each
 * fork row gets an image of its own state, and every thread reads as
 * before): the forks of this thread that threads of other owners hold, and
 * this thread's forks of threads of other owners, as sg_fork and
 * sg_update_state start a fork of another owner's thread detached
 * (branch.c). AFTER ROW triggers fire when the statement has updated all
 * its rows, so a statement that gives many threads away (sg_reassign_owned)
 * detaches only the forks that still cross owners at its end. The caller's
 * privileges: the rows of 0.1.0 are the extension owner's, whose threads a
 * superuser gives away; once forks never cross owners, a role may give
 * away only threads it may own, whose forks are its own too.
 */
Datum
sg_owner_detaches(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr holders_plan;
	static SPIPlanPtr sources_plan;
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	char	   *thread_id;
	char	   *owner;
	bool		isnull;
	Datum		holders;
	List	   *sources = NIL;
	ListCell   *lc;
	Datum		self;
	uint64		i,
				n;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("owner_detaches must be fired after update, for each row")));
	desc = RelationGetDescr(td->tg_relation);
	thread_id = SPI_getvalue(td->tg_newtuple, desc, SPI_fnumber(desc, "thread_id"));
	owner = SPI_getvalue(td->tg_newtuple, desc, SPI_fnumber(desc, "owner"));
	if (thread_id == NULL || owner == NULL)
		return PointerGetDatum(NULL);
	values[0] = CStringGetTextDatum(thread_id);
	values[1] = CStringGetTextDatum(owner);
	sg_spi_connect();
	/*
	 * its forks that threads of other owners hold (sg_detach_forks's query
	 * but for owner, which a 0.1.0 schema, where that one must run, lacks)
	 */
	sg_spi_execute(sg_spi_prepare(&holders_plan,
								  "SELECT pg_catalog.array_agg(thread_id) FROM stategraph.threads "
								  "WHERE forked_from OPERATOR(pg_catalog.@>) ARRAY[$1] "
								  "AND owner OPERATOR(pg_catalog.<>) $2",
								  2, types), values, NULL, 0);
	holders = sg_spi_datum(0, 1, &isnull);
	if (!isnull)
		detach_forks_in(thread_id, (Datum) 0, PointerGetDatum(PG_DETOAST_DATUM_COPY(holders)), false);
	/* its forks of threads of other owners */
	n = sg_spi_execute(sg_spi_prepare(&sources_plan,
									  "SELECT s.thread_id FROM stategraph.threads t, "
									  "pg_catalog.unnest(t.forked_from) f(id), stategraph.threads s "
									  "WHERE t.thread_id OPERATOR(pg_catalog.=) $1 "
									  "AND s.thread_id OPERATOR(pg_catalog.=) f.id "
									  "AND s.owner OPERATOR(pg_catalog.<>) $2",
									  2, types), values, NULL, 0);
	for (i = 0; i < n; i++)
		sources = lappend(sources, sg_spi_text(i, 1));
	self = PointerGetDatum(construct_array(&values[0], 1, TEXTOID, -1, false, TYPALIGN_INT));
	foreach(lc, sources)
		detach_forks_in((const char *) lfirst(lc), (Datum) 0, self, false);
	sg_spi_finish();
	return PointerGetDatum(NULL);
}

/*
 * Lock the rows of the threads with forks of thread_id, skipping those
 * another transaction holds; returns whether it got them all. Deleting or
 * pruning the thread detaches its forks, which writes their rows: the
 * retention sweep, which must not wait for a client's open transaction,
 * passes the thread over when this is false (runs.c).
 */
bool
sg_forks_lockable(const char *thread_id)
{
	static SPIPlanPtr plan;
	const char *args[1] = {thread_id};
	bool		isnull;

	sg_spi_run_texts(&plan,
					 "SELECT (SELECT pg_catalog.count(*) FROM stategraph.threads "
					 "        WHERE forked_from OPERATOR(pg_catalog.@>) ARRAY[$1]) "
					 "  OPERATOR(pg_catalog.=) (SELECT pg_catalog.count(*) FROM (SELECT 1 FROM stategraph.threads "
					 "        WHERE forked_from OPERATOR(pg_catalog.@>) ARRAY[$1] FOR UPDATE SKIP LOCKED) l)",
					 1, args);
	return DatumGetBool(sg_spi_datum(0, 1, &isnull)) && !isnull;
}

/* sg_lock_thread_submits (runs.c) as an SGSubxactFn, not waiting for a reassign. */
static bool
lock_thread_submits_call(void *arg)
{
	sg_lock_thread_submits((const char *) arg, false);
	return true;
}

/*
 * May the retention sweep delete (or prune) thread_id, which it holds, without
 * waiting or failing? Not if a submit to it is still open (the delete
 * would wait for it: the submit lock, sg_lock_thread_submits, is taken
 * here without waiting and kept), nor if another role's run that the
 * sweep's role cannot see is active on it (the delete would be refused:
 * cancel_unstarted_runs; a worker sees every run, CALL sg_work of a role
 * only its own). The sweep, which must not wait for a client's open
 * transaction, passes the thread over then (runs.c). The lock is tried in
 * a subtransaction whose lock_timeout is a millisecond, since it is a
 * row's that the submit may be inserting.
 */
bool
sg_sweep_may_delete(const char *thread_id)
{
	int			nest = NewGUCNestLevel();
	ErrorData  *edata;

	(void) set_config_option("lock_timeout", "1", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	edata = sg_spi_subxact(lock_thread_submits_call, (void *) thread_id);
	AtEOXact_GUC(false, nest);
	if (edata != NULL && edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
		ReThrowError(edata);
	return edata == NULL && !sg_thread_has_hidden_run(thread_id);
}

/*
 * Refuse to delete (or prune: fn) thread_id if another role's run that the
 * caller cannot see is active on it (a member's run on its parent role's
 * thread, which row-level security hides from the parent): a delete's
 * cancel_unstarted_runs cannot cancel it, and it would start the thread
 * anew; a prune cannot see the checkpoint the run started from, which
 * prune keeps for a visible run (RUN_START_KEPT), and removed it: the
 * run's rollback then made a checkpoint that is not there the thread's
 * head, and the thread could no longer be read. As an interrupting
 * sg_submit refuses (refuse_hidden_run in runs.c).
 */
static void
refuse_hidden_runs(const char *thread_id, const char *fn)
{
	if (sg_thread_has_hidden_run(thread_id))
		ereport(ERROR,
				(errcode(ERRCODE_SG_RUN_NOT_STOPPABLE),
				 errmsg("thread \"%s\" has an active run this role cannot stop", thread_id),
				 errdetail("The run was submitted by another role, whose runs this role cannot see or change."),
				 strcmp(fn, "sg_prune") == 0 ?
				 errhint("Have the role that submitted it cancel it with sg_cancel(), wait for it to end, "
						 "or prune the thread as that role.") :
				 errhint("Have the role that submitted it cancel it with sg_cancel(), or delete the thread "
						 "as that role.")));
}

/*
 * One try of cancel_unstarted_runs' UPDATE, as an SGSubxactFn: kept if it
 * cancelled every run its snapshot saw pending (the count in the same
 * statement, under the same snapshot), rolled back otherwise.
 */
typedef struct CancelUnstarted
{
	const char *thread_id;
	uint64		cancelled;
	bool		passed_over;	/* a run the snapshot saw was passed over: try again */
} CancelUnstarted;

static bool
cancel_unstarted_try(void *arg)
{
	static SPIPlanPtr plan;
	CancelUnstarted *c = (CancelUnstarted *) arg;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(c->thread_id)};
	bool		isnull;
	int64		seen;

	sg_spi_execute(sg_spi_prepare(&plan,
								  "WITH seen AS (SELECT r.run_id FROM stategraph.runs r "
								  "  WHERE r.thread_id OPERATOR(pg_catalog.=) $1 "
								  "  AND r.status OPERATOR(pg_catalog.=) 'pending' AND NOT r.stepped), "
								  "done AS (UPDATE stategraph.runs SET status = 'cancelled', "
								  "finished_at = pg_catalog.clock_timestamp(), "
								  "error = pg_catalog.jsonb_build_object('sqlstate', '42704', "
								  "  'message', pg_catalog.format('thread \"%s\" was deleted', $1), "
								  "  'detail', 'The run had not started: sg_delete_thread cancelled it.') "
								  "WHERE thread_id OPERATOR(pg_catalog.=) $1 "
								  "AND status OPERATOR(pg_catalog.=) 'pending' AND NOT stepped RETURNING 1) "
								  "SELECT (SELECT pg_catalog.count(*) FROM seen), (SELECT pg_catalog.count(*) FROM done)",
								  1, types), values, NULL, 0);
	seen = DatumGetInt64(sg_spi_datum(0, 1, &isnull));
	c->cancelled = (uint64) DatumGetInt64(sg_spi_datum(0, 2, &isnull));
	c->passed_over = c->cancelled != (uint64) seen;
	return !c->passed_over;
}

/*
 * End the runs of thread_id that have not started (pending, no step
 * taken: delayed by after, or queued behind another run) when the thread
 * is deleted: cancelled, with an error saying why, so that sg_wait returns
 * them and no claim takes them, which would start the thread anew from
 * their input. Their rows stay (sg_runs shows them until
 * stategraph.run_retention). Those that have taken steps and are not
 * executing, a run waiting for external tasks among them, are cancelled
 * with the thread's lock (cancel_stepped_runs). Under REPEATABLE READ, a run
 * queued by a transaction that committed after the snapshot (a submit
 * the submit lock waited for) makes it fail with 40001.
 */
static void
cancel_unstarted_runs(const char *thread_id)
{
	CancelUnstarted c = {thread_id, 0, false};
	ErrorData  *edata;

	/*
	 * Under READ COMMITTED, a run its snapshot saw pending that a claim
	 * took meanwhile (the UPDATE waited for the claim, which CALL sg_work
	 * commits with the run's first step) is rechecked with its row locked
	 * and passed over, and that lock stayed until this transaction ended:
	 * the run's executor, holding the thread this delete then waits for,
	 * waited for it to record the run's next step or end, a deadlock
	 * (40P01; isolation delete_run_claimed). Such a try is rolled back,
	 * letting its locks go, and made again with a new snapshot, which sees
	 * the run running: the delete waits for it, as for any running run.
	 */
	for (;;)
	{
		edata = sg_spi_subxact(cancel_unstarted_try, &c);
		if (edata != NULL)
			ReThrowError(edata);
		if (!c.passed_over)
			break;
		CHECK_FOR_INTERRUPTS();
	}
	if (c.cancelled > 0)
		sg_run_done_at_commit();	/* their sg_wait callers wake */
	/* REPEATABLE READ: a run queued after the snapshot (the submit lock waited for it) is not seen */
	if (sg_thread_has_unseen_run(thread_id))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not delete thread \"%s\": another transaction queued a run on it", thread_id),
				 errdetail("The run was queued after this transaction's snapshot, which cannot cancel it."),
				 errhint("Retry the transaction.")));
}

/*
 * End the runs of thread_id that are pending again after taking steps (a
 * failure's retry, or external tasks done) or left running by an executor
 * that died (a recovery): none is executing, since this transaction holds
 * the thread's lock, which an executor holds for the whole run (a worker
 * that ends a run lets it go just before its commit, and the update then
 * waits for that commit, after which the run is not running). Cancelled
 * as the runs that have not started are (cancel_unstarted_runs): claimed
 * again, the run found its thread gone and ended with an error. So is a
 * run waiting for external tasks (no executor has it either), before the
 * delete cancels its tasks: that made it pending again to go on from the
 * thread's head, and when the thread id was used again (a new input in
 * the delete's own transaction, or before a worker claimed the run) the
 * deleted thread's run went on with the new thread, waited for its tasks
 * and ended with its outcome, and was its active run meanwhile (SG013
 * for a submit with 'reject'; isolation delete_waiting_run_reused_id).
 * Only with the thread's lock: not if
 * another session holds it (sg_lock_thread does not take another role's
 * busy thread). An error the run has already is kept: that of the node
 * that failed in its last step while it was asked to stop, the stop not
 * done yet (keep_stop_error_on_run, sg_run_failure in runs.c), which the
 * stop would have kept (TAP 128); with its thread gone, the run's row was
 * the only place left for it.
 */
static void
cancel_stepped_runs(const char *thread_id)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(thread_id)};

	if (!sg_try_lock_thread(thread_id))
		return;
	sg_spi_execute(sg_spi_prepare(&plan,
								  "UPDATE stategraph.runs SET status = 'cancelled', "
								  "finished_at = pg_catalog.clock_timestamp(), "
								  "error = COALESCE(error, pg_catalog.jsonb_build_object('sqlstate', '42704', "
								  "  'message', pg_catalog.format('thread \"%s\" was deleted', $1), "
								  "  'detail', 'The run was not executing: sg_delete_thread cancelled it before its next step.')) "
								  "WHERE thread_id OPERATOR(pg_catalog.=) $1 "
								  "AND (status OPERATOR(pg_catalog.=) ANY (ARRAY['running', 'waiting']) "
								  "  OR (status OPERATOR(pg_catalog.=) 'pending' AND stepped))",
								  1, types), values, NULL, 0);
	if (SPI_processed > 0)
		sg_run_done_at_commit();	/* their sg_wait callers wake */
	sg_unlock_thread(thread_id, false); /* (taken twice: once let go) */
}

/* ---------------------------------------------------------------------------
 * Rows taken apart
 *
 * A delete or prune writes the rows of the threads holding forks of the
 * thread it removes from, and an update from a checkpoint of another
 * thread writes its own row and its source's. No one order of thread rows
 * fits every such writer: forks before their source is the order of
 * sg_fork and of an import of a fork's export; thread id order among
 * forks was the delete's; the updated thread before its source is the
 * update's. sg_update_state(t, ..., <checkpoint of s>) held t's row and
 * waited for s's while sg_delete_thread(x), s and t forks of x, held s's
 * and waited for t's; two deletes, of x and of a fork y of x, both with a
 * fork w that has x and y in its forked_from, each held one of w and y
 * and waited for the other (deadlocks, 40P01; isolation rows_apart). So
 * these writers take their rows apart: a try, in a subtransaction, locks
 * them all without waiting; if another transaction holds one, the try is
 * rolled back, letting go of every row it took; it then waits for that
 * one row, holding none of the others, and tries again. Such a writer waits for a row only while it
 * holds no other row of the set, so it is in no cycle through these rows,
 * whatever order others take them in. Nor while it holds a thread's lock
 * (checkpoint.c): a transaction that holds a row may ask for a thread's
 * lock next, and an advisory lock is in the cycle as a row is. So
 * sg_update_state from another thread's checkpoint lets go of its two
 * thread locks while it waits, and takes them again before its next try
 * (branch.c, lock_for_update_rows): it waited holding the source's lock,
 * which the transaction holding its own row could ask for next
 * (sg_import_thread(sg_export_thread(t), s), isolation
 * export_update_import). A delete or prune of one thread lets go of that
 * thread's lock in the same way (sg_one_thread_lock): it waited
 * for a fork's row holding it, and the transaction holding that row could
 * ask for it next (sg_import_thread(sg_export_thread(f), x) against a
 * delete of x, isolation delete_export_fork_import). Such a wait is in a
 * subtransaction of its own, rolled back (the row let go once free), and
 * the next try, under the lock again, finds what it locks anew. Each try
 * after the first follows a wait that ends only when the transaction that
 * held the row has ended (or let it go), so every retry follows another
 * transaction's progress, and statement_timeout and lock_timeout bound
 * the waits as any other. The rule is one function, sg_lock_rows_apart,
 * with the thread locks to let go of and take again as a callback (the
 * update's finds its source anew). sg_import_thread share-locks the
 * rows of the threads its fork rows stay linked to (portable.c,
 * lock_fork_sources): apart too, its new thread's lock let go while it
 * waits, since a transaction that wrote such a source may ask for that
 * lock next. It waits for writers of the sources alone: an export locks
 * its row FOR SHARE (checkpoint.c), so two transactions that each
 * exported a thread and then imported a fork of the other's no longer
 * wait for each other (they deadlocked when an export locked FOR NO KEY
 * UPDATE, and letting go of the import's own locks could not help: the
 * row in the cycle was an earlier call's; isolation
 * export_import_crossed).
 * ---------------------------------------------------------------------------
 */

/* The lock clauses of SGRowMode. */
static const char *const row_clause[] = {"FOR NO KEY UPDATE", "FOR UPDATE", "FOR SHARE"};

/*
 * Lock the visible rows of the threads in ids (a text[] datum; 0: none)
 * without waiting; returns the id of one that another transaction holds,
 * or NULL when this transaction holds them all now.
 */
char *
sg_try_lock_rows(Datum ids, SGRowMode mode)
{
	static SPIPlanPtr plan[lengthof(row_clause)];
	Oid			types[1] = {TEXTARRAYOID};
	Datum		values[1] = {ids};

	if (ids == (Datum) 0)
		return NULL;
	if (plan[mode] == NULL)
		sg_spi_prepare(&plan[mode],
					   psprintf("SELECT t.thread_id FROM stategraph.threads t "
								"WHERE t.thread_id OPERATOR(pg_catalog.=) ANY ($1) "
								"AND NOT t.thread_id OPERATOR(pg_catalog.=) ANY (ARRAY("
								"  SELECT l.thread_id FROM stategraph.threads l "
								"  WHERE l.thread_id OPERATOR(pg_catalog.=) ANY ($1) %s SKIP LOCKED)) "
								"ORDER BY t.thread_id LIMIT 1", row_clause[mode]),
					   1, types);
	return sg_spi_execute(plan[mode], values, NULL, 1) > 0 ? sg_spi_text(0, SG_SOLE_COLUMN) : NULL;
}

/* One try of sg_lock_rows_apart, as an SGSubxactFn: kept when it has every row. */
typedef struct RowsTry
{
	SGRowsTryFn fn;
	void	   *arg;
	char	   *busy;			/* the row the last try found held (NULL: it has them all) */
	SGRowMode	mode;			/* its lock */
} RowsTry;

static bool
rows_try(void *arg)
{
	RowsTry    *t = (RowsTry *) arg;

	t->busy = t->fn(t->arg, &t->mode);
	return t->busy == NULL;
}

/* sg_wait_for_thread_row's wait, an SGSubxactFn: rolled back, the row let go once free. */
static bool
wait_for_row(void *arg)
{
	static SPIPlanPtr plan[lengthof(row_clause)];
	RowsTry    *t = (RowsTry *) arg;
	const char *args[1] = {t->busy};

	if (plan[t->mode] == NULL)
		sg_spi_prepare(&plan[t->mode],
					   psprintf("SELECT 1 FROM stategraph.threads WHERE thread_id OPERATOR(pg_catalog.=) $1 %s",
								row_clause[t->mode]),
					   1, (Oid[]) {TEXTOID});
	sg_spi_run_texts(&plan[t->mode], NULL, 1, args);
	return false;
}

/*
 * Wait until another transaction no longer holds the row of thread_id in
 * mode, holding nothing of it afterwards (a subtransaction, rolled back; a
 * row gone meanwhile is not waited for): the one wait of a writer that
 * takes its rows apart (see above; branch.c's lock_for_update_rows too).
 */
void
sg_wait_for_thread_row(const char *thread_id, SGRowMode mode)
{
	RowsTry		t = {NULL, NULL, (char *) thread_id, mode};
	ErrorData  *edata = sg_spi_subxact(wait_for_row, &t);

	if (edata != NULL)
		ReThrowError(edata);
}

/*
 * Take the rows fn's tries lock, none of them waited for while holding
 * another or a thread's lock (see above): the rule, written once for
 * every writer that takes its rows apart. The caller holds the thread
 * locks of its rows; each try, in a subtransaction, locks rows without
 * waiting and is kept when it returns NULL (it has them all, or it
 * leaves a busy one for the caller to refuse, with stategraph.lock_wait
 * off); when it names a busy row it is rolled back, letting go of every
 * row it took, locks(locks_arg, false) lets go of the thread locks, the
 * row is waited for alone (in a subtransaction of its own, rolled back:
 * let go once free), and locks(locks_arg, true) takes them again before
 * the next try, which finds everything anew under them; false from it
 * ends the tries (nothing left to lock: the caller looks why). Returns
 * whether it let go of the thread locks: what the caller checked under
 * them before may have changed.
 */
bool
sg_lock_rows_apart(SGRowsTryFn fn, void *arg, SGThreadLocksFn locks, void *locks_arg)
{
	RowsTry		t = {fn, arg, NULL, SG_ROW_FOR_NO_KEY_UPDATE};
	ErrorData  *edata;
	bool		let_go = false;

	for (;;)
	{
		edata = sg_spi_subxact(rows_try, &t);
		if (edata != NULL)
			ReThrowError(edata);
		if (t.busy == NULL)
			return let_go;
		(void) locks(locks_arg, false);
		let_go = true;
		sg_wait_for_thread_row(t.busy, t.mode);
		CHECK_FOR_INTERRUPTS();
		if (!locks(locks_arg, true))
			return let_go;
	}
}

/*
 * The lock of one thread, thread_id, as an SGThreadLocksFn: that of a
 * delete or prune of one thread, and of an import's new thread (portable.c).
 */
bool
sg_one_thread_lock(void *thread_id, bool take)
{
	if (take)
		sg_lock_thread((const char *) thread_id, false);
	else
		sg_unlock_thread((const char *) thread_id, false);
	return true;
}

/*
 * The rows of the threads with forks of thread $1, which detaching them
 * writes (sg_detach_forks), as its holders query finds them.
 */
#define FORK_HOLDERS \
	"FROM stategraph.threads WHERE forked_from OPERATOR(pg_catalog.@>) ARRAY[$1]"

/*
 * One try of lock_delete_rows (an SGRowsTryFn): the thread's stepped runs
 * cancelled (cancel_stepped_runs: before its row, with its lock), the row
 * of the thread FOR UPDATE, as sg_thread_fetch_for_delete locks it, then the rows
 * of the threads with forks of it, listed once that row is held: an
 * import of a fork's export share-locks the source's row, and sg_fork and
 * sg_update_state take the source's lock, which the delete holds, so no
 * fork of it is made after that. A missing row, and with
 * stategraph.lock_wait off a held one, end the tries: that call then says
 * so.
 */
typedef struct DeleteRows
{
	const char *thread_id;
	bool		runs;			/* cancel its stepped runs first (not before ALTER EXTENSION UPDATE) */
} DeleteRows;

static char *
delete_rows_try(void *arg, SGRowMode *mode)
{
	static SPIPlanPtr thread_plan;
	static SPIPlanPtr exists_plan;
	static SPIPlanPtr holders_plan;
	DeleteRows *d = (DeleteRows *) arg;
	const char *thread_id = d->thread_id;
	const char *args[1] = {thread_id};
	bool		isnull;
	Datum		holders;

	if (d->runs)
		cancel_stepped_runs(thread_id);
	if (sg_spi_run_texts(&thread_plan,
						 "SELECT 1 FROM stategraph.threads WHERE thread_id OPERATOR(pg_catalog.=) $1 "
						 "FOR UPDATE SKIP LOCKED",
						 1, args) == 0)
	{
		if (!sg_lock_wait ||
			sg_spi_run_texts(&exists_plan,
							 "SELECT 1 FROM stategraph.threads WHERE thread_id OPERATOR(pg_catalog.=) $1",
							 1, args) == 0)
			return NULL;
		*mode = SG_ROW_FOR_UPDATE;
		return pstrdup(thread_id);
	}
	sg_spi_run_texts(&holders_plan, "SELECT pg_catalog.array_agg(thread_id) " FORK_HOLDERS, 1, args);
	holders = sg_spi_datum(0, SG_SOLE_COLUMN, &isnull);
	*mode = SG_ROW_FOR_NO_KEY_UPDATE;
	return sg_try_lock_rows(isnull ? (Datum) 0 : holders, SG_ROW_FOR_NO_KEY_UPDATE);
}

/*
 * Lock the row of thread_id and the rows of the threads with forks of it,
 * for sg_delete_thread, which detaches those forks (writing their rows)
 * and deletes the thread: taken apart (see above), waiting for a busy
 * one, so the delete finishes. Whoever holds a fork's row may be waiting
 * for the thread's (sg_import_thread of a fork's export, which holds the
 * fork's row, share-locks its source's: isolation delete_import_fork), or
 * for another fork's (isolation rows_apart), or ask for the thread's lock
 * next (sg_import_thread(sg_export_thread(fork), thread_id), or a write of
 * the thread: isolation delete_export_fork_import). The caller holds the
 * thread's lock: let go while a busy row is waited for, and taken again
 * before the next try (sg_lock_rows_apart); waiting with it, the delete was
 * in that cycle (40P01). Each try does again what the delete does under
 * the lock before its row, its stepped runs cancelled (runs), in the try:
 * a try rolled back lets them go too, and a task of a waiting run done
 * meanwhile (whose completion takes the thread's lock, then writes the
 * run's row) goes on rather than wait for this transaction while holding
 * the lock the delete asks for again. Kept while the delete waits: the
 * submit lock (no run is submitted) and the runs that had not started,
 * cancelled (none of them starts: delete_thread). A stepped run claimed
 * meanwhile is waited for when the lock is taken again, as any running
 * run, and cancelled by the next try if it has not ended. A try finds
 * the thread's row (or that it is gone) and its forks anew.
 * sg_thread_fetch_for_delete then finds the row locked already.
 */
static void
lock_delete_rows(const char *thread_id, bool runs)
{
	static SPIPlanPtr seen_plan;
	const char *args[1] = {thread_id};
	DeleteRows	d = {thread_id, runs};

	/*
	 * REPEATABLE READ: a fork made after the snapshot is refused first, in
	 * detach_forks_in's words, before the lock of its thread's row (written
	 * since, by an sg_update_state from this thread) fails with
	 * PostgreSQL's own 40001, which does not say why (isolation
	 * revprune_rr_fork_delete).
	 */
	if (IsolationUsesXactSnapshot())
	{
		Datum		values[2] = {CStringGetTextDatum(thread_id), (Datum) 0};
		char		nulls[2] = {' ', 'n'};

		refuse_unseen_forks(thread_id, values, nulls,
							collect_rows(sg_spi_run_texts(&seen_plan,
														  "SELECT c.thread_id, c.checkpoint_id FROM stategraph.checkpoints c "
														  "WHERE c.thread_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT thread_id " FORK_HOLDERS ")) "
														  "AND c.parent_thread OPERATOR(pg_catalog.=) $1",
														  1, args)));
	}
	sg_lock_rows_apart(delete_rows_try, &d, sg_one_thread_lock, (void *) thread_id);
}

/*
 * Remove a stategraph thread and its checkpoints (forks of it keep
 * theirs), and cancel its runs that are not executing: sg_delete_thread,
 * and the retention sweep's 'delete' (swept), which has taken the
 * thread's submit lock and checked for hidden runs already
 * (sg_sweep_may_delete, without waiting), and holds the thread.
 *
 * The thread's submit lock comes first (runs.c, sg_lock_thread_submits):
 * a submit still open makes the delete wait for its commit, and its run
 * is cancelled too; one that comes later waits for the delete, and its
 * run starts a new thread of that id. The runs that have not started are
 * cancelled before the thread is locked: a worker that claims a due run
 * of the thread while this transaction holds the thread's row waits for
 * that row in the run's first step, and cancelling the run would then
 * wait for the claim's row lock, a deadlock. Cancelled first, a run
 * claimed before has started and holds the thread: the delete waits for
 * it, as for any running run (the claims pass over the rows this
 * transaction cancels), and no run queued behind it can start meanwhile.
 * Those that have taken steps are cancelled once the delete holds the
 * thread's lock (no executor has them then), before its row. Its row and
 * the rows of its forks, which detaching them writes, are taken apart
 * (lock_delete_rows), the thread's lock let go while a busy one of them is
 * waited for, and the stepped runs cancelled again by each try.
 *
 * A transaction that writes the thread (its row) and then submits to it
 * (the submit lock) takes the two in the other order: it and a delete can
 * deadlock (40P01, detected; README says so). Taking the thread without
 * waiting and waiting for it holding nothing was tried: it let the runs
 * queued behind an executing run start while the delete waited. Letting
 * its lock go while waiting for a row does not: the runs that had not
 * started stay cancelled, and the submit lock held.
 */
static void
delete_thread(const char *thread_id, bool swept)
{
	static SPIPlanPtr del_checkpoints;
	static SPIPlanPtr del_thread;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	SGThread   *th;
	bool		runs = !sg_schema_is_010(); /* no runs, submit locks or owners before ALTER EXTENSION UPDATE */

	if (runs)
	{
		if (!swept)
			sg_lock_thread_submits(thread_id, sg_role_hold_may_wait());
		cancel_unstarted_runs(thread_id);
	}
	sg_lock_thread(thread_id, false);
	if (swept)
	{
		if (runs)
			cancel_stepped_runs(thread_id);
	}
	else
		lock_delete_rows(thread_id, runs);	/* the sweep holds them, taken without waiting */
	th = sg_thread_fetch_for_delete(thread_id);
	if (runs && !swept)
		refuse_hidden_runs(thread_id, "sg_delete_thread");
	sg_tasks_cancel_thread(th);
	sg_detach_forks(thread_id, (Datum) 0);
	values[0] = CStringGetTextDatum(thread_id);
	sg_spi_execute(sg_spi_prepare(&del_checkpoints,
								  "DELETE FROM stategraph.checkpoints WHERE thread_id OPERATOR(pg_catalog.=) $1",
								  1, types), values, NULL, 0);
	sg_spi_execute(sg_spi_prepare(&del_thread,
								  "DELETE FROM stategraph.threads WHERE thread_id OPERATOR(pg_catalog.=) $1",
								  1, types), values, NULL, 0);
}

/*
 * The retention sweep's delete of an expired thread (runs.c), as an
 * SGSubxactFn: see delete_thread. Called directly, not through
 * sg_delete_thread, which took the submit lock and looked for hidden runs
 * a second time.
 */
bool
sg_sweep_delete_thread(void *thread_id)
{
	sg_spi_connect();
	delete_thread((const char *) thread_id, true);
	sg_spi_finish();
	return true;
}

/* sg_delete_thread(thread_id): a thread of either kind (LangGraph.js ones: lgmaint.c). */
Datum
sg_delete_thread(PG_FUNCTION_ARGS)
{
	char	   *thread_id = sg_arg_text(fcinfo, 0, "thread_id");

	sg_prevent_write("sg_delete_thread");
	sg_spi_connect();
	if (sg_thread_fetch(thread_id, false) == NULL && sg_lg_thread_visible(thread_id))
		sg_lg_delete_thread_rows(thread_id);
	else
	{
		sg_refuse_running_thread(thread_id, "sg_delete_thread");
		delete_thread(thread_id, false);
	}
	sg_spi_finish();
	PG_RETURN_VOID();
}

/*
 * The checkpoints of thread $1 that sg_prune removes: never the head, nor
 * the newest keep_last ($3): those older than the keep_last-th newest (read
 * once: compared with each of the newest keep_last, pruning took time
 * growing with the thread's length times keep_last).
 */
#define PRUNE_SELECT \
	"SELECT c.checkpoint_id FROM stategraph.checkpoints c " \
	"JOIN stategraph.threads t ON t.thread_id OPERATOR(pg_catalog.=) c.thread_id " \
	"WHERE c.thread_id OPERATOR(pg_catalog.=) $1 " \
	"AND c.checkpoint_id OPERATOR(pg_catalog.<>) t.head " \
	"AND ($2 IS NULL OR c.created_at OPERATOR(pg_catalog.<) " \
	"     " SG_UTC_SHIFT("pg_catalog.clock_timestamp()", "-", "$2") ") " \
	"AND ($3 IS NULL OR c.checkpoint_id OPERATOR(pg_catalog.<) (" \
	"     SELECT k.checkpoint_id FROM stategraph.checkpoints k " \
	"     WHERE k.thread_id OPERATOR(pg_catalog.=) $1 " \
	"     ORDER BY k.checkpoint_id DESC OFFSET $3 OPERATOR(pg_catalog.-) 1 LIMIT 1)) "
/*
 * ... nor the checkpoint an active background run started from (runs exist
 * from 0.2.0 on), which a rollback of the run makes the head again, nor the
 * one a run that has not taken a step yet was submitted to start from
 * (sg_submit's checkpoint_id: removed, the run failed with 42704 when it
 * started; pg_regress prune_submit_from), nor their first loop child, nor
 * that one's, and so on: the results of a checkpoint's tasks are its first
 * loop child's writes. (The newest checkpoints, which prune keeps
 * otherwise, have their children among them.)
 */
#define RUN_START_KEPT \
	"AND NOT c.checkpoint_id OPERATOR(pg_catalog.=) ANY (ARRAY(WITH RECURSIVE k(id) AS (" \
	"     SELECT s.id FROM stategraph.runs r, LATERAL (VALUES (r.start_head), " \
	"       (CASE WHEN NOT r.stepped THEN r.checkpoint_id END)) s(id) " \
	"     WHERE r.thread_id OPERATOR(pg_catalog.=) $1 AND s.id IS NOT NULL " \
	"     AND r.status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running', 'waiting']) " \
	"     UNION SELECT (SELECT l.checkpoint_id FROM stategraph.checkpoints l " \
	"          WHERE l.thread_id OPERATOR(pg_catalog.=) $1 AND l.checkpoint_id OPERATOR(pg_catalog.>) k.id " \
	"          AND l.parent_id OPERATOR(pg_catalog.=) k.id AND l.parent_thread IS NULL " \
	"          AND l.source OPERATOR(pg_catalog.=) 'loop' ORDER BY l.checkpoint_id LIMIT 1) " \
	"     FROM k WHERE k.id IS NOT NULL) " \
	"     SELECT k.id FROM k WHERE k.id IS NOT NULL))"

/*
 * The threads with forks that start from checkpoints $2 of thread $1 (as
 * detach_forks_in finds them: forked_from first, by the GIN index).
 */
#define PRUNE_FORKS \
	"FROM stategraph.threads t WHERE t.forked_from OPERATOR(pg_catalog.@>) ARRAY[$1] " \
	"AND EXISTS (SELECT 1 FROM stategraph.checkpoints c " \
	"  WHERE c.thread_id OPERATOR(pg_catalog.=) t.thread_id " \
	"  AND c.parent_thread OPERATOR(pg_catalog.=) $1 " \
	"  AND c.parent_id OPERATOR(pg_catalog.=) ANY ($2))"

/* A reference of a row to a row that prune removes: the channel, and the row it points at. */
typedef struct RefToFix
{
	pg_uuid_t	id;
	char	   *channel;
	char	   *target;
} RefToFix;

/*
 * Before prune removes the rows in ids ($2 of values: thread, uuid[]), let
 * no remaining row of the thread refer to one of them. The rows whose
 * reference to a channel's value points at the same removed row all read
 * that one value: the oldest of them gets it in its image, and the others
 * then refer to that row. (A complete image of the whole state in each of
 * them, one row in 16 for a channel unchanged for long, made pruning a
 * long thread slow and its storage grow with the square of its length.)
 * A segment of an append channel after a removed row (what was appended
 * since) is each row's own: such a row gets the channel's whole value.
 */
static void
fix_references(const char *thread_id, Datum *values)
{
	static SPIPlanPtr list_plan;
	static SPIPlanPtr repoint_plan;
	Oid			types[2] = {TEXTOID, UUIDARRAYOID};
	Oid			repoint_types[4] = {TEXTOID, UUIDOID, TEXTOID, TEXTOID};
	SGChannelSet *cs = sg_channelset_from_jsonb(sg_thread_fetch_required(thread_id, false)->channels);
	RefToFix   *refs;
	RefToFix   *keeper = NULL;
	uint64		n,
				i;

	n = sg_spi_execute(sg_spi_prepare(&list_plan,
									  "SELECT c.checkpoint_id, r.key, r.value FROM stategraph.checkpoints c, "
									  "pg_catalog.jsonb_each_text(c.refs) r "
									  "WHERE c.thread_id OPERATOR(pg_catalog.=) $1 AND c.refs IS NOT NULL "
									  "AND NOT c.checkpoint_id OPERATOR(pg_catalog.=) ANY ($2) "
									  "AND r.value::pg_catalog.uuid OPERATOR(pg_catalog.=) ANY ($2) "
									  "ORDER BY r.key, r.value, c.checkpoint_id",
									  2, types), values, NULL, 0);
	refs = palloc(sizeof(RefToFix) * (n + 1));
	for (i = 0; i < n; i++)
	{
		sg_spi_uuid(i, 1, &refs[i].id);
		refs[i].channel = sg_spi_text(i, 2);
		refs[i].target = sg_spi_text(i, 3);
	}
	for (i = 0; i < n; i++)
	{
		RefToFix   *r = &refs[i];
		int			c = sg_channelset_index(cs, r->channel);
		Datum		args[4];

		CHECK_FOR_INTERRUPTS();
		if (c < 0 || cs->kinds[c] == SG_STORE_APPEND ||
			keeper == NULL || strcmp(keeper->channel, r->channel) != 0 || strcmp(keeper->target, r->target) != 0)
		{
			sg_checkpoint_image_channel(cs, thread_id, &r->id, r->channel);
			keeper = r;
			continue;
		}
		args[0] = values[0];
		args[1] = UUIDPGetDatum(&r->id);
		args[2] = CStringGetTextDatum(r->channel);
		args[3] = CStringGetTextDatum(sg_uuid_to_cstring(&keeper->id));
		sg_spi_execute(sg_spi_prepare(&repoint_plan,
									  "UPDATE stategraph.checkpoints "
									  "SET refs = refs OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object($3, $4) "
									  "WHERE thread_id OPERATOR(pg_catalog.=) $1 AND checkpoint_id OPERATOR(pg_catalog.=) $2",
									  4, repoint_types), args, NULL, 0);
	}
}

/* The checkpoint ids of the last query's result (its sole column), as a uuid[]. */
static ArrayType *
result_ids(uint64 n)
{
	Datum	   *ids = palloc(sizeof(Datum) * n);
	uint64		i;

	for (i = 0; i < n; i++)
	{
		pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

		sg_spi_uuid(i, SG_SOLE_COLUMN, u);
		ids[i] = UUIDPGetDatum(u);
	}
	return construct_array(ids, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR);
}

/*
 * The checkpoints of thread_id that sg_prune removes, as a uuid[], or NULL
 * when there are none: never the head, nor the newest keep_last, nor the
 * checkpoint a background run still active on the thread (waiting for
 * external tasks: the thread is free) started from, which a rollback of
 * that run makes the head again.
 */
static ArrayType *
prunable_ids(const char *thread_id, Interval *older_than, int keep_last)
{
	static SPIPlanPtr select_plan;
	static SPIPlanPtr select_plan_010;	/* the 0.1.0 schema (before ALTER EXTENSION UPDATE): no runs */
	Oid			types[3] = {TEXTOID, INTERVALOID, INT4OID};
	Datum		values[3];
	char		nulls[3] = {' ', older_than ? ' ' : 'n', keep_last > 0 ? ' ' : 'n'};
	uint64		n;

	values[0] = CStringGetTextDatum(thread_id);
	values[1] = older_than ? IntervalPGetDatum(older_than) : (Datum) 0;
	values[2] = Int32GetDatum(keep_last);
	n = sg_spi_execute(sg_spi_prepare(sg_schema_is_010() ? &select_plan_010 : &select_plan,
									  sg_schema_is_010() ? PRUNE_SELECT : PRUNE_SELECT RUN_START_KEPT,
									  3, types), values, nulls, 0);
	return n == 0 ? NULL : result_ids(n);
}

/* What lock_prune_rows locks, and the checkpoints its kept try chose. */
typedef struct PruneRows
{
	const char *thread_id;
	Interval   *older_than;
	int			keep_last;
	ArrayType  *ids;			/* the checkpoints to remove (NULL: none, or no row) */
} PruneRows;

/*
 * One try of lock_prune_rows (an SGRowsTryFn): the thread's row as
 * sg_thread_fetch locks it (FOR NO KEY UPDATE), but by a query of its
 * own: sg_thread_fetch lets the thread's lock go once it holds the row
 * (sg_thread_lock_settled), and a rolled back try must keep it. With
 * stategraph.lock_wait off a held row is not waited for, and is an error.
 * Then the checkpoints to remove are chosen, and the rows of the threads
 * with forks of them locked.
 */
static char *
prune_rows_try(void *arg, SGRowMode *mode)
{
	static SPIPlanPtr seen_plan;
	static SPIPlanPtr forks_plan;
	PruneRows  *p = (PruneRows *) arg;
	Oid			types[2] = {TEXTOID, UUIDARRAYOID};
	Datum		values[2];
	const char	nulls[2] = {' ', ' '};
	SGRowLock	r;
	bool		isnull;
	Datum		holders;

	p->ids = NULL;
	*mode = SG_ROW_FOR_NO_KEY_UPDATE;
	r = sg_thread_row_try_lock(p->thread_id, NULL, NULL, true);
	if (r == SG_ROW_HELD && sg_lock_wait)
		return pstrdup(p->thread_id);
	if (r == SG_ROW_HELD)
		sg_refuse_busy_thread(p->thread_id, NULL);
	if (r != SG_ROW_LOCKED)
		return NULL;			/* deleted meanwhile: the caller sees no row */
	p->ids = prunable_ids(p->thread_id, p->older_than, p->keep_last);
	if (p->ids == NULL)
		return NULL;
	values[0] = CStringGetTextDatum(p->thread_id);
	values[1] = PointerGetDatum(p->ids);

	/*
	 * REPEATABLE READ: a fork made after the snapshot is refused first, in
	 * detach_forks_in's words, before the lock of its thread's row (written
	 * since) fails with PostgreSQL's own 40001, which does not say why (as
	 * lock_delete_rows does; isolation revprune_rr_fork_delete).
	 */
	if (IsolationUsesXactSnapshot())
		refuse_unseen_forks(p->thread_id, values, nulls,
							collect_rows(sg_spi_execute(sg_spi_prepare(&seen_plan,
																	   "SELECT c.thread_id, c.checkpoint_id FROM stategraph.checkpoints c "
																	   "WHERE c.thread_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT t.thread_id " PRUNE_FORKS ")) "
																	   "AND c.parent_thread OPERATOR(pg_catalog.=) $1 "
																	   "AND c.parent_id OPERATOR(pg_catalog.=) ANY ($2)",
																	   2, types), values, NULL, 0)));
	/* the rows of the forks it detaches: a fork made later waits for this thread's row */
	sg_spi_execute(sg_spi_prepare(&forks_plan, "SELECT pg_catalog.array_agg(t.thread_id) " PRUNE_FORKS, 2, types),
				   values, NULL, 0);
	holders = sg_spi_datum(0, SG_SOLE_COLUMN, &isnull);
	return sg_try_lock_rows(isnull ? (Datum) 0 : holders, SG_ROW_FOR_NO_KEY_UPDATE);
}

/*
 * Lock the row of thread_id and the rows of the threads with forks from
 * the checkpoints sg_prune of that one thread removes, which detaching
 * them writes (detach_forks_in); returns those checkpoints (NULL: none).
 * The caller holds the thread's lock. Taken apart ("Rows taken apart"):
 * sg_import_thread of a fork's export holds the fork's row (the export
 * locks it) and then share-locks its source's, so holding the source's
 * row and waiting for the fork's, the prune and the import each waited
 * for the other, a deadlock (40P01; isolation prune_import_fork). The
 * prune still waits for a busy fork, and still detaches them all. The
 * caller holds the thread's lock: let go while a busy row is waited for
 * and taken again before the next try (sg_lock_rows_apart), since whoever
 * holds a fork's row may ask for it next (sg_import_thread of the fork's
 * export into thread_id: isolation delete_export_fork_import, 40P01 while
 * the prune waited with it); a writer of the thread, or a run, may come in
 * between, and the next try, under the lock again, chooses anew. Only the forks of the checkpoints it
 * removes are waited for (those of the checkpoints it keeps are not
 * written), where a delete waits for every fork of its thread. A fork
 * made once the thread's row is held waits for it. The checkpoints are
 * chosen once the thread's row is held, in the try that is kept, and are
 * the ones pruned (chosen again later, one more could have grown old
 * enough meanwhile, with a fork whose row this transaction has not
 * taken).
 */
static ArrayType *
lock_prune_rows(const char *thread_id, Interval *older_than, int keep_last)
{
	PruneRows	p = {thread_id, older_than, keep_last, NULL};

	sg_lock_rows_apart(prune_rows_try, &p, sg_one_thread_lock, (void *) thread_id);
	return p.ids;
}

/*
 * Prune a thread whose lock and row this transaction holds; returns the
 * checkpoints removed: chosen, those whose forks lock_prune_rows
 * locked (sg_prune of one thread), else prunable_ids'. one_of_all: sg_prune
 * of every thread, which holds no submit lock of the thread
 * (prune_thread): 0 if a checkpoint it would remove is locked
 * (lock_start_checkpoint in runs.c), or the row of a fork it would
 * detach, or a run was queued after this REPEATABLE READ transaction's
 * snapshot.
 */
static uint64
prune_locked(const char *thread_id, Interval *older_than, int keep_last, bool one_of_all, ArrayType *chosen)
{
	static SPIPlanPtr lock_plan;
	static SPIPlanPtr forks_plan;
	static SPIPlanPtr reselect_plan;
	static SPIPlanPtr roots_plan;
	static SPIPlanPtr copies_plan;
	static SPIPlanPtr delete_plan;
	Oid			types[4] = {TEXTOID, INTERVALOID, INT4OID, UUIDARRAYOID};
	Datum		values[4];
	char		nulls[4] = {' ', older_than ? ' ' : 'n', keep_last > 0 ? ' ' : 'n', ' '};
	Oid			types2[2] = {TEXTOID, UUIDARRAYOID};
	Datum		values2[2];
	uint64		n;
	ArrayType  *idarr;
	bool		isnull;

	/* the rows to remove (prunable_ids), chosen already for one thread (lock_prune_rows) */
	idarr = one_of_all ? prunable_ids(thread_id, older_than, keep_last) : chosen;
	if (idarr == NULL)
		return 0;
	n = ArrayGetNItems(ARR_NDIM(idarr), ARR_DIMS(idarr));
	values[0] = CStringGetTextDatum(thread_id);
	values[1] = older_than ? IntervalPGetDatum(older_than) : (Datum) 0;
	values[2] = Int32GetDatum(keep_last);
	values2[0] = values[0];
	values2[1] = PointerGetDatum(idarr);

	/*
	 * Pruning every thread: a submit to the thread still open may be
	 * queueing a run from one of these rows, which this transaction cannot
	 * see, and one that comes before its commit must wait for it. The rows
	 * are locked without waiting (a submit holds the one its run starts
	 * from), the thread passed over if one is held (the next prune takes
	 * it), and the runs read again: a submit that committed before the
	 * lock is seen now, and what its run needs is kept; at REPEATABLE READ
	 * it is not, and the thread is passed over. Without this the run
	 * failed with 42704 when it started (isolation pruneall_submit_race).
	 */
	if (one_of_all && !sg_schema_is_010())
	{
		if (sg_spi_execute(sg_spi_prepare(&lock_plan,
										  "SELECT 1 FROM stategraph.checkpoints "
										  "WHERE thread_id OPERATOR(pg_catalog.=) $1 "
										  "AND checkpoint_id OPERATOR(pg_catalog.=) ANY ($2) "
										  "FOR UPDATE SKIP LOCKED",
										  2, types2), values2, NULL, 0) < n ||
			sg_thread_has_unseen_run(thread_id))
			return 0;
		values[3] = PointerGetDatum(idarr);
		n = sg_spi_execute(sg_spi_prepare(&reselect_plan,
										  PRUNE_SELECT RUN_START_KEPT
										  " AND c.checkpoint_id OPERATOR(pg_catalog.=) ANY ($4)",
										  4, types), values, nulls, 0);
		if (n == 0)
			return 0;
		idarr = result_ids(n);
		values2[1] = PointerGetDatum(idarr);

		/*
		 * The rows of the threads with forks from these checkpoints, which
		 * detaching them writes (detach_forks_in), locked without waiting
		 * too, the thread passed over if one is held: whoever holds a
		 * fork's row may be waiting for this thread's, which this
		 * transaction holds (sg_import_thread(sg_export_thread(fork))
		 * locks the fork's row, then share-locks its source's to keep the
		 * link), and each waited for the other, a deadlock (40P01;
		 * isolation pruneall_import_fork). A fork made later waits for
		 * this thread's row, so these are all of them.
		 */
		sg_spi_execute(sg_spi_prepare(&forks_plan,
									  "SELECT (SELECT pg_catalog.count(*) " PRUNE_FORKS ") "
									  "  OPERATOR(pg_catalog.=) (SELECT pg_catalog.count(*) FROM (SELECT 1 " PRUNE_FORKS
									  "  FOR NO KEY UPDATE OF t SKIP LOCKED) l)",
									  2, types2), values2, NULL, 0);
		if (!DatumGetBool(sg_spi_datum(0, 1, &isnull)) || isnull)
			return 0;
	}

	/* remaining rows whose parent goes, then rows whose references point at rows that go */
	materialize_rows(collect_rows(sg_spi_execute(sg_spi_prepare(&roots_plan,
																 "SELECT " ROW_COLUMNS " FROM stategraph.checkpoints "
																 "WHERE thread_id OPERATOR(pg_catalog.=) $1 "
																 "AND NOT checkpoint_id OPERATOR(pg_catalog.=) ANY ($2) "
																 "AND parent_thread IS NULL AND parent_id OPERATOR(pg_catalog.=) ANY ($2) "
																 "AND NOT image_complete",
																 2, types2), values2, NULL, 0)));
	fix_references(thread_id, values2);
	sg_detach_forks(thread_id, PointerGetDatum(idarr));
	/* copies of input checkpoints that go, not resumed yet: their input (sg_checkpoint_copy_input) */
	keep_fork_inputs(collect_rows(sg_spi_execute(sg_spi_prepare(&copies_plan,
																"SELECT " ROW_COLUMNS " FROM stategraph.checkpoints "
																"WHERE thread_id OPERATOR(pg_catalog.=) $1 "
																"AND NOT checkpoint_id OPERATOR(pg_catalog.=) ANY ($2) "
																"AND parent_thread IS NULL AND parent_id OPERATOR(pg_catalog.=) ANY ($2) "
																"AND source OPERATOR(pg_catalog.=) 'fork' "
																"AND next OPERATOR(pg_catalog.@>) ARRAY['__start__']",
																2, types2), values2, NULL, 0)), true);

	n = sg_spi_execute(sg_spi_prepare(&delete_plan,
									  "DELETE FROM stategraph.checkpoints WHERE thread_id OPERATOR(pg_catalog.=) $1 "
									  "AND checkpoint_id OPERATOR(pg_catalog.=) ANY ($2)",
									  2, types2), values2, NULL, 0);
	sg_thread_touch(thread_id);
	return n;
}

/*
 * Prune one thread; returns the number of checkpoints removed.
 *
 * Pruning every thread must not hold every thread's advisory lock until
 * the end of the transaction (the lock table would run out with many
 * threads), so with one_of_all a busy thread (a CALL sg_run holding the
 * lock, or a writer holding the row) is skipped, as is one with a fork
 * that prune_locked would detach and another transaction holds. The
 * thread's row stays locked until this transaction ends, and whoever
 * changes a thread locks its row, so nobody builds on the removed rows
 * before then. Nor does it
 * take the thread's submit lock (a row that it may have to insert, which
 * waits for a submit inserting it): it locks the rows it removes without
 * waiting instead, which a submit from one of them holds (prune_locked).
 */
static uint64
prune_thread(const char *thread_id, Interval *older_than, int keep_last, bool one_of_all)
{
	uint64		n = 0;
	bool		busy;
	SGThread   *th;
	ArrayType  *ids = NULL;

	if (!one_of_all)
	{
		sg_refuse_running_thread(thread_id, "sg_prune");

		/*
		 * The thread's submit lock before its lock, as sg_delete_thread
		 * takes them: a submit still open may have queued a run from a
		 * checkpoint this prune would remove (RUN_START_KEPT keeps it once
		 * the run is seen): the prune waits for its commit and then sees
		 * the run; a submit that comes later waits for the prune, and then
		 * finds its checkpoint, or refuses it (42704). Without it the
		 * submit's run failed when it started (isolation
		 * prune_submit_race).
		 */
		if (!sg_schema_is_010())
			sg_lock_thread_submits(thread_id, sg_role_hold_may_wait());
		sg_lock_thread(thread_id, false);
		ids = lock_prune_rows(thread_id, older_than, keep_last);
		th = sg_thread_fetch(thread_id, true);	/* (locked already) */
		if (th != NULL && !sg_schema_is_010())
		{
			refuse_hidden_runs(thread_id, "sg_prune");
			/* REPEATABLE READ: a run queued after the snapshot (the submit lock waited for it) is not seen */
			if (sg_thread_has_unseen_run(thread_id))
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not prune thread \"%s\": another transaction queued a run on it", thread_id),
						 errdetail("The run was queued after this transaction's snapshot, which cannot keep "
								   "the checkpoint it starts from."),
						 errhint("Retry the transaction.")));
		}
	}
	else
	{
		if (sg_thread_running_here(thread_id) || !sg_try_lock_thread(thread_id))
			return 0;			/* a node of this session or a CALL sg_run is running it: next time */
		th = sg_thread_fetch_locked(thread_id, true, false, &busy);
		sg_unlock_thread(thread_id, false);
		if (busy)
			return 0;			/* a writer has not committed yet: next time */
		if (th != NULL && !sg_schema_is_010() && sg_thread_has_hidden_run(thread_id))
			return 0;			/* another role's run this role cannot see: refuse_hidden_runs */
	}
	if (th != NULL)				/* else deleted meanwhile */
		n = prune_locked(thread_id, older_than, keep_last, one_of_all, ids);
	return n;
}

/*
 * Prune one thread in a memory context and SPI connection of its own, both
 * gone afterwards: pruning every thread keeps no memory per thread (each
 * statement's result alone took 8 kB until SPI_finish).
 */
static uint64
prune_in_own_context(MemoryContext cxt, const char *thread_id, Interval *older_than, int keep_last,
					 bool one_of_all)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	uint64		n;

	sg_spi_connect();
	n = prune_thread(thread_id, older_than, keep_last, one_of_all);
	sg_spi_finish();
	MemoryContextSwitchTo(old);
	MemoryContextReset(cxt);
	return n;
}

/*
 * Prune every thread, in batches of PRUNE_BATCH thread ids read in primary
 * key order after the last one (an index range scan each), so that neither
 * time nor memory grows faster than the number of threads.
 */
#define PRUNE_BATCH 1000
static uint64
prune_all(Interval *older_than, int keep_last)
{
	static SPIPlanPtr batch_plans[2];
	MemoryContext batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "sg_prune batch", ALLOCSET_DEFAULT_SIZES);
	MemoryContext thread_cxt = AllocSetContextCreate(CurrentMemoryContext, "sg_prune thread", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(batch_cxt);
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {(Datum) 0, Int32GetDatum(PRUNE_BATCH)};
	char		nulls[2] = {'n', ' '};
	uint64		removed = 0;

	for (;;)
	{
		uint64		n,
					i;
		char	  **ids;
		bool		after = nulls[0] != 'n';

		sg_spi_connect();
		n = sg_spi_execute(sg_spi_prepare(&batch_plans[after],
										  psprintf("SELECT thread_id FROM stategraph.threads WHERE %s "
												   "ORDER BY thread_id LIMIT $2", SG_AFTER_CURSOR(after, "thread_id")),
										  2, types), values, nulls, 0);
		ids = palloc(sizeof(char *) * (n + 1));
		for (i = 0; i < n; i++)
			ids[i] = sg_spi_text(i, SG_SOLE_COLUMN);
		sg_spi_finish();
		for (i = 0; i < n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			removed += prune_in_own_context(thread_cxt, ids[i], older_than, keep_last, true);
		}
		if (n < PRUNE_BATCH)
			break;
		MemoryContextSwitchTo(old);
		values[0] = CStringGetTextDatum(ids[n - 1]);	/* outlives the batch */
		nulls[0] = ' ';
		MemoryContextReset(batch_cxt);
		MemoryContextSwitchTo(batch_cxt);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(batch_cxt);
	MemoryContextDelete(thread_cxt);
	return removed;
}

/* sg_prune(older_than, keep_last, thread_id): remove old checkpoints of one thread or all. */
Datum
sg_prune(PG_FUNCTION_ARGS)
{
	Interval   *older_than = PG_ARGISNULL(0) ? NULL : PG_GETARG_INTERVAL_P(0);
	int			keep_last = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1);
	char	   *thread_id = NULL;
	uint64		removed;

	if (older_than == NULL && PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sg_prune needs older_than or keep_last"),
				 errhint("For example sg_prune(keep_last => 10) or sg_prune(older_than => '30 days').")));
	if (!PG_ARGISNULL(1) && keep_last < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keep_last must be at least 1, not %d", keep_last),
				 errdetail("The newest checkpoint of a thread is always kept.")));
	if (older_than != NULL && sg_interval_negative(older_than))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative")));
	if (older_than != NULL)
		sg_check_interval_range(older_than, true, "older_than");
	if (!PG_ARGISNULL(2))
		thread_id = sg_arg_text(fcinfo, 2, "thread_id");

	sg_prevent_write("sg_prune");
	if (thread_id != NULL)
	{
		sg_spi_connect();
		if (sg_thread_fetch(thread_id, false) != NULL || !sg_lg_thread_visible(thread_id))
		{
			sg_thread_fetch_required(thread_id, false);
			removed = prune_thread(thread_id, older_than, keep_last, false);
		}
		else					/* a LangGraph.js thread (lgmaint.c) */
			removed = sg_lg_prune_threads(thread_id, older_than, keep_last);
		sg_spi_finish();
	}
	else
	{
		removed = prune_all(older_than, keep_last);
		sg_spi_connect();
		removed += sg_lg_prune_threads(NULL, older_than, keep_last);	/* LangGraph.js threads (lgmaint.c) */
		sg_spi_finish();
	}
	PG_RETURN_INT64((int64) removed);
}
