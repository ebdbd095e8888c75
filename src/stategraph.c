/*-------------------------------------------------------------------------
 *
 * stategraph.c
 *		LangGraph's state graphs and checkpointer inside PostgreSQL.
 *
 * A graph is a set of channels (the keys of the state, each with a reducer)
 * and nodes (SQL functions that take the state as jsonb and return a partial
 * update). sg_invoke runs a graph the way LangGraph's Pregel loop does: in
 * each super-step every triggered node sees the same state; their updates
 * are applied together, in node-name order, through the channels' reducers;
 * then one checkpoint is stored. Everything happens inside the server, in
 * the caller's transaction, so a node's own database writes and the
 * checkpoint that records them commit together (or, with CALL sg_run, one
 * transaction per super-step).
 *
 * The files, one concern each:
 *	 graph.c		define, validate and compile graphs; per-backend cache
 *	 channel.c		channel values, reducers and update checks
 *	 executor.c		the super-step loop: tasks, node calls in subtransactions,
 *					retries, interrupts, recursion limit
 *	 route.c		routing: edges, joins, conditional edges and Sends
 *	 run.c			the SQL entry points that run a graph (invoke, stream, run)
 *	 checkpoint.c	storage: ids, thread locks, checkpoint rows, loading states
 *	 history.c		snapshots: sg_get_state, sg_get_state_history, sg_threads
 *	 branch.c		sg_update_state and sg_fork
 *	 retention.c	sg_delete_thread and sg_prune
 *	 runs.c			background runs: the run queue, sg_submit/wait/cancel/work, TTL sweeps
 *	 worker.c		the launcher and per-database workers that execute runs
 *	 draw.c			sg_draw
 *	 json.c			jsonb helpers
 *	 spi.c			SPI: kept plans, execution, subtransactions
 *
 * Storage grows linearly with a conversation: a checkpoint row holds the
 * writes that produced it, not a copy of the state; see checkpoint.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "storage/lmgr.h"
#include "utils/inval.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"

PG_MODULE_MAGIC;

/* stategraph.lock_wait: wait for a busy thread (true) or fail at once. */
bool		sg_lock_wait = true;

/* stategraph.state_cache: kB of recent thread states a backend keeps (checkpoint.c). */
int			sg_state_cache_kb = 16384;

void		_PG_init(void);

