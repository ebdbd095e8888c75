/*-------------------------------------------------------------------------
 *
 * branch.c
 *		sg_update_state (LangGraph's update_state) and sg_fork.
 *
 * A fork is one checkpoint row in the new thread whose parent is the
 * forked checkpoint of the other thread: no channel value is copied, and
 * reading the fork walks on into the other thread (checkpoint.c). When that
 * thread is deleted or pruned, retention.c gives the fork a full image.
 *
 * Lock order. sg_fork takes the two threads' locks (checkpoint.c, Thread
 * locks) in thread id order, so that sg_fork(a, ..., b) and sg_fork(b, ...,
 * a) do not each hold one and wait for the other (a deadlock, 40P01,
 * where each should fail with 42710 as alone; isolation fork_lock_order).
 * It then locks the new thread's row, if there is one (and fails), before
 * the source's: a fork's row before its source's, the order of
 * sg_import_thread storing a fork's export and of sg_delete_thread
 * detaching the forks of the thread it deletes (retention.c). Holding its
 * source's row and waiting for the row of new_thread_id, it deadlocked
 * with sg_delete_thread(new_thread_id) when the source held a fork of that
 * thread, and with sg_import_thread(sg_export_thread(new_thread_id)) when
 * new_thread_id was a fork of the source (isolations fork_lock_order,
 * fork_existing_import). A new thread that another transaction is
 * creating is not seen: the fork's insert waits for that transaction and
 * fails with 40001. sg_update_state from a checkpoint of another thread,
 * which forks it into its own thread first, takes the same order: the
 * two threads' locks in thread id order, before any row (it finds the
 * checkpoint's thread first, without locks, and looks again once it holds
 * them: lock_for_update), then its own thread's row (the fork's) before
 * the source's. It took its own lock and row, then the source's lock:
 * holding its row, it deadlocked with sg_delete_thread of the source,
 * which holds the source's lock while it waits for its forks' rows, and
 * with an sg_update_state the other way round, holding the source's row
 * and waiting for its own (isolation update_lock_order). The two rows it
 * then takes apart (retention.c, "Rows taken apart"): both without
 * waiting, and if one is busy, neither, waiting for that one alone before
 * the next try. Holding its own row and waiting for the source's, an
 * update of a fork from a checkpoint of another fork of the same thread
 * deadlocked with sg_delete_thread of that thread, which held the
 * source's row and waited for the updated one's (isolation rows_apart).
 * It lets go of the two threads' locks as well while it waits for a busy
 * row, and takes them again after (lock_for_update_rows): a transaction
 * that holds a thread's row (an sg_export_thread of it, any write) takes
 * the thread's lock again for its next call on it, and may take another
 * thread's; waiting for the row with both locks held, the update
 * deadlocked with sg_import_thread(sg_export_thread(t), s), the export
 * holding t's row and the import waiting for s's lock (isolation
 * export_update_import).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "datatype/timestamp.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(sg_update_state);
PG_FUNCTION_INFO_V1(sg_fork);

/*
 * The thread that holds checkpoint id, or NULL. No index maps ids to threads
 * (it would cost every insert for this rare call): the id's timestamp picks
 * the threads that were written around then, and each is probed by its key;
 * all threads are tried if that finds nothing (a clock set back).
 *
 * Ids are unique within a thread only: an import keeps its export's (a copy
 * in the same database holds its source's ids), and can carry any. Of
 * several threads of one role that hold it, the first by thread id (a
 * choice that does not change with the plan); threads of several roles are
 * refused (42P08): a role could otherwise import a copy holding another
 * role's ids, with values of its own, and have it forked by someone who
 * meant the other's (a superuser, or a member of both roles).
 */
