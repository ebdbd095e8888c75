/*-------------------------------------------------------------------------
 *
 * executor.c
 *		The super-step loop (LangGraph's Pregel loop): tasks, node calls,
 *		retries, routing, joins, interrupts and the recursion limit.
 *
 * A run starts from a checkpoint and its "next" tasks. Each step:
 *	 1. stop if the recursion limit is reached, or before a node listed in
 *		interrupt_before (not on the first step of a resumed run);
 *	 2. call every task's node on the same state, each in a subtransaction
 *		(a failing node's own writes are rolled back), with its retry policy;
 *	 3. if a node raised sg_interrupt() or failed (on_error 'return'), keep
 *		the writes of the tasks that succeeded as pending writes on the
 *		checkpoint and stop: a resume runs only the other tasks;
 *	 4. an external node's task is handed to tasks.c (queued for workers,
 *		or its completed update taken); while one is out, the step keeps
 *		its finished tasks' writes as pending writes, as in 3, and stops
 *		with the thread 'waiting'; continuing it later runs only the rest;
 *	 5. otherwise apply all updates in task order through the reducers,
 *		route (edges, joins, conditional edges, Send: route.c), store the
 *		new checkpoint, and stop after a node listed in interrupt_after.
 *
 * A caller that lost its thread during the step (its membership in the
 * thread's owner revoked, the thread given to another role, its role
 * renamed: 42501 "may no longer write", thread_ids.c) has no failure of
 * the graph to record: the thread is not its to write. Before a failure,
 * an interrupt or a wait is kept on the thread (check_thread_kept,
 * keep_pending), the thread is checked, and the call ends with that 42501
 * whatever on_error says, as the step's checkpoint does. With on_error 'return' the refusal
 * of the checkpoint was taken for a failure of the step: a WARNING, the
 * step's writes set pending where row-level security let them go nowhere,
 * and the call failed all the same at its end (save_thread; isolation
 * lost_write_on_error_return). The thread is checked, not the error: a
 * node's or router's own 42501 on a thread still the caller's is a
 * failure like any other, and any failure on a thread lost meanwhile
 * could not be recorded.
 *
 * Memory: the run has a context for its whole life; each step's state,
 * tasks and checkpoint live in one of two step contexts used in turn, so a
 * step frees what the step before it no longer needs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(sg_interrupt);

struct SGTask
{
	int			node;
	Jsonb	   *arg;			/* Send argument (the node's input); NULL: the state */
	char		id[37];
	bool		done;			/* update holds its writes */
	Jsonb	   *update;
	bool		interrupted;
	Jsonb	   *interrupts;		/* [{"value", "id", "node"}] */
	Jsonb	   *answered;		/* the interrupts its resume values answered last */
	Jsonb	   *resume;			/* array: values of its sg_interrupt() calls */
	Jsonb	   *error;			/* {"message", "sqlstate", ...} */
	bool		waiting;		/* an external task not complete yet */
};

struct SGRun
{
	MemoryContext cxt;
	MemoryContext step_cxt[2];
	int			cur;			/* step_cxt[cur] holds the current step */
	SGRunOptions opts;
	SGGraph    *g;
	FmgrInfo   *node_fn;		/* per-run copies of the nodes' FmgrInfo */
	bool		persist;
	bool		new_kinds;		/* the thread's channel kinds must be updated */
	SGCheckpoint *cp;			/* the checkpoint the next step runs from */
	SGState    *state;			/* its state */
	int			ntasks;
	SGTask	   *tasks;
	Jsonb	   *step_error;		/* error of the step as a whole (pending "__error__") */
	int			stop;			/* last step the recursion limit allows */
	bool		first_step;		/* the first step of a resumed run */
	bool		wrote;			/* a checkpoint was stored */
	bool		thread_exists;	/* the thread has its row in stategraph.threads */
	bool		pending_set;	/* pending writes were stored on the current checkpoint */
	uint64		hold;			/* its hold on the thread (session_threads.c) */
	bool		has_head;		/* head: the thread's newest checkpoint as the run last read or wrote it */
	pg_uuid_t	head;
	SGRunStatus status;
	Jsonb	   *error;			/* the __error__ payload */
};

/* The task whose node is running, for sg_interrupt(). */
typedef struct SGTaskContext
{
	SGRun	   *run;
	SGTask	   *task;
	int			calls;			/* sg_interrupt() calls so far */
	bool		interrupted;
	Jsonb	   *value;
	struct SGTaskContext *outer;
} SGTaskContext;

static SGTaskContext *current_task = NULL;

/* The cached reducers and routers being called now (sg_call_jsonb_outside_task), innermost first. */
typedef struct ActiveCall
{
	FmgrInfo   *flinfo;
	struct ActiveCall *outer;
} ActiveCall;

static ActiveCall *active_calls = NULL;

/*
 * Refuse to change a thread from inside one of its own nodes: the run's next
 * checkpoint would be written over the change (an update lost on a dead
 * branch, a deleted thread written again). what names the call.
 */
void
sg_refuse_running_thread(const char *thread_id, const char *what)
{
	if (!sg_thread_running_here(thread_id))
		return;
	if (!sg_session_holds_thread(thread_id, false))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s cannot change thread \"%s\" while this session is updating it", what, thread_id),
				 errdetail("A reducer or router called by sg_update_state cannot change the thread it updates.")));
	/*
	 * Outside any node the run holding the thread is an sg_stream left open
	 * in a cursor: telling the caller to return the change as a node's
	 * update would point it the wrong way.
	 */
	if (current_task == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s cannot change thread \"%s\" while this session is running it", what, thread_id),
				 errdetail("An sg_stream of the thread left open in this session (a cursor) holds it until it is closed."),
				 errhint("Close the cursor first.")));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s cannot change thread \"%s\" while this session is running it", what, thread_id),
			 errdetail("A node cannot change the thread it belongs to."),
			 errhint("Return the change as the node's update instead.")));
}

/*
 * Check, just before a call, that a node or router function still exists:
 * another session may have dropped it since the graph was loaded, and
 * calling a dropped function fails deep in fmgr with an internal error.
 */
void
sg_require_function(Oid fn, const char *what, const char *name, const char *graph)
{
	AcceptInvalidationMessages();
	if (!SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(fn)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function of %s \"%s\" in graph \"%s\" was dropped during the run", what, name, graph),
				 errhint("Create the function again and resume the thread.")));
}


/* ---------------------------------------------------------------------------
 * Tasks
 * ---------------------------------------------------------------------------
 */
static const char *
node_name(SGRun *run, int node)
{
	return run->g->nodes[node].name;
}

/* The tasks of checkpoint cp: its next nodes, the last ones from its Sends. */
static void
tasks_from_checkpoint(SGRun *run, SGCheckpoint *cp)
{
	int			nsends = sg_jsonb_array_length(cp->sends);
	int			npull = cp->nnext - nsends;
	int			i;

	run->ntasks = cp->nnext;
	run->tasks = palloc0(sizeof(SGTask) * (cp->nnext + 1));
	for (i = 0; i < cp->nnext; i++)
	{
		SGTask	   *t = &run->tasks[i];

		t->node = sg_graph_node_index(run->g, cp->next[i]);
		if (t->node < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("checkpoint %s of thread \"%s\" needs node \"%s\", which graph \"%s\" does not have",
							sg_uuid_to_cstring(&cp->id), cp->thread_id, cp->next[i], run->g->name)));
		if (i >= npull)
			t->arg = sg_jsonb_get(sg_jsonb_array_get(cp->sends, i - npull), "arg");
		sg_task_id(&cp->id, cp->next[i], i, t->id);
	}
}

/*
 * A run resumed at an input checkpoint (time travel, or a fork of one): its
 * __start__ task writes the input again, which the checkpoint's loop child
 * recorded as that task's write (for a fork, the forked checkpoint's child).
 */
