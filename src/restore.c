/*-------------------------------------------------------------------------
 *
 * restore.c
 *		Background workers keep off a database while a restore loads its
 *		runs.
 *
 * pg_restore (and psql running a plain dump) creates the extension first,
 * whose CREATE EXTENSION wakes a background worker in the database, and
 * then loads the tables' rows one table at a time, each in a transaction
 * of its own, in name order (or in any order with -j): stategraph.runs
 * before stategraph.tasks and stategraph.threads. A worker that looked for
 * work in between found the restored pending runs but not their threads:
 * it ran them as runs of new threads, and the COPY of stategraph.threads
 * then failed on the thread ids those runs had made, so that the restore
 * lost every thread of the database. A retention or lease sweep in between
 * acted on half a database too.
 *
 * So rows that come into stategraph.runs other than through sg_submit (a
 * COPY or INSERT of a restore, which runs as a superuser: the extension is
 * not trusted) hold the database's workers off until the session that
 * wrote them ends: an AFTER INSERT statement trigger takes a session lock
 * (an advisory lock tag of stategraph's own, which no pg_advisory_*
 * function can name, though pg_advisory_unlock_all releases it), and a
 * worker, and CALL sg_work, asks for that lock in share mode without
 * waiting before each claim and each sweep, and keeps it to the end of
 * that transaction (a check released at once let a restore's rows commit
 * between the check and the claim); while it is held they neither claim
 * runs nor sweep, and a worker looks again every second. The trigger also
 * wakes a worker at commit, as sg_submit does (the one CREATE EXTENSION
 * woke had found nothing and slept, and the restored runs waited until
 * something else woke it), so the restored runs start within a second of
 * the end of the restore; and it counts as a commit that delayed a run,
 * so that the workers look up the next delayed run again (that worker kept
 * the "none" it had found, and a restored run delayed past the end of the
 * restore waited for the next sweep instead of its due time; TAP 330).
 * sg_claim, too, hands out no external task and
 * sweeps no lease while a restore holds (the tasks' rows come before the
 * threads'). A writer of rows that is not a superuser (an
 * ordinary role's own INSERT, which row-level security confines to its
 * rows) holds nothing: it could otherwise stop every role's runs for as
 * long as it stays connected.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "commands/dbcommands.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "storage/lock.h"

PG_FUNCTION_INFO_V1(sg_runs_loaded);

/* Set by sg_submit around its INSERT (runs.c): those rows hold nothing. */
bool		sg_submitting_run = false;

/* stategraph's restore lock of this database (field4 3: no SQL advisory function uses it). */
static void
restore_locktag(LOCKTAG *tag)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, 0x73677265, 0x73746f72, 3);
}

/* Trigger (AFTER INSERT ... FOR EACH STATEMENT on stategraph.runs): a restore's rows hold the workers off. */
Datum
sg_runs_loaded(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("stategraph.runs_loaded() must be called as a trigger")));
	if (sg_submitting_run || !superuser())
		return PointerGetDatum(NULL);
	restore_locktag(&tag);
	if (!LockHeldByMe(&tag, ExclusiveLock))
	{
		(void) LockAcquire(&tag, ExclusiveLock, true, false);
		/* in the server log, for whoever wonders why runs wait */
		ereport(LOG,
				(errmsg("stategraph: background runs of database \"%s\" wait until this session ends",
						get_database_name(MyDatabaseId)),
				 errdetail("It wrote rows of stategraph.runs other than through sg_submit, as a restore does."),
				 errhint("SELECT pg_advisory_unlock_all() in this session lets them go on.")));
	}
	sg_wake_workers_at_commit();	/* to watch for the end of the restore */
	sg_run_delayed_at_commit();	/* its delayed runs: workers look up the next due time again */
	return PointerGetDatum(NULL);
}

/*
 * Whether another session of this database wrote stategraph.runs rows as a
 * restore does and is still connected: then no run is claimed and nothing
 * swept. Otherwise, with keep, the lock is kept in share mode until the
 * transaction ends, so that a restore's rows that commit meanwhile (their
 * trigger waits for it) are not seen by the claim or sweep that follows
 * the check; without it (sg_claim, whose long poll would hold a restore up
 * for as long as it waits) it is released at once.
 */
bool
sg_restore_holds(bool keep)
{
	LOCKTAG		tag;

	restore_locktag(&tag);
	if (LockAcquire(&tag, ShareLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return true;
	if (!keep)
		LockRelease(&tag, ShareLock, false);
	return false;
}
