/*-------------------------------------------------------------------------
 *
 * stategraph.h
 *		Shared declarations of the stategraph extension.
 *
 * The design is described at the top of stategraph.c; each .c file owns one
 * concern and says so in its header comment. The files form layers, each
 * calling only into the layers below it:
 *
 *	 run.c			SQL entry points that run graphs
 *	 executor.c		the super-step loop
 *	 history.c, branch.c, retention.c, draw.c
 *					snapshots; updates and forks; removal; drawings
 *	 route.c		where a step's tasks lead
 *	 graph.c, checkpoint.c
 *					compiled graphs; storage
 *	 channel.c		channel values and reducers
 *	 json.c			jsonb helpers
 *
 * and under all of them spi.c (SPI) and stategraph.c (settings, arguments).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STATEGRAPH_H
#define STATEGRAPH_H

#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/elog.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/* SQLSTATEs of our own (class SG); everything else uses PostgreSQL's codes. */
#define ERRCODE_SG_UNREACHABLE_NODE		MAKE_SQLSTATE('S','G','0','0','1')
#define ERRCODE_SG_DEAD_END_NODE		MAKE_SQLSTATE('S','G','0','0','2')
#define ERRCODE_SG_INVALID_UPDATE		MAKE_SQLSTATE('S','G','0','0','3')
#define ERRCODE_SG_RECURSION_LIMIT		MAKE_SQLSTATE('S','G','0','0','4')
#define ERRCODE_SG_INVALID_ROUTE		MAKE_SQLSTATE('S','G','0','0','5')
#define ERRCODE_SG_INTERRUPT			MAKE_SQLSTATE('S','G','0','0','6')
/* external tasks (tasks.c) */
#define ERRCODE_SG_TASK_SUPERSEDED		MAKE_SQLSTATE('S','G','0','1','0')	/* token of an older claim */
#define ERRCODE_SG_TASK_CANCELLED		MAKE_SQLSTATE('S','G','0','1','1')	/* the task was cancelled */
#define ERRCODE_SG_TASK_FINISHED		MAKE_SQLSTATE('S','G','0','1','2')	/* finished otherwise already */
/* background runs (runs.c): sg_submit with multitask 'reject' on a thread with an active run */
#define ERRCODE_SG_RUN_REJECTED			MAKE_SQLSTATE('S','G','0','1','3')
#define ERRCODE_SG_RUN_ABANDONED		MAKE_SQLSTATE('S','G','0','1','4')	/* its executor died too often */
/* sg_submit with multitask 'interrupt' or 'rollback' on a thread whose active run it cannot see */
#define ERRCODE_SG_RUN_NOT_STOPPABLE	MAKE_SQLSTATE('S','G','0','1','5')

/* portable threads (portable.c) */
#define ERRCODE_SG_INVALID_EXPORT		MAKE_SQLSTATE('S','G','X','0','1')
#define ERRCODE_SG_EXPORT_TAMPERED		MAKE_SQLSTATE('S','G','X','0','2')

#define SG_START_NAME	"__start__"
#define SG_END_NAME		"__end__"
#define SG_START		0			/* node index of __start__ */
#define SG_MAX_NAME		512			/* bytes in a graph, node, channel or thread name */

/*
 * SQL of the md5 of text t as UTF-8 (export digests): the bytes of the
 * database's encoding are those in UTF8 and SQL_ASCII (whose bytes are the
 * client's); in the others t is converted first. Hashing the database's
 * bytes made an export of a thread with an "é" fail its digest (SGX02) in a
 * LATIN1 database. t appears twice: an expression without side effects.
 */
#define SG_UTF8_MD5(t) \
	"(CASE WHEN pg_catalog.getdatabaseencoding() OPERATOR(pg_catalog.=) ANY ('{UTF8,SQL_ASCII}'::pg_catalog.name[]) " \
	"THEN pg_catalog.md5(" t ") ELSE pg_catalog.md5(pg_catalog.convert_to(" t ", 'UTF8')) END)"
/* Whether an export's digest may be of the database's own bytes (made before SG_UTF8_MD5: not UTF8, not SQL_ASCII). */
#define sg_digest_may_be_legacy() \
	(GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII)
#define SG_DEFAULT_RECURSION_LIMIT 25	/* sg_invoke's default: a step continued without the limit of its call */
#define SG_END			(-1)		/* edge target index of __end__ */

/* GUCs (stategraph.c) */
extern bool sg_lock_wait;
extern int	sg_state_cache_kb;

/* ---------------------------------------------------------------------------
 * Compiled graphs (graph.c)
 * ---------------------------------------------------------------------------
 */
typedef enum SGReducer
{
	SG_REDUCER_REPLACE,
	SG_REDUCER_APPEND,
	SG_REDUCER_ADD,
	SG_REDUCER_MERGE,
	SG_REDUCER_CUSTOM
} SGReducer;

/*
 * How a channel's values are stored in checkpoint rows (checkpoint.c). It
 * follows from the reducer but is kept per thread, so that a thread stays
 * readable whatever later happens to its graph.
 */
typedef enum SGStoreKind
{
	SG_STORE_LAST,				/* the value is the last write (replace) */
	SG_STORE_APPEND,			/* the value is the concatenation of writes */
	SG_STORE_IMAGE				/* every new value is stored whole */
} SGStoreKind;

typedef struct SGChannel
{
	char	   *name;
	SGReducer	reducer;
	SGStoreKind kind;
	Oid			reducer_fn;		/* SG_REDUCER_CUSTOM */
	Oid			reducer_owner;	/* its owner when the graph was loaded */
	FmgrInfo	reducer_flinfo;
	Jsonb	   *initial;		/* default value; NULL: the channel starts empty */
} SGChannel;

typedef struct SGBranch
{
	Oid			router;
	Oid			router_owner;	/* its owner when the graph was loaded */
	FmgrInfo	flinfo;
	Oid			rettype;		/* TEXTOID, TEXTARRAYOID, JSONBOID or BOOLOID */
	Jsonb	   *path_map;		/* NULL, an array of names or an object */
} SGBranch;

typedef struct SGRetry
{
	int			max_attempts;	/* 1: no retry */
	int			backoff_ms;
	int			nsqlstates;
	int		   *sqlstates;
} SGRetry;

typedef struct SGNode
{
	char	   *name;
	char	   *queue;			/* an external node's queue; NULL: a SQL node */
	int			lease_ms;		/* an external node's lease */
	Oid			fn;
	Oid			fn_owner;		/* its owner when the graph was loaded */
	FmgrInfo	flinfo;
	int			nargs;			/* 1: (state), 2: (state, config) */
	SGRetry		retry;
	int			nedges;
	int		   *edges;			/* target node indexes; SG_END ends */
	int			njoins;
	int		   *joins;			/* joins this node is a source of */
	int		   *join_pos;		/* its position among each one's sources */
	int			nbranches;
	SGBranch   *branches;
	bool		interrupt_before;
	bool		interrupt_after;
} SGNode;

