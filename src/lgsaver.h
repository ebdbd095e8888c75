/*-------------------------------------------------------------------------
 *
 * lgsaver.h
 *		What the three files of LangGraph checkpoint storage share:
 *		lgsaver.c (the design, the kept plans, locks, put and put_writes),
 *		lgread.c (get_tuple, list, and the threads read from SQL) and
 *		lgmaint.c (delete, copy, prune, delete_for_runs, and stategraph's
 *		maintenance, export and import of these threads).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LGSAVER_H
#define LGSAVER_H

#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "storage/lockdefs.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

/* the kept plans of the sg_lg_ functions (lg_plan, lgsaver.c) */
typedef enum LGPlan
{
	LGP_CP_GET,
	LGP_CP_PARENT,
	LGP_HEAD,
	LGP_CP_UPSERT,
	LGP_BLOB_META,
	LGP_BLOB_BASE,
	LGP_BLOB_BYVER,
	LGP_CP_BYVER,
	LGP_BLOB_UPSERT,
	LGP_BLOB_GET,
	LGP_BLOB_CHAIN,
	LGP_WRITES,
	LGP_SENDS,
	LGP_W_INSERT,
	LGP_W_UPSERT,
	LGP_W_SAME,
	LGP_LIST_NS,
	LGP_LIST_THREAD,
	LGP_LIST_ALL,
	LGP_COUNT
} LGPlan;

/* columns of the checkpoint queries (LGP_CP_GET, LGP_HEAD, LGP_LIST_*) */
#define CP_ID		1
#define CP_PARENT	2
#define CP_CHECKPOINT 3
#define CP_METADATA 4
#define CP_BLOBS	5
#define CP_THREAD	6
#define CP_NS		7
#define CP_CREATED	8

/* the JSON value of value row b: its own, or that of the pending write it refers to */
#define LG_BLOB_VALUE \
	"COALESCE(b.value, (SELECT w.value FROM stategraph.lg_writes w WHERE w.thread_id OPERATOR(pg_catalog.=) b.thread_id " \
	"AND w.checkpoint_ns OPERATOR(pg_catalog.=) b.checkpoint_ns AND w.checkpoint_id OPERATOR(pg_catalog.=) b.wcheckpoint " \
	"AND w.task_id OPERATOR(pg_catalog.=) b.wtask AND w.idx OPERATOR(pg_catalog.=) b.widx))"

/*
 * The order of a checkpoint's pending writes, LangGraph's writesSortKey:
 * task path and task id compared by code point (the bytes of UTF-8), not
 * in the database's collation (an ICU en-US database read "_c" before "B",
 * and a DeltaChannel was rebuilt in another order than the run applied).
 * The bytes of the database's encoding are in that order in UTF8, LATIN1
 * and SQL_ASCII (whose bytes are the client's); in the others (EUC_JP
 * put "Ａ" before "あ") the UTF-8 form is compared first.
 */
#define LG_CODE_POINT_KEY(col) \
	"CASE WHEN pg_catalog.getdatabaseencoding() OPERATOR(pg_catalog.=) ANY ('{UTF8,LATIN1,SQL_ASCII}'::pg_catalog.name[]) " \
	"THEN NULL ELSE pg_catalog.convert_to(" col ", 'UTF8') END, " col " COLLATE pg_catalog.\"C\""
#define LG_WRITES_ORDER \
	LG_CODE_POINT_KEY("task_path") ", " LG_CODE_POINT_KEY("task_id") ", idx"

/* LangGraph's channel of Send tasks (PUSH tasks) */
#define LG_TASKS_CHANNEL	"__pregel_tasks"

/*
 * The modes of the writers' lock of a (thread, namespace). A put takes its
 * namespace's in a mode that conflicts with itself (one put at a time); a
 * delete, prune, copy or import takes it exclusive, which conflicts with
 * every other; put_writes and a subgraph's put take the root's in a mode
 * that conflicts with the exclusive one alone. So a task's write or a
 * subgraph's put never waits for a root put in flight, nor it for them:
 * with share mode, each waited for the other, and two transactions each
 * writing then putting deadlocked (each put waited for the other's write).
 */
#define LG_LOCK_PUT		ShareUpdateExclusiveLock
#define LG_LOCK_REMOVE	ExclusiveLock
#define LG_LOCK_WRITES	RowShareLock

/* values already read by one call, by (channel, writer) (lgread.c) */
typedef struct LGValueCache LGValueCache;

/* lgsaver.c */
extern SPIPlanPtr lg_plan(LGPlan which);
extern uint64 lg_run(LGPlan which, Datum *values, const char *nulls, long count);
extern Datum lg_uuid_datum(const pg_uuid_t *id);
extern pg_uuid_t lg_uuid_parse(const char *s);
extern Datum lg_col(SPITupleTable *tt, uint64 i, int col, bool *isnull);
extern Jsonb *lg_jsonb_col(SPITupleTable *tt, uint64 i, int col);
extern char *lg_text_col(SPITupleTable *tt, uint64 i, int col);
extern text *lg_json_col(SPITupleTable *tt, uint64 i, int col);
extern Jsonb *lg_json_col_jsonb(SPITupleTable *tt, uint64 i, int col);
extern void lg_append_elements(StringInfo out, const char *s, int len, bool *first);
extern char *lg_required_text(FunctionCallInfo fcinfo, int arg, const char *name);
extern char *lg_thread_arg(FunctionCallInfo fcinfo, int arg, const char *name);
extern char *lg_ns_arg(FunctionCallInfo fcinfo, int arg);
extern void lg_required_array(FunctionCallInfo fcinfo, int arg, const char *name);
extern bool lg_lock_mode(const char *thread_id, const char *ns, LOCKMODE mode, bool dont_wait);
extern bool lg_lock_waited(const char *thread_id, const char *ns, LOCKMODE mode);
extern bool lg_wait_stored(const char *thread_id, const char *ns, LOCKMODE mode);
extern void lg_unlock_thread(const char *thread_id);
extern uint64 lg_run_on_thread(SPIPlanPtr *plan, const char *sql, const char *thread_id, long count);
extern bool lg_lock_thread(const char *thread_id, bool dont_wait, bool *taken);
extern uint64 lg_remove_in_batches(Datum threads, uint64 (*remove) (Datum batch, void *arg), void *arg);
extern void lg_hold_owners(Datum threads, bool may_wait);
extern Datum lg_try_hold_all_owners(void);
extern void lg_hold_owner(const char *thread_id, bool may_wait);
extern bool lg_try_hold_owner(const char *thread_id);
extern JsonbValue *lg_find(Jsonb *obj, const char *key);
extern char *lg_find_string(Jsonb *obj, const char *key);
extern Jsonb *lg_checkpoint_col(SPITupleTable *tt, uint64 i);
extern Jsonb *lg_restore_ts(Jsonb *cp, Datum created);
extern Datum lg_stored_text(const char *json, int len);
extern void lg_forget_strays(const char *thread_id);
extern void sg_lg_redigest_thread(const char *thread_id);

/* lgread.c */
extern bool lg_append_value(StringInfo out, Datum thread, Datum ns, const char *channel, const pg_uuid_t *writer, char **type, bytea **bytes, LGValueCache *cache);
extern bool lg_internal_channel(const char *name, int len);

/* lgmaint.c */
extern void lg_rewrite_whole(SPITupleTable *tt, uint64 n);

#endif							/* LGSAVER_H */
