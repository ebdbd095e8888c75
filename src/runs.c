/*-------------------------------------------------------------------------
 *
 * runs.c
 *		Background runs: the run queue (stategraph.runs), sg_submit,
 *		sg_wait, sg_cancel, CALL sg_work, and the retention sweep.
 *
 * A run is a row. sg_submit checks what it can at once (graph compiled and
 * executable, thread of that graph, options), applies the thread's
 * multitask rule under a per-thread submit lock and inserts the row; the
 * commit wakes a worker (worker.c). Runs of a thread execute one at a time
 * in seq order: a run is due when its not_before has passed and no earlier
 * run of its thread is still active.
 *
 * sg_work_one is the one executor of runs, used by the background workers
 * and by CALL sg_work: it claims the oldest due run whose thread lock it
 * can take (FOR UPDATE SKIP LOCKED, so claimers never wait on each other),
 * switches to the submitting role (SECURITY_LOCAL_USERID_CHANGE: the run
 * cannot SET ROLE back) and runs the graph as CALL sg_run does, a commit
 * after every super-step. Each step runs in a subtransaction, so that an
 * error that is not a node's (those the executor records on the thread,
 * as on_error => 'return') ends the run with status error instead of
 * losing the commit of its steps. The run row is updated in the same
 * transaction as each step (stepped, and at the end status, error and
 * finished_at), so after a crash the run goes on from the thread's head
 * exactly where its last committed step left it, and a node's effects,
 * committed with its step, happen once.
 *
 * Between steps the run reads its stop request: sg_cancel and the
 * multitask strategies interrupt and rollback set it. 'rollback' then
 * removes the checkpoints the run wrote (those after the thread's head
 * when the run started: nobody else writes a thread while its run holds
 * the thread lock) and puts the thread row back as it was.
 *
 * Status 'waiting' (external tasks out) is part of the status machine for
 * the external nodes of the next round: such a run is active for its
 * thread's FIFO but not due.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(sg_submit);
PG_FUNCTION_INFO_V1(sg_wait);
PG_FUNCTION_INFO_V1(sg_cancel);
PG_FUNCTION_INFO_V1(sg_work);
PG_FUNCTION_INFO_V1(sg_set_retention);

/* the last claim passed over more due runs (worker.c wakes another worker) */
bool		sg_claim_left_more = false;

#define SG_SUBMIT_LOCK_FIELD4	0x5348	/* the thread's submit lock (the run lock is 0x5347) */
#define ACTIVE "ARRAY['pending', 'running', 'waiting']"

/* A claimed run. */
typedef struct RunRow
{
	pg_uuid_t	run_id;
	char	   *id_text;
	char	   *thread_id;
	char	   *graph;
	Jsonb	   *input;
	bool		has_checkpoint;
	pg_uuid_t	checkpoint_id;
	Jsonb	   *resume;
	int			recursion_limit;
	char	   *owner;
	bool		stepped;
	char	   *stop_request;
} RunRow;

/* Run a statement with a plan kept per backend in *plan (spi.c); returns rows processed. */
static uint64
run_sql(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	return sg_spi_execute(sg_spi_prepare(plan, sql, nargs, types), values, nulls, 0);
}

/* Is any part of an interval negative? */
static bool
interval_negative(Interval *i)
{
	return i->time < 0 || i->day < 0 || i->month < 0;
}

/* An interval in milliseconds (a month counts 30 days). */
static long
interval_ms(Interval *i)
{
	return (long) (i->time / 1000 + (int64) i->day * 86400000L + (int64) i->month * 30L * 86400000L);
}

/* The quoted schema of the extension's functions. */
static const char *
ext_schema(void)
{
	static SPIPlanPtr plan;

	if (run_sql(&plan,
				"SELECT extnamespace::pg_catalog.regnamespace::pg_catalog.text FROM pg_catalog.pg_extension "
				"WHERE extname OPERATOR(pg_catalog.=) 'stategraph'", 0, NULL, NULL, NULL) != 1)
		elog(ERROR, "extension stategraph is not installed");
	return sg_spi_text(0, 1);
}

/* ---------------------------------------------------------------------------
 * sg_submit
 * ---------------------------------------------------------------------------
 */