typedef struct SGJoin
{
	char	   *key;			/* "join:a+b:d", as stored in checkpoints */
	int			target;
	int			nsources;
	int		   *sources;
} SGJoin;

typedef struct SGGraph
{
	char	   *name;
	char	   *owner;			/* graphs.owner (NULL on a 0.1.0 schema): owner_ok in graph.c */
	int32		version;
	MemoryContext cxt;			/* everything of this graph lives here */
	int			nchannels;
	SGChannel  *channels;		/* sorted by name */
	int			nnodes;
	SGNode	   *nodes;			/* [0] is __start__, the others sorted by name */
	int			njoins;
	SGJoin	   *joins;
	Jsonb	   *kinds;			/* {"channel": "last"|"append"|"image"} */
	struct SGChannelSet *cs;	/* the same, as a channel set */
	int			pins;			/* running calls using this graph */
	bool		stale;			/* dropped from the cache; free when unpinned */
	int64		gen;			/* graphs.gen: which graph of this name (0 on a 0.1.0 schema) */
} SGGraph;

extern SGGraph *sg_graph_get(const char *name);	/* pinned in CurrentMemoryContext */
extern SGGraph *sg_graph_get_gen(const char *name, int64 gen);	/* runs of one generation of it */
extern SGGraph *sg_graph_get_cached(const char *name);
extern SGGraph *sg_graph_channels(const char *name);	/* its channels alone: sg_complete of a broken graph */
extern void sg_graph_check_privileges(SGGraph *g);
extern void sg_graph_check_fn_owner(SGGraph *g, Oid fn, Oid loaded_owner, const char *what, const char *name);
extern Oid	sg_graph_unprivileged_fn(SGGraph *g);
extern int	sg_graph_node_index(SGGraph *g, const char *name);
extern bool sg_graph_node_is_external(const char *graph, const char *node);	/* tasks of a recompiled graph */
extern bool sg_graph_replaced(const char *graph, int64 gen);	/* tasks of a graph made again */
extern int	sg_graph_channel_index(SGGraph *g, const char *name);
extern void sg_check_name(const char *what, const char *name);

/* ---------------------------------------------------------------------------
 * Channel values and reducers (channel.c)
 * ---------------------------------------------------------------------------
 */

/* What a reader of checkpoints needs to know of a thread's channels. */
struct SGChannelSet
{
	int			n;
	char	  **names;			/* sorted */
	SGStoreKind *kinds;
};
typedef struct SGChannelSet SGChannelSet;

/*
 * Where a channel's value was found when a state was loaded, so that the
 * writer of the next checkpoint knows when to store an image or a reference
 * (checkpoint.c).
 */
typedef struct SGTrack
{
	int			rows;			/* rows a reader walks back to resolve it */
	int64		bytes;			/* bytes of append writes on that walk */
	int64		count;			/* elements of append writes on that walk */
	bool		has_loc;		/* loc: row of this thread holding the value (append: its last image) */
	pg_uuid_t	loc;
} SGTrack;

typedef struct SGState
{
	int			n;
	Jsonb	  **values;			/* per channel; NULL: empty */
	List	  **parts;			/* per append channel: arrays appended to values[i], not joined yet */
	SGTrack    *track;
	Jsonb	   *barriers;		/* {"join key": ["source", ...]}, NULL: none */
} SGState;

/* One task's update, in the order they are applied. */
typedef struct SGWrite
{
	const char *task;			/* node name */
	Jsonb	   *update;			/* object of channel -> value */
} SGWrite;

extern SGChannelSet *sg_channelset_from_jsonb(Jsonb *kinds);
extern SGStoreKind sg_store_kind_from_name(const char *s);
extern bool sg_channel_kinds_valid(Jsonb *kinds);	/* an object of "append" | "image" | "last" */
extern const char *sg_store_kind_name(SGStoreKind k);
extern SGState *sg_state_new(int n);
extern SGState *sg_state_copy(SGState *s);
extern SGState *sg_state_copy_deep(SGState *s);
extern int	sg_channelset_index(SGChannelSet *cs, const char *name);
extern SGState *sg_state_initial(SGGraph *g);
extern Jsonb *sg_state_to_jsonb(SGChannelSet *cs, SGState *s);
extern Jsonb *sg_state_value(SGState *s, int c);
extern Size sg_state_value_size(SGState *s, int c);
extern void sg_check_update(SGGraph *g, const char *who, Jsonb *update);
extern SGState *sg_apply_writes(SGGraph *g, SGState *s, SGWrite *writes, int nwrites,
								bool *changed);
extern Jsonb *sg_jsonb_concat_arrays(Jsonb *a, Jsonb *b);

/* ---------------------------------------------------------------------------
 * Checkpoint storage (checkpoint.c)
 * ---------------------------------------------------------------------------
 */
typedef struct SGCheckpoint
{
	char	   *thread_id;
	pg_uuid_t	id;
	bool		has_parent;
	pg_uuid_t	parent_id;
	char	   *parent_thread;	/* NULL: same thread */
	int			step;
	char	   *source;
	int			nnext;
	char	  **next;
	Jsonb	   *writes;
	Jsonb	   *image;
	bool		image_complete;
	Jsonb	   *refs;
	Jsonb	   *barriers;
	Jsonb	   *sends;
	Jsonb	   *pending;
	Jsonb	   *meta;
	TimestampTz created_at;
} SGCheckpoint;

typedef struct SGThread
{
	char	   *thread_id;
	char	   *graph;
	Jsonb	   *channels;		/* kinds */
	bool		has_head;
	pg_uuid_t	head;
	char	   *status;
	TimestampTz created_at;
	TimestampTz updated_at;
	TransactionId xmin;			/* of its row version: changes with every change */
} SGThread;

extern void sg_new_checkpoint_id(pg_uuid_t *id, const pg_uuid_t *after, const pg_uuid_t *also_after);
extern int	sg_step_after(const char *thread_id, int step);
extern void sg_task_id(const pg_uuid_t *checkpoint, const char *node, int index, char *out);
extern char *sg_uuid_to_cstring(const pg_uuid_t *id);
extern void sg_lock_thread(const char *thread_id, bool session);
extern bool sg_try_lock_thread(const char *thread_id);
extern void sg_unlock_thread(const char *thread_id, bool session);
extern bool sg_thread_is_busy(const char *thread_id);
/* 55P03 with stategraph.lock_wait off; detail NULL: "Another session is running or changing it." */
extern void sg_refuse_busy_thread(const char *thread_id, const char *detail) pg_attribute_noreturn();
#define SG_BUSY_THREAD_CREATING "Another transaction is creating it."
/* the hint of a run from a checkpoint_id of a thread that does not exist (sg_invoke, sg_submit) */
#define SG_HINT_CHECKPOINT_OF_NO_THREAD "A checkpoint_id names a checkpoint of an existing thread: start a new thread with an input and no checkpoint_id."
extern SGThread *sg_thread_fetch(const char *thread_id, bool for_update);
extern SGThread *sg_thread_fetch_required(const char *thread_id, bool for_update);
extern SGThread *sg_thread_fetch_for_delete(const char *thread_id);
extern SGThread *sg_thread_fetch_shared(const char *thread_id);
extern SGThread *sg_thread_fetch_locked(const char *thread_id, bool lock, bool wait, bool *busy);

