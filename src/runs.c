/*-------------------------------------------------------------------------
 *
 * runs.c
 *		Background runs: the run queue (stategraph.runs), sg_submit,
 *		sg_wait, sg_cancel, CALL sg_work, and the retention sweep.
 *
 * A run is a row. sg_submit checks what it can at once (graph compiled and
 * executable, thread of that graph, options), applies the thread's
 * multitask rule under a per-thread submit lock (a row lock of
 * stategraph.submit_locks, so that a statement may submit to any number of
 * threads) and inserts the row; the commit wakes a worker (worker.c).
 * Runs of a thread execute one at a time in seq order: a run is due when
 * its not_before has passed and no earlier run of its thread is still
 * active.
 *
 * sg_work_one is the one executor of runs, used by the background workers
 * and by CALL sg_work: it claims the oldest due run whose thread lock it
 * can take and that is first of its thread (one UPDATE ... FOR NO KEY
 * UPDATE SKIP LOCKED marks it running, so claimers never wait on each
 * other; a foreign key to the run's row, FOR KEY SHARE, does not hold it
 * up: claim_checks),
 * switches to the submitting role (SECURITY_LOCAL_USERID_CHANGE: the run
 * cannot SET ROLE back; SECURITY_RESTRICTED_OPERATION and a GUC nest level
 * per step: it leaves no temporary object or setting behind in a session
 * that executes other roles' runs next) and runs the graph as CALL sg_run does, a commit
 * after every super-step. The
 * claim commits with the run's first step, and the run's end (status,
 * error, finished_at) with its last; the steps between write nothing to
 * the run row, since its progress is the thread's head: after a crash a
 * claimed run goes on from there, and a node's effects, committed with
 * its step, happen once.
 *
 * Errors: the executor records a node's on the thread (as on_error =>
 * 'return'). In CALL sg_work each step runs in a subtransaction, so that
 * any other error of the step ends the run with status error instead of
 * losing the commit of its steps (but for a transient error, a cancel or a
 * timeout, and an error of a step whose role was renamed, or whose run
 * was given to another role, meanwhile, which are recorded and taken
 * again as a worker does); the work of each of its
 * transactions runs in a subtransaction too, so that an error around the
 * step (its record, a stop, a cancel between steps) is recorded on the
 * run as well before it reaches the caller (work_one). A
 * background worker takes its steps without one: any error rolls its
 * transaction back, and the worker records it on the run in a new
 * transaction (sg_run_failure): an error of the step ends the run with
 * status error, an error of the bookkeeping (claiming, recording,
 * committing; a cancel or a timeout) is retried after a backoff and ends
 * the run at its SG_RUN_MAX_FAILURES-th time. A serialization failure or a
 * deadlock, of the step or not, is first retried a few times without
 * counting in a worker (count_conflict).
 *
 * Between steps the run reads its stop request: sg_cancel and the
 * multitask strategies interrupt and rollback set it. 'rollback' then
 * removes the checkpoints the run wrote (those after the thread's head
 * when the run started: nobody else writes a thread while its run holds
 * the thread lock) and puts the thread row back as it was, unless the
 * checkpoint it started from is gone (another run's rollback removed it):
 * the stop then keeps the thread as an 'interrupt' does, and says so in
 * the run's error (roll_back_thread), rather than leave a head that names
 * no checkpoint. A stop is
 * never ended by a failure, of its own or of a step (it is retried with a
 * growing backoff, and a node's error met on the way stays on the run,
 * sg_run_failure); only deaths of its executor are bounded: past
 * stategraph.max_run_recoveries deaths with no step committed in between
 * (a node that crashes the server, again and again) it gets one more try,
 * then ends with SG014. A death after progress starts the count again: a
 * long run whose server restarts now and then is not given up
 * (mark_claimed).
 *
 * Each step checks EXECUTE on the graph's functions again (a new
 * transaction: a REVOKE may have committed since the claim), and a run
 * acts only on a thread its role may act on (OWNER_ACTS), whatever its
 * row says: run rows are the roles' own to write.
 *
 * sg_wait sleeps until its run ends, and refuses at once (25001) a wait
 * that its own transaction keeps from ending: for a run it submitted or
 * changed, one whose thread (or an active run ahead of it there) it
 * changed, or one whose row, thread row or run ahead it holds a row lock
 * on that holds the run up (claims pass a locked run over; own_hold: any
 * strength but FOR KEY SHARE, a foreign key's). Only a
 * transaction with an ID can have written or locked a row: the wait of
 * any other costs no statement for this.
 *
 * Status 'waiting' (external tasks out, tasks.c) is active for its
 * thread's FIFO but not due; the runs queued behind it, like runs whose
 * thread a client session holds, are passed over by claims without using
 * up one of their tries (claim_run).
 *
 * recursion_limit counts a run's steps from where it began, also when it
 * goes on after its waits or a crash (run_last_step). A run queued for a
 * step a task's completion left (sg_submit_for_owner) goes on as the
 * completion would have: with the limit of the call that left the thread
 * waiting, counted from where that call began (runs.last_step, which its
 * start, the thread's head, cannot say). Its claim drops last_step if the
 * thread has moved on from that step meanwhile (left_head): the run then
 * counts its limit from where it starts, as any run. Read with the claim,
 * no statement of its own.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/multixact.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/bufmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

PG_FUNCTION_INFO_V1(sg_submit);
PG_FUNCTION_INFO_V1(sg_wait);
PG_FUNCTION_INFO_V1(sg_cancel);
PG_FUNCTION_INFO_V1(sg_work);
PG_FUNCTION_INFO_V1(sg_set_retention);
PG_FUNCTION_INFO_V1(run_status_check);

/* the last claim passed over more due runs (worker.c wakes another worker) */
bool		sg_claim_left_more = false;
/* the last run ended by this session has another run of its thread behind it */
bool		sg_run_thread_next = false;

/* The statuses of a run that may still execute: as SQL, and sg_run_status_active's test. */
#define ACTIVE "ARRAY['pending', 'running', 'waiting']"

bool
sg_run_status_active(const char *status)
{
	return strcmp(status, "pending") == 0 || strcmp(status, "running") == 0 || strcmp(status, "waiting") == 0;
}

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
	bool		has_last_step;	/* a left step's run still at that step (sg_submit_for_owner) */
	int			last_step;		/* the last step the limit of the call that left it allows */
	char	   *owner;
	bool		stepped;
	char	   *stop_request;
	bool		stop_gen_known; /* stop_request was read after stop_gen (sg_stop_generation) */
	uint64		stop_gen;
	int			recoveries;		/* claims that found it running: its executor had died */
	bool		recovered;		/* this claim found it running */
	bool		has_graph_gen;	/* false: a row sg_submit did not write (any graph of the name) */
	int64		graph_gen;		/* graphs.gen of the graph it was submitted for */
	bool		foreign;		/* its role may not act on its thread (sg_run_may_not_act) */
} RunRow;

/* Run a statement with a plan kept per backend in *plan (spi.c); returns rows processed. */
static uint64
run_sql(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	return sg_spi_execute(sg_spi_prepare(plan, sql, nargs, types), values, nulls, 0);
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

/*
 * Serialize submits to one thread (multitask decisions) until the end of
 * the transaction. The lock is the thread's and its owner's (as far as this
 * role can see: the owner of a thread it can read, else itself): the
 * submits that decide together are those of the roles that may act on the
 * thread, and a role submitting under another role's thread id, inside a
 * transaction it keeps open, holds up nobody's submits but its own.
 *
 * It is the row lock of the key's row in stategraph.submit_locks, taken by
 * the one statement that looks the owner up: the insert of a new key waits
 * for a concurrent inserter of the same key, and ON CONFLICT DO UPDATE
 * locks an existing row even though its WHERE false updates nothing. A
 * row lock takes no entry of the shared lock table, so one transaction may
 * submit to any number of threads.
 *
 * The owner's name is held first (reassign.c), against sg_reassign_owned:
 * it waits for this submit to commit, or this submit waits for it and
 * then reads the owner's name again (a rename committed with the
 * reassign): keyed by the old name while another submit took the new one,
 * both passed the multitask rule. Held before the key, so that no rename
 * of the owner commits while the submit waits for its key's row (whose
 * old name row-level security would then refuse). The key's statement
 * reads the owner again, and is run again until it reads a name held
 * before it began: the first read may be stale (a reassign that committed
 * between it and the hold was not waited for), and so may the key's read
 * of a new name before its hold (a second reassign). sg_delete_thread
 * takes it too (retention.c: it cancels the runs queued on the thread).
 * Returns whether it waited for a reassign: what the caller read before
 * may have changed with it (sg_submit reads its graph again).
 */
bool
sg_lock_thread_submits(const char *thread_id, bool may_wait)
{
	static SPIPlanPtr owner_plan;
	static SPIPlanPtr plan;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(thread_id)};
	bool		waited = false;

#define THREAD_SUBMIT_OWNER \
	"COALESCE((SELECT t.owner FROM stategraph.threads t WHERE t.thread_id OPERATOR(pg_catalog.=) $1), CURRENT_USER)"
	for (;;)
	{
		run_sql(&owner_plan, "SELECT " THREAD_SUBMIT_OWNER "::pg_catalog.text", 1, types, values, NULL);
		if (!sg_role_hold(sg_spi_text(0, 1), may_wait))
			break;
		waited = true;
	}
	for (;;)
	{
		run_sql(&plan,
				"WITH o AS (SELECT " THREAD_SUBMIT_OWNER " AS owner), "
				"k AS (INSERT INTO stategraph.submit_locks (owner, kind, graph, name) "
				"  SELECT o.owner, 't', '', $1 FROM o "
				"  ON CONFLICT (owner, kind, name, graph) DO UPDATE SET kind = EXCLUDED.kind WHERE false) "
				"SELECT o.owner::pg_catalog.text FROM o",
				1, types, values, NULL);
		/* a name held before the statement began is the thread's until commit */
		if (sg_role_held(sg_spi_text(0, 1)))
			break;
		if (sg_role_hold(sg_spi_text(0, 1), may_wait))
			waited = true;
	}
#undef THREAD_SUBMIT_OWNER
	return waited;
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
	if (*after && sg_interval_negative(*after))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("after must not be negative")));
	if (*after)
		sg_check_interval_range(*after, false, "after");
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

/*
 * Serialize the submits of one idempotency key (of this role and graph)
 * until the end of the transaction, before anything else is decided: a
 * submit that waits for its twin's commit then finds its run and returns
 * it having changed nothing. Without it, a twin naming another thread
 * applied its multitask rule there (cancelling or stopping that thread's
 * run) before its insert met the first one's key. A row lock, as the
 * thread's (sg_lock_thread_submits).
 */
static void
lock_key_submits(const char *graph, const char *key)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(graph), CStringGetTextDatum(key)};

	run_sql(&plan,
			"INSERT INTO stategraph.submit_locks (owner, kind, graph, name) VALUES (CURRENT_USER, 'k', $1, $2) "
			"ON CONFLICT (owner, kind, name, graph) DO UPDATE SET kind = EXCLUDED.kind WHERE false",
			2, types, values, NULL);
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
 * Refuse a submit under multitask (not 'enqueue') to a thread with an
 * active run the caller cannot see (thread_ids.c): one submitted by another
 * role that may act on the thread (a member's run on its parent's thread).
 * The thread has one active run whoever submitted it, so 'reject' refuses
 * as for a run it sees; 'interrupt' and 'rollback' cannot stop a run whose
 * row row-level security keeps them from changing, and refuse rather than
 * start a second writer. Nothing of that run is told: not its id, input or
 * status.
 */
static void
refuse_hidden_run(const char *thread_id, const char *multitask)
{
	if (!sg_thread_has_hidden_run(thread_id))
		return;
	if (strcmp(multitask, "reject") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_SG_RUN_REJECTED),
				 errmsg("thread \"%s\" already has an active run", thread_id),
				 errdetail("The run was submitted by another role, whose runs this role cannot see."),
				 errhint("Submit with multitask => 'enqueue' to run after it.")));
	ereport(ERROR,
			(errcode(ERRCODE_SG_RUN_NOT_STOPPABLE),
			 errmsg("thread \"%s\" has an active run this role cannot stop", thread_id),
			 errdetail("The run was submitted by another role, whose runs this role cannot see or change."),
			 errhint("Submit with multitask => 'enqueue' to run after it, or have the role that submitted it "
					 "cancel it with sg_cancel().")));
}

/*
 * Apply the multitask rule to the active runs of a thread: reject, or stop
 * them (pending ones are cancelled at once, running ones at their next
 * step boundary); runs of other roles the caller cannot see refuse the
 * submit (refuse_hidden_run).
 */
static void
apply_multitask(const char *thread_id, const char *multitask)
{
	static SPIPlanPtr active_plan;
	static SPIPlanPtr lock_plan;
	static SPIPlanPtr cancel_plan;
	static SPIPlanPtr stop_plan;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(thread_id), CStringGetTextDatum(multitask)};
	bool		visible;

	if (strcmp(multitask, "enqueue") == 0)
		return;
	visible = run_sql(&active_plan,
					  "SELECT run_id, status FROM stategraph.runs WHERE thread_id OPERATOR(pg_catalog.=) $1 "
					  "AND status OPERATOR(pg_catalog.=) ANY (" ACTIVE ") ORDER BY seq LIMIT 1",
					  1, types, values, NULL) > 0;
	if (visible && strcmp(multitask, "reject") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_SG_RUN_REJECTED),
				 errmsg("thread \"%s\" already has an active run", thread_id),
				 errdetail("Run %s is %s.", sg_spi_text(0, 1), sg_spi_text(0, 2)),
				 errhint("Submit with multitask => 'enqueue' to run after it, or 'interrupt' or "
						 "'rollback' to stop it first.")));
	refuse_hidden_run(thread_id, multitask);
	if (!visible)
		return;
	/* the rows in seq order first, as sg_reassign_owned takes them (two statements: any order) */
	run_sql(&lock_plan,
			"SELECT FROM stategraph.runs WHERE thread_id OPERATOR(pg_catalog.=) $1 "
			"AND status OPERATOR(pg_catalog.=) ANY (" ACTIVE ") ORDER BY seq FOR NO KEY UPDATE",
			1, types, values, NULL);
	/* a pending run that has taken steps (its external tasks are done) is stopped as a running one */
	run_sql(&cancel_plan,
			"UPDATE stategraph.runs SET status = 'cancelled', finished_at = pg_catalog.now() "
			"WHERE thread_id OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'pending' AND NOT stepped",
			1, types, values, NULL);
	/*
	 * One pending after a failure is stopped now, as sg_cancel does, not
	 * after its backoff (up to a minute), and so is one already asked to
	 * stop: the new run waited for it (TAP 082). Its request stays, unless
	 * this one is a rollback (a run asked to interrupt is rolled back too,
	 * as sg_cancel(run, 'rollback') after an interrupt does).
	 */
	run_sql(&stop_plan,
			"UPDATE stategraph.runs SET stop_request = CASE WHEN $2 OPERATOR(pg_catalog.=) 'rollback' "
			"  THEN $2 ELSE COALESCE(stop_request, $2) END, "
			"status = CASE WHEN status OPERATOR(pg_catalog.=) 'waiting' THEN 'pending' ELSE status END, "
			"not_before = CASE WHEN status OPERATOR(pg_catalog.=) 'pending' "
			"  THEN LEAST(not_before, pg_catalog.clock_timestamp()) ELSE not_before END "
			"WHERE thread_id OPERATOR(pg_catalog.=) $1 "
			"AND (status OPERATOR(pg_catalog.=) ANY (ARRAY['running', 'waiting']) "
			"  OR (status OPERATOR(pg_catalog.=) 'pending' AND stepped))",
			2, types, values, NULL);
	if (SPI_processed > 0)
	{
		sg_run_stop_asked_at_commit();
		sg_runs_requeued_at_commit();	/* a waiting run is pending again */
	}
	sg_run_done_at_commit();
}

/*
 * Refuse a resume of thread th that has nothing to answer (no interrupt at
 * its head, or at the checkpoint travelled back to), as the run would when
 * it starts (55000, the error of sg_invoke): refused now, nothing queued.
 * Only when the thread has no active or queued run, of any role: a run
 * before this one (multitask 'enqueue', 'interrupt', 'rollback') may still
 * pause the thread, and then the resume answers it.
 */
static void
check_resume(SGThread *th, FunctionCallInfo fcinfo)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(th->thread_id)};
	SGCheckpoint *cp;
	bool		at_head;

	if (PG_ARGISNULL(4) || !th->has_head)
		return;
	if (run_sql(&plan,
				"SELECT 1 FROM stategraph.runs WHERE thread_id OPERATOR(pg_catalog.=) $1 "
				"AND status OPERATOR(pg_catalog.=) ANY (" ACTIVE ") LIMIT 1",
				1, types, values, NULL) > 0 || sg_thread_has_hidden_run(th->thread_id))
		return;
	at_head = PG_ARGISNULL(3) || memcmp(PG_GETARG_UUID_P(3), &th->head, sizeof(pg_uuid_t)) == 0;
	cp = sg_checkpoint_fetch_required(th->thread_id, at_head ? &th->head : PG_GETARG_UUID_P(3));
	sg_check_resumable(cp, at_head, th, _("No run was queued."));
}

/*
 * Insert the run row (when it is due into *due); returns false if an
 * idempotent twin committed meanwhile. after counts from this call, not
 * from the start of its transaction (now()): a run submitted with after =>
 * '1 minute' in a transaction open for a minute was due as it committed.
 * Without after, the run is due from now(), as a run due at once is
 * recognized (sg_complete: not_before <= now(), tasks.c).
 */
static bool
insert_run(FunctionCallInfo fcinfo, pg_uuid_t *id, const char *thread_id, const char *graph,
		   int64 graph_gen, const char *multitask, Interval *after, TimestampTz *due)
{
	static SPIPlanPtr plan;
	Oid			types[11] = {UUIDOID, TEXTOID, TEXTOID, JSONBOID, UUIDOID, JSONBOID, INT4OID,
	TEXTOID, INTERVALOID, TEXTOID, INT8OID};
	Datum		values[11];
	char		nulls[11];
	Interval	zero = {0, 0, 0};
	bool		inserted;

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
	values[10] = Int64GetDatum(graph_gen);
	sg_submitting_run = true;	/* not a restore's rows (restore.c) */
	PG_TRY();
	{
		inserted = run_sql(&plan,
						   "INSERT INTO stategraph.runs (run_id, thread_id, graph, input, checkpoint_id, resume, "
						   "recursion_limit, multitask, not_before, idempotency_key, graph_gen) "
						   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
						   "CASE WHEN $9 OPERATOR(pg_catalog.=) '0'::pg_catalog.interval THEN pg_catalog.now() "
						   "ELSE " SG_UTC_SHIFT("pg_catalog.clock_timestamp()", "+", "$9") " END, $10, $11) "
						   "ON CONFLICT (owner, graph, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING "
						   "RETURNING not_before",
						   11, types, values, nulls) == 1;
		if (inserted)
		{
			bool		isnull;

			*due = DatumGetTimestampTz(sg_spi_datum(0, 1, &isnull));
		}
	}
	PG_FINALLY();
	{
		sg_submitting_run = false;
	}
	PG_END_TRY();
	return inserted;
}

/* The call of sg_submit_for_owner, in its subtransaction. */
typedef struct OwnerSubmit
{
	const char *graph;
	const char *thread_id;
	const int64 *gen;			/* the generation of the step's graph; NULL: not known */
	const SGLeftLimit *limit;	/* the limit the step counts on; NULL: a fresh 25 */
} OwnerSubmit;

static bool
submit_call(void *arg)
{
	OwnerSubmit *o = (OwnerSubmit *) arg;
	Oid			types[3] = {TEXTOID, TEXTOID, INT4OID};
	Datum		values[3] = {CStringGetTextDatum(o->graph), CStringGetTextDatum(o->thread_id),
	Int32GetDatum(o->limit ? o->limit->recursion_limit : SG_DEFAULT_RECURSION_LIMIT)};

	/*
	 * (rare: planned each time, in the extension's schema as it is now).
	 * Every argument typed, so that only sg_submit itself matches: with an
	 * untyped NULL, a role that may create functions in that schema could
	 * have its own sg_submit(text, text, ...) chosen, and run as the owner.
	 */
	bool		isnull;
	Datum		run_id;
	Datum		gen;

	(void) sg_spi_run(psprintf("SELECT %s.sg_submit($1, NULL::pg_catalog.jsonb, $2, NULL::pg_catalog.uuid, "
							   "NULL::pg_catalog.jsonb, $3, 'enqueue'::pg_catalog.text, NULL::pg_catalog.interval, "
							   "NULL::pg_catalog.text)", ext_schema()),
					  3, types, values, NULL);
	run_id = sg_spi_datum(0, 1, &isnull);

	/*
	 * The step goes on as sg_complete would have gone on with it
	 * (tasks.c, run_continued_step): counting the limit of the call that
	 * left the thread waiting on from where that call began, which the run's
	 * own start (the thread's head) cannot say (execute_run)
	 */
	if (o->limit != NULL && !isnull)
	{
		Oid			ltypes[3] = {UUIDOID, INT4OID, UUIDOID};
		Datum		lvalues[3] = {run_id, Int32GetDatum(o->limit->last_step),
		UUIDPGetDatum(&o->limit->head)};

		(void) sg_spi_run("UPDATE stategraph.runs SET last_step = $2, left_head = $3 "
						  "WHERE run_id OPERATOR(pg_catalog.=) $1",
						  3, ltypes, lvalues, NULL);
	}
	if (o->gen == NULL)
		return true;

	/*
	 * The run goes on with the graph its submit found under the name: it
	 * must be the one whose step queued the tasks. A graph dropped and
	 * created again since (by any role) would have run its functions on the
	 * owner's thread as the owner (TAP 250), where a queued run or a task
	 * of the old graph is refused (newcomer_runs, SG011).
	 */
	types[0] = UUIDOID;
	if (isnull || sg_spi_run("SELECT r.graph_gen FROM stategraph.runs r WHERE r.run_id OPERATOR(pg_catalog.=) $1",
							 1, types, &run_id, NULL) != 1 ||
		(gen = sg_spi_datum(0, 1, &isnull), isnull) || DatumGetInt64(gen) != *o->gen)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("graph \"%s\" was dropped and created again since the step of thread \"%s\" was left",
						o->graph, o->thread_id),
				 errdetail("The step's tasks were queued by another graph of that name; "
						   "the step does not go on with this one's nodes.")));
	return true;
}

/*
 * Act as role, a run's submitter or a thread's owner, who cannot SET ROLE
 * back, nor leave session state behind for the work of other roles this
 * session does next (security-restricted: no temporary objects, LISTEN,
 * PREPARE, cursors WITH HOLD), with the search path of all done as the
 * submitter (worker.c, sg_worker_search_path). act_as_before goes back.
 */
