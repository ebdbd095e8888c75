/*-------------------------------------------------------------------------
 *
 * portable.c
 *		Portable threads: sg_export_thread and sg_import_thread (and the
 *		finished runs of a server leaving a router's cluster).
 *
 * An export is the thread's storage as it is, not a replay of its states:
 * the thread row and every checkpoint row, columns unchanged (writes,
 * images, references, segments of append channels, pending writes and
 * interrupts), in checkpoint order:
 *
 *	 {"format": "stategraph.thread", "version": 1,
 *	  "thread": {thread_id, graph, channels, head, status, created_at, ...},
 *	  "checkpoints": [{checkpoint_id, parent_id, parent_thread, step, ...}],
 *	  "fork_writes": {"<checkpoint id>": [[node, {}], ...]} or null,
 *	  "digest": "md5 of the three members above"}
 *
 * Everything a row refers to (its parent, the rows its references and
 * segments point at) is a row of the same thread, so the rows read exactly
 * as before under any thread id, and ids and parents are kept. The one link
 * out of a thread is a fork's first row, whose parent belongs to another
 * thread (parent_thread): it holds no values, and reading it walks on into
 * the source thread. The export gives such a row a full image of its state
 * instead (as sg_checkpoint_materialize would), so an export needs nothing
 * outside itself. Two lookups still follow the link: the node that wrote
 * last (the default as_node of sg_update_state) and the input of a forked
 * input checkpoint. On import, a fork row keeps its link when the checkpoint
 * it starts from exists in the target database, in a thread of the same
 * owner (a copy in the same database, or a thread moved after its source);
 * otherwise it is detached as
 * sg_delete_thread detaches the forks of a deleted source: its writes name
 * the nodes that wrote last (carried in fork_writes), and parent_thread is
 * cleared. A fork of an input checkpoint keeps its source's input in its
 * own row (meta "input_writes", branch.c's sg_fork_start_input), so a
 * detached one resumes as the linked one does; the export adds that copy
 * to a fork row made without it (sg_checkpoint_fork_input).
 *
 * Import checks everything before it writes: the format and version, the
 * digest (any change to the data after export is refused with SQLSTATE
 * SGX02), and that the rows form one readable thread (SGX01): ids unique
 * and well formed, the head among them, every reference and segment
 * pointing at a row of the export, every row whose parent is missing
 * holding a full image. Importing onto an existing thread id is 42710
 * (42501 when it is another role's). A rejected import stores nothing.
 *
 * The thread's owner travels with it: an import belongs to the export's
 * owner when the importing role may own that role's rows (it is that role,
 * a member of it, or a superuser: a backup restored by an administrator, a
 * partition moved by the router's move_partition), else to the importing
 * role. Row-level security makes the same check on the insert. A
 * superuser's import of an export whose owner is no role here is refused
 * (42704, sg_import_refuse_missing_owner): it went to the superuser, whom a
 * later CREATE ROLE did not make give it back, and whose every row an
 * sg_reassign_owned of it moved along (a backup restored before its roles,
 * a partition moved to a server without them); the router's copy for one
 * call (stategraph.import_visitor) keeps that owner instead. The import
 * holds that name as sg_submit holds its own (reassign.c), so that an
 * sg_reassign_owned of it moves the thread with the rest.
 *
 * Runs do not travel with threads: a run stays on the server it was
 * submitted to. One exception, for the router: a server that leaves its
 * cluster (the last partition it served moved away) gives its finished
 * runs to the server that takes that partition (stategraph.adopt_runs),
 * where the router still finds their ids and idempotency keys.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#define SG_EXPORT_FORMAT	"stategraph.thread"
#define SG_EXPORT_VERSION	1

PG_FUNCTION_INFO_V1(sg_export_thread);
PG_FUNCTION_INFO_V1(sg_import_thread);
PG_FUNCTION_INFO_V1(sg_import_visitor);
PG_FUNCTION_INFO_V1(sg_adopt_runs);

/* In stategraph.import_visitor: a copy for the length of a router call, not refused for a missing owner */
static bool importing_visitor = false;

/*
 * The digest of an export's members, as SQL computes it on import: the
 * md5 of their text as UTF-8 (SG_UTF8_MD5), so that an export moves
 * between databases of different encodings (export_locked hashes the same
 * text as it builds the rows, exportbuild.c).
 */
#define DIGEST_TEXT(d) \
	"COALESCE((" d ") OPERATOR(pg_catalog.->) 'thread', 'null')::pg_catalog.text " \
	"OPERATOR(pg_catalog.||) COALESCE((" d ") OPERATOR(pg_catalog.->) 'checkpoints', 'null')::pg_catalog.text " \
	"OPERATOR(pg_catalog.||) COALESCE((" d ") OPERATOR(pg_catalog.->) 'fork_writes', 'null')::pg_catalog.text"
#define DIGEST_SQL(d) SG_UTF8_MD5(DIGEST_TEXT(d))

/*
 * What the rows of thread_id that start a fork of another thread become in
 * an export, by checkpoint id: *images gets their full state (the rows as
 * sg_checkpoint_materialize leaves them, so that reading them needs nothing
 * outside the export), *writes, for those with no writes of their own, the
 * nodes that wrote last before them with empty updates (what
 * sg_delete_thread stores in such a row when it detaches it), *inputs,
 * for those that start a fork of an input checkpoint and keep no copy of
 * its input yet, that input (sg_checkpoint_fork_input: what sg_delete_thread
 * keeps in such a row's meta when it detaches it), which the export adds to
 * the row's meta as "input_writes". All NULL when the thread starts no fork.
 */
static void
fork_rows(SGThread *th, Jsonb **images, Jsonb **writes, Jsonb **inputs)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	SGChannelSet *cs = sg_channelset_from_jsonb(th->channels);
	SGJsonBuilder ib = {0};
	SGJsonBuilder wb = {0};
	SGJsonBuilder nb = {0};
	uint64		i,
				n;
	SPITupleTable *tuptable;

	sg_spi_prepare(&plan, psprintf("SELECT %s FROM stategraph.checkpoints "
								   "WHERE thread_id OPERATOR(pg_catalog.=) $1 AND parent_thread IS NOT NULL "
								   "ORDER BY checkpoint_id", sg_checkpoint_columns), 1, types);
	values[0] = CStringGetTextDatum(th->thread_id);
	n = sg_spi_execute(plan, values, NULL, 0);
	tuptable = SPI_tuptable;
	*images = *writes = *inputs = NULL;
	if (n == 0)
		return;
	sg_jb_begin_object(&ib);
	sg_jb_begin_object(&wb);
	sg_jb_begin_object(&nb);
	for (i = 0; i < n; i++)
	{
		SGCheckpoint *cp = sg_checkpoint_from_tuple(tuptable->vals[i], tuptable->tupdesc);
		char	   *id = sg_uuid_to_cstring(&cp->id);
		Jsonb	   *standin = sg_checkpoint_standin_writes(cp);
		Jsonb	   *input = sg_checkpoint_fork_input(cp);

		sg_jb_key(&ib, id);
		sg_jb_jsonb(&ib, sg_state_to_jsonb(cs, sg_load_state(cs, th->thread_id, &cp->id, NULL)));
		if (input != NULL)
		{
			sg_jb_key(&nb, id);
			sg_jb_jsonb(&nb, input);
		}
		if (standin == NULL)
			continue;
		sg_jb_key(&wb, id);
		sg_jb_jsonb(&wb, standin);
	}
	sg_jb_end_object(&ib);
	sg_jb_end_object(&wb);
	sg_jb_end_object(&nb);
	*images = sg_jb_finish(&ib);
	*writes = sg_jb_finish(&wb);
	*inputs = sg_jb_finish(&nb);
}