/* A thread's row locked without waiting (checkpoint.c): by us, by another transaction, no row, or not asked which. */
typedef enum SGRowLock
{
	SG_ROW_LOCKED,
	SG_ROW_HELD,
	SG_ROW_ABSENT,
	SG_ROW_NOT_LOCKED			/* held or absent: the caller did not ask which */
} SGRowLock;
extern SGRowLock sg_thread_row_try_lock(const char *thread_id, const char *cond, SPIPlanPtr *plans,
										bool tell);

extern void sg_thread_lock_settled(const char *thread_id);
extern void sg_thread_create(const char *thread_id, const char *graph, Jsonb *channels,
							 const pg_uuid_t *head, const char *status);
extern uint64 sg_thread_insert(SPIPlanPtr plan, Datum *values, const char *thread_id);
extern void sg_refuse_thread_inserted(const char *thread_id) pg_attribute_noreturn();
extern bool sg_thread_set(const char *thread_id, const pg_uuid_t *head, const char *status,
						  Jsonb *channels);
typedef enum SGAdvance
{
	SG_ADVANCED,				/* the head was the run's: set */
	SG_ADVANCE_MOVED,			/* another writer moved it: nothing set */
	SG_ADVANCE_HIDDEN			/* row-level security hides the row now: nothing set */
} SGAdvance;
extern SGAdvance sg_thread_advance(const char *thread_id, const pg_uuid_t *expected, const pg_uuid_t *head,
								   const char *status, Jsonb *channels);
extern void sg_keep_thread_lock(const char *thread_id);
extern void sg_refuse_thread_taken(const char *thread_id) pg_attribute_noreturn();	/* 40001 */
extern void sg_thread_touch(const char *thread_id);
extern SGCheckpoint *sg_checkpoint_fetch(const char *thread_id, const pg_uuid_t *id);
extern SGCheckpoint *sg_checkpoint_fetch_required(const char *thread_id, const pg_uuid_t *id);
extern SGState *sg_load_state(SGChannelSet *cs, const char *thread_id, const pg_uuid_t *id,
							  SGCheckpoint **cp_out);
extern void sg_state_apply_row(SGChannelSet *cs, SGState *s, SGCheckpoint *row);
extern void sg_checkpoint_insert(SGChannelSet *cs, SGCheckpoint *cp, SGState *state,
								 bool *written);
extern void sg_checkpoint_set_pending(const char *thread_id, const pg_uuid_t *id, Jsonb *pending);
extern Jsonb *sg_checkpoint_child_writes(const char *thread_id, const pg_uuid_t *id);
extern Jsonb *sg_checkpoint_input_writes(SGCheckpoint *cp);
extern Jsonb *sg_checkpoint_start_writes(SGCheckpoint *cp);
extern bool sg_checkpoint_is_input(SGCheckpoint *cp);
extern Jsonb *sg_checkpoint_fork_input(SGCheckpoint *cp);
extern Jsonb *sg_checkpoint_copy_input(SGCheckpoint *cp);
extern Jsonb *sg_fork_start_input(SGCheckpoint *from);
extern void sg_checkpoint_materialize(SGChannelSet *cs, const char *thread_id, const pg_uuid_t *id);
extern Jsonb *sg_load_channel(SGChannelSet *cs, const char *thread_id, const pg_uuid_t *id, int channel);
extern void sg_checkpoint_image_channel(SGChannelSet *cs, const char *thread_id, const pg_uuid_t *id,
										const char *channel);
extern Jsonb *sg_checkpoint_last_writes(SGCheckpoint *cp);
extern Jsonb *sg_checkpoint_standin_writes(SGCheckpoint *cp);
extern SGCheckpoint *sg_checkpoint_from_tuple(HeapTuple tup, TupleDesc desc);
extern bool sg_state_cache_get(SGThread *th, SGCheckpoint **cp, SGState **state, MemoryContext pin);
extern void sg_state_cache_put(const char *thread_id, TransactionId xmin, SGCheckpoint *cp,
							   SGState *state);
extern void sg_state_cache_forget(const char *thread_id);

/*
 * The columns of stategraph.checkpoints as every reader and writer of
 * checkpoint rows lists them, and their numbers in that list (results are
 * read by these; the INSERT's parameter $n is column n).
 */
#define SG_CHECKPOINT_COLUMNS \
	"thread_id, checkpoint_id, parent_id, parent_thread, step, source, next, writes, image, " \
	"image_complete, refs, barriers, sends, pending, meta, created_at"
#define Anum_checkpoint_thread_id		1
#define Anum_checkpoint_checkpoint_id	2
#define Anum_checkpoint_parent_id		3
#define Anum_checkpoint_parent_thread	4
#define Anum_checkpoint_step			5
#define Anum_checkpoint_source			6
#define Anum_checkpoint_next			7
#define Anum_checkpoint_writes			8
#define Anum_checkpoint_image			9
#define Anum_checkpoint_image_complete	10
#define Anum_checkpoint_refs			11
#define Anum_checkpoint_barriers		12
#define Anum_checkpoint_sends			13
#define Anum_checkpoint_pending			14
#define Anum_checkpoint_meta			15
#define Anum_checkpoint_created_at		16
#define Natts_checkpoint				16
extern const char *sg_checkpoint_columns;	/* SG_CHECKPOINT_COLUMNS */
extern SGState *sg_load_for_graph(SGGraph *g, SGThread *th, const pg_uuid_t *id, SGCheckpoint **cp,
								  bool *new_kinds);

/* ---------------------------------------------------------------------------
 * Routing: edges, joins, conditional edges and Sends (route.c)
 * ---------------------------------------------------------------------------
 */
extern void sg_route(SGGraph *g, SGState *base, int ntasks, int ndone, const int *nodes,
					 Jsonb **updates, SGCheckpoint *cp);
extern const char *sg_routing_node;

/* ---------------------------------------------------------------------------
 * The super-step engine (executor.c)
 * ---------------------------------------------------------------------------
 */
typedef enum SGOnError
{
	SG_ON_ERROR_RAISE,
	SG_ON_ERROR_RETURN
} SGOnError;

