/*-------------------------------------------------------------------------
 *
 * run.c
 *		The SQL entry points that run a graph: sg_invoke (one call, one
 *		transaction), sg_stream (rows as steps complete) and CALL sg_run
 *		(durable: a commit after every super-step).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(sg_invoke);
PG_FUNCTION_INFO_V1(sg_stream);
PG_FUNCTION_INFO_V1(sg_run);

/*
 * The options shared by sg_invoke, sg_stream and sg_run: (graph, input,
 * thread_id, checkpoint_id, resume, recursion_limit, on_error [, mode]).
 */
SGRunOptions
sg_run_options(FunctionCallInfo fcinfo, bool has_mode)
{
	SGRunOptions o;

	memset(&o, 0, sizeof(o));
	o.graph = sg_arg_text(fcinfo, 0, "graph");
	o.input = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	if (!PG_ARGISNULL(2))
		o.thread_id = sg_arg_text(fcinfo, 2, "thread_id");
	if (!PG_ARGISNULL(3))
	{
		o.has_checkpoint_id = true;
		o.checkpoint_id = *PG_GETARG_UUID_P(3);
	}
	o.resume = PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4);
	sg_require_arg(fcinfo, 5, "recursion_limit");
	o.recursion_limit = PG_GETARG_INT32(5);
	o.on_error = sg_arg_choice(fcinfo, 6, "on_error", "raise", "return") ? SG_ON_ERROR_RETURN : SG_ON_ERROR_RAISE;
	if (has_mode)
		o.emit_values = sg_arg_choice(fcinfo, 7, "mode", "updates", "values");
	return o;
}

/* sg_invoke: run to the end (or to an interrupt) and return the state. */
Datum
sg_invoke(PG_FUNCTION_ARGS)
{
	SGRunOptions opts = sg_run_options(fcinfo, false);
	SGRun	   *run;
	Jsonb	   *result;
	MemoryContext cxt;

	if (opts.thread_id != NULL)
		sg_prevent_write("sg_invoke with a thread_id");	/* without one: nothing is stored */

	/*
	 * The run lives in cxt, deleted if the run fails: the context sg_invoke
	 * is called in is not always reset by the error. A reducer or router
	 * written in SQL runs its statements under the graph's cached function,
	 * in the graph's own memory: a failed run left there kept its pin on
	 * the graph, which was then never freed. (Its hold on its thread goes
	 * with the (sub)transaction the error rolls back: session_threads.c.)
	 */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "stategraph invoke", ALLOCSET_SMALL_SIZES);
	PG_TRY();
	{
		sg_spi_connect();
		run = sg_run_begin(&opts, cxt);
		while (sg_run_step(run))
			CHECK_FOR_INTERRUPTS();
		result = sg_run_result(run);
		sg_run_end(run);
		sg_spi_finish();
	}
	PG_CATCH();
	{
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextDelete(cxt);
	PG_RETURN_JSONB_P(result);
}

/* ---------------------------------------------------------------------------
 * sg_stream: a value-per-call SRF that runs one step whenever it runs out of rows
 * ---------------------------------------------------------------------------
 */
typedef struct StreamRow
{
	int			step;
	char	   *node;
	Jsonb	   *payload;
} StreamRow;

typedef struct StreamState
{
	MemoryContext cxt;
	SGRun	   *run;
	List	   *rows;			/* StreamRow *, not yet returned */
	bool		finished;
	MemoryContext run_cxt;		/* the run's parent, deleted if a call fails (stream_failed) */
	char	   *thread_id;		/* of a run that stores its steps, or NULL */
	TransactionId wrote_in;		/* the (sub)transaction of its last stored step */
} StreamState;

/*
 * A stream read through a cursor runs its steps at each FETCH, each in the
 * (sub)transaction of that FETCH. A ROLLBACK TO SAVEPOINT after one undoes
 * the checkpoints stored there, but not the run in memory: its next step
 * was written as the child of a checkpoint that no longer exists, and the
 * thread read wrong for good (an append channel lost its earlier values).
 * So each FETCH first checks that the (sub)transaction of the last stored
 * step is still part of this one (committed into it, not rolled back);
 * checking the last one is enough, as any rollback that undid an earlier
 * step undid every later one too. Before that, a stream begun after the
 * savepoint lost its hold on the thread, and the thread's lock, to the
 * rollback, even if it stored nothing (a resume in mode values): it cannot
 * go on either.
 */
