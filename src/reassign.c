/*-------------------------------------------------------------------------
 *
 * reassign.c
 *		The holds on a role's name that keep sg_reassign_owned apart from
 *		the submits and the LangGraph.js writes under that name.
 *
 * Owners are role names (the install script's Ownership section), and
 * sg_reassign_owned (a PL/pgSQL function of the install script) gives every
 * row of old_role to new_role statement by statement, each reading what
 * had committed when it started: a run that a transaction submitted under
 * the old name but had not committed yet was not moved. It stayed with the
 * old name (failing for want of its submitter once a rename committed, or
 * creating a thread of the old name), and a transaction that had submitted
 * with multitask 'interrupt' held run rows that the reassign waited for,
 * while it went on to wait for a thread the reassign held: a deadlock.
 * And the submits to one thread decide together through the row lock of a
 * key named by the thread's owner (runs.c, sg_lock_thread_submits): a submit
 * keyed by the old name before the reassign's commit and one keyed by the
 * new name after it both passed the multitask rule.
 *
 * So a submit holds, in share mode until its transaction ends, the names
 * it acts under: its role's (the run's owner, and its idempotency keys)
 * and its thread's owner's (the thread's submit key). The hold is an
 * advisory lock of its own kind (field4 'RO'), keyed by a hash of the
 * name and the database. sg_reassign_owned first takes old_role's in
 * exclusive mode (stategraph.reassign_hold; new_role's too, below): it
 * waits for the submits in flight to commit, so that its statements see
 * their runs, before it holds any row; and a submit that comes meanwhile
 * waits for its commit, then reads the names anew (a rename committed
 * with it has changed the submitter's CURRENT_USER and its thread's
 * owner). A submit reads its graph once it holds its own name, but
 * before its thread's owner's: when it waited for that one, it reads and
 * checks the graph again (runs.c,
 * sg_submit), which the reassign may have given away with the thread
 * (TAP 323).
 *
 * The LangGraph.js saver's calls that write or delete a thread's rows hold
 * the thread owner's name the same way (lgsaver.c): a prune deleting the
 * role's rows in another order than the reassign updates them deadlocked
 * with it, and a put in flight left rows of the old name. So does
 * sg_import_thread, for the names its rows go under (the export's owner,
 * or the importing role): an import in flight left its rows with the old
 * name.
 *
 * A name read, then held, is the rows' name only if no reassign of it
 * committed in between: that one was not waited for, and the call's rows
 * go under the new owner (each writing statement reads it anew), whose
 * name the call does not hold, so that a second reassign, of the new name,
 * in flight misses them (a put left rows of the new name in the thread the
 * second reassign gave away; a delete met it half done). So every holder
 * reads the name again once it holds it, until a read finds a name held
 * before that read began (sg_role_held), which no reassign can change
 * until commit: sg_role_hold_names (and sg_role_try_hold_names, the
 * sweep's: lgsaver.c, lg_try_hold_owner), sg_lock_thread_submits (in the
 * key's statement), the claim (in its row lock's statement),
 * sg_role_hold_current (the role cache, once invalidations are read: a
 * rename committed with the reassign), and the probe of a new thread's id
 * (checkpoint.c, sg_thread_create: it refuses another role's thread only
 * for a name held before its read). sg_role_hold_names first tries the
 * caller's own name, so that when the rows are the caller's, as most are,
 * one read does (a put costs what it did). TAP 318.
 *
 * A submit waits only in a transaction that had written nothing before it
 * (no transaction id): one that has may hold rows the reassign waits for
 * (a thread it ran, runs it interrupted), so it fails at once with 55P03
 * instead of deadlocking, and its caller tries again. A submit by a node
 * of a background run is such a one.
 *
 * The reassign also holds new_role's name, in share mode: new_role's own
 * submits and claims share it (a reassign to a role that submits at the
 * same time does not stop its submits), but another reassign of new_role's
 * rows, which holds it exclusively, waits for this one's commit, or this
 * one for it. Without it two reassigns chained through one name, (a, b)
 * and (b, c), or (c, a) and (a, b), ran together: each statement of one
 * reads what had committed when it started, so the other's commit between
 * two of them split a role's rows. A thread moved by one and its runs by
 * both (a run of one owner on a thread of another, which the checks of a
 * thread's active run then passed over: test/fuzz/RESULTS.md, "Roles", item
 * 4), or rows given, after a rename back, to a name that was no role any
 * more. Both names are taken in name order: reassigns (a, b) and (b, a)
 * at once wait for one another, no deadlock. And sg_reassign_owned checks
 * that new_role exists once it holds the names (a rename of it committed
 * meanwhile). Isolation reassign_chain.
 *
 * A submit holds one lock of the shared lock table per name, however many
 * threads it submits to (their owners are few); the reassign one.
 *
 * A claim of a background run holds its owner's name in share mode too,
 * without waiting (sg_role_try_hold), until it commits with the run's
 * first step, which may create the run's thread: a reassign waits for it,
 * and a claim passes over the runs of a name being reassigned, and a run
 * whose row names another owner than the one its claim read and holds
 * (runs.c, claim_checks; TAP 312).
 *
 * A reassign that gives pending runs to new_role wakes a worker at its
 * commit (runs_reassigned): runs that waited for old_role's share of the
 * workers (stategraph.max_workers_per_role) may go under new_role's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"

PG_FUNCTION_INFO_V1(reassign_hold);
PG_FUNCTION_INFO_V1(runs_reassigned);

#define ROLE_LOCK_FIELD4	0x524f	/* 'RO': a role name's hold (thread locks use 0x5347) */