typedef enum SGRunStatus
{
	SG_RUN_RUNNING,
	SG_RUN_DONE,
	SG_RUN_INTERRUPTED,
	SG_RUN_ERROR,
	SG_RUN_WAITING				/* external tasks are out */
} SGRunStatus;

typedef struct SGTask SGTask;

/* What sg_stream gets told as the run goes. */
typedef void (*SGEmitFn) (void *arg, int step, const char *node, Jsonb *payload);

typedef struct SGRunOptions
{
	const char *graph;
	Jsonb	   *input;			/* NULL: resume */
	const char *thread_id;		/* NULL: no persistence */
	bool		has_checkpoint_id;
	pg_uuid_t	checkpoint_id;
	Jsonb	   *resume;			/* NULL: none */
	int			recursion_limit;
	SGOnError	on_error;
	bool		durable;		/* sg_run: commit after every step */
	SGEmitFn	emit;
	void	   *emit_arg;
	bool		emit_values;	/* mode 'values' rather than 'updates' */
	bool		has_graph_gen;	/* a background run: only generation graph_gen of graph */
	int64		graph_gen;
	bool		has_last_step;	/* a background run going on: the last step its limit allows */
	int			last_step;		/* (from where it began, not from where it goes on) */
} SGRunOptions;

typedef struct SGRun SGRun;

extern SGRunOptions sg_run_options(FunctionCallInfo fcinfo, bool has_mode);
extern SGRun *sg_run_begin(SGRunOptions *opts, MemoryContext cxt);
extern bool sg_resumable(SGCheckpoint *cp, bool at_head, SGThread *th);	/* cp takes a resume value */
extern void sg_check_resumable(SGCheckpoint *cp, bool at_head, SGThread *th, const char *detail);	/* 55000 unless cp takes a resume */
extern bool sg_run_step(SGRun *run);
extern Jsonb *sg_run_result(SGRun *run);
extern void sg_run_end(SGRun *run);
extern void sg_run_checkpointed(SGRun *run);
extern void sg_run_check_privileges(SGRun *run);
extern SGRunStatus sg_run_status(SGRun *run);
extern bool sg_run_finished(SGRun *run);
extern bool sg_run_holds_thread(SGRun *run);
extern void sg_run_free(SGRun *run);
extern Jsonb *sg_interrupt_entry(const char *task_id, const char *node, int index, Jsonb *value);

/* ---------------------------------------------------------------------------
 * External tasks (tasks.c)
 * ---------------------------------------------------------------------------
 */

/* An external task of a step, as the executor hands it to tasks.c. */
typedef struct SGExternalTask
{
	const char *task_id;
	const char *graph;
	int64		graph_gen;		/* graphs.gen of the graph the step runs */
	const char *thread_id;
	pg_uuid_t	checkpoint_id;
	int			step;
	SGNode	   *node;
	Jsonb	   *input;			/* the state, or the Send arg */
	Jsonb	   *config;
	Jsonb	   *resume_values;	/* answers to its sg_interrupt_task calls, oldest first */
	int			recursion_limit;	/* of the run whose step this is */
	int			last_step;		/* the last step that run's limit allows */
} SGExternalTask;

/*
 * Called (when set) in the transaction of the completion that leaves a
 * waiting step with no task out, or that cancels the step's tasks (the
 * thread left the step), so that background runs can continue the
 * thread after that commit (runs.c sets it; without it, sg_invoke(graph,
 * NULL, thread) or CALL sg_work() continues).
 */
typedef void (*SGStepReadyHook) (const char *graph, const char *thread_id);
extern SGStepReadyHook sg_step_ready_hook;
extern bool sg_task_sync(SGExternalTask *task, Jsonb **result);
extern void sg_tasks_cancel_thread(SGThread *th);
extern void sg_detach_forks(const char *thread_id, Datum ids);	/* retention.c */
extern bool sg_forks_lockable(const char *thread_id);
extern bool sg_sweep_may_delete(const char *thread_id);
extern bool sg_sweep_delete_thread(void *thread_id);	/* an SGSubxactFn */

/*
 * Thread rows that no one order fits (retention.c, "Rows taken apart"): a
 * try locks them without waiting (sg_try_lock_rows) and returns the id of
 * one another transaction holds, and in *mode the lock it wants (NULL: it
 * has them all); sg_lock_rows_apart rolls such a try back, waits for that
 * one row holding none of the others nor the threads' locks (let go and
 * taken again by an SGThreadLocksFn: take false lets go, take true takes
 * them again and says whether to go on), and tries again (retention.c's
 * delete and prune of one thread, branch.c's lock_for_update_rows,
 * portable.c's import: sg_one_thread_lock, the lock of one thread).
 */
typedef enum SGRowMode
{
	SG_ROW_FOR_NO_KEY_UPDATE,	/* a writer's (thread_fetch_locked) */
	SG_ROW_FOR_UPDATE,			/* a delete's */
	SG_ROW_FOR_SHARE			/* an import's of a fork's source (portable.c) */
} SGRowMode;
typedef char *(*SGRowsTryFn) (void *arg, SGRowMode *mode);
typedef bool (*SGThreadLocksFn) (void *arg, bool take);
extern bool sg_lock_rows_apart(SGRowsTryFn fn, void *arg, SGThreadLocksFn locks, void *locks_arg);
extern bool sg_one_thread_lock(void *thread_id, bool take);
extern char *sg_try_lock_rows(Datum ids, SGRowMode mode);
extern void sg_wait_for_thread_row(const char *thread_id, SGRowMode mode);
extern bool sg_lock_thread_submits(const char *thread_id, bool may_wait);	/* runs.c */
extern void sg_tasks_cancel_graph(const char *graph, Jsonb *spec);
extern void sg_tasks_requeue_step(const char *thread_id, const pg_uuid_t *checkpoint_id);
extern int	sg_tasks_sweep(int limit);
extern uint64 sg_tasks_expire(int retention_s, int limit);
extern int	sg_tasks_continue_left(int limit, bool *held);
typedef enum SGOwnerSubmit
{
	OWNER_SUBMITTED,
	OWNER_RETRY,				/* not for now: a lock held, a deadlock, a serialization failure */
	OWNER_REFUSED
} SGOwnerSubmit;
/* The recursion limit a step left by its task's completion counts on (tasks.c, leave_step). */
typedef struct SGLeftLimit
{
	int			recursion_limit;	/* of the call that left the thread waiting */
	int			last_step;		/* the last step it allows */
	pg_uuid_t	head;			/* the checkpoint the step was left at */
} SGLeftLimit;
extern SGOwnerSubmit sg_submit_for_owner(const char *graph, const char *thread_id, const char *owner,
										 const int64 *gen, const SGLeftLimit *limit);	/* runs.c */
/*
 * The longest node lease and sg_claim wait: 24 days, as the messages and
 * README say (the int4 milliseconds they are kept in would take 24.8).
 */
