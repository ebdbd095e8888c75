/*-------------------------------------------------------------------------
 *
 * history.c
 *		Snapshots of threads: sg_get_state, sg_get_state_history and
 *		sg_threads (LangGraph's get_state, get_state_history, and a list of
 *		threads LangGraph lacks).
 *
 * History pages by the primary key, newest first, and rebuilds each
 * snapshot's values by applying a row's writes to the state of its parent
 * when that parent was the row before it on the page; otherwise (the
 * first row, or a branch point) the state is loaded from storage. Its
 * memory does not grow with the rows: they are kept as read, and as built,
 * in tuplestores, and each is built in contexts reset for the next (a
 * filter is matched in one too).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "utils/tuplestore.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(sg_get_state);
/*
 * Put the rows of oldest_first into the set's result newest first, as
 * history lists them (rows are built oldest first: each needs its parent's
 * state), and end the store (lgread.c's reads too).
 */
void
sg_result_newest_first(Tuplestorestate *oldest_first, ReturnSetInfo *rsinfo)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(rsinfo->setDesc, &TTSOpsMinimalTuple);

	tuplestore_rescan(oldest_first);
	while (tuplestore_advance(oldest_first, true))
		;
	while (tuplestore_gettupleslot(oldest_first, false, false, slot))
		tuplestore_puttupleslot(rsinfo->setResult, slot);
	ExecDropSingleTupleTableSlot(slot);
	tuplestore_end(oldest_first);
}

PG_FUNCTION_INFO_V1(sg_get_state_history);
PG_FUNCTION_INFO_V1(sg_threads);

/*
 * The tasks of a checkpoint, as LangGraph's StateSnapshot shows them:
 * [{id, name, error, interrupts, result}], with the results its loop child
 * wrote (child_writes) or its pending writes. *interrupts receives the
 * snapshot's interrupts.
 */
Jsonb *
sg_task_list(SGCheckpoint *cp, Jsonb *child_writes, Jsonb **interrupts)
{
	SGJsonBuilder b = {0};
	SGJsonBuilder ib = {0};
	int			nsends = sg_jsonb_array_length(cp->sends);
	Jsonb	   *step_error = sg_jsonb_get(cp->pending, "__error__");
	Jsonb	   *marker = sg_jsonb_get(cp->meta, "interrupt");
	int			i,
				j;

	sg_jb_begin_array(&ib);
	sg_jb_begin_array(&b);
	for (i = 0; i < cp->nnext; i++)
	{
		char		id[37];
		Jsonb	   *pending;	/* the task's entry of the checkpoint's pending writes */
		Jsonb	   *p;
		Jsonb	   *result = NULL;
		Jsonb	   *error;
		Jsonb	   *its_interrupts;
		Jsonb	   *answered;

		/*
		 * Once the step has completed, its results are its child's writes;
		 * until then, its pending writes say what each task did. A task's
		 * error stays in the record after a resume completed the step, next
		 * to the result of the retry, as in LangGraph's history (its
		 * __error__ write stays with the checkpoint).
		 */
		sg_task_id(&cp->id, cp->next[i], i, id);
		pending = sg_jsonb_get(cp->pending, id);
		p = child_writes ? NULL : pending;
		error = sg_jsonb_get(pending, "error");
		/*
		 * interrupts stay part of the record, as in LangGraph's history: the
		 * pending ones, or those a resume answered while other tasks of the
		 * step still waited (only pending ones go in the snapshot's list)
		 */
		its_interrupts = sg_jsonb_get(pending, "interrupts");
		answered = sg_jsonb_get(pending, "answered");
		if (p != NULL)
			result = sg_jsonb_get(p, "writes");
		else if (child_writes != NULL && i < sg_jsonb_array_length(child_writes))
			result = sg_jsonb_array_get(sg_jsonb_array_get(child_writes, i), 1);
		if (error == NULL && child_writes == NULL)
			error = step_error;	/* the step failed as a whole */

		sg_jb_begin_object(&b);
		sg_jb_key(&b, "id");
		sg_jb_string(&b, id);
		sg_jb_key(&b, "name");
		sg_jb_string(&b, cp->next[i]);
		if (i >= cp->nnext - nsends)
		{
			sg_jb_key(&b, "arg");
			sg_jb_jsonb(&b, sg_jsonb_get(sg_jsonb_array_get(cp->sends, i - (cp->nnext - nsends)), "arg"));
		}
		sg_jb_key(&b, "error");
		sg_jb_jsonb(&b, error);
		sg_jb_key(&b, "interrupts");
		sg_jb_jsonb(&b, its_interrupts ? its_interrupts : answered ? answered : sg_jsonb_empty_array());
		sg_jb_key(&b, "result");
		sg_jb_jsonb(&b, result);
		sg_jb_end_object(&b);

		for (j = 0; j < sg_jsonb_array_length(its_interrupts); j++)
			sg_jb_jsonb(&ib, sg_jsonb_array_get(its_interrupts, j));
	}
	sg_jb_end_array(&b);

	/* a static interrupt: where and why the run paused */
	if (marker != NULL)
	{
		Jsonb	   *statics = sg_static_interrupts(cp->meta);

		for (j = 0; j < sg_jsonb_array_length(statics); j++)
			sg_jb_jsonb(&ib, sg_jsonb_array_get(statics, j));
	}
	sg_jb_end_array(&ib);
	if (interrupts)
		*interrupts = sg_jb_finish(&ib);
	return sg_jb_finish(&b);
}