/*
 * The error for an export that met jsonb's limit (256 MB a container): the
 * export is too large, not the thread's rows (export_locked).
 */
static void pg_attribute_noreturn()
raise_too_large(ErrorData *edata, const void *thread_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("thread \"%s\" is too large to export", (const char *) thread_id),
			 errdetail("An export is one jsonb value: %s.", edata->message),
			 errhint("sg_prune(keep_last => ..., thread_id => ...) removes its older checkpoints; a thread whose state alone is that large cannot be exported.")));
}

/*
 * The export of a thread whose lock this transaction holds, built row by
 * row (exportbuild.c): the thread row's object, then each checkpoint row's
 * in checkpoint order, both under one snapshot (a read-only transaction
 * takes no lock that would keep writers off between the statements).
 */
static Jsonb *
export_locked(SGThread *th)
{
	static SPIPlanPtr thread_plan;
	static SPIPlanPtr rows_plan;
	Oid			types[3] = {TEXTOID, JSONBOID, JSONBOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	Jsonb	   *images;
	Jsonb	   *writes;
	Jsonb	   *inputs;
	Jsonb	   *volatile thread = NULL;	/* (set in PG_TRY) */
	SGExport	ex;
	SGExportArray checkpoints;
	SGExportMember members[6];
	bool		was;

	fork_rows(th, &images, &writes, &inputs);
	values[0] = CStringGetTextDatum(th->thread_id);
	sg_spi_prepare(&thread_plan, "SELECT pg_catalog.jsonb_build_object("
				   "  'thread_id', t.thread_id, 'graph', t.graph, 'channels', t.channels, "
				   "  'head', t.head, 'status', t.status, 'forked_from', t.forked_from, "
				   "  'created_at', t.created_at, 'updated_at', t.updated_at, 'owner', t.owner) "
				   "FROM stategraph.threads t WHERE t.thread_id OPERATOR(pg_catalog.=) $1", 1, types);
	sg_spi_prepare(&rows_plan, "SELECT pg_catalog.jsonb_build_object("
				   "  'checkpoint_id', c.checkpoint_id, 'parent_id', c.parent_id, "
				   "  'parent_thread', c.parent_thread, 'step', c.step, 'source', c.source, "
				   "  'next', c.next, 'writes', c.writes, "
				   "  'image', CASE WHEN c.parent_thread IS NULL THEN c.image "
				   "                ELSE $2 OPERATOR(pg_catalog.->) (c.checkpoint_id::pg_catalog.text) END, "
				   "  'image_complete', c.image_complete OR c.parent_thread IS NOT NULL, "
				   "  'refs', CASE WHEN c.parent_thread IS NULL THEN c.refs END, "
				   "  'barriers', c.barriers, 'sends', c.sends, 'pending', c.pending, "
				   "  'meta', CASE WHEN $3 OPERATOR(pg_catalog.?) (c.checkpoint_id::pg_catalog.text) "
				   "               THEN COALESCE(c.meta, '{}') OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object("
				   "                 'input_writes', $3 OPERATOR(pg_catalog.->) (c.checkpoint_id::pg_catalog.text)) "
				   "               ELSE c.meta END, "
				   "  'created_at', c.created_at) "
				   "FROM stategraph.checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) $1 "
				   "ORDER BY c.checkpoint_id", 3, types);
	values[1] = images ? JsonbPGetDatum(images) : (Datum) 0;
	nulls[1] = images ? ' ' : 'n';
	values[2] = inputs ? JsonbPGetDatum(inputs) : (Datum) 0;
	nulls[2] = inputs ? ' ' : 'n';

	/*
	 * The thread row and its checkpoint rows under one snapshot, as the one
	 * statement of before read them: a read-only transaction holds no lock,
	 * and a writer's commit between the two statements gave a thread row
	 * older than the checkpoints after it (isolation export_one_snapshot).
	 */
	was = sg_spi_reads_begin();
	PG_TRY();
	{
		if (sg_spi_execute(thread_plan, values, NULL, 1) > 0)
			thread = sg_spi_jsonb(0, 1);
		if (thread == NULL)
			elog(ERROR, "could not export thread \"%s\"", th->thread_id);
		/* the digest's text: thread, checkpoints, fork_writes (DIGEST_TEXT) */
		sg_export_begin(&ex, raise_too_large, th->thread_id);
		sg_export_digest_jsonb(&ex, thread);
		sg_export_rows(&ex, &checkpoints, rows_plan, values, nulls);
	}
	PG_CATCH();
	{
		sg_spi_reads_end(was, true);
		PG_RE_THROW();
	}
	PG_END_TRY();
	sg_spi_reads_end(was, false);
	sg_export_digest_jsonb(&ex, writes);
	sg_export_member_string(&members[0], "format", SG_EXPORT_FORMAT);
	sg_export_member_number(&members[1], "version", CppAsString2(SG_EXPORT_VERSION));
	sg_export_member_jsonb(&members[2], "thread", thread);
	sg_export_member_array(&members[3], "checkpoints", &checkpoints);
	sg_export_member_jsonb(&members[4], "fork_writes", writes);
	sg_export_member_string(&members[5], "digest", sg_export_digest(&ex));
	return sg_export_finish(&ex, members, 6);
}

/* sg_export_thread(thread_id): the thread and all its checkpoints as one jsonb value. */
Datum
sg_export_thread(PG_FUNCTION_ARGS)
{
	char	   *thread_id = sg_arg_text(fcinfo, 0, "thread_id");
	Jsonb	   *result;

	/*
	 * A node of the thread's own run (or a reducer of its update) would
	 * export a step half done: a thread row still "running", its head
	 * behind checkpoints already written, which an import kept as it was.
	 */
	if (sg_thread_running_here(thread_id))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("thread \"%s\" is running in this session", thread_id),
				 errdetail("An export made inside the thread's own run or update would hold a step half done."),
				 errhint("Export it after the run, in this session or another.")));
	sg_spi_connect();
	if (sg_thread_fetch(thread_id, false) == NULL && sg_lg_thread_visible(thread_id))
	{
		result = sg_lg_export_thread(thread_id);	/* a LangGraph.js thread (lgmaint.c) */
		sg_spi_finish();
		PG_RETURN_JSONB_P(result);
	}
	/*
	 * A consistent copy: no writer in between, nor after until the
	 * transaction ends (the row FOR SHARE: other exports, forks and imports
	 * linked to the thread are not held off; checkpoint.c,
	 * thread_fetch_in_mode). A read-only transaction (a partition being
	 * moved, see the router) cannot lock rows, and has no writer to fear
	 * once the calls before it have ended.
	 */
	sg_lock_thread(thread_id, false);
	result = export_locked(XactReadOnly ? sg_thread_fetch_required(thread_id, false)
						   : sg_thread_fetch_shared(thread_id));
	sg_thread_lock_settled(thread_id);
	sg_spi_finish();
	PG_RETURN_JSONB_P(result);
}