static void
act_as_submitter(Oid role, Oid *save_user, int *save_sec)
{
	GetUserIdAndSecContext(save_user, save_sec);
	SetUserIdAndSecContext(role, *save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	sg_worker_search_path(true);
}

static void
act_as_before(Oid save_user, int save_sec)
{
	SetUserIdAndSecContext(save_user, save_sec);
	sg_worker_search_path(false);
}

/*
 * The value of setting name=... that the database sets (ALTER DATABASE ...
 * SET, or for every database with ALTER ROLE ALL ... SET when db is
 * InvalidOid), or NULL.
 */
static char *
database_setting(Oid db, const char *name)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {OIDOID, TEXTOID};
	Datum		values[2] = {ObjectIdGetDatum(db), CStringGetTextDatum(psprintf("%s=", name))};

	if (sg_spi_execute(sg_spi_prepare(&plan,
									  "SELECT pg_catalog.substr(c, pg_catalog.length($2) OPERATOR(pg_catalog.+) 1) "
									  "FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) c "
									  "WHERE s.setdatabase OPERATOR(pg_catalog.=) $1 AND s.setrole OPERATOR(pg_catalog.=) 0 "
									  "AND pg_catalog.starts_with(c, $2)",
									  2, types),
					   values, NULL, 1) == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * The search path of a step that goes on as the thread's owner in the
 * completer's session (tasks.c, continue_step): the database's, as a
 * background run of the owner has it (worker.c, sg_worker_search_path),
 * never one the completer chose (SET, its connection's options, its own
 * ALTER ROLE ... SET), with the completer's temporary schema searched last. With the completer's path,
 * a BYPASSRLS worker that is no member of the owner had a table, view or
 * function of its own (or a temporary table, searched first) take the
 * place of one the owner's node names unqualified: its trigger or function
 * ran as the owner, a superuser's thread's as a superuser (TAP
 * 303_complete_owner_search_path). The session's reset value is the
 * database's when no source above the database's set it; else the
 * database's setting is read, else the built-in default (a path set in
 * postgresql.conf is then not known here).
 */
char *
sg_owner_step_search_path(void)
{
	struct config_generic **vars = get_guc_variables();
	int			n = GetNumConfigOptions();
	const char *base = NULL;
	const char *boot = "\"$user\", public";
	char	   *raw;
	List	   *names;
	ListCell   *lc;
	StringInfoData buf;
	int			i;

	for (i = 0; i < n; i++)
		if (strcmp(vars[i]->name, "search_path") == 0)
		{
			struct config_string *sp = (struct config_string *) vars[i];

			boot = sp->boot_val;
			if (sp->gen.reset_source <= PGC_S_DATABASE)
				base = sp->reset_val;
			break;
		}
	if (base == NULL)
		base = database_setting(MyDatabaseId, "search_path");
	if (base == NULL)
		base = database_setting(InvalidOid, "search_path");
	if (base == NULL)
		base = boot;
	raw = pstrdup(base);
	initStringInfo(&buf);
	if (SplitIdentifierString(raw, ',', &names))
		foreach(lc, names)
		{
			const char *name = (const char *) lfirst(lc);

			if (strcmp(name, "pg_temp") == 0 || strncmp(name, "pg_temp_", 8) == 0)
				continue;
			appendStringInfo(&buf, "%s, ", quote_identifier(name));
		}
	appendStringInfoString(&buf, "pg_temp");
	return buf.data;
}

/*
 * The boot value of setting v as text, or NULL (a string without one).
 */
static const char *
boot_value(struct config_generic *v)
{
	switch (v->vartype)
	{
		case PGC_BOOL:
			return ((struct config_bool *) v)->boot_val ? "on" : "off";
		case PGC_INT:
			return psprintf("%d", ((struct config_int *) v)->boot_val);
		case PGC_REAL:
			return psprintf("%.17g", ((struct config_real *) v)->boot_val);
		case PGC_STRING:
			return ((struct config_string *) v)->boot_val;
		case PGC_ENUM:
			return config_enum_lookup_by_value((struct config_enum *) v, ((struct config_enum *) v)->boot_val);
	}
	return NULL;
}

/*
 * The settings of the completer's session as the owner's step sees them
 * (at the step's GUC nest level), as a background run of the owner would
 * have them:
 *  - custom settings no module defines (placeholders: SET app.tenant = ...,
 *    request.jwt.claims) that the session set above the database's have
 *    the database's value (the session's reset value when no source above
 *    the database's set it, else its ALTER DATABASE or ALTER ROLE ALL
 *    setting), else an empty one. Such settings are often what a
 *    row-level security policy or a function goes by: a worker serving
 *    two tenants that had set the other's ran the owner's nodes reading
 *    the other tenant's rows, and they read whatever the completer kept
 *    there;
 *  - settings only a superuser may change (session_replication_role =
 *    replica skips the owner's triggers and foreign keys, and
 *    stategraph's checks on its tables; lo_compat_privileges = on opens
 *    every large object) that the session changed above the database's are
 *    reset (to the session's reset value when no source above the
 *    database's set it, else to the built-in default): a superuser worker's
 *    privileges, not the owner's.
 * (TAP 302_complete_as_owner_session.) For the step sg_complete goes on
 * with as the thread's owner (tasks.c, continue_step), and for the steps
 * CALL sg_work executes as another role (execute_run).
 */
void
sg_hide_session_settings(void)
{
	struct config_generic **vars = get_guc_variables();
	int			n = GetNumConfigOptions();
	List	   *names = NIL;
	List	   *values = NIL;
	List	   *placeholders = NIL;
	ListCell   *ln,
			   *lv,
			   *lp;
	int			i;

	for (i = 0; i < n; i++)
	{
		struct config_generic *v = vars[i];
		bool		placeholder = (v->flags & GUC_CUSTOM_PLACEHOLDER) != 0 && v->vartype == PGC_STRING;
		const char *value;

		if (v->source <= PGC_S_DATABASE || (v->flags & GUC_NOT_WHILE_SEC_REST) ||
			(!placeholder && v->context != PGC_SUSET))
			continue;
		if (v->reset_source <= PGC_S_DATABASE)
		{
			/* (a string's reset value may be NULL, a placeholder's say) */
			if (v->vartype == PGC_STRING)
				value = ((struct config_string *) v)->reset_val;
			else
				value = GetConfigOptionResetString(v->name);
		}
		else
			value = placeholder ? NULL : boot_value(v);
		if (value == NULL && !placeholder)
			continue;
		names = lappend(names, pstrdup(v->name));
		values = lappend(values, value ? pstrdup(value) : NULL);
		placeholders = lappend_int(placeholders, placeholder);
	}
	forthree(ln, names, lv, values, lp, placeholders)
	{
		const char *name = (const char *) lfirst(ln);
		const char *value = (const char *) lfirst(lv);

		if (value == NULL && lfirst_int(lp))
		{
			value = database_setting(MyDatabaseId, name);
			if (value == NULL)
				value = database_setting(InvalidOid, name);
			if (value == NULL)
				value = "";
		}
		(void) set_config_option(name, value, lfirst_int(lp) ? PGC_USERSET : PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
}

/*
 * Queue a background run of thread_id that goes on from its head, as role
 * owner (the thread's owner, whose the step's tasks are) would
 * with sg_submit(graph, NULL, thread_id, multitask => 'enqueue'): the same
 * checks (a role that may no longer execute the
 * graph's functions gets no run), as that role, in a security-restricted
 * operation (the caller is a worker, a superuser, or CALL sg_work's
 * caller, a member of the owner: row-level security shows it no other
 * thread). For the steps a task's completion could not go on with (tasks.c,
 * sg_tasks_continue_left). OWNER_RETRY if it could not for now (a lock
 * another transaction holds, sg_reassign_owned's on the role say, a
 * deadlock or a serialization failure); OWNER_REFUSED, and a LOG line, if
 * it could not at all: the thread then waits for sg_invoke(graph, NULL,
 * thread). gen (NULL: not known) is the generation of the graph whose step
 * queued the tasks: a run of another graph of that name is not queued.
 * limit (NULL: a fresh limit of 25 from the head) is the recursion limit
 * the step would have counted had the completion gone on with it: the run
 * counts it on, the outcome the same either way.
 */
SGOwnerSubmit
sg_submit_for_owner(const char *graph, const char *thread_id, const char *owner, const int64 *gen,
					const SGLeftLimit *limit)
{
	Oid			role = get_role_oid(owner, true);
	Oid			save_user;
	int			save_sec;
	OwnerSubmit o = {graph, thread_id, gen, limit};
	ErrorData  *edata;

	if (!OidIsValid(role))
		return OWNER_REFUSED;	/* a dropped role's thread: nobody to run it as */
	act_as_submitter(role, &save_user, &save_sec);	/* its submit fires the database's triggers, as a run does */
	edata = sg_spi_subxact(submit_call, &o);
	act_as_before(save_user, save_sec);
	if (edata == NULL)
		return OWNER_SUBMITTED;
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		ReThrowError(edata);
	if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
		ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_TRANSACTION_ROLLBACK)
	{
		FreeErrorData(edata);
		return OWNER_RETRY;
	}
	ereport(LOG,
			(errmsg("could not continue the step of thread \"%s\" that its last task left: %s",
					thread_id, edata->message),
			 errdetail("The thread waits for sg_invoke(graph, NULL, thread) as role \"%s\".", owner)));
	FreeErrorData(edata);
	return OWNER_REFUSED;
}

/*
 * Key-share-lock the checkpoint a run is submitted to start from (time
 * travel) until commit. sg_prune keeps it once it sees the run
 * (RUN_START_KEPT in retention.c); a prune of this thread alone takes the
 * thread's submit lock for that, but sg_prune of every thread takes no
 * submit lock (a row it would have to insert, waiting for a submit that
 * is inserting it, or in a subtransaction per thread, each holding an
 * entry of the shared lock table until commit). It locks the checkpoints
 * it removes without waiting instead, and passes over a thread one of
 * whose checkpoints this lock holds; a submit that comes while it holds
 * them waits for its commit here, and then finds the checkpoint gone
 * (42704, sg_checkpoint_fetch_required). Without it the run was queued
 * from a checkpoint the prune removed, and failed with 42704 when it
 * started (isolation pruneall_submit_race). FOR KEY SHARE: a prune's or
 * a fork's update of the row (an image, references) does not wait for it.
 */
static void
lock_start_checkpoint(const char *thread_id, pg_uuid_t *id)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {TEXTOID, UUIDOID};
	Datum		values[2] = {CStringGetTextDatum(thread_id), UUIDPGetDatum(id)};

	run_sql(&plan,
			"SELECT 1 FROM stategraph.checkpoints WHERE thread_id OPERATOR(pg_catalog.=) $1 "
			"AND checkpoint_id OPERATOR(pg_catalog.=) $2 FOR KEY SHARE",
			2, types, values, NULL);
}

/*
 * Refuse a submit from checkpoint id of a thread whose active run wrote it
 * and is to be rolled back (asked to by sg_cancel or an earlier submit, or
 * by this one: apply_multitask ran first). The rollback removes the
 * checkpoints the run wrote, those after its start_head (roll_back_thread):
 * the run was queued from a checkpoint about to go, and failed with 42704
 * when it started (isolation mt_rollback_start). Read after the thread's
 * submit lock, which every request of a rollback takes (apply_multitask,
 * sg_cancel): none commits before this submit does. Read under the latest
 * snapshot: a REPEATABLE READ one from before the lock missed a request
 * committed since. The run is not locked: its executor holds its row for
 * a whole step.
 */
static void
refuse_rolled_back_start(const char *thread_id, pg_uuid_t *id)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {TEXTOID, UUIDOID};
	Datum		values[2] = {CStringGetTextDatum(thread_id), UUIDPGetDatum(id)};

	if (sg_spi_execute_latest(sg_spi_prepare(&plan,
											 "SELECT run_id FROM stategraph.runs WHERE thread_id OPERATOR(pg_catalog.=) $1 "
											 "AND status OPERATOR(pg_catalog.=) ANY (" ACTIVE ") AND stepped "
											 "AND stop_request OPERATOR(pg_catalog.=) 'rollback' "
											 "AND (start_head IS NULL OR $2 OPERATOR(pg_catalog.>) start_head) LIMIT 1",
											 2, types), values, NULL) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("checkpoint %s of thread \"%s\" is being rolled back", sg_uuid_to_cstring(id), thread_id),
				 errdetail("Run %s wrote it and is to be rolled back, which removes it.", sg_spi_text(0, 1)),
				 errhint("Submit from a checkpoint of the thread from before that run.")));
}

/*
 * Refuse a submit without input and from no checkpoint (a resume, or a run
 * going on from the thread's head) whose thread's active runs are all to be
 * rolled back (asked by sg_cancel, an earlier submit, or this one's
 * multitask 'rollback'): the thread is then to stand where the run being
 * rolled back started, known now. check_resume lets any submit behind an
 * active run through, as the run may pause the thread; this one was queued
 * and failed when it started, with 42704 for a thread that run created
 * (the rollback deletes it) and with 55000 for a resume of a thread that
 * had nothing to resume before that run. A run to start from a checkpoint
 * is refuse_rolled_back_start's. Read after apply_multitask and under the
 * thread's submit lock, under the latest snapshot as that one reads. A run
 * queued that may still pause the thread, or one the caller cannot see,
 * leaves it to the run.
 */
static void
refuse_resume_rolled_back(SGThread *th, FunctionCallInfo fcinfo)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(th->thread_id)};
	uint64		n;
	uint64		i;
	bool		isnull;
	pg_uuid_t	start_head;
	bool		has_start_head;
	char	   *run_id;
	char	   *start_status;
	SGThread	then;

	if (!PG_ARGISNULL(1) || !PG_ARGISNULL(3))
		return;
	n = sg_spi_execute_latest(sg_spi_prepare(&plan,
											 "SELECT run_id, start_status, start_head, "
											 "(stepped OR status OPERATOR(pg_catalog.=) 'running') "
											 "AND COALESCE(stop_request OPERATOR(pg_catalog.=) 'rollback', false) "
											 "FROM stategraph.runs WHERE thread_id OPERATOR(pg_catalog.=) $1 "
											 "AND status OPERATOR(pg_catalog.=) ANY (" ACTIVE ") ORDER BY seq",
											 1, types), values, NULL);
	if (n == 0)
		return;
	for (i = 0; i < n; i++)
		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4, &isnull)))
			return;
	/*
	 * (one run of a thread has begun: the first, stepped, or running its
	 * first node step, a run without input, mark_claimed; the others are
	 * queued)
	 */
	run_id = sg_spi_text(0, 1);
	start_status = sg_spi_text(0, 2);
	has_start_head = sg_spi_uuid(0, 3, &start_head);
	if (sg_thread_has_hidden_run(th->thread_id))
		return;
	if (start_status == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("thread \"%s\" is being rolled back", th->thread_id),
				 errdetail("Run %s created it and is to be rolled back, which deletes it; no run was queued.", run_id),
				 errhint("Submit with an input to start the thread anew.")));
	if (PG_ARGISNULL(4) || !has_start_head)
		return;
	then = *th;
	then.status = start_status;
	then.head = start_head;
	sg_check_resumable(sg_checkpoint_fetch_required(th->thread_id, &start_head), true, &then,
					   psprintf(_("Run %s is to be rolled back, which puts the thread back where it started. No run was queued."),
								run_id));
}

/*
 * Refuse a submit to a thread id that has no thread yet but an active run
 * of another graph queued before this one (not started, say delayed with
 * after): that run creates the thread as its graph's, and this one failed
 * as it started (22023, "thread ... belongs to graph ..."), as a submit to
 * an existing thread of another graph is refused now. Read once the
 * multitask rule is applied: a run it cancelled creates nothing. Runs the
 * caller cannot see are left to fail so.
 */
static void
refuse_other_graph_queued(const char *thread_id, const char *graph)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(thread_id), CStringGetTextDatum(graph)};

	if (run_sql(&plan,
				"SELECT run_id, graph FROM stategraph.runs WHERE thread_id OPERATOR(pg_catalog.=) $1 "
				"AND status OPERATOR(pg_catalog.=) ANY (" ACTIVE ") AND graph OPERATOR(pg_catalog.<>) $2 "
				"ORDER BY seq LIMIT 1",
				2, types, values, NULL) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("thread \"%s\" is to belong to graph \"%s\", not \"%s\"", thread_id, sg_spi_text(0, 2), graph),
				 errdetail("Run %s, queued on the thread before this one, creates it.", sg_spi_text(0, 1)),
				 errhint("Submit to another thread, or cancel that run first.")));
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
	int64		graph_gen;
	pg_uuid_t  *id;
	TimestampTz due = 0;
	bool		may_wait;

	check_submit_args(fcinfo, &multitask, &after);
	sg_prevent_write("sg_submit");
	may_wait = sg_role_hold_may_wait();
	sg_spi_connect();
	/* the run's owner, held against a reassign of it until commit (reassign.c) */
	sg_role_hold_current(may_wait);
	g = sg_graph_get(graph);
	graph_gen = g->gen;			/* the graph this submit saw: its run runs no other (sg_graph_get_gen) */
	sg_graph_check_privileges(g);
	if (!PG_ARGISNULL(1))
		sg_check_update(g, "input", PG_GETARG_JSONB_P(1));
	if (key)
		lock_key_submits(graph, key);
	/*
	 * The graph was read and checked before the thread's owner was held: a
	 * reassign that this submit waited for gave it (and the graph, if the
	 * same role's) to another role, whose functions' bindings it may break
	 * (a node bound to a renamed owner). Read and checked again, so that
	 * such a submit is refused as one made after the reassign is, instead
	 * of queueing a run that fails as it starts (TAP 323).
	 */
	if (thread_id && sg_lock_thread_submits(thread_id, may_wait))
	{
		g = sg_graph_get(graph);
		graph_gen = g->gen;
		sg_graph_check_privileges(g);
	}
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
		/*
		 * refused now, not by the run (thread_ids.c): resuming a LangGraph.js
		 * thread, or starting one under another role's id or a LangGraph.js
		 * thread's
		 */
		if (th == NULL && (PG_ARGISNULL(1) || !PG_ARGISNULL(3)))
			sg_refuse_lg_thread(thread_id);
		if (th == NULL)
			sg_thread_id_check_new(thread_id, false);
		if (th == NULL && (PG_ARGISNULL(1) || !PG_ARGISNULL(3)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("thread \"%s\" does not exist", thread_id),
					 !PG_ARGISNULL(3) ? errhint(SG_HINT_CHECKPOINT_OF_NO_THREAD) : errhint("Start it with an input.")));
		/* time travel: the checkpoint must be the thread's, as sg_invoke checks (nothing queued otherwise) */
		if (th != NULL && !PG_ARGISNULL(3))
		{
			lock_start_checkpoint(thread_id, PG_GETARG_UUID_P(3));
			(void) sg_checkpoint_fetch_required(thread_id, PG_GETARG_UUID_P(3));
		}
		/*
		 * the resume checked once the multitask rule is applied: a run not
		 * started yet that it cancels ('interrupt', 'rollback') cannot pause
		 * the thread, and let a resume with nothing to answer be queued
		 * behind nothing, having cancelled that run (pg_regress
		 * submit_resume_multitask)
		 */
		apply_multitask(thread_id, multitask);
		if (th != NULL)
			check_resume(th, fcinfo);
		else
			refuse_other_graph_queued(thread_id, graph);
		if (th != NULL && !PG_ARGISNULL(3))
			refuse_rolled_back_start(thread_id, PG_GETARG_UUID_P(3));
		if (th != NULL)
			refuse_resume_rolled_back(th, fcinfo);
	}
	id = palloc(sizeof(pg_uuid_t));
	sg_new_checkpoint_id(id, NULL, NULL);
	if (!thread_id)
		thread_id = sg_uuid_to_cstring(id);	/* a run of its own thread, readable afterwards */
	if (insert_run(fcinfo, id, thread_id, graph, graph_gen, multitask, after, &due))
		sg_run_queued_at_commit(due);	/* claims find it (worker.c, claim_from) */
	else
	{
		id = find_idempotent(graph, key);
		sg_wake_workers_at_commit();
	}
	sg_spi_finish();
	if (after && !(after->time == 0 && after->day == 0 && after->month == 0))
		sg_run_delayed_at_commit();
	PG_RETURN_UUID_P(id);
}

/*
 * stategraph.run_status_check(status): sg_runs's check of its status filter.
 * NULL (no filter) and the statuses a run can have pass; anything else is an
 * error, as sg_tasks's unknown status is, rather than an empty list that
 * hides a typo.
 */
Datum
run_status_check(PG_FUNCTION_ARGS)
{
	static const char *const statuses[] = {"pending", "running", "waiting", "interrupted",
	"success", "error", "cancelled"};
	char	   *status;

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(true);
	status = text_to_cstring(PG_GETARG_TEXT_PP(0));
	for (size_t i = 0; i < lengthof(statuses); i++)
		if (strcmp(status, statuses[i]) == 0)
			PG_RETURN_BOOL(true);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown run status \"%s\"", status),
			 errhint("A run is pending, running, waiting, interrupted, success, error or cancelled.")));
	PG_RETURN_BOOL(false);		/* not reached */
}

/* ---------------------------------------------------------------------------
 * sg_wait and sg_cancel
 * ---------------------------------------------------------------------------
 */

/*
 * The sg_run row of a run (as tupdesc), whether it is still active, and
 * whether this transaction wrote the row (submitted or changed the run, so
 * that no worker can go on with it before the commit) or the row of its
 * thread (sg_invoke, sg_update_state...: the row stays locked until the
 * commit, and the run's next step waits for it); errors if unknown. Its
 * thread id too when thread_id is not NULL (NULL if the run has none).
 */
static Datum
fetch_run(pg_uuid_t *id, TupleDesc tupdesc, bool *active, bool *ours, bool *ours_thread, char **thread_id)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(id)};
	Datum		row[10];
	bool		nulls[10];
	char	   *status;
	bool		isnull;
	int			i;

	if (run_sql(&plan,
				"SELECT r.run_id, r.thread_id, r.graph, r.status, r.multitask, r.attempt, "
				"r.error, r.created_at, r.started_at, r.finished_at, r.xmin, (SELECT t.xmin FROM stategraph.threads t "
				"  WHERE t.thread_id OPERATOR(pg_catalog.=) r.thread_id) FROM stategraph.runs r "
				"WHERE r.run_id OPERATOR(pg_catalog.=) $1",
				1, types, values, NULL) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run %s does not exist", sg_uuid_to_cstring(id)),
				 errhint("sg_runs() lists the runs you can see; finished runs expire after stategraph.run_retention.")));
	status = sg_spi_text(0, 4);
	*active = sg_run_status_active(status);
	*ours = TransactionIdIsCurrentTransactionId(DatumGetTransactionId(sg_spi_datum(0, 11, &isnull)));
	*ours_thread = TransactionIdIsCurrentTransactionId(DatumGetTransactionId(sg_spi_datum(0, 12, &isnull))) &&
		!isnull;
	if (thread_id != NULL)
		*thread_id = sg_spi_text(0, 2);
	for (i = 0; i < 10; i++)
		row[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &nulls[i]);
	return heap_copy_tuple_as_datum(heap_form_tuple(tupdesc, row, nulls), tupdesc);
}

/*
 * Does this transaction (or a subtransaction of it still open) hold a row
 * lock on the row version at tid of rel, whose xmin SQL read as xmin? Read
 * from the tuple's header as heap_lock_tuple leaves it: xmax a locker's
 * transaction ID, or a MultiXact whose members are the lockers (and an
 * updater). A version pruned since and its slot taken by another row shows
 * another xmin: no lock of ours then. A lock of ours that is FOR KEY
 * SHARE only does not count (own_hold). Takes no lock on the row.
 */