/*
 * The interrupts of a checkpoint that a static interrupt (interrupt_before
 * or interrupt_after) stopped at, from its meta: [{"value": null, "when",
 * "node"}, ...]; NULL when there is none.
 */
Jsonb *
sg_static_interrupts(Jsonb *meta)
{
	Jsonb	   *marker = sg_jsonb_get(meta, "interrupt");
	Jsonb	   *nodes = sg_jsonb_get(marker, "nodes");
	SGJsonBuilder b = {0};
	int			j;

	if (marker == NULL)
		return NULL;
	sg_jb_begin_array(&b);
	for (j = 0; j < sg_jsonb_array_length(nodes); j++)
	{
		sg_jb_begin_object(&b);
		sg_jb_key(&b, "value");
		sg_jb_null(&b);
		sg_jb_key(&b, "when");
		sg_jb_jsonb(&b, sg_jsonb_get(marker, "when"));
		sg_jb_key(&b, "node");
		sg_jb_jsonb(&b, sg_jsonb_array_get(nodes, j));
		sg_jb_end_object(&b);
	}
	sg_jb_end_array(&b);
	return sg_jb_finish(&b);
}

/* LangGraph's checkpoint metadata: {"source", "step", "parents"} and our extras. */
static Jsonb *
snapshot_metadata(SGCheckpoint *cp)
{
	SGJsonBuilder b = {0};
	Jsonb	   *m;

	sg_jb_begin_object(&b);
	sg_jb_key(&b, "source");
	sg_jb_string(&b, cp->source);
	sg_jb_key(&b, "step");
	sg_jb_int(&b, cp->step);
	sg_jb_key(&b, "parents");
	sg_jb_begin_object(&b);
	sg_jb_end_object(&b);
	sg_jb_end_object(&b);
	m = sg_jb_finish(&b);
	if (cp->meta != NULL)
		m = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(m), JsonbPGetDatum(cp->meta)));
	/* not metadata: the input a fork made through the router replays (executor.c) */
	if (cp->meta != NULL && sg_jsonb_get(cp->meta, "input_writes") != NULL)
		m = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(m), CStringGetTextDatum("input_writes")));
	return m;
}

/* A snapshot row (sg_snapshot) of a checkpoint and its state. */
static HeapTuple
snapshot_tuple(TupleDesc desc, SGChannelSet *cs, SGCheckpoint *cp, SGState *state, Jsonb *child_writes)
{
	Datum		values[12];
	bool		nulls[12];
	Datum	   *next = palloc(sizeof(Datum) * (cp->nnext + 1));
	Jsonb	   *interrupts;
	pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));
	pg_uuid_t  *parent = palloc(sizeof(pg_uuid_t));
	int			i;

	memset(nulls, 0, sizeof(nulls));
	*id = cp->id;
	*parent = cp->parent_id;
	for (i = 0; i < cp->nnext; i++)
		next[i] = CStringGetTextDatum(cp->next[i]);
	values[0] = CStringGetTextDatum(cp->thread_id);
	values[1] = CStringGetTextDatum("");
	values[2] = UUIDPGetDatum(id);
	values[3] = UUIDPGetDatum(parent);
	nulls[3] = !cp->has_parent;
	values[4] = Int32GetDatum(cp->step);
	values[5] = CStringGetTextDatum(cp->source);
	values[6] = JsonbPGetDatum(sg_state_to_jsonb(cs, state));
	values[7] = PointerGetDatum(construct_array(next, cp->nnext, TEXTOID, -1, false, TYPALIGN_INT));
	values[8] = JsonbPGetDatum(sg_task_list(cp, child_writes, &interrupts));
	values[9] = JsonbPGetDatum(interrupts);
	values[10] = JsonbPGetDatum(snapshot_metadata(cp));
	values[11] = TimestampTzGetDatum(cp->created_at);
	return heap_form_tuple(desc, values, nulls);
}