/* Serialize submits to one thread (multitask decisions) until the end of the transaction. */
static void
lock_thread_submits(const char *thread_id)
{
	LOCKTAG		tag;
	uint64		h = hash_bytes_extended((const unsigned char *) thread_id, strlen(thread_id), 0x5347);

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h, SG_SUBMIT_LOCK_FIELD4);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/* Check the options of sg_submit; reports errors before anything is looked up. */
static void
check_submit_args(FunctionCallInfo fcinfo, const char **multitask, Interval **after)
{
	sg_require_arg(fcinfo, 5, "recursion_limit");
	if (PG_GETARG_INT32(5) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recursion_limit must be positive, not %d", PG_GETARG_INT32(5))));
	*multitask = sg_arg_text(fcinfo, 6, "multitask");
	if (strcmp(*multitask, "reject") != 0 && strcmp(*multitask, "enqueue") != 0 &&
		strcmp(*multitask, "interrupt") != 0 && strcmp(*multitask, "rollback") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("multitask must be 'reject', 'enqueue', 'interrupt' or 'rollback', not '%s'",
						*multitask)));
	*after = PG_ARGISNULL(7) ? NULL : PG_GETARG_INTERVAL_P(7);
	if (*after && interval_negative(*after))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("after must not be negative")));
	if (!PG_ARGISNULL(8))
		(void) sg_arg_text(fcinfo, 8, "idempotency_key");
	if (!PG_ARGISNULL(1) && !sg_jsonb_is_object(PG_GETARG_JSONB_P(1)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("input must be a JSON object of channel values, not a JSON %s",
						sg_jsonb_type_name(PG_GETARG_JSONB_P(1))),
				 errhint("Pass NULL to resume a thread.")));
	if (!PG_ARGISNULL(1) && !PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("input and resume cannot both be given"),
				 errhint("Resume a paused thread with input NULL.")));
	if (PG_ARGISNULL(2) && (PG_ARGISNULL(1) || !PG_ARGISNULL(3) || !PG_ARGISNULL(4)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s needs a thread_id",
						PG_ARGISNULL(1) ? "a run without input" :
						!PG_ARGISNULL(3) ? "checkpoint_id" : "resume"),
				 errhint("Only a thread has checkpoints to resume from.")));
}

/* The run_id of an earlier submit with this idempotency key, or NULL. */
static pg_uuid_t *
find_idempotent(const char *graph, const char *key)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(graph), CStringGetTextDatum(key)};
	bool		isnull;
	pg_uuid_t  *id;

	if (run_sql(&plan,
				"SELECT run_id FROM stategraph.runs WHERE owner OPERATOR(pg_catalog.=) CURRENT_USER "
				"AND graph OPERATOR(pg_catalog.=) $1 AND idempotency_key OPERATOR(pg_catalog.=) $2",
				2, types, values, NULL) == 0)
		return NULL;
	id = palloc(sizeof(pg_uuid_t));
	*id = *DatumGetUUIDP(sg_spi_datum(0, 1, &isnull));
	return id;
}

/*
 * Apply the multitask rule to the active runs of a thread: reject, or stop
 * them (pending ones are cancelled at once, running ones at their next
 * step boundary).
 */
static void
apply_multitask(const char *thread_id, const char *multitask)
{
	static SPIPlanPtr active_plan;
	static SPIPlanPtr cancel_plan;
	static SPIPlanPtr stop_plan;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(thread_id), CStringGetTextDatum(multitask)};

	if (run_sql(&active_plan,
				"SELECT run_id, status FROM stategraph.runs WHERE thread_id OPERATOR(pg_catalog.=) $1 "
				"AND status OPERATOR(pg_catalog.=) ANY (" ACTIVE ") ORDER BY seq LIMIT 1",
				1, types, values, NULL) == 0 || strcmp(multitask, "enqueue") == 0)
		return;
	if (strcmp(multitask, "reject") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_SG_RUN_REJECTED),
				 errmsg("thread \"%s\" already has an active run", thread_id),
				 errdetail("Run %s is %s.", sg_spi_text(0, 1), sg_spi_text(0, 2)),
				 errhint("Submit with multitask => 'enqueue' to run after it, or 'interrupt' or "
						 "'rollback' to stop it first.")));
	run_sql(&cancel_plan,
			"UPDATE stategraph.runs SET status = 'cancelled', finished_at = pg_catalog.now() "
			"WHERE thread_id OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'pending'",
			1, types, values, NULL);
	run_sql(&stop_plan,
			"UPDATE stategraph.runs SET stop_request = $2, "
			"status = CASE WHEN status OPERATOR(pg_catalog.=) 'waiting' THEN 'pending' ELSE status END "
			"WHERE thread_id OPERATOR(pg_catalog.=) $1 "
			"AND status OPERATOR(pg_catalog.=) ANY (ARRAY['running', 'waiting']) AND stop_request IS NULL",
			2, types, values, NULL);
	sg_run_done_at_commit();
}

/* Insert the run row; returns false if an idempotent twin committed meanwhile. */
static bool
insert_run(FunctionCallInfo fcinfo, pg_uuid_t *id, const char *thread_id, const char *graph,
		   const char *multitask, Interval *after)
{
	static SPIPlanPtr plan;
	Oid			types[10] = {UUIDOID, TEXTOID, TEXTOID, JSONBOID, UUIDOID, JSONBOID, INT4OID,
	TEXTOID, INTERVALOID, TEXTOID};
	Datum		values[10];
	char		nulls[10];
	Interval	zero = {0, 0, 0};

	memset(nulls, ' ', sizeof(nulls));
	values[0] = UUIDPGetDatum(id);
	values[1] = CStringGetTextDatum(thread_id);
	values[2] = CStringGetTextDatum(graph);
	values[3] = PG_ARGISNULL(1) ? (nulls[3] = 'n', (Datum) 0) : PG_GETARG_DATUM(1);
	values[4] = PG_ARGISNULL(3) ? (nulls[4] = 'n', (Datum) 0) : PG_GETARG_DATUM(3);
	values[5] = PG_ARGISNULL(4) ? (nulls[5] = 'n', (Datum) 0) : PG_GETARG_DATUM(4);
	values[6] = PG_GETARG_DATUM(5);
	values[7] = CStringGetTextDatum(multitask);
	values[8] = IntervalPGetDatum(after ? after : &zero);
	values[9] = PG_ARGISNULL(8) ? (nulls[9] = 'n', (Datum) 0) : PG_GETARG_DATUM(8);
	return run_sql(&plan,
				   "INSERT INTO stategraph.runs (run_id, thread_id, graph, input, checkpoint_id, resume, "
				   "recursion_limit, multitask, not_before, idempotency_key) "
				   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, pg_catalog.now() OPERATOR(pg_catalog.+) $9, $10) "
				   "ON CONFLICT (owner, graph, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING",
				   10, types, values, nulls) == 1;
}