static void
replay_input(SGRun *run, SGCheckpoint *cp)
{
	Jsonb	   *writes = NULL;
	int			i,
				n;

	for (i = 0; i < run->ntasks; i++)
	{
		if (run->tasks[i].node != SG_START || run->tasks[i].arg != NULL || run->tasks[i].done)
			continue;
		if (writes == NULL && (writes = sg_checkpoint_start_writes(cp)) == NULL)
			return;
		n = sg_jsonb_array_length(writes);
		run->tasks[i].arg = sg_jsonb_array_get(sg_jsonb_array_get(writes, n - 1), 1);
	}
}

/* Take what the checkpoint's pending writes say of its tasks. */
static bool
tasks_apply_pending(SGRun *run, Jsonb *pending)
{
	bool		any_interrupt = false;
	int			i;

	for (i = 0; i < run->ntasks; i++)
	{
		SGTask	   *t = &run->tasks[i];
		Jsonb	   *p = sg_jsonb_get(pending, t->id);

		if (p == NULL)
			continue;
		t->update = sg_jsonb_get(p, "writes");
		t->done = t->update != NULL;
		t->resume = sg_jsonb_get(p, "resume");
		t->interrupts = sg_jsonb_get(p, "interrupts");
		t->answered = sg_jsonb_get(p, "answered");
		if (!t->done && sg_jsonb_array_length(t->interrupts) > 0)
		{
			t->interrupted = true;
			any_interrupt = true;
		}
	}
	return any_interrupt;
}

/* Is key written as an interrupt id (a UUID: 8-4-4-4-12 hex digits)? */
static bool
is_interrupt_id(const char *key)
{
	int			i;

	if (strlen(key) != 36)
		return false;
	for (i = 0; i < 36; i++)
		if ((i == 8 || i == 13 || i == 18 || i == 23) ? key[i] != '-' : !isxdigit((unsigned char) key[i]))
			return false;
	return true;
}

/*
 * Is resume {"<interrupt id>": value, ...} (a non-empty object whose keys are
 * all interrupt ids), as LangGraph tells a map of answers from one value?
 */
static bool
resume_is_id_map(Jsonb *resume)
{
	JsonbIterator *it;
	JsonbValue	v;
	char	   *key;
	bool		any = false;

	if (!sg_jsonb_is_object(resume))
		return false;
	it = JsonbIteratorInit(&resume->root);
	while (sg_jsonb_next_pair(&it, &key, &v))
	{
		if (!is_interrupt_id(key))
			return false;
		any = true;
	}
	return any;
}

/*
 * Give each interrupted task the value its pending sg_interrupt() returns
 * (every task, after a static interrupt: the first sg_interrupt() it calls).
 * A map of interrupt ids answers only the interrupts it names: the other
 * tasks stay interrupted (they run again and ask again), and a map that
 * names none of the pending interrupts is refused.
 */
static void
tasks_resume(SGRun *run, Jsonb *resume, bool every_task)
{
	bool		by_id = !every_task && resume_is_id_map(resume);
	bool		answered = false;
	int			i,
				j;

	for (i = 0; i < run->ntasks; i++)
	{
		SGTask	   *t = &run->tasks[i];
		Jsonb	   *value = by_id ? NULL : resume;

		if (!t->interrupted && !(every_task && !t->done))
			continue;
		/* {"<interrupt id>": value, ...} resumes interrupts one by one */
		if (by_id)
			for (j = 0; j < sg_jsonb_array_length(t->interrupts); j++)
			{
				char	   *iid = sg_jsonb_get_cstring(sg_jsonb_array_get(t->interrupts, j), "id");
				Jsonb	   *v = iid ? sg_jsonb_get(resume, iid) : NULL;

				if (v != NULL)
					value = v;
			}
		if (value == NULL)
			continue;			/* not named by the map: asks again */
		answered = true;
		{
			SGJsonBuilder b = {0};

			sg_jb_begin_array(&b);
			sg_jb_jsonb(&b, value);
			sg_jb_end_array(&b);
			t->resume = sg_jsonb_concat_arrays(t->resume, sg_jb_finish(&b));
		}
		t->interrupted = false;
		/* answered, it stays part of the task's record (sg_task_list) */
		if (t->interrupts != NULL)
			t->answered = t->interrupts;
		t->interrupts = NULL;
	}
	if (by_id && !answered)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("resume names no pending interrupt of thread \"%s\"", run->opts.thread_id),
				 errdetail("Its keys are interrupt ids, and none is the id of an interrupt the thread waits on."),
				 errhint("The ids of the pending interrupts are in sg_get_state(thread_id).interrupts.")));
}

/* The pending writes of the current tasks, to store on their checkpoint. */
static Jsonb *
tasks_pending(SGRun *run)
{
	SGJsonBuilder b = {0};
	int			i;

	sg_jb_begin_object(&b);
	for (i = 0; i < run->ntasks; i++)
	{
		SGTask	   *t = &run->tasks[i];

		if (!t->done && !t->interrupted && t->error == NULL && t->resume == NULL)
			continue;
		sg_jb_key(&b, t->id);
		sg_jb_begin_object(&b);
		sg_jb_string_field(&b, "node", node_name(run, t->node));
		if (t->done)
			sg_jb_field(&b, "writes", t->update);
		if (t->interrupted)
			sg_jb_field(&b, "interrupts", t->interrupts);
		else if (t->answered)
			sg_jb_field(&b, "answered", t->answered);
		if (t->resume)
			sg_jb_field(&b, "resume", t->resume);
		if (t->error)
			sg_jb_field(&b, "error", t->error);
		sg_jb_end_object(&b);
	}
	if (run->step_error)
		sg_jb_field(&b, "__error__", run->step_error);
	sg_jb_end_object(&b);
	return sg_jb_finish(&b);
}

/* ---------------------------------------------------------------------------
 * Errors as data
 * ---------------------------------------------------------------------------
 */
static const struct
{
	const char *sqlstate;
	const char *name;
}			sqlstate_names[] =
{
#include "sqlstates.h"
	{"SG001", "unreachable_node"},
	{"SG002", "dead_end_node"},
	{"SG003", "invalid_update"},
	{"SG004", "graph_recursion_error"},
	{"SG005", "invalid_route"},
	{"SG006", "graph_interrupt"},
	{"SG010", "task_superseded"},
	{"SG011", "task_cancelled"},
	{"SG012", "task_finished"},
};

/* The condition name of a SQLSTATE, as PL/pgSQL's EXCEPTION WHEN knows it. */
static const char *
sqlstate_name(int sqlerrcode)
{
	const char *code = unpack_sql_state(sqlerrcode);
	int			i;

	for (i = 0; i < (int) lengthof(sqlstate_names); i++)
		if (strcmp(sqlstate_names[i].sqlstate, code) == 0)
			return sqlstate_names[i].name;
	return "sql_error";
}

/* ---------------------------------------------------------------------------
 * (errors, continued)
 * ---------------------------------------------------------------------------
 */
static Jsonb *
error_to_jsonb(SGRun *run, ErrorData *edata, const char *node)
{
	SGJsonBuilder b = {0};

	sg_jb_begin_object(&b);
	sg_jb_string_field(&b, "message", edata->message ? edata->message : "");
	sg_jb_string_field(&b, "sqlstate", unpack_sql_state(edata->sqlerrcode));
	sg_jb_string_field(&b, "name", sqlstate_name(edata->sqlerrcode));
	sg_jb_string_field(&b, "node", node);
	sg_jb_key(&b, "step");
	sg_jb_int(&b, run->cp->step + 1);
	if (edata->detail)
		sg_jb_string_field(&b, "detail", edata->detail);
	if (edata->hint)
		sg_jb_string_field(&b, "hint", edata->hint);
	if (run->persist)
	{
		sg_jb_string_field(&b, "thread_id", run->opts.thread_id);
		sg_jb_string_field(&b, "checkpoint_id", sg_uuid_to_cstring(&run->cp->id));
	}
	sg_jb_end_object(&b);
	return sg_jb_finish(&b);
}