static char *
checkpoint_owner(const pg_uuid_t *id)
{
	static SPIPlanPtr plan;
	static SPIPlanPtr plan_010;
	Oid			types[3] = {UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	pg_uuid_t  *copy = palloc(sizeof(pg_uuid_t));
	uint64		ms = 0;
	TimestampTz at;
	int			i,
				attempt;
	SPIPlanPtr	holders;

#define HOLDERS_SQL(owner) \
	"WITH h AS (SELECT t.thread_id, " owner " AS o FROM stategraph.threads t " \
	"  WHERE ($2 IS NULL OR (t.created_at OPERATOR(pg_catalog.<=) $2 " \
	"                        AND t.updated_at OPERATOR(pg_catalog.>=) $3)) " \
	"  AND EXISTS (SELECT 1 FROM stategraph.checkpoints c " \
	"              WHERE c.thread_id OPERATOR(pg_catalog.=) t.thread_id " \
	"              AND c.checkpoint_id OPERATOR(pg_catalog.=) $1)), " \
	"f AS (SELECT h.thread_id, h.o FROM h ORDER BY h.thread_id LIMIT 1) " \
	"SELECT f.thread_id, (SELECT pg_catalog.min(h.thread_id) FROM h WHERE h.o OPERATOR(pg_catalog.<>) f.o) FROM f"
	/* a schema still 0.1.0's has no owners: one role's rows */
	holders = sg_schema_is_010() ? sg_spi_prepare(&plan_010, HOLDERS_SQL("1"), 3, types)
		: sg_spi_prepare(&plan, HOLDERS_SQL("t.owner"), 3, types);
	*copy = *id;
	for (i = 0; i < 6; i++)
		ms = (ms << 8) | id->data[i];
	at = (TimestampTz) ms * 1000 - (TimestampTz) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	values[0] = UUIDPGetDatum(copy);
	values[1] = TimestampTzGetDatum(at + USECS_PER_SEC);
	values[2] = TimestampTzGetDatum(at - USECS_PER_SEC);
	for (attempt = 0; attempt < 2; attempt++)
	{
		if (attempt == 1)
			nulls[1] = nulls[2] = 'n';
		if (sg_spi_execute(holders, values, nulls, 1) == 0)
			continue;
		if (sg_spi_text(0, 2) != NULL)	/* a thread of another role than the first's */
			ereport(ERROR,
					(errcode(ERRCODE_AMBIGUOUS_PARAMETER),
					 errmsg("checkpoint %s is held by threads of more than one role", sg_uuid_to_cstring(id)),
					 errdetail("Threads \"%s\" and \"%s\" hold it (an imported copy keeps its checkpoint ids).",
							   sg_spi_text(0, 1), sg_spi_text(0, 2)),
					 errhint("Name the thread: sg_fork(thread_id, checkpoint_id, new_thread_id).")));
		return sg_spi_text(0, 1);
	}
	return NULL;
}

/* Note in dst's row that forks in it start from checkpoints of src. */
static void
note_forked_from(const char *dst, const char *src)
{
	static SPIPlanPtr plan;
	const char *args[2] = {dst, src};

	sg_spi_run_texts(&plan,
					 "UPDATE stategraph.threads "
					 "SET forked_from = pg_catalog.array_append(forked_from, $2) "
					 "WHERE thread_id OPERATOR(pg_catalog.=) $1 "
					 "AND NOT COALESCE($2 OPERATOR(pg_catalog.=) ANY (forked_from), false)", 2, args);
}

/*
 * A thread started by a fork belongs to the owner of the thread it starts
 * from (a member of that role may fork it): whoever may change the source,
 * and so delete or prune it, also sees the fork that reads from it.
 */
static void
inherit_owner(const char *dst, const char *src)
{
	static SPIPlanPtr plan;
	const char *args[2] = {dst, src};

	if (sg_schema_is_010())
		return;					/* no owners before ALTER EXTENSION UPDATE */
	sg_spi_run_texts(&plan,
					 "UPDATE stategraph.threads d SET owner = s.owner FROM stategraph.threads s "
					 "WHERE d.thread_id OPERATOR(pg_catalog.=) $1 AND s.thread_id OPERATOR(pg_catalog.=) $2 "
					 "AND d.owner OPERATOR(pg_catalog.<>) s.owner", 2, args);
}

/*
 * Whether existing thread dst belongs to another owner than src: that
 * owner may not see dst (row-level security), so its sg_delete_thread or
 * sg_prune of src could not give a fork row in dst the image it needs.
 */
static bool
other_owner(const char *dst, const char *src)
{
	static SPIPlanPtr plan;
	const char *args[2] = {dst, src};

	if (sg_schema_is_010())
		return false;			/* no owners before ALTER EXTENSION UPDATE */
	return sg_spi_run_texts(&plan,
							"SELECT 1 FROM stategraph.threads d, stategraph.threads s "
							"WHERE d.thread_id OPERATOR(pg_catalog.=) $1 AND s.thread_id OPERATOR(pg_catalog.=) $2 "
							"AND d.owner OPERATOR(pg_catalog.<>) s.owner", 2, args) > 0;
}

/*
 * The meta of a fork of checkpoint from (sg_fork, and the copy a run from an
 * older checkpoint starts with): for an input checkpoint (its next
 * step is __start__'s), the input it was given ({"input_writes": [the
 * __start__ writes]}), which a run resumed at the fork replays. It is read
 * in the source while the fork is linked to it; kept in the fork's own row,
 * it survives the source's deletion or pruning, a detached fork (another
 * role's thread), and an export imported where the source is not. NULL
 * otherwise.
 */
Jsonb *
sg_fork_start_input(SGCheckpoint *from)
{
	Jsonb	   *writes = sg_checkpoint_is_input(from) ? sg_checkpoint_start_writes(from) : NULL;
	SGJsonBuilder b = {0};

	if (writes == NULL)
		return NULL;
	sg_jb_begin_object(&b);
	sg_jb_key(&b, "input_writes");
	sg_jb_jsonb(&b, writes);
	sg_jb_end_object(&b);
	return sg_jb_finish(&b);
}

/*
 * Take the locks of threads a and b (NULL: a's alone) in thread id order,
 * before any thread row: see the lock order above.
 */
static void
lock_threads_in_order(const char *a, const char *b)
{
	if (b != NULL && strcmp(b, a) < 0)
	{
		sg_lock_thread(b, false);
		sg_lock_thread(a, false);
		return;
	}
	sg_lock_thread(a, false);
	if (b != NULL && strcmp(b, a) != 0)
		sg_lock_thread(b, false);
}

/*
 * Fork checkpoint id of thread src into thread dst (dst_th: its row, or NULL
 * to create it). The caller holds both threads' locks. Returns the new
 * checkpoint. A new thread belongs to src's owner (inherit_owner); in an
 * existing thread of another owner the row starts detached, as
 * sg_delete_thread of src would leave it: a complete image, the nodes that
 * ran last as its writes, no link to src.
 */
static SGCheckpoint *
fork_into(const char *src, const pg_uuid_t *id, const char *dst, SGThread *dst_th)
{
	SGThread   *sth = sg_thread_fetch_required(src, true);
	SGChannelSet *cs = sg_channelset_from_jsonb(sth->channels);
	SGCheckpoint *from;
	SGState    *state = sg_load_state(cs, src, id, &from);
	SGCheckpoint *cp = palloc0(sizeof(SGCheckpoint));
	int			c;

	if (dst_th != NULL && strcmp(dst_th->graph, sth->graph) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot fork a checkpoint of graph \"%s\" into thread \"%s\" of graph \"%s\"",
						sth->graph, dst, dst_th->graph)));
	if (dst_th != NULL && !DatumGetBool(DirectFunctionCall2(jsonb_eq, JsonbPGetDatum(dst_th->channels),
											   JsonbPGetDatum(sth->channels))))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("threads \"%s\" and \"%s\" have different channels", src, dst)));

	cp->thread_id = (char *) dst;
	sg_new_checkpoint_id(&cp->id, id, dst_th && dst_th->has_head ? &dst_th->head : NULL);
	cp->has_parent = true;
	cp->parent_id = *id;
	cp->parent_thread = strcmp(src, dst) == 0 ? NULL : (char *) src;
	cp->step = from->step;
	cp->source = "fork";
	cp->nnext = from->nnext;
	cp->next = from->next;
	cp->sends = from->sends;
	cp->barriers = from->barriers;
	cp->meta = sg_fork_start_input(from);
	cp->created_at = GetCurrentTimestamp();
	/* references never point into another thread */
	if (cp->parent_thread != NULL)
		for (c = 0; c < cs->n; c++)
			state->track[c].has_loc = false;
	if (cp->parent_thread != NULL && dst_th != NULL && other_owner(dst, src))
	{
		cp->writes = sg_checkpoint_standin_writes(cp);
		cp->parent_thread = NULL;
		cp->image_complete = true;
	}
	/* the thread row first: row-level security checks checkpoints against it */
	if (dst_th == NULL)
	{
		sg_thread_create(dst, sth->graph, sth->channels, &cp->id, cp->nnext > 0 ? "idle" : "done");
		inherit_owner(dst, src);
	}
	sg_checkpoint_insert(cs, cp, state, NULL);
	if (dst_th != NULL)
		sg_thread_set(dst, &cp->id, cp->nnext > 0 ? "idle" : "done", NULL);
	if (cp->parent_thread != NULL)
		note_forked_from(dst, src);
	return cp;
}