#define SG_MAX_LEASE_MS		(INT64CONST(24) * 86400000)
extern int64 sg_interval_ms(Interval *iv);
extern bool sg_interval_negative(Interval *iv);
extern void sg_check_interval_range(Interval *iv, bool subtract, const char *name);

/* ---------------------------------------------------------------------------
 * Snapshots (history.c) and jsonb helpers (json.c)
 * ---------------------------------------------------------------------------
 */
extern Jsonb *sg_task_list(SGCheckpoint *cp, Jsonb *child_writes, Jsonb **interrupts);
extern Jsonb *sg_static_interrupts(Jsonb *meta);
extern List *sg_history_rows(const char *thread_id, const pg_uuid_t *before, int limit, Jsonb *filter);

typedef struct SGJsonBuilder
{
	JsonbParseState *state;
	JsonbValue *result;
} SGJsonBuilder;

extern void sg_jb_container(SGJsonBuilder *b, JsonbIteratorToken tok);
#define sg_jb_begin_object(b)	sg_jb_container((b), WJB_BEGIN_OBJECT)
#define sg_jb_begin_array(b)	sg_jb_container((b), WJB_BEGIN_ARRAY)
#define sg_jb_end_object(b)		sg_jb_container((b), WJB_END_OBJECT)
#define sg_jb_end_array(b)		sg_jb_container((b), WJB_END_ARRAY)
extern void sg_jb_key(SGJsonBuilder *b, const char *key);
extern void sg_jb_string(SGJsonBuilder *b, const char *value);
extern void sg_jb_int(SGJsonBuilder *b, int64 value);
extern void sg_jb_bool(SGJsonBuilder *b, bool value);
extern void sg_jb_null(SGJsonBuilder *b);
extern void sg_jb_jsonb(SGJsonBuilder *b, Jsonb *value);
extern void sg_jb_field(SGJsonBuilder *b, const char *key, Jsonb *value);
extern void sg_jb_string_field(SGJsonBuilder *b, const char *key, const char *value);
extern Jsonb *sg_jb_finish(SGJsonBuilder *b);
extern bool sg_jsonb_next_pair(JsonbIterator **it, char **key, JsonbValue *value);

extern Jsonb *sg_jsonb_get(Jsonb *obj, const char *key);
extern char *sg_jsonb_get_cstring(Jsonb *obj, const char *key);
extern char *sg_jsonb_as_cstring(Jsonb *j);
extern char *sg_jsonb_array_get_cstring(Jsonb *arr, int i);
extern void sg_jsonb_append_text(StringInfo out, Jsonb *j, bool elements);
extern bool sg_jsonb_is_object(Jsonb *j);
extern bool sg_jsonb_is_array(Jsonb *j);
extern bool sg_jsonb_is_scalar(Jsonb *j, enum jbvType type);
extern int	sg_jsonb_array_length(Jsonb *j);
extern Jsonb *sg_jsonb_array_get(Jsonb *arr, int i);
extern Jsonb *sg_jsonb_from_value(JsonbValue *v);
extern Jsonb *sg_jsonb_from_cstring(const char *s);
extern Jsonb *sg_jsonb_string(const char *s);
extern Jsonb *sg_jsonb_copy(Jsonb *j);
extern Jsonb *sg_jsonb_set_key(Jsonb *obj, const char *key, Jsonb *value);
extern Jsonb *sg_jsonb_empty_object(void);
extern Jsonb *sg_jsonb_empty_array(void);
extern char *sg_jsonb_type_name(Jsonb *j);
extern Jsonb *sg_text_array_to_jsonb(int n, char **items);
extern Jsonb *sg_jsonb_array_concat(int n, JsonbContainer **arrays);
extern Jsonb *sg_jsonb_array_tail(Jsonb *arr, int count);
extern Jsonb *sg_jsonb_object_build(int n, const char **keys, Jsonb **values, List **parts);

/* ---------------------------------------------------------------------------
 * Drawing (draw.c: graphs; draw_history.c: a thread's checkpoints)
 * ---------------------------------------------------------------------------
 */
/* history.c: a store of rows built oldest first, put into a set's result newest first */
struct Tuplestorestate;
struct ReturnSetInfo;
extern void sg_result_newest_first(struct Tuplestorestate *oldest_first, struct ReturnSetInfo *rsinfo);

extern void sg_dot_escape(StringInfo buf, const char *s);
extern void sg_dot_quote(StringInfo buf, const char *s);
extern void sg_mermaid_id(StringInfo buf, const char *s);
extern void sg_mermaid_text(StringInfo buf, const char *s);

/* ---------------------------------------------------------------------------
 * Background runs (runs.c) and their workers (worker.c)
 * ---------------------------------------------------------------------------
 */
extern int	sg_max_workers;
extern int	sg_max_workers_per_role;
extern int	sg_sweep_interval_s;
extern int	sg_sweep_limit;
extern int	sg_run_retention_s;
extern int	sg_max_run_recoveries;
extern bool sg_worker_sync_steps;
extern bool sg_claim_left_more;
extern void sg_worker_ask_help(void);
extern bool sg_run_thread_next;
extern bool sg_run_status_active(const char *status);	/* pending, running or waiting */

/* How the executor of runs ends a transaction: SPI_commit (sg_work) or the worker's own. */
typedef void (*SGCommitFn) (void);

extern void sg_worker_init(void);
extern bool sg_queue_waiters_ready(void);
extern void sg_queue_wait_set(uint32 hash, bool waiting);
extern void sg_queue_wake_at_commit(uint32 hash);
extern void sg_tasks_prepared_committed(void);
extern void sg_runs_init(void);
extern void sg_wake_workers_at_commit(void);
extern void sg_steps_left_at_commit(void);
extern void sg_run_done_at_commit(void);
extern void sg_run_ended_at_commit(const pg_uuid_t *run_id);
extern void sg_run_stop_asked_at_commit(void);
extern void sg_run_queued_at_commit(TimestampTz due);
extern void sg_runs_requeued_at_commit(void);
extern TimestampTz sg_claim_from(uint64 *gen);
extern void sg_claim_from_raise(uint64 gen, TimestampTz at);
extern void sg_claim_from_reset(void);
extern bool sg_stop_generation(uint64 *gen);
extern void sg_run_delayed_at_commit(void);
extern bool sg_wait_for_runs(long timeout_ms);
extern void sg_wait_prepare(const pg_uuid_t *run_id);
extern void sg_wait_done(void);
extern Datum sg_awaited_runs(void);
extern bool sg_wait_cycle(const pg_uuid_t *awaited, const char *thread_id, char **cycle);
extern void sg_worker_report_run(const pg_uuid_t *run_id, const char *thread_id);
extern void sg_worker_search_path(bool for_run);
extern bool sg_worker_take_role_share(Oid role, TimestampTz due);
extern void sg_worker_drop_role_share(void);
extern void sg_worker_claim_begin(void);
extern void sg_worker_claim_end(bool took_run);
extern bool sg_in_background_worker(void);
extern bool sg_worker_executes_run(const pg_uuid_t *run_id);
extern bool sg_worker_executes_thread(const char *thread_id);
extern void sg_run_next_due_at_commit(TimestampTz due);
extern bool sg_work_one(SGCommitFn commit, bool in_subxact, bool *blocked);
/* work done in this session as another role: a run's, or the step sg_complete goes on with as the thread's owner */
extern List *sg_advisory_locks_held(bool all_kinds);
extern void sg_release_advisory_locks(List *keep);
extern char *sg_owner_step_search_path(void);
extern void sg_hide_session_settings(void);