/* sg_submit: queue a background run; returns its run_id. */
Datum
sg_submit(PG_FUNCTION_ARGS)
{
	char	   *graph = sg_arg_text(fcinfo, 0, "graph");
	char	   *thread_id = PG_ARGISNULL(2) ? NULL : sg_arg_text(fcinfo, 2, "thread_id");
	char	   *key = PG_ARGISNULL(8) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(8));
	const char *multitask;
	Interval   *after;
	SGGraph    *g;
	pg_uuid_t  *id;

	check_submit_args(fcinfo, &multitask, &after);
	sg_spi_connect();
	g = sg_graph_get(graph);
	sg_graph_check_privileges(g);
	if (!PG_ARGISNULL(1))
		sg_check_update(g, "input", PG_GETARG_JSONB_P(1));
	if (thread_id)
		lock_thread_submits(thread_id);
	if (key && (id = find_idempotent(graph, key)) != NULL)
	{
		sg_spi_finish();
		PG_RETURN_UUID_P(id);
	}
	if (thread_id)
	{
		SGThread   *th = sg_thread_fetch(thread_id, false);

		if (th != NULL && strcmp(th->graph, graph) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("thread \"%s\" belongs to graph \"%s\", not \"%s\"", thread_id, th->graph, graph)));
		if (th == NULL && (PG_ARGISNULL(1) || !PG_ARGISNULL(3)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("thread \"%s\" does not exist", thread_id),
					 errhint("Start it with an input.")));
		apply_multitask(thread_id, multitask);
	}
	id = palloc(sizeof(pg_uuid_t));
	sg_new_checkpoint_id(id, NULL, NULL);
	if (!thread_id)
		thread_id = sg_uuid_to_cstring(id);	/* a run of its own thread, readable afterwards */
	if (!insert_run(fcinfo, id, thread_id, graph, multitask, after))
		id = find_idempotent(graph, key);
	sg_spi_finish();
	sg_wake_workers_at_commit();
	PG_RETURN_UUID_P(id);
}

/* ---------------------------------------------------------------------------
 * sg_wait and sg_cancel
 * ---------------------------------------------------------------------------
 */

/* The sg_run row of a run (as tupdesc), and whether it is still active; errors if unknown. */
static Datum
fetch_run(pg_uuid_t *id, TupleDesc tupdesc, bool *active)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(id)};
	char	   *status;

	if (run_sql(&plan,
				"SELECT r.run_id, r.thread_id, r.graph, r.status, r.multitask, r.attempt, "
				"r.error, r.created_at, r.started_at, r.finished_at FROM stategraph.runs r "
				"WHERE r.run_id OPERATOR(pg_catalog.=) $1",
				1, types, values, NULL) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run %s does not exist", sg_uuid_to_cstring(id)),
				 errhint("sg_runs() lists the runs you can see; finished runs expire after stategraph.run_retention.")));
	status = sg_spi_text(0, 4);
	*active = strcmp(status, "pending") == 0 || strcmp(status, "running") == 0 ||
		strcmp(status, "waiting") == 0;
	return heap_copy_tuple_as_datum(SPI_tuptable->vals[0], tupdesc);
}

/* sg_wait: sleep until the run is no longer pending/running/waiting, or the timeout passes. */
Datum
sg_wait(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id;
	Interval   *timeout = PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1);
	TimestampTz start = GetCurrentTimestamp();
	long		limit_ms = -1;
	Datum		row;
	bool		active;
	TupleDesc	tupdesc;

	sg_require_arg(fcinfo, 0, "run_id");
	id = PG_GETARG_UUID_P(0);
	if (timeout && interval_negative(timeout))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must not be negative")));
	if (timeout)
		limit_ms = interval_ms(timeout);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "sg_wait must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);

	sg_spi_connect();
	sg_wait_prepare();
	for (;;)
	{
		long		left = 1000;

		row = fetch_run(id, tupdesc, &active);
		if (!active)
			break;
		if (IsolationUsesXactSnapshot())
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
					 errmsg("sg_wait cannot see a run finish in a %s transaction",
							XactIsoLevel == XACT_SERIALIZABLE ? "SERIALIZABLE" : "REPEATABLE READ"),
					 errhint("Call it in a READ COMMITTED transaction.")));
		if (limit_ms >= 0)
		{
			long		spent = (long) ((GetCurrentTimestamp() - start) / 1000);

			if (spent >= limit_ms)
				break;
			left = Min(left, limit_ms - spent);
		}
		/* a run finishing wakes us; the one-second cap only bounds a missed broadcast */
		(void) sg_wait_for_runs(left);
		CHECK_FOR_INTERRUPTS();
	}
	sg_wait_done();
	sg_spi_finish();
	PG_RETURN_DATUM(row);
}