static bool
locked_here(Relation rel, ItemPointer tid, TransactionId xmin)
{
	HeapTupleData tuple;
	Buffer		buf;
	uint16		infomask;
	TransactionId xmax;
	bool		same;
	bool		here = false;

	tuple.t_self = *tid;
	if (!heap_fetch(rel, SnapshotAny, &tuple, &buf, false))
		return false;
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	infomask = tuple.t_data->t_infomask;
	xmax = HeapTupleHeaderGetRawXmax(tuple.t_data);
	same = TransactionIdEquals(HeapTupleHeaderGetRawXmin(tuple.t_data), xmin);
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	ReleaseBuffer(buf);
	if (!same || (infomask & HEAP_XMAX_INVALID))
		return false;
	if (infomask & HEAP_XMAX_IS_MULTI)
	{
		MultiXactMember *members;
		int			n = GetMultiXactIdMembers(xmax, &members, false, HEAP_XMAX_IS_LOCKED_ONLY(infomask));
		int			i;

		for (i = 0; i < n && !here; i++)
			here = TransactionIdIsCurrentTransactionId(members[i].xid) &&
				members[i].status != MultiXactStatusForKeyShare;
		if (n > 0)
			pfree(members);
		return here;
	}
	if (HEAP_XMAX_IS_LOCKED_ONLY(infomask) && HEAP_XMAX_IS_KEYSHR_LOCKED(infomask))
		return false;
	return TransactionIdIsCurrentTransactionId(xmax);
}

/*
 * Why run id cannot go on before this transaction ends, though the
 * transaction wrote neither the run's row nor its thread's (fetch_run):
 * the transaction changed a run ahead of it on its thread (one active, or
 * ended since the transaction began: sg_cancel of it, say), whose row
 * stays locked until the transaction ends, the worker that executes it
 * waiting there to record its end; or it holds a row lock of its own
 * (SELECT ... FOR SHARE, FOR NO KEY UPDATE or FOR UPDATE) on the run's
 * row, on an active run's ahead of it, or on its thread's row: a claim
 * passes a locked run over (FOR NO KEY UPDATE SKIP LOCKED), an executor
 * waits for the lock to record a step or an end, and a step locks its
 * thread's row FOR NO KEY UPDATE. A FOR KEY SHARE of these rows (SELECT
 * ... FOR KEY SHARE, the foreign key check of a user's row that
 * references the run or the thread) conflicts with none of these and
 * holds nothing up: sg_wait waits (TAP 308_fk_key_share_runs). Without this,
 * sg_wait slept until its timeout (or for good) beside the worker waiting
 * for its own caller (TAP 307_wait_own_row_lock).
 *
 * A transaction without a transaction ID has written no row and locked
 * none: no statement then (most waits, in a transaction of their own).
 * Called once per wait: the waiting transaction writes and locks nothing
 * more while it waits.
 */
typedef enum OwnHold
{
	OWN_NONE,
	OWN_RUN_CHANGED,			/* submitted or changed the run (fetch_run's ours) */
	OWN_THREAD_CHANGED,			/* its thread's row, or a run's ahead */
	OWN_RUN_LOCKED,
	OWN_THREAD_LOCKED			/* the thread's row, or a run's ahead */
} OwnHold;

static OwnHold
own_hold(pg_uuid_t *id)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(id)};
	Relation	runs = NULL;
	Relation	threads = NULL;
	OwnHold		hold = OWN_NONE;
	uint64		n,
				i;
	bool		isnull;

	if (!TransactionIdIsValid(GetTopTransactionIdIfAny()))
		return OWN_NONE;
	/* kind: 0 a run ahead, 1 the run, 2 its thread; then xmin, ctid, active */
	n = run_sql(&plan,
				"SELECT 0, e.xmin, e.ctid, e.status OPERATOR(pg_catalog.=) ANY (" ACTIVE ") "
				"FROM stategraph.runs r JOIN stategraph.runs e "
				"  ON e.thread_id OPERATOR(pg_catalog.=) r.thread_id AND e.seq OPERATOR(pg_catalog.<) r.seq "
				"WHERE r.run_id OPERATOR(pg_catalog.=) $1 AND (e.status OPERATOR(pg_catalog.=) ANY (" ACTIVE ") "
				"  OR e.finished_at OPERATOR(pg_catalog.>=) pg_catalog.now()) "
				"UNION ALL SELECT 1, r.xmin, r.ctid, true FROM stategraph.runs r "
				"WHERE r.run_id OPERATOR(pg_catalog.=) $1 "
				"UNION ALL SELECT 2, t.xmin, t.ctid, true FROM stategraph.runs r JOIN stategraph.threads t "
				"  ON t.thread_id OPERATOR(pg_catalog.=) r.thread_id WHERE r.run_id OPERATOR(pg_catalog.=) $1",
				1, types, values, NULL);
	for (i = 0; i < n; i++)
		if (DatumGetInt32(sg_spi_datum(i, 1, &isnull)) == 0 &&
			TransactionIdIsCurrentTransactionId(DatumGetTransactionId(sg_spi_datum(i, 2, &isnull))))
			return OWN_THREAD_CHANGED;
	for (i = 0; i < n && hold == OWN_NONE; i++)
	{
		int			kind = DatumGetInt32(sg_spi_datum(i, 1, &isnull));
		Relation   *rel = kind == 2 ? &threads : &runs;

		if (!DatumGetBool(sg_spi_datum(i, 4, &isnull)))
			continue;			/* (a run ahead that has ended needs nothing of its row) */
		if (*rel == NULL)
			*rel = table_open(sg_table_oid(kind == 2 ? "threads" : "runs"), AccessShareLock);
		if (locked_here(*rel, (ItemPointer) DatumGetPointer(sg_spi_datum(i, 3, &isnull)),
						DatumGetTransactionId(sg_spi_datum(i, 2, &isnull))))
			hold = kind == 1 ? OWN_RUN_LOCKED : OWN_THREAD_LOCKED;
	}
	if (runs != NULL)
		table_close(runs, AccessShareLock);
	if (threads != NULL)
		table_close(threads, AccessShareLock);
	return hold;
}

/*
 * sg_wait's error (25001) for a run that cannot go on before the calling
 * transaction ends: one it submitted or changed (ours: workers see it only
 * after the commit), one whose thread it changed (locked until then), or
 * one whose row, thread row or row of a run ahead it holds a row lock on
 * (own_hold).
 */
static void
refuse_own_transaction_wait(pg_uuid_t *id, OwnHold hold)
{
	const char *run = sg_uuid_to_cstring(id);

	if (hold == OWN_RUN_CHANGED)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("sg_wait cannot wait for a run this transaction submitted or changed"),
				 errdetail("Run %s cannot go on before this transaction commits: background workers see it "
						   "only after the commit.", run),
				 errhint("Commit first and call sg_wait in a later transaction, or run the graph in this "
						 "transaction with sg_invoke().")));
	if (hold == OWN_RUN_LOCKED)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("sg_wait cannot wait for a run this transaction locked"),
				 errdetail("This transaction holds a lock on the row of run %s (FOR UPDATE, FOR NO KEY UPDATE "
						   "or FOR SHARE) until it ends: background workers do not take a locked run, and its "
						   "executor waits for the lock.", run),
				 errhint("Read the run without a locking clause, or commit first and call sg_wait in a later "
						 "transaction.")));
	if (hold == OWN_THREAD_LOCKED)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("sg_wait cannot wait for a run whose thread this transaction locked"),
				 errdetail("This transaction holds a lock on the row of the thread of run %s (or of a run ahead "
						   "of it there) until it ends: the run cannot go on before.", run),
				 errhint("Read the rows without a locking clause, or commit first and call sg_wait in a later "
						 "transaction.")));
	Assert(hold == OWN_THREAD_CHANGED);
	ereport(ERROR,
			(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
			 errmsg("sg_wait cannot wait for a run whose thread this transaction changed"),
			 errdetail("The thread of run %s (or a run ahead of it there) stays locked until this transaction "
					   "ends: the run cannot go on before.", run),
			 errhint("Commit first and call sg_wait in a later transaction.")));
}

/*
 * sg_wait's error (55000) for an active run of a thread this session is
 * running: a node of the run itself, or of a run ahead of it on its thread
 * (a background run, CALL sg_work, sg_invoke), or an sg_stream cursor left
 * open. The run cannot end before that does: the wait would last until its
 * timeout, or for good, holding a worker and the thread.
 */
static void
refuse_wait_on_running_thread(pg_uuid_t *id, const char *thread_id)
{
	if (thread_id != NULL && sg_thread_running_here(thread_id))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sg_wait cannot wait for a run of thread \"%s\", which this session is running", thread_id),
				 errdetail("Run %s cannot go on before the run of its thread in this session ends (a node "
						   "cannot wait for its own run, nor for a run queued behind it).", sg_uuid_to_cstring(id)),
				 errhint("Wait for the run after this one ends, or call sg_wait with timeout => '0 s' to read its row.")));
}

/* What sg_wait's looks keep from one to the next (wait_look). */
typedef struct WaitLook
{
	pg_uuid_t  *id;
	TupleDesc	tupdesc;
	long		limit_ms;
	MemoryContext caller;
	bool		hold_checked;
	OwnHold		hold;
	bool		thread_checked;
	TimestampTz cycle_since;	/* a cycle seen at every look since (sg_wait_cycle) */
	char	   *thread_id;
	Datum		row;			/* the run's row as of the last look */
	bool		done;			/* no longer active, or no wait asked */
	Oid			ext;			/* the extension, as sg_wait began */
} WaitLook;

/*
 * One look of sg_wait at its run (an SGSubxactFn, always rolled back: see
 * wait_looks), with the checks that refuse a wait that would never end.
 */
static bool
wait_look(void *arg)
{
	WaitLook   *w = (WaitLook *) arg;
	bool		active;
	bool		ours;
	bool		ours_thread;
	char	   *thread_id = NULL;

	/* (a DROP EXTENSION in progress is waited for; one done is 55000) */
	sg_extension_after_wait(w->ext, psprintf("run %s", sg_uuid_to_cstring(w->id)));
	w->row = fetch_run(w->id, w->tupdesc, &active, &ours, &ours_thread, w->thread_checked ? NULL : &thread_id);
	SPI_freetuptable(SPI_tuptable);
	if (!active || w->limit_ms == 0)
	{
		w->done = true;
		return false;
	}
	/* (once: the transaction writes and locks nothing while it waits) */
	if (!w->hold_checked)
	{
		w->hold = ours ? OWN_RUN_CHANGED : ours_thread ? OWN_THREAD_CHANGED : own_hold(w->id);
		w->hold_checked = true;
	}
	if (w->hold == OWN_RUN_CHANGED || w->hold == OWN_THREAD_CHANGED)
		refuse_own_transaction_wait(w->id, w->hold);
	if (!w->thread_checked)
	{
		refuse_wait_on_running_thread(w->id, thread_id);
		w->thread_checked = true;
		if (thread_id != NULL)
			w->thread_id = MemoryContextStrdup(w->caller, thread_id);	/* (past the look's context, for sg_wait_cycle) */
	}
	/*
	 * (after 55000, which came before any lock check: a session
	 * running the thread may hold its row)
	 */
	if (w->hold != OWN_NONE)
		refuse_own_transaction_wait(w->id, w->hold);
	{
		char	   *cycle;

		/*
		 * seen at every look for half a second: a run of the cycle that
		 * just ended leaves its waiter's entry until that one wakes,
		 * and the next run of its thread may be held up meanwhile
		 */
		if (!sg_wait_cycle(w->id, w->thread_id, &cycle))
			w->cycle_since = 0;
		else if (w->cycle_since == 0)
			w->cycle_since = GetCurrentTimestamp();
		else if (TimestampDifferenceExceeds(w->cycle_since, GetCurrentTimestamp(), 500))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_DEADLOCK_DETECTED),
					 errmsg("sg_wait of run %s would wait for ever", sg_uuid_to_cstring(w->id)),
					 errdetail("The runs wait for each other in sg_wait: %s.", cycle),
					 errhint("A node should not wait for a run: submit what must follow, or wait with a timeout.")));
	}
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("sg_wait cannot see a run finish in a %s transaction",
						XactIsoLevel == XACT_SERIALIZABLE ? "SERIALIZABLE" : "REPEATABLE READ"),
				 errhint("Call it in a READ COMMITTED transaction.")));
	return false;
}

/*
 * sg_wait's looks at run id until it is no longer active or limit_ms
 * (from start; -1: none) has passed; the run's row as of the last look, in
 * look_cxt. Its backend is among the run's waiters meanwhile (sg_wait).
 *
 * Each look is a subtransaction rolled back once its row is copied out, so
 * that the locks its statements take (AccessShareLock on stategraph.runs
 * and threads) do not last through the sleeps: held, they made DROP
 * EXTENSION (or VACUUM FULL of runs) wait for the waiter, which waited on
 * its latch for the run's worker, which waited for the DROP's lock: a
 * deadlock no detector saw (a review found it). A lock the calling
 * transaction took before sg_wait is its own, and stays. A look that comes
 * after the DROP says so (55000), not what its query met (42P01, with the
 * query's text: stategraph.c, sg_extension_after_wait; TAP 332).
 */
static Datum
wait_looks(pg_uuid_t *id, TupleDesc tupdesc, long limit_ms, TimestampTz start, MemoryContext caller,
		   MemoryContext look_cxt)
{
	WaitLook	w = {0};

	w.id = id;
	w.tupdesc = tupdesc;
	w.limit_ms = limit_ms;
	w.caller = caller;
	w.hold = OWN_NONE;
	w.ext = sg_extension_oid();
	for (;;)
	{
		long		left = 1000;
		ErrorData  *edata;

		MemoryContextReset(look_cxt);
		MemoryContextSwitchTo(look_cxt);
		edata = sg_spi_subxact(wait_look, &w);
		if (edata != NULL)
			ReThrowError(edata);
		if (w.done)
			break;
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
	return w.row;
}

/* sg_wait: sleep until the run is no longer pending/running/waiting, or the timeout passes. */
Datum
sg_wait(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id;
	Interval   *timeout = PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1);
	TimestampTz start = GetCurrentTimestamp();
	long		limit_ms = -1;
	volatile Datum row = (Datum) 0;
	TupleDesc	tupdesc;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext look_cxt;

	sg_require_arg(fcinfo, 0, "run_id");
	id = PG_GETARG_UUID_P(0);
	if (timeout && sg_interval_negative(timeout))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must not be negative")));
	if (timeout)
		limit_ms = sg_interval_ms(timeout);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "sg_wait must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);

	/*
	 * Each look at the run has a context of its own, emptied at the next,
	 * and frees its SPI result: a wait looks at least once a second, and
	 * kept both (some 8 kB a look) until it returned, 700 MB for a wait of a
	 * day (TAP 277_wait_memory_flat).
	 */
	look_cxt = AllocSetContextCreate(caller, "sg_wait look", ALLOCSET_SMALL_SIZES);
	sg_spi_connect();
	sg_wait_prepare(id);

	/*
	 * Out of the waiters again also when a look fails (25001, 55000, 40P01,
	 * a run that does not exist, a cancel): an error caught in a
	 * subtransaction (a node's EXCEPTION block, the executor's) does not
	 * abort the transaction, whose end only would have taken it out; a
	 * worker's slot then kept the wait for the rest of its run and after,
	 * and sg_wait_cycle of another worker found a cycle through it that was
	 * none (TAP 310_wait_error_clears_waiter).
	 */
	PG_TRY();
	{
		row = wait_looks(id, tupdesc, limit_ms, start, caller, look_cxt);
	}
	PG_FINALLY();
	{
		sg_wait_done();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
	row = datumCopy(row, false, -1);	/* (out of the look's context) */
	MemoryContextDelete(look_cxt);
	sg_spi_finish();
	PG_RETURN_DATUM(row);
}

/* 55000: run_id cannot be rolled back, for the queued run that detail names. */
static void pg_attribute_noreturn()
refuse_rollback_for(pg_uuid_t *run_id, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("run %s cannot be rolled back", sg_uuid_to_cstring(run_id)),
			 errdetail_internal("%s", detail),
			 errhint("Cancel that run first, or stop this one with action => 'interrupt'.")));
}

/*
 * Refuse the rollback of run_id while the run queued next on its thread
 * goes on from the thread's head without input (a resume, or a run after a
 * pause) and could not where the rollback puts the head back (where run_id
 * started): that run failed as it started, with 42704 when run_id had
 * created the thread (the rollback deletes it) and with 55000 for a resume
 * of a thread with nothing to resume there. refuse_resume_rolled_back
 * refuses such a submit once the rollback is asked; this is the other
 * order. Only the next run counts: one after it goes on from what that one
 * leaves. A run the caller cannot see is left to fail as it starts, and
 * with one queued the rollback is not refused: it may be the next.
 */
static void
refuse_rollback_under_continue(pg_uuid_t *run_id)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(run_id)};
	char	   *queued;
	bool		resumes;
	char	   *thread_id;
	char	   *start_status;
	pg_uuid_t	start_head;
	SGThread   *th;
	SGThread	then;

	if (sg_spi_execute_latest(sg_spi_prepare(&plan,
											 "SELECT q.run_id, q.resume IS NOT NULL, r.thread_id, r.start_status, r.start_head "
											 "FROM stategraph.runs r, LATERAL (SELECT n.run_id, n.input, n.checkpoint_id, n.resume "
											 "  FROM stategraph.runs n WHERE n.thread_id OPERATOR(pg_catalog.=) r.thread_id "
											 "  AND n.run_id OPERATOR(pg_catalog.<>) r.run_id AND NOT n.stepped "
											 "  AND n.status OPERATOR(pg_catalog.=) ANY (" ACTIVE ") ORDER BY n.seq LIMIT 1) q "
											 "WHERE r.run_id OPERATOR(pg_catalog.=) $1 "
											 "AND (r.stepped OR r.status OPERATOR(pg_catalog.=) 'running') "
											 "AND q.input IS NULL AND q.checkpoint_id IS NULL",
											 1, types), values, NULL) == 0)
		return;
	queued = sg_spi_text(0, 1);
	resumes = strcmp(sg_spi_text(0, 2), "t") == 0;
	thread_id = sg_spi_text(0, 3);
	start_status = sg_spi_text(0, 4);
	/* a run the caller cannot see may be the next one (an input run of a member) */
	if (sg_thread_has_hidden_run(thread_id))
		return;
	if (start_status == NULL)
		refuse_rollback_for(run_id, psprintf("Run %s, queued on thread \"%s\", goes on from the thread's head without "
											 "input; this run created the thread, and the rollback would delete it.",
											 queued, thread_id));
	if (!resumes || !sg_spi_uuid(0, 5, &start_head) || (th = sg_thread_fetch(thread_id, false)) == NULL)
		return;
	then = *th;
	then.status = start_status;
	then.head = start_head;
	if (!sg_resumable(sg_checkpoint_fetch_required(thread_id, &start_head), true, &then))
		refuse_rollback_for(run_id, psprintf("Run %s, queued on thread \"%s\", resumes the thread, which has nothing "
											 "to resume where the rollback puts it back.", queued, thread_id));
}

/*
 * Refuse the rollback of run_id while a run queued behind it on its thread
 * (not started yet) was submitted to start from a checkpoint run_id wrote:
 * the rollback removes it (roll_back_thread), and that run failed with
 * 42704 when it started (isolation mt_rollback_start). The caller cancels
 * the queued run first, or interrupts instead. (A submit with multitask
 * 'rollback' cancels the runs queued on the thread, apply_multitask.)
 * Under the latest snapshot, as refuse_rolled_back_start reads.
 */
static void
refuse_rollback_under_run(pg_uuid_t *run_id)
{
	static SPIPlanPtr plan;
	static SPIPlanPtr run_plan;
	Oid			types[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(run_id)};

	if (sg_spi_execute_latest(sg_spi_prepare(&plan,
											 "SELECT q.run_id, q.checkpoint_id, q.thread_id FROM stategraph.runs r "
											 "JOIN stategraph.runs q ON q.thread_id OPERATOR(pg_catalog.=) r.thread_id "
											 "WHERE r.run_id OPERATOR(pg_catalog.=) $1 AND r.stepped "
											 "AND q.run_id OPERATOR(pg_catalog.<>) r.run_id AND NOT q.stepped "
											 "AND q.status OPERATOR(pg_catalog.=) ANY (" ACTIVE ") "
											 "AND q.checkpoint_id IS NOT NULL AND (r.start_head IS NULL "
											 "  OR q.checkpoint_id OPERATOR(pg_catalog.>) r.start_head) "
											 "ORDER BY q.seq LIMIT 1",
											 1, types), values, NULL) > 0)
		refuse_rollback_for(run_id, psprintf("Run %s, queued on thread \"%s\", starts from checkpoint %s, which the "
											 "rollback would remove.", sg_spi_text(0, 1), sg_spi_text(0, 3),
											 sg_spi_text(0, 2)));
	/*
	 * ... and such a run of another role that the caller cannot see (a
	 * member's run on its owner's thread): read below row-level security,
	 * told without its id
	 */
	if (sg_spi_execute_latest(sg_spi_prepare(&run_plan,
											 "SELECT r.thread_id, r.start_head FROM stategraph.runs r "
											 "WHERE r.run_id OPERATOR(pg_catalog.=) $1 AND r.stepped",
											 1, types), values, NULL) > 0)
	{
		bool		isnull;
		char	   *thread_id = sg_spi_text(0, 1);
		Datum		start_head = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);

		if (sg_thread_has_hidden_run_from(thread_id, isnull ? NULL : DatumGetUUIDP(start_head)))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("run %s cannot be rolled back", sg_uuid_to_cstring(run_id)),
					 errdetail("A run of another role, queued on thread \"%s\", starts from a checkpoint the rollback would remove.",
							   thread_id),
					 errhint("Stop this run with action => 'interrupt', or have that run cancelled first.")));
	}
	refuse_rollback_under_continue(run_id);
}

/* sg_cancel: stop a run (pending: at once; running: at its next step boundary). */
Datum
sg_cancel(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr thread_plan;
	static SPIPlanPtr lock_plan;
	static SPIPlanPtr cancel_plan;
	static SPIPlanPtr stop_plan;
	char	   *action = sg_arg_text(fcinfo, 1, "action");
	Oid			types[2] = {UUIDOID, TEXTOID};
	Datum		values[2];
	char	   *status;
	bool		backoff;
	bool		done = true;

	sg_require_arg(fcinfo, 0, "run_id");
	if (strcmp(action, "interrupt") != 0 && strcmp(action, "rollback") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("action must be 'interrupt' or 'rollback', not '%s'", action)));
	values[0] = PG_GETARG_DATUM(0);
	values[1] = CStringGetTextDatum(action);
	sg_prevent_write("sg_cancel");
	sg_spi_connect();
	/*
	 * A rollback takes the thread's submit lock first, as a submit with
	 * multitask 'rollback' does: a submit from a checkpoint this rollback
	 * removes then either sees the request and is refused
	 * (refuse_rolled_back_start), or committed first and its run is seen
	 * below (refuse_rollback_under_run).
	 */
	if (strcmp(action, "rollback") == 0 &&
		run_sql(&thread_plan, "SELECT thread_id FROM stategraph.runs WHERE run_id OPERATOR(pg_catalog.=) $1",
				1, types, values, NULL) == 1)
		sg_lock_thread_submits(sg_spi_text(0, 1), sg_role_hold_may_wait());
	if (run_sql(&lock_plan, "SELECT status, stepped FROM stategraph.runs WHERE run_id OPERATOR(pg_catalog.=) $1 "
				"FOR NO KEY UPDATE",
				1, types, values, NULL) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run %s does not exist", sg_uuid_to_cstring(PG_GETARG_UUID_P(0)))));
	status = sg_spi_text(0, 1);
	/* a pending run that has taken steps (its external tasks are done) is stopped as a running one */
	backoff = strcmp(status, "pending") == 0 && strcmp(sg_spi_text(0, 2), "t") == 0;
	if (backoff)
		status = "running";
	if (strcmp(status, "pending") == 0)
		run_sql(&cancel_plan,
				"UPDATE stategraph.runs SET status = 'cancelled', finished_at = pg_catalog.clock_timestamp() "
				"WHERE run_id OPERATOR(pg_catalog.=) $1", 1, types, values, NULL);
	else if (strcmp(status, "running") == 0 || strcmp(status, "waiting") == 0)
	{
		/*
		 * One pending after a failure is stopped now, not after its backoff:
		 * a stop retried for a while waited up to a minute more (TAP 080).
		 */
		run_sql(&stop_plan,
				"UPDATE stategraph.runs SET stop_request = $2, "
				"status = CASE WHEN status OPERATOR(pg_catalog.=) 'waiting' THEN 'pending' ELSE status END, "
				"not_before = CASE WHEN status OPERATOR(pg_catalog.=) 'pending' "
				"  THEN LEAST(not_before, pg_catalog.clock_timestamp()) ELSE not_before END "
				"WHERE run_id OPERATOR(pg_catalog.=) $1",
				2, types, values, NULL);
		if (strcmp(action, "rollback") == 0)
			refuse_rollback_under_run(PG_GETARG_UUID_P(0));
		sg_run_stop_asked_at_commit();
		if (strcmp(status, "waiting") == 0 || backoff)
			sg_runs_requeued_at_commit();	/* pending again (or now), to be stopped */
	}
	else
		done = false;
	sg_spi_finish();
	if (done)
		sg_run_ended_at_commit(PG_GETARG_UUID_P(0));
	PG_RETURN_BOOL(done);
}