/* a run whose execution fails outside its graph's steps this often ends with status error */
#define SG_RUN_MAX_FAILURES 3
extern bool sg_run_failure(ErrorData *edata);
extern void sg_run_unrecordable(void);
extern uint64 sg_sweep(int limit, bool new_round, bool *more);
extern TimestampTz sg_expiry_cutoff(int retention_s);
/* retention sweeps read threads window by window from a cursor (runs.c, lgmaint.c) */
#define SG_SWEEP_WINDOW		1000	/* threads read per window */
#define SG_SWEEP_MAX_READ	100000	/* threads one sweep reads at most (one transaction) */
/*
 * expired threads one sweep batch (one transaction) tries to remove at most:
 * each takes up to two subtransactions that keep their ids to the commit,
 * and a transaction with more than 64 (PGPROC_MAX_CACHED_SUBXIDS) makes the
 * snapshots of every other session look in pg_subtrans while it lasts
 */
#define SG_SWEEP_BATCH_THREADS	30

/*
 * Where a retention sweep's pass over thread ids has got to, kept for the
 * session (runs.c's over stategraph threads, lgmaint.c's over LangGraph.js
 * ones): the last thread id it looked at (NULL: the pass starts), and the
 * window of SG_SWEEP_WINDOW ids that the cursor is in, when a full batch
 * stopped inside it (window_last NULL: the next batch reads a new one).
 * A batch tries a few dozen threads: reading the window again for each
 * took a tenth of the sweep's time. A window is a range of ids, so the
 * threads created in it since it was read are swept as well.
 */
typedef struct SGSweepPass
{
	char	   *cursor;
	char	   *window_last;
	uint64		window_size;	/* threads the window held when read */
} SGSweepPass;

extern void sg_sweep_pass_move(SGSweepPass *pass, const char *thread_id, bool in_window);
extern uint64 sg_sweep_pass_window(SGSweepPass *pass, SPIPlanPtr *plans, const char *ids, int size, char **last);

/*
 * A query's condition that its thread ids (column col) come after a
 * cursor, $1: none when the cursor is NULL (the start). Such a query
 * keeps two plans, one for each (plans[cursor != NULL]): "$1 IS NULL OR
 * col > $1" in one generic plan read the index from its start to the
 * cursor, so that each batch of a pass over the threads took time
 * growing with how far the pass had got, and the pass time quadratic in
 * the number of threads.
 */
#define SG_AFTER_CURSOR(cursor, col) \
	((cursor) ? "(" col " OPERATOR(pg_catalog.>) $1::pg_catalog.text)" : "($1::pg_catalog.text IS NULL)")
extern long sg_next_due_ms(TimestampTz since);

/* a restore's rows of stategraph.runs hold the workers off until it ends (restore.c) */
extern bool sg_submitting_run;
extern bool sg_leaving_step;	/* thread_ids.c: leave_step writes its note (owner_writes) */
extern bool sg_restore_holds(bool keep);

/* ---------------------------------------------------------------------------
 * Small helpers used everywhere (stategraph.c)
 * ---------------------------------------------------------------------------
 */
extern char *sg_arg_text(FunctionCallInfo fcinfo, int argno, const char *argname);
extern char *sg_arg_text_or_null(FunctionCallInfo fcinfo, int argno);
extern bool sg_arg_choice(FunctionCallInfo fcinfo, int argno, const char *argname,
						  const char *first, const char *second);
extern void sg_prevent_write(const char *fname);
extern void sg_require_arg(FunctionCallInfo fcinfo, int argno, const char *argname);
extern void sg_require_arg_hint(FunctionCallInfo fcinfo, int argno, const char *argname, const char *hint);
extern void sg_check_length(const char *s, const char *subject, const char *limit_of);
extern void sg_check_max_length(const char *s, const char *subject, const char *limit_of);
/*
 * The timestamptz ts plus (op "+") or minus (op "-") the interval iv,
 * counted in UTC: a day is 24 hours and a month ends at the same UTC time
 * of day, whatever the session's TimeZone. timestamptz + interval counts
 * days and months in the session's TimeZone, so that an after, ttl,
 * older_than or lease of '120 days' was an hour shorter across a
 * spring-forward in a session with SET TimeZone = 'America/New_York' than
 * in one with UTC, and a sweep (a worker: the server's TimeZone) and a
 * session (sg_prune, CALL sg_work: the session's) cut a ttl at different
 * times (pg_regress time_zone).
 */
#define SG_UTC_SHIFT(ts, op, iv) \
	"pg_catalog.timezone('UTC'::pg_catalog.text, pg_catalog.timezone('UTC'::pg_catalog.text, " ts ") " \
	"OPERATOR(pg_catalog." op ") (" iv "))"
/*
 * A retention row's ttl as a sweep subtracts it from the time: NULL (does
 * not expire) where that could be out of range (runs.c, lgmaint.c).
 */
#define SG_SWEEP_TTL(ttl) \
	"CASE WHEN " ttl " OPERATOR(pg_catalog.<=) '5000 years'::pg_catalog.interval " \
	"AND " ttl " OPERATOR(pg_catalog.>=) '-5000 years'::pg_catalog.interval " \
	"AND pg_catalog.abs(pg_catalog.date_part('year', " ttl ")) OPERATOR(pg_catalog.<=) 2000 " \
	"AND pg_catalog.abs(pg_catalog.date_part('day', " ttl ")) OPERATOR(pg_catalog.<=) 730000 THEN " ttl " END"

extern Datum sg_call_jsonb(FmgrInfo *flinfo, int nargs, Jsonb *arg1, Jsonb *arg2, bool *isnull);
extern Datum sg_call_jsonb_outside_task(FmgrInfo *flinfo, int nargs, Jsonb *arg1, Jsonb *arg2, bool *isnull);
extern int	sg_sorted_index(const char *name, const void *items, int n, size_t size);
extern Oid	sg_table_oid(const char *name);	/* stategraph.<name>, a table or index */
extern Oid	sg_extension_oid(void);
extern void sg_extension_after_wait(Oid ext, const char *what);	/* 55000 if dropped (stategraph.c) */
extern uint64 sg_key(uint64 kind, const void *a, size_t alen, const void *b, size_t blen);
extern List *sg_subxact_ended(List *entries, SubXactEvent event, SubTransactionId mySubid,
							   SubTransactionId parentSubid, void (*drop) (void *entry));