/* Refuse an export: SQLSTATE SGX01 with what is wrong with it (also lgmaint.c's imports). */
void
sg_invalid_export(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_SG_INVALID_EXPORT),
			 errmsg("data is not a valid stategraph thread export"),
			 errdetail("%s", detail),
			 errhint("Pass the value sg_export_thread returned, unchanged.")));
}

/* Check the envelope: format, version, members and digest. */
static void
check_envelope(Jsonb *data)
{
	static SPIPlanPtr plan;
	static SPIPlanPtr legacy_plan;
	Oid			types[1] = {JSONBOID};
	Datum		values[1];
	char	   *format;
	Jsonb	   *version;
	char	   *digest;
	char	   *computed;

	if (!sg_jsonb_is_object(data))
		sg_invalid_export("The value is not a JSON object.");
	format = sg_jsonb_get_cstring(data, "format");
	if (format == NULL || strcmp(format, SG_EXPORT_FORMAT) != 0)
		sg_invalid_export("Its \"format\" member is not \"" SG_EXPORT_FORMAT "\".");
	version = sg_jsonb_get(data, "version");
	if (version == NULL || !sg_jsonb_is_scalar(version, jbvNumeric))
		sg_invalid_export("It has no numeric \"version\" member.");
	if (strcmp(JsonbToCString(NULL, &version->root, VARSIZE(version)), CppAsString2(SG_EXPORT_VERSION)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("stategraph thread export version %s is not supported",
						JsonbToCString(NULL, &version->root, VARSIZE(version))),
				 errdetail("This version of stategraph reads export version %d.", SG_EXPORT_VERSION),
				 errhint("Import it with the stategraph version that exported it, or a newer one.")));
	if (!sg_jsonb_is_object(sg_jsonb_get(data, "thread")))
		sg_invalid_export("Its \"thread\" member is not an object.");
	if (!sg_jsonb_is_array(sg_jsonb_get(data, "checkpoints")) ||
		sg_jsonb_array_length(sg_jsonb_get(data, "checkpoints")) == 0)
		sg_invalid_export("Its \"checkpoints\" member is not a non-empty array.");
	digest = sg_jsonb_get_cstring(data, "digest");
	if (digest == NULL)
		sg_invalid_export("It has no \"digest\" member.");

	sg_spi_prepare(&plan, "SELECT " DIGEST_SQL("$1"), 1, types);
	values[0] = JsonbPGetDatum(data);
	computed = sg_spi_execute(plan, values, NULL, 0) > 0 ? sg_spi_text(0, 1) : NULL;
	/* an export made before digests were taken over UTF-8 (SG_UTF8_MD5), in this database's encoding */
	if ((computed == NULL || strcmp(computed, digest) != 0) && sg_digest_may_be_legacy())
	{
		sg_spi_prepare(&legacy_plan, "SELECT pg_catalog.md5(" DIGEST_TEXT("$1") ")", 1, types);
		computed = sg_spi_execute(legacy_plan, values, NULL, 0) > 0 ? sg_spi_text(0, 1) : NULL;
	}
	if (computed == NULL || strcmp(computed, digest) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_SG_EXPORT_TAMPERED),
				 errmsg("stategraph thread export does not match its digest"),
				 errdetail("The data was changed after sg_export_thread made it."),
				 errhint("Export the thread again; pass the value on unchanged (as jsonb or text).")));
}

/*
 * Shorthands for the statements of check_rows and check_reducers
 * (schema-qualified, as everywhere).
 */
#define GET " OPERATOR(pg_catalog.->) "
#define GETT " OPERATOR(pg_catalog.->>) "
#define EQ " OPERATOR(pg_catalog.=) "
#define TYPEOF(x) "pg_catalog.jsonb_typeof(" x ")"
#define OBJECT_OR_EMPTY(x) "CASE WHEN " TYPEOF(x) EQ "'object' THEN " x " ELSE '{}' END"
#define ARRAY_OR_EMPTY(x) "CASE WHEN " TYPEOF(x) EQ "'array' THEN " x " ELSE '[]' END"
/* w is not a write: [node, update] */
#define NOT_A_WRITE(w) \
	"(" TYPEOF(w) EQ "'array' AND pg_catalog.jsonb_array_length(" w ")" EQ "2 " \
	"AND " TYPEOF(w GET "0") EQ "'string' AND " TYPEOF(w GET "1") EQ "'object') IS NOT TRUE"

/*
 * Check that the rows form one readable thread before anything is stored;
 * the first problem found is the error.
 */