/* sg_get_state(thread_id, checkpoint_id): the snapshot of a checkpoint (the newest by default). */
Datum
sg_get_state(PG_FUNCTION_ARGS)
{
	char	   *thread_id = sg_arg_text(fcinfo, 0, "thread_id");
	TupleDesc	desc;
	SGThread   *th;
	SGChannelSet *cs;
	SGCheckpoint *cp = NULL;
	SGState    *state;
	pg_uuid_t	id;
	Jsonb	   *child_writes = NULL;
	HeapTuple	tup;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "sg_get_state must return a composite type");
	desc = BlessTupleDesc(desc);

	sg_spi_connect();
	th = sg_thread_fetch(thread_id, false);
	if (th == NULL && sg_lg_thread_visible(thread_id))
	{
		/* a LangGraph.js thread (lgread.c) */
		tup = sg_lg_get_state(desc, thread_id, PG_ARGISNULL(1) ? NULL : PG_GETARG_UUID_P(1));
		sg_spi_finish();
		PG_RETURN_DATUM(HeapTupleGetDatum(tup));
	}
	th = sg_thread_fetch_required(thread_id, false);
	cs = sg_channelset_from_jsonb(th->channels);
	id = PG_ARGISNULL(1) ? th->head : *PG_GETARG_UUID_P(1);
	if (memcmp(&id, &th->head, sizeof(id)) != 0)
	{
		state = sg_load_state(cs, thread_id, &id, &cp);
		child_writes = sg_checkpoint_child_writes(thread_id, &cp->id);
	}
	else if (!sg_state_cache_get(th, &cp, &state, CurrentMemoryContext))
	{
		/* the newest state: read once, then cached for the next call */
		state = sg_load_state(cs, thread_id, &id, &cp);
		sg_state_cache_put(thread_id, th->xmin, cp, state);
	}
	tup = snapshot_tuple(desc, cs, cp, state, child_writes);
	sg_spi_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(tup));
}

/*
 * Calls each(tuple, its descriptor, arg) for the checkpoint rows of a
 * thread older than before, newest first: at most limit (-1: no limit) of
 * those whose metadata contains filter (NULL: all). A row is matched in a
 * context reset for the next: a scan of many rows that kept few kept what
 * it matched them with, ~2.7 kB a row, until the call ended. SPI must be
 * connected.
 */