/* sg_fork(thread_id, checkpoint_id, new_thread_id): a new thread that starts at a checkpoint of another. */
Datum
sg_fork(PG_FUNCTION_ARGS)
{
	char	   *thread_id = sg_arg_text(fcinfo, 0, "thread_id");
	char	   *new_thread_id = sg_arg_text(fcinfo, 2, "new_thread_id");
	pg_uuid_t	id;
	SGCheckpoint *cp;
	pg_uuid_t  *result = palloc(sizeof(pg_uuid_t));

	sg_require_arg(fcinfo, 1, "checkpoint_id");
	id = *PG_GETARG_UUID_P(1);
	sg_prevent_write("sg_fork");
	sg_refuse_running_thread(new_thread_id, "sg_fork");
	sg_spi_connect();
	lock_threads_in_order(thread_id, new_thread_id);
	/* the new thread's row before the source's: an existing one ends the fork holding no other row */
	if (sg_thread_fetch(new_thread_id, true) != NULL)
	{
		sg_thread_fetch_required(thread_id, false); /* a missing source is still the error */
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("thread \"%s\" already exists", new_thread_id),
				 errhint("Fork into a new thread id.")));
	}
	sg_thread_fetch_required(thread_id, true);
	sg_checkpoint_fetch_required(thread_id, &id);
	cp = fork_into(thread_id, &id, new_thread_id, NULL);
	*result = cp->id;
	sg_spi_finish();
	PG_RETURN_UUID_P(result);
}