/* ---------------------------------------------------------------------------
 * Calling nodes
 * ---------------------------------------------------------------------------
 */
static Jsonb *
node_config(SGRun *run, SGTask *task, int attempt)
{
	SGJsonBuilder b = {0};

	sg_jb_begin_object(&b);
	sg_jb_string_field(&b, "graph", run->g->name);
	sg_jb_string_field(&b, "thread_id", run->persist ? run->opts.thread_id : NULL);
	sg_jb_string_field(&b, "checkpoint_id", run->persist ? sg_uuid_to_cstring(&run->cp->id) : NULL);
	sg_jb_string_field(&b, "node", node_name(run, task->node));
	sg_jb_key(&b, "step");
	sg_jb_int(&b, run->cp->step + 1);
	sg_jb_string_field(&b, "task_id", task->id);
	sg_jb_key(&b, "attempt");
	sg_jb_int(&b, attempt);
	sg_jb_end_object(&b);
	return sg_jb_finish(&b);
}

/* Does a retry policy retry this SQLSTATE? */
static bool
retryable(SGRetry *r, int sqlerrcode)
{
	int			i;

	for (i = 0; i < r->nsqlstates; i++)
		if (r->sqlstates[i] == sqlerrcode)
			return true;
	return false;
}

/*
 * Wait ms milliseconds before a retry, waking for interrupts. The latch is
 * set for many reasons besides a cancel (a worker's wake at another
 * session's submit, a NOTIFY to a listening session, a signal such as
 * pg_log_backend_memory_contexts): one such wake ended the whole backoff,
 * and the node was tried again at once. So the wait goes on until ms have
 * passed, a cancel still stopping it; a wake it took is given back to the
 * latch for whoever waits next (a worker's loop, once the run is done).
 */
static void
backoff_sleep(int ms)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);
	bool		woken = false;

	for (;;)
	{
		long		left = (long) ((until - GetCurrentTimestamp()) / 1000);

		if (left <= 0)
			break;
		if (WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, left, PG_WAIT_EXTENSION) & WL_LATCH_SET)
			woken = true;
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	if (woken)
		SetLatch(MyLatch);
}

/*
 * The record of the index-th sg_interrupt() call of a task: [{"value", "id",
 * "node"}]; external tasks (tasks.c) record their interrupts the same way.
 */
Jsonb *
sg_interrupt_entry(const char *task_id, const char *node, int index, Jsonb *value)
{
	SGJsonBuilder b = {0};
	char		iid[37];
	pg_uuid_t	tid;

	memset(&tid, 0, sizeof(tid));
	memcpy(tid.data, task_id, Min(sizeof(tid.data), strlen(task_id)));
	sg_task_id(&tid, "interrupt", index, iid);
	sg_jb_begin_array(&b);
	sg_jb_begin_object(&b);
	sg_jb_field(&b, "value", value);
	sg_jb_string_field(&b, "id", iid);
	sg_jb_string_field(&b, "node", node);
	sg_jb_end_object(&b);
	sg_jb_end_array(&b);
	return sg_jb_finish(&b);
}

/*
 * Refuse (42501) to keep a failure, an interrupt or a wait on a thread the
 * caller may no longer write (see the header comment). Costs nothing
 * unless roles changed in the transaction (thread_ids.c).
 */
static void
check_thread_kept(SGRun *run)
{
	if (run->persist)
		sg_thread_check_still_writable(run->opts.thread_id);
}

/*
 * Keep the step's pending tasks on its checkpoint (a failed step, a wait),
 * once the thread is checked as still the caller's.
 */
static void
keep_pending(SGRun *run)
{
	check_thread_kept(run);
	sg_checkpoint_set_pending(run->opts.thread_id, &run->cp->id, tasks_pending(run));
	run->pending_set = true;
}

/* One call of a task's node, as sg_spi_subxact runs it. */
typedef struct NodeCall
{
	SGTaskContext *tc;
	Jsonb	   *state;			/* the state, when the task has no Send argument */
	int			attempt;
	Jsonb	   *result;
} NodeCall;

/*
 * Call a task's node and check its update; false (roll back) when the node
 * was interrupted, even if it caught the interrupt.
 */
static bool
call_node(void *arg)
{
	NodeCall   *call = (NodeCall *) arg;
	SGRun	   *run = call->tc->run;
	SGTask	   *task = call->tc->task;
	SGNode	   *node = &run->g->nodes[task->node];
	MemoryContext cxt = CurrentMemoryContext;
	bool		isnull;
	Datum		d;

	sg_require_function(node->fn, "node", node->name, run->g->name);
	sg_graph_check_fn_owner(run->g, node->fn, node->fn_owner, "node", node->name);
	d = sg_call_jsonb(&run->node_fn[task->node], node->nargs, task->arg ? task->arg : call->state,
					  node->nargs == 2 ? node_config(run, task, call->attempt) : NULL, &isnull);
	MemoryContextSwitchTo(cxt);
	call->result = isnull ? NULL : DatumGetJsonbPCopy(d);
	if (!call->tc->interrupted)
		sg_check_update(run->g, psprintf("node \"%s\"", node->name), call->result);
	return !call->tc->interrupted;
}

/*
 * Run one task's node in a subtransaction, retrying transient errors as its
 * retry policy says. Sets task->done, ->interrupted or ->error; with
 * on_error 'raise', a failure is re-thrown.
 */
static void
run_task(SGRun *run, SGTask *task, Jsonb *state_jsonb)
{
	SGNode	   *node = &run->g->nodes[task->node];
	int			attempt;

	if (task->node == SG_START)
	{
		task->update = task->arg;
		task->done = true;
		return;
	}

	for (attempt = 1;; attempt++)
	{
		SGTaskContext tc = {run, task, 0, false, NULL, current_task};
		NodeCall	call = {&tc, state_jsonb, attempt, NULL};
		ErrorData  *edata;
		Jsonb	   *result;

		current_task = &tc;
		edata = sg_spi_subxact(call_node, &call);
		current_task = tc.outer;
		result = call.result;

		if (tc.interrupted)
		{
			task->interrupted = true;
			task->interrupts = sg_interrupt_entry(task->id, node_name(run, task->node), tc.calls - 1, tc.value);
			return;
		}
		if (edata == NULL)
		{
			task->update = result;
			task->done = true;
			return;
		}
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);	/* a cancel or statement_timeout stops the call, as in PL/pgSQL */
		if (attempt < node->retry.max_attempts && retryable(&node->retry, edata->sqlerrcode))
		{
			int64		ms = (int64) node->retry.backoff_ms << Min(attempt - 1, 16);

			backoff_sleep((int) Min(ms, 60000));
			FreeErrorData(edata);
			continue;
		}
		if (run->opts.on_error == SG_ON_ERROR_RAISE)
		{
			if (edata->sqlerrcode != ERRCODE_SG_INVALID_UPDATE &&
				edata->sqlerrcode != ERRCODE_UNDEFINED_COLUMN)
				edata->context = psprintf("%s%sstategraph node \"%s\" of graph \"%s\", step %d",
										  edata->context ? edata->context : "",
										  edata->context ? "\n" : "",
										  node->name, run->g->name, run->cp->step + 1);
			ReThrowError(edata);
		}
		check_thread_kept(run);
		task->error = error_to_jsonb(run, edata, node->name);
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("node \"%s\" of graph \"%s\" failed: %s", node->name, run->g->name, edata->message),
				 run->persist ? errdetail("The failure is recorded on thread \"%s\"; resuming it runs the node again.",
										  run->opts.thread_id) : 0));
		return;
	}
}

/*
 * An external node's task: queue it for workers, or take the update a
 * worker completed it with (tasks.c). Sets task->done or task->waiting.
 */