static void
check_rows(Jsonb *data)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {JSONBOID};
	Datum		values[1];
	char	   *problem;

	sg_spi_prepare(&plan,
			"WITH t AS (SELECT $1 OPERATOR(pg_catalog.->) 'thread' AS t), "
			"r AS (SELECT e, o FROM pg_catalog.jsonb_array_elements($1 OPERATOR(pg_catalog.->) 'checkpoints') WITH ORDINALITY x(e, o)), "
			"ok AS (SELECT e, o, COALESCE(pg_catalog.jsonb_typeof(e) OPERATOR(pg_catalog.=) 'object' "
			/* every member an export writes, each of its type (JSON null where a column may be NULL) */
			"   AND e OPERATOR(pg_catalog.?&) ARRAY['checkpoint_id', 'parent_id', 'parent_thread', 'step', 'source', 'next', "
			"       'writes', 'image', 'image_complete', 'refs', 'barriers', 'sends', 'pending', 'meta', 'created_at'] "
			"   AND (e OPERATOR(pg_catalog.->>) 'checkpoint_id') OPERATOR(pg_catalog.~) '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' "
			"   AND (e OPERATOR(pg_catalog.->) 'parent_id' OPERATOR(pg_catalog.=) 'null' OR (e OPERATOR(pg_catalog.->>) 'parent_id') OPERATOR(pg_catalog.~) '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$') "
			/* a step stategraph numbers: -1 (the input of a new thread) or more (an int4 past that: SGX01 when stored) */
			"   AND CASE WHEN pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'step') OPERATOR(pg_catalog.=) 'number' "
			"       THEN (e OPERATOR(pg_catalog.->) 'step')::pg_catalog.numeric OPERATOR(pg_catalog.>=) -1 ELSE false END "
			"   AND pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'source') OPERATOR(pg_catalog.=) 'string' "
			"   AND pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'parent_thread') OPERATOR(pg_catalog.=) ANY (ARRAY['string', 'null']) "
			"   AND CASE WHEN pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'next') OPERATOR(pg_catalog.=) 'array' "
			"       THEN NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(e OPERATOR(pg_catalog.->) 'next') n "
			"                        WHERE pg_catalog.jsonb_typeof(n) OPERATOR(pg_catalog.<>) 'string') ELSE false END "
			"   AND pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'image_complete') OPERATOR(pg_catalog.=) 'boolean' "
			"   AND pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'created_at') OPERATOR(pg_catalog.=) 'string' "
			"   AND pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'refs') OPERATOR(pg_catalog.=) ANY (ARRAY['object', 'null']) "
			"   AND pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'image') OPERATOR(pg_catalog.=) ANY (ARRAY['object', 'null']) "
			"   AND CASE WHEN " TYPEOF("e" GET "'writes'") EQ "'null' THEN true "
			"       WHEN " TYPEOF("e" GET "'writes'") EQ "'array' THEN NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(e OPERATOR(pg_catalog.->) 'writes') w "
			"         WHERE " NOT_A_WRITE("w") ") "
			"       ELSE false END "
			"   AND pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'barriers') OPERATOR(pg_catalog.=) ANY (ARRAY['object', 'null']) "
			"   AND CASE WHEN " TYPEOF("e" GET "'sends'") EQ "'null' THEN true "
			"       WHEN " TYPEOF("e" GET "'sends'") EQ "'array' THEN NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(e OPERATOR(pg_catalog.->) 'sends') x "
			"         WHERE pg_catalog.jsonb_typeof(x) OPERATOR(pg_catalog.<>) 'object') ELSE false END "
			"   AND pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'pending') OPERATOR(pg_catalog.=) ANY (ARRAY['object', 'null']) "
			"   AND pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'meta') OPERATOR(pg_catalog.=) ANY (ARRAY['object', 'null']) "
			/* a static interrupt's marker: {"when": "before" | "after", "nodes": [names]} */
			"   AND CASE WHEN (e OPERATOR(pg_catalog.#>) '{meta,interrupt}') IS NULL THEN true "
			"       WHEN pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.#>) '{meta,interrupt,nodes}') OPERATOR(pg_catalog.=) 'array' "
			"       THEN (e OPERATOR(pg_catalog.#>) '{meta,interrupt,when}') OPERATOR(pg_catalog.=) ANY (ARRAY['\"before\"', '\"after\"']::pg_catalog.jsonb[]) "
			"         AND NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(e OPERATOR(pg_catalog.#>) '{meta,interrupt,nodes}') n "
			"                         WHERE pg_catalog.jsonb_typeof(n) OPERATOR(pg_catalog.<>) 'string') "
			"       ELSE false END, false) AS good "
			"   FROM r), "
			"ids AS (SELECT e OPERATOR(pg_catalog.->>) 'checkpoint_id' AS id FROM r) "
			"SELECT COALESCE("
			" (SELECT 'The thread lacks one of thread_id, graph, channels, head, status, created_at, updated_at and owner, or has it of another type.' FROM t "
			"   WHERE (pg_catalog.jsonb_typeof(t OPERATOR(pg_catalog.->) 'thread_id') OPERATOR(pg_catalog.=) 'string') IS NOT TRUE "
			"      OR (pg_catalog.jsonb_typeof(t OPERATOR(pg_catalog.->) 'graph') OPERATOR(pg_catalog.=) 'string') IS NOT TRUE "
			"      OR (pg_catalog.jsonb_typeof(t OPERATOR(pg_catalog.->) 'channels') OPERATOR(pg_catalog.=) 'object') IS NOT TRUE "
			"      OR (pg_catalog.jsonb_typeof(t OPERATOR(pg_catalog.->) 'head') OPERATOR(pg_catalog.=) 'string') IS NOT TRUE "
			"      OR (pg_catalog.jsonb_typeof(t OPERATOR(pg_catalog.->) 'status') OPERATOR(pg_catalog.=) 'string') IS NOT TRUE "
			"      OR (pg_catalog.jsonb_typeof(t OPERATOR(pg_catalog.->) 'created_at') OPERATOR(pg_catalog.=) 'string') IS NOT TRUE "
			"      OR (pg_catalog.jsonb_typeof(t OPERATOR(pg_catalog.->) 'updated_at') OPERATOR(pg_catalog.=) 'string') IS NOT TRUE "
			"      OR (pg_catalog.jsonb_typeof(t OPERATOR(pg_catalog.->) 'owner') OPERATOR(pg_catalog.=) ANY (ARRAY['string', 'null'])) IS NOT TRUE), "
			/* the thread's status and its channels' store kinds (channel.c reads any other kind as none) */
			" (SELECT pg_catalog.format('The thread''s status %s is not one of a thread.', t OPERATOR(pg_catalog.->) 'status') FROM t "
			"   WHERE (t OPERATOR(pg_catalog.->>) 'status') OPERATOR(pg_catalog.<>) ALL (ARRAY['idle', 'running', 'waiting', 'interrupted', 'error', 'done'])), "
			" (SELECT pg_catalog.format('Channel \"%s\" has the store kind %s, not \"append\", \"image\" or \"last\".', k.key, k.value) "
			"   FROM t, pg_catalog.jsonb_each(t OPERATOR(pg_catalog.->) 'channels') k "
			"   WHERE k.value OPERATOR(pg_catalog.<>) ALL (ARRAY['\"append\"', '\"image\"', '\"last\"']::pg_catalog.jsonb[]) LIMIT 1), "
			" (SELECT 'The thread has no channels.' FROM t WHERE t OPERATOR(pg_catalog.->) 'channels' OPERATOR(pg_catalog.=) '{}'), "
			/* fork_writes become a detached fork row's writes: null, or {"<checkpoint id>": [[node, {}], ...]} */
			" (SELECT 'Its \"fork_writes\" member is not null or an object of writes.' "
			"   WHERE " TYPEOF("$1" GET "'fork_writes'") " OPERATOR(pg_catalog.<>) ALL (ARRAY['null', 'object']) "
			"      OR EXISTS (SELECT 1 FROM pg_catalog.jsonb_each(" OBJECT_OR_EMPTY("$1" GET "'fork_writes'") ") f "
			"                 WHERE " TYPEOF("f.value") " OPERATOR(pg_catalog.<>) 'array' OR EXISTS "
			"                   (SELECT 1 FROM pg_catalog.jsonb_array_elements(" ARRAY_OR_EMPTY("f.value") ") w "
			"                    WHERE " NOT_A_WRITE("w") "))), "
			" (SELECT pg_catalog.format('Checkpoint #%s is malformed.', o) FROM ok WHERE NOT good ORDER BY o LIMIT 1), "
			" (SELECT pg_catalog.format('Checkpoint %s appears twice.', id) FROM ids GROUP BY id "
			"   HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1 LIMIT 1), "
			" (SELECT pg_catalog.format('The head %s is not among the checkpoints.', t OPERATOR(pg_catalog.->>) 'head') FROM t "
			"   WHERE NOT EXISTS (SELECT 1 FROM ids WHERE ids.id OPERATOR(pg_catalog.=) (t OPERATOR(pg_catalog.->>) 'head'))), "
			" (SELECT pg_catalog.format('Checkpoint %s refers to %s, which is not in the export.', e OPERATOR(pg_catalog.->>) 'checkpoint_id', x.value) "
			"   FROM r, pg_catalog.jsonb_each(" OBJECT_OR_EMPTY("e" GET "'refs'") ") x "
			"   WHERE x.value OPERATOR(pg_catalog.<>) 'null' AND NOT EXISTS "
			"     (SELECT 1 FROM ids WHERE ids.id OPERATOR(pg_catalog.=) (x.value OPERATOR(pg_catalog.#>>) '{}')) LIMIT 1), "
			/*
			 * Reading walks from a row to older ones (ids are time-ordered):
			 * a parent, or a reference, that is not older than its row would
			 * make it read wrong, or loop for ever. A fork row's parent too
			 * (a fork's id is made above the checkpoint it starts from): an
			 * import detaches a row whose source thread is not here, and its
			 * parent is then looked up in its own thread.
			 */
			" (SELECT pg_catalog.format('Checkpoint %s refers to %s, which is not older than it.', e OPERATOR(pg_catalog.->>) 'checkpoint_id', x.value) "
			"   FROM r, pg_catalog.jsonb_each(" OBJECT_OR_EMPTY("e" GET "'refs'") ") x "
			"   WHERE x.value OPERATOR(pg_catalog.<>) 'null' AND (x.value OPERATOR(pg_catalog.#>>) '{}') COLLATE pg_catalog.\"C\" "
			"     OPERATOR(pg_catalog.>=) (e OPERATOR(pg_catalog.->>) 'checkpoint_id') COLLATE pg_catalog.\"C\" LIMIT 1), "
			" (SELECT pg_catalog.format('Checkpoint %s has a parent that is not older than it.', e OPERATOR(pg_catalog.->>) 'checkpoint_id') "
			"   FROM r WHERE (e OPERATOR(pg_catalog.->>) 'parent_id') COLLATE pg_catalog.\"C\" "
			"     OPERATOR(pg_catalog.>=) (e OPERATOR(pg_catalog.->>) 'checkpoint_id') COLLATE pg_catalog.\"C\" LIMIT 1), "
			/* a row that starts a fork of another thread is exported with a full image */
			" (SELECT pg_catalog.format('Checkpoint %s starts a fork of thread %s without a full image.', "
			"       e OPERATOR(pg_catalog.->>) 'checkpoint_id', e OPERATOR(pg_catalog.->) 'parent_thread') "
			"   FROM r WHERE e OPERATOR(pg_catalog.->) 'parent_thread' OPERATOR(pg_catalog.<>) 'null' "
			"   AND NOT ((e OPERATOR(pg_catalog.->) 'image_complete') OPERATOR(pg_catalog.=) 'true' "
			"            AND pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'image') OPERATOR(pg_catalog.=) 'object') LIMIT 1), "
			" (SELECT pg_catalog.format('Checkpoint %s has neither its parent nor a full image.', e OPERATOR(pg_catalog.->>) 'checkpoint_id') "
			"   FROM r WHERE NOT (e OPERATOR(pg_catalog.->) 'image_complete') OPERATOR(pg_catalog.=) 'true' "
			"   AND NOT EXISTS (SELECT 1 FROM ids WHERE ids.id OPERATOR(pg_catalog.=) (e OPERATOR(pg_catalog.->>) 'parent_id')) LIMIT 1))",
			1, types);
	values[0] = JsonbPGetDatum(data);
	problem = sg_spi_execute(plan, values, NULL, 0) > 0 ? sg_spi_text(0, 1) : NULL;
	if (problem != NULL)
		sg_invalid_export(problem);
}