/*
 * The node that last wrote before checkpoint cp, as update_state's as_node
 * defaults to: the writer of the nearest ancestor with writes, or __start__.
 * A graph of one node is no exception: LangGraph's "the only node" counts
 * __start__ too, and an update of a thread whose node has not run yet (it
 * waits for a human, or failed) is __start__'s, leaving the node next.
 */
static int
last_writer(SGGraph *g, SGCheckpoint *cp)
{
	Jsonb	   *writes;
	char	   *first;
	int			i;

	writes = sg_checkpoint_last_writes(cp);
	if (writes == NULL)
		return SG_START;
	first = sg_jsonb_as_cstring(sg_jsonb_array_get(sg_jsonb_array_get(writes, 0), 0));
	for (i = 1; i < sg_jsonb_array_length(writes); i++)
	{
		char	   *other = sg_jsonb_as_cstring(sg_jsonb_array_get(sg_jsonb_array_get(writes, i), 0));

		if (strcmp(first, other) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_SG_INVALID_UPDATE),
					 errmsg("Ambiguous update, specify as_node"),
					 errdetail("Nodes \"%s\" and \"%s\" both ran last.", first, other),
					 errhint("Pass as_node to say which node the update comes from.")));
	}
	if (sg_graph_node_index(g, first) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("node \"%s\", which ran last, is not in graph \"%s\" any more", first, g->name),
				 errhint("Pass as_node.")));
	return sg_graph_node_index(g, first);
}

/*
 * The writes that tasks of checkpoint cp stored as pending before their
 * step stopped (an interrupt or a failure of another task), in task order.
 * Returns how many; fills writes, nodes and updates.
 */