static void
external_task(SGRun *run, SGTask *task, Jsonb *state_jsonb)
{
	SGExternalTask et;

	if (!run->persist)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("external node \"%s\" of graph \"%s\" needs a thread",
						node_name(run, task->node), run->g->name),
				 errhint("Run the graph with a thread_id: workers hand results back to a thread.")));
	if (task->interrupted)
		return;					/* paused by its worker, and not resumed */
	et.task_id = task->id;
	et.graph = run->g->name;
	et.graph_gen = run->g->gen;
	et.thread_id = run->opts.thread_id;
	et.checkpoint_id = run->cp->id;
	et.step = run->cp->step + 1;
	et.node = &run->g->nodes[task->node];
	et.input = task->arg ? task->arg : state_jsonb;
	et.config = node_config(run, task, 0);
	et.resume_values = task->resume;
	/* kept with the task: a step its completion continues counts the limit on (tasks.c) */
	et.recursion_limit = run->opts.recursion_limit;
	et.last_step = run->stop;
	task->done = sg_task_sync(&et, &task->update);
	task->waiting = !task->done;
}

/* sg_interrupt(value): pause the running node's thread, or return the value it is resumed with. */
Datum
sg_interrupt(PG_FUNCTION_ARGS)
{
	SGTaskContext *tc = current_task;
	Jsonb	   *value = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);

	if (tc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sg_interrupt() can only be called by a node of a running graph")));
	if (!tc->run->persist)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sg_interrupt() needs a thread to pause"),
				 errhint("Run the graph with a thread_id.")));
	if (tc->calls < sg_jsonb_array_length(tc->task->resume))
		PG_RETURN_JSONB_P(sg_jsonb_array_get(tc->task->resume, tc->calls++));
	tc->calls++;
	tc->interrupted = true;
	tc->value = value ? (Jsonb *) MemoryContextAllocZero(tc->run->cxt, VARSIZE(value)) : NULL;
	if (value)
		memcpy(tc->value, value, VARSIZE(value));
	ereport(ERROR,
			(errcode(ERRCODE_SG_INTERRUPT),
			 errmsg("node \"%s\" of graph \"%s\" was interrupted",
					tc->run->g->nodes[tc->task->node].name, tc->run->g->name),
			 errhint("A node must let this error pass; the thread resumes with sg_invoke(..., resume => value).")));
	PG_RETURN_NULL();
}

/*
 * flinfo, or, if it is being called already, a fresh copy of it in *copy.
 * A reducer or router is called through the graph's cached FmgrInfo; one
 * that runs its own graph is called again by that run, and fmgr_sql keeps
 * the running call's state in fn_extra: the inner call took the outer
 * one's query as its own, ran it to its end and freed it, and the outer
 * call went on in freed memory, crashing the backend (TAP 262).
 */
static FmgrInfo *
not_active(FmgrInfo *flinfo, FmgrInfo *copy)
{
	ActiveCall *a;

	for (a = active_calls; a != NULL; a = a->outer)
		if (a->flinfo == flinfo)
		{
			fmgr_info_copy(copy, flinfo, CurrentMemoryContext);
			return copy;
		}
	return flinfo;
}

/*
 * Call a router or a reducer (flinfo, as sg_call_jsonb) with no task
 * current: it is not a node, and sg_interrupt() inside it is refused as
 * outside any node. Without this, a run nested in another run's node (the
 * node's sg_invoke of another thread) called its routers and reducers with
 * the outer node's task current: a router's sg_interrupt() paused the
 * outer thread, and at its resume the inner router got the value meant
 * for the outer node.
 *
 * The router running (sg_routing_node) is put back too: a router or a
 * reducer that runs another graph (sg_invoke) left it naming a node of
 * that graph, whose router had failed or just run, and a failure of the
 * outer step was recorded on the outer thread as that node's (a name
 * from another graph's memory, which may be gone by then).
 */
Datum
sg_call_jsonb_outside_task(FmgrInfo *flinfo, int nargs, Jsonb *arg1, Jsonb *arg2, bool *isnull)
{
	SGTaskContext *save = current_task;
	const char *routing = sg_routing_node;
	volatile Datum d = (Datum) 0;
	FmgrInfo	copy;
	FmgrInfo   *const callee = not_active(flinfo, &copy);
	ActiveCall	call = {flinfo, active_calls};

	current_task = NULL;
	active_calls = &call;
	PG_TRY();
	{
		d = sg_call_jsonb(callee, nargs, arg1, arg2, isnull);
	}
	PG_FINALLY();
	{
		active_calls = call.outer;
		current_task = save;
		sg_routing_node = routing;
	}
	PG_END_TRY();
	return d;
}

/* ---------------------------------------------------------------------------
 * Steps
 * ---------------------------------------------------------------------------
 */

/* The tasks a waiting step waits for, as [{task_id, node, queue}] items of b. */
static void
waiting_list(SGRun *run, SGJsonBuilder *b)
{
	int			i;

	for (i = 0; i < run->ntasks; i++)
		if (run->tasks[i].waiting)
		{
			sg_jb_begin_object(b);
			sg_jb_key(b, "task_id");
			sg_jb_string(b, run->tasks[i].id);
			sg_jb_key(b, "node");
			sg_jb_string(b, node_name(run, run->tasks[i].node));
			sg_jb_key(b, "queue");
			sg_jb_string(b, run->g->nodes[run->tasks[i].node].queue);
			sg_jb_end_object(b);
		}
}

static Jsonb *interrupted_values(SGRun *run);

/*
 * Did a task of the step finish with a write (an update naming a channel)?
 * LangGraph's stream ends an interrupted step with one last values event
 * only then.
 */
static bool
any_done_update(SGRun *run)
{
	int			i;

	for (i = 0; i < run->ntasks; i++)
		if (run->tasks[i].done && run->tasks[i].update != NULL && JB_ROOT_COUNT(run->tasks[i].update) > 0)
			return true;
	return false;
}

static void
emit(SGRun *run, int step, const char *node, Jsonb *payload)
{
	if (run->opts.emit)
		run->opts.emit(run->opts.emit_arg, step, node, payload);
}

/* The static interrupt a new checkpoint stops at, for its meta, or NULL. */
static Jsonb *
static_interrupt(SGRun *run, SGTask *ran, int nran, SGTask *next, int nnext)
{
	SGJsonBuilder b = {0};
	int			i;
	bool		after = false,
				before = false;

	if (nnext == 0)
		return NULL;			/* the run ends here anyway */
	for (i = 0; i < nran; i++)
		after = after || run->g->nodes[ran[i].node].interrupt_after;
	for (i = 0; i < nnext; i++)
		before = before || run->g->nodes[next[i].node].interrupt_before;
	if (!after && !before)
		return NULL;
	sg_jb_begin_object(&b);
	sg_jb_key(&b, "interrupt");
	sg_jb_begin_object(&b);
	sg_jb_string_field(&b, "when", after ? "after" : "before");
	sg_jb_key(&b, "nodes");
	sg_jb_begin_array(&b);
	/* each node once, though Send may give it several tasks */
	for (i = 0; i < (after ? nran : nnext); i++)
	{
		int			node = after ? ran[i].node : next[i].node;
		int			j;

		if (!(after ? run->g->nodes[node].interrupt_after : run->g->nodes[node].interrupt_before))
			continue;
		for (j = 0; j < i; j++)
			if ((after ? ran[j].node : next[j].node) == node)
				break;
		if (j == i)
			sg_jb_string(&b, node_name(run, node));
	}
	sg_jb_end_array(&b);
	sg_jb_end_object(&b);
	sg_jb_end_object(&b);
	return sg_jb_finish(&b);
}