/* Define the settings when the library is loaded. */
void
_PG_init(void)
{
	DefineCustomBoolVariable("stategraph.lock_wait",
							 "Wait for a thread that another session is running.",
							 "When off, a call on a busy thread fails at once with SQLSTATE 55P03; "
							 "when on, it waits, subject to lock_timeout.",
							 &sg_lock_wait,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("stategraph.state_cache",
							"Memory for the newest states of threads this session ran recently.",
							"A run or sg_get_state on such a thread starts from the cached state "
							"instead of reading it back from the checkpoint rows; 0 turns the cache off.",
							&sg_state_cache_kb,
							16384, 0, 1024 * 1024,
							PGC_USERSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);
	sg_worker_init();			/* background runs: GUCs, shared memory, launcher */
	MarkGUCPrefixReserved("stategraph");
}

/* A required text argument: NULL and '' are errors naming the argument. */
char *
sg_arg_text(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	char	   *s;

	sg_require_arg(fcinfo, argno, argname);
	s = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	sg_check_length(s, argname, "Names and ids");
	return s;
}

/* An optional text argument: NULL stays NULL. */
char *
sg_arg_text_or_null(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * A text argument that must be one of two words: false for the first, true
 * for the second; anything else is 22023 naming both.
 */
bool
sg_arg_choice(FunctionCallInfo fcinfo, int argno, const char *argname,
			  const char *first, const char *second)
{
	char	   *value = sg_arg_text(fcinfo, argno, argname);

	if (strcmp(value, second) == 0)
		return true;
	if (strcmp(value, first) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be '%s' or '%s', not '%s'", argname, first, second, value)));
	return false;
}

/*
 * Fail if a name (what subject says it is) is empty or longer than
 * SG_MAX_NAME; limit_of says what the limit is of ("Names", ...).
 */
void
sg_check_length(const char *s, const char *subject, const char *limit_of)
{
	if (s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", subject)));
	sg_check_max_length(s, subject, limit_of);
}

/* Fail if a name or id (what subject says it is; '' allowed) is longer than SG_MAX_NAME. */
void
sg_check_max_length(const char *s, const char *subject, const char *limit_of)
{
	if (strlen(s) > SG_MAX_NAME)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too long", subject),
				 errdetail("%s are at most %d bytes.", limit_of, SG_MAX_NAME)));
}

/*
 * Call a function on one or two jsonb arguments (nargs; arg2 is ignored
 * with one); *isnull says whether it returned null.
 */
Datum
sg_call_jsonb(FmgrInfo *flinfo, int nargs, Jsonb *arg1, Jsonb *arg2, bool *isnull)
{
	LOCAL_FCINFO(fcinfo, 2);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, flinfo, nargs, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = JsonbPGetDatum(arg1);
	fcinfo->args[0].isnull = false;
	if (nargs == 2)
	{
		fcinfo->args[1].value = JsonbPGetDatum(arg2);
		fcinfo->args[1].isnull = false;
	}
	result = FunctionCallInvoke(fcinfo);
	*isnull = fcinfo->isnull;
	return result;
}

/*
 * Refuse a call that changes stategraph's rows where nothing can be written:
 * on a hot standby, or in a read-only transaction (default_transaction_read_only,
 * SET TRANSACTION READ ONLY), as PostgreSQL's own PreventCommandDuringRecovery
 * and PreventCommandIfReadOnly refuse a command. Each write entry point calls
 * it before any statement of its own, once the checks of its arguments alone
 * are done (a bad argument is its own error there too, as a malformed
 * statement is before the refusal: the router relies on it, TAP 288): the
 * 25006 of the first statement named that statement ("cannot execute SELECT
 * FOR UPDATE in a read-only transaction") with stategraph's SQL in its
 * context, and not the function that was called (TAP
 * 346_standby_write_errors, pg_regress read_only_writes). A read
 * (sg_get_state, sg_runs, sg_wait, ..., sg_invoke and sg_stream without a
 * thread) does not call it and works there.
 */
void
sg_prevent_write(const char *fname)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot execute %s during recovery", fname)));
	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot execute %s in a read-only transaction", fname)));
}

/* Fail unless argument argno (called argname) is given. */
void
sg_require_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	sg_require_arg_hint(fcinfo, argno, argname, NULL);
}

/* sg_require_arg, the error with hint (NULL: none). */
void
sg_require_arg_hint(FunctionCallInfo fcinfo, int argno, const char *argname, const char *hint)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", argname),
				 hint ? errhint("%s", hint) : 0));
}

/*
 * The index of name in items, an array of n elements of size bytes each,
 * sorted by name (strcmp) and each beginning with its name (a char *, as
 * SGNode and a plain array of names do); -1 if it is not there.
 */
int
sg_sorted_index(const char *name, const void *items, int n, size_t size)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = strcmp(name, *(char *const *) ((const char *) items + mid * size));

		if (c == 0)
			return mid;
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return -1;
}

/*
 * The oid of the extension's table or index name (the schema is fixed,
 * stategraph.control's schema), for the code that reads or locks a table
 * below SQL; an error if the schema is gone, InvalidOid if the name is not
 * in it.
 */
Oid
sg_table_oid(const char *name)
{
	return get_relname_relid(name, get_namespace_oid("stategraph", false));
}

