/*-------------------------------------------------------------------------
 *
 * holds.c
 *	  The retention sweeps leave alone the threads of a partition that a
 *	  move (the router's stategraph_router.move_partition) holds here
 *
 * A move copies the threads of one router partition from this server to
 * another, checks each copy against its original once more, and then
 * switches the partition on the router. Until the switch is committed
 * there, this server's own retention sweep must not delete or prune one of
 * those threads: the router would then route to a copy of a thread that
 * retention removed here. So, just before its final check, the move holds
 * the partition on this server (stategraph.hold_partition, called through
 * its own connection): a session-level advisory lock (classid 'SGHO', objid
 * the partition, objsubid 'HO') plus a row of stategraph.partition_holds
 * saying how the router maps threads to partitions. The lock is of
 * stategraph's own kind (objsubid 'HO'), which no pg_advisory_* function
 * can name: with pg_advisory_lock(1397180495, part), the key it had
 * before, any role took it, which kept every sweep off the threads of a
 * partition whose row a stopped move had left, and refused the next move
 * of that partition (55P03). It lets go after the switch
 * (stategraph.release_partition), and a move whose connection ends (the
 * router's session died or gave up) lets go with it: a row whose lock no
 * session holds is no hold at all.
 *
 * The sweeps check for a hold after they hold the thread themselves, in a
 * statement of its own, under the latest snapshot (what committed by then,
 * even in a REPEATABLE READ transaction, as foreign key checks read). The hold
 * takes its lock, writes its row and then share-locks every row of the
 * partition's threads in one transaction, which waits for a sweep that
 * holds one of them already (the retention sweep locks a thread FOR
 * UPDATE, which conflicts with that share lock: writers' FOR NO KEY
 * UPDATE would not); so a sweep either got to the thread before
 * the hold (and the move's final check, which comes after the hold, sees
 * what it did), or it finds the hold. Share row locks cost nothing in the
 * shared lock table, whatever the number of threads; the hold itself is
 * one lock.
 *
 * When no move holds anything here (always, but during a move), the check
 * reads one empty table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"

#define HOLD_LOCK_CLASSID	1397180495	/* 'SGHO' */
#define HOLD_LOCK_FIELD4	0x484f	/* 'HO': pg_advisory_* functions use 1 and 2 only */

/*
 * The holds of partitions that apply to a thread id (the SQL expression
 * id): the partition it maps to (as PL/Proxy maps hashtext) is held, and
 * a session holds its lock.
 */
#define HOLDS_OF(id) \
	"SELECT 1 FROM stategraph.partition_holds h " \
	"WHERE stategraph.thread_partition(" id ", h.partitions, h.modular) OPERATOR(pg_catalog.=) h.partition " \
	"AND EXISTS (SELECT 1 FROM pg_catalog.pg_locks l " \
	"  WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.granted " \
	"  AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d " \
	"                                         WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) " \
	"  AND l.classid OPERATOR(pg_catalog.=) 1397180495::pg_catalog.oid " \
	"  AND l.objid OPERATOR(pg_catalog.=) h.partition::pg_catalog.oid " \
	"  AND l.objsubid OPERATOR(pg_catalog.=) 18511) " /* HOLD_LOCK_FIELD4 */
#define HELD_QUERY HOLDS_OF("$1") "LIMIT 1"

/*
 * Is the thread in a partition that a move holds on this server? The
 * caller (a retention sweep, SPI connected) holds the thread's row or rows
 * locked already.
 */
bool
sg_partition_held(const char *thread_id)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(thread_id)};

	return sg_spi_execute_latest(sg_spi_prepare(&plan, HELD_QUERY, 1, types), values, NULL) > 0;
}

/*
 * The same for LangGraph.js threads, which have no row in
 * stategraph.threads: the caller locks each one's checkpoint rows first
 * (sg_lg_lock_rows), then asks for its batch of threads at once (n of
 * them, in ids): sets held[i] for each. One statement for the batch: one
 * for each thread was a tenth of the LangGraph.js sweep's time, most of
 * it in starting and ending it.
 */
void
sg_lg_partitions_held(char **ids, int n, bool *held)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {TEXTARRAYOID};
	Datum		values[1] = {sg_text_array(ids, n)};

	(void) sg_spi_execute_latest(sg_spi_prepare(&plan,
								"SELECT i FROM pg_catalog.unnest($1::pg_catalog.text[]) i WHERE EXISTS (" HOLDS_OF("i") ")",
								1, types),
								 values, NULL);
	sg_spi_mark_found(ids, n, held);
}

/*
 * Lock a LangGraph.js thread's checkpoint rows for the sweep, which
 * removes or prunes them next, before it looks for a hold of its
 * partition (sg_lg_partitions_held): a hold that share-locked them waits
 * for the sweep's transaction, or the sweep for the hold's, which is
 * short. Both lock rows in one order, by primary key: the sweep its
 * threads in thread_id order within a batch, and each thread's rows in
 * key order; the hold every row of its partition so. A hold that read the
 * rows in another order could lock a thread's rows that the sweep then
 * waited for, and wait itself for those of a thread the sweep had removed
 * earlier in its batch: a deadlock, which failed the move (isolation
 * fixstops_hold_lg_sweep). With dont_wait, the rows another transaction
 * holds are left, and it returns whether it locked them all (the sweep
 * then lets go of the threads after this one before it waits for them).
 */
bool
sg_lg_lock_rows(const char *thread_id, bool dont_wait)
{
	static SPIPlanPtr plans[2];
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(thread_id)};
	bool		isnull;

	if (!dont_wait)
	{
		(void) sg_spi_execute(sg_spi_prepare(&plans[0],
											 "SELECT 1 FROM stategraph.lg_checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) $1 "
											 "ORDER BY c.checkpoint_ns, c.checkpoint_id FOR UPDATE",
											 1, types),
							  values, NULL, 0);
		return true;
	}
	(void) sg_spi_execute(sg_spi_prepare(&plans[1],
										 "WITH l AS (SELECT 1 FROM stategraph.lg_checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) $1 "
										 "  ORDER BY c.checkpoint_ns, c.checkpoint_id FOR UPDATE SKIP LOCKED) "
										 "SELECT (SELECT pg_catalog.count(*) FROM l) OPERATOR(pg_catalog.=) "
										 "(SELECT pg_catalog.count(*) FROM stategraph.lg_checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) $1)",
										 1, types),
						  values, NULL, 1);
	return DatumGetBool(sg_spi_datum(0, 1, &isnull));
}

/* The lock tag of the hold of partition part in this database. */
static void
hold_lock_tag(LOCKTAG *tag, int32 part)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, HOLD_LOCK_CLASSID, (uint32) part, HOLD_LOCK_FIELD4);
}

PG_FUNCTION_INFO_V1(sg_lock_partition);

/*
 * stategraph.lock_partition(part): takes the session-level lock of the hold
 * of partition part without waiting; whether it is held now (as
 * pg_try_advisory_lock, which could not keep other roles from it).
 */
Datum
sg_lock_partition(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;

	sg_require_arg(fcinfo, 0, "part");
	hold_lock_tag(&tag, PG_GETARG_INT32(0));
	PG_RETURN_BOOL(LockAcquire(&tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL);
}

PG_FUNCTION_INFO_V1(sg_unlock_partition);

/* stategraph.unlock_partition(part): lets go of it once; whether it was held. */
Datum
sg_unlock_partition(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;

	sg_require_arg(fcinfo, 0, "part");
	hold_lock_tag(&tag, PG_GETARG_INT32(0));
	PG_RETURN_BOOL(LockRelease(&tag, ExclusiveLock, true));
}