/* Store a new checkpoint (when the run persists) and make it current. */
static void
put_checkpoint(SGRun *run, SGCheckpoint *cp, SGState *state, bool *changed)
{
	if (run->persist)
	{
		/*
		 * The thread row comes first: row-level security lets a role write
		 * checkpoints only into a thread it owns.
		 */
		if (!run->thread_exists)
		{
			sg_thread_create(run->opts.thread_id, run->g->name, run->g->kinds, &cp->id, "running");
			run->thread_exists = true;
			run->has_head = true;
			run->head = cp->id;
		}
		sg_checkpoint_insert(run->g->cs, cp, state, changed);
		run->wrote = true;
	}
	run->cp = cp;
	run->state = state;
}

/* A new checkpoint after the current one (not stored yet). */
static SGCheckpoint *
new_checkpoint(SGRun *run, const char *source, int step)
{
	SGCheckpoint *cp = palloc0(sizeof(SGCheckpoint));

	cp->thread_id = (char *) run->opts.thread_id;
	sg_new_checkpoint_id(&cp->id, run->cp ? &run->cp->id : NULL, run->has_head ? &run->head : NULL);
	if (run->cp)
	{
		cp->has_parent = true;
		cp->parent_id = run->cp->id;
	}
	cp->step = step;
	cp->source = (char *) source;
	cp->created_at = GetCurrentTimestamp();
	return cp;
}

/* Record the failure of a step as a whole (on_error 'return'). */
static void
fail_step(SGRun *run, ErrorData *edata, const char *node)
{
	run->step_error = error_to_jsonb(run, edata, node);
	run->error = run->step_error;
	run->status = SG_RUN_ERROR;
	if (run->persist)
		keep_pending(run);
	ereport(WARNING,
			(errcode(edata->sqlerrcode),
			 errmsg("graph \"%s\" failed at step %d: %s", run->g->name, run->cp->step + 1, edata->message)));
}

/*
 * Finish a step whose tasks all succeeded: apply, route, store. Runs in the
 * next step's memory context.
 */
static void
finish_step(SGRun *run)
{
	SGGraph    *g = run->g;
	SGWrite    *writes = palloc0(sizeof(SGWrite) * (run->ntasks + 1));
	int		   *nodes = palloc0(sizeof(int) * (run->ntasks + 1));
	Jsonb	  **updates = palloc0(sizeof(Jsonb *) * (run->ntasks + 1));
	bool	   *changed = palloc0(sizeof(bool) * (g->nchannels + 1));
	SGTask	   *ran = run->tasks;
	int			nran = run->ntasks;
	SGState    *next_state;
	SGCheckpoint *cp;
	SGJsonBuilder wb = {0};
	int			i;

	sg_jb_begin_array(&wb);
	for (i = 0; i < nran; i++)
	{
		writes[i].task = node_name(run, ran[i].node);
		writes[i].update = ran[i].update;
		nodes[i] = ran[i].node;
		updates[i] = ran[i].update;
		sg_jb_begin_array(&wb);
		sg_jb_string(&wb, writes[i].task);
		sg_jb_jsonb(&wb, writes[i].update);
		sg_jb_end_array(&wb);
	}
	sg_jb_end_array(&wb);

	next_state = sg_apply_writes(g, run->state, writes, nran, changed);
	cp = new_checkpoint(run, "loop", run->cp->step + 1);
	cp->writes = sg_jb_finish(&wb);
	sg_route(g, run->state, nran, 0, nodes, updates, cp);
	next_state->barriers = cp->barriers;
	tasks_from_checkpoint(run, cp);
	cp->meta = static_interrupt(run, ran, nran, run->tasks, run->ntasks);

	/* stream what happened before the new checkpoint becomes current */
	if (run->opts.emit && !run->opts.emit_values)
		for (i = 0; i < nran; i++)
			if (ran[i].node != SG_START)
				emit(run, cp->step, writes[i].task, writes[i].update);

	put_checkpoint(run, cp, next_state, changed);
	if (run->opts.emit && run->opts.emit_values)
		emit(run, cp->step, NULL, sg_state_to_jsonb(g->cs, next_state));

	if (cp->meta != NULL &&
		strcmp(sg_jsonb_get_cstring(sg_jsonb_get(cp->meta, "interrupt"), "when"), "after") == 0)
	{
		run->status = SG_RUN_INTERRUPTED;
		emit(run, cp->step, "__interrupt__", sg_static_interrupts(cp->meta));
	}
	run->step_error = NULL;
}

/* finish_step as sg_spi_subxact calls it (on_error 'return'). */
static bool
finish_step_subxact(void *arg)
{
	finish_step((SGRun *) arg);
	return true;
}

/*
 * The new state shares unchanged values with the old one; copy those that
 * live in the step context about to be reused.
 */
static void
adopt_state(SGRun *run, MemoryContext from)
{
	SGState    *s = run->state;
	int			i;

	for (i = 0; i < s->n; i++)
	{
		ListCell   *lc;

		if (s->values[i] != NULL && GetMemoryChunkContext(s->values[i]) == from)
			s->values[i] = sg_jsonb_copy(s->values[i]);
		foreach(lc, s->parts[i])
			if (GetMemoryChunkContext(lfirst(lc)) == from)
				lfirst(lc) = sg_jsonb_copy((Jsonb *) lfirst(lc));
	}
	if (s->barriers != NULL && GetMemoryChunkContext(s->barriers) == from)
		s->barriers = sg_jsonb_copy(s->barriers);
}

/* Switch to the other step context, emptied, and return the one in use. */
static MemoryContext
next_step_context(SGRun *run)
{
	int			next = 1 - run->cur;

	MemoryContextReset(run->step_cxt[next]);
	return MemoryContextSwitchTo(run->step_cxt[next]);
}

/*
 * Stop a step whose external tasks are out: keep the finished tasks' writes
 * as pending writes, and say which tasks it waits for.
 */
static void
stop_waiting(SGRun *run)
{
	SGJsonBuilder b = {0};
	int			i;

	keep_pending(run);
	run->status = SG_RUN_WAITING;
	if (run->opts.emit && !run->opts.emit_values)
		for (i = 0; i < run->ntasks; i++)
			if (run->tasks[i].done)
				emit(run, run->cp->step + 1, node_name(run, run->tasks[i].node), run->tasks[i].update);
	sg_jb_begin_array(&b);
	waiting_list(run, &b);
	sg_jb_end_array(&b);
	emit(run, run->cp->step + 1, "__waiting__", sg_jb_finish(&b));
}

/*
 * Run one super-step. Returns false when the run has stopped (done,
 * interrupted or failed): see run->status.
 */