/* ---------------------------------------------------------------------------
 * Executing runs (the workers' and sg_work's one code path)
 * ---------------------------------------------------------------------------
 */

/*
 * The run this session has claimed, for sg_run_failure: what an error that
 * escaped its execution belongs to, and whether it came from the graph's
 * step or from the bookkeeping around it.
 */
static struct
{
	bool		claimed;
	pg_uuid_t	run_id;
	bool		in_step;
	bool		committed;		/* the claim has committed (attempt counted) */
	Oid			role;			/* the role it executes as, once known */
	NameData	role_name;		/* that role's name as this session saw it then */
	NameData	owner;			/* the owner its claim read (empty: not yet) */
	Jsonb	   *stop_error;		/* the error of a last step that found the run stopped
								 * (TopMemoryContext; see keep_stop_error) */
}			current;

/*
 * Keep error, that of a run's last step that found the run to be stopped,
 * for its stop (NULL: forget it). It is recorded in the stop's transaction;
 * should the stop fail (its rollback's SQL), that transaction rolls back
 * and sg_run_failure records it on the run instead, for the stop tried
 * again later: the node's error was lost, the run ended cancelled with
 * error NULL (TAP 092). It is on the run already, committed before the
 * stop (keep_stop_error_on_run), for an executor that dies in the stop.
 */
static void
keep_stop_error(Jsonb *error)
{
	if (current.stop_error != NULL)
		pfree(current.stop_error);
	current.stop_error = NULL;
	if (error != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		current.stop_error = sg_jsonb_copy(error);
		MemoryContextSwitchTo(old);
	}
}

/*
 * Runs whose failure this worker could not even record: its claims pass
 * them over until their backoff (1 s, 2 s, ... up to a minute) is over,
 * then try them again. Kept for the worker's life, such a run waited for
 * the worker's restart, for ever with one worker.
 */
typedef struct Unrecordable
{
	pg_uuid_t	run_id;
	int			times;			/* its failures not recorded */
	TimestampTz until;			/* passed over until then */
} Unrecordable;

static List *unrecordable = NIL;

/*
 * Serialization failures and deadlocks (40001, 40P01) of runs, as this
 * session met them: the first SG_RUN_MAX_CONFLICTS of a run are tried
 * again after a short backoff without counting among its failures
 * (sg_run_failure). An entry is taken again only when its run met no
 * conflict for SG_CONFLICT_FORGET_MS (its retries, seconds at most, are
 * over). With every entry in use, a conflict is counted as any failure:
 * replacing the oldest lost the count of a run still retried when more
 * than the entries' runs conflicted, and they were retried uncounted for
 * ever (TAP 347); 32 entries made that fail-safe end runs of a busy
 * serializable database (TAP 343), 1,024 (24 kB) do not.
 */
#define SG_RUN_MAX_CONFLICTS	10
#define SG_CONFLICT_ENTRIES		1024
#define SG_CONFLICT_FORGET_MS	30000
static struct
{
	pg_uuid_t	run_id;
	int			times;
	TimestampTz last;
}			conflicts[SG_CONFLICT_ENTRIES];

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
	run->recoveries = DatumGetInt32(sg_spi_datum(r, 11, &isnull));
	run->recovered = DatumGetBool(sg_spi_datum(r, 12, &isnull));
	d = sg_spi_datum(r, 13, &isnull);
	if ((run->has_graph_gen = !isnull))
		run->graph_gen = DatumGetInt64(d);
	d = sg_spi_datum(r, 14, &isnull);
	if ((run->has_last_step = !isnull))
		run->last_step = DatumGetInt32(d);
	return run;
}

/* Is this a run whose failure this worker could not record? */
static bool
is_unrecordable(pg_uuid_t *id)
{
	ListCell   *lc;

	foreach(lc, unrecordable)
	{
		Unrecordable *u = lfirst(lc);

		if (memcmp(&u->run_id, id, sizeof(pg_uuid_t)) == 0)
			return GetCurrentTimestamp() < u->until;
	}
	return false;
}

/* Forget run_id's entry among the unrecordable runs (its failure was recorded). */
static void
forget_unrecordable(const pg_uuid_t *id)
{
	ListCell   *lc;

	foreach(lc, unrecordable)
	{
		Unrecordable *u = lfirst(lc);

		if (memcmp(&u->run_id, id, sizeof(pg_uuid_t)) == 0)
		{
			unrecordable = foreach_delete_current(unrecordable, lc);
			pfree(u);
			return;
		}
	}
}

/*
 * Count a serialization failure or deadlock of run id; returns how many this
 * session met, or more than SG_RUN_MAX_CONFLICTS when no entry is free.
 */
static int
count_conflict(const pg_uuid_t *id)
{
	TimestampTz now = GetCurrentTimestamp();
	int			i;
	int			free_entry = -1;

	for (i = 0; i < SG_CONFLICT_ENTRIES; i++)
	{
		if (conflicts[i].times > 0 && memcmp(&conflicts[i].run_id, id, sizeof(pg_uuid_t)) == 0)
		{
			conflicts[i].last = now;
			return ++conflicts[i].times;
		}
		if (free_entry < 0 && (conflicts[i].times == 0 ||
							   TimestampDifferenceExceeds(conflicts[i].last, now, SG_CONFLICT_FORGET_MS)))
			free_entry = i;
	}
	if (free_entry < 0)
		return SG_RUN_MAX_CONFLICTS + 1;
	conflicts[free_entry].run_id = *id;
	conflicts[free_entry].times = 1;
	conflicts[free_entry].last = now;
	return 1;
}

/*
 * The candidates of a claim, due first: runs pending or running, due
 * between from (worker.c's claim_from: the index entries before it are
 * dead) and now, by due time (not_before) and seq, so that the first one
 * tells where the next claims may start, and a run delayed far ahead is not
 * read at all. A cursor planned for a fast start, so that the planner
 * always walks the runs_todo index in order, which also marks the index
 * entries of finished runs dead as it passes them; a bitmap scan (what a
 * LIMIT and a small estimate make it choose) would visit every one of them
 * again at each claim until the next vacuum. Now is a parameter, not clock_timestamp(), which as a
 * volatile function could not bound the index scan. (Whether a candidate is
 * first of its thread is asked of the one tried, sg_first_of_thread: as a
 * join here, a plan made while the table was small scanned every active
 * run for each candidate.)
 */
static Portal
open_candidates(TimestampTz from, int64 from_seq)
{
	static SPIPlanPtr plan;
	Oid			types[3] = {TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID};
	Datum		values[3] = {TimestampTzGetDatum(from), TimestampTzGetDatum(GetCurrentTimestamp()),
	Int64GetDatum(from_seq)};

	if (plan == NULL)
	{
		MemoryContext cxt = CurrentMemoryContext;
		SPIPlanPtr	p = SPI_prepare_cursor("SELECT r.run_id, r.thread_id, r.status, r.seq, r.owner, r.not_before "
										   "FROM stategraph.runs r "
										   "WHERE r.status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running']) "
										   "AND r.not_before OPERATOR(pg_catalog.>=) $1 "
										   "AND (r.not_before, r.seq) OPERATOR(pg_catalog.>=) ($1, $3) "
										   "AND r.not_before OPERATOR(pg_catalog.<=) $2 "
										   "ORDER BY r.not_before, r.seq",
										   3, types, CURSOR_OPT_FAST_PLAN);

		MemoryContextSwitchTo(cxt);
		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare the candidates of a claim: %s", SPI_result_code_string(SPI_result));
		plan = p;
	}
	return sg_spi_cursor_open(plan, values, NULL);
}

/*
 * May this session execute a run of owner? A background worker (a
 * superuser) executes every role's runs, and CALL sg_work those of the
 * roles its caller is a member of: row-level security shows it no others,
 * unless the caller bypasses it (BYPASSRLS), and executing another role's
 * run in that caller's session would run the owner's nodes among the
 * caller's temporary tables (searched first, unqualified names resolve to
 * them), whose triggers then ran as the owner: a superuser, maybe.
 */
static bool
may_execute_for(const char *owner)
{
	return superuser() || sg_caller_is_owner(owner);
}

/* What a claim found of a candidate (claim_checks). */
typedef enum ClaimCheck
{
	CLAIM_TAKEN,				/* its row and thread are this claim's, the run marked running */
	CLAIM_RUN_GONE,				/* ended meanwhile, or its row is held */
	CLAIM_THREAD_HELD,			/* another session has its thread */
	CLAIM_REFUSED,				/* its role has its share of the workers */
	CLAIM_QUEUED				/* an earlier run of its thread goes first */
} ClaimCheck;

typedef struct ClaimCandidate
{
	SPITupleTable *tt;
	uint64		i;
	ClaimCheck	check;
	RunRow	   *run;			/* CLAIM_TAKEN: the run, marked running */
} ClaimCandidate;

static RunRow *mark_claimed(Datum run_id);

/*
 * The checks of a claim, as an SGSubxactFn: the subtransaction rolled back
 * when one fails lets go of the run's row and thread at once, so a
 * candidate passed over holds neither while the claim goes on to another
 * and executes its step.
 *
 * The checks that take nothing first: a thread another session holds (a
 * worker executes its run, a client invokes it: probed, not taken) or
 * creates in a transaction still open (sg_thread_row_held), the
 * role's share of the workers, an earlier run of the thread. A claim
 * passed over for one of them writes nothing: locking the row writes WAL
 * and gives the claim a transaction ID, whose commit then waited for a
 * synchronous standby, with the worker refused a share unable to take the
 * run when it freed (TAP 120). The share is asked once the thread is seen
 * free: a run that a worker executes (its thread held) is passed over as
 * before, not taken for a run that waits for a share, which had the idle
 * workers look again every second while a role at its share executed its
 * runs (TAP 117). No poll when refused: the worker that gives one of the
 * role's shares back wakes a worker refused it, and this one if it takes
 * no run (worker.c, release_share).
 *
 * Then the row before the thread: a run ends by letting its thread go,
 * then committing with its row locked, and a claim that took the thread
 * in between, for a run its snapshot still saw due, held the thread after
 * that commit, for as long as the claim took to find the run ended:
 * sg_threads called the thread of a run just ended running, and a caller
 * with stategraph.lock_wait off got "thread is busy" (regress
 * revlife_prune_waiting saw it). A row being ended is locked: passed over
 * without touching the thread.
 *
 * The row is locked FOR NO KEY UPDATE, which conflicts with every lock
 * that stategraph's writers of the row take (an end's or a cancel's
 * UPDATE, sg_cancel, a submit's interrupt, the retention sweep's delete)
 * and with FOR SHARE and FOR UPDATE, but not with the FOR KEY SHARE of a
 * foreign key check: a user's row that references the run (jobs.run_id
 * REFERENCES stategraph.runs), inserted in a transaction still open, held
 * the run up until that transaction ended (FOR UPDATE; TAP
 * 308_fk_key_share_runs). sg_reassign_owned kept claims off its runs with
 * FOR KEY SHARE, which this no longer meets: so the claim holds its
 * owner's name in share mode (reassign.c), without waiting, until it
 * commits: a reassign waits for the claims in flight, and a claim passes
 * the run over while a reassign of its owner is open. The name held is
 * the one the candidate row had in the claim's snapshot: the row locked,
 * its owner is checked to be that one still (a reassign may have
 * committed since), else the run is passed over as held and read again
 * at the next look. Claimed under the old name and begun as the new
 * owner, a run was unseen by a second reassign, of the new owner, in
 * flight: it gave the run away but not the thread the run's first step
 * created, and the run ended with "thread ... belongs to another role"
 * (TAP 312).
 */
static bool
claim_checks(void *arg)
{
	static SPIPlanPtr plan;
	ClaimCandidate *c = (ClaimCandidate *) arg;
	HeapTuple	row = c->tt->vals[c->i];
	TupleDesc	desc = c->tt->tupdesc;
	Oid			types[2] = {UUIDOID, NAMEOID};
	Datum		values[2];
	Datum		run_id;
	bool		isnull;
	char	   *thread_id = SPI_getvalue(row, desc, 2);
	char	   *owner = SPI_getvalue(row, desc, 5);
	/*
	 * A run row a role wrote naming a thread of another role (any role may)
	 * is taken at once, whatever that thread and its runs are doing, and
	 * ended unexecuted (sg_work_one): passed over while the thread was held
	 * or had an earlier run, and failed on it once free, it told its writer
	 * whether the other role's thread was in use (isolation
	 * forged_run_busy).
	 */
	bool		foreign = sg_run_may_not_act(thread_id, owner);

	run_id = SPI_getbinval(row, desc, 1, &isnull);
	values[0] = run_id;
	values[1] = SPI_getbinval(row, desc, 5, &isnull);	/* the owner whose name it holds */
	/*
	 * A writer in another session's open transaction (sg_invoke, an
	 * uncommitted sg_update_state, one creating the thread) holds the
	 * thread's row, having let its advisory lock go: a claim that took the
	 * run then waited on that transaction for as long as it stayed open.
	 */
	if (!foreign && (sg_thread_is_busy(thread_id) || sg_thread_row_held(thread_id)))
	{
		c->check = CLAIM_THREAD_HELD;
		return false;
	}
	if (!sg_worker_take_role_share(get_role_oid(owner, true),
								   DatumGetTimestampTz(SPI_getbinval(row, desc, 6, &isnull))))
	{
		c->check = CLAIM_REFUSED;
		return false;
	}
	if (!foreign && !sg_first_of_thread(thread_id, DatumGetInt64(SPI_getbinval(row, desc, 4, &isnull)), owner))
		c->check = CLAIM_QUEUED;
	else if (!sg_role_try_hold(owner))
		c->check = CLAIM_RUN_GONE;	/* sg_reassign_owned holds its owner's rows */
	else if (run_sql(&plan,
					 "SELECT 1 FROM (SELECT o.status, o.owner FROM stategraph.runs o "
					 "  WHERE o.run_id OPERATOR(pg_catalog.=) $1 OFFSET 0 FOR NO KEY UPDATE SKIP LOCKED) o "
					 "WHERE o.status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running']) "
					 "AND o.owner OPERATOR(pg_catalog.=) $2",
					 2, types, values, NULL) != 1)
		c->check = CLAIM_RUN_GONE;	/* (or given to another role since the candidates were read) */
	else if (!foreign && !sg_try_lock_thread(thread_id))
		c->check = CLAIM_THREAD_HELD;	/* taken since the probe */
	else
	{
		/* an error from here on is the run's (sg_run_failure) */
		c->check = CLAIM_TAKEN;
		if ((c->run = mark_claimed(run_id)) == NULL)
			c->check = CLAIM_RUN_GONE;	/* (not expected: the row is this claim's) */
		else
			c->run->foreign = foreign;
	}
	if (c->check != CLAIM_TAKEN)
		sg_worker_drop_role_share();
	return c->check == CLAIM_TAKEN;
}

/*
 * Mark the run claim_checks has locked running: one UPDATE (the row is
 * found by run_id alone, OFFSET 0 keeping the status test out of that
 * scan: with it the planner chose the partial index of active runs and
 * filtered on run_id, visiting every run that ended since the last vacuum,
 * at every claim), in the subtransaction that locked the row: updated by
 * the transaction that locked it, the row gets no MultiXact (a lock by a
 * subtransaction and an update by its parent made one, two for each run,
 * TAP 003's pg_upgrade found them). The claim of a run with input commits
 * with the run's first step (its input and __start__, or its end), so it
 * also marks the run stepped: after a crash, a running run goes on from
 * its thread's head. A run without input (a resume, going on from the head,
 * time travel) takes a node step first, which may last minutes: its claim
 * commits alone (sg_work_one), so the run reads running and an sg_cancel
 * or a multitask submit does not wait for the row until that step ends;
 * the step marks it stepped (mark_stepped). The thread as it was before
 * the run, for a rollback (first attempt only); only a thread the run's
 * role may act on: a worker claims as a superuser, and a role can INSERT a
 * run row naming any thread, whose head and status it then read from its
 * row (TAP 086). Head and status come from one probe of the thread's row
 * (a subquery each probed it twice), none once the run has stepped (each
 * branch of the UNION ALL a one-time filter; no row: both NULL, no thread
 * its role may act on). NULL if the row is no longer due.
 *
 * A claim that finds the run running (its executor died) counts a
 * recovery; recoveries are the deaths since the run's last committed
 * step: the thread's head at each is kept on the run (recovery_head), and
 * a head that has moved since the last (a step committed in between)
 * starts the count again at 1. Counted over the run's life, a long run
 * that went on after each death (server restarts over days) was abandoned
 * (SG014) at its death max_run_recoveries + 1 (TAP 306). The thread's row is probed for it only
 * at a recovery, and only a thread the run's role may act on (NULL
 * otherwise: deaths then count as without progress).
 */
static RunRow *
mark_claimed(Datum run_id)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {UUIDOID};

	if (run_sql(&plan,
				"UPDATE stategraph.runs r SET status = 'running', attempt = r.attempt OPERATOR(pg_catalog.+) 1, "
				"recoveries = CASE WHEN o.status OPERATOR(pg_catalog.<>) 'running' THEN r.recoveries "
				"  WHEN COALESCE(o.head OPERATOR(pg_catalog.=) r.recovery_head, o.head IS NULL AND r.recovery_head IS NULL) "
				"    THEN r.recoveries OPERATOR(pg_catalog.+) 1 "
				"  ELSE 1 END, "
				"recovery_head = CASE WHEN o.status OPERATOR(pg_catalog.=) 'running' THEN o.head "
				"  ELSE r.recovery_head END, "
				"stepped = o.stepped OR r.input IS NOT NULL, "
				"started_at = COALESCE(r.started_at, pg_catalog.clock_timestamp()), "
				/* a left step's limit, while the run goes on with that step (sg_submit_for_owner) */
				"last_step = CASE WHEN r.last_step IS NULL OR r.stepped THEN r.last_step "
				"  WHEN EXISTS (SELECT FROM stategraph.threads t WHERE t.thread_id OPERATOR(pg_catalog.=) r.thread_id "
				"  AND t.head OPERATOR(pg_catalog.=) r.left_head) THEN r.last_step END, "
				"(start_head, start_status) = (SELECT r.start_head, r.start_status WHERE r.stepped "
				"  UNION ALL SELECT t.head, t.status FROM stategraph.threads t WHERE NOT r.stepped "
				"  AND t.thread_id OPERATOR(pg_catalog.=) r.thread_id AND " OWNER_ACTS("r", "t") ") "
				"FROM (SELECT o.run_id, o.stepped, o.status, CASE WHEN o.status OPERATOR(pg_catalog.=) 'running' "
				"  THEN (SELECT t.head FROM stategraph.threads t WHERE t.thread_id OPERATOR(pg_catalog.=) o.thread_id "
				"  AND " OWNER_ACTS("o", "t") ") END AS head FROM stategraph.runs o "
				"  WHERE o.run_id OPERATOR(pg_catalog.=) $1 OFFSET 0 FOR NO KEY UPDATE SKIP LOCKED) o "
				"WHERE r.run_id OPERATOR(pg_catalog.=) $1 AND r.run_id OPERATOR(pg_catalog.=) o.run_id "
				"AND o.status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running']) "
				"RETURNING r.run_id, r.thread_id, r.graph, r.input, r.checkpoint_id, r.resume, "
				"r.recursion_limit, r.owner, o.stepped, r.stop_request, r.recoveries, "
				"o.status OPERATOR(pg_catalog.=) 'running', r.graph_gen, r.last_step",
				1, types, &run_id, NULL) != 1)
		return NULL;
	return run_from_row(0);
}

/*
 * Try to claim candidate row i of tt: lock the run's row if it is still due
 * and unlocked, take the thread lock for this transaction (so one executor
 * per thread), take a share of the workers for its role, check FIFO
 * (claim_checks), and mark the run running (mark_claimed). NULL if another
 * session has the thread (*thread_held), or the run is not first of its
 * thread (*queued), or its row is held or ended (*blocked, as when a
 * client session holds a pending run's thread), or its role has its share
 * of the workers (*thread_held and *refused).
 */
static RunRow *
try_claim(SPITupleTable *tt, uint64 i, bool *blocked, bool *thread_held, bool *queued, bool *refused)
{
	Datum		run_id;
	bool		isnull;
	char	   *status = SPI_getvalue(tt->vals[i], tt->tupdesc, 3);
	bool		stop_gen_known;
	uint64		stop_gen = 0;
	ClaimCandidate candidate;
	ErrorData  *edata;

	*thread_held = false;
	*queued = false;
	*refused = false;
	run_id = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull);
	if (is_unrecordable(DatumGetUUIDP(run_id)) ||
		!may_execute_for(SPI_getvalue(tt->vals[i], tt->tupdesc, 5)))
		return NULL;
	/* the stop generation before the statement that reads the stop request */
	stop_gen_known = sg_stop_generation(&stop_gen);
	candidate.tt = tt;
	candidate.i = i;
	candidate.run = NULL;
	candidate.check = CLAIM_RUN_GONE;	/* (an error in the checks) */
	edata = sg_spi_subxact(claim_checks, &candidate);
	if (candidate.check == CLAIM_TAKEN)
	{
		current.claimed = true;
		current.role = InvalidOid;
		NameStr(current.owner)[0] = '\0';
		current.run_id = *DatumGetUUIDP(run_id);
		current.in_step = false;
		current.committed = false;
		keep_stop_error(NULL);
	}
	if (edata != NULL)
		ReThrowError(edata);	/* (the claim's UPDATE failed: the run's failure) */
	switch (candidate.check)
	{
		case CLAIM_TAKEN:
			break;
		case CLAIM_RUN_GONE:
			*blocked = true;	/* look again within a second, as for a held thread */
			return NULL;
		case CLAIM_THREAD_HELD:
			*thread_held = true;
			if (strcmp(status, "pending") == 0)
				*blocked = true;	/* (a running run's thread is held by its executor) */
			return NULL;
		case CLAIM_REFUSED:
			*thread_held = true;	/* pass its thread over */
			*refused = true;
			return NULL;
		case CLAIM_QUEUED:
			*queued = true;
			return NULL;
	}
	candidate.run->stop_gen_known = stop_gen_known;
	candidate.run->stop_gen = stop_gen;
	return candidate.run;
}

