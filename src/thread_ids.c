/*-------------------------------------------------------------------------
 *
 * thread_ids.c
 *		One namespace of thread ids: a new thread, of a stategraph graph or
 *		of LangGraph.js storage, never takes an id that is already a
 *		thread of the other kind, or of another role.
 *
 * Two tables hold threads: stategraph.threads (one row per thread of a
 * stategraph graph) and stategraph.lg_checkpoints (the checkpoints of
 * LangGraph.js threads, written by sg_lg_put). sg_threads lists both and
 * sg_get_state reads either, by id; so an id that named one thread of each
 * kind was listed twice and read as the stategraph one only, the other
 * left unreachable from SQL. And row-level security hides the rows of
 * other roles from SQL, so a check made with SQL cannot see that an id is
 * taken by another role: stategraph.threads then refused the insert (its
 * primary key), but a run queued by sg_submit failed later, and
 * lg_checkpoints, whose key includes the checkpoint id, took a second
 * thread of the same id.
 *
 * So the places that start a thread ask here first: sg_thread_create
 * (every run, update, fork and branch that makes a thread), sg_submit (a
 * run that will make one), sg_import_thread, and sg_lg_put when it stores
 * the first checkpoint of a thread. The tables' primary keys are probed
 * below SQL, where no policy applies, with the snapshot SQL would use:
 * only the existence of an id is read (which the error then tells, as
 * sg_invoke's 42501 already does), never a row's content. The probes are
 * index lookups made when a thread starts, not at every step, and a table
 * that never had a row (lg_checkpoints where LangGraph.js is not used) is
 * not probed at all: a new stategraph thread then costs nothing more.
 *
 * The lg_ tables are written by SQL too (SECURITY INVOKER functions need
 * INSERT on them), and each of their rows has an owner of its own: another
 * role could INSERT a checkpoint under a thread id that is not its own,
 * which its owner never sees but a superuser's maintenance does (sg_prune
 * and the retention sweep keep a namespace's newest checkpoint: a stranger's
 * newer one made them delete the owner's whole chain). So a restrictive
 * policy asks lg_thread_owner_is whether a row's owner is its thread's,
 * the owner of the thread's first checkpoint, read below row-level
 * security as the probes above are; it answers only for an owner the
 * caller may own (which the permissive policy requires anyway), so it
 * tells nothing of a thread that is not the caller's but that it is not.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation_d.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

/*
 * A scan of the rows of thread_id in rel (thread_id is the first column of
 * every primary key here: a prefix lookup), below row-level security, with
 * the snapshot the SPI queries that follow see: the transaction's under
 * REPEATABLE READ, else a new one (a thread deleted by a transaction that
 * committed after this statement began is gone, as sg_thread_fetch sees).
 */
static SysScanDesc
thread_rows_scan(Relation rel, const char *thread_id, ScanKey key)
{
	ScanKeyEntryInitialize(key, 0, 1, BTEqualStrategyNumber, InvalidOid, DEFAULT_COLLATION_OID,
						   F_TEXTEQ, CStringGetTextDatum(thread_id));
	return systable_beginscan(rel, RelationGetPrimaryKeyIndex(rel), true,
							  IsolationUsesXactSnapshot() ? GetTransactionSnapshot() : GetLatestSnapshot(), 1, key);
}

/* Whether table (of schema stategraph) has a row of thread_id, whoever owns it. */
bool
sg_thread_id_stored(const char *table, const char *thread_id)
{
	Oid			relid = get_relname_relid(table, get_namespace_oid("stategraph", false));
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	bool		found;

	if (!OidIsValid(relid))
		return false;			/* lg_checkpoints before ALTER EXTENSION UPDATE */
	rel = table_open(relid, AccessShareLock);
	if (RelationGetNumberOfBlocks(rel) == 0)
	{
		table_close(rel, AccessShareLock);
		return false;			/* never had a row (no LangGraph.js thread in this database, say) */
	}
	scan = thread_rows_scan(rel, thread_id, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* The error for an id another role's thread has. */
static void
taken_by_another_role(const char *thread_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("thread \"%s\" belongs to another role", thread_id),
			 errdetail("Thread ids are one namespace shared by every role; only the owner of a thread can see or change it."),
			 errhint("Use another thread id.")));
}