/* sg_cancel: stop a run (pending: at once; running: at its next step boundary). */
Datum
sg_cancel(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr lock_plan;
	static SPIPlanPtr cancel_plan;
	static SPIPlanPtr stop_plan;
	char	   *action = sg_arg_text(fcinfo, 1, "action");
	Oid			types[2] = {UUIDOID, TEXTOID};
	Datum		values[2];
	char	   *status;
	bool		done = true;

	sg_require_arg(fcinfo, 0, "run_id");
	if (strcmp(action, "interrupt") != 0 && strcmp(action, "rollback") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("action must be 'interrupt' or 'rollback', not '%s'", action)));
	values[0] = PG_GETARG_DATUM(0);
	values[1] = CStringGetTextDatum(action);
	sg_spi_connect();
	if (run_sql(&lock_plan, "SELECT status FROM stategraph.runs WHERE run_id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
				1, types, values, NULL) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run %s does not exist", sg_uuid_to_cstring(PG_GETARG_UUID_P(0)))));
	status = sg_spi_text(0, 1);
	if (strcmp(status, "pending") == 0)
		run_sql(&cancel_plan,
				"UPDATE stategraph.runs SET status = 'cancelled', finished_at = pg_catalog.clock_timestamp() "
				"WHERE run_id OPERATOR(pg_catalog.=) $1", 1, types, values, NULL);
	else if (strcmp(status, "running") == 0 || strcmp(status, "waiting") == 0)
		run_sql(&stop_plan,
				"UPDATE stategraph.runs SET stop_request = $2, "
				"status = CASE WHEN status OPERATOR(pg_catalog.=) 'waiting' THEN 'pending' ELSE status END "
				"WHERE run_id OPERATOR(pg_catalog.=) $1",
				2, types, values, NULL);
	else
		done = false;
	sg_spi_finish();
	if (done)
		sg_run_done_at_commit();
	PG_RETURN_BOOL(done);
}

/* ---------------------------------------------------------------------------
 * Executing runs (the workers' and sg_work's one code path)
 * ---------------------------------------------------------------------------
 */

/* Read row r of the claim query into a RunRow. */
static RunRow *
run_from_row(uint64 r)
{
	RunRow	   *run = palloc0(sizeof(RunRow));
	bool		isnull;
	Datum		d;

	run->run_id = *DatumGetUUIDP(sg_spi_datum(r, 1, &isnull));
	run->id_text = sg_uuid_to_cstring(&run->run_id);
	run->thread_id = sg_spi_text(r, 2);
	run->graph = sg_spi_text(r, 3);
	d = sg_spi_datum(r, 4, &isnull);
	run->input = isnull ? NULL : sg_jsonb_copy(DatumGetJsonbP(d));
	d = sg_spi_datum(r, 5, &isnull);
	if ((run->has_checkpoint = !isnull))
		run->checkpoint_id = *DatumGetUUIDP(d);
	d = sg_spi_datum(r, 6, &isnull);
	run->resume = isnull ? NULL : sg_jsonb_copy(DatumGetJsonbP(d));
	run->recursion_limit = DatumGetInt32(sg_spi_datum(r, 7, &isnull));
	run->owner = sg_spi_text(r, 8);
	run->stepped = DatumGetBool(sg_spi_datum(r, 9, &isnull));
	run->stop_request = sg_spi_text(r, 10);
	return run;
}

/*
 * Is run (thread_id, seq) the oldest active run of its thread (FIFO)? The
 * caller holds the thread's lock, so nobody starts another run there.
 */
static bool
first_of_thread(const char *thread_id, Datum seq)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2] = {CStringGetTextDatum(thread_id), seq};

	return run_sql(&plan,
				   "SELECT 1 FROM stategraph.runs WHERE thread_id OPERATOR(pg_catalog.=) $1 "
				   "AND status OPERATOR(pg_catalog.=) ANY (" ACTIVE ") AND seq OPERATOR(pg_catalog.<) $2 LIMIT 1",
				   2, types, values, NULL) == 0;
}

/* Lock the row of a run that is still pending or running, and read it; NULL if gone or locked. */
static RunRow *
lock_run(Datum run_id)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {UUIDOID};
	uint64		found = run_sql(&plan,
								"SELECT r.run_id, r.thread_id, r.graph, r.input, r.checkpoint_id, r.resume, "
								"r.recursion_limit, r.owner, r.stepped, r.stop_request FROM stategraph.runs r "
								"WHERE r.run_id OPERATOR(pg_catalog.=) $1 "
								"AND r.status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running']) "
								"FOR UPDATE SKIP LOCKED",
								1, types, &run_id, NULL);

	return found ? run_from_row(0) : NULL;
}

/*
 * Claim the oldest due run whose thread is free, taking the thread lock
 * for this transaction and marking the run running. *blocked: a due run
 * was passed over because another session holds its thread.
 *
 * The candidates are the oldest due runs by seq (an index scan, whatever
 * the statistics say); for each, the thread lock is tried first (so one
 * executor per thread), then FIFO is checked and the row locked. Runs
 * queued behind a long line of one thread's runs wait until the line is
 * shorter than the candidate window.
 */