/* ---------------------------------------------------------------------------
 * SPI: kept plans, execution, results by column number, subtransactions (spi.c)
 * ---------------------------------------------------------------------------
 */

/* The column of a one-column result. */
#define SG_SOLE_COLUMN	1

/* A call run by sg_spi_subxact; returns true to keep its work, false to roll it back. */
typedef bool (*SGSubxactFn) (void *arg);

extern void sg_spi_connect(void);
extern void sg_spi_connect_nonatomic(void);
extern void sg_spi_finish(void);
extern SPIPlanPtr sg_prepare(const char *query, int nargs, Oid *argtypes);
extern SPIPlanPtr sg_spi_prepare(SPIPlanPtr *plan, const char *query, int nargs, Oid *argtypes);
extern uint64 sg_spi_execute(SPIPlanPtr plan, Datum *values, const char *nulls, long count);
extern bool sg_spi_reads_begin(void);
extern void sg_spi_reads_end(bool was, bool failed);
extern bool sg_spi_reading_one_snapshot(void);
extern uint64 sg_spi_execute_latest(SPIPlanPtr plan, Datum *values, const char *nulls);
extern uint64 sg_spi_run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls);
extern Portal sg_spi_cursor_open(SPIPlanPtr plan, Datum *values, const char *nulls);
extern uint64 sg_spi_cursor_fetch(Portal portal, long count);
extern void sg_spi_cursor_close(Portal portal);
extern Datum sg_spi_datum(uint64 row, int col, bool *isnull);
extern char *sg_spi_text(uint64 row, int col);
extern Datum sg_text_array(char **items, int n);
extern void sg_spi_mark_found(char **ids, int n, bool *found);
extern Jsonb *sg_spi_jsonb(uint64 row, int col);
extern bool sg_spi_uuid(uint64 row, int col, pg_uuid_t *out);
extern void sg_spi_put_rows(ReturnSetInfo *rsinfo, const bool *skip);
extern uint64 sg_spi_run_texts(SPIPlanPtr *plan, const char *sql, int nargs, const char *const *args);
extern ErrorData *sg_spi_subxact(SGSubxactFn fn, void *arg);
extern bool sg_sweep_remove_one(const char *thread_id, SGSubxactFn fn, void *arg);	/* runs.c */

/* Raises the clearer error for a caught one (sg_spi_execute_or_raise); never returns. */
typedef void (*SGRaiseFn) (ErrorData *edata, const void *arg) pg_attribute_noreturn();
extern uint64 sg_spi_execute_or_raise(SPIPlanPtr plan, Datum *values, const char *nulls, long count,
									  int sqlerrcode, SGRaiseFn raise, const void *arg);

/* An export built row by row (exportbuild.c) */
typedef struct SGExportArray
{
	MemoryContext cxt;			/* where its blocks are */
	List	   *blocks;			/* its elements' data */
	Size		len;			/* bytes of data */
	StringInfoData jentries;	/* a JEntry an element */
	int			nelems;
} SGExportArray;
typedef struct SGExportMember
{
	const char *key;
	JsonbValue	value;			/* a string, number, null or container (jbvBinary) */
	SGExportArray *array;		/* else this (null when it has no elements) */
} SGExportMember;
typedef struct SGExport
{
	SGRaiseFn	raise;
	const void *arg;
	struct pg_cryptohash_ctx *md5;
	MemoryContext rowcxt;
} SGExport;
extern void sg_export_begin(SGExport *ex, SGRaiseFn raise, const void *arg);
extern void sg_export_digest_text(SGExport *ex, const char *s, int len);
extern void sg_export_digest_jsonb(SGExport *ex, Jsonb *j);
extern char *sg_export_digest(SGExport *ex);
extern void sg_export_rows(SGExport *ex, SGExportArray *a, SPIPlanPtr plan, Datum *values, const char *nulls);
extern void sg_export_member_string(SGExportMember *m, const char *key, const char *value);
extern void sg_export_member_number(SGExportMember *m, const char *key, const char *value);
extern void sg_export_member_jsonb(SGExportMember *m, const char *key, Jsonb *value);
extern void sg_export_member_array(SGExportMember *m, const char *key, SGExportArray *a);
extern Jsonb *sg_export_finish(SGExport *ex, SGExportMember *members, int n);

/* ---------------------------------------------------------------------------
 * Security and lifecycle (executor.c, graph.c)
 * ---------------------------------------------------------------------------
 */
extern void sg_refuse_running_thread(const char *thread_id, const char *what);
/* session_threads.c: the threads this session is running or updating now */
extern uint64 sg_session_hold_thread(const char *thread_id, bool updating, bool durable, MemoryContext holder);
extern bool sg_session_hold_kept(uint64 number);
extern bool sg_session_holds_thread(const char *thread_id, bool updating);
extern bool sg_thread_running_here(const char *thread_id);
extern void sg_require_function(Oid fn, const char *what, const char *name, const char *graph);
extern void sg_check_state_size(SGChannelSet *cs, SGState *s, const char *thread_id);
extern bool sg_schema_is_010(void);
extern void sg_graph_require_owner(const char *graph);	/* graph.c: 42501 unless the graph's owner */

/* ---------------------------------------------------------------------------
 * Partitions a router's move holds on this server (holds.c): the sweeps skip their threads
 * ---------------------------------------------------------------------------
 */
extern bool sg_partition_held(const char *thread_id);
extern void sg_lg_partitions_held(char **ids, int n, bool *held);
extern bool sg_lg_lock_rows(const char *thread_id, bool dont_wait);

/* ---------------------------------------------------------------------------
 * One namespace of thread ids, across roles and both kinds of thread (thread_ids.c)
 * ---------------------------------------------------------------------------
 */
extern bool sg_thread_id_stored(const char *table, const char *thread_id);
extern void sg_thread_refuse_changed_unseen(const char *table, const char *thread_id, const char *ns);	/* 40001 */
extern void sg_thread_id_check_not_lg(const char *thread_id);
extern bool sg_thread_id_claim_not_lg(const char *thread_id);
extern void sg_thread_id_claimed(const char *thread_id, bool taken);
extern void sg_thread_id_check_new(const char *thread_id, bool lg);
extern void sg_thread_id_check_writes(const char *thread_id);
extern TransactionId sg_lg_thread_storer(const char *thread_id);
extern bool sg_thread_row_held(const char *thread_id);
extern bool sg_thread_has_hidden_run_from(const char *thread_id, const pg_uuid_t *after);
extern bool sg_lg_checkpoint_firm(const char *thread_id);
extern bool sg_lg_v6_writes_left(const char *thread_id, const char *owner);
extern bool sg_lg_lock_id(const char *thread_id, bool dont_wait);
extern void sg_lg_unlock_id(const char *thread_id);
extern bool sg_caller_is_owner(const char *owner);
extern bool sg_thread_of_another_role(const char *thread_id);	/* below RLS */
/* what a role is told of another role's thread id: raised, or recorded as a background run's error */
#define SG_ANOTHER_ROLES_THREAD_MSG "thread \"%s\" belongs to another role"
#define SG_ANOTHER_ROLES_THREAD_DETAIL \
	"Thread ids are one namespace shared by every role; only the owner of a thread can see or change it."