static int
pending_writes(SGGraph *g, SGCheckpoint *cp, SGWrite *writes, int *nodes, Jsonb **updates)
{
	int			n = 0;
	int			i;

	if (cp->pending == NULL)
		return 0;
	for (i = 0; i < cp->nnext; i++)
	{
		char		task_id[37];
		Jsonb	   *update;
		int			node;

		sg_task_id(&cp->id, cp->next[i], i, task_id);
		update = sg_jsonb_get(sg_jsonb_get(cp->pending, task_id), "writes");
		node = sg_graph_node_index(g, cp->next[i]);
		if (update == NULL || node < 0)
			continue;
		writes[n].task = g->nodes[node].name;
		writes[n].update = update;
		nodes[n] = node;
		updates[n] = update;
		n++;
	}
	return n;
}

/*
 * The default as_node of an update that first applies pending writes: the
 * node whose task wrote them (LangGraph's last node to see new versions),
 * ambiguous when tasks of several nodes did.
 */
static int
pending_writer(SGWrite *writes, int *nodes, int nwrites)
{
	int			i;

	for (i = 1; i < nwrites; i++)
		if (nodes[i] != nodes[0])
			ereport(ERROR,
					(errcode(ERRCODE_SG_INVALID_UPDATE),
					 errmsg("Ambiguous update, specify as_node"),
					 errdetail("Nodes \"%s\" and \"%s\" both ran last.", writes[0].task, writes[i].task),
					 errhint("Pass as_node to say which node the update comes from.")));
	return nodes[0];
}

/*
 * The thread other than thread_id that holds checkpoint id, or NULL: the
 * checkpoint is thread_id's, or no thread has it.
 */
static char *
other_holder(const char *thread_id, const pg_uuid_t *id)
{
	char	   *holder;

	if (sg_checkpoint_fetch(thread_id, id) != NULL)
		return NULL;
	holder = checkpoint_owner(id);
	return holder != NULL && strcmp(holder, thread_id) != 0 ? holder : NULL;
}

/*
 * Lock thread_id for sg_update_state, and with a checkpoint_id of another
 * thread (base) that thread too, which it forks: both locks in thread id
 * order, before any row, as sg_fork (see the lock order above). Returns
 * that thread, or NULL (base is thread_id's, or no thread's: refused by
 * the caller). The holder is found before the locks, without them, and
 * again once they are held (is it still the holder's?): a holder deleted
 * meanwhile gives NULL, and a checkpoint that another thread has now
 * (imported meanwhile, or a copy of a holder deleted meanwhile) lets go
 * of both locks and starts over, rather than take a third lock out of
 * order. (A delete or prune of the
 * holder that holds its row has let its lock go, and may still remove
 * the checkpoint: the caller looks once more when it holds that row.)
 * Under REPEATABLE READ both looks see the same.
 */
static char *
lock_for_update(const char *thread_id, const pg_uuid_t *base)
{
	for (;;)
	{
		char	   *holder = base != NULL ? other_holder(thread_id, base) : NULL;
		char	   *now;

		lock_threads_in_order(thread_id, holder);
		if (base == NULL)
			return NULL;
		if (holder != NULL && sg_checkpoint_fetch(thread_id, base) == NULL &&
			sg_checkpoint_fetch(holder, base) != NULL)
			return holder;
		now = other_holder(thread_id, base);
		if (now == NULL)
		{
			if (holder != NULL)
				sg_unlock_thread(holder, false);	/* not forked after all */
			return NULL;
		}
		if (holder != NULL)
			sg_unlock_thread(holder, false);
		sg_unlock_thread(thread_id, false);
	}
}

/* What lock_for_update_rows locks: the updated thread, its base, and the source lock_for_update found. */
typedef struct UpdateRows
{
	const char *thread_id;
	const pg_uuid_t *base;
	char	   *source;
} UpdateRows;

/*
 * One try of lock_for_update_rows (an SGRowsTryFn): both rows without
 * waiting. With stategraph.lock_wait off a held one is not waited for:
 * the try is kept, and sg_thread_fetch then says it is busy.
 */
static char *
update_rows_try(void *arg, SGRowMode *mode)
{
	UpdateRows *u = (UpdateRows *) arg;
	char	   *both[2] = {(char *) u->thread_id, u->source};
	char	   *busy = sg_try_lock_rows(sg_text_array(both, 2), SG_ROW_FOR_NO_KEY_UPDATE);

	*mode = SG_ROW_FOR_NO_KEY_UPDATE;
	return sg_lock_wait ? busy : NULL;
}