/*
 * Refuse to start a stategraph thread under the id of a LangGraph.js
 * thread, whoever owns it (sg_thread_create, whose insert finds another
 * role's stategraph thread itself).
 */
void
sg_thread_id_check_not_lg(const char *thread_id)
{
	if (!sg_thread_id_stored("lg_checkpoints", thread_id))
		return;
	if (!sg_lg_thread_visible(thread_id))
		taken_by_another_role(thread_id);
	ereport(ERROR,
			(errcode(ERRCODE_DUPLICATE_OBJECT),
			 errmsg("thread \"%s\" already exists as a LangGraph.js thread", thread_id),
			 errdetail("A LangGraph.js thread and a stategraph thread cannot share an id: sg_threads and sg_get_state name threads by id."),
			 errhint("Use another thread id.")));
}

/*
 * Refuse to start a thread of a stategraph graph (lg false) or of
 * LangGraph.js storage (lg true) under an id that is a thread of the other
 * kind, or of another role; with SPI connected. The caller has checked the
 * visible threads of its own kind.
 */
void
sg_thread_id_check_new(const char *thread_id, bool lg)
{
	if (lg)
	{
		if (sg_thread_id_stored("threads", thread_id))
		{
			SGThread   *th = sg_thread_fetch(thread_id, false);

			if (th == NULL)
				taken_by_another_role(thread_id);
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("thread \"%s\" already exists as a thread of graph \"%s\"", thread_id, th->graph),
					 errdetail("A LangGraph.js thread and a stategraph thread cannot share an id: sg_threads and sg_get_state name threads by id."),
					 errhint("Use another thread id.")));
		}
		if (sg_thread_id_stored("lg_checkpoints", thread_id) && !sg_lg_thread_visible(thread_id))
			taken_by_another_role(thread_id);
		return;
	}
	sg_thread_id_check_not_lg(thread_id);
	if (sg_thread_id_stored("threads", thread_id) && sg_thread_fetch(thread_id, false) == NULL)
		taken_by_another_role(thread_id);
}

/*
 * Whether LangGraph.js thread thread_id has no checkpoint yet, or its first
 * one (by namespace, then id, as sg_lg_put's owner lookup reads) is owner's,
 * read below row-level security.
 */
static bool
lg_first_owner_is(const char *thread_id, text *owner)
{
	Oid			relid = get_relname_relid("lg_checkpoints", get_namespace_oid("stategraph", false));
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		same = true;

	if (!OidIsValid(relid))
		return true;
	rel = table_open(relid, AccessShareLock);
	scan = thread_rows_scan(rel, thread_id, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		first = heap_getattr(tup, get_attnum(relid, "owner"), RelationGetDescr(rel), &isnull);

		same = !isnull && DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, first,
															   PointerGetDatum(owner)));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return same;
}

/*
 * sg_thread_id_check_new(thread_id, true) for writes under a LangGraph.js
 * thread id (sg_lg_put_writes, called for every task): the common case, a
 * thread of the caller's own, takes two index probes and no query.
 */
void
sg_thread_id_check_writes(const char *thread_id)
{
	if (!sg_thread_id_stored("threads", thread_id) &&
		lg_first_owner_is(thread_id, cstring_to_text(GetUserNameFromId(GetUserId(), false))))
		return;
	sg_thread_id_check_new(thread_id, true);
}

/*
 * Whether the caller may own what role owner owns: stategraph.owned's test
 * (owner is the caller or a role it is a member of), in C. A role that no
 * longer exists owns nothing anyone may act for.
 */
bool
sg_caller_is_owner(const char *owner)
{
	Oid			role = get_role_oid(owner, true);

	return OidIsValid(role) && is_member_of_role(GetUserId(), role);
}

PG_FUNCTION_INFO_V1(lg_thread_owner_is);

/*
 * stategraph.lg_thread_owner_is(thread_id text, owner text) -> boolean: the
 * restrictive policy of the lg_ tables. Whether owner (a role the caller may
 * own) owns thread thread_id (lg_first_owner_is). For an owner the caller
 * may not own, true without looking.
 */
Datum
lg_thread_owner_is(PG_FUNCTION_ARGS)
{
	char	   *thread_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *owner = PG_GETARG_TEXT_PP(1);

	if (!sg_caller_is_owner(text_to_cstring(owner)))
		PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(lg_first_owner_is(thread_id, owner));
}
