/*-------------------------------------------------------------------------
 *
 * spi.c
 *		The one home of stategraph's SPI: connecting, statements whose plans
 *		a backend prepares once and keeps, running them, cursors, and
 *		calling code in a subtransaction that catches its errors.
 *
 * Memory. Every function here (but sg_spi_connect_nonatomic, for CALL)
 * leaves the caller in the memory context it was in: SPI itself switches to its own procedure context on every call,
 * and what a caller allocates after an SPI call (results copied out of
 * SPI_tuptable, states, checkpoints) must outlive SPI_finish.
 *
 * Plans. Hot statements (every run reads and writes checkpoints and thread
 * rows) are prepared on first use and kept for the life of the backend
 * (SPI_keepplan), as contrib's worker_spi and pg_cron do: each caller owns
 * a static SPIPlanPtr, and sg_spi_prepare fills it once. Statements that
 * run rarely (defining a graph) go through sg_spi_run without a kept plan.
 *
 * Results are read by named column numbers defined next to each column
 * list (SG_CHECKPOINT_COLUMNS and Anum_checkpoint_* in stategraph.h, the
 * others next to their statements), never by literal positions, so that a
 * new column cannot silently shift what a reader takes.
 *
 * Subtransactions. sg_spi_subxact runs a call the way PL/pgSQL's
 * BEGIN ... EXCEPTION block does: in an internal subtransaction, which is
 * released when the call succeeds and rolled back, with the error copied
 * into the caller's context, when it fails; the caller decides what the
 * error means (retry it, record it, or throw it again).
 *
 * Reads of one snapshot. A reader that takes a row, then the rows it names,
 * in several statements (the LangGraph.js reads of lgread.c: a checkpoint,
 * then its values and writes) saw each under a new snapshot, and a delete
 * or prune committed in between made a named row missing (XX001, "changed
 * outside stategraph"). sg_spi_reads_begin takes one snapshot, as SPI took
 * one for each statement (the command counter advanced first: a write made
 * earlier in the statement, sg_lg_get_tuple(sg_import_thread(...)), is
 * seen), and until sg_spi_reads_end sg_spi_execute and sg_spi_cursor_open
 * run read-only, which makes SPI run them all under it (isolation
 * lg_read_one_snapshot). checkpoint.c's walk of a fork's state, which goes
 * on into the threads it was forked from, does the same (load_state,
 * isolation fork_walk_one_snapshot).
 *
 * Clearer errors. sg_spi_execute_or_raise runs a kept plan and turns an
 * error of one SQLSTATE into the caller's clearer one (a lock timeout into
 * "thread is busy", jsonb's size limit into "too large to export"), without
 * a subtransaction: the error still aborts the transaction, only its words
 * change; any other error goes through as it was.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "access/xact.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

/* Whether sg_spi_execute and sg_spi_cursor_open read under one snapshot (see above). */
static bool reads_one_snapshot = false;

/*
 * Read under one snapshot, taken now, until sg_spi_reads_end(the value
 * returned, ...). In a parallel worker (a PARALLEL SAFE reader) nothing can
 * have been written: the statement's own snapshot is the one.
 */
bool
sg_spi_reads_begin(void)
{
	bool		was = reads_one_snapshot;

	if (!was && !IsInParallelMode())
	{
		CommandCounterIncrement();
		PushActiveSnapshot(GetTransactionSnapshot());
		UpdateActiveSnapshotCommandId();
	}
	reads_one_snapshot = true;
	return was;
}

/* Are reads under one snapshot now (between sg_spi_reads_begin and sg_spi_reads_end)? */
bool
sg_spi_reading_one_snapshot(void)
{
	return reads_one_snapshot;
}

/*
 * Back to a snapshot per statement, unless an outer reader still reads
 * under one. failed: the read ended in an error, whose (sub)transaction
 * abort pops the snapshot, above others that SPI may have left there.
 */
void
sg_spi_reads_end(bool was, bool failed)
{
	if (!was && !failed && !IsInParallelMode())
		PopActiveSnapshot();
	reads_one_snapshot = was;
}

/*
 * Connect to SPI but stay in the caller's memory context, so that what we
 * allocate outlives SPI_finish; SPI results are copied out as we read them.
 */