/* The advisory lock tag of role name role in this database. */
static void
role_lock_tag(LOCKTAG *tag, const char *role)
{
	uint64		h = hash_bytes_extended((const unsigned char *) role, strlen(role), ROLE_LOCK_FIELD4);

	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h, ROLE_LOCK_FIELD4);
}

/*
 * Whether the current transaction may wait for a reassign: it holds no row
 * yet. sg_submit asks before it takes anything.
 */
bool
sg_role_hold_may_wait(void)
{
	return !TransactionIdIsValid(GetTopTransactionIdIfAny());
}

/*
 * Hold role name role in share mode until the transaction ends. Returns
 * false when the hold was had at once (or was held already), true when it
 * waited for a reassign to end: the caller reads the names it holds again,
 * since a rename may have committed with it. A transaction that may not
 * wait (may_wait false) gets 55P03 instead.
 */
bool
sg_role_hold(const char *role, bool may_wait)
{
	LOCKTAG		tag;

	role_lock_tag(&tag, role);
	if (LockAcquire(&tag, ShareLock, false, true) != LOCKACQUIRE_NOT_AVAIL)
		return false;
	if (!may_wait)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("the stategraph rows of role \"%s\" are being reassigned", role),
				 errdetail("sg_reassign_owned holds them until its transaction ends, and this transaction "
						   "holds rows that it may wait for."),
				 errhint("Try again once it has committed.")));
	(void) LockAcquire(&tag, ShareLock, false, false);
	AcceptInvalidationMessages();	/* a rename committed with it: CURRENT_USER reads the new name */
	return true;
}