static void
stream_check_stored(StreamState *st)
{
	if (st->run != NULL && !sg_run_holds_thread(st->run))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sg_stream of thread \"%s\" cannot go on: a rollback to a savepoint let go of the thread", st->thread_id),
				 errdetail("The stream began after the savepoint; the rollback released its hold on the thread."),
				 errhint("Close the cursor and resume the thread with a new call.")));
	if (TransactionIdIsValid(st->wrote_in) && !TransactionIdIsCurrentTransactionId(st->wrote_in))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sg_stream of thread \"%s\" cannot go on: a rollback to a savepoint undid its stored steps", st->thread_id),
				 errdetail("The checkpoints it wrote since the savepoint are gone; its next step would be stored on one of them."),
				 errhint("Close the cursor and resume the thread with a new call.")));
}

/* Note the (sub)transaction that holds the steps a stream stored so far. */
static void
stream_note_stored(StreamState *st)
{
	TransactionId xid = GetCurrentTransactionIdIfAny();

	/* (a call that stored nothing leaves the last one that did) */
	if (st->thread_id != NULL && TransactionIdIsValid(xid))
		st->wrote_in = xid;
}

/* Keep what a run tells as it goes, as rows for sg_stream to return. */
static void
stream_emit(void *arg, int step, const char *node, Jsonb *payload)
{
	StreamState *st = (StreamState *) arg;
	MemoryContext old = MemoryContextSwitchTo(st->cxt);
	StreamRow  *row = palloc(sizeof(StreamRow));

	row->step = step;
	row->node = node ? pstrdup(node) : NULL;
	row->payload = sg_jsonb_copy(payload);
	st->rows = lappend(st->rows, row);
	MemoryContextSwitchTo(old);
}

/*
 * A call of the stream failed: the run (and its hold on its thread) goes at
 * once. The stream cannot be read again, but its memory lives as long as
 * its cursor, or the context it was called in, which an error does not
 * always reset; and its hold was taken by the call that began it, maybe in
 * a (sub)transaction that the failure did not roll back (a FETCH in a
 * savepoint): the thread stayed held, and every later run of it in this
 * session was refused ("is already running in this session").
 */
static void
stream_failed(StreamState *st)
{
	if (st->run_cxt != NULL)
		MemoryContextDelete(st->run_cxt);
	st->run_cxt = NULL;
	st->run = NULL;
	st->rows = NIL;
	st->finished = true;
}

/* A part of a stream's run, for stream_call: its start, or one super-step. */
typedef void (*StreamPart) (StreamState *st, SGRunOptions *opts);

/* The start of a stream's run (a StreamPart), as opts ask. */
static void
stream_start(StreamState *st, SGRunOptions *opts)
{
	st->run = sg_run_begin(opts, st->run_cxt);
	if (st->rows != NIL)
		sg_run_checkpointed(st->run);	/* a time-travel fork, already shown in mode values */
}

/* The next super-step of a stream's run (a StreamPart; no opts), or its end. */
static void
stream_step(StreamState *st, SGRunOptions *opts)
{
	if (sg_run_step(st->run))
		sg_run_checkpointed(st->run);	/* the caller may stop reading rows at any time */
	else
	{
		sg_run_end(st->run);
		st->finished = true;
	}
}

/*
 * Run one part of a stream with SPI connected, its start and every step
 * alike: a failure ends the stream first (stream_failed: its run and the
 * hold on its thread go) and is thrown again; a part that succeeded has
 * what it stored noted for the next FETCH's check (stream_note_stored).
 */
static void
stream_call(StreamState *st, StreamPart part, SGRunOptions *opts)
{
	PG_TRY();
	{
		sg_spi_connect();
		part(st, opts);
		sg_spi_finish();
	}
	PG_CATCH();
	{
		stream_failed(st);
		PG_RE_THROW();
	}
	PG_END_TRY();
	stream_note_stored(st);
}