static void
history_scan(const char *thread_id, const pg_uuid_t *before, int limit, Jsonb *filter,
			 void (*each) (HeapTuple t, TupleDesc d, void *arg), void *arg)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {TEXTOID, UUIDOID};
	Portal		portal;
	Datum		values[2];
	int			found = 0;
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext match_cxt = NULL;

	sg_spi_prepare(&plan,
				   "SELECT " SG_CHECKPOINT_COLUMNS " FROM stategraph.checkpoints "
				   "WHERE thread_id OPERATOR(pg_catalog.=) $1 "
				   "AND checkpoint_id OPERATOR(pg_catalog.<) $2 "
				   "ORDER BY checkpoint_id DESC", 2, types);
	if (filter != NULL)
		match_cxt = AllocSetContextCreate(cxt, "stategraph history filter", ALLOCSET_DEFAULT_SIZES);
	values[0] = CStringGetTextDatum(thread_id);
	values[1] = UUIDPGetDatum(unconstify(pg_uuid_t *, before));
	portal = sg_spi_cursor_open(plan, values, NULL);
	while (limit < 0 || found < limit)
	{
		uint64		nrows = sg_spi_cursor_fetch(portal, 64);
		SPITupleTable *tt = SPI_tuptable;
		uint64		j;

		if (nrows == 0)
			break;
		for (j = 0; j < nrows && (limit < 0 || found < limit); j++)
		{
			if (filter != NULL)
			{
				bool		match;

				MemoryContextSwitchTo(match_cxt);
				match = DatumGetBool(DirectFunctionCall2(jsonb_contains,
														 JsonbPGetDatum(snapshot_metadata(sg_checkpoint_from_tuple(tt->vals[j], tt->tupdesc))),
														 JsonbPGetDatum(filter)));
				MemoryContextSwitchTo(cxt);
				MemoryContextReset(match_cxt);
				if (!match)
					continue;
			}
			each(tt->vals[j], tt->tupdesc, arg);
			found++;
		}
		SPI_freetuptable(tt);
	}
	sg_spi_cursor_close(portal);
	if (match_cxt != NULL)
		MemoryContextDelete(match_cxt);
}

/* history_scan's each of sg_history_rows: appends the row's checkpoint to *arg. */
static void
history_append(HeapTuple t, TupleDesc d, void *arg)
{
	List	  **rows = arg;

	*rows = lappend(*rows, sg_checkpoint_from_tuple(t, d));
}

/*
 * The checkpoint rows of a thread older than before, newest first: at most
 * limit (-1: no limit) of those whose metadata contains filter (NULL: all),
 * allocated in the caller's memory context. SPI must be connected.
 */
List *
sg_history_rows(const char *thread_id, const pg_uuid_t *before, int limit, Jsonb *filter)
{
	List	   *rows = NIL;

	history_scan(thread_id, before, limit, filter, history_append, &rows);
	return rows;
}

/* history_scan's each of sg_get_state_history: keeps the row in a tuplestore. */
typedef struct HistoryKept
{
	Tuplestorestate *rows;
	TupleDesc	desc;
} HistoryKept;

static void
history_keep(HeapTuple t, TupleDesc d, void *arg)
{
	HistoryKept *kept = arg;

	if (kept->desc == NULL)
		kept->desc = CreateTupleDescCopy(d);
	tuplestore_puttuple(kept->rows, t);
}

/*
 * The checkpoint of the next row of a HistoryKept read backward (oldest
 * first), in cxt, which is reset first; NULL once the newest was read.
 */
static SGCheckpoint *
history_next_older_first(HistoryKept *kept, TupleTableSlot *slot, MemoryContext cxt)
{
	MemoryContext old;
	SGCheckpoint *cp;

	MemoryContextReset(cxt);
	/*
	 * Read in the slot's context, which lasts the whole call: past work_mem
	 * the row is read from disk into the current context and the slot frees
	 * it at the next read, and the current context was one a row before
	 * had reset (SIGSEGV; pg_regress mem_history_rows, with 64kB).
	 */
	old = MemoryContextSwitchTo(slot->tts_mcxt);
	if (!tuplestore_gettupleslot(kept->rows, false, false, slot))
	{
		MemoryContextSwitchTo(old);
		return NULL;
	}
	MemoryContextSwitchTo(cxt);
	cp = sg_checkpoint_from_tuple(ExecCopySlotHeapTuple(slot), kept->desc);
	MemoryContextSwitchTo(old);
	return cp;
}