/*
 * May this claim pass the candidate of thread_id with seq seq unread but
 * for its row? Runs of a thread go in seq order: once this claim could
 * not take one because its thread is held (by a run's executor or a client
 * session), it cannot take any run of that thread; once it could not take
 * one for another reason (an earlier run of the thread active, a run not
 * this session's to execute), it cannot take a later one (a higher seq),
 * though it may take an earlier one due later (delayed by after, or by a
 * failure's retry). Such runs do not count among the claim's tries.
 * Without this, a thread with dozens of runs queued behind its running
 * one ('enqueue') filled the claim's tries, and the runs of every other
 * thread due after them waited until that queue was almost empty. A map
 * from 64-bit hashes of the thread ids to the lowest seq passed over
 * (PG_INT64_MIN: all), made at the first run passed over (most claims take
 * their first candidate, and never make it); a collision only leaves a
 * run for the next claim.
 */
typedef struct PassedThread
{
	uint64		hash;
	int64		seq;
	bool		waiting;		/* queued behind a waiting run (queued_behind_waiting) */
} PassedThread;

/* ... and *waiting: the runs of the thread from the one passed over on are queued behind a waiting run. */
static bool
thread_passed_over(HTAB *passed, const char *thread_id, int64 seq, bool *waiting)
{
	uint64		key = hash_bytes_extended((const unsigned char *) thread_id, strlen(thread_id), 0);
	PassedThread *p = hash_search(passed, &key, HASH_FIND, NULL);

	*waiting = p != NULL && p->waiting;
	return p != NULL && seq > p->seq;
}

/*
 * This claim could not take the candidate of thread_id with seq seq
 * (PG_INT64_MIN: its thread is held); waiting: it is queued behind a
 * waiting run.
 */
static void
pass_thread_over(HTAB **passed, const char *thread_id, int64 seq, bool waiting)
{
	uint64		key = hash_bytes_extended((const unsigned char *) thread_id, strlen(thread_id), 0);
	PassedThread *p;
	bool		found;

	if (*passed == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(uint64);
		ctl.entrysize = sizeof(PassedThread);
		ctl.hcxt = CurrentMemoryContext;
		*passed = hash_create("stategraph threads passed over by a claim", 64, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	p = hash_search(*passed, &key, HASH_ENTER, &found);
	if (!found || seq < p->seq)
	{
		p->seq = seq;
		p->waiting = waiting;
	}
}

/*
 * Is candidate row i of tt, a run queued behind an earlier active run of
 * its thread (try_claim), queued behind a 'waiting' run of its owner, its
 * thread's first active run? It cannot be taken before that run leaves
 * 'waiting', and every way it leaves it lowers claim_from: pending again
 * (runs_step_ready; sg_cancel and interrupting submits, to the start), or
 * ended by its task's failure or interrupt (tasks.c, end_waiting_run, to
 * the start); pending, it ends as any run (record_step lowers claim_from
 * to its thread's next run; sg_run_failure to the start). So, as the runs
 * queued behind a worker's run (executed_by_worker), it need not keep
 * claim_from back (claim_run): 10,000 such runs due before a run of a free
 * thread were the most a claim reads, and that run was never taken.
 */
static bool
queued_behind_waiting(SPITupleTable *tt, uint64 i)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(SPI_getvalue(tt->vals[i], tt->tupdesc, 2));
	values[1] = CStringGetTextDatum(SPI_getvalue(tt->vals[i], tt->tupdesc, 5));
	return run_sql(&plan,
				   "SELECT 1 FROM (SELECT r.status, r.owner FROM stategraph.runs r "
				   "  WHERE r.thread_id OPERATOR(pg_catalog.=) $1 "
				   "  AND r.status OPERATOR(pg_catalog.=) ANY (" ACTIVE ") ORDER BY r.seq LIMIT 1) f "
				   "WHERE f.status OPERATOR(pg_catalog.=) 'waiting' "
				   "AND f.owner OPERATOR(pg_catalog.=) $2::pg_catalog.name",
				   2, types, values, NULL) == 1;
}

/*
 * Is candidate row i of tt a running run that a live background worker
 * executes, or a pending run of a thread such a run holds (queued behind
 * it, 'enqueue')? This claim cannot take either, and neither keeps
 * claim_from back (claim_run): a run that runs for minutes made every
 * claim meanwhile read the dead index entries of all the runs that ended
 * after it began.
 */
static bool
executed_by_worker(SPITupleTable *tt, uint64 i)
{
	bool		isnull;

	if (strcmp(SPI_getvalue(tt->vals[i], tt->tupdesc, 3), "running") == 0)
		return sg_worker_executes_run(DatumGetUUIDP(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull)));
	return sg_worker_executes_thread(SPI_getvalue(tt->vals[i], tt->tupdesc, 2));
}

/*
 * Claim the oldest due run whose thread is free: the candidates of
 * open_candidates in order, fetched a few at a time (most claims take the
 * first or the second), trying at most SG_CLAIM_TRIES of them, one per
 * thread (thread_passed_over), and reading at most SG_CLAIM_READ. A run
 * queued behind an earlier active run of its thread (one waiting for its
 * external tasks, say), or whose thread another session holds (a client's
 * CALL sg_run), is not a try: 64 threads so held up used every try of
 * every claim, and a run due after them on a free thread was never taken
 * (TAP 093). Runs queued behind waiting runs do not keep claim_from back
 * either (queued_behind_waiting): past SG_CLAIM_READ of them, the claim
 * reads on from where they end (by due time and seq: one transaction may
 * queue more than SG_CLAIM_READ due at the same time), and later claims
 * start there (TAP 098), also when their role has its share of the
 * workers (stategraph.max_workers_per_role), which refuses them before the
 * claim knows they are queued (TAP 121). *blocked: a due run was passed
 * over because a client session holds its thread.
 */
#define SG_CLAIM_TRIES 64
#define SG_CLAIM_READ 10000

pg_noinline static RunRow *
claim_run(bool *blocked)
{
	uint64		gen;
	TimestampTz start;
	int64		start_seq = PG_INT64_MIN;
	Portal		candidates;
	RunRow	   *run = NULL;
	uint64		seen;
	int			tries;
	uint64		batch;
	HTAB	   *passed;
	TimestampTz from;
	int64		from_seq;
	bool		from_found;

	/*
	 * Only a claim that row-level security lets see every role's runs (a
	 * worker, a superuser's or a BYPASSRLS role's CALL sg_work) knows that
	 * nothing is pending before its first row: another role's CALL sg_work
	 * moved claim_from past the runs it cannot see, and the workers then
	 * left them until the next sweep.
	 */
	bool		sees_every_run = superuser() || has_bypassrls_privilege(GetUserId());

	sg_worker_claim_begin();
	start = sg_claim_from(&gen);
again:
	candidates = open_candidates(start, start_seq);
	seen = 0;
	tries = 0;
	batch = 8;
	passed = NULL;
	from = 0;
	from_seq = PG_INT64_MIN;
	from_found = false;
	while (run == NULL && tries < SG_CLAIM_TRIES && seen < SG_CLAIM_READ)
	{
		SPITupleTable *tt;
		uint64		n,
					i;

		n = sg_spi_cursor_fetch(candidates, batch);
		tt = SPI_tuptable;
		seen += n;
		for (i = 0; i < n && run == NULL && tries < SG_CLAIM_TRIES; i++)
		{
			bool		isnull;
			bool		thread_held;
			bool		queued;
			bool		refused;
			bool		waiting = false;
			bool		undecided = false;	/* the first run in the way of claim_from? */
			int64		seq;

			seq = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 4, &isnull));
			if (!from_found)
			{
				from = DatumGetTimestampTz(SPI_getbinval(tt->vals[i], tt->tupdesc, 6, &isnull));
				from_seq = seq;
				from_found = undecided = !executed_by_worker(tt, i);
				/* nothing pending or running before from but what cannot be taken yet: start there */
				if (from_found && sees_every_run)
					sg_claim_from_raise(gen, from);
			}
			if (passed != NULL && thread_passed_over(passed, SPI_getvalue(tt->vals[i], tt->tupdesc, 2), seq, &waiting))
			{
				/* queued behind a waiting run too: not in the way (queued_behind_waiting), read on */
				if (undecided && waiting)
					from_found = false;
				continue;
			}
			waiting = false;
			run = try_claim(tt, i, blocked, &thread_held, &queued, &refused);
			if (!queued && !thread_held)
				tries++;
			/* (refused a share, it may be queued behind a waiting run all the same) */
			if (undecided && (queued || refused) && queued_behind_waiting(tt, i))
			{
				waiting = true;
				from_found = false;
			}
			if (run == NULL)
				pass_thread_over(&passed, SPI_getvalue(tt->vals[i], tt->tupdesc, 2),
								 thread_held ? PG_INT64_MIN : seq, waiting);
		}
		sg_claim_left_more = run != NULL && (i < n || n == batch);	/* the worker asks for help */
		if (n < batch)
			break;
		if (passed != NULL)
			batch = 64;			/* skipping a queue: fewer, larger fetches */
	}
	sg_spi_cursor_close(candidates);
	if (passed != NULL)
		hash_destroy(passed);
	/* nothing but runs that cannot be taken yet: start at the last of them */
	if (!from_found && seen > 0)
	{
		if (sees_every_run)
			sg_claim_from_raise(gen, from);
		/*
		 * Every run read is in the way of none (queued behind waiting
		 * runs, say), and there may be more after them: read on from the
		 * last one (its due time and seq: more than SG_CLAIM_READ runs
		 * queued by one transaction are due at the same time), also
		 * without the preload, or for a role that sees only its runs,
		 * where claim_from stays at the start.
		 */
		if (run == NULL && seen >= SG_CLAIM_READ &&
			(from > start || (from == start && from_seq > start_seq)))
		{
			TimestampTz shared_from = sg_claim_from(NULL);

			/*
			 * The raises that follow keep gen, read before the first
			 * snapshot: a commit since then that lowered claim_from (a
			 * waiting run pending again) may have made a run this claim
			 * read past claimable, and raises under the new gen moved
			 * claim_from past it until the next sweep (TAP 100).
			 */

			start_seq = shared_from > from ? PG_INT64_MIN : from_seq;
			start = Max(from, shared_from);
			goto again;
		}
	}
	sg_worker_claim_end(run != NULL);
	return run;
}

/* The stop request of run r as its row has it now (NULL: none, or no such row). */
static char *
read_stop_request(RunRow *r)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(&r->run_id)};

	if (run_sql(&plan, "SELECT stop_request FROM stategraph.runs WHERE run_id OPERATOR(pg_catalog.=) $1",
				1, types, values, NULL) == 0)
		return NULL;
	return sg_spi_text(0, 1);
}

static bool run_may_act_on_thread(RunRow *r);

/*
 * The stop request of run r, its row locked until the commit, as an end's
 * UPDATE locks it: an sg_cancel that comes later waits for the stop, and
 * finds the run finished (NULL: no such row).
 *
 * The thread's row first (the stop that follows holds it, stop_run): the
 * order of every transaction that takes both, sg_reassign_owned's among
 * them (its threads, then its runs FOR NO KEY UPDATE). Called at the start
 * of a transaction (the claim's commit, or that of a last step that found
 * the run stopped, went before), this locked the run's row first, then the
 * stop waited for the thread's row that a reassign of the run's owner,
 * begun after that commit, held while it waited for the run's: a deadlock
 * (40P01; fuzzing, test/fuzz/RESULTS.md, Roles, item 2). The claim's hold
 * on the owner's name (reassign.c) ends with the claim's commit, so it does
 * not keep the two apart here.
 */
static char *
lock_stop_request(RunRow *r)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(&r->run_id)};

	if (run_may_act_on_thread(r))
		(void) sg_thread_fetch(r->thread_id, true);
	if (run_sql(&plan, "SELECT stop_request FROM stategraph.runs WHERE run_id OPERATOR(pg_catalog.=) $1 "
				"FOR NO KEY UPDATE", 1, types, values, NULL) == 0)
		return NULL;
	return sg_spi_text(0, 1);
}

/*
 * Between two steps of a run: a step that is not the last writes nothing
 * to the run row (the claim marked it stepped, and its progress is the
 * thread's head); its end is recorded in the transaction of its last step:
 * status, error and finished_at, durably even when steps commit
 * asynchronously. Returns the stop request; between steps it is read again
 * only if a commit has asked some run to stop since it was last read (the
 * stop generation of worker.c; a statement per step saved). The end is
 * recorded (unless_stopped) only if the run has no stop request, read
 * under the row lock the UPDATE takes: an sg_cancel (or a multitask
 * submit) that committed before is seen, and the run is stopped instead
 * (its stop request returned); one that comes later waits for the end and
 * finds the run finished (sg_cancel returns false). Recording the end
 * regardless left a run cancelled during its last step 'success' (or
 * 'waiting' for its tasks), its rollback never done. (Without unless_stopped, the end is recorded as it is: a stop's
 * own, or that of a run ended without being executed.)
 */
#define END_RUN(cond) \
	"UPDATE stategraph.runs r SET stepped = true, status = $2, " \
	"error = COALESCE($3, CASE WHEN $2 OPERATOR(pg_catalog.=) 'cancelled' THEN r.error END), " \
	"finished_at = CASE WHEN $2 OPERATOR(pg_catalog.=) 'waiting' THEN NULL " \
	"  ELSE pg_catalog.clock_timestamp() END " \
	"WHERE r.run_id OPERATOR(pg_catalog.=) $1" cond " RETURNING " \
	"(SELECT x.not_before FROM stategraph.runs x WHERE x.thread_id OPERATOR(pg_catalog.=) r.thread_id " \
	"  AND x.status OPERATOR(pg_catalog.=) ANY (" ACTIVE ") AND x.run_id OPERATOR(pg_catalog.<>) r.run_id " \
	"  ORDER BY x.seq LIMIT 1)"

static char *
record_step(RunRow *r, const char *final, Jsonb *error, bool unless_stopped)
{
	static SPIPlanPtr end_plan;
	static SPIPlanPtr end_unless_plan;
	Oid			types[3] = {UUIDOID, TEXTOID, JSONBOID};
	Datum		values[3];
	char		nulls[3] = {' ', final ? ' ' : 'n', error ? ' ' : 'n'};
	bool		isnull;

	values[0] = UUIDPGetDatum(&r->run_id);
	if (final == NULL)
	{
		uint64		gen = 0;
		bool		known = sg_stop_generation(&gen);

		/* no stop asked by any commit since the run's stop request was last read */
		if (known && r->stop_gen_known && gen == r->stop_gen)
			return NULL;
		r->stop_gen_known = known;
		r->stop_gen = gen;
		return read_stop_request(r);
	}
	values[1] = CStringGetTextDatum(final);
	values[2] = error ? JsonbPGetDatum(error) : (Datum) 0;
	sg_run_ended_at_commit(&r->run_id);
	ForceSyncCommit();
	if ((unless_stopped ?
		 run_sql(&end_unless_plan, END_RUN(" AND r.stop_request IS NULL"), 3, types, values, nulls) :
		 run_sql(&end_plan, END_RUN(""), 3, types, values, nulls)) == 0)
	{
		if (!unless_stopped)
			return NULL;
		return read_stop_request(r);	/* stopped: the run row has a stop request (or is gone) */
	}
	{
		Datum		next_due = sg_spi_datum(0, 1, &isnull);

		if (sg_in_background_worker() && sg_thread_hides_a_run(r->thread_id))
		{
			/*
			 * The statement ran as the run's role, whose row-level security
			 * hides a member role's run queued on its thread (or a run of a
			 * role that may not act on it, queued on its id before the
			 * thread was created, TAP 233): that run's
			 * due time is not read here (only a yes or no comes out), and
			 * the next run the statement saw may be queued behind it, so
			 * claims read the queue from its start (TAP 072: sent to the
			 * run seen, they stayed past the hidden one, which is first,
			 * and both waited for the sweep). Only after a worker's run:
			 * claims pass no run queued behind another executor's (CALL
			 * sg_work's, a client session's).
			 */
			sg_run_thread_next = true;
			sg_runs_requeued_at_commit();
		}
		else if (!isnull)
		{
			/* the thread's next run is due now; claims may have passed it (claim_run) */
			sg_run_thread_next = true;
			sg_run_next_due_at_commit(DatumGetTimestampTz(next_due));
		}
	}
	return NULL;
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

/*
 * Put a thread back as it was before a run (multitask or cancel
 * 'rollback'). False, and nothing done, when the checkpoint the run started
 * from (its start_head) is no longer in the thread: the head put back there
 * named a checkpoint that does not exist, and every read of the thread and
 * every later run failed with 42704 (fuzzing, test/fuzz/RESULTS.md, Roles,
 * item 4: a run claimed from a checkpoint that an earlier run's rollback
 * then removed, with the checkpoints after it). The stop then keeps the
 * thread as it is, as an 'interrupt' does (stop_run).
 */
static bool
roll_back_thread(RunRow *r)
{
	static SPIPlanPtr start_plan;
	static SPIPlanPtr del_plan;
	static SPIPlanPtr thread_plan;
	static SPIPlanPtr drop_plan;
	static SPIPlanPtr gone_plan;
	Oid			types[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(&r->run_id)};
	bool		isnull;
	bool		created;
	Datum		ids;

	/* (the stop holds the thread: no other rollback or step removes it meanwhile) */
	if (run_sql(&gone_plan,
				"SELECT 1 FROM stategraph.runs r WHERE r.run_id OPERATOR(pg_catalog.=) $1 "
				"AND r.start_head IS NOT NULL AND NOT EXISTS (SELECT FROM stategraph.checkpoints c "
				"  WHERE c.thread_id OPERATOR(pg_catalog.=) r.thread_id "
				"  AND c.checkpoint_id OPERATOR(pg_catalog.=) r.start_head)",
				1, types, values, NULL) > 0)
		return false;
	/*
	 * The run's checkpoints, and whether it created the thread. A fork made
	 * from one of them (sg_fork while the run waited for external tasks:
	 * the thread is free then) gets an image of its own first, as before
	 * sg_prune or sg_delete_thread removes the checkpoint it starts at.
	 */
	if (run_sql(&start_plan,
				"SELECT r.start_status, (SELECT pg_catalog.array_agg(c.checkpoint_id) FROM stategraph.checkpoints c "
				"  WHERE c.thread_id OPERATOR(pg_catalog.=) r.thread_id "
				"  AND (r.start_head IS NULL OR c.checkpoint_id OPERATOR(pg_catalog.>) r.start_head)) "
				"FROM stategraph.runs r WHERE r.run_id OPERATOR(pg_catalog.=) $1",
				1, types, values, NULL) != 1)
		elog(ERROR, "background run %s to roll back is not visible to its role", r->id_text);	/* (execute_run checks the owner first) */
	created = sg_spi_text(0, 1) == NULL;
	ids = sg_spi_datum(0, 2, &isnull);
	if (created)
		sg_detach_forks(r->thread_id, (Datum) 0);
	else if (!isnull)
		sg_detach_forks(r->thread_id, PointerGetDatum(PG_DETOAST_DATUM_COPY(ids)));
	if (created)
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
				"WHERE r.run_id OPERATOR(pg_catalog.=) $1 AND t.thread_id OPERATOR(pg_catalog.=) r.thread_id "
				"RETURNING t.status, t.head",
				1, types, values, NULL);
		/* back on a step that waits for workers: its tasks, which the run cancelled, are queued again */
		if (SPI_processed == 1 && strcmp(sg_spi_text(0, 1), "waiting") == 0)
		{
			pg_uuid_t	head;

			if (sg_spi_uuid(0, 2, &head))
				sg_tasks_requeue_step(r->thread_id, &head);
		}
	}
	sg_state_cache_forget(r->thread_id);
	return true;
}

/*
 * Whether the run's role may act on its thread (or there is none): a
 * dropped role's run is stopped as a superuser (sg_work_one), and a role
 * can INSERT a run row naming any thread, with the start_head and
 * start_status a rollback puts back (TAP 086).
 */
static bool
run_may_act_on_thread(RunRow *r)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(&r->run_id)};

	return run_sql(&plan,
				   "SELECT 1 FROM stategraph.runs r JOIN stategraph.threads t "
				   "ON t.thread_id OPERATOR(pg_catalog.=) r.thread_id WHERE r.run_id OPERATOR(pg_catalog.=) $1 "
				   "AND NOT " OWNER_ACTS("r", "t"),
				   1, types, values, NULL) == 0;
}

/*
 * Cancel the external tasks of the thread of a run being stopped (th: its
 * row, locked), waiting for a task row that another transaction holds no
 * longer than half of deadlock_timeout. This transaction holds the run's
 * row since its claim, and a completion of the waiting step's last task
 * holds its task's row and then takes the run's, to wake the run
 * (sg_step_ready_hook); when the stop request was in flight at that
 * moment, the completion waited for it and then for this claim, which
 * followed it. Each waited for the other, and the deadlock detector rolled
 * one back after deadlock_timeout: as often the worker's sg_complete
 * (40P01) as the stop. The stop gives way first instead: its lock timeout
 * (55P03) is a failure of the run, whose stop is tried again (a run asked
 * to stop never ends for its failures), and the completion goes on.
 */