static RunRow *
claim_run(bool *blocked)
{
	static SPIPlanPtr candidates_plan;
	static SPIPlanPtr start_plan;
	Oid			types[1] = {UUIDOID};
	Datum		values[1];
	uint64		n,
				i;
	RunRow	   *run = NULL;
	SPITupleTable *tt;

	n = run_sql(&candidates_plan,
				"SELECT r.run_id, r.thread_id, r.seq, r.status FROM stategraph.runs r "
				"WHERE r.status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running']) "
				"AND r.not_before OPERATOR(pg_catalog.<=) pg_catalog.clock_timestamp() "
				"ORDER BY r.seq LIMIT 64",
				0, NULL, NULL, NULL);
	tt = SPI_tuptable;
	for (i = 0; i < n && run == NULL; i++)
	{
		bool		isnull;
		char	   *thread_id = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
		char	   *status = SPI_getvalue(tt->vals[i], tt->tupdesc, 4);

		if (!sg_try_lock_thread(thread_id))
		{
			if (strcmp(status, "pending") == 0)
				*blocked = true;	/* held by a client session (a running run's is its executor's) */
			continue;
		}
		if (first_of_thread(thread_id, SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull)))
			run = lock_run(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		if (run == NULL)
			sg_unlock_thread(thread_id, false);
	}
	if (run == NULL)
		return NULL;
	sg_claim_left_more = i < n;	/* the worker asks for help with the rest */
	/* the thread as it was before the run, for a rollback (first attempt only) */
	values[0] = UUIDPGetDatum(&run->run_id);
	run_sql(&start_plan,
			"UPDATE stategraph.runs r SET status = 'running', attempt = r.attempt OPERATOR(pg_catalog.+) 1, "
			"started_at = COALESCE(r.started_at, pg_catalog.clock_timestamp()), "
			"start_head = CASE WHEN r.stepped THEN r.start_head ELSE (SELECT t.head FROM stategraph.threads t "
			"  WHERE t.thread_id OPERATOR(pg_catalog.=) r.thread_id) END, "
			"start_status = CASE WHEN r.stepped THEN r.start_status ELSE (SELECT t.status FROM stategraph.threads t "
			"  WHERE t.thread_id OPERATOR(pg_catalog.=) r.thread_id) END "
			"WHERE r.run_id OPERATOR(pg_catalog.=) $1",
			1, types, values, NULL);
	return run;
}

/*
 * Record the progress of a run in the transaction of its step: stepped,
 * and when it ends its final status and error. Returns the stop request.
 */
static char *
record_step(RunRow *r, const char *final, Jsonb *error)
{
	static SPIPlanPtr plan;
	Oid			types[3] = {UUIDOID, TEXTOID, JSONBOID};
	Datum		values[3];
	char		nulls[3] = {' ', final ? ' ' : 'n', error ? ' ' : 'n'};

	values[0] = UUIDPGetDatum(&r->run_id);
	values[1] = final ? CStringGetTextDatum(final) : (Datum) 0;
	values[2] = error ? JsonbPGetDatum(error) : (Datum) 0;
	if (final)
		sg_run_done_at_commit();
	if (run_sql(&plan,
				"UPDATE stategraph.runs SET stepped = true, status = COALESCE($2, status), error = $3, "
				"finished_at = CASE WHEN $2 IS NULL OR $2 OPERATOR(pg_catalog.=) 'waiting' THEN NULL "
				"  ELSE pg_catalog.clock_timestamp() END "
				"WHERE run_id OPERATOR(pg_catalog.=) $1 RETURNING stop_request",
				3, types, values, nulls) == 0)
		return NULL;
	return sg_spi_text(0, 1);
}

/* The error of a failed run as jsonb: {sqlstate, message, detail, hint}. */
static Jsonb *
error_jsonb(ErrorData *edata)
{
	SGJsonBuilder b = {0};

	sg_jb_begin_object(&b);
	sg_jb_key(&b, "sqlstate");
	sg_jb_string(&b, unpack_sql_state(edata->sqlerrcode));
	sg_jb_key(&b, "message");
	sg_jb_string(&b, edata->message ? edata->message : "");
	if (edata->detail)
	{
		sg_jb_key(&b, "detail");
		sg_jb_string(&b, edata->detail);
	}
	if (edata->hint)
	{
		sg_jb_key(&b, "hint");
		sg_jb_string(&b, edata->hint);
	}
	sg_jb_end_object(&b);
	return sg_jb_finish(&b);
}