/* sg_get_state_history(thread_id, limit, before, filter): snapshots, newest first. */
Datum
sg_get_state_history(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *thread_id = sg_arg_text(fcinfo, 0, "thread_id");
	int			limit = PG_ARGISNULL(1) ? -1 : PG_GETARG_INT32(1);
	Jsonb	   *filter = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	pg_uuid_t	before;
	SGThread   *th;
	SGChannelSet *cs;
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext store_cxt;
	MemoryContext build_cxt;
	MemoryContext keep_cxt[2];
	MemoryContext cp_cxt[2];
	HistoryKept kept = {NULL, NULL};
	Tuplestorestate *oldest_first;
	TupleTableSlot *slot;
	int			k = 0;
	int			c = 0;
	SGState    *prev_state = NULL;
	pg_uuid_t	prev_id;
	bool		have_prev = false;
	SGCheckpoint *cp;

	if (!PG_ARGISNULL(1) && limit < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("limit must not be negative")));
	if (filter != NULL && !sg_jsonb_is_object(filter))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("filter must be a JSON object to match checkpoint metadata"),
				 errhint("For example '{\"source\": \"loop\"}' or '{\"step\": 1}'.")));
	if (PG_ARGISNULL(2))
		memset(before.data, 0xFF, UUID_LEN);
	else
		before = *PG_GETARG_UUID_P(2);

	InitMaterializedSRF(fcinfo, 0);

	sg_spi_connect();
	th = sg_thread_fetch(thread_id, false);
	if (th == NULL && sg_lg_thread_visible(thread_id))
	{
		/* a LangGraph.js thread (lgread.c) */
		sg_lg_get_state_history(rsinfo, thread_id, limit, &before, filter);
		sg_spi_finish();
		return (Datum) 0;
	}
	th = sg_thread_fetch_required(thread_id, false);
	cs = sg_channelset_from_jsonb(th->channels);

	/*
	 * Memory does not grow with the rows (a history of 18,606 checkpoints
	 * kept 17 MB until the call ended, 67 MB with a filter): the rows are
	 * kept as read, in a tuplestore (on disk past work_mem), and each
	 * snapshot is built in contexts reset for the next, its finished tuple
	 * kept in a tuplestore too. Oldest first, so that each state can follow
	 * from its parent's: the rows are read back from the oldest, each with
	 * the one after it (its child, whose writes are its tasks' results), in
	 * two contexts in turn; each is built in a context, and an SPI
	 * connection, of its own; the state a next row may start from is kept
	 * in one of two other contexts in turn.
	 */
	store_cxt = AllocSetContextCreate(cxt, "stategraph history rows", ALLOCSET_DEFAULT_SIZES);
	build_cxt = AllocSetContextCreate(cxt, "stategraph history row", ALLOCSET_DEFAULT_SIZES);
	keep_cxt[0] = AllocSetContextCreate(cxt, "stategraph history state", ALLOCSET_DEFAULT_SIZES);
	keep_cxt[1] = AllocSetContextCreate(cxt, "stategraph history state", ALLOCSET_DEFAULT_SIZES);
	cp_cxt[0] = AllocSetContextCreate(cxt, "stategraph history checkpoint", ALLOCSET_DEFAULT_SIZES);
	cp_cxt[1] = AllocSetContextCreate(cxt, "stategraph history checkpoint", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(store_cxt);
	kept.rows = tuplestore_begin_heap(true, false, work_mem);
	oldest_first = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(cxt);
	history_scan(thread_id, &before, limit, filter, history_keep, &kept);

	slot = kept.desc ? MakeSingleTupleTableSlot(kept.desc, &TTSOpsMinimalTuple) : NULL;
	tuplestore_rescan(kept.rows);
	while (tuplestore_advance(kept.rows, true))
		;
	cp = slot ? history_next_older_first(&kept, slot, cp_cxt[c]) : NULL;
	while (cp != NULL)
	{
		SGCheckpoint *child;
		Jsonb	   *child_writes = NULL;
		SGState    *state;

		CHECK_FOR_INTERRUPTS();
		c = 1 - c;
		child = history_next_older_first(&kept, slot, cp_cxt[c]);
		MemoryContextReset(build_cxt);
		MemoryContextSwitchTo(build_cxt);
		sg_spi_connect();
		if (have_prev && cp->has_parent && cp->parent_thread == NULL &&
			memcmp(&cp->parent_id, &prev_id, sizeof(pg_uuid_t)) == 0)
		{
			state = sg_state_copy(prev_state);
			sg_state_apply_row(cs, state, cp);
		}
		else
			state = sg_load_state(cs, thread_id, &cp->id, NULL);

		/* the results of cp's tasks: the writes of its loop child */
		if (child != NULL && strcmp(child->source, "loop") == 0 && child->parent_thread == NULL &&
			memcmp(&child->parent_id, &cp->id, sizeof(pg_uuid_t)) == 0)
			child_writes = child->writes;
		else if (cp->nnext > 0 && memcmp(&cp->id, &th->head, sizeof(pg_uuid_t)) != 0)
			child_writes = sg_checkpoint_child_writes(thread_id, &cp->id);

		tuplestore_puttuple(oldest_first, snapshot_tuple(rsinfo->setDesc, cs, cp, state, child_writes));

		k = 1 - k;
		MemoryContextReset(keep_cxt[k]);
		MemoryContextSwitchTo(keep_cxt[k]);
		prev_state = sg_state_copy_deep(state);
		sg_spi_finish();		/* (after the copy: a state may point into what SPI read) */
		prev_id = cp->id;
		have_prev = true;
		cp = child;
	}
	MemoryContextSwitchTo(cxt);
	if (slot)
		ExecDropSingleTupleTableSlot(slot);
	tuplestore_end(kept.rows);

	sg_result_newest_first(oldest_first, rsinfo);
	MemoryContextDelete(store_cxt);
	MemoryContextDelete(build_cxt);
	MemoryContextDelete(keep_cxt[0]);
	MemoryContextDelete(keep_cxt[1]);
	MemoryContextDelete(cp_cxt[0]);
	MemoryContextDelete(cp_cxt[1]);
	sg_spi_finish();
	return (Datum) 0;
}