void
sg_spi_connect(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(cxt);
}

/*
 * Connect to SPI for a procedure that commits (CALL sg_run). Unlike
 * sg_spi_connect, this stays in SPI's procedure context, which lives
 * across the commits (the caller's context might not).
 */
void
sg_spi_connect_nonatomic(void)
{
	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect_ext failed");
}

/* Disconnect from SPI (the pair of sg_spi_connect). */
void
sg_spi_finish(void)
{
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
}

/* Prepare a statement and keep its plan for the backend's life (staying in the caller's context). */
SPIPlanPtr
sg_prepare(const char *query, int nargs, Oid *argtypes)
{
	MemoryContext cxt = CurrentMemoryContext;
	SPIPlanPtr	plan = SPI_prepare(query, nargs, argtypes);

	MemoryContextSwitchTo(cxt);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", query,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	MemoryContextSwitchTo(cxt);
	return plan;
}

/* The kept plan in *plan, prepared on first use: the one "prepare once and keep" check. */
SPIPlanPtr
sg_spi_prepare(SPIPlanPtr *plan, const char *query, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
		*plan = sg_prepare(query, nargs, argtypes);
	return *plan;
}

/*
 * The end of every call here that runs a statement: back in the caller's
 * context cxt (SPI switched to its own, see Memory above), an error if
 * the statement failed (rc < 0; what names the SPI call), else
 * SPI_processed. One place, so that the three ways of running a statement
 * (sg_spi_execute, sg_spi_execute_latest, sg_spi_run) cannot come to leave
 * their caller in different states.
 */
static uint64
spi_processed(MemoryContext cxt, int rc, const char *what)
{
	MemoryContextSwitchTo(cxt);
	if (rc < 0)
		elog(ERROR, "%s failed: %s", what, SPI_result_code_string(rc));
	return SPI_processed;
}

/* Run a kept plan (count: most rows, 0 for all); returns SPI_processed, results in SPI_tuptable. */
uint64
sg_spi_execute(SPIPlanPtr plan, Datum *values, const char *nulls, long count)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			rc = SPI_execute_plan(plan, values, nulls, reads_one_snapshot, count);

	return spi_processed(cxt, rc, "SPI_execute_plan");
}

/*
 * Run a kept plan read-only under the latest snapshot, not the
 * transaction's (rows that other transactions committed since it began:
 * the holds of partitions, forks made after a REPEATABLE READ snapshot);
 * returns SPI_processed, results in SPI_tuptable.
 */
uint64
sg_spi_execute_latest(SPIPlanPtr plan, Datum *values, const char *nulls)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			rc = SPI_execute_snapshot(plan, values, nulls, GetLatestSnapshot(), InvalidSnapshot, true, false, 0);

	return spi_processed(cxt, rc, "SPI_execute_snapshot");
}

/*
 * Run a kept plan as sg_spi_execute does; an error of SQLSTATE sqlerrcode
 * is passed (copied into the caller's context, the error state flushed)
 * to raise, which raises the error to give instead and does not return.
 * Other errors are rethrown unchanged.
 */
uint64
sg_spi_execute_or_raise(SPIPlanPtr plan, Datum *values, const char *nulls, long count,
						int sqlerrcode, SGRaiseFn raise, const void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile uint64 n = 0;

	PG_TRY();
	{
		n = sg_spi_execute(plan, values, nulls, count);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != sqlerrcode)
			PG_RE_THROW();
		FlushErrorState();		/* the transaction aborts with raise's error */
		raise(edata, arg);
	}
	PG_END_TRY();
	return n;
}

/* Run a statement that is not worth a kept plan; returns SPI_processed. */
uint64
sg_spi_run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	return spi_processed(cxt, rc, "SPI_execute_with_args");
}

/* Open a read-only cursor on a kept plan. */
Portal
sg_spi_cursor_open(SPIPlanPtr plan, Datum *values, const char *nulls)
{
	MemoryContext cxt = CurrentMemoryContext;
	Portal		portal = SPI_cursor_open(NULL, plan, values, nulls, reads_one_snapshot);

	MemoryContextSwitchTo(cxt);
	return portal;
}