/* The conversions of the columns the rows become, as sg_spi_subxact runs them. */
static bool
convert_rows(void *arg)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {JSONBOID};
	Datum		values[1];

	sg_spi_prepare(&plan,
			"SELECT pg_catalog.count(*), ($1 OPERATOR(pg_catalog.#>>) '{thread,head}')::pg_catalog.uuid, "
			"  ($1 OPERATOR(pg_catalog.#>>) '{thread,created_at}')::pg_catalog.timestamptz, "
			"  ($1 OPERATOR(pg_catalog.#>>) '{thread,updated_at}')::pg_catalog.timestamptz "
			"FROM pg_catalog.jsonb_to_recordset($1 OPERATOR(pg_catalog.->) 'checkpoints') "
			"  AS x(checkpoint_id pg_catalog.uuid, parent_id pg_catalog.uuid, step integer, next pg_catalog.text[], "
			"  created_at pg_catalog.timestamptz)", 1, types);
	values[0] = JsonbPGetDatum((Jsonb *) arg);
	sg_spi_execute(plan, values, NULL, 0);
	return false;				/* nothing to keep */
}

/*
 * Check that every value converts to its column's type (a step that is no
 * integer, a time that is no time): SGX01 instead of the conversion's own
 * error, which would not say that the export is at fault.
 */
static void
check_values(Jsonb *data)
{
	ErrorData  *edata = sg_spi_subxact(convert_rows, data);

	if (edata == NULL)
		return;
	if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
		ReThrowError(edata);	/* a cancel, out of memory: not the data's fault */
	sg_invalid_export(psprintf("A value does not convert to its type: %s.", edata->message));
}

/*
 * Check that every value the export holds for a channel is what the
 * channel's reducer takes, as a run checks each update: an array for an
 * append channel (the thread's own channels say which those are), a number
 * for add and an object for merge (the graph of this database that has the
 * thread's graph name says which; without that graph, or where it gives the
 * channel another store kind, which a run refuses anyway, nothing to
 * check). Values are in images, writes, pending writes and the writes of
 * detached forks. Such a value imported fine, and then every run of the
 * thread failed blaming a node, or a read silently dropped it: 42804 (the
 * SQLSTATE of a run's update that does not fit) before anything is stored.
 */
static void
check_reducers(Jsonb *data)
{
	static SPIPlanPtr plan;
	Oid			types[1] = {JSONBOID};
	Datum		values[1];

	/*
	 * The channels' reducers are read once, into one object (want) each
	 * value looks its channel up in: inlined, the channels were read again,
	 * and the graph's spec decompressed for each of them, at every image and
	 * write (time in checkpoints x channels, 16 s for 3 checkpoints of 5,000
	 * channels).
	 */
	sg_spi_prepare(&plan,
			"WITH t AS (SELECT $1" GET "'thread' AS t), "
			"g AS MATERIALIZED (SELECT COALESCE(g.spec" GET "'channels', g.channels) AS ch FROM stategraph.graphs g, t "
			"      WHERE g.graph" EQ "(t" GETT "'graph')), "
			"want AS MATERIALIZED (SELECT pg_catalog.jsonb_object_agg(k.key, x.reducer) AS m "
			"  FROM t, pg_catalog.jsonb_each(" OBJECT_OR_EMPTY("t" GET "'channels'") ") k, "
			"    LATERAL (SELECT CASE WHEN k.value" EQ "'\"append\"' THEN 'append' "
			"           WHEN k.value" EQ "'\"image\"' THEN (SELECT r FROM g, LATERAL (SELECT g.ch" GET "k.key" GETT "'reducer' AS r) x "
			"                                             WHERE r" EQ "ANY (ARRAY['add', 'merge'])) END AS reducer) x "
			"  WHERE x.reducer IS NOT NULL), "
			"c AS (SELECT e FROM pg_catalog.jsonb_array_elements($1" GET "'checkpoints') x(e)), "
			"u AS (SELECT e" GETT "'checkpoint_id' AS id, e" GET "'image' AS u FROM c "
			"  UNION ALL SELECT e" GETT "'checkpoint_id', w" GET "1 FROM c, "
			"    pg_catalog.jsonb_array_elements(" ARRAY_OR_EMPTY("e" GET "'writes'") ") w "
			"  UNION ALL SELECT e" GETT "'checkpoint_id', p.value" GET "'writes' FROM c, "
			"    pg_catalog.jsonb_each(" OBJECT_OR_EMPTY("e" GET "'pending'") ") p "
			"  UNION ALL SELECT f.key, w" GET "1 FROM pg_catalog.jsonb_each(" OBJECT_OR_EMPTY("$1" GET "'fork_writes'") ") f, "
			"    pg_catalog.jsonb_array_elements(" ARRAY_OR_EMPTY("f.value") ") w) "
			"SELECT u.id, v.key, w.reducer, " TYPEOF("v.value") ", (SELECT t" GETT "'graph' FROM t) "
			"FROM u, pg_catalog.jsonb_each(" OBJECT_OR_EMPTY("u.u") ") v, want m, "
			"  LATERAL (SELECT m.m" GETT "v.key AS reducer) w "
			"WHERE w.reducer IS NOT NULL "
			"  AND " TYPEOF("v.value") " OPERATOR(pg_catalog.<>) "
			"      CASE WHEN w.reducer" EQ "'append' THEN 'array' WHEN w.reducer" EQ "'add' THEN 'number' ELSE 'object' END "
			/*
			 * The first value found, in no order: sorting them all costs the
			 * (estimated) whole join, past jit_above_cost, and each import
			 * then compiled the statement (a second each).
			 */
			"LIMIT 1", 1, types);
	values[0] = JsonbPGetDatum(data);
	if (sg_spi_execute(plan, values, NULL, 0) > 0)
	{
		char	   *id = sg_spi_text(0, 1);
		char	   *channel = sg_spi_text(0, 2);
		char	   *reducer = sg_spi_text(0, 3);
		char	   *graph = sg_spi_text(0, 5);

		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("thread export holds a JSON %s for channel \"%s\" at checkpoint %s, where %s expects %s",
						sg_spi_text(0, 4), channel, id, reducer,
						strcmp(reducer, "append") == 0 ? "an array" :
						strcmp(reducer, "add") == 0 ? "a number" : "an object"),
				 strcmp(reducer, "append") == 0 ?
				 errdetail("The thread's channels make \"%s\" an append channel.", channel) :
				 errdetail("Graph \"%s\" of this database gives channel \"%s\" the reducer %s; every run of the thread would fail on this value.",
						   graph, channel, reducer),
				 errhint("Import the value sg_export_thread returned, unchanged, where graph \"%s\" has the channels it was written with.",
						 graph)));
	}
}