/* Put a thread back as it was before a run (multitask or cancel 'rollback'). */
static void
roll_back_thread(RunRow *r)
{
	static SPIPlanPtr start_plan;
	static SPIPlanPtr del_plan;
	static SPIPlanPtr thread_plan;
	static SPIPlanPtr drop_plan;
	Oid			types[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(&r->run_id)};

	run_sql(&start_plan, "SELECT start_status FROM stategraph.runs WHERE run_id OPERATOR(pg_catalog.=) $1",
			1, types, values, NULL);
	if (sg_spi_text(0, 1) == NULL)
	{
		/* the run created the thread */
		run_sql(&drop_plan,
				/* its checkpoints go with it (trigger thread_deleted) */
				"DELETE FROM stategraph.threads WHERE thread_id OPERATOR(pg_catalog.=) "
				"  (SELECT thread_id FROM stategraph.runs WHERE run_id OPERATOR(pg_catalog.=) $1)",
				1, types, values, NULL);
	}
	else
	{
		run_sql(&del_plan,
				"DELETE FROM stategraph.checkpoints c USING stategraph.runs r "
				"WHERE r.run_id OPERATOR(pg_catalog.=) $1 AND c.thread_id OPERATOR(pg_catalog.=) r.thread_id "
				"AND (r.start_head IS NULL OR c.checkpoint_id OPERATOR(pg_catalog.>) r.start_head)",
				1, types, values, NULL);
		run_sql(&thread_plan,
				"UPDATE stategraph.threads t SET head = r.start_head, status = r.start_status, "
				"updated_at = pg_catalog.clock_timestamp() FROM stategraph.runs r "
				"WHERE r.run_id OPERATOR(pg_catalog.=) $1 AND t.thread_id OPERATOR(pg_catalog.=) r.thread_id",
				1, types, values, NULL);
	}
	sg_state_cache_forget(r->thread_id);
}

/* A run stopped by a request before it ended: cancelled (and rolled back), its external tasks too. */
static void
stop_run(RunRow *r, const char *request)
{
	SGThread   *th = sg_thread_fetch(r->thread_id, true);

	if (th != NULL)
		sg_tasks_cancel_thread(th);	/* its external tasks out, if it was waiting */
	if (strcmp(request, "rollback") == 0)
		roll_back_thread(r);
	(void) record_step(r, "cancelled", NULL);
}

/* One start or step of a run, as sg_spi_subxact runs it. */
typedef struct StepCall
{
	SGRun	  **run;
	SGRunOptions *opts;
	MemoryContext run_cxt;
	bool		more;
} StepCall;

/* Take one step, starting the run first when *run is NULL; true: keep what it did. */
static bool
step_call(void *arg)
{
	StepCall   *c = (StepCall *) arg;

	/*
	 * The start goes with the first step, as in CALL sg_run: a commit of
	 * the input checkpoint alone would leave a thread without its row.
	 */
	if (*c->run == NULL)
		*c->run = sg_run_begin(c->opts, c->run_cxt);
	c->more = sg_run_step(*c->run);
	if (c->more && sg_run_finished(*c->run))
		c->more = sg_run_step(*c->run);	/* the last step: the run ends in its transaction */
	if (c->more)
		sg_run_checkpointed(*c->run);
	else
		sg_run_end(*c->run);
	return true;
}

/*
 * Take one step (the first one with the run's start) in a subtransaction; an error that ends
 * the run is returned in *edata (a cancel, a shutdown or running out of
 * memory goes on up: the run stays 'running' and is taken up again).
 */
static bool
step_in_subxact(SGRun **run, SGRunOptions *opts, MemoryContext run_cxt, ErrorData **edata)
{
	StepCall	c = {run, opts, run_cxt, false};

	*edata = sg_spi_subxact(step_call, &c);
	if (*edata == NULL)
		return c.more;
	if ((*edata)->sqlerrcode == ERRCODE_QUERY_CANCELED ||
		(*edata)->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN ||
		(*edata)->sqlerrcode == ERRCODE_OUT_OF_MEMORY)
		ReThrowError(*edata);
	return false;
}

/* The final status of a run whose executor has nothing left to do. */
static const char *
final_status(SGRun *run, Jsonb **error)
{
	switch (sg_run_status(run))
	{
		case SG_RUN_INTERRUPTED:
			return "interrupted";
		case SG_RUN_WAITING:
			return "waiting";	/* external tasks out: runs_step_ready makes it pending again */
		case SG_RUN_ERROR:
			*error = sg_jsonb_get(sg_run_result(run), "__error__");
			return "error";
		default:
			return "success";
	}
}