static void
cancel_stopped_tasks(SGThread *th)
{
	int			bound = Max(DeadlockTimeout / 2, 1);
	int			nest;
	char		ms[32];

	if (LockTimeout > 0 && LockTimeout <= bound)
	{
		sg_tasks_cancel_thread(th);
		return;
	}
	nest = NewGUCNestLevel();
	snprintf(ms, sizeof(ms), "%d", bound);
	(void) set_config_option("lock_timeout", ms, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	sg_tasks_cancel_thread(th);
	AtEOXact_GUC(true, nest);
}

/*
 * A run stopped by a request before it ended: cancelled (and rolled back),
 * its external tasks too. error: that of its last step, whose nodes failed
 * (NULL: none, or the one sg_run_failure kept on the run), kept on the
 * run as an 'error' run has it: a rollback removes it from the thread,
 * and the log was the only place left.
 */
static void
stop_run(RunRow *r, const char *request, Jsonb *error)
{
	bool		on_thread = run_may_act_on_thread(r);
	SGThread   *th = on_thread ? sg_thread_fetch(r->thread_id, true) : NULL;

	if (th != NULL)
		cancel_stopped_tasks(th);	/* its external tasks out, if it was waiting */
	if (on_thread && strcmp(request, "rollback") == 0 && !roll_back_thread(r) && th != NULL)
	{
		/* its start is gone: stopped as by 'interrupt', the error says why (roll_back_thread) */
		SGJsonBuilder b = {0};

		ereport(LOG,
				(errmsg("background run %s was not rolled back: the checkpoint it started from no longer exists in thread \"%s\"",
						r->id_text, r->thread_id),
				 errdetail("The thread keeps its checkpoints, as after a stop with action 'interrupt'.")));
		if (error == NULL)
		{
			sg_jb_begin_object(&b);
			sg_jb_key(&b, "sqlstate");
			sg_jb_string(&b, "55000");
			sg_jb_key(&b, "message");
			sg_jb_string(&b, psprintf("the run was not rolled back: the checkpoint it started from no longer exists in thread \"%s\"",
									  r->thread_id));
			sg_jb_key(&b, "detail");
			sg_jb_string(&b, "The thread keeps its checkpoints, as after a stop with action 'interrupt'.");
			sg_jb_end_object(&b);
			error = sg_jb_finish(&b);
		}
		if (strcmp(th->status, "waiting") == 0)
			sg_thread_set(r->thread_id, th->has_head ? &th->head : NULL, "idle", NULL);
	}
	else if (th != NULL && strcmp(request, "rollback") != 0 && strcmp(th->status, "waiting") == 0)
		sg_thread_set(r->thread_id, th->has_head ? &th->head : NULL, "idle", NULL);	/* no task out now */
	(void) record_step(r, "cancelled", error, false);
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
	else
		sg_run_check_privileges(*c->run);	/* a new transaction: a REVOKE may have committed */
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
 * step_call in a worker, under statement_timeout. A worker takes its steps
 * outside any statement, so no statement timer runs unless it starts one:
 * statement_timeout (the server's or the database's) bounds each step, and
 * a node that never returns is cancelled (57014) instead of holding the
 * worker for ever. (CALL sg_work is a statement: the caller's timeout
 * bounds it.)
 *
 * A timer that fires once the step has returned, before it is disabled,
 * has cancelled nothing: its handler set the timeout's indicator and then
 * QueryCancelPending (SIGINT to itself), which the next CHECK_FOR_INTERRUPTS
 * of the run's bookkeeping turned into a cancel and the run into a retry.
 * PostgreSQL ignores such a late timeout too (its disable_timeout clears the
 * indicator, and ProcessInterrupts drops a cancel that comes while it reads
 * the next command). So the timer is disabled keeping its indicator, and if
 * it had fired, the pending cancel it caused is dropped.
 */
static void
timed_step_call(StepCall *c)
{
	if (StatementTimeout > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, StatementTimeout);
	PG_TRY();
	{
		(void) step_call(c);
	}
	PG_CATCH();
	{
		disable_timeout(STATEMENT_TIMEOUT, false);
		PG_RE_THROW();
	}
	PG_END_TRY();
	disable_timeout(STATEMENT_TIMEOUT, true);
	if (get_timeout_indicator(STATEMENT_TIMEOUT, true))
		QueryCancelPending = false; /* the step was done: the timeout is moot */
}

/* Errors that may pass if the run is tried again: cancels, timeouts, memory, lock conflicts. */
static bool
transient_error(int sqlerrcode)
{
	return sqlerrcode == ERRCODE_QUERY_CANCELED || sqlerrcode == ERRCODE_ADMIN_SHUTDOWN ||
		sqlerrcode == ERRCODE_OUT_OF_MEMORY || sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE ||
		sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED || sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE;
}

/*
 * Take one step (the first one with the run's start). In a subtransaction
 * (sg_work), an error is returned in *edata (fail_transient for a transient
 * one). Without (the workers), every error goes on up: the worker rolls
 * the transaction back and records it with sg_run_failure.
 */
static bool
take_step(SGRun **run, SGRunOptions *opts, MemoryContext run_cxt, bool in_subxact, ErrorData **edata)
{
	StepCall	c = {run, opts, run_cxt, false};

	*edata = NULL;
	if (!in_subxact)
	{
		current.in_step = true;
		timed_step_call(&c);
		current.in_step = false;
		return c.more;
	}
	*edata = sg_spi_subxact(step_call, &c);
	return *edata == NULL && c.more;
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

static bool owner_changed(void);
static void work_rollback(void);
static void run_failure_as_caller(ErrorData *edata);

/*
 * The step failed (an error that escaped it, in *edata, or one of its
 * nodes recorded on the run) while the run's role was renamed (a
 * checkpoint row under the old name refused by row-level security, a node
 * that read the role under its old name), or while sg_reassign_owned gave
 * the run to another role, whose thread the role it executes as may no
 * longer write (owner_changed): it failed for the change of owner, not for
 * its graph. Its transaction is rolled back (the claim too, when this was
 * the run's first step, so that it starts again from its input), and
 * sg_run_failure, in a new transaction, makes the run due again at once,
 * its attempt counted but not among its failures; a later claim takes it
 * again as the new name or the new owner. A worker does both once the
 * error raised here has reached it; CALL sg_work, whose caller must not
 * see the error, does them here, as the caller (the run's old role may
 * not see its row any more). A stop about to run as an owner the run no
 * longer has is taken again the same way (execute_run); during names
 * what the change came during, for the message.
 */
static void
retry_new_owner(RunRow *r, ErrorData *edata, bool in_subxact, SGCommitFn commit, const char *during)
{
	ErrorData	e = {0};
	char	   *why = psprintf("the role of background run %s was renamed, or the run given to another role, "
							   "during %s", r->id_text, during);

	if (!in_subxact)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg_internal("%s", why)));
	if (edata == NULL)
	{
		e.sqlerrcode = ERRCODE_T_R_SERIALIZATION_FAILURE;
		e.message = why;
		edata = &e;
	}
	work_rollback();
	run_failure_as_caller(edata);
	commit();
}

/*
 * A transient error of a step in CALL sg_work (a cancel, a statement
 * timeout, a deadlock): thrown on, and recorded as any error outside the
 * step (work_one): the run pending again after a backoff, its failure
 * counted (sg_run_failure).
 */
static void
fail_transient(ErrorData *edata)
{
	current.in_step = true;		/* (for the log: a step's error) */
	ReThrowError(edata);
}

static void commit_holding_thread(const char *thread_id, SGCommitFn commit);

/*
 * A run's end is about to commit: let its thread go first, so that whoever
 * sees the end (sg_wait, sg_runs) finds the thread free, not running in
 * sg_threads nor busy (55P03) with stategraph.lock_wait off. Both locks:
 * the session lock sg_run_begin took, and the claim's transaction lock
 * when the end commits with the claim (a run resumed after its external
 * tasks ending in that step, a stop of a run that had not begun here or
 * whose role was dropped, a run ended unexecuted). A commit releases a
 * transaction lock only after it has made the end visible (regress
 * revlife_prune_waiting saw it).
 */
static void
let_thread_go(RunRow *r)
{
	sg_unlock_thread(r->thread_id, true);
	sg_unlock_thread(r->thread_id, false);
}

/*
 * The run's last step found it stopped, its nodes having failed with
 * error: record the error on the run and commit it, with the step (as
 * between two steps), before the stop, which records it again. Kept only
 * in memory (keep_stop_error), it was lost when the executor died during
 * the stop: the stop, done again by the claim that recovered the run,
 * ended it cancelled with error NULL (TAP 124). The stop's rollback
 * removes the step's checkpoint as before. The thread stays held across
 * the commit: for the session once the run has begun (held_for_session),
 * else (the step failed before it began) as commit_holding_thread holds it.
 * Returns the stop request as the run row has it after the commit (an
 * sg_cancel may have changed it), locked until the stop commits, as
 * sg_work_one reads it again after a commit.
 */
static char *
keep_stop_error_on_run(RunRow *r, char *stop, Jsonb *error, bool held_for_session, SGCommitFn commit)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {UUIDOID, JSONBOID};
	Datum		values[2] = {UUIDPGetDatum(&r->run_id), JsonbPGetDatum(error)};
	char	   *now;

	run_sql(&plan, "UPDATE stategraph.runs SET error = $2 WHERE run_id OPERATOR(pg_catalog.=) $1",
			2, types, values, NULL);
	ForceSyncCommit();			/* (a worker commits asynchronously) */
	if (held_for_session)
		commit();
	else
		commit_holding_thread(r->thread_id, commit);
	current.committed = true;
	now = lock_stop_request(r);
	return now != NULL ? now : stop;
}

/*
 * The first step of a run without input is about to commit, the run's
 * claim committed before it (mark_claimed): mark the run stepped with it,
 * so that after a crash it goes on from the thread's head, its resume or
 * time travel done. At the step's end, not its start: the row is not held
 * while the nodes run.
 */
static void
mark_stepped(RunRow *r)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(&r->run_id)};

	run_sql(&plan, "UPDATE stategraph.runs SET stepped = true WHERE run_id OPERATOR(pg_catalog.=) $1",
			1, types, values, NULL);
	r->stepped = true;
}

/*
 * The last step a run that has stepped may take: recursion_limit counts
 * the super-steps of the whole run, from where it began, as
 * sg_run_begin counts them for its first execution (the input checkpoint's
 * step, or the checkpoint resumed or travelled back to). A run going on
 * after its external tasks (pending again after waiting) or after its
 * executor died goes on from the thread's head, and counted its limit from
 * there again: an agent loop whose model is an external node never
 * reached its limit (TAP 299_run_recursion_limit_across_waits). A
 * checkpoint travelled back to may have been pruned since (prune keeps
 * the run's start_head, RUN_START_KEPT): the limit then counts from the
 * thread's head when the run began. False (no cap but the executor's own)
 * when neither is there.
 */
static bool
run_last_step(RunRow *r, int *last)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(&r->run_id)};
	bool		isnull;
	int64		from;

	if (run_sql(&plan,
				"SELECT CASE WHEN r.input IS NOT NULL THEN COALESCE(c.step, h.step, "
				"  CASE WHEN r.checkpoint_id IS NULL AND r.start_head IS NULL THEN -2 END) OPERATOR(pg_catalog.+) 2 "
				"ELSE COALESCE(c.step OPERATOR(pg_catalog.+) CASE WHEN r.checkpoint_id IS NOT NULL "
				"  AND NOT COALESCE(r.checkpoint_id OPERATOR(pg_catalog.=) r.start_head, false) THEN 2 ELSE 1 END, "
				"  h.step OPERATOR(pg_catalog.+) 1) END "
				"FROM stategraph.runs r LEFT JOIN stategraph.checkpoints c "
				"  ON c.thread_id OPERATOR(pg_catalog.=) r.thread_id "
				"  AND c.checkpoint_id OPERATOR(pg_catalog.=) COALESCE(r.checkpoint_id, r.start_head) "
				"LEFT JOIN stategraph.checkpoints h ON h.thread_id OPERATOR(pg_catalog.=) r.thread_id "
				"  AND h.checkpoint_id OPERATOR(pg_catalog.=) r.start_head "
				"WHERE r.run_id OPERATOR(pg_catalog.=) $1",
				1, types, values, NULL) != 1)
		return false;
	from = DatumGetInt32(sg_spi_datum(0, 1, &isnull));
	if (isnull)
		return false;
	*last = (int) Min(from + r->recursion_limit, (int64) PG_INT32_MAX);
	return true;
}

/* Execute a claimed run as its owner, committing (commit()) after every step. */
static void
execute_run(RunRow *r, SGCommitFn commit, bool in_subxact, MemoryContext run_cxt)
{
	SGRunOptions opts;
	SGRun	   *run = NULL;
	char	   *stop = r->stop_request;

	memset(&opts, 0, sizeof(opts));
	opts.graph = r->graph;
	opts.has_graph_gen = r->has_graph_gen;	/* that graph, not one made since under its name */
	opts.graph_gen = r->graph_gen;
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
	else
		opts.has_last_step = run_last_step(r, &opts.last_step);
	/* a left step's run: the limit of the call that left it counts, from before the run */
	if (r->has_last_step && (!opts.has_last_step || r->last_step < opts.last_step))
	{
		opts.has_last_step = true;
		opts.last_step = r->last_step;
	}
	for (;;)
	{
		ErrorData  *edata;
		bool		more;
		Jsonb	   *error = NULL;
		const char *final = NULL;
		int			nest;

		if (stop != NULL)
		{
			/*
			 * The stop acts as the owner the claim read, on rows row-level
			 * security shows that owner: a reassign of the run that
			 * committed since (between the claim's commit and the stop's
			 * locks, or between a step's commit and this stop) hides them.
			 * Its rollback read the first row of the run's empty result
			 * and the executor died (signal 11; fuzzing,
			 * test/fuzz/RESULTS.md, "Regression run (2026-12-07)", item
			 * 6), and an 'interrupt' recorded its end on no row, the run
			 * left running. Taken again as the new owner, as a step that
			 * failed for it is (TAP 324).
			 */
			if (owner_changed())
			{
				retry_new_owner(r, NULL, in_subxact, commit, "its stop");
				return;
			}
			sg_worker_report_run(NULL, NULL);	/* (see below) */
			stop_run(r, stop, current.stop_error);
			let_thread_go(r);	/* (stop_run holds the thread's row) */
			commit();
			keep_stop_error(NULL);
			return;
		}
		/*
		 * A setting the step's code changes, even for the session
		 * (set_config(..., false)), ends with the step: the session is a
		 * worker's (or that of the caller of sg_work) and runs the next
		 * run of another role next (a search_path of the submitter's
		 * schemas would have the next role's unqualified names call the
		 * submitter's functions). An error rolls back the transaction,
		 * which undoes them too.
		 */
		nest = NewGUCNestLevel();
		/*
		 * (in CALL sg_work's session, a run of another role than the
		 * caller's does not see the custom settings the caller made, what
		 * row-level security policies often go by: a caller working for
		 * two roles had one's nodes read the other's rows; nor a
		 * superuser caller's session_replication_role and the like; TAP
		 * 302_complete_as_owner_session)
		 */
		if (!IsBackgroundWorker && GetUserId() != GetSessionUserId())
			sg_hide_session_settings();
		more = take_step(&run, &opts, run_cxt, in_subxact, &edata);
		AtEOXact_GUC(false, nest);
		if (edata && transient_error(edata->sqlerrcode))
			fail_transient(edata);
		if (edata)
		{
			final = "error";
			error = error_jsonb(edata);
		}
		else if (!more)
			final = final_status(run, &error);
		if (final && strcmp(final, "error") == 0 && owner_changed())
		{
			retry_new_owner(r, edata, in_subxact, commit, "its step");
			return;
		}
		/*
		 * Claims no longer pass the run or its thread's next (worker.c,
		 * sg_worker_executes_thread) once the thread may go to another
		 * session; the commit lowers claim_from to that next run, which
		 * record_step looks up. Cleared before record_step's statement
		 * takes its snapshot: a run queued on the thread after that
		 * snapshot is not seen there, so no claim may have passed it as
		 * queued behind this one (one that saw the slot set had seen the
		 * run committed before it was cleared). TAP 071.
		 */
		if (final)
			sg_worker_report_run(NULL, NULL);
		else if (!r->stepped && r->input == NULL)
			mark_stepped(r);	/* (a run with input: its claim did) */
		stop = record_step(r, final, error, true);
		if (final && stop != NULL)
		{
			keep_stop_error(error);
			if (error != NULL)
				stop = keep_stop_error_on_run(r, stop, error, run != NULL, commit);
			continue;			/* stopped in its last step: cancelled (and rolled back) all the same */
		}
		if (final)
			let_thread_go(r);	/* (its row stays locked by this transaction until the commit) */
		commit();
		current.committed = true;
		if (final)
			return;
		CHECK_FOR_INTERRUPTS();
	}
}

/* End a claimed run with status error without executing it, and commit. */
static void
end_unexecuted(RunRow *r, Jsonb *error, SGCommitFn commit)
{
	/*
	 * Its role's share is free now, before the statement that records the
	 * end, as at a run's end (execute_run), not at this worker's next
	 * claim: the worker it wakes, if one was refused the share, claims
	 * while this commit may still wait (TAP 122).
	 */
	sg_worker_drop_role_share();
	(void) record_step(r, "error", error, false);
	let_thread_go(r);
	commit();
	current.claimed = false;
}

/* Commit, the thread held (by this transaction) across the commit: for the session meanwhile. */
static void
commit_holding_thread(const char *thread_id, SGCommitFn commit)
{
	sg_lock_thread(thread_id, true);	/* held already: no wait */
	PG_TRY();
	{
		commit();
	}
	PG_CATCH();
	{
		sg_unlock_thread(thread_id, true);
		PG_RE_THROW();
	}
	PG_END_TRY();
	(void) sg_try_lock_thread(thread_id);	/* held for the session: no wait */
	sg_unlock_thread(thread_id, true);
}

/*
 * Execute one due run (claimed in the current transaction, SPI connected),
 * as its owner; false if there was none. The session keeps the thread's
 * lock for the whole run, as CALL sg_run does. in_subxact: take each step
 * in a subtransaction (sg_work, whose caller sees any other error), or let
 * every error go up to the worker (sg_run_failure).
 */
bool
sg_work_one(SGCommitFn commit, bool in_subxact, bool *blocked)
{
	RunRow	   *r;
	Oid			role;
	Oid			save_user;
	int			save_sec;
	MemoryContext run_cxt;

	current.claimed = false;
	r = claim_run(blocked);
	if (r == NULL)
		return false;
	if (sg_claim_left_more)
		sg_worker_ask_help();	/* now, not after this run: a batch of long runs went one by one */
	role = get_role_oid(r->owner, true);
	if (!OidIsValid(role) && r->stop_request == NULL)
	{
		SGJsonBuilder b = {0};

		sg_jb_begin_object(&b);
		sg_jb_key(&b, "message");
		sg_jb_string(&b, psprintf("role \"%s\" that submitted the run does not exist", r->owner));
		sg_jb_end_object(&b);
		end_unexecuted(r, sg_jb_finish(&b), commit);
		return true;
	}
	if (r->foreign)
	{
		/* what its role is told of another role's thread (README: Security), without touching it */
		ErrorData	e = {0};

		if (r->stop_request != NULL)
		{
			/* asked to stop: cancelled, nothing rolled back on a thread its role may not act on (TAP 086) */
			sg_worker_drop_role_share();
			(void) record_step(r, "cancelled", NULL, false);
			let_thread_go(r);
			commit();
			current.claimed = false;
			return true;
		}
		if (r->input != NULL && !r->has_checkpoint)
		{
			e.sqlerrcode = ERRCODE_INSUFFICIENT_PRIVILEGE;
			e.message = psprintf(SG_ANOTHER_ROLES_THREAD_MSG, r->thread_id);
			e.detail = SG_ANOTHER_ROLES_THREAD_DETAIL;
			e.hint = SG_ANOTHER_ROLES_THREAD_HINT;
		}
		else
		{
			e.sqlerrcode = ERRCODE_UNDEFINED_OBJECT;
			e.message = psprintf("thread \"%s\" does not exist", r->thread_id);
		}
		end_unexecuted(r, error_jsonb(&e), commit);
		return true;
	}
	/*
	 * Its executor died every time since its last step committed (a node
	 * that crashes the server...): not again. A run to be stopped is
	 * stopped instead, which takes no step
	 * (abandoned, a 'rollback' stop was never done: TAP 080), once more:
	 * the deaths may all have been its steps'. If its executor dies in that
	 * stop too (a rollback that crashes the server), the stop is not done:
	 * it was tried for ever (TAP 084). (In int64: at the setting's largest,
	 * 2147483647, one more wrapped around, and a run to be stopped was
	 * abandoned at its first death, TAP 281_worker_deaths_counted.)
	 */
	if (r->recovered &&
		(int64) r->recoveries > (int64) sg_max_run_recoveries + (r->stop_request != NULL ? 1 : 0))
	{
		ErrorData	e = {0};

		e.sqlerrcode = ERRCODE_SG_RUN_ABANDONED;
		e.message = psprintf("run abandoned: its worker ended %d times while executing it", r->recoveries);
		if (r->stop_request != NULL)
			e.detail = psprintf("The run was asked to stop with '%s'; its stop was not done.", r->stop_request);
		else
			e.detail = pstrdup("No step of the run committed between those ends.");
		e.hint = "See stategraph.max_run_recoveries; the thread keeps the checkpoints of the steps that committed.";
		end_unexecuted(r, error_jsonb(&e), commit);
		ereport(LOG,
				(errmsg("background run %s abandoned: its worker ended %d times while executing it",
						r->id_text, r->recoveries),
				 r->stop_request != NULL ? errdetail("Its stop ('%s') was not done.", r->stop_request) : 0));
		return true;
	}
	if (r->recovered || r->stop_request != NULL || (!r->stepped && r->input == NULL))
	{
		/*
		 * The claim of a run whose first step runs nodes commits first
		 * (mark_claimed). Count the recovery where a death of this worker
		 * cannot roll it back (a claim commits with the run's first step
		 * otherwise), and a stop's claim, so that a death in the stop counts one (rolled back
		 * with the claim, a stop's death counted nothing, and the run was
		 * stopped again for ever). The thread is held across the commit
		 * (for the session, then for the transaction again): a session
		 * that took it in between (a client waiting for it) wrote on it
		 * before the stop's rollback, which removed that, and the run,
		 * left running, counted a recovery at its next claim (TAP 087).
		 */
		commit_holding_thread(r->thread_id, commit);
		current.committed = true;
		/*
		 * The row is no longer locked: an sg_cancel may have changed the
		 * request since the claim ('rollback' to 'interrupt'). Read it
		 * again, locked until the stop commits (TAP 087).
		 */
		if (r->stop_request != NULL)
		{
			char	   *now = lock_stop_request(r);

			if (now != NULL)
				r->stop_request = now;
		}
	}
	if (!OidIsValid(role))
	{
		/*
		 * Its submitter is gone but it was asked to stop: a stop executes
		 * nothing of the role's, so it is done as this session's role (a
		 * superuser's: no other sees a dropped role's runs). Ended 'error',
		 * a 'rollback' was not done (TAP 081).
		 */
		stop_run(r, r->stop_request, NULL);
		let_thread_go(r);		/* the claim's lock, held across its commit (TAP 143) */
		commit();
		current.claimed = false;
		return true;
	}
	current.role = role;		/* (see owner_changed) */
	namestrcpy(&current.role_name, GetUserNameFromId(role, false));
	namestrcpy(&current.owner, r->owner);
	sg_worker_report_run(&r->run_id, r->thread_id);
	run_cxt = AllocSetContextCreate(TopMemoryContext, "stategraph background run", ALLOCSET_DEFAULT_SIZES);
	/* execute_run undoes the settings a step changes */
	act_as_submitter(role, &save_user, &save_sec);
	PG_TRY();
	{
		execute_run(r, commit, in_subxact, run_cxt);
	}
	PG_FINALLY();
	{
		act_as_before(save_user, save_sec);
		sg_worker_report_run(NULL, NULL);	/* before the thread goes (see execute_run) */
		sg_unlock_thread(r->thread_id, true);
		MemoryContextDelete(run_cxt);
	}
	PG_END_TRY();
	current.claimed = false;
	return true;
}

/*
 * Has the claimed run changed owner since the claim (SPI connected)? The
 * role it executes as was renamed (in a new transaction) or dropped, or
 * its row names another owner: sg_reassign_owned gave it away. A row that
 * the session's role does not see (the old role's, executing the step) was
 * given to a role it is not a member of. A role dropped while its step
 * ran failed the step wherever it looked the role up ("invalid role OID"
 * in a policy's CURRENT_USER, or in a node), and the run ended with that
 * error: taken again, it ends as any run whose role is gone ("role ...
 * that submitted the run does not exist", sg_work_one; TAP 203), its
 * stop, if one was asked, done. Asked after an error only: a statement per
 * step saved.
 */
static bool
owner_changed(void)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(&current.run_id)};
	char	   *now;

	if (!OidIsValid(current.role))
		return false;
	now = GetUserNameFromId(current.role, true);
	if (now == NULL || strcmp(now, NameStr(current.role_name)) != 0)
		return true;
	if (run_sql(&plan, "SELECT owner::pg_catalog.text FROM stategraph.runs WHERE run_id OPERATOR(pg_catalog.=) $1",
				1, types, values, NULL) == 0)
		return true;
	return strcmp(sg_spi_text(0, 1), NameStr(current.owner)) != 0;
}