#define SG_ANOTHER_ROLES_THREAD_HINT "Use another thread id."
extern void sg_refuse_thread_of_another_role(const char *thread_id, const char *detail,
											 const char *hint) pg_attribute_noreturn();	/* 42501 */
extern char *sg_thread_other_owner(const char *thread_id);	/* below RLS */
extern void sg_thread_refuse_in_creation(const char *thread_id);	/* 55P03, lock_wait off */
extern uint64 sg_roles_changes(void);	/* grows with every change to roles seen */
extern void sg_thread_check_still_writable(const char *thread_id);	/* 42501 after a membership revoked mid-call */
extern void sg_refuse_lost_write(const char *thread_id, const char *owner) pg_attribute_noreturn();	/* 42501 */
extern char *sg_task_owner_of_claim(const char *task_id, const pg_uuid_t *token);	/* below RLS */
extern void sg_lg_refuse_another_roles(const char *thread_id);	/* below RLS */
extern bool sg_lg_thread_of_another_role(const char *thread_id);	/* below RLS */
extern bool sg_run_may_not_act(const char *thread_id, const char *run_owner);	/* below RLS */
extern bool sg_first_of_thread(const char *thread_id, int64 seq, const char *owner);	/* FIFO, below RLS */
extern bool sg_thread_has_hidden_run(const char *thread_id);	/* multitask, below RLS */
extern bool sg_thread_hides_a_run(const char *thread_id);	/* any role's, below RLS */
extern Oid	sg_thread_hidden_step_run_role(const char *thread_id, bool waiting_only);
extern uint64 sg_spi_execute_as_hidden_waiting_run(const char *thread_id, SPIPlanPtr plan, Datum *values,
												   const char *nulls);
extern bool sg_thread_has_unseen_run(const char *thread_id);	/* sg_delete_thread, below RLS */

/*
 * SQL: whether the owner of row k (a task or run, whose owner any role can
 * write for itself, naming any thread) may act on thread row t: is its
 * owner or a member of it (a role that no longer exists acts for nobody
 * but its own name). For what a superuser (a background worker) does on
 * a row's behalf, which row-level security does not stop.
 */
#define OWNER_ACTS(k, t) \
	"(" k ".owner OPERATOR(pg_catalog.=) " t ".owner OR pg_catalog.pg_has_role(" \
	"  pg_catalog.to_regrole(pg_catalog.quote_ident(" k ".owner::pg_catalog.text))::pg_catalog.oid, " \
	"  pg_catalog.to_regrole(pg_catalog.quote_ident(" t ".owner::pg_catalog.text))::pg_catalog.oid, " \
	"  'MEMBER') IS TRUE)"

/*
 * SQL: whether run or task row k counts on thread row t: any role may write
 * such a row naming any thread, under its own name, and one of a role that
 * may not act on the thread must not hold the owner's work up (a left step,
 * retention, expiry) nor be woken as the thread's waiting run. A row of a
 * role above row-level security (a superuser, BYPASSRLS: it runs any
 * thread, as itself) counts, and so does one of a role that no longer
 * exists (its run is woken to fail cleanly).
 */
#define OWNER_COUNTS(k, t) \
	"(" OWNER_ACTS(k, t) " OR NOT EXISTS (SELECT FROM pg_catalog.pg_roles w " \
	"  WHERE w.rolname OPERATOR(pg_catalog.=) " k ".owner AND NOT w.rolsuper AND NOT w.rolbypassrls))"

/* SQL: run r (an alias of stategraph.runs) counts on its thread (OWNER_COUNTS), or the thread is gone or hidden. */
#define RUN_MAY_ACT(r) \
	"NOT EXISTS (SELECT FROM stategraph.threads o WHERE o.thread_id OPERATOR(pg_catalog.=) " r ".thread_id " \
	"  AND NOT " OWNER_COUNTS(r, "o") ")"

/* ---------------------------------------------------------------------------
 * Holds on a role's name: sg_submit's against sg_reassign_owned (reassign.c)
 * ---------------------------------------------------------------------------
 */
extern bool sg_role_hold_may_wait(void);
extern bool sg_role_hold(const char *role, bool may_wait);
extern bool sg_role_try_hold(const char *role);
extern bool sg_role_held(const char *role);
extern void sg_role_hold_current(bool may_wait);
extern void sg_role_hold_names(SPIPlanPtr plan, Datum arg, bool may_wait);
extern bool sg_role_try_hold_names(SPIPlanPtr plan, Datum arg);

/* ---------------------------------------------------------------------------
 * LangGraph.js threads (lgread.c): read by sg_get_state and sg_get_state_history
 * ---------------------------------------------------------------------------
 */
extern bool sg_lg_thread_exists(const char *thread_id);
extern bool sg_lg_thread_visible(const char *thread_id);
extern void sg_refuse_lg_thread(const char *thread_id);
extern void sg_refuse_lg_checkpoint(const pg_uuid_t *id);
extern HeapTuple sg_lg_get_state(TupleDesc desc, const char *thread_id, const pg_uuid_t *id);
extern void sg_lg_get_state_history(ReturnSetInfo *rsinfo, const char *thread_id, int limit,
									const pg_uuid_t *before, Jsonb *filter);
/* ... and (lgmaint.c) by sg_prune, sg_delete_thread (retention.c), the retention sweep (runs.c),
 * sg_export_thread and sg_import_thread (portable.c), with SPI connected */
extern uint64 sg_lg_prune_threads(const char *thread_id, Interval *older_than, int keep_last);
extern void sg_lg_delete_thread_rows(const char *thread_id);
extern uint64 sg_lg_sweep(int limit, bool *pass_over);
extern Jsonb *sg_lg_export_thread(const char *thread_id);
extern bool sg_lg_is_export(Jsonb *data);
extern char *sg_lg_import_thread(Jsonb *data, const char *thread_id);
extern void sg_invalid_export(const char *detail) pg_attribute_noreturn();	/* portable.c */
extern void sg_import_refuse_missing_owner(const char *owner);	/* portable.c */

#endif							/* STATEGRAPH_H */