/* Execute a claimed run as its owner, committing (commit()) after every step. */
static void
execute_run(RunRow *r, SGCommitFn commit, MemoryContext run_cxt)
{
	SGRunOptions opts;
	SGRun	   *run = NULL;
	char	   *stop = r->stop_request;

	memset(&opts, 0, sizeof(opts));
	opts.graph = r->graph;
	opts.thread_id = r->thread_id;
	opts.recursion_limit = r->recursion_limit;
	opts.on_error = SG_ON_ERROR_RETURN;
	opts.durable = true;
	if (!r->stepped)
	{
		/* after a crash a run goes on from the thread's head, where its last step left it */
		opts.input = r->input;
		opts.resume = r->resume;
		opts.has_checkpoint_id = r->has_checkpoint;
		opts.checkpoint_id = r->checkpoint_id;
	}
	for (;;)
	{
		ErrorData  *edata;
		bool		more;
		Jsonb	   *error = NULL;
		const char *final = NULL;

		if (stop != NULL)
		{
			stop_run(r, stop);
			commit();
			return;
		}
		more = step_in_subxact(&run, &opts, run_cxt, &edata);
		if (edata)
		{
			final = "error";
			error = error_jsonb(edata);
		}
		else if (!more)
			final = final_status(run, &error);
		stop = record_step(r, final, error);
		commit();
		if (final)
			return;
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Execute one due run (claimed in the current transaction, SPI connected),
 * as its owner; false if there was none. The session keeps the thread's
 * lock for the whole run, as CALL sg_run does.
 */
bool
sg_work_one(SGCommitFn commit, bool *blocked)
{
	RunRow	   *r = claim_run(blocked);
	Oid			role;
	Oid			save_user;
	int			save_sec;
	MemoryContext run_cxt;

	if (r == NULL)
		return false;
	role = get_role_oid(r->owner, true);
	if (!OidIsValid(role))
	{
		SGJsonBuilder b = {0};

		sg_jb_begin_object(&b);
		sg_jb_key(&b, "message");
		sg_jb_string(&b, psprintf("role \"%s\" that submitted the run does not exist", r->owner));
		sg_jb_end_object(&b);
		(void) record_step(r, "error", sg_jb_finish(&b));
		commit();
		return true;
	}
	sg_worker_report_run(r->id_text);
	run_cxt = AllocSetContextCreate(TopMemoryContext, "stategraph background run", ALLOCSET_DEFAULT_SIZES);
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(role, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		execute_run(r, commit, run_cxt);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_user, save_sec);
		sg_unlock_thread(r->thread_id, true);
		MemoryContextDelete(run_cxt);
		sg_worker_report_run(NULL);
	}
	PG_END_TRY();
	return true;
}

/*
 * sg_step_ready_hook (tasks.c): the last external task of a waiting step
 * completed in this transaction; the thread's waiting run becomes pending
 * again (it goes on from the thread's head), and a worker wakes at commit.
 */
static void
runs_step_ready(const char *graph, const char *thread_id)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(thread_id)};

	if (run_sql(&plan,
				"UPDATE stategraph.runs SET status = 'pending' WHERE thread_id OPERATOR(pg_catalog.=) $1 "
				"AND status OPERATOR(pg_catalog.=) 'waiting'",
				1, types, values, NULL) > 0)
		sg_wake_workers_at_commit();
}

/* Background runs continue threads whose external tasks completed (called from _PG_init). */
void
sg_runs_init(void)
{
	sg_step_ready_hook = runs_step_ready;
}

/* Milliseconds until the next delayed run is due; -1: none. */
long
sg_next_due_ms(void)
{
	static SPIPlanPtr plan;
	bool		isnull;
	Datum		d;

	run_sql(&plan,
			"SELECT (EXTRACT(EPOCH FROM pg_catalog.min(not_before) OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp()) "
			"OPERATOR(pg_catalog.*) 1000)::pg_catalog.int8 FROM stategraph.runs "
			"WHERE status OPERATOR(pg_catalog.=) 'pending' AND not_before OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp()",
			0, NULL, NULL, NULL);
	d = sg_spi_datum(0, 1, &isnull);
	if (isnull)
		return -1;
	return (long) Max(DatumGetInt64(d) + 1, 0);
}

/* ---------------------------------------------------------------------------
 * Retention
 * ---------------------------------------------------------------------------
 */

/*
 * One sweep: finished runs older than stategraph.run_retention, then up to
 * limit expired threads (never one with an active run, a pending interrupt
 * or that another session holds). Returns what it removed or pruned.
 */
uint64
sg_sweep(int limit)
{
	static SPIPlanPtr runs_plan;
	static SPIPlanPtr threads_plan;
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2] = {Int32GetDatum(sg_run_retention_s), Int32GetDatum(limit)};
	uint64		done,
				n,
				i;
	const char *schema = ext_schema();

	done = run_sql(&runs_plan,
				   "DELETE FROM stategraph.runs WHERE run_id OPERATOR(pg_catalog.=) ANY (ARRAY("
				   "SELECT run_id FROM stategraph.runs WHERE finished_at OPERATOR(pg_catalog.<) "
				   "(pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1)) LIMIT $2))",
				   2, types, values, NULL);
	n = run_sql(&threads_plan,
				"SELECT t.thread_id, p.strategy, COALESCE(p.keep_last, 1) FROM stategraph.threads t "
				"CROSS JOIN LATERAL (SELECT * FROM stategraph.retention r WHERE r.graph OPERATOR(pg_catalog.=) t.graph "
				"  OR r.graph IS NULL ORDER BY r.graph NULLS LAST LIMIT 1) p "
				"WHERE p.ttl IS NOT NULL AND t.updated_at OPERATOR(pg_catalog.<) (pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) p.ttl) "
				"AND t.status OPERATOR(pg_catalog.<>) 'interrupted' "
				"AND NOT EXISTS (SELECT 1 FROM stategraph.runs x WHERE x.thread_id OPERATOR(pg_catalog.=) t.thread_id "
				"  AND x.status OPERATOR(pg_catalog.=) ANY (" ACTIVE ")) "
				"AND NOT EXISTS (SELECT 1 FROM stategraph.tasks k WHERE k.thread_id OPERATOR(pg_catalog.=) t.thread_id "
				"  AND k.status OPERATOR(pg_catalog.=) ANY (ARRAY['queued', 'claimed'])) "
				"AND (p.strategy OPERATOR(pg_catalog.=) 'delete' OR (SELECT pg_catalog.count(*) FROM "
				"  (SELECT 1 FROM stategraph.checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) t.thread_id "
				"   LIMIT COALESCE(p.keep_last, 1) OPERATOR(pg_catalog.+) 1) k) OPERATOR(pg_catalog.>) COALESCE(p.keep_last, 1)) "
				"ORDER BY t.updated_at LIMIT $2",
				2, types, values, NULL);
	if (n > 0)
	{
		SPITupleTable *tt = SPI_tuptable;
		char	   *del = psprintf("SELECT %s.sg_delete_thread($1)", schema);
		char	   *prune = psprintf("SELECT %s.sg_prune(NULL, $2, $1)", schema);

		for (i = 0; i < n; i++)
		{
			char	   *thread_id = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
			char	   *strategy = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
			bool		isnull;
			Datum		args[2];
			Oid			argtypes[2] = {TEXTOID, INT4OID};

			args[0] = CStringGetTextDatum(thread_id);
			args[1] = SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull);
			CHECK_FOR_INTERRUPTS();
			if (!sg_try_lock_thread(thread_id))
				continue;		/* running in another session now: next time */
			(void) sg_spi_run(strcmp(strategy, "delete") == 0 ? del : prune, 2, argtypes, args, NULL);
			sg_unlock_thread(thread_id, false);
			done++;
		}
	}
	done += sg_lg_sweep(limit - (int) n);	/* LangGraph.js threads (lgsaver.c) */
	return done;
}