/*
 * A worker rolled back the transaction of the run it executes after an
 * error that escaped it, and calls this in a new transaction: an error of
 * the graph's step (a dropped function, a graph no longer compiled...)
 * ends the run with status error at once, as the executor records a
 * node's; any other (claiming or recording the run, committing, a cancel,
 * a timeout, memory) is retried after a backoff of 1 s, then 2 s, ..., and
 * ends the run with status error at its SG_RUN_MAX_FAILURES-th time. An
 * error of a run whose role was renamed meanwhile (its name now is not the
 * one this session saw at the claim), of the step or not, is retried at
 * once and not counted: a step that waited for the transaction of an ALTER
 * ROLE ... RENAME and its sg_reassign_owned, or that ran while it
 * committed, can read the role under its old name from a catalog cache
 * not yet told ('role "..." does not exist'); taken again, it reads it
 * anew (a role renamed again and again while its run executes must not
 * use up the run's failures). So is one of a run that sg_reassign_owned
 * gave to another role meanwhile (its row names another owner than its
 * claim read): the step, executed as the old role, found the thread the
 * new role's (row-level security refused its checkpoint, or its thread's
 * row was gone: save_thread); taken again, it goes on as the new owner
 * from that step (TAP 134). A run to be tried again is pending until
 * then, not running: the claim that takes it again must not count a
 * recovery, which is for a run whose executor died (one that has taken
 * steps is stopped as a running one, by sg_cancel and interrupting
 * submits). A run that has a stop request is not ended by a failure, of
 * its stop or of a step: a run stopped with 'rollback' that ended 'error'
 * kept its checkpoints, and the run submitted with 'rollback' behind it
 * started on them. It is pending again, to be stopped, after a backoff
 * that goes on growing with its failures, up to a minute, until its stop
 * is done (sg_cancel(run_id, 'interrupt') turns a rollback that cannot be
 * done into a stop that keeps the checkpoints); the error of a step that
 * failed so is kept on it for the stop (stop_run), as CALL sg_work, which
 * sees the error in the step, keeps it (TAP 088); so is that of a last
 * step that found the run stopped when the stop then failed, which its
 * transaction held (keep_stop_error, TAP 092). False if no run was
 * claimed (the error came before a claim).
 */
bool
sg_run_failure(ErrorData *edata)
{
	static SPIPlanPtr plan;
	Oid			types[8] = {UUIDOID, BOOLOID, JSONBOID, INT4OID, INT4OID, INT4OID, JSONBOID, FLOAT8OID};
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', current.stop_error ? ' ' : 'n', ' '};
	bool		ended;
	bool		new_owner;
	bool		conflict = false;
	double		delay = 0;

	if (!current.claimed)
		return false;
	sg_spi_connect();
	new_owner = owner_changed();
	/*
	 * A serialization failure or a deadlock (under a database's
	 * default_transaction_isolation = serializable, the claims and end
	 * records of the workers, which commit with a run's first and last
	 * steps, conflict with each other: runs of unrelated threads ended
	 * 40001 at their third, TAP 343) is tried again after a short random
	 * backoff, not counted, up to SG_RUN_MAX_CONFLICTS times. In a
	 * worker only: CALL sg_work's caller sees the error, under the
	 * isolation it chose, and counts it as before (TAP 078), in any
	 * other extension's background worker too (pg_cron's).
	 */
	if (sg_in_background_worker() && !new_owner && (edata->sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE ||
					   edata->sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED))
	{
		int			n = count_conflict(&current.run_id);

		if (n <= SG_RUN_MAX_CONFLICTS)
		{
			conflict = true;
			delay = Min(0.05 * (1 << Min(n - 1, 5)), 1.0) * (0.5 + pg_prng_double(&pg_global_prng_state));
		}
	}
	values[0] = UUIDPGetDatum(&current.run_id);
	values[1] = BoolGetDatum(current.in_step && !transient_error(edata->sqlerrcode) && !new_owner);
	values[2] = JsonbPGetDatum(error_jsonb(edata));
	values[3] = Int32GetDatum(SG_RUN_MAX_FAILURES);
	values[4] = Int32GetDatum(current.committed ? 0 : 1);	/* its claim was rolled back */
	values[5] = Int32GetDatum(new_owner || conflict ? 0 : 1);	/* a rename's or reassign's is not counted, nor waited for */
	values[6] = current.stop_error ? JsonbPGetDatum(current.stop_error) : (Datum) 0;	/* (keep_stop_error) */
	values[7] = Float8GetDatum(delay);	/* a conflict's backoff (s) */
	/*
	 * (The exponent is capped too: 2^failures of a stop retried for 17
	 * hours overflowed, and its failures were no longer recorded; TAP 080.)
	 */
#define FAILURE_ENDS \
	"stop_request IS NULL AND ($2 OR failures OPERATOR(pg_catalog.+) $6 OPERATOR(pg_catalog.>=) $4)"
	if (run_sql(&plan,
				"UPDATE stategraph.runs SET failures = failures OPERATOR(pg_catalog.+) $6, "
				"attempt = attempt OPERATOR(pg_catalog.+) $5, "
				"status = CASE WHEN " FAILURE_ENDS " THEN 'error' ELSE 'pending' END, "
				"error = CASE WHEN " FAILURE_ENDS " THEN $3 "
				"  WHEN stop_request IS NOT NULL AND $2 THEN $3 "
				"  WHEN stop_request IS NOT NULL THEN COALESCE($7, error) END, "
				"finished_at = CASE WHEN " FAILURE_ENDS " THEN pg_catalog.clock_timestamp() END, "
				"not_before = CASE WHEN " FAILURE_ENDS " "
				"  THEN not_before WHEN $6 OPERATOR(pg_catalog.=) 0 "
				"  THEN pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => $8) "
				"  ELSE pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) "
				"  pg_catalog.make_interval(secs => LEAST(2 OPERATOR(pg_catalog.^) LEAST(failures, 6), 60)) END "
				"WHERE run_id OPERATOR(pg_catalog.=) $1 "
				"AND status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running']) RETURNING status",
				8, types, values, nulls) == 1)
#undef FAILURE_ENDS
	{
		ended = strcmp(sg_spi_text(0, 1), "error") == 0;
		if (ended)
			sg_run_ended_at_commit(&current.run_id);
		else
			sg_run_delayed_at_commit();
		/*
		 * Its thread's next runs, which claims may have passed while a
		 * worker executed it: ended, or pending (then it may end without a
		 * worker, which would send claims back to them: an sg_cancel of a
		 * run that has taken no step cancels it at once).
		 */
		sg_runs_requeued_at_commit();
		ereport(LOG,
				(errmsg("background run %s failed%s: %s", sg_uuid_to_cstring(&current.run_id),
						current.in_step ? "" : " outside its graph's steps", edata->message),
				 errdetail(ended ? "The run ends with status error." : "The run will be tried again.")));
	}
	sg_spi_finish();
	forget_unrecordable(&current.run_id);
	current.claimed = false;
	keep_stop_error(NULL);
	return true;
}

/* The failure of the claimed run could not be recorded either: this worker passes it over. */
void
sg_run_unrecordable(void)
{
	MemoryContext old;
	Unrecordable *u = NULL;
	ListCell   *lc;

	if (!current.claimed)
		return;
	foreach(lc, unrecordable)
		if (memcmp(&((Unrecordable *) lfirst(lc))->run_id, &current.run_id, sizeof(pg_uuid_t)) == 0)
			u = lfirst(lc);
	if (u == NULL)
	{
		old = MemoryContextSwitchTo(TopMemoryContext);
		u = palloc0(sizeof(Unrecordable));
		u->run_id = current.run_id;
		unrecordable = lappend(unrecordable, u);
		MemoryContextSwitchTo(old);
	}
	u->times = Min(u->times + 1, 7);
	u->until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), Min(1000L << (u->times - 1), 60000L));
	ereport(WARNING,
			(errmsg("background run %s is passed over by this worker for %ld s: its failure could not be recorded",
					sg_uuid_to_cstring(&current.run_id), Min(1L << (u->times - 1), 60L))));
	sg_claim_from_reset();		/* other claims may have passed it while this worker executed it */
	current.claimed = false;
}

/*
 * sg_step_ready_hook (tasks.c): the last external task of a waiting step
 * completed in this transaction, or the thread left the step (its tasks
 * were cancelled by a new input, sg_update_state or time travel); the
 * thread's waiting run becomes pending again (it goes on from the
 * thread's head), and a worker wakes at commit. sg_delete_thread cancels
 * a waiting run before it cancels its tasks (retention.c,
 * cancel_stepped_runs), so none is left here to go on with a new thread
 * of the same id.
 */
#define STEP_READY \
	"UPDATE stategraph.runs r SET status = 'pending' WHERE r.thread_id OPERATOR(pg_catalog.=) $1 " \
	"AND r.status OPERATOR(pg_catalog.=) 'waiting' AND " RUN_MAY_ACT("r") " RETURNING r.not_before"

static void
runs_step_ready(const char *graph, const char *thread_id)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(thread_id)};
	uint64		n = run_sql(&plan, STEP_READY, 1, types, values, NULL);
	uint64		i;
	bool		isnull;

	if (n == 0)					/* a member role's run on its parent's thread, hidden from the parent (TAP 231) */
		n = sg_spi_execute_as_hidden_waiting_run(thread_id, plan, values, NULL);

	for (i = 0; i < n; i++)
		sg_run_queued_at_commit(DatumGetTimestampTz(sg_spi_datum(i, 1, &isnull)));
}

/* Background runs continue threads whose external tasks completed (called from _PG_init). */
void
sg_runs_init(void)
{
	sg_step_ready_hook = runs_step_ready;
}

/*
 * Milliseconds until the next delayed run is due (0: one came due since
 * the worker last looked for due runs, at since); -1: none. A run that
 * came due between that claim and now counts (it used to be missed, and
 * waited for the sweep interval); one due before since does not (the
 * claim saw it: it waits for its thread, and no busy loop waits with it).
 */
long
sg_next_due_ms(TimestampTz since)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		values[1] = {TimestampTzGetDatum(since)};
	bool		isnull;
	Datum		d;

	run_sql(&plan,
			"SELECT (EXTRACT(EPOCH FROM pg_catalog.min(not_before) OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp()) "
			"OPERATOR(pg_catalog.*) 1000)::pg_catalog.int8 FROM stategraph.runs "
			"WHERE status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'running']) "
			"AND not_before OPERATOR(pg_catalog.>) $1",
			1, types, values, NULL);
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
 * Delete up to limit rows of stategraph.submit_locks that no transaction
 * holds (sg_lock_thread_submits): a row matters only while its submit's
 * transaction is open, and SKIP LOCKED passes over the rows of those (rows
 * an open transaction inserted are not even seen). A submit that meets a
 * row this deletes waits for the sweep's commit, then inserts the key anew
 * (at REPEATABLE READ it fails with 40001 instead, as for any row deleted
 * under it). Returns the rows deleted.
 */
static uint64
sweep_submit_locks(int limit)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(limit)};

	return run_sql(&plan,
				   "DELETE FROM stategraph.submit_locks WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
				   "SELECT ctid FROM stategraph.submit_locks LIMIT $1 FOR UPDATE SKIP LOCKED))",
				   1, types, values, NULL);
}

/*
 * Where this backend's retention sweep has got to in stategraph.threads,
 * in thread_id order. A sweep reads the threads after the cursor a window
 * at a time, by the primary key, so a pass over every thread reads each
 * row once however many of them stay (not yet expired, pruned to
 * keep_last already, busy): reading every thread and sorting them by age
 * on each sweep made sweeping a million threads quadratic.
 */
static SGSweepPass threads_pass;

/*
 * Set a string of an SGSweepPass, kept for the session: the new one is
 * copied before the old one is freed (an error in the copy leaves the old).
 */
static void
set_pass_string(char **field, const char *value)
{
	char	   *copy = value ? MemoryContextStrdup(TopMemoryContext, value) : NULL;

	if (*field)
		pfree(*field);
	*field = copy;
}

/*
 * Move a sweep's cursor (NULL: the pass is over); in_window: it stays in
 * the window last read, which the next batch goes on in.
 */
void
sg_sweep_pass_move(SGSweepPass *pass, const char *thread_id, bool in_window)
{
	set_pass_string(&pass->cursor, thread_id);
	if (!in_window)
		set_pass_string(&pass->window_last, NULL);
}

/*
 * The window of a sweep's pass (pass: threads_pass here, lg_pass in
 * lgmaint.c): the one its cursor is in, when a batch stopped inside it, or
 * else the next, read by the ids query ids ("SELECT thread_id FROM
 * table"; plans: its two kept plans, SG_AFTER_CURSOR) as the size thread
 * ids after the cursor, and kept in the pass for the next batch. Sets
 * *last to its last thread (NULL when it is empty); returns how many it
 * holds. The callers count that as read at each call, a window kept as
 * well as one read: a batch that goes on in a kept window reads its rows
 * after the cursor again (listing its expired threads), and
 * SG_SWEEP_MAX_READ bounds the rows a batch reads.
 */
uint64
sg_sweep_pass_window(SGSweepPass *pass, SPIPlanPtr *plans, const char *ids, int size, char **last)
{
	const char *cursor = pass->cursor;
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {cursor ? CStringGetTextDatum(cursor) : (Datum) 0, Int32GetDatum(size)};
	char		nulls[2] = {cursor ? ' ' : 'n', ' '};

	if (pass->window_last == NULL)
	{
		bool		isnull;

		run_sql(&plans[cursor != NULL],
				psprintf("SELECT pg_catalog.max(thread_id), pg_catalog.count(*) FROM (%s "
						 "WHERE %s ORDER BY thread_id LIMIT $2) w", ids, SG_AFTER_CURSOR(cursor, "thread_id")),
				2, types, values, nulls);
		set_pass_string(&pass->window_last, sg_spi_text(0, 1));	/* NULL: the window is empty */
		pass->window_size = (uint64) DatumGetInt64(sg_spi_datum(0, 2, &isnull));
	}
	*last = pass->window_last ? pstrdup(pass->window_last) : NULL;
	return pass->window_size;
}

/*
 * The expired threads t of the retention sweep, with their policy p: not
 * updated for the ttl of their graph (or the default), whose policy applies
 * only to threads its graph's owner may act on (a graph of another role's
 * name, created after that role's was dropped, or shared with other roles,
 * sets no TTL for their threads: the default does), none with an active
 * run or tasks out (of a role that may act on the thread: any role may
 * write a run or task row naming any thread, and one of another role kept
 * a thread from its owner's retention), a pending interrupt (status
 * 'interrupted', or a task's interrupt left pending at the head when a
 * sibling task of its step failed: status 'error'), or (for keep_latest)
 * no more checkpoints than it keeps. FROM and WHERE of a query that adds its own
 * conditions on t.
 */
/*
 * SG_SWEEP_TTL (stategraph.h): a retention row's ttl as the sweep
 * subtracts it from the time, NULL (the thread does not expire) past 5,000
 * years either way: the owner of a
 * graph may write its row straight into stategraph.retention (policy
 * retention_owner), past sg_set_retention's range check, and a ttl no
 * timestamp can be subtracted from failed the listing of expired threads,
 * every sweep of the database, so that no one's threads expired again
 * (pg_regress retention_poison_row). So does keep_last, counted in
 * int8: keep_last + 1 overflowed int4 at 2147483647. PostgreSQL subtracts
 * the months first, then the days, then the time, so each part is bounded
 * too (2,000 years of months, 730,000 days): '7000 years -1095000 days' is
 * some 3,900 years in all, but now() minus its months is before 4713 BC
 * (pg_regress retention_poison_row).
 */

#define SWEEP_EXPIRED \
	"FROM stategraph.threads t " \
	"CROSS JOIN LATERAL (SELECT r.* FROM stategraph.retention r WHERE (r.graph OPERATOR(pg_catalog.=) t.graph " \
	"  AND EXISTS (SELECT 1 FROM stategraph.graphs g WHERE g.graph OPERATOR(pg_catalog.=) r.graph " \
	"  AND " OWNER_ACTS("g", "t") ")) OR r.graph IS NULL ORDER BY r.graph NULLS LAST LIMIT 1) p " \
	"WHERE p.ttl IS NOT NULL AND t.updated_at OPERATOR(pg_catalog.<) " \
	SG_UTC_SHIFT("pg_catalog.clock_timestamp()", "-", SG_SWEEP_TTL("p.ttl")) " " \
	"AND t.status OPERATOR(pg_catalog.<>) 'interrupted' " \
	/* (a pending that is no object, written by its owner, must not stop the sweep: no entries) */ \
	"AND NOT (t.status OPERATOR(pg_catalog.=) 'error' AND EXISTS (SELECT 1 FROM stategraph.checkpoints c, " \
	"  pg_catalog.jsonb_each(CASE WHEN pg_catalog.jsonb_typeof(c.pending) OPERATOR(pg_catalog.=) 'object' " \
	"  THEN c.pending END) e WHERE c.thread_id OPERATOR(pg_catalog.=) t.thread_id AND c.checkpoint_id OPERATOR(pg_catalog.=) t.head " \
	"  AND pg_catalog.jsonb_typeof(e.value OPERATOR(pg_catalog.->) 'interrupts') OPERATOR(pg_catalog.=) 'array' " \
	"  AND e.value OPERATOR(pg_catalog.->) 'interrupts' OPERATOR(pg_catalog.<>) '[]'::pg_catalog.jsonb " \
	"  AND NOT e.value OPERATOR(pg_catalog.?) 'writes')) " \
	"AND NOT EXISTS (SELECT 1 FROM stategraph.runs x WHERE x.thread_id OPERATOR(pg_catalog.=) t.thread_id " \
	"  AND x.status OPERATOR(pg_catalog.=) ANY (" ACTIVE ") AND " OWNER_COUNTS("x", "t") ") " \
	"AND NOT EXISTS (SELECT 1 FROM stategraph.tasks k WHERE k.thread_id OPERATOR(pg_catalog.=) t.thread_id " \
	"  AND k.status OPERATOR(pg_catalog.=) ANY (ARRAY['queued', 'claimed']) AND " OWNER_COUNTS("k", "t") ") " \
	"AND (p.strategy OPERATOR(pg_catalog.=) 'delete' OR (SELECT pg_catalog.count(*) FROM " \
	"  (SELECT 1 FROM stategraph.checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) t.thread_id " \
	"   LIMIT COALESCE(p.keep_last, 1)::pg_catalog.int8 OPERATOR(pg_catalog.+) 1) k) OPERATOR(pg_catalog.>) COALESCE(p.keep_last, 1)) "

/*
 * Is this thread, whose lock this session now holds, still expired? The
 * batch was listed before its threads were locked: one may have been
 * written since (a new input, a submitted run), and removing it then
 * would lose what was just written. Its row is locked in the same
 * statement, without waiting (sg_thread_row_try_lock with SWEEP_EXPIRED):
 * a transaction still open on it (a client's uncommitted
 * sg_update_state...) holds it, and the sweep passes it over until the
 * next pass, where it used to wait for that transaction to end, a
 * worker's runs waiting behind it. A thread whose partition a router's
 * move holds (holds.c) is passed over too, until the move lets go, and so
 * is one with a fork that an open transaction holds (the delete or prune
 * detaches the forks, writing their rows: sg_forks_lockable), and, to be
 * deleted, one that a submit still open is queueing a run on (the delete
 * cancels the thread's runs that have not started, and would wait for it)
 * or with another role's active run the sweep's role cannot see (the
 * delete would be refused): sg_sweep_may_delete. So is one to be pruned
 * ('keep_latest'): the open submit may queue a run from a checkpoint the
 * prune removes, and the prune cannot see the checkpoint the hidden run
 * started from (both kept for runs it sees: RUN_START_KEPT in retention.c).
 */
static bool
still_expired(const char *thread_id)
{
	static SPIPlanPtr plans[2];

	/* (a row not locked is passed over, held or gone alike: no second statement) */
	return sg_thread_row_try_lock(thread_id, SWEEP_EXPIRED, plans, false) == SG_ROW_LOCKED &&
		!sg_partition_held(thread_id);
}

/* The removal of one expired thread by the sweep: its statement and arguments. */
typedef struct SweepRemoval
{
	const char *sql;
	Oid		   *types;
	Datum	   *args;
} SweepRemoval;

/* Run a SweepRemoval, as sg_spi_subxact calls it. */
static bool
sweep_removal(void *arg)
{
	SweepRemoval *r = (SweepRemoval *) arg;

	(void) sg_spi_run(r->sql, 2, r->types, r->args, NULL);
	return true;
}

/*
 * Threads the sweep passed over for their removal's error in this round:
 * the first SWEEP_MAX_WARNINGS of a round get a WARNING each, the rest a
 * count at the round's end (and a DEBUG1 each). A role with thousands of
 * broken threads of its own otherwise wrote as many WARNINGs, worded by
 * its own rows, into the server's log at every pass.
 */
#define SWEEP_MAX_WARNINGS 10
static int	round_passed_over = 0;

/*
 * The count of a round's passed-over threads beyond the first
 * SWEEP_MAX_WARNINGS, at its end or when it is cut short (max_time, an
 * error: the next call or sweep starts a new round), and a new count.
 */
static void
report_passed_over(void)
{
	if (round_passed_over > SWEEP_MAX_WARNINGS)
		ereport(WARNING,
				(errmsg("the retention sweep passed over %d more threads whose removal failed",
						round_passed_over - SWEEP_MAX_WARNINGS),
				 errdetail("The first %d were reported one by one.", SWEEP_MAX_WARNINGS),
				 errhint("Set log_min_messages to debug1 to see each one.")));
	round_passed_over = 0;
}

/*
 * Remove or prune one expired thread (of either kind: fn(arg) does it) in
 * a subtransaction of its own; whether it was. A thread whose removal
 * fails for what its rows hold (a role can write any row of its own
 * threads: a fork of it whose rows refer to a checkpoint that is not
 * there, say) is passed over with a WARNING until the next pass: its
 * error failed the whole sweep, at every pass, so that no thread after it
 * was ever removed, whoever owned it (isolation revsec_sweep_poison). An
 * error that is not the thread's (a cancel, a lock or serialization
 * failure, resources, the server) ends the sweep as before.
 */
bool
sg_sweep_remove_one(const char *thread_id, SGSubxactFn fn, void *arg)
{
	ErrorData  *edata = sg_spi_subxact(fn, arg);
	int			category;

	if (edata == NULL)
		return true;
	category = ERRCODE_TO_CATEGORY(edata->sqlerrcode);
	/*
	 * (of class 55, a lock not available or an object in use; 55000 is a
	 * thread's own: a channel layout its role wrote damaged, say, failed
	 * every sweep of the database, whoever's threads came after it)
	 */
	if (category == ERRCODE_TRANSACTION_ROLLBACK || category == ERRCODE_INSUFFICIENT_RESOURCES ||
		(category == ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE &&
		 edata->sqlerrcode != ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE) ||
		category == ERRCODE_OPERATOR_INTERVENTION || category == ERRCODE_SYSTEM_ERROR)
		ReThrowError(edata);
	ereport(++round_passed_over <= SWEEP_MAX_WARNINGS ? WARNING : DEBUG1,
			(errcode(edata->sqlerrcode),
			 errmsg("the retention sweep passed over thread \"%s\": %s", thread_id, edata->message),
			 errhint("Delete or repair the thread; the next sweep tries it again.")));
	FreeErrorData(edata);
	return false;
}