/*
 * The two threads' locks (an SGThreadLocksFn): let go of both, or take
 * them again with lock_for_update, which finds the checkpoint's thread
 * anew; none now (false) ends the tries, the source then NULL.
 */
static bool
update_locks(void *arg, bool take)
{
	UpdateRows *u = (UpdateRows *) arg;

	if (take)
	{
		u->source = lock_for_update(u->thread_id, u->base);
		return u->source != NULL;
	}
	sg_unlock_thread(u->source, false);
	sg_unlock_thread(u->thread_id, false);
	return true;
}

/*
 * lock_for_update, then, when the update forks from another thread, the
 * two threads' rows taken apart (retention.c, "Rows taken apart",
 * sg_lock_rows_apart), the thread locks included: a try holds both locks
 * and takes both rows without waiting; if one is busy, it lets go of the
 * rows and of both locks, waits for that row holding nothing of the two
 * threads, lets it go, and starts over from the locks. Waiting for a row
 * with the locks held, the update deadlocked with
 * sg_import_thread(sg_export_thread(t), s), whose export held t's row and
 * whose import waited for s's lock (isolation export_update_import): a
 * transaction that holds a thread's row may take its lock again for its
 * next call, so the update waits for no row while it holds a thread's
 * lock. Returns the source, as lock_for_update; its locks are then held,
 * and both rows.
 */
static char *
lock_for_update_rows(const char *thread_id, const pg_uuid_t *base)
{
	UpdateRows	u = {thread_id, base, NULL};

	if (update_locks(&u, true))
		sg_lock_rows_apart(update_rows_try, &u, update_locks, &u);
	return u.source;
}