/* sg_set_retention: the TTL of a graph's threads (graph NULL: the default). */
Datum
sg_set_retention(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr graph_plan;
	static SPIPlanPtr set_plan;
	char	   *graph = PG_ARGISNULL(0) ? NULL : sg_arg_text(fcinfo, 0, "graph");
	Interval   *ttl = PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1);
	char	   *strategy = sg_arg_text(fcinfo, 2, "strategy");
	Oid			types[4] = {TEXTOID, INTERVALOID, TEXTOID, INT4OID};
	Datum		values[4];
	char		nulls[4] = {graph ? ' ' : 'n', ttl ? ' ' : 'n', ' ', PG_ARGISNULL(3) ? 'n' : ' '};

	if (ttl && interval_negative(ttl))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ttl must not be negative")));
	if (strcmp(strategy, "delete") != 0 && strcmp(strategy, "keep_latest") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("strategy must be 'delete' or 'keep_latest', not '%s'", strategy)));
	if (!PG_ARGISNULL(3) && PG_GETARG_INT32(3) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keep_last must be at least 1, not %d", PG_GETARG_INT32(3)),
				 errdetail("The newest checkpoint of a thread is always kept.")));
	if (!PG_ARGISNULL(3) && strcmp(strategy, "delete") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keep_last applies to strategy 'keep_latest' only")));
	values[0] = graph ? CStringGetTextDatum(graph) : (Datum) 0;
	values[1] = ttl ? IntervalPGetDatum(ttl) : (Datum) 0;
	values[2] = CStringGetTextDatum(strategy);
	values[3] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	sg_spi_connect();
	if (graph && run_sql(&graph_plan, "SELECT 1 FROM stategraph.graphs WHERE graph OPERATOR(pg_catalog.=) $1",
						 1, types, values, NULL) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("graph \"%s\" does not exist", graph),
				 errhint("Pass graph => NULL to set the default of every graph.")));
	run_sql(&set_plan,
			"INSERT INTO stategraph.retention (graph, ttl, strategy, keep_last) VALUES ($1, $2, $3, $4) "
			"ON CONFLICT (graph) DO UPDATE SET ttl = EXCLUDED.ttl, strategy = EXCLUDED.strategy, "
			"keep_last = EXCLUDED.keep_last",
			4, types, values, nulls);
	sg_spi_finish();
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------------
 * CALL sg_work
 * ---------------------------------------------------------------------------
 */
static void
spi_commit(void)
{
	SPI_commit();
}

/* CALL sg_work: execute due runs in this session (a commit per step), then sweep. */
Datum
sg_work(PG_FUNCTION_ARGS)
{
	bool		atomic = !(fcinfo->context && IsA(fcinfo->context, CallContext) &&
						   !castNode(CallContext, fcinfo->context)->atomic);
	int			max_runs = PG_ARGISNULL(0) ? -1 : PG_GETARG_INT32(0);
	Interval   *max_time = PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1);
	TimestampTz start = GetCurrentTimestamp();
	int			done = 0;
	bool		blocked = false;
	MemoryContext loop_cxt;

	if (max_runs < -1 || (!PG_ARGISNULL(0) && max_runs < 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_runs must not be negative")));
	if (max_time && interval_negative(max_time))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_time must not be negative")));
	if (atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("sg_work cannot commit its steps inside a transaction block"),
				 errhint("CALL sg_work() outside BEGIN ... COMMIT.")));
	loop_cxt = AllocSetContextCreate(PortalContext, "stategraph sg_work loop", ALLOCSET_DEFAULT_SIZES);
	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect_ext failed");
	while (max_runs < 0 || done < max_runs)
	{
		MemoryContextReset(loop_cxt);
		MemoryContextSwitchTo(loop_cxt);
		if (max_time && (GetCurrentTimestamp() - start) / 1000 >= interval_ms(max_time))
			break;
		if (!sg_work_one(spi_commit, &blocked))
			break;
		done++;
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextReset(loop_cxt);
	(void) sg_sweep(sg_sweep_limit);
	sg_spi_finish();
	PG_RETURN_VOID();
}