/* The columns of a row of sg_threads (and of its query) that are read by number. */
#define Anum_threads_row_thread_id	1
#define Anum_threads_row_graph		2
#define Anum_threads_row_status		3
#define Natts_threads_row			7

/* sg_threads' query: the threads of graphs (the columns of its result, in its order) */
#define THREADS_SQL \
	"SELECT * FROM (" \
	"SELECT t.thread_id, t.graph, t.status, c.next, " \
	"(SELECT pg_catalog.count(*) FROM stategraph.checkpoints k " \
	"  WHERE k.thread_id OPERATOR(pg_catalog.=) t.thread_id), " \
	"t.created_at, t.updated_at " \
	"FROM stategraph.threads t LEFT JOIN stategraph.checkpoints c " \
	"ON c.thread_id OPERATOR(pg_catalog.=) t.thread_id " \
	"AND c.checkpoint_id OPERATOR(pg_catalog.=) t.head " \
	"WHERE $1 IS NULL OR t.graph OPERATOR(pg_catalog.=) $1 "
/*
 * ... and LangGraph.js threads (lgread.c): no graph in SQL; their newest
 * root checkpoint, picked first (DISTINCT ON), then read (lg_next, its
 * writes): a target list beside DISTINCT ON is computed for every row, so
 * each thread's every checkpoint was read. OFFSET 0: next, used twice, is
 * computed once. The count is the root namespace's (the checkpoints
 * sg_get_state_history lists); the dates are over every namespace, as the
 * retention sweep ages the thread (from the root namespace alone, a thread
 * whose subgraphs went on writing looked older than the sweep took it to
 * be).
 */
#define THREADS_LG_SQL \
	"UNION ALL SELECT l.thread_id, NULL, CASE WHEN l.e THEN 'error' WHEN l.i THEN 'interrupted' " \
	"WHEN pg_catalog.cardinality(l.next) OPERATOR(pg_catalog.=) 0 THEN 'done' ELSE 'idle' END, " \
	"l.next, l.n, l.created, l.updated FROM (SELECT c.thread_id, " \
	"stategraph.lg_next(c.thread_id, c.checkpoint, c.blobs) AS next, a.n, a.created, a.updated, " \
	"EXISTS (SELECT 1 FROM stategraph.lg_writes x WHERE x.thread_id OPERATOR(pg_catalog.=) c.thread_id " \
	"AND x.checkpoint_ns OPERATOR(pg_catalog.=) '' AND x.checkpoint_id OPERATOR(pg_catalog.=) c.checkpoint_id " \
	"AND x.channel OPERATOR(pg_catalog.=) '__error__') AS e, " \
	"EXISTS (SELECT 1 FROM stategraph.lg_writes x WHERE x.thread_id OPERATOR(pg_catalog.=) c.thread_id " \
	"AND x.checkpoint_ns OPERATOR(pg_catalog.=) '' AND x.checkpoint_id OPERATOR(pg_catalog.=) c.checkpoint_id " \
	"AND x.channel OPERATOR(pg_catalog.=) '__interrupt__') AS i " \
	"FROM (SELECT DISTINCT ON (c.thread_id) c.thread_id, c.checkpoint_id, c.checkpoint, c.blobs " \
	"FROM stategraph.lg_checkpoints c WHERE c.checkpoint_ns OPERATOR(pg_catalog.=) '' " \
	"ORDER BY c.thread_id, c.checkpoint_id DESC) c, LATERAL (SELECT pg_catalog.count(*) FILTER (WHERE a.checkpoint_ns OPERATOR(pg_catalog.=) '') AS n, " \
	"pg_catalog.min(a.created_at) AS created, pg_catalog.max(a.created_at) AS updated " \
	"FROM stategraph.lg_checkpoints a WHERE a.thread_id OPERATOR(pg_catalog.=) c.thread_id) a " \
	"OFFSET 0) l WHERE $1 IS NULL " \
	THREADS_LG_SUB_SQL