/*
 * Waits and DROP EXTENSION. A session that sleeps in sg_wait or in
 * sg_claim's long poll holds no lock of the extension's tables meanwhile
 * (runs.c, wait_looks), so DROP EXTENSION stategraph may commit during the
 * wait; the wait's next look then failed on a table that no longer exists
 * (42P01), with the library's own query in the error (a review found it;
 * TAP 332). Before each look, sg_extension_after_wait takes the
 * extension's object lock in share mode, as a DROP takes it in access
 * exclusive mode before anything else: a DROP in progress is waited for,
 * the catalog is read anew, and an extension gone (or created again: what
 * was waited for is gone with the old one) is a clear error, 55000. The
 * lock lasts as the caller's (sub)transaction: sg_wait's and the long
 * poll's looks, rolled back, hold it only while they look (a worker's
 * transactions take it the same way: worker.c). sg_extension_oid gives the
 * extension to check, read before the wait. A wait for a thread's lock
 * (checkpoint.c, lgsaver.c) needs none of this: its transaction has read
 * the extension's tables before and holds them, so a DROP waits for it.
 */
Oid
sg_extension_oid(void)
{
	return get_extension_oid("stategraph", true);
}

void
sg_extension_after_wait(Oid ext, const char *what)
{
	if (OidIsValid(ext))
		LockDatabaseObject(ExtensionRelationId, ext, 0, AccessShareLock);
	else
		AcceptInvalidationMessages();
	if (OidIsValid(ext) && get_extension_oid("stategraph", true) == ext)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("extension \"stategraph\" was dropped while waiting for %s", what),
			 errdetail("The extension's tables are gone, and with them what was waited for."),
			 errhint("Create the extension again before using stategraph; the rows it held are not restored.")));
}

/*
 * A 64-bit key of (kind, a, b), for the advisory lock tags and the hash
 * tables that stand for a thread id: the first 8 bytes of SHA-256 over
 * kind, the length of a, a and b. Not hash_bytes_extended: Jenkins' hash
 * is reversible, so a role could compute an id of its own thread whose key
 * is that of another role's thread, and hold that thread's lock with its
 * own (isolation revsec_lock_keys). The digest is made under a resource
 * owner of its own, so that it may be computed between transactions too.
 */
uint64
sg_key(uint64 kind, const void *a, size_t alen, const void *b, size_t blen)
{
	static ResourceOwner owner = NULL;
	ResourceOwner save = CurrentResourceOwner;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	uint64		len = alen;
	uint64		key;
	volatile bool ok = false;

	if (owner == NULL)
		owner = ResourceOwnerCreate(NULL, "stategraph keys");
	CurrentResourceOwner = owner;
	PG_TRY();
	{
		pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

		ok = ctx != NULL && pg_cryptohash_init(ctx) == 0 &&
			pg_cryptohash_update(ctx, (const uint8 *) &kind, sizeof(kind)) == 0 &&
			pg_cryptohash_update(ctx, (const uint8 *) &len, sizeof(len)) == 0 &&
			pg_cryptohash_update(ctx, a, alen) == 0 &&
			(blen == 0 || pg_cryptohash_update(ctx, b, blen) == 0) &&
			pg_cryptohash_final(ctx, digest, sizeof(digest)) == 0;
		pg_cryptohash_free(ctx);
	}
	PG_FINALLY();
	{
		CurrentResourceOwner = save;
	}
	PG_END_TRY();
	if (!ok)
		elog(ERROR, "could not compute a SHA-256 digest");
	memcpy(&key, digest, sizeof(key));
	return key;
}

/*
 * A subtransaction ended, for a list of what a session holds per
 * (sub)transaction (entries whose first member is the SubTransactionId
 * that took them): an aborted subtransaction's entries go, passed to drop
 * (what they stood for went with it), a committed one's pass to its parent.
 * An entry tagged InvalidSubTransactionId is never touched. Returns the list.
 */
List *
sg_subxact_ended(List *entries, SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void (*drop) (void *entry))
{
	ListCell   *lc;

	if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
		return entries;
	foreach(lc, entries)
	{
		SubTransactionId *subid = (SubTransactionId *) lfirst(lc);

		if (*subid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			*subid = parentSubid;
		else
		{
			entries = foreach_delete_current(entries, lc);
			drop(subid);
		}
	}
	return entries;
}