/*
 * The owner of an imported thread, t its export's "thread": the export's
 * owner if this role may own its rows (itself, a role it is a member of; a
 * superuser: any), else the importing role.
 */
#define IMPORT_OWNER \
	"CASE WHEN stategraph.owned((t OPERATOR(pg_catalog.->>) 'owner')::pg_catalog.name) " \
	"THEN (t OPERATOR(pg_catalog.->>) 'owner')::pg_catalog.name ELSE CURRENT_USER END"

/*
 * The owner of the router's copy (stategraph.import_visitor) that a
 * superuser makes of a thread whose owner is no role here (a dropped
 * role's): the export's owner all the same. A fork inherits its source's
 * owner (branch.c), so sg_fork of such a thread on one server makes a
 * thread of the dropped role's name; the copy went to the superuser
 * (owned() is false for no role), and so did the fork made from it across
 * servers, silently (TAP 235).
 */
#define VISITOR_OWNER "(t OPERATOR(pg_catalog.->>) 'owner')::pg_catalog.name"

/* Whether the import keeps the export's owner as it is: VISITOR_OWNER. */
static bool
keeps_missing_owner(Jsonb *data)
{
	const char *owner = sg_jsonb_get_cstring(sg_jsonb_get(data, "thread"), "owner");

	return importing_visitor && superuser() && owner != NULL && owner[0] != '\0' &&
		strlen(owner) < NAMEDATALEN;
}

/*
 * Store the thread row and the checkpoints under thread_id. A fork row keeps
 * its link to another thread only when the checkpoint it starts from exists
 * here (not a thread of the same name alone: a source pruned since the
 * export, or another database's thread, would leave it linked to nothing,
 * without the writes that name the nodes that ran last), in a thread of
 * the import's owner (another owner may not see the import, and could not
 * detach it when it deletes or prunes its thread: branch.c). The source's
 * row is share-locked until the import commits (lock_fork_sources took it
 * already, not waiting while it held the thread's lock), as sg_fork locks it: a
 * concurrent sg_delete_thread or sg_prune of it, which lists the forks to
 * detach, waits for the import and sees its rows, or the import waits and
 * finds the checkpoint gone. FOR SHARE, not FOR KEY SHARE: a prune locks
 * the row FOR NO KEY UPDATE (checkpoint.c), which passes a key share
 * over. The thread
 * row comes first (row-level security lets a role write checkpoints only
 * into a thread it owns), and learns the threads its forks start from last.
 * The link is looked up for a fork row alone, one index probe each (OFFSET
 * 0: not hashed): the plan cache's generic plan hashed every thread of
 * the table for each import, and imports of thousands of threads in one
 * transaction took time growing with the square of their number.
 */