/* Fetch up to count more rows of a cursor into SPI_tuptable; returns how many. */
uint64
sg_spi_cursor_fetch(Portal portal, long count)
{
	MemoryContext cxt = CurrentMemoryContext;

	SPI_cursor_fetch(portal, true, count);
	MemoryContextSwitchTo(cxt);
	return SPI_processed;
}

/* Close a cursor of sg_spi_cursor_open. */
void
sg_spi_cursor_close(Portal portal)
{
	MemoryContext cxt = CurrentMemoryContext;

	SPI_cursor_close(portal);
	MemoryContextSwitchTo(cxt);
}

/* Column col of row of SPI_tuptable, as a Datum (*isnull says whether it is null). */
Datum
sg_spi_datum(uint64 row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

/* Column col of row of SPI_tuptable, as text in the current context (NULL when null). */
char *
sg_spi_text(uint64 row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

/* A text[] datum of the n strings of items, for a statement's parameter. */
Datum
sg_text_array(char **items, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(items[i]);
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * Which of the n strings of ids the last statement returned in its first
 * column (rows of SPI_tuptable): sets found[i] for each.
 */
void
sg_spi_mark_found(char **ids, int n, bool *found)
{
	uint64		row;
	int			i;

	for (i = 0; i < n; i++)
		found[i] = false;
	for (row = 0; row < SPI_processed; row++)
	{
		char	   *id = sg_spi_text(row, 1);

		for (i = 0; i < n; i++)
			if (strcmp(ids[i], id) == 0)
				found[i] = true;
	}
}

/* Column col (jsonb) of row of SPI_tuptable, copied into the current context (NULL when null). */
Jsonb *
sg_spi_jsonb(uint64 row, int col)
{
	bool		isnull;
	Datum		v = sg_spi_datum(row, col, &isnull);

	return isnull ? NULL : DatumGetJsonbPCopy(v);
}

/* Column col (uuid) of row of SPI_tuptable; false when it is null. */
bool
sg_spi_uuid(uint64 row, int col, pg_uuid_t *out)
{
	bool		isnull;
	Datum		v = sg_spi_datum(row, col, &isnull);

	if (!isnull)
		*out = *DatumGetUUIDP(v);
	return !isnull;
}

/* Runs a kept statement whose parameters are all non-null text (at most 8); returns SPI_processed. */
uint64
sg_spi_run_texts(SPIPlanPtr *plan, const char *sql, int nargs, const char *const *args)
{
	Oid			types[8];
	Datum		values[8];
	int			i;

	Assert(nargs <= lengthof(types));
	for (i = 0; i < nargs; i++)
	{
		types[i] = TEXTOID;
		values[i] = CStringGetTextDatum(args[i]);
	}
	return sg_spi_execute(sg_spi_prepare(plan, sql, nargs, types), values, NULL, 0);
}

/*
 * Adds the rows of SPI_tuptable to a materialized set-returning function's
 * result (its columns are the rows' first ones): every row, or (skip not
 * NULL) those whose skip[i] is false.
 */
void
sg_spi_put_rows(ReturnSetInfo *rsinfo, const bool *skip)
{
	int			natts = SPI_tuptable->tupdesc->natts;
	Datum	   *vals = palloc(natts * sizeof(Datum));
	bool	   *isnull = palloc(natts * sizeof(bool));
	uint64		i;

	for (i = 0; i < SPI_processed; i++)
	{
		if (skip != NULL && skip[i])
			continue;
		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, vals, isnull);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, vals, isnull);
	}
	pfree(vals);
	pfree(isnull);
}

/*
 * Call fn(arg) in a subtransaction, as PL/pgSQL's EXCEPTION block does. fn
 * starts in the caller's memory context; if it returns true its work is
 * kept, if false rolled back. Returns NULL on success, or the error (in
 * the caller's context) after rolling the subtransaction back. Either way
 * the caller is back in its memory context and resource owner.
 */
ErrorData *
sg_spi_subxact(SGSubxactFn fn, void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		if (fn(arg))
			ReleaseCurrentSubTransaction();
		else
			RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_END_TRY();
	return edata;
}