/* sg_update_state's work, with thread_id held (sg_hold_updating_thread). */
static pg_uuid_t *
update_state(FunctionCallInfo fcinfo, char *thread_id, Jsonb *values, char *as_node)
{
	SGThread   *th;
	char	   *source;
	SGGraph    *g;
	SGCheckpoint *base = NULL;
	SGCheckpoint *cp;
	SGState    *state;
	SGState    *next_state;
	pg_uuid_t	base_id;
	SGState    *state_with_pending;
	SGWrite		w;
	SGWrite    *writes;
	int		   *nodes;
	Jsonb	  **updates;
	int			nwrites = 0;
	int			i;
	SGJsonBuilder wb = {0};
	bool	   *changed;
	bool	   *changed_by_update;
	bool		new_kinds;
	int			node;
	pg_uuid_t  *result = palloc(sizeof(pg_uuid_t));

	sg_spi_connect();
	if (!PG_ARGISNULL(3))
		base_id = *PG_GETARG_UUID_P(3);
	source = lock_for_update_rows(thread_id, PG_ARGISNULL(3) ? NULL : &base_id);
	th = sg_thread_fetch(thread_id, true);
	if (th == NULL)
		sg_refuse_lg_thread(thread_id);
	if (!PG_ARGISNULL(3))
	{
		if (th == NULL || sg_checkpoint_fetch(thread_id, &base_id) == NULL)
		{
			/*
			 * A checkpoint of another thread: fork it into this one first.
			 * Its thread's row comes after this one's; a delete or prune
			 * of that thread that held the row (its lock let go) may have
			 * removed the checkpoint meanwhile.
			 */
			if (source == NULL || sg_thread_fetch(source, true) == NULL ||
				sg_checkpoint_fetch(source, &base_id) == NULL)
			{
				sg_refuse_lg_checkpoint(&base_id);
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("checkpoint %s does not exist", sg_uuid_to_cstring(&base_id))));
			}
			base_id = fork_into(source, &base_id, thread_id, th)->id;
			th = sg_thread_fetch_required(thread_id, true);
		}
	}
	else
	{
		if (th == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("thread \"%s\" does not exist", thread_id),
					 errhint("Pass the checkpoint_id of another thread to start this one from it.")));
		base_id = th->head;
	}

	g = sg_graph_get(th->graph);
	sg_graph_check_privileges(g);	/* the update goes through the reducers */
	state = sg_load_for_graph(g, th, &base_id, &base, &new_kinds);

	/*
	 * As LangGraph does, an update of the newest checkpoint first applies
	 * what its tasks that succeeded already wrote (pending writes of an
	 * interrupted or failed step): those tasks count as done (for the joins
	 * that wait for them; where else they lead is dropped with the step), the
	 * update follows them, and by default comes from them.
	 */
	writes = palloc0(sizeof(SGWrite) * (base->nnext + 1));
	nodes = palloc0(sizeof(int) * (base->nnext + 1));
	updates = palloc0(sizeof(Jsonb *) * (base->nnext + 1));
	if (PG_ARGISNULL(3))
		nwrites = pending_writes(g, base, writes, nodes, updates);
	if (as_node != NULL)
	{
		node = sg_graph_node_index(g, as_node);
		if (node < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("node \"%s\" does not exist in graph \"%s\"", as_node, g->name)));
	}
	else
		node = nwrites > 0 ? pending_writer(writes, nodes, nwrites) : last_writer(g, base);
	sg_check_update(g, "sg_update_state", values);
	sg_tasks_cancel_thread(th);	/* the thread leaves the step its workers were on */
	changed = palloc0(sizeof(bool) * (g->nchannels + 1));
	changed_by_update = palloc0(sizeof(bool) * (g->nchannels + 1));
	state_with_pending = nwrites > 0 ? sg_apply_writes(g, state, writes, nwrites, changed) : state;
	w.task = g->nodes[node].name;
	w.update = values;
	next_state = sg_apply_writes(g, state_with_pending, &w, 1, changed_by_update);
	for (i = 0; i < g->nchannels; i++)
		changed[i] |= changed_by_update[i];
	writes[nwrites] = w;
	nodes[nwrites] = node;
	updates[nwrites] = values;
	nwrites++;

	cp = palloc0(sizeof(SGCheckpoint));
	cp->thread_id = thread_id;
	sg_new_checkpoint_id(&cp->id, &base->id, &th->head);
	cp->has_parent = true;
	cp->parent_id = base->id;
	cp->step = sg_step_after(thread_id, base->step);
	cp->source = "update";
	sg_jb_begin_array(&wb);
	for (i = 0; i < nwrites; i++)
	{
		sg_jb_begin_array(&wb);
		sg_jb_string(&wb, writes[i].task);
		sg_jb_jsonb(&wb, writes[i].update);
		sg_jb_end_array(&wb);
	}
	sg_jb_end_array(&wb);
	cp->writes = sg_jb_finish(&wb);
	/* the update alone leads on, its routers seeing the finished tasks' writes */
	sg_route(g, state_with_pending, nwrites, nwrites - 1, nodes, updates, cp);
	next_state->barriers = cp->barriers;
	cp->created_at = GetCurrentTimestamp();
	sg_checkpoint_insert(g->cs, cp, next_state, changed);
	sg_thread_set(thread_id, &cp->id, cp->nnext > 0 ? "idle" : "done", new_kinds ? g->kinds : NULL);
	*result = cp->id;
	sg_spi_finish();
	return result;
}

/* sg_update_state(thread_id, values, as_node, checkpoint_id): a new checkpoint with values applied as if a node wrote them. */
Datum
sg_update_state(PG_FUNCTION_ARGS)
{
	char	   *thread_id = sg_arg_text(fcinfo, 0, "thread_id");
	Jsonb	   *values;
	char	   *as_node = PG_ARGISNULL(2) ? NULL : sg_arg_text(fcinfo, 2, "as_node");
	pg_uuid_t  *result;
	MemoryContext hold;

	sg_require_arg(fcinfo, 1, "values");
	values = PG_GETARG_JSONB_P(1);
	if (!sg_jsonb_is_object(values))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("values must be a JSON object of channel values, not a JSON %s",
						sg_jsonb_type_name(values))));

	sg_prevent_write("sg_update_state");
	sg_refuse_running_thread(thread_id, "sg_update_state");
	/* its reducers and routers run below (an error lets go too: session_threads.c) */
	hold = AllocSetContextCreate(CurrentMemoryContext, "stategraph update", ALLOCSET_SMALL_SIZES);
	sg_session_hold_thread(thread_id, true, false, hold);
	result = update_state(fcinfo, thread_id, values, as_node);
	MemoryContextDelete(hold);
	PG_RETURN_UUID_P(result);
}