bool
sg_run_step(SGRun *run)
{
	MemoryContext old;
	Jsonb	   *state_jsonb;
	bool		failed = false;
	bool		waiting = false;
	int			i;

	if (run->status != SG_RUN_RUNNING)
		return false;
	if (run->ntasks == 0)
	{
		run->status = SG_RUN_DONE;
		return false;
	}

	old = MemoryContextSwitchTo(run->step_cxt[run->cur]);
	if (run->cp->step == PG_INT32_MAX)	/* an imported thread's: no step after it (54000) */
		(void) sg_step_after(run->opts.thread_id, run->cp->step);
	if ((int64) run->cp->step + 1 > run->stop)	/* (stop is at most INT_MAX: no step wraps) */
	{
		MemoryContextSwitchTo(old);
		if (run->opts.on_error == SG_ON_ERROR_RETURN)
		{
			ErrorData	edata = {0};

			edata.sqlerrcode = ERRCODE_SG_RECURSION_LIMIT;
			edata.message = psprintf("Recursion limit of %d reached without hitting a stop condition",
									 run->opts.recursion_limit);
			edata.hint = "Pass a larger recursion_limit to sg_invoke.";
			fail_step(run, &edata, NULL);
			return false;
		}
		ereport(ERROR,
				(errcode(ERRCODE_SG_RECURSION_LIMIT),
				 errmsg("Recursion limit of %d reached without hitting a stop condition",
						run->opts.recursion_limit),
				 errhint("Pass a larger recursion_limit to sg_invoke.")));
	}
	if (!run->first_step)
	{
		for (i = 0; i < run->ntasks; i++)
			if (run->g->nodes[run->tasks[i].node].interrupt_before)
			{
				run->status = SG_RUN_INTERRUPTED;
				emit(run, run->cp->step + 1, "__interrupt__", sg_static_interrupts(run->cp->meta));
				MemoryContextSwitchTo(old);
				return false;
			}
	}
	run->first_step = false;

	/* every task of the step sees the same state (built once, if a node needs it) */
	state_jsonb = NULL;
	for (i = 0; i < run->ntasks; i++)
	{
		SGTask	   *t = &run->tasks[i];

		if (t->done)
			continue;
		t->error = NULL;
		if (state_jsonb == NULL && t->node != SG_START && t->arg == NULL)
			state_jsonb = sg_state_to_jsonb(run->g->cs, run->state);
		if (run->g->nodes[t->node].queue != NULL)
			external_task(run, t, state_jsonb);
		else
			run_task(run, t, state_jsonb);
		if (t->interrupted || t->error)
			failed = true;
		waiting = waiting || t->waiting;
	}
	if (waiting && !failed)
	{
		stop_waiting(run);
		MemoryContextSwitchTo(old);
		return false;
	}

	if (failed)
	{
		Jsonb	   *first_error = NULL;

		for (i = 0; i < run->ntasks; i++)
			if (run->tasks[i].error && first_error == NULL)
				first_error = run->tasks[i].error;
		if (run->persist)
			keep_pending(run);
		if (first_error)
		{
			run->status = SG_RUN_ERROR;
			run->error = first_error;
		}
		else
			run->status = SG_RUN_INTERRUPTED;
		if (run->opts.emit && !run->opts.emit_values)
			for (i = 0; i < run->ntasks; i++)
				if (run->tasks[i].done)
					emit(run, run->cp->step + 1, node_name(run, run->tasks[i].node), run->tasks[i].update);
		for (i = 0; i < run->ntasks; i++)
			if (run->tasks[i].interrupted)
				emit(run, run->cp->step + 1, "__interrupt__", run->tasks[i].interrupts);
		if (first_error)
			emit(run, run->cp->step + 1, "__error__", first_error);
		else if (run->opts.emit && run->opts.emit_values && any_done_update(run))
			emit(run, run->cp->step + 1, NULL, interrupted_values(run));	/* as sg_invoke returns them */
		MemoryContextSwitchTo(old);
		return false;
	}

	/* apply, route and store, in the next step's context */
	next_step_context(run);
	if (run->opts.on_error == SG_ON_ERROR_RAISE)
		finish_step(run);
	else
	{
		ErrorData  *edata;

		sg_routing_node = NULL;
		edata = sg_spi_subxact(finish_step_subxact, run);
		if (edata && edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
		if (edata)
		{
			/* the step stays where it was: its tasks' writes become pending */
			MemoryContextSwitchTo(run->step_cxt[run->cur]);
			fail_step(run, edata, sg_routing_node);
			sg_routing_node = NULL;
			MemoryContextSwitchTo(old);
			return false;
		}
	}
	adopt_state(run, run->step_cxt[run->cur]);
	run->cur = 1 - run->cur;
	MemoryContextSwitchTo(old);
	return run->status == SG_RUN_RUNNING;
}

/* ---------------------------------------------------------------------------
 * Beginning and ending runs
 * ---------------------------------------------------------------------------
 */

/* Check the options of a run that do not depend on its graph or thread. */
static void
check_run_options(SGRunOptions *opts)
{
	if (opts->recursion_limit <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recursion_limit must be positive, not %d", opts->recursion_limit)));
	if (opts->input != NULL && !sg_jsonb_is_object(opts->input))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("input must be a JSON object of channel values, not a JSON %s",
						sg_jsonb_type_name(opts->input)),
				 errhint("Pass NULL to resume a thread.")));
	if (opts->input != NULL && opts->resume != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("input and resume cannot both be given"),
				 errhint("Resume a paused thread with input NULL.")));
	if (opts->thread_id == NULL && (opts->input == NULL || opts->has_checkpoint_id || opts->resume != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s needs a thread_id",
						opts->input == NULL ? "a run without input" :
						opts->has_checkpoint_id ? "checkpoint_id" : "resume"),
				 errhint("Only a thread has checkpoints to resume from.")));
}

/* A new run of opts in its own memory context (under parent), with its graph pinned and checked. */
static SGRun *
run_create(SGRunOptions *opts, MemoryContext parent)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "stategraph run", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	SGRun	   *run = palloc0(sizeof(SGRun));
	int			i;

	run->cxt = cxt;
	run->opts = *opts;
	run->opts.graph = pstrdup(opts->graph);
	if (opts->thread_id)
		run->opts.thread_id = pstrdup(opts->thread_id);
	run->opts.input = sg_jsonb_copy(opts->input);
	run->opts.resume = sg_jsonb_copy(opts->resume);
	run->step_cxt[0] = AllocSetContextCreate(cxt, "stategraph step", ALLOCSET_DEFAULT_SIZES);
	run->step_cxt[1] = AllocSetContextCreate(cxt, "stategraph step", ALLOCSET_DEFAULT_SIZES);
	run->persist = opts->thread_id != NULL;
	run->status = SG_RUN_RUNNING;

	check_run_options(opts);

	/* a background run takes only the graph it was submitted for (runs.c) */
	/* (pinned in cxt, the current context: the run keeps it) */
	run->g = opts->has_graph_gen ? sg_graph_get_gen(opts->graph, opts->graph_gen) : sg_graph_get(opts->graph);
	sg_graph_check_privileges(run->g);
	if (opts->input != NULL)
		sg_check_update(run->g, "input", opts->input);
	run->node_fn = palloc0(sizeof(FmgrInfo) * run->g->nnodes);
	for (i = 1; i < run->g->nnodes; i++)
		if (run->g->nodes[i].queue == NULL)
			fmgr_info_copy(&run->node_fn[i], &run->g->nodes[i].flinfo, cxt);
	MemoryContextSwitchTo(old);
	return run;
}

/*
 * Take the thread of a persistent run: refuse one this backend is running
 * already, take its lock (for the session, if durable) and its row.
 * Returns the row, or NULL for a new thread.
 */
static SGThread *
run_lock_thread(SGRun *run)
{
	const char *thread_id = run->opts.thread_id;
	SGThread   *th;

	if (sg_session_holds_thread(thread_id, true))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("thread \"%s\" is being updated in this session", thread_id),
				 errdetail("A reducer or router called by sg_update_state cannot run the thread it updates.")));
	if (sg_session_holds_thread(thread_id, false))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("thread \"%s\" is already running in this session", thread_id),
				 errdetail("A node cannot run the thread it belongs to, and an sg_stream of the thread left open in this session (a cursor) holds it until it is closed.")));
	sg_lock_thread(thread_id, run->opts.durable);
	run->hold = sg_session_hold_thread(thread_id, false, run->opts.durable, run->cxt);

	th = sg_thread_fetch(thread_id, true);
	if (th != NULL && strcmp(th->graph, run->opts.graph) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("thread \"%s\" belongs to graph \"%s\", not \"%s\"",
						thread_id, th->graph, run->opts.graph)));
	if (th == NULL && (run->opts.input == NULL || run->opts.has_checkpoint_id))
	{
		sg_refuse_lg_thread(thread_id);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("thread \"%s\" does not exist", thread_id),
				 run->opts.has_checkpoint_id ? errhint(SG_HINT_CHECKPOINT_OF_NO_THREAD) : errhint("Start it with an input.")));
	}
	return th;
}

/*
 * Lock and load the thread of a persistent run: *start and *state become
 * the checkpoint it starts from and its state (NULL for a new thread).
 * Runs in the first step's context.
 */