/*
 * Remove or prune up to limit expired threads after the cursor and up to
 * last (never one with an active run or tasks out, a pending interrupt, or
 * that another session holds); moves the cursor past what it looked at.
 * *tried: the threads it held and tried (each with its subtransactions).
 */
static uint64
sweep_threads(const char *last, int limit, uint64 *tried)
{
	static SPIPlanPtr plans[2];
	Oid			types[3] = {TEXTOID, TEXTOID, INT4OID};
	const char *cursor = threads_pass.cursor;
	Datum		values[3] = {cursor ? CStringGetTextDatum(cursor) : (Datum) 0, CStringGetTextDatum(last), Int32GetDatum(limit)};
	char		nulls[3] = {cursor ? ' ' : 'n', ' ', ' '};
	/* (every argument typed: see submit_call) */
	char	   *prune = psprintf("SELECT %s.sg_prune(NULL::pg_catalog.interval, $2, $1)", ext_schema());
	SPITupleTable *tt;
	uint64		n,
				i,
				done = 0;

	n = run_sql(&plans[cursor != NULL],
				psprintf("SELECT t.thread_id, p.strategy, COALESCE(p.keep_last, 1) " SWEEP_EXPIRED
						 "AND %s AND t.thread_id OPERATOR(pg_catalog.<=) $2 "
						 "ORDER BY t.thread_id LIMIT $3", SG_AFTER_CURSOR(cursor, "t.thread_id")),
				3, types, values, nulls);
	tt = SPI_tuptable;
	for (i = 0; i < n; i++)
	{
		char	   *thread_id = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
		char	   *strategy = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
		bool		isnull;
		Datum		args[2] = {CStringGetTextDatum(thread_id), SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull)};
		Oid			argtypes[2] = {TEXTOID, INT4OID};

		CHECK_FOR_INTERRUPTS();
		if (!sg_try_lock_thread(thread_id))
			continue;			/* running in another session now: next pass */
		(*tried)++;
		/* (the submit lock first: a submit that committed before it is seen as active) */
		if (sg_sweep_may_delete(thread_id) &&
			still_expired(thread_id) && sg_forks_lockable(thread_id))
		{
			SweepRemoval r = {prune, argtypes, args};

			if (strcmp(strategy, "delete") == 0 ? sg_sweep_remove_one(thread_id, sg_sweep_delete_thread, thread_id) :
				sg_sweep_remove_one(thread_id, sweep_removal, &r))
				done++;
		}
		sg_unlock_thread(thread_id, false);
	}
	/* a full batch may leave expired threads in the window: go on after the last one, in it */
	if (n == (uint64) limit && strcmp(SPI_getvalue(tt->vals[n - 1], tt->tupdesc, 1), last) != 0)
		sg_sweep_pass_move(&threads_pass, SPI_getvalue(tt->vals[n - 1], tt->tupdesc, 1), true);
	else
		sg_sweep_pass_move(&threads_pass, last, false);
	return done;
}

/*
 * Where this backend's sweep round has got to: a round is the sweeps from
 * one sweep_interval's first batch until nothing expired is left, each
 * batch its own transaction. The pass over the threads and the expired
 * LangGraph.js threads are done once per round; finished runs and tasks
 * are expired by every batch until one finds fewer than sweep_limit (a
 * server that finishes runs faster than sweep_limit per sweep_interval
 * used to pile them up for ever).
 */
/*
 * Whether a retention policy sets a ttl (the caller sees): without one (no
 * sg_set_retention, the usual case) no thread expires, and the sweep does
 * not read them; the pass over them read every thread at every sweep (1.3 s
 * for 200,000 threads), as the LangGraph.js sweep already did not
 * (lgmaint.c, sg_lg_sweep).
 */
static bool
sweep_ttl_set(void)
{
	static SPIPlanPtr plan;

	return run_sql(&plan, "SELECT 1 FROM stategraph.retention WHERE ttl IS NOT NULL LIMIT 1", 0, NULL, NULL, NULL) > 0;
}

/*
 * The time before which finished runs and tasks expire (retention_s
 * seconds before now): a parameter of the expiry statements, not
 * clock_timestamp() in them, so that it bounds their index scans.
 */
TimestampTz
sg_expiry_cutoff(int retention_s)
{
	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), -(int64) retention_s * 1000);
}

static bool round_threads_done = false;
static bool round_lg_done = false;

/*
 * One sweep (a batch): expired leases of external tasks, finished runs
 * and tasks older than stategraph.run_retention (limit of each), then,
 * until this round's pass is over, expired threads window by window from
 * where the last sweep stopped, until SG_SWEEP_BATCH_THREADS of them (or
 * limit, if fewer) were tried or SG_SWEEP_MAX_READ threads were read, and
 * expired LangGraph.js threads (as many as the threads left room for).
 * *more says whether the round goes on: the pass is not over, or a batch
 * of runs, tasks or LangGraph.js threads was full (the caller sweeps
 * again at once, in a new transaction; otherwise the next round starts a
 * new pass). new_round: the first batch of a round (a round that an error
 * or max_time cut short is not gone on with, but the pass over the
 * threads goes on from its cursor). Finished runs and tasks that another
 * transaction holds (sg_reassign_owned's) are left to the next batch.
 * Returns what it removed or pruned.
 */
uint64
sg_sweep(int limit, bool new_round, bool *more)
{
	static SPIPlanPtr runs_plan;
	Oid			types[3] = {TIMESTAMPTZOID, INT4OID, UUIDARRAYOID};
	Datum		values[3] = {TimestampTzGetDatum(sg_expiry_cutoff(sg_run_retention_s)), Int32GetDatum(limit),
	sg_awaited_runs()};
	uint64		runs,
				tasks,
				locks,
				done,
				threads = 0,
				tried = 0,
				read = 0;
	/* (fewer threads than runs and tasks: SG_SWEEP_BATCH_THREADS) */
	int			thread_limit = Min(limit, SG_SWEEP_BATCH_THREADS);
	bool		held;

	if (new_round)
	{
		round_threads_done = round_lg_done = false;
		report_passed_over();	/* of a round cut short by an error */
		sg_claim_from_reset();	/* claims read the whole queue again (worker.c) */
	}
	(void) sg_tasks_sweep(limit);	/* expired leases of external tasks (tasks.c) */
	(void) sg_tasks_continue_left(limit, &held);	/* steps their last task left (a worker retries the held) */
	/*
	 * the oldest first, along runs_finished from its start: the time is a
	 * parameter (sg_expiry_cutoff), which bounds the index scan, where
	 * clock_timestamp() (volatile) could not, and every sweep batch read
	 * all of stategraph.runs (350 ms for a million finished runs, of which
	 * ten expired); ORDER BY keeps the generic plan on the index too; a run
	 * an sg_wait sleeps for stays until it has looked (sg_awaited_runs)
	 */
	runs = run_sql(&runs_plan,
				   "DELETE FROM stategraph.runs WHERE run_id OPERATOR(pg_catalog.=) ANY (ARRAY("
				   "SELECT run_id FROM stategraph.runs WHERE finished_at OPERATOR(pg_catalog.<) $1 "
				   "AND run_id OPERATOR(pg_catalog.<>) ALL ($3) "
				   "ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED))",
				   3, types, values, NULL);
	tasks = sg_tasks_expire(sg_run_retention_s, limit);	/* finished tasks too (tasks.c) */
	locks = sweep_submit_locks(limit);
	done = runs + tasks;
	if (!round_threads_done && !sweep_ttl_set())
	{
		sg_sweep_pass_move(&threads_pass, NULL, false);	/* nothing can expire: no pass over the threads */
		round_threads_done = true;
	}
	while (!round_threads_done && tried < (uint64) thread_limit && read < SG_SWEEP_MAX_READ)
	{
		static SPIPlanPtr window_plans[2];
		char	   *last;
		uint64		n = sg_sweep_pass_window(&threads_pass, window_plans, "SELECT thread_id FROM stategraph.threads",
											 SG_SWEEP_WINDOW, &last);

		read += n;
		if (n > 0)
			threads += sweep_threads(last, thread_limit - (int) tried, &tried);
		if (n < SG_SWEEP_WINDOW &&
			(threads_pass.cursor == NULL || last == NULL || strcmp(threads_pass.cursor, last) == 0))
		{
			sg_sweep_pass_move(&threads_pass, NULL, false);	/* read to the end: the pass is over */
			round_threads_done = true;
		}
	}
	done += threads;
	if (!round_lg_done && tried < (uint64) thread_limit)
	{
		bool		lg_pass_over;
		uint64		lg = sg_lg_sweep(thread_limit - (int) tried, &lg_pass_over);	/* LangGraph.js threads (lgmaint.c) */

		done += lg;
		round_lg_done = lg_pass_over;
	}
	*more = !round_threads_done || !round_lg_done || runs == (uint64) limit || tasks == (uint64) limit ||
		locks == (uint64) limit;
	if (!*more)
	{
		round_threads_done = round_lg_done = false;	/* the round is over: the next one starts anew */
		report_passed_over();
	}
	return done;
}

/*
 * Let this transaction, which holds a sweep batch of CALL sg_work and
 * nothing else, commit without waiting for its WAL to reach the disk
 * (synchronous_commit off until it ends), as the workers' do (they commit
 * everything so but a run's end, worker.c). What a batch removes is
 * expired: a crash that lost the commit leaves it to the next sweep, and
 * any later commit that depends on it (a new thread of a swept id)
 * flushes the WAL up to it first. Waiting for the disk at each batch of
 * SG_SWEEP_BATCH_THREADS threads took a fifth of the sweep's time.
 */
static void
sweep_commit_async(void)
{
	(void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
							 true, 0, false);
}

/* sg_set_retention: the TTL of a graph's threads (graph NULL: the default). */
Datum
sg_set_retention(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr graph_plan;
	static SPIPlanPtr default_plan;
	static SPIPlanPtr set_plan;
	char	   *graph = PG_ARGISNULL(0) ? NULL : sg_arg_text(fcinfo, 0, "graph");
	Interval   *ttl = PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1);
	char	   *strategy = sg_arg_text(fcinfo, 2, "strategy");
	Oid			types[4] = {TEXTOID, INTERVALOID, TEXTOID, INT4OID};
	Datum		values[4];
	char		nulls[4] = {graph ? ' ' : 'n', ttl ? ' ' : 'n', ' ', PG_ARGISNULL(3) ? 'n' : ' '};

	if (ttl && sg_interval_negative(ttl))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ttl must not be negative")));
	if (ttl)
		sg_check_interval_range(ttl, true, "ttl");	/* every sweep subtracts it from now */
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
	sg_prevent_write("sg_set_retention");
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
	/*
	 * Who may set it (the policy retention_owner), said plainly rather than
	 * as a policy violation. The check locks the graph's row and decides by
	 * the owner it then reads: a sg_reassign_owned in flight is waited for
	 * and seen ("must be owner of graph", 42501), one that comes later
	 * waits for this transaction (isolation retention_reassign).
	 */
	if (graph)
		sg_graph_require_owner(graph);
	else
	{
		bool		isnull;

		run_sql(&default_plan,
				"SELECT pg_catalog.pg_has_role(c.relowner, 'USAGE') OR (SELECT r.rolbypassrls FROM pg_catalog.pg_roles r "
				"  WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER) "
				"FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) 'stategraph.retention'::pg_catalog.regclass",
				0, NULL, NULL, NULL);
		if (!DatumGetBool(sg_spi_datum(0, 1, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only the owner of the extension or a superuser may set the default retention"),
					 errdetail("The default applies to the threads of every graph."),
					 errhint("Set the retention of a graph you own with sg_set_retention(graph, ...).")));
	}
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
 *
 * CALL sg_work takes the work of each of its transactions (a claim, a
 * step and the bookkeeping around it, a stop) in a subtransaction of its
 * own, released just before the commit (work_commit). An error outside
 * the step's own subtransaction (a trigger or a lock on stategraph.runs
 * as the run's end is recorded, a stop that fails, a cancel between
 * steps) then rolls back cleanly, the SPI connections of the code it
 * interrupted with it, and is recorded on the run as a worker records it
 * (work_one); an error of the commit itself (a serialization failure) is
 * rolled back by SPI_commit. Left 'running', such a run was taken up by
 * the next claim as one whose executor died, a recovery counted
 * (stategraph.max_run_recoveries).
 * ---------------------------------------------------------------------------
 */
static bool work_subxact = false;	/* the subtransaction is open */
static ResourceOwner work_owner;	/* the resource owner it was begun in */
static Oid	work_user;				/* the caller's role (as_caller) */
static int	work_sec;

/* Begin the subtransaction of the work of a transaction (in the caller's memory context). */
static void
work_begin(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	work_owner = CurrentResourceOwner;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	work_subxact = true;
}

/* Release (keep) or roll back the subtransaction of work_begin, if open. */
static void
work_end(bool keep)
{
	MemoryContext cxt = CurrentMemoryContext;

	if (!work_subxact)
		return;
	work_subxact = false;
	if (keep)
		ReleaseCurrentSubTransaction();
	else
		RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = work_owner;
}

/*
 * End the transaction with fn (SPI_commit, SPI_rollback) as sg_work's
 * caller. The next transaction remembers the role it began in, and an
 * error that aborts it goes back to that role: begun as a run's (at one of
 * its commits), a statement that failed after it left the caller's
 * session that role, in a security-restricted operation.
 */
static void
as_caller(void (*fn) (void))
{
	Oid			user;
	int			sec;

	GetUserIdAndSecContext(&user, &sec);
	SetUserIdAndSecContext(work_user, work_sec);
	fn();
	SetUserIdAndSecContext(user, sec);
}

/*
 * The SGCommitFn of sg_work: commit the work, and begin the next
 * transaction's subtransaction. The next step gets a new SPI connection,
 * as a worker's does at its commit (worker_commit): the results of a
 * step's statements stay in the connection's procedure context across a
 * nonatomic commit, and a run of thousands of steps grew the session by
 * about 8 kB a step (TAP 193).
 */
static void
work_commit(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	work_end(true);
	as_caller(SPI_commit);
	sg_spi_finish();
	sg_spi_connect_nonatomic();
	MemoryContextSwitchTo(cxt);
	work_begin();
}

/* Roll back the work of the transaction and the transaction; a new one starts (no subtransaction). */
static void
work_rollback(void)
{
	work_end(false);
	as_caller(SPI_rollback);
}

/*
 * The advisory locks this backend holds, as a list of LOCKTAG copies with
 * the mode in locktag_lockmethodid's stead (a lock held in both modes is
 * listed twice): the pg_advisory_* ones (field4 1: one bigint key, 2: two
 * int keys), or (all_kinds) stategraph's kinds too. Held for the session or
 * for the transaction: PostgreSQL's lock status does not tell them apart
 * (between CALL sg_work's transactions, the commits before let go of the
 * transaction's, so what is listed is held for the session).
 */
List *
sg_advisory_locks_held(bool all_kinds)
{
	LockData   *data = GetLockStatusData();
	List	   *held = NIL;
	int			i;

	for (i = 0; i < data->nelements; i++)
	{
		LockInstanceData *l = &data->locks[i];
		LOCKMODE	mode;

		if (l->pid != MyProcPid || l->locktag.locktag_type != LOCKTAG_ADVISORY ||
			l->locktag.locktag_lockmethodid != USER_LOCKMETHOD ||
			(!all_kinds && l->locktag.locktag_field4 != 1 && l->locktag.locktag_field4 != 2))
			continue;
		for (mode = 1; mode <= MaxLockMode; mode++)
			if (l->holdMask & LOCKBIT_ON(mode))
			{
				LOCKTAG    *t = palloc(sizeof(LOCKTAG));

				*t = l->locktag;
				t->locktag_lockmethodid = (uint8) mode;
				held = lappend(held, t);
			}
	}
	return held;
}

/* The caller's own, of every kind (as sg_work began), kept in the call's portal context. */
static List *caller_advisory_locks = NIL;

/*
 * Let go of the session-level advisory locks (pg_advisory_lock: the
 * pg_advisory_* kinds) this session holds but those in keep (LOCKTAG
 * copies as sg_advisory_locks_held lists them), after work done here as
 * another role: the locks are the session's, whoever took them. Kept, a
 * role's lock stayed held for as long as the session lived, blocking that
 * role's other sessions, and the next work of any role in this session
 * took the same key again without waiting. For CALL sg_work between runs
 * (release_run_advisory_locks) and for a step sg_complete went on with as
 * the thread's owner (tasks.c, continue_step_or_leave). Those of the
 * transaction (pg_advisory_xact_lock) stay until its end. A lock in keep
 * that the work took again keeps its count (PostgreSQL shows none).
 * LockRelease says so (a WARNING) when the lock is not held for the
 * session, once for each lock, inside a transaction: not told.
 */
void
sg_release_advisory_locks(List *keep)
{
	List	   *held = sg_advisory_locks_held(false);
	ListCell   *lc;
	int			nest = -1;

	foreach(lc, held)
	{
		LOCKTAG		tag = *(LOCKTAG *) lfirst(lc);
		LOCKMODE	mode = tag.locktag_lockmethodid;
		ListCell   *k;
		bool		kept = false;

		foreach(k, keep)
			if (memcmp(lfirst(k), lfirst(lc), sizeof(LOCKTAG)) == 0)
				kept = true;
		if (kept)
			continue;
		if (nest < 0)
		{
			nest = NewGUCNestLevel();
			(void) set_config_option("client_min_messages", "error", PGC_SUSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
			(void) set_config_option("log_min_messages", "error", PGC_SUSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
		}
		tag.locktag_lockmethodid = USER_LOCKMETHOD;
		while (LockRelease(&tag, mode, true))
			;
	}
	if (nest >= 0)
		AtEOXact_GUC(false, nest);
}

/*
 * After every run CALL sg_work executes, as a worker does after every run
 * (worker.c, LockReleaseSession): let go of the session-level advisory
 * locks the run's nodes took, but the caller's own, held as the call began
 * (sg_release_advisory_locks). Between runs, outside their transactions.
 */
static void
release_run_advisory_locks(void)
{
	/* the cheap way, with none of the caller's to keep (the thread's own lock is let go already) */
	if (caller_advisory_locks == NIL)
		LockReleaseSession(USER_LOCKMETHOD);
	else
		sg_release_advisory_locks(caller_advisory_locks);
}

/* sg_run_failure as sg_work's caller, from the run's role. */
static void
run_failure_as_caller(ErrorData *edata)
{
	Oid			user;
	int			sec;

	GetUserIdAndSecContext(&user, &sec);
	SetUserIdAndSecContext(work_user, work_sec);
	(void) sg_run_failure(edata);
	SetUserIdAndSecContext(user, sec);
}

/*
 * sg_work_one in CALL sg_work. An error that escapes it is recorded on
 * the run it was executing (sg_run_failure) in a new transaction, as the
 * caller (the rollback of the work's subtransaction went back to the
 * run's role), then thrown on to the caller.
 */
static bool
work_one(bool *blocked, MemoryContext cxt)
{
	volatile bool did = false;

	work_begin();
	PG_TRY();
	{
		did = sg_work_one(work_commit, true, blocked);
		work_end(true);
		if (did)
			release_run_advisory_locks();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		work_rollback();
		SetUserIdAndSecContext(work_user, work_sec);
		(void) sg_run_failure(edata);
		SPI_commit();
		release_run_advisory_locks();	/* (a failed run's too) */
		ReThrowError(edata);
	}
	PG_END_TRY();
	return did;
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
	bool		more;
	bool		new_round = true;
	MemoryContext loop_cxt;

	if (max_runs < -1 || (!PG_ARGISNULL(0) && max_runs < 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_runs must not be negative")));
	if (max_time && sg_interval_negative(max_time))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_time must not be negative")));
	if (atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("sg_work cannot commit its steps inside a transaction block"),
				 errhint("CALL sg_work() outside BEGIN ... COMMIT.")));
	/*
	 * The nodes of the runs of other roles executed here could FETCH from a
	 * cursor open in this session (WITH HOLD, or a PL/pgSQL FOR loop around
	 * the call), reading what the caller's rights chose: another role's
	 * rows (TAP 302_complete_as_owner_session)
	 */
	if (!ThereAreNoReadyPortals())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_CURSOR_STATE),
				 errmsg("sg_work cannot execute runs while a cursor is open in this session"),
				 errdetail("The nodes of the runs of other roles it executes could read from it."),
				 errhint("Close the session's cursors (CLOSE ALL) first.")));
	sg_prevent_write("sg_work");
	loop_cxt = AllocSetContextCreate(PortalContext, "stategraph sg_work loop", ALLOCSET_DEFAULT_SIZES);
	GetUserIdAndSecContext(&work_user, &work_sec);
	caller_advisory_locks = NIL;	/* (an earlier call's list went with its portal) */
	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect_ext failed");
	/* first the steps their last task left, so that their runs are among those executed here */
	if (!sg_restore_holds(true))
	{
		bool		held;

		(void) sg_tasks_continue_left(sg_sweep_limit, &held);
		SPI_commit();
	}
	/* after a commit: what is held now is held for the session */
	{
		MemoryContext old = MemoryContextSwitchTo(loop_cxt->parent);

		caller_advisory_locks = sg_advisory_locks_held(true);
		MemoryContextSwitchTo(old);
	}
	while (max_runs < 0 || done < max_runs)
	{
		bool		stop;

		MemoryContextReset(loop_cxt);
		MemoryContextSwitchTo(loop_cxt);
		if (max_time && (GetCurrentTimestamp() - start) / 1000 >= sg_interval_ms(max_time))
			break;

		/*
		 * Each run in an SPI connection of its own, finished after it: the
		 * result of every statement (SPI_tuptable) lives in the
		 * connection's procedure context until SPI_finish, not in loop_cxt,
		 * and a nonatomic connection keeps it across the commits, so that
		 * one connection for the whole call kept about 30 kB per run: a
		 * call that executed a backlog of 100,000 runs grew by gigabytes
		 * (TAP 193).
		 */
		sg_spi_connect_nonatomic();
		MemoryContextSwitchTo(loop_cxt);
		stop = sg_restore_holds(true) || !work_one(&blocked, loop_cxt);
		sg_spi_finish();
		if (stop)
			break;				/* nothing due, or a restore is loading the database (restore.c) */
		done++;
		CHECK_FOR_INTERRUPTS();
	}
	/*
	 * Then a sweep round, batch after batch, each committed, until nothing
	 * expired is left or max_time is used (at least one batch: a round
	 * that goes on is taken up by the next call). Each batch is committed
	 * asynchronously in a transaction of its own: not with the last run's
	 * end, nor with what the caller wrote before the CALL (one in a
	 * procedure or DO block shares the caller's transactions), and the
	 * last batch is committed too, so that the caller goes on in a
	 * transaction whose commit waits for the disk again.
	 */
	SPI_commit();
	do
	{
		MemoryContextReset(loop_cxt);
		MemoryContextSwitchTo(loop_cxt);
		if (sg_restore_holds(true))
			break;
		sg_spi_connect_nonatomic();	/* (as each run above: the batch's results go with it) */
		MemoryContextSwitchTo(loop_cxt);
		sweep_commit_async();
		(void) sg_sweep(sg_sweep_limit, new_round, &more);
		new_round = false;
		SPI_commit();
		sg_spi_finish();
		CHECK_FOR_INTERRUPTS();
	} while (more && !(max_time && (GetCurrentTimestamp() - start) / 1000 >= sg_interval_ms(max_time)));
	report_passed_over();		/* of a round max_time cut short (the next call starts a new one) */
	MemoryContextReset(loop_cxt);
	sg_spi_finish();
	PG_RETURN_VOID();
}