static void
store(Jsonb *data, const char *thread_id)
{
	static SPIPlanPtr rows;
	static SPIPlanPtr thread;
	static SPIPlanPtr thread_visitor;
	static SPIPlanPtr forks;
	Oid			types[2] = {JSONBOID, TEXTOID};
	Datum		values[2];
	bool		keep = keeps_missing_owner(data);

	sg_spi_prepare(&rows,
			"INSERT INTO stategraph.checkpoints (" "thread_id, checkpoint_id, parent_id, parent_thread, step, "
			"  source, next, writes, image, image_complete, refs, barriers, sends, pending, meta, created_at) "
			"SELECT $2, x.checkpoint_id, x.parent_id, CASE WHEN linked THEN x.parent_thread END, x.step, "
			"  x.source, x.next, CASE WHEN linked OR x.parent_thread IS NULL THEN x.writes "
			"  ELSE COALESCE($1 OPERATOR(pg_catalog.->) 'fork_writes' OPERATOR(pg_catalog.->) (x.checkpoint_id::pg_catalog.text), x.writes) END, "
			"  x.image, x.image_complete, x.refs, x.barriers, x.sends, x.pending, x.meta, x.created_at "
			"FROM pg_catalog.jsonb_to_recordset($1 OPERATOR(pg_catalog.->) 'checkpoints') AS x(checkpoint_id pg_catalog.uuid, parent_id pg_catalog.uuid, "
			"  parent_thread pg_catalog.text, step integer, source pg_catalog.text, next pg_catalog.text[], "
			"  writes pg_catalog.jsonb, image pg_catalog.jsonb, "
			"  image_complete boolean, refs pg_catalog.jsonb, barriers pg_catalog.jsonb, sends pg_catalog.jsonb, "
			"  pending pg_catalog.jsonb, meta pg_catalog.jsonb, "
			"  created_at pg_catalog.timestamptz), "
			"LATERAL (SELECT CASE WHEN x.parent_thread IS NULL OR x.parent_thread OPERATOR(pg_catalog.=) $2 THEN false "
			"  ELSE EXISTS (SELECT 1 FROM stategraph.threads st JOIN stategraph.checkpoints s "
			"  ON s.thread_id OPERATOR(pg_catalog.=) st.thread_id "
			"  WHERE st.thread_id OPERATOR(pg_catalog.=) x.parent_thread "
			"  AND s.checkpoint_id OPERATOR(pg_catalog.=) x.parent_id "
			"  AND st.owner OPERATOR(pg_catalog.=) (SELECT d.owner FROM stategraph.threads d "
			"                                       WHERE d.thread_id OPERATOR(pg_catalog.=) $2) "
			"  OFFSET 0 FOR SHARE OF st) END AS linked) l "
			"ORDER BY x.checkpoint_id", 2, types);
#define INSERT_THREAD(owner) \
			"INSERT INTO stategraph.threads (thread_id, graph, channels, head, forked_from, status, created_at, updated_at, owner) " \
			"SELECT $2, t OPERATOR(pg_catalog.->>) 'graph', t OPERATOR(pg_catalog.->) 'channels', (t OPERATOR(pg_catalog.->>) 'head')::pg_catalog.uuid, NULL, " \
			"  t OPERATOR(pg_catalog.->>) 'status', (t OPERATOR(pg_catalog.->>) 'created_at')::pg_catalog.timestamptz, (t OPERATOR(pg_catalog.->>) 'updated_at')::pg_catalog.timestamptz, " \
			"  " owner " " \
			"FROM (SELECT $1 OPERATOR(pg_catalog.->) 'thread' AS t) s ON CONFLICT (thread_id) DO NOTHING"
	if (keep)
		sg_spi_prepare(&thread_visitor, INSERT_THREAD(VISITOR_OWNER), 2, types);
	else
		sg_spi_prepare(&thread, INSERT_THREAD(IMPORT_OWNER), 2, types);
	sg_spi_prepare(&forks,
			"UPDATE stategraph.threads SET forked_from = "
			"  (SELECT pg_catalog.array_agg(DISTINCT c.parent_thread ORDER BY c.parent_thread) "
			"   FROM stategraph.checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) $2 "
			"   AND c.parent_thread IS NOT NULL) "
			"WHERE thread_id OPERATOR(pg_catalog.=) $2 AND $1 IS NOT NULL", 2, types);
	values[0] = JsonbPGetDatum(data);
	values[1] = CStringGetTextDatum(thread_id);
	/*
	 * The caller saw no row under its lock: a row there now is another
	 * role's, or one a transaction that created the thread meanwhile
	 * committed (an import, fork or run of the same id, which the insert
	 * waited for): a serialization failure, as for sg_thread_create, not
	 * "another role" (isolation import_race).
	 */
	if (sg_thread_insert(keep ? thread_visitor : thread, values, thread_id) == 0)
		sg_refuse_thread_inserted(thread_id);
	sg_spi_execute(rows, values, NULL, 0);
	sg_spi_execute(forks, values, NULL, 0);
}

/*
 * Refuse a superuser's import of rows whose owner (in the export) is no
 * role here: the export's owner is kept for a role that may own its rows,
 * which a superuser may whatever the role, so the import would have gone
 * to the superuser instead, silently, and stayed there (see the top).
 * Another role's import of such rows is a copy of its own, as of any
 * owner's. An owner too long for a role name is left to the caller's
 * checks (it names no role anywhere). Nor is the router's copy refused
 * (stategraph.import_visitor): it is deleted before its call returns, and
 * sg_fork or sg_update_state from a checkpoint of a dropped role's thread
 * works on one server, so it does across servers.
 */
void
sg_import_refuse_missing_owner(const char *owner)
{
	if (owner == NULL || importing_visitor || !superuser() || strlen(owner) >= NAMEDATALEN ||
		OidIsValid(get_role_oid(owner, true)))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("role \"%s\" that owns the exported thread does not exist", owner),
			 errdetail("A superuser's import keeps the owner of the export; the thread would have belonged to role \"%s\" instead.",
					   GetUserNameFromId(GetUserId(), false)),
			 errhint("Create role \"%s\" first, or import as the role that is to own the thread (SET ROLE).", owner)));
}

/*
 * Hold the name the thread goes under (reassign.c), before its lock: an
 * sg_reassign_owned of that name waits for the import's commit, and moves
 * its rows with the rest.
 */
static void
hold_owner(Jsonb *data)
{
	static SPIPlanPtr plan;
	static SPIPlanPtr visitor_plan;
	Oid			t = JSONBOID;

	sg_import_refuse_missing_owner(sg_jsonb_get_cstring(sg_jsonb_get(data, "thread"), "owner"));
#define OWNER_NAME(owner) "SELECT (" owner ")::pg_catalog.text FROM (SELECT $1 OPERATOR(pg_catalog.->) 'thread' AS t) s"
	sg_role_hold_names(keeps_missing_owner(data) ? sg_spi_prepare(&visitor_plan, OWNER_NAME(VISITOR_OWNER), 1, &t)
					   : sg_spi_prepare(&plan, OWNER_NAME(IMPORT_OWNER), 1, &t),
					   JsonbPGetDatum(data), sg_role_hold_may_wait());
}

/* One try of lock_fork_sources (an SGRowsTryFn). */
typedef struct ForkSources
{
	Jsonb	   *data;
	const char *thread_id;
} ForkSources;

static char *
fork_sources_try(void *arg, SGRowMode *mode)
{
	static SPIPlanPtr plan;
	static SPIPlanPtr visitor_plan;
	ForkSources *f = (ForkSources *) arg;
	Oid			types[2] = {JSONBOID, TEXTOID};
	Datum		values[2] = {JsonbPGetDatum(f->data), CStringGetTextDatum(f->thread_id)};
	bool		isnull;
	Datum		ids;

	/* one index probe per fork row (OFFSET 0: not hashed, as in store) */
#define SOURCES_SQL(owner) \
	"SELECT pg_catalog.array_agg(DISTINCT l.thread_id) " \
	"FROM pg_catalog.jsonb_to_recordset($1 OPERATOR(pg_catalog.->) 'checkpoints') " \
	"  AS x(parent_id pg_catalog.uuid, parent_thread pg_catalog.text), " \
	"LATERAL (SELECT st.thread_id FROM stategraph.threads st " \
	"  WHERE st.thread_id OPERATOR(pg_catalog.=) x.parent_thread " \
	"  AND st.owner OPERATOR(pg_catalog.=) (SELECT " owner " FROM (SELECT $1 OPERATOR(pg_catalog.->) 'thread' AS t) s) " \
	"  AND EXISTS (SELECT 1 FROM stategraph.checkpoints c WHERE c.thread_id OPERATOR(pg_catalog.=) st.thread_id " \
	"              AND c.checkpoint_id OPERATOR(pg_catalog.=) x.parent_id) OFFSET 0) l " \
	"WHERE x.parent_thread OPERATOR(pg_catalog.<>) $2"
	sg_spi_execute(keeps_missing_owner(f->data) ? sg_spi_prepare(&visitor_plan, SOURCES_SQL(VISITOR_OWNER), 2, types)
				   : sg_spi_prepare(&plan, SOURCES_SQL(IMPORT_OWNER), 2, types),
				   values, NULL, 1);
	ids = sg_spi_datum(0, SG_SOLE_COLUMN, &isnull);
	*mode = SG_ROW_FOR_SHARE;
	return sg_try_lock_rows(isnull ? (Datum) 0 : ids, SG_ROW_FOR_SHARE);
}