static SGThread *
run_load_thread(SGRun *run, SGCheckpoint **start, SGState **state)
{
	SGThread   *th = run_lock_thread(run);

	if (th != NULL)
	{
		/* the starting state lives as long as the run, so no step copies it */
		MemoryContextSwitchTo(run->cxt);
		*state = sg_load_for_graph(run->g, th, run->opts.has_checkpoint_id ? &run->opts.checkpoint_id : &th->head,
								   start, &run->new_kinds);
		MemoryContextSwitchTo(run->step_cxt[0]);
	}
	run->thread_exists = th != NULL;	/* else its row is written with its first checkpoint */
	/* a new input or time travel leaves the step that waits for workers */
	if (th != NULL && (run->opts.input != NULL ||
					   (run->opts.has_checkpoint_id &&
						!(th->has_head && memcmp(&th->head, &run->opts.checkpoint_id, sizeof(pg_uuid_t)) == 0))))
		sg_tasks_cancel_thread(th);
	if (th != NULL && th->has_head)
	{
		run->has_head = true;
		run->head = th->head;
	}
	return th;
}

/*
 * The last step a run from step `from` may take: from + limit + extra,
 * capped at INT_MAX (a recursion_limit near INT_MAX would overflow to a
 * negative step and stop the run before its first step).
 */
static int
last_step(int from, int limit, int extra)
{
	return (int) Min((int64) from + limit + extra, (int64) PG_INT32_MAX);
}

/*
 * Begin a run with an input: an input checkpoint (after start, if the
 * thread has one) whose one task, __start__, writes the input.
 */
static void
run_begin_input(SGRun *run, SGCheckpoint *start, SGState *state)
{
	SGCheckpoint *cp;

	run->cp = start;
	if (state == NULL)
		state = sg_state_initial(run->g);
	state->barriers = NULL;
	cp = new_checkpoint(run, "input", start ? sg_step_after(run->opts.thread_id, start->step) : -1);
	cp->image_complete = (start == NULL);
	cp->nnext = 1;
	cp->next = palloc(sizeof(char *));
	cp->next[0] = SG_START_NAME;
	put_checkpoint(run, cp, state, NULL);
	run->ntasks = 1;
	run->tasks = palloc0(sizeof(SGTask));
	run->tasks[0].node = SG_START;
	run->tasks[0].arg = run->opts.input;
	sg_task_id(&cp->id, SG_START_NAME, 0, run->tasks[0].id);
	run->stop = last_step(start ? start->step : -2, run->opts.recursion_limit, 2);
}

/*
 * Does checkpoint cp of thread th take a resume value? A static interrupt
 * (interrupt_before / _after) with nodes to run next does; at the thread's
 * head (at_head), one of its tasks paused by sg_interrupt() (an interrupt
 * in its pending writes, and no writes) does; and, as LangGraph keeps a
 * resume for the next interrupt() call, a task still to run (after
 * sg_update_state, a failure, or at a checkpoint travelled back to, whose
 * copy starts without pending writes) does, unless the thread waits for its
 * external tasks (their workers answer, not a resume). A finished thread
 * has nothing to answer.
 */
bool
sg_resumable(SGCheckpoint *cp, bool at_head, SGThread *th)
{
	bool		to_run = !at_head;	/* (Send tasks are in next too) */
	bool		waiting = strcmp(th->status, "waiting") == 0;
	int			i;

	if (sg_jsonb_get(cp->meta, "interrupt") != NULL && cp->nnext > 0)
		return true;
	for (i = 0; i < cp->nnext && at_head; i++)
	{
		char		id[37];
		Jsonb	   *p;

		sg_task_id(&cp->id, cp->next[i], i, id);
		p = sg_jsonb_get(cp->pending, id);
		if (p == NULL || sg_jsonb_get(p, "writes") == NULL)
			to_run = true;
		if (p != NULL && sg_jsonb_get(p, "writes") == NULL &&
			sg_jsonb_array_length(sg_jsonb_get(p, "interrupts")) > 0)
			return true;
	}
	/* (time travel cancels the head's external tasks: only the head waits for them) */
	return cp->nnext > 0 && to_run && (!at_head || !waiting);
}

/*
 * Refuse a resume value at checkpoint cp of thread th (55000) unless cp
 * takes one (sg_resumable). sg_invoke asks it as the run starts, sg_submit
 * before a run is queued (detail says so).
 */
void
sg_check_resumable(SGCheckpoint *cp, bool at_head, SGThread *th, const char *detail)
{
	if (sg_resumable(cp, at_head, th))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("thread \"%s\" has no pending interrupt to resume", th->thread_id),
			 detail ? errdetail_internal("%s", detail) : 0,
			 errhint("Pass resume only to a thread with a node left to run that is not waiting for its external tasks.")));
}

/*
 * Begin a run without input: resume thread th at checkpoint start (its
 * newest, or an older one to travel back in time to), with the pending
 * writes and interrupts of its tasks, and the resume value if given.
 */
static void
run_begin_resume(SGRun *run, SGThread *th, SGCheckpoint *start, SGState *state)
{
	SGRunOptions *opts = &run->opts;
	bool		interrupted;
	bool		at_head = !opts->has_checkpoint_id ||
		(th->has_head && memcmp(&th->head, &start->id, sizeof(pg_uuid_t)) == 0);

	run->cp = start;
	run->state = state;
	run->stop = last_step(start->step, opts->recursion_limit, 1);
	run->first_step = true;
	if (!at_head)
	{
		/*
		 * time travel: continue from a copy of the old checkpoint, numbered
		 * one step after it as LangGraph numbers it (a replay from step 1
		 * stores 2/fork, then 3/loop, ...)
		 */
		SGCheckpoint *cp = new_checkpoint(run, "fork", sg_step_after(run->opts.thread_id, start->step));

		cp->nnext = start->nnext;
		cp->next = start->next;
		cp->sends = start->sends;
		cp->barriers = start->barriers;
		/* an input checkpoint's copy keeps its input: pruned, the original is gone */
		cp->meta = sg_fork_start_input(start);
		put_checkpoint(run, cp, state, NULL);
		tasks_from_checkpoint(run, cp);
		run->stop = last_step(cp->step, opts->recursion_limit, 1);
		interrupted = false;
	}
	else
	{
		tasks_from_checkpoint(run, start);
		interrupted = tasks_apply_pending(run, start->pending);
	}
	replay_input(run, run->cp);
	if (opts->resume != NULL)
	{
		/* tasks paused by sg_interrupt get it; else (see sg_check_resumable) every task to run */
		sg_check_resumable(start, at_head, th, NULL);
		tasks_resume(run, opts->resume, !interrupted);
	}
	/*
	 * as LangGraph's stream of a resume starts with the values it resumes
	 * from, even when nothing is left to run (a finished thread, or a
	 * checkpoint travelled back to that ran last)
	 */
	if (opts->emit && opts->emit_values)
		emit(run, run->cp->step, NULL, sg_state_to_jsonb(run->g->cs, run->state));
}

/*
 * Begin a run of a graph (sg_invoke, sg_stream, sg_run): check its
 * options; for a thread, lock it and load the checkpoint it starts from;
 * then store the input checkpoint of a new run, or take the tasks (and
 * pending writes, interrupts and resume value) of a resumed one. The run
 * lives in a memory context of its own under parent (sg_run_free).
 */
SGRun *
sg_run_begin(SGRunOptions *opts, MemoryContext parent)
{
	SGRun	   *run = run_create(opts, parent);
	MemoryContext old = MemoryContextSwitchTo(run->step_cxt[0]);
	SGThread   *th = NULL;
	SGCheckpoint *start = NULL;
	SGState    *state = NULL;

	if (run->persist)
		th = run_load_thread(run, &start, &state);
	if (opts->input != NULL)
		run_begin_input(run, start, state);
	else
		run_begin_resume(run, th, start, state);
	/* a background run going on (after its external tasks, a recovery): the limit counts from its start */
	if (opts->has_last_step && opts->last_step < run->stop)
		run->stop = opts->last_step;
	MemoryContextSwitchTo(old);
	return run;
}