/* sg_stream(...): the run's updates or values as rows, one super-step at a time. */
Datum
sg_stream(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	StreamState *st;

	if (SRF_IS_FIRSTCALL())
	{
		SGRunOptions opts;
		MemoryContext old;
		TupleDesc	tupdesc;

		funcctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "sg_stream must return a composite type");
		funcctx->tuple_desc = BlessTupleDesc(tupdesc);
		st = palloc0(sizeof(StreamState));
		st->cxt = funcctx->multi_call_memory_ctx;
		funcctx->user_fctx = st;
		opts = sg_run_options(fcinfo, true);
		if (opts.thread_id != NULL)
			sg_prevent_write("sg_stream with a thread_id");
		opts.emit = stream_emit;
		opts.emit_arg = st;
		if (opts.thread_id != NULL)
			st->thread_id = pstrdup(opts.thread_id);
		st->run_cxt = AllocSetContextCreate(funcctx->multi_call_memory_ctx, "stategraph stream",
											ALLOCSET_SMALL_SIZES);
		MemoryContextSwitchTo(old);

		stream_call(st, stream_start, &opts);
	}
	funcctx = SRF_PERCALL_SETUP();
	st = (StreamState *) funcctx->user_fctx;
	stream_check_stored(st);

	while (st->rows == NIL && !st->finished)
		stream_call(st, stream_step, NULL);
	if (st->rows != NIL)
	{
		StreamRow  *row = (StreamRow *) linitial(st->rows);
		Datum		values[3];
		bool		nulls[3] = {false, row->node == NULL, row->payload == NULL};

		st->rows = list_delete_first(st->rows);
		values[0] = Int32GetDatum(row->step);
		values[1] = row->node ? CStringGetTextDatum(row->node) : (Datum) 0;
		values[2] = row->payload ? JsonbPGetDatum(row->payload) : (Datum) 0;
		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(heap_form_tuple(funcctx->tuple_desc, values, nulls)));
	}
	if (st->run != NULL)
		sg_run_free(st->run);
	SRF_RETURN_DONE(funcctx);
}

/* ---------------------------------------------------------------------------
 * CALL sg_run: durable mode
 * ---------------------------------------------------------------------------
 */
Datum
sg_run(PG_FUNCTION_ARGS)
{
	SGRunOptions opts = sg_run_options(fcinfo, false);
	bool		atomic = !(fcinfo->context && IsA(fcinfo->context, CallContext) &&
						   !castNode(CallContext, fcinfo->context)->atomic);
	SGRun	   *volatile run = NULL;

	if (opts.thread_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("thread_id must not be null"),
				 errhint("sg_run stores every step; use sg_invoke() to run without a thread.")));
	if (atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("sg_run cannot commit its steps inside a transaction block"),
				 errhint("CALL sg_run outside BEGIN ... COMMIT, or use sg_invoke() to run in one transaction.")));
	opts.durable = true;

	sg_prevent_write("sg_run");
	sg_spi_connect_nonatomic();
	PG_TRY();
	{
		/*
		 * The thread lock is held for the session from sg_run_begin on, so
		 * that it lasts across the commits; every error must release it.
		 */
		run = sg_run_begin(&opts, PortalContext);
		/* each step commits with its checkpoint */
		while (sg_run_step(run))
		{
			sg_run_checkpointed(run);
			SPI_commit();
			CHECK_FOR_INTERRUPTS();
			/* a new transaction: a REVOKE of EXECUTE may have committed (as for background runs) */
			if (!sg_run_finished(run))
				sg_run_check_privileges(run);
		}
		sg_run_end(run);
	}
	PG_CATCH();
	{
		sg_unlock_thread(opts.thread_id, true);
		PG_RE_THROW();
	}
	PG_END_TRY();
	sg_unlock_thread(opts.thread_id, true);
	sg_spi_finish();
	sg_run_free(run);
	PG_RETURN_VOID();
}