/*
 * Share-lock the rows of the threads the export's fork rows stay linked to
 * (store's links: the checkpoint a fork row starts from exists there, in a
 * thread of the import's owner), before store, whose statement then finds
 * them held already. The caller holds thread_id's lock, and the rows are
 * taken apart (retention.c, "Rows taken apart"): a busy one, a writer's of
 * the source, is waited for with the lock let go, and the lock taken again
 * before the next try. Waiting with it, the import deadlocked with a
 * transaction that had written the source and then asked for thread_id
 * (an import or sg_fork into it; isolation export_import_crossed). An
 * export of the source (FOR SHARE, checkpoint.c) is not waited for.
 * Returns whether the lock was let go meanwhile.
 */
static bool
lock_fork_sources(Jsonb *data, const char *thread_id)
{
	ForkSources f = {data, thread_id};
	Jsonb	   *fork_writes = sg_jsonb_get(data, "fork_writes");

	/*
	 * An export of a thread with no fork row has no fork_writes (export_locked):
	 * nothing to lock, and no subtransaction (TAP 094_import_many's
	 * thousands of imports in one transaction). One that has fork rows all
	 * the same (made by hand) is share-locked by store, as before.
	 */
	if (fork_writes == NULL || !sg_jsonb_is_object(fork_writes))
		return false;
	return sg_lock_rows_apart(fork_sources_try, &f, sg_one_thread_lock, (void *) thread_id);
}

/* 42710 for an import onto a thread that exists (its lock held). */
static void
refuse_existing(const char *thread_id)
{
	if (sg_thread_fetch(thread_id, true) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("thread \"%s\" already exists", thread_id),
				 errhint("Import under a new thread id, or delete the thread first.")));
}

/*
 * sg_import_thread(data, thread_id DEFAULT NULL): store an export under its
 * own thread id, or under thread_id; returns the thread id.
 */
Datum
sg_import_thread(PG_FUNCTION_ARGS)
{
	Jsonb	   *data;
	char	   *thread_id;
	bool		claimed;

	sg_require_arg(fcinfo, 0, "data");
	data = PG_GETARG_JSONB_P(0);
	sg_prevent_write("sg_import_thread");
	sg_spi_connect();
	if (sg_lg_is_export(data))
	{
		thread_id = sg_lg_import_thread(data, sg_arg_text_or_null(fcinfo, 1));	/* lgmaint.c */
		sg_spi_finish();
		PG_RETURN_TEXT_P(cstring_to_text(thread_id));
	}
	check_envelope(data);
	check_rows(data);
	check_values(data);
	check_reducers(data);
	thread_id = PG_ARGISNULL(1) ? sg_jsonb_get_cstring(sg_jsonb_get(data, "thread"), "thread_id")
		: sg_arg_text(fcinfo, 1, "thread_id");
	sg_check_length(thread_id ? thread_id : "", "thread name", "Names");
	hold_owner(data);
	sg_lock_thread(thread_id, false);
	refuse_existing(thread_id);
	if (lock_fork_sources(data, thread_id))
		refuse_existing(thread_id); /* again: made while the lock was let go? */
	claimed = sg_thread_id_claim_not_lg(thread_id);	/* held until stored (thread_ids.c) */
	sg_thread_id_check_new(thread_id, false);	/* nor another role's, nor a LangGraph.js thread's */
	sg_state_cache_forget(thread_id);
	store(data, thread_id);
	sg_thread_id_claimed(thread_id, claimed);
	sg_thread_lock_settled(thread_id);	/* the new row is locked now */
	sg_spi_finish();
	PG_RETURN_TEXT_P(cstring_to_text(thread_id));
}

/*
 * stategraph.import_visitor: sg_import_thread for the router's
 * import_then_fork and import_then_update_state, whose copy of a thread
 * of another server lives for the length of the call: a superuser's copy
 * of a thread whose owner is no role here (a dropped role's: sg_fork of it
 * works on one server) is not refused (sg_import_refuse_missing_owner).
 * It keeps the export's owner (VISITOR_OWNER), so that the fork made from
 * it is the dropped role's, as on one server, not the superuser's.
 */
Datum
sg_import_visitor(PG_FUNCTION_ARGS)
{
	volatile Datum result = (Datum) 0;

	importing_visitor = true;
	PG_TRY();
	{
		result = sg_import_thread(fcinfo);
	}
	PG_FINALLY();
	{
		importing_visitor = false;
	}
	PG_END_TRY();
	return result;
}

/*
 * stategraph.adopt_runs(data jsonb) -> bigint: store the finished runs of
 * another server (a jsonb array of stategraph.runs rows, as
 * stategraph_router.finished_runs_at reads them), each as it is (run id,
 * owner, idempotency key, status, times), and return how many were new
 * here. A row this server has (its run id, or its owner, graph and key) is
 * passed over; a run not finished is not taken (this server would run it
 * again), nor one of a role the caller may not write runs of (a role it
 * is not a member of, unless it is a superuser: the rows' owner_writes
 * trigger refuses them). The router's move_partition gives them to the
 * server that takes the last partition of a server leaving the cluster, which the router no
 * longer asks: a retried sg_submit with a key of such a run got a second
 * run, and sg_wait said the run did not exist (TAP 237, 272). The rows are
 * not a restore's: they hold no background worker off (restore.c).
 */
Datum
sg_adopt_runs(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {JSONBOID, BOOLOID};
	Datum		values[2];
	uint64		n = 0;

	sg_require_arg(fcinfo, 0, "data");
	values[0] = PointerGetDatum(PG_GETARG_JSONB_P(0));
	values[1] = BoolGetDatum(superuser());
	sg_prevent_write("stategraph.adopt_runs");
	sg_spi_connect();
	sg_spi_prepare(&plan,
				   "INSERT INTO stategraph.runs (run_id, thread_id, graph, input, checkpoint_id, resume, "
				   "  recursion_limit, multitask, status, attempt, error, idempotency_key, owner, not_before, "
				   "  created_at, started_at, finished_at, stepped, stop_request, start_head, start_status, "
				   "  failures, recoveries) "
				   "SELECT x.run_id, x.thread_id, x.graph, x.input, x.checkpoint_id, x.resume, "
				   "  x.recursion_limit, x.multitask, x.status, x.attempt, x.error, x.idempotency_key, x.owner, "
				   "  x.not_before, x.created_at, x.started_at, x.finished_at, x.stepped, x.stop_request, "
				   "  x.start_head, x.start_status, x.failures, x.recoveries "
				   "FROM pg_catalog.jsonb_populate_recordset(NULL::stategraph.runs, "
				   "  CASE WHEN pg_catalog.jsonb_typeof($1) OPERATOR(pg_catalog.=) 'array' THEN $1 ELSE '[]' END) x "
				   "WHERE x.status::pg_catalog.text OPERATOR(pg_catalog.<>) ALL (ARRAY['pending', 'running', 'waiting']) "
				   "  AND ($2 OR stategraph.owned(x.owner)) "
				   "ORDER BY x.seq, x.run_id "
				   "ON CONFLICT DO NOTHING",
				   2, types);
	sg_submitting_run = true;	/* not a restore's rows (restore.c) */
	PG_TRY();
	{
		n = sg_spi_execute(plan, values, NULL, 0);
	}
	PG_FINALLY();
	{
		sg_submitting_run = false;
	}
	PG_END_TRY();
	sg_spi_finish();
	PG_RETURN_INT64((int64) n);
}