/* The state of an interrupted step with its finished tasks' writes applied */
typedef struct DoneWrites
{
	SGRun	   *run;
	SGState    *state;
} DoneWrites;

static bool
apply_done_writes(void *arg)
{
	DoneWrites *dw = (DoneWrites *) arg;
	SGRun	   *run = dw->run;
	SGWrite    *writes = palloc0(sizeof(SGWrite) * (run->ntasks + 1));
	bool	   *changed = palloc0(sizeof(bool) * (run->g->nchannels + 1));
	int			n = 0;
	int			i;

	for (i = 0; i < run->ntasks; i++)
		if (run->tasks[i].done)
		{
			writes[n].task = node_name(run, run->tasks[i].node);
			writes[n++].update = run->tasks[i].update;
		}
	dw->state = sg_apply_writes(run->g, run->state, writes, n, changed);
	return true;
}

/*
 * The values an interrupted run returns: as LangGraph's invoke, those of its
 * checkpoint with the writes of the step's tasks that finished applied (they
 * stay pending writes on the thread). Writes that cannot be applied together
 * (two values for a replace channel, a reducer's error) are an error of the
 * step when it is resumed: until then the checkpoint's values are returned.
 */
static Jsonb *
interrupted_values(SGRun *run)
{
	DoneWrites	dw = {run, NULL};
	ErrorData  *edata;
	int			i;

	for (i = 0; i < run->ntasks; i++)
		if (run->tasks[i].done)
			break;
	if (i == run->ntasks)
		return sg_state_to_jsonb(run->g->cs, run->state);
	edata = sg_spi_subxact(apply_done_writes, &dw);
	if (edata == NULL)
		return sg_state_to_jsonb(run->g->cs, dw.state);
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		ReThrowError(edata);
	FreeErrorData(edata);
	return sg_state_to_jsonb(run->g->cs, run->state);
}

/* What sg_invoke returns: the values, with __interrupt__ or __error__ as LangGraph does. */
Jsonb *
sg_run_result(SGRun *run)
{
	Jsonb	   *values;
	SGJsonBuilder b = {0};
	int			i;
	bool		any = false;

	if (run->status == SG_RUN_ERROR)
	{
		sg_jb_begin_object(&b);
		sg_jb_field(&b, "__error__", run->error);
		sg_jb_end_object(&b);
		return sg_jb_finish(&b);
	}
	if (run->status == SG_RUN_WAITING)
	{
		values = sg_state_to_jsonb(run->g->cs, run->state);
		sg_jb_begin_array(&b);
		waiting_list(run, &b);
		sg_jb_end_array(&b);
		return sg_jsonb_set_key(values, "__waiting__", sg_jb_finish(&b));
	}
	if (run->status != SG_RUN_INTERRUPTED)
		return sg_state_to_jsonb(run->g->cs, run->state);
	values = interrupted_values(run);
	sg_jb_begin_array(&b);
	for (i = 0; i < run->ntasks; i++)
		if (run->tasks[i].interrupted)
		{
			int			j;

			for (j = 0; j < sg_jsonb_array_length(run->tasks[i].interrupts); j++)
			{
				Jsonb	   *it = sg_jsonb_array_get(run->tasks[i].interrupts, j);
				SGJsonBuilder o = {0};

				sg_jb_begin_object(&o);
				sg_jb_key(&o, "value");
				sg_jb_jsonb(&o, sg_jsonb_get(it, "value"));
				sg_jb_key(&o, "id");
				sg_jb_jsonb(&o, sg_jsonb_get(it, "id"));
				sg_jb_end_object(&o);
				sg_jb_jsonb(&b, sg_jb_finish(&o));
				any = true;
			}
		}
	sg_jb_end_array(&b);
	return any ? sg_jsonb_set_key(values, "__interrupt__", sg_jb_finish(&b)) : values;
}

/* The status of a thread after a run that stopped so. */
static const char *
status_name(SGRunStatus status)
{
	switch (status)
	{
		case SG_RUN_DONE:
			return "done";
		case SG_RUN_INTERRUPTED:
			return "interrupted";
		case SG_RUN_ERROR:
			return "error";
		case SG_RUN_WAITING:
			return "waiting";
		case SG_RUN_RUNNING:
			break;
	}
	return "idle";
}

/*
 * Record where the thread stands: its newest checkpoint and status; and
 * remember its state for the next run (not with pending writes, which only
 * storage has).
 */
static void
save_thread(SGRun *run)
{
	/* between steps (sg_run, sg_stream) a run with nothing left to do is done */
	const char *status = status_name(run->status == SG_RUN_RUNNING && run->ntasks == 0 ?
									 SG_RUN_DONE : run->status);

	SGAdvance	advance = SG_ADVANCED;

	if (run->opts.durable)
		sg_keep_thread_lock(run->opts.thread_id);	/* a node may have let it go */
	if (!run->thread_exists)
	{
		sg_thread_create(run->opts.thread_id, run->g->name, run->g->kinds, &run->cp->id, status);
		run->thread_exists = true;
	}
	else
		advance = sg_thread_advance(run->opts.thread_id, run->has_head ? &run->head : NULL,
									&run->cp->id, status, run->new_kinds ? run->g->kinds : NULL);
	if (advance == SG_ADVANCE_MOVED)
		sg_refuse_thread_taken(run->opts.thread_id);
	if (advance == SG_ADVANCE_HIDDEN)
	{
		/*
		 * Row-level security hides the row now: sg_reassign_owned gave the
		 * thread to a role this one does not act as after the step's
		 * checkpoint was written, or this role's membership in the
		 * thread's owner was revoked meanwhile (a member's run on its
		 * owner's thread; TAP 204: the message said the thread was given
		 * away, which it was not). Committed, the step would leave the head
		 * behind it, and its nodes would run again from there (TAP 134).
		 */
		sg_refuse_lost_write(run->opts.thread_id, sg_thread_other_owner(run->opts.thread_id));
	}
	run->has_head = true;
	run->head = run->cp->id;
	if (!run->pending_set)
		sg_state_cache_put(run->opts.thread_id, GetCurrentTransactionId(), run->cp, run->state);
}

/* Record a finished run on its thread (unless it had nothing to record). */
void
sg_run_end(SGRun *run)
{
	if (!run->persist || (!run->wrote && run->status == SG_RUN_DONE && !run->new_kinds))
		return;
	save_thread(run);
}

/*
 * Record the step just taken on the thread's row, as if the run ended here:
 * durable runs (sg_run) commit between steps, and a stream's caller may
 * stop reading it after any step.
 */
void
sg_run_checkpointed(SGRun *run)
{
	if (run->persist && run->wrote)
		save_thread(run);
}

/*
 * Check again that the current role may execute every function of the
 * run's graph: a background run, and CALL sg_run, take each step in a
 * transaction of their own, and a REVOKE of EXECUTE that committed
 * meanwhile stops them (TAP 086, isolation runs3_revoke_between_steps).
 */
void
sg_run_check_privileges(SGRun *run)
{
	sg_graph_check_privileges(run->g);
}

/* Where a run stands. */
SGRunStatus
sg_run_status(SGRun *run)
{
	return run->status;
}

/* Has the run nothing left to do (the next sg_run_step would only say so)? */
bool
sg_run_finished(SGRun *run)
{
	return run->status != SG_RUN_RUNNING || run->ntasks == 0;
}

/*
 * Does the run still hold its thread? A rollback to a savepoint lets go of
 * a hold taken after it (with the thread's lock): an sg_stream begun there
 * and read on through a cursor made before it.
 */
bool
sg_run_holds_thread(SGRun *run)
{
	return !run->persist || sg_session_hold_kept(run->hold);
}

/* Free a run's memory (and unpin its graph). */
void
sg_run_free(SGRun *run)
{
	MemoryContextDelete(run->cxt);
}