/*
 * ... and LangGraph.js threads with checkpoints in subgraph namespaces only:
 * their root state is empty (as sg_get_state reads it), so they are idle,
 * with no next node and no root checkpoint
 */
#define THREADS_LG_SUB_SQL \
	"UNION ALL SELECT s.thread_id, NULL, 'idle', '{}'::pg_catalog.text[], 0::pg_catalog.int8, " \
	"pg_catalog.min(s.created_at), pg_catalog.max(s.created_at) FROM stategraph.lg_checkpoints s " \
	"WHERE $1 IS NULL AND s.checkpoint_ns OPERATOR(pg_catalog.<>) '' AND NOT EXISTS (SELECT 1 FROM stategraph.lg_checkpoints r " \
	"WHERE r.thread_id OPERATOR(pg_catalog.=) s.thread_id AND r.checkpoint_ns OPERATOR(pg_catalog.=) '') " \
	"GROUP BY s.thread_id "

/* sg_threads(graph): every thread (of one graph), with its status and size. */
Datum
sg_threads(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan;
	static SPIPlanPtr plan_010;
	Oid			types[1] = {TEXTOID};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *graph = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	Datum		args[1];
	char		nulls[1] = {graph ? ' ' : 'n'};
	SPITupleTable *tt;
	uint64		nrows;
	uint64		i;

	InitMaterializedSRF(fcinfo, 0);
	sg_spi_connect();
	/*
	 * A 0.1.0 schema (the library is newer than ALTER EXTENSION UPDATE has
	 * made the database) has no LangGraph.js tables: its threads only.
	 */
	if (sg_schema_is_010())
		sg_spi_prepare(&plan_010, THREADS_SQL ") u ORDER BY u.thread_id COLLATE pg_catalog.\"C\"", 1, types);
	else
		sg_spi_prepare(&plan, THREADS_SQL THREADS_LG_SQL ") u ORDER BY u.thread_id COLLATE pg_catalog.\"C\"",
					   1, types);
	args[0] = graph ? CStringGetTextDatum(graph) : (Datum) 0;
	nrows = sg_spi_execute(sg_schema_is_010() ? plan_010 : plan, args, nulls, 0);
	tt = SPI_tuptable;
	if (graph != NULL && nrows == 0 &&
		sg_spi_run("SELECT 1 FROM stategraph.graphs WHERE graph OPERATOR(pg_catalog.=) $1",
				   1, types, args, NULL) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("graph \"%s\" does not exist", graph)));
	for (i = 0; i < nrows; i++)
	{
		HeapTuple	t = tt->vals[i];
		Datum		values[Natts_threads_row];
		bool		isnull[Natts_threads_row];
		int			k;

		for (k = 0; k < Natts_threads_row; k++)
			values[k] = SPI_getbinval(t, tt->tupdesc, k + 1, &isnull[k]);
		/*
		 * running: another session holds the thread's lock (CALL sg_run, a
		 * worker) or, having let that go, its row (a run in a transaction)
		 */
		if (sg_thread_is_busy(TextDatumGetCString(values[Anum_threads_row_thread_id - 1])) ||
			(!isnull[Anum_threads_row_graph - 1] &&	/* (a LangGraph.js thread has no row) */
			 sg_thread_row_held(TextDatumGetCString(values[Anum_threads_row_thread_id - 1]))))
			values[Anum_threads_row_status - 1] = CStringGetTextDatum("running");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
	}
	sg_spi_finish();
	return (Datum) 0;
}