/* Hold role name role in share mode if no reassign holds it (the sweeps): whether it is held. */
bool
sg_role_try_hold(const char *role)
{
	LOCKTAG		tag;

	role_lock_tag(&tag, role);
	return LockAcquire(&tag, ShareLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

/*
 * Whether this transaction holds role name role (sg_role_hold,
 * sg_role_try_hold). A name read in a snapshot taken once it was held is
 * the name until commit: a reassign of it waits for the transaction.
 */
bool
sg_role_held(const char *role)
{
	LOCKTAG		tag;

	role_lock_tag(&tag, role);
	return LockHeldByMe(&tag, ShareLock);
}

/*
 * Hold the current role's name (and its new one, after a rename). The name
 * is the one the role has once the hold is had: a rename that committed
 * before it (with a reassign of the old name, which then did not wait) was
 * not seen yet by the cache the name was read from, and the rows this
 * transaction writes next go under the new name, which its holder then
 * held not.
 */
void
sg_role_hold_current(bool may_wait)
{
	char	   *name;

	do
	{
		name = GetUserNameFromId(GetUserId(), false);
		(void) sg_role_hold(name, may_wait);
		AcceptInvalidationMessages();	/* (no message: a look at a flag) */
	} while (strcmp(name, GetUserNameFromId(GetUserId(), false)) != 0);
}

/*
 * Hold each name that plan (a statement of one parameter, arg) returns in
 * its first column: the names the rows a call is about to write go under.
 * A name read, then held, may be stale: a reassign of it that committed
 * between the read and the hold was not waited for, and the call's rows go
 * under the new owner, whose name it did not hold (a reassign of that one
 * in flight then missed them). So the names are read until a read finds
 * only names held before it began. The caller's own name is tried first,
 * without waiting (the names are most often its own): then one read does.
 * Trying only (try_only, the sweeps): no wait, and false at the first name
 * a reassign holds (the caller leaves those rows to its next pass); the
 * caller's own name is not tried then, a sweep holding only the names of
 * the rows it removes. True when every name is held.
 */
static bool
hold_names(SPIPlanPtr plan, Datum arg, bool may_wait, bool try_only)
{
	bool		unheld;

	if (!try_only)
		(void) sg_role_try_hold(GetUserNameFromId(GetUserId(), false));
	do
	{
		uint64		n = sg_spi_execute(plan, &arg, NULL, 0);
		SPITupleTable *tt = SPI_tuptable;
		uint64		i;

		unheld = false;
		for (i = 0; i < n; i++)
		{
			bool		isnull;
			Datum		name = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull);
			char	   *role;

			if (isnull || sg_role_held(role = TextDatumGetCString(name)))
				continue;
			if (!try_only)
				(void) sg_role_hold(role, may_wait);
			else if (!sg_role_try_hold(role))
				return false;
			unheld = true;
		}
	} while (unheld);
	return true;
}

/* hold_names, waiting for a reassign of a name if may_wait (else 55P03). */
void
sg_role_hold_names(SPIPlanPtr plan, Datum arg, bool may_wait)
{
	(void) hold_names(plan, arg, may_wait, false);
}

/* hold_names without waiting: whether every name is held (lgmaint.c's sweep). */
bool
sg_role_try_hold_names(SPIPlanPtr plan, Datum arg)
{
	return hold_names(plan, arg, false, true);
}

/*
 * stategraph.reassign_hold(old_role, new_role): sg_reassign_owned's holds,
 * until its transaction ends (see above): old_role's name exclusive, and
 * new_role's in share mode, which new_role's own submits and claims share
 * but a reassign of new_role waits for. The two names are taken in name
 * order, so that two reassigns that take each other's names, (a, b) and
 * (b, a), wait for one another instead of deadlocking. For the roles that
 * may reassign only (superusers and BYPASSRLS roles): another role holding
 * old_role's name would stop its submits.
 */
Datum
reassign_hold(PG_FUNCTION_ARGS)
{
	const char *names[2];
	LOCKMODE	modes[2];
	bool		waited = false;
	int			i;

	sg_require_arg(fcinfo, 0, "old_role");
	sg_require_arg(fcinfo, 1, "new_role");
	sg_prevent_write("sg_reassign_owned");
	if (!superuser() && !has_bypassrls_privilege(GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to hold the stategraph rows of role \"%s\"",
						NameStr(*PG_GETARG_NAME(0))),
				 errhint("Run it as a superuser or as a role with BYPASSRLS.")));
	names[0] = NameStr(*PG_GETARG_NAME(0));
	modes[0] = ExclusiveLock;
	names[1] = NameStr(*PG_GETARG_NAME(1));
	modes[1] = ShareLock;
	if (strcmp(names[0], names[1]) > 0)
	{
		const char *n = names[0];
		LOCKMODE	m = modes[0];

		names[0] = names[1];
		modes[0] = modes[1];
		names[1] = n;
		modes[1] = m;
	}
	for (i = 0; i < 2; i++)
	{
		LOCKTAG		tag;

		if (i == 1 && strcmp(names[0], names[1]) == 0)
			break;				/* (sg_reassign_owned returns before, old = new) */
		role_lock_tag(&tag, names[i]);
		if (LockAcquire(&tag, modes[i], false, true) == LOCKACQUIRE_NOT_AVAIL)
		{
			(void) LockAcquire(&tag, modes[i], false, false);
			waited = true;
		}
	}
	if (waited)
		AcceptInvalidationMessages();	/* a rename committed meanwhile: the caller checks new_role again */
	PG_RETURN_VOID();
}

/*
 * stategraph.runs_reassigned(): sg_reassign_owned gave pending runs to
 * new_role. Runs that waited for old_role's share of the workers
 * (stategraph.max_workers_per_role) may start now under new_role's: wake
 * a worker of this database when the reassign commits, as a submit does
 * (no worker looked again before its next idle look, 10 s later), and have
 * claims read the queue from its start. For the roles that may reassign
 * only, as reassign_hold: any other role could make every claim of the
 * database read the whole queue again, each time it commits a call.
 */
Datum
runs_reassigned(PG_FUNCTION_ARGS)
{
	if (!superuser() && !has_bypassrls_privilege(GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to wake the workers for reassigned runs"),
				 errhint("Run sg_reassign_owned as a superuser or as a role with BYPASSRLS.")));
	sg_wake_workers_at_commit();
	PG_RETURN_VOID();
}
