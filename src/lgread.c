/*-------------------------------------------------------------------------
 *
 * lgread.c
 *		LangGraph checkpoint storage, reading: the tuple documents of
 *		get_tuple and list, and LangGraph.js threads read from SQL
 *		(sg_threads, sg_get_state, sg_get_state_history).
 *
 * The storage is lgsaver.c's (its essay explains the rows). A value is
 * read by following its row's base pointers back to a whole value, one
 * backward index scan over the channel's rows, and joining the parts as
 * text; a value row that refers to a pending write reads that write's
 * value. One call reads each (channel, writer) once (LGValueCache): the
 * checkpoints of a history page share most of their values.
 *
 * A read of many checkpoints (sg_lg_list, sg_get_state_history) builds
 * them oldest first, for that cache, and returns them newest first; its
 * memory does not grow with them (lg_read_oldest_first): the rows read and
 * those built are kept in tuplestores, and each is built in a memory
 * context and an SPI connection of its own, let go once it is stored.
 *
 * Documents are json text built here from the stored texts, copied, not
 * printed, so a saver call is one statement and the client parses once.
 * SQL readers get the same values as jsonb, LangGraph's own channels
 * (triggers, inputs, Send tasks) left out of `values`, and `next` worked
 * out from the checkpoint's versions as LangGraph's getState does.
 *
 * A read runs under one snapshot; a change to roles taken in midway that
 * hides the thread from it (a rename, a revoke) fails it with 42501, not
 * with the XX001 of a missing row (lg_read_roles_seen below).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"
#include "lgsaver.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "common/base64.h"
#include "common/sha2.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonfuncs.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rls.h"
#include "utils/tuplestore.h"
#include "utils/varlena.h"

/*
 * A change to roles during a read. Row-level security's stategraph.owned
 * compares the owner of a row, as the read's snapshot has it, with
 * CURRENT_USER and the memberships as the role catalogue has them when a
 * statement runs, not as of the snapshot. A rename of the reader's role
 * (with its sg_reassign_owned too: the snapshot still has the old name), or
 * a revoke of its membership in the thread's owner, that this backend takes
 * in during a read (it does when a statement first locks a table) hid the
 * rows the read took after it: a value its checkpoint names was "missing"
 * (XX001, test/fuzz/RESULTS.md: fuzzer renames), its pending writes were
 * silently left out. Nothing was damaged: under its snapshot, the reader
 * has lost the thread. So a read that has taken in a change to roles since
 * it began (sg_roles_changes, thread_ids.c) and misses a row, or ends a
 * checkpoint, asks whether it still sees the thread under its snapshot, and
 * if not fails with 42501 (lg_check_still_readable), as a step does on a
 * thread lost meanwhile (sg_refuse_lost_write); a change that hides nothing
 * costs one index probe per checkpoint, none without a change. Read again
 * (in a new transaction under REPEATABLE READ), the thread is seen as the
 * change left it: the renamed role's once reassigned (isolation
 * lg_read_role_renamed).
 */
static uint64 lg_read_roles_seen = 0;	/* sg_roles_changes when the read began */

/*
 * The reads of this file take a checkpoint, then the values and writes it
 * names, in several statements: each ran under a snapshot of its own, and
 * a prune or delete of the thread that committed in between made a named
 * value missing (XX001, isolation lg_read_one_snapshot). So each read runs
 * under one snapshot (sg_spi_reads_begin, spi.c): the SQL functions at the
 * end of the file, and lg_next's read of its tasks' values.
 */
#define LG_READ_ONE_SNAPSHOT(call) \
	do { \
		uint64		roles_ = sg_roles_changes(); \
		bool		was_ = sg_spi_reads_begin(); \
		if (!was_) \
			lg_read_roles_seen = roles_; \
		PG_TRY(); \
		{ \
			call; \
		} \
		PG_CATCH(); \
		{ \
			sg_spi_reads_end(was_, true); \
			PG_RE_THROW(); \
		} \
		PG_END_TRY(); \
		sg_spi_reads_end(was_, false); \
	} while (0)

/* ---------------------------------------------------------------------------
 * Reading: values, writes, tuple documents
 * ---------------------------------------------------------------------------
 */

/*
 * 42501 when this backend took in a change to roles during the read and
 * the caller no longer sees thread under the read's snapshot (see
 * lg_read_roles_seen above); asked before a missing row is called damage
 * (XX001) and after each checkpoint read. SPI must be connected.
 */
static void
lg_check_still_readable(Datum thread)
{
	char	   *thread_id;
	const char *me;

	if (sg_roles_changes() == lg_read_roles_seen ||
		check_enable_rls(sg_table_oid("lg_checkpoints"), InvalidOid, true) != RLS_ENABLED)
		return;
	thread_id = TextDatumGetCString(thread);
	if (sg_lg_thread_visible(thread_id))
		return;
	me = GetUserNameFromId(GetUserId(), false);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" may no longer read thread \"%s\"", me, thread_id),
			 errdetail("Role \"%s\" no longer sees the thread's rows as the read's snapshot has them: "
					   "the role was renamed, or its membership in the thread's owner revoked, during the read.", me),
			 errhint("Read the thread again%s.",
					 IsolationUsesXactSnapshot() ? " in a new transaction" : "")));
}

/* The base64 text of bytes. */
static char *
lg_b64(bytea *b)
{
	int			len = VARSIZE_ANY_EXHDR(b);
	int			enclen = pg_b64_enc_len(len);
	char	   *enc = palloc(enclen + 1);
	int			n = pg_b64_encode(VARDATA_ANY(b), len, enc, enclen);

	if (n < 0)
		elog(ERROR, "could not encode bytes in base64");
	enc[n] = '\0';
	return enc;
}

/* Appends bytes as ["type", "base64"]. */
static void
lg_append_bytes(StringInfo out, const char *type, bytea *b)
{
	appendStringInfoChar(out, '[');
	escape_json(out, type);
	appendStringInfoString(out, ", ");
	escape_json(out, lg_b64(b));
	appendStringInfoChar(out, ']');
}

/* Appends a jsonb value as JSON text (as jsonb's output function writes it, faster). */
static void
lg_append_jsonb(StringInfo out, Jsonb *j)
{
	sg_jsonb_append_text(out, j, false);
}

/* Appends a stored checkpoint as JSON text, with the "id" and "ts" lg_strip_values left out. */
static void
lg_append_checkpoint(StringInfo out, Jsonb *cp, Datum id, Datum created)
{
	StringInfoData s;

	cp = lg_restore_ts(cp, created);
	if (lg_find(cp, "id") != NULL)
	{
		lg_append_jsonb(out, cp);
		return;
	}
	initStringInfo(&s);
	lg_append_jsonb(&s, cp);
	appendStringInfo(out, "{\"id\": \"%s\"", sg_uuid_to_cstring(DatumGetUUIDP(id)));
	if (s.len > 2)				/* "{...}" with keys: continue after its "{" */
		appendStringInfo(out, ", %s", s.data + 1);
	else
		appendStringInfoChar(out, '}');
	pfree(s.data);
}

/*
 * The last whole value read of each channel, while one call reads several
 * checkpoints (a history page, oldest first): a newer value that extends it
 * is read as that text plus the parts appended since.
 */
struct LGValueCache
{
	List	   *entries;		/* of LGCachedValue, one per channel */
	MemoryContext cxt;			/* where they live: each row is built in a context of its own */
};

typedef struct LGCachedValue
{
	char	   *channel;
	pg_uuid_t	writer;
	char	   *text;			/* the JSON array */
	int			len;
} LGCachedValue;

/* The cached value of channel if it is the one writer wrote, else NULL. */
static LGCachedValue *
lg_cache_find(LGValueCache *cache, const char *channel, const pg_uuid_t *writer)
{
	ListCell   *lc;

	if (cache == NULL)
		return NULL;
	foreach(lc, cache->entries)
	{
		LGCachedValue *e = lfirst(lc);

		if (strcmp(e->channel, channel) == 0)
			return memcmp(&e->writer, writer, sizeof(pg_uuid_t)) == 0 ? e : NULL;
	}
	return NULL;
}

/* Remembers the whole value of channel written by writer (replacing the channel's last). */
static void
lg_cache_put(LGValueCache *cache, const char *channel, const pg_uuid_t *writer, const char *text, int len)
{
	ListCell   *lc;
	LGCachedValue *e = NULL;

	MemoryContext old;

	if (cache == NULL)
		return;
	old = MemoryContextSwitchTo(cache->cxt);
	foreach(lc, cache->entries)
		if (strcmp(((LGCachedValue *) lfirst(lc))->channel, channel) == 0)
			e = lfirst(lc);
	if (e == NULL)
	{
		e = palloc0(sizeof(LGCachedValue));
		e->channel = pstrdup(channel);
		cache->entries = lappend(cache->entries, e);
	}
	else
		pfree(e->text);
	e->writer = *writer;
	e->text = pnstrdup(text, len);
	e->len = len;
	MemoryContextSwitchTo(old);
}

/*
 * Walks back the chain of appended parts ending with writer's (newest
 * first, one cursor over the channel's rows), to a whole value or to a value
 * in the cache (*base). Returns the parts, oldest first.
 */
static List *
lg_value_parts(Datum *k, const char *channel, const pg_uuid_t *writer, LGValueCache *cache,
			   LGCachedValue **base)
{
	Portal		portal = sg_spi_cursor_open(lg_plan(LGP_BLOB_CHAIN), k, NULL);
	List	   *parts = NIL;
	pg_uuid_t	want = *writer;
	bool		done = false;
	uint64		n, i;

	*base = NULL;
	while (!done && (n = sg_spi_cursor_fetch(portal, 32)) > 0)
	{
		SPITupleTable *tt = SPI_tuptable;

		for (i = 0; i < n && !done; i++)
		{
			bool		isnull;
			pg_uuid_t  *w = DatumGetUUIDP(lg_col(tt, i, 1, &isnull));
			Datum		b;

			if (memcmp(w, &want, sizeof(pg_uuid_t)) != 0)
				continue;		/* a value of another branch */
			if ((*base = lg_cache_find(cache, channel, &want)) != NULL)
			{
				done = true;
				break;
			}
			parts = lcons(lg_json_col(tt, i, 3), parts);
			b = lg_col(tt, i, 2, &isnull);
			if (isnull)
				done = true;
			else
				want = *DatumGetUUIDP(b);
		}
	}
	sg_spi_cursor_close(portal);
	if (!done)
	{
		lg_check_still_readable(k[0]);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("values of channel \"%s\" extended by %s are missing", channel, sg_uuid_to_cstring(writer)),
				 errdetail("A row of the LangGraph.js tables was changed or removed outside stategraph.")));
	}
	return parts;
}

/*
 * Appends the whole JSON value of channel written by writer: a value stored
 * as appended elements is joined with the values it extends, oldest first.
 * Returns false (nothing appended) when the value is typed bytes, which are
 * then left in *type and *bytes.
 */
bool
lg_append_value(StringInfo out, Datum thread, Datum ns, const char *channel, const pg_uuid_t *writer,
				char **type, bytea **bytes, LGValueCache *cache)
{
	Datum		k[4] = {thread, ns, CStringGetTextDatum(channel), lg_uuid_datum(writer)};
	SPITupleTable *tt;
	bool		isnull;
	List	   *parts;
	ListCell   *lc;
	bool		first = true;
	LGCachedValue *base = lg_cache_find(cache, channel, writer);
	int			start = out->len;

	if (base)
	{
		appendBinaryStringInfo(out, base->text, base->len);
		return true;
	}
	lg_run(LGP_BLOB_GET, k, NULL, 1);
	if (SPI_processed == 0)
	{
		lg_check_still_readable(thread);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("value of channel \"%s\" written by %s is missing", channel, sg_uuid_to_cstring(writer)),
				 errdetail("A row of the LangGraph.js tables was changed or removed outside stategraph.")));
	}
	tt = SPI_tuptable;
	(void) lg_col(tt, 0, 2, &isnull);
	if (isnull)
	{
		text	   *v = lg_json_col(tt, 0, 3);

		if (v == NULL)
		{
			Datum		b = lg_col(tt, 0, 5, &isnull);

			*type = lg_text_col(tt, 0, 4);
			*bytes = isnull ? NULL : DatumGetByteaPP(b);
			if (isnull || *type == NULL)
			{
				lg_check_still_readable(thread);	/* (the pending write it names, hidden) */
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("value of channel \"%s\" written by %s has neither JSON nor bytes", channel, sg_uuid_to_cstring(writer)),
						 errdetail("A row of the LangGraph.js tables was changed or removed outside stategraph.")));
			}
			return false;
		}
		appendBinaryStringInfo(out, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
		if (out->len > start && out->data[start] == '[')
			lg_cache_put(cache, channel, writer, out->data + start, out->len - start);
		return true;
	}

	/* a chain of appended parts: walk back to the whole value it started from */
	parts = lg_value_parts(k, channel, writer, cache, &base);
	appendStringInfoChar(out, '[');
	if (base)
		lg_append_elements(out, base->text, base->len, &first);
	foreach(lc, parts)
	{
		text	   *part = lfirst(lc);

		if (part != NULL)
			lg_append_elements(out, VARDATA_ANY(part), VARSIZE_ANY_EXHDR(part), &first);
	}
	appendStringInfoChar(out, ']');
	lg_cache_put(cache, channel, writer, out->data + start, out->len - start);
	return true;
}

/* Appends "channel_values" and "channel_bytes" of a blobs map. */
static void
lg_append_values(StringInfo out, Datum thread, Datum ns, Jsonb *blobs, LGValueCache *cache)
{
	StringInfoData bytes_out;
	JsonbIterator *it;
	JsonbValue	v;
	char	   *channel;
	bool		first = true;

	initStringInfo(&bytes_out);
	appendStringInfoString(out, "\"channel_values\": {");
	if (blobs && JB_ROOT_IS_OBJECT(blobs))
	{
		it = JsonbIteratorInit(&blobs->root);
		while (sg_jsonb_next_pair(&it, &channel, &v))
		{
			pg_uuid_t	w;
			StringInfoData one;
			char	   *type;
			bytea	   *b;

			initStringInfo(&one);
			if (v.type == jbvBinary && JsonContainerIsArray(v.val.binary.data) &&
				JsonContainerSize(v.val.binary.data) == 1)	/* [value], kept in the map (lg_inline_entry) */
				lg_append_jsonb(&one, JsonbValueToJsonb(getIthJsonbValueFromContainer(v.val.binary.data, 0)));
			else if (v.type == jbvBinary && JsonContainerIsArray(v.val.binary.data) &&
					 JsonContainerSize(v.val.binary.data) == 2 &&
					 getIthJsonbValueFromContainer(v.val.binary.data, 1)->type == jbvString)
			{
				/* [value, "its text"]: the text as written */
				JsonbValue *t = getIthJsonbValueFromContainer(v.val.binary.data, 1);
				JsonLexContext *lex = makeJsonLexContextCstringLen(t->val.string.val, t->val.string.len,
																   GetDatabaseEncoding(), false);

				/* one JSON value: else the document would be no JSON, or hold more keys */
				if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("blobs of a checkpoint keep a text of channel \"%s\" that is not one JSON value", channel),
							 errdetail("A row of the LangGraph.js tables was changed or removed outside stategraph.")));
				appendBinaryStringInfo(&one, t->val.string.val, t->val.string.len);
			}
			else if (v.type == jbvString)
				w = lg_uuid_parse(pnstrdup(v.val.string.val, v.val.string.len));
			else
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("blobs of a checkpoint give channel \"%s\" neither [value] nor the id of its writer", channel),
						 errdetail("A row of the LangGraph.js tables was changed or removed outside stategraph.")));
			if (v.type == jbvBinary || lg_append_value(&one, thread, ns, channel, &w, &type, &b, cache))
			{
				if (!first)
					appendStringInfoString(out, ", ");
				escape_json(out, channel);
				appendStringInfoString(out, ": ");
				appendBinaryStringInfo(out, one.data, one.len);
				first = false;
			}
			else
			{
				if (bytes_out.len > 0)
					appendStringInfoString(&bytes_out, ", ");
				escape_json(&bytes_out, channel);
				appendStringInfoString(&bytes_out, ": ");
				lg_append_bytes(&bytes_out, type, b);
			}
			pfree(one.data);
		}
	}
	appendStringInfo(out, "}, \"channel_bytes\": {%s}", bytes_out.data);
}

/*
 * Appends open, then the rows of a kept query on a checkpoint's key
 * (thread, ns, id), each through item and separated by commas, then ']'.
 */
static void
lg_append_rows(StringInfo out, const char *open, LGPlan which, Datum thread, Datum ns, Datum id,
			   void (*item) (StringInfo out, SPITupleTable *tt, uint64 i))
{
	Datum		k[3] = {thread, ns, id};
	uint64		i;

	lg_run(which, k, NULL, 0);
	appendStringInfoString(out, open);
	for (i = 0; i < SPI_processed; i++)
	{
		if (i > 0)
			appendStringInfoString(out, ", ");
		item(out, SPI_tuptable, i);
	}
	appendStringInfoChar(out, ']');
}

/* One pending write: [task_id, channel, value] (typed bytes: [task_id, channel, "base64", "type"]). */
static void
lg_append_write(StringInfo out, SPITupleTable *tt, uint64 i)
{
	text	   *v = lg_json_col(tt, i, 3);

	appendStringInfoChar(out, '[');
	escape_json(out, lg_text_col(tt, i, 1));
	appendStringInfoString(out, ", ");
	escape_json(out, lg_text_col(tt, i, 2));
	appendStringInfoString(out, ", ");
	if (v)
		appendBinaryStringInfo(out, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
	else
	{
		bool		isnull;
		Datum		b = lg_col(tt, i, 5, &isnull);

		if (isnull || lg_text_col(tt, i, 4) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("a write of channel \"%s\" has neither JSON nor bytes", lg_text_col(tt, i, 2)),
					 errdetail("A row of the LangGraph.js tables was changed or removed outside stategraph.")));
		escape_json(out, lg_b64(DatumGetByteaPP(b)));
		appendStringInfoString(out, ", ");
		escape_json(out, lg_text_col(tt, i, 4));
	}
	appendStringInfoChar(out, ']');
}

/* One pending send: its JSON value, or null. */
static void
lg_append_send(StringInfo out, SPITupleTable *tt, uint64 i)
{
	text	   *v = lg_json_col(tt, i, 1);

	if (v)
		appendBinaryStringInfo(out, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
	else
		appendStringInfoString(out, "null");
}

/*
 * The tuple document of row i of a checkpoint query:
 * {thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id,
 *  checkpoint, metadata, channel_values, channel_bytes, pending_writes
 *  [, pending_sends]}
 */
static text *
lg_tuple_json(SPITupleTable *tt, uint64 i, Datum thread, Datum ns, LGValueCache *cache)
{
	StringInfoData out;
	bool		isnull;
	Datum		id = lg_col(tt, i, CP_ID, &isnull);
	Datum		parent = lg_col(tt, i, CP_PARENT, &isnull);
	bool		has_parent = !isnull;
	Jsonb	   *cp = lg_checkpoint_col(tt, i);
	Jsonb	   *meta = lg_jsonb_col(tt, i, CP_METADATA);
	Jsonb	   *blobs = lg_jsonb_col(tt, i, CP_BLOBS);
	JsonbValue *v = lg_find(cp, "v");
	bool		old = false;
	text	   *res;

	if (v && v->type == jbvNumeric)		/* (compared as a numeric: 1e10 is no int4) */
		old = DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(v->val.numeric),
												DirectFunctionCall1(int4_numeric, Int32GetDatum(4)))) < 0;
	initStringInfo(&out);
	appendStringInfoString(&out, "{\"thread_id\": ");
	escape_json(&out, TextDatumGetCString(thread));
	appendStringInfoString(&out, ", \"checkpoint_ns\": ");
	escape_json(&out, TextDatumGetCString(ns));
	appendStringInfo(&out, ", \"checkpoint_id\": \"%s\", \"parent_checkpoint_id\": ",
					 sg_uuid_to_cstring(DatumGetUUIDP(id)));
	if (has_parent)
		appendStringInfo(&out, "\"%s\"", sg_uuid_to_cstring(DatumGetUUIDP(parent)));
	else
		appendStringInfoString(&out, "null");
	appendStringInfoString(&out, ", \"checkpoint\": ");
	lg_append_checkpoint(&out, cp, id, lg_col(tt, i, CP_CREATED, &isnull));
	appendStringInfoString(&out, ", \"metadata\": ");
	lg_append_jsonb(&out, meta);
	appendStringInfoString(&out, ", ");
	lg_append_values(&out, thread, ns, blobs, cache);
	appendStringInfoString(&out, ", ");
	lg_append_rows(&out, "\"pending_writes\": [", LGP_WRITES, thread, ns, id, lg_append_write);
	if (old && has_parent)
	{
		uint64		j;
		bool		first = true;

		lg_append_rows(&out, ", \"pending_sends\": [", LGP_SENDS, thread, ns, parent, lg_append_send);
		/*
		 * the sends stored as typed bytes, null in pending_sends (a reader that
		 * knows no more keeps its null): [[index, "base64", "type"], ...]
		 */
		appendStringInfoString(&out, ", \"pending_sends_bytes\": [");
		for (j = 0; j < SPI_processed; j++)
		{
			Datum		b;

			if (lg_json_col(SPI_tuptable, j, 1) != NULL)
				continue;
			b = lg_col(SPI_tuptable, j, 3, &isnull);
			if (isnull || lg_text_col(SPI_tuptable, j, 2) == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("a write of channel \"%s\" has neither JSON nor bytes", LG_TASKS_CHANNEL),
						 errdetail("A row of the LangGraph.js tables was changed or removed outside stategraph.")));
			appendStringInfo(&out, "%s[" UINT64_FORMAT ", ", first ? "" : ", ", j);
			escape_json(&out, lg_b64(DatumGetByteaPP(b)));
			appendStringInfoString(&out, ", ");
			escape_json(&out, lg_text_col(SPI_tuptable, j, 2));
			appendStringInfoChar(&out, ']');
			first = false;
		}
		appendStringInfoChar(&out, ']');
	}
	appendStringInfoChar(&out, '}');
	lg_check_still_readable(thread);	/* (writes hidden by a change to roles leave no gap) */
	res = cstring_to_text_with_len(out.data, out.len);
	pfree(out.data);
	return res;
}

/*
 * Builds the rows of a read of many checkpoints (a list, a history), one per
 * row of plan's query, which lists them newest first: they are built oldest
 * first (a value extending the one before is then read as an increment,
 * LGValueCache) and returned newest first into rsinfo's tuplestore. Memory
 * does not grow with the rows: the query is read through a cursor into a
 * tuplestore (on disk past work_mem), and each row is built (build, given a
 * one-row table of the query) in a context and an SPI connection of its own,
 * both let go once its finished tuple is stored, as it is in a tuplestore
 * too. A list of 5,000 checkpoints kept ~100 MB until the call ended.
 */
static void
lg_read_oldest_first(SPIPlanPtr plan, Datum *args, const char *nulls, ReturnSetInfo *rsinfo,
					 HeapTuple (*build) (SPITupleTable *row, void *arg), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext read_cxt = AllocSetContextCreate(cxt, "stategraph lg read", ALLOCSET_DEFAULT_SIZES);
	MemoryContext row_cxt = AllocSetContextCreate(cxt, "stategraph lg read row", ALLOCSET_DEFAULT_SIZES);
	Tuplestorestate *read;
	Tuplestorestate *built;
	Portal		portal;
	TupleDesc	desc = NULL;
	TupleTableSlot *slot = NULL;
	uint64		n, i;

	/* (the tuplestores in a context of their own: what they kept is let go at the end) */
	MemoryContextSwitchTo(read_cxt);
	read = tuplestore_begin_heap(true, false, work_mem);
	built = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(cxt);
	portal = sg_spi_cursor_open(plan, args, nulls);

	while ((n = sg_spi_cursor_fetch(portal, 64)) > 0)
	{
		if (desc == NULL)
			desc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
		for (i = 0; i < n; i++)
			tuplestore_puttuple(read, SPI_tuptable->vals[i]);
		SPI_freetuptable(SPI_tuptable);
	}
	sg_spi_cursor_close(portal);

	if (desc != NULL)
	{
		slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
		tuplestore_rescan(read);
		while (tuplestore_advance(read, true))
			;
		while (tuplestore_gettupleslot(read, false, false, slot))
		{
			HeapTuple	tup;
			SPITupleTable row;
			HeapTuple	res;

			CHECK_FOR_INTERRUPTS();
			MemoryContextSwitchTo(row_cxt);
			tup = ExecCopySlotHeapTuple(slot);
			memset(&row, 0, sizeof(row));
			row.tupdesc = desc;
			row.vals = &tup;
			row.numvals = 1;
			sg_spi_connect();
			res = build(&row, arg);
			sg_spi_finish();
			tuplestore_puttuple(built, res);
			MemoryContextSwitchTo(cxt);
			MemoryContextReset(row_cxt);
		}
		ExecDropSingleTupleTableSlot(slot);
	}
	tuplestore_end(read);

	sg_result_newest_first(built, rsinfo);
	MemoryContextDelete(row_cxt);
	MemoryContextDelete(read_cxt);
}

/* The value cache of a read of many checkpoints, in a context of its own. */
static void
lg_cache_init(LGValueCache *cache)
{
	cache->entries = NIL;
	cache->cxt = AllocSetContextCreate(CurrentMemoryContext, "stategraph lg value cache",
									   ALLOCSET_DEFAULT_SIZES);
}

PG_FUNCTION_INFO_V1(sg_lg_get_tuple);

/* sg_lg_get_tuple's read (at the end of the file, under one snapshot). */
static Datum
lg_get_tuple_read(FunctionCallInfo fcinfo)
{
	Datum		k[3];
	text	   *res = NULL;

	(void) lg_required_text(fcinfo, 0, "thread_id");
	(void) lg_ns_arg(fcinfo, 1);
	k[0] = PG_GETARG_DATUM(0);
	k[1] = PG_GETARG_DATUM(1);
	sg_spi_connect();
	if (PG_ARGISNULL(2))
		lg_run(LGP_HEAD, k, NULL, 1);
	else
	{
		k[2] = PG_GETARG_DATUM(2);
		lg_run(LGP_CP_GET, k, NULL, 1);
	}
	if (SPI_processed == 1)
		res = lg_tuple_json(SPI_tuptable, 0, k[0], k[1], NULL);
	sg_spi_finish();
	if (res == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(res);
}

PG_FUNCTION_INFO_V1(sg_lg_list);

/* What sg_lg_list's rows are built with (lg_list_row). */
typedef struct LGListRead
{
	TupleDesc	desc;
	LGValueCache cache;
	char	   *thread;			/* the thread and namespace of the cache's values */
	char	   *ns;
} LGListRead;

/* A row of sg_lg_list: the tuple document of a checkpoint. */
static HeapTuple
lg_list_row(SPITupleTable *row, void *arg)
{
	LGListRead *st = arg;
	bool		isnull;
	bool		dnull = false;
	Datum		thread = lg_col(row, 0, CP_THREAD, &isnull);
	Datum		ns = lg_col(row, 0, CP_NS, &isnull);
	char	   *t = TextDatumGetCString(thread);
	char	   *n = TextDatumGetCString(ns);
	Datum		doc;

	if (st->thread == NULL || strcmp(st->thread, t) != 0 || strcmp(st->ns, n) != 0)
	{
		/* values are cached per thread and namespace */
		MemoryContextReset(st->cache.cxt);
		st->cache.entries = NIL;
		st->thread = MemoryContextStrdup(st->cache.cxt, t);
		st->ns = MemoryContextStrdup(st->cache.cxt, n);
	}
	doc = PointerGetDatum(lg_tuple_json(row, 0, thread, ns, &st->cache));
	return heap_form_tuple(st->desc, &doc, &dnull);
}

/* sg_lg_list's read (at the end of the file, under one snapshot). */
static Datum
lg_list_read(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		args[6];
	char		nulls[6];
	int			i;
	LGPlan		plan;
	LGListRead	st = {0};

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	for (i = 0; i < 6; i++)
	{
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		args[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	if (!PG_ARGISNULL(4))
	{
		if (PG_GETARG_INT32(4) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("limit must not be negative")));
		args[4] = Int64GetDatum((int64) PG_GETARG_INT32(4));
	}
	if (!PG_ARGISNULL(2) && !JB_ROOT_IS_OBJECT(PG_GETARG_JSONB_P(2)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("filter must be a JSON object of metadata keys and values, not a JSON %s",
						sg_jsonb_type_name(PG_GETARG_JSONB_P(2)))));
	if (!PG_ARGISNULL(2) && JB_ROOT_COUNT(PG_GETARG_JSONB_P(2)) == 0)
		nulls[2] = 'n';			/* an empty filter matches everything */
	/* a namespace no put can store is refused, as sg_lg_get_tuple does, not listed as empty */
	if (!PG_ARGISNULL(1))
		(void) lg_ns_arg(fcinfo, 1);
	plan = PG_ARGISNULL(0) ? LGP_LIST_ALL : PG_ARGISNULL(1) ? LGP_LIST_THREAD : LGP_LIST_NS;

	sg_spi_connect();
	st.desc = rsinfo->setDesc;
	lg_cache_init(&st.cache);
	lg_read_oldest_first(lg_plan(plan), args, nulls, rsinfo, lg_list_row, &st);
	sg_spi_finish();
	return (Datum) 0;
}

/* ---------------------------------------------------------------------------
 * LangGraph.js threads in SQL: sg_threads, sg_get_state, sg_get_state_history
 * ---------------------------------------------------------------------------
 */

/* LangGraph's channel of Send tasks (PUSH tasks) */
#define LG_TASKS_CHANNEL	"__pregel_tasks"
/* LangGraph's task ids of writes that no task made */
#define LG_NULL_TASK_ID		"00000000-0000-0000-0000-000000000000"
#define LG_EXIT_DELTA_NULL_TASK_ID	"00000000-0000-0000-0000-000000000001"

/* A channel LangGraph keeps for itself (triggers, inputs, Send tasks), not state. */
bool
lg_internal_channel(const char *name, int len)
{
	return (len >= 2 && name[0] == '_' && name[1] == '_') ||
		(len >= 10 && strncmp(name, "branch:to:", 10) == 0) ||
		(len >= 5 && strncmp(name, "join:", 5) == 0);
}

/* -1, 0, 1: LangGraph channel versions (numbers, or strings) compared; 2: not comparable. */
static int
lg_version_cmp(JsonbValue *a, JsonbValue *b)
{
	if (a->type == jbvNumeric && b->type == jbvNumeric)
		return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(a->val.numeric),
												 NumericGetDatum(b->val.numeric)));
	if (a->type == jbvString && b->type == jbvString)
	{
		int			c = varstr_cmp(a->val.string.val, a->val.string.len,
								   b->val.string.val, b->val.string.len, C_COLLATION_OID);

		return c < 0 ? -1 : c > 0;
	}
	return 2;
}

/*
 * The nodes a LangGraph checkpoint will run next: those whose trigger
 * channel ("__start__" for the input, "branch:to:<node>" for edges) holds a
 * value (blobs: a consumed trigger is emptied) with a version the node has
 * not seen (versions_seen). Joins and Send tasks are not resolved (their
 * nodes are named by LangGraph.js only).
 */
static List *
lg_next_nodes(Jsonb *cp, Jsonb *blobs)
{
	JsonbValue *versions = lg_find(cp, "channel_versions");
	JsonbValue *seen = lg_find(cp, "versions_seen");
	JsonbIterator *it;
	JsonbValue	k, v;
	JsonbIteratorToken r;
	List	   *next = NIL;

	if (versions == NULL || versions->type != jbvBinary)
		return NIL;
	it = JsonbIteratorInit(versions->val.binary.data);
	while ((r = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		char	   *channel, *node;
		JsonbValue *node_seen = NULL, *ver = NULL;

		if (r != WJB_KEY)
			continue;
		channel = pnstrdup(k.val.string.val, k.val.string.len);
		(void) JsonbIteratorNext(&it, &v, true);
		if (strcmp(channel, SG_START_NAME) == 0)
			node = channel;
		else if (strncmp(channel, "branch:to:", 10) == 0)
			node = channel + 10;
		else
			continue;
		if (lg_find(blobs, channel) == NULL)
			continue;			/* no value: consumed */
		/* objects only: a key looked up in an array reads past its elements (put refuses them now) */
		if (seen && seen->type == jbvBinary && JsonContainerIsObject(seen->val.binary.data))
			node_seen = getKeyJsonValueFromContainer(seen->val.binary.data, node, strlen(node), NULL);
		if (node_seen && node_seen->type == jbvBinary && JsonContainerIsObject(node_seen->val.binary.data))
			ver = getKeyJsonValueFromContainer(node_seen->val.binary.data, channel, strlen(channel), NULL);
		if (ver == NULL || lg_version_cmp(&v, ver) == 1)
			next = lappend(next, node);
	}
	return next;
}

/*
 * The nodes of a checkpoint's Send tasks (LangGraph's PUSH tasks, which run
 * next as the trigger channels' nodes do): the "node" of each Send in the
 * value of its __pregel_tasks channel (tasks: that value, or NULL).
 */
static List *
lg_send_nodes(JsonbValue *tasks)
{
	List	   *nodes = NIL;
	uint32		i;

	if (tasks == NULL || tasks->type != jbvBinary || !JsonContainerIsArray(tasks->val.binary.data))
		return NIL;
	for (i = 0; i < JsonContainerSize(tasks->val.binary.data); i++)
	{
		JsonbValue *send = getIthJsonbValueFromContainer(tasks->val.binary.data, i);
		JsonbValue *node;

		if (send->type != jbvBinary || !JsonContainerIsObject(send->val.binary.data))
			continue;
		node = getKeyJsonValueFromContainer(send->val.binary.data, "node", 4, NULL);
		if (node != NULL && node->type == jbvString)
			nodes = lappend(nodes, pnstrdup(node->val.string.val, node->val.string.len));
	}
	return nodes;
}

/* text[] of a list of names, sorted as LangGraph lists next nodes. */
static Datum
lg_names_array(List *names)
{
	Datum	   *d = palloc(sizeof(Datum) * (list_length(names) + 1));
	ListCell   *lc;
	int			n = 0;

	list_sort(names, (list_sort_comparator) pg_qsort_strcmp);
	foreach(lc, names)
		d[n++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(lg_next);

/*
 * stategraph.lg_next(thread_id text, checkpoint json, blobs jsonb) -> text[]:
 * the next nodes of a LangGraph.js root checkpoint row, its Send tasks'
 * included (their value is read from lg_blobs, as the caller).
 */
Datum
lg_next(PG_FUNCTION_ARGS)
{
	Jsonb	   *cp = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text_to_cstring(PG_GETARG_TEXT_PP(1)))));
	Jsonb	   *blobs = PG_GETARG_JSONB_P(2);
	List	   *next = lg_next_nodes(cp, blobs);
	JsonbValue *tasks = lg_find(blobs, LG_TASKS_CHANNEL);

	if (tasks != NULL)
	{
		JsonbParseState *ps = NULL;
		JsonbValue	key = {.type = jbvString};
		Jsonb	   *only;
		StringInfoData s;
		JsonbValue *values;

		/* the tasks channel's value, read as the snapshot reads every value */
		key.val.string.val = LG_TASKS_CHANNEL;
		key.val.string.len = strlen(LG_TASKS_CHANNEL);
		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		pushJsonbValue(&ps, WJB_KEY, &key);
		pushJsonbValue(&ps, WJB_VALUE, tasks);
		only = JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
		initStringInfo(&s);
		appendStringInfoChar(&s, '{');
		sg_spi_connect();
		LG_READ_ONE_SNAPSHOT(lg_append_values(&s, PG_GETARG_DATUM(0), CStringGetTextDatum(""), only, NULL));
		sg_spi_finish();
		appendStringInfoChar(&s, '}');
		values = lg_find(DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data))), "channel_values");
		next = list_concat(next, lg_send_nodes(getKeyJsonValueFromContainer(values->val.binary.data, LG_TASKS_CHANNEL,
																			strlen(LG_TASKS_CHANNEL), NULL)));
	}
	PG_RETURN_DATUM(lg_names_array(next));
}

/*
 * Whether v is a record of LangGraph's serializer of the type named, with
 * nkeys keys: {"lc": 2, "type": type, ...}.
 */
static bool
lg_is_record(JsonbValue *v, const char *type_name, int nkeys)
{
	JsonbValue *lc;
	JsonbValue *type;

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data) ||
		JsonContainerSize(v->val.binary.data) != (uint32) nkeys)
		return false;
	lc = getKeyJsonValueFromContainer(v->val.binary.data, "lc", 2, NULL);
	type = getKeyJsonValueFromContainer(v->val.binary.data, "type", 4, NULL);
	return lc != NULL && lc->type == jbvNumeric &&
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(lc->val.numeric),
										  DirectFunctionCall1(int4_numeric, Int32GetDatum(2)))) == 0 &&
		type != NULL && type->type == jbvString && type->val.string.len == (int) strlen(type_name) &&
		memcmp(type->val.string.val, type_name, type->val.string.len) == 0;
}

/* Whether v is LangGraph's serializer's record of undefined ({"lc": 2, "type": "undefined"}). */
static bool
lg_is_undefined(JsonbValue *v)
{
	return lg_is_record(v, "undefined", 2);
}

/*
 * Whether v is a DeltaChannel's snapshot ({"lc": 2, "type": "delta_snapshot",
 * "value": ...}): SQL leaves such a channel out of values at every
 * checkpoint, those with no value (rebuilt from writes in JavaScript) and
 * those with a snapshot alike, so that it is not there in some rows only.
 */
static bool
lg_is_delta_snapshot(JsonbValue *v)
{
	return lg_is_record(v, "delta_snapshot", 3);
}

/*
 * Pushes v (as token as: WJB_VALUE or WJB_ELEM) as JSON.stringify writes the
 * value the serializer's record stands for: an undefined member left out,
 * an undefined element null. A JS value read back has its undefined; SQL
 * shows the JSON of that value (a message's name that was not set is absent).
 */
static JsonbValue *
lg_push_defined(JsonbParseState **ps, JsonbIteratorToken as, JsonbValue *v)
{
	JsonbIterator *it;
	JsonbValue	k, e;
	JsonbValue	null = {.type = jbvNull};

	if (v->type != jbvBinary)
		return pushJsonbValue(ps, as, v);
	it = JsonbIteratorInit(v->val.binary.data);
	if (JsonbIteratorNext(&it, &e, true) == WJB_BEGIN_ARRAY)
	{
		pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
		while (JsonbIteratorNext(&it, &e, true) == WJB_ELEM)
			lg_push_defined(ps, WJB_ELEM, lg_is_undefined(&e) ? &null : &e);
		return pushJsonbValue(ps, WJB_END_ARRAY, NULL);
	}
	pushJsonbValue(ps, WJB_BEGIN_OBJECT, NULL);
	while (JsonbIteratorNext(&it, &k, true) == WJB_KEY)
	{
		(void) JsonbIteratorNext(&it, &e, true);
		if (lg_is_undefined(&e))
			continue;
		pushJsonbValue(ps, WJB_KEY, &k);
		lg_push_defined(ps, WJB_VALUE, &e);
	}
	return pushJsonbValue(ps, WJB_END_OBJECT, NULL);
}

/* A stored JSON value as lg_push_defined shows it (a scalar as it is). */
static Jsonb *
lg_defined(Jsonb *j)
{
	JsonbParseState *ps = NULL;
	JsonbValue	v;

	if (JB_ROOT_IS_SCALAR(j))
		return j;
	v.type = jbvBinary;
	v.val.binary.data = &j->root;
	v.val.binary.len = VARSIZE(j) - VARHDRSZ;
	return JsonbValueToJsonb(lg_push_defined(&ps, WJB_VALUE, &v));
}

/*
 * The state values of a checkpoint row: its JSON channel values, internal
 * channels left out, as JSON.stringify writes the values LangGraph.js reads
 * back (lg_push_defined).
 */
static Jsonb *
lg_state_values(Datum thread, Datum ns, Jsonb *blobs, LGValueCache *cache, List **sends)
{
	StringInfoData s;
	Jsonb	   *doc;
	JsonbValue *vals;
	JsonbParseState *ps = NULL;
	JsonbIterator *it;
	JsonbValue	k, v;
	JsonbIteratorToken r;
	JsonbValue *res;
	bool		any_undefined;
	bool		any_delta;

	initStringInfo(&s);
	appendStringInfoChar(&s, '{');
	lg_append_values(&s, thread, ns, blobs, cache);
	appendStringInfoChar(&s, '}');
	/*
	 * only a text that has a record of undefined needs a walk through its
	 * values; the text is as written, where a letter may be a \u escape
	 */
	any_undefined = strstr(s.data, "\"undefined\"") != NULL || strstr(s.data, "\\u") != NULL;
	any_delta = strstr(s.data, "delta_snapshot") != NULL;
	doc = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data)));
	vals = lg_find(doc, "channel_values");
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	it = JsonbIteratorInit(vals->val.binary.data);
	while ((r = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		if (r != WJB_KEY)
			continue;
		(void) JsonbIteratorNext(&it, &v, true);
		if (k.val.string.len == strlen(LG_TASKS_CHANNEL) &&
			memcmp(k.val.string.val, LG_TASKS_CHANNEL, k.val.string.len) == 0)
			*sends = lg_send_nodes(&v);
		if (lg_internal_channel(k.val.string.val, k.val.string.len) ||
			(any_undefined && lg_is_undefined(&v)) ||
			(any_delta && lg_is_delta_snapshot(&v)))
			continue;
		pushJsonbValue(&ps, WJB_KEY, &k);
		if (any_undefined)
			lg_push_defined(&ps, WJB_VALUE, &v);
		else
			pushJsonbValue(&ps, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/*
 * Whether id has the form of LangGraph.js's interrupt ids (32 hex digits,
 * an xxh3 hash), not that of a task id (a UUID, with its dashes).
 */
static bool
lg_is_interrupt_id(const char *id)
{
	int			i;

	for (i = 0; id[i] != '\0'; i++)
		if (!isxdigit((unsigned char) id[i]))
			return false;
	return i == 32;
}

/*
 * The tasks and interrupts of a checkpoint row from its pending writes:
 * one task per task id, {id, name: null, error, interrupts, result}.
 */
static Jsonb *
lg_state_tasks(Datum thread, Datum ns, Datum id, Jsonb **interrupts)
{
	Datum		k[3] = {thread, ns, id};
	SPITupleTable *tt;
	uint64		n, i = 0;
	SGJsonBuilder b = {0};
	SGJsonBuilder ib = {0};

	n = lg_run(LGP_WRITES, k, NULL, 0);
	tt = SPI_tuptable;
	sg_jb_begin_array(&b);
	sg_jb_begin_array(&ib);
	while (i < n)
	{
		char	   *task = lg_text_col(tt, i, 1);
		Jsonb	   *error = NULL;
		List	   *intr = NIL;
		SGJsonBuilder rb = {0};
		ListCell   *lc;
		uint64		j;
		bool		only_resume = true;

		for (j = i; j < n && strcmp(lg_text_col(tt, j, 1), task) == 0; j++)
			only_resume = only_resume && strcmp(lg_text_col(tt, j, 2), "__resume__") == 0;
		/*
		 * LangGraph's writes of no task (a Command's resume and update):
		 * input, not a task; so are the writes of a Command's resume by
		 * interrupt id, which LangGraph.js writes under that id (32 hex
		 * digits, where a task's is a UUID) as if it were a task's, and
		 * __resume__ writes only (a task's own come with its others)
		 */
		if (strcmp(task, LG_NULL_TASK_ID) == 0 || strcmp(task, LG_EXIT_DELTA_NULL_TASK_ID) == 0 ||
			(only_resume && lg_is_interrupt_id(task)))
		{
			while (i < n && strcmp(lg_text_col(tt, i, 1), task) == 0)
				i++;
			continue;
		}
		sg_jb_begin_object(&rb);
		for (; i < n && strcmp(lg_text_col(tt, i, 1), task) == 0; i++)
		{
			char	   *channel = lg_text_col(tt, i, 2);
			Jsonb	   *v = lg_json_col_jsonb(tt, i, 3);
			JsonbValue	whole;

			if (v == NULL)
				continue;		/* typed bytes: not shown */
			whole.type = jbvBinary;
			whole.val.binary.data = &v->root;
			whole.val.binary.len = VARSIZE(v) - VARHDRSZ;
			if (lg_is_undefined(&whole))
				continue;		/* a write of undefined: JS reads back no such key */
			v = lg_defined(v);
			if (strcmp(channel, "__error__") == 0)
				error = v;
			else if (strcmp(channel, "__interrupt__") == 0)
			{
				/* LangGraph.js writes a task's interrupts as one list */
				if (JB_ROOT_IS_ARRAY(v) && !JB_ROOT_IS_SCALAR(v))
				{
					int			e;

					for (e = 0; e < sg_jsonb_array_length(v); e++)
						intr = lappend(intr, sg_jsonb_array_get(v, e));
				}
				else
					intr = lappend(intr, v);
			}
			else if (!lg_internal_channel(channel, strlen(channel)))
			{
				sg_jb_key(&rb, channel);
				sg_jb_jsonb(&rb, v);
			}
		}
		sg_jb_end_object(&rb);
		sg_jb_begin_object(&b);
		sg_jb_key(&b, "id");
		sg_jb_string(&b, task);
		sg_jb_key(&b, "name");
		sg_jb_null(&b);
		sg_jb_key(&b, "error");
		if (error)
			sg_jb_jsonb(&b, error);
		else
			sg_jb_null(&b);
		sg_jb_key(&b, "interrupts");
		sg_jb_begin_array(&b);
		foreach(lc, intr)
		{
			sg_jb_jsonb(&b, lfirst(lc));
			sg_jb_jsonb(&ib, lfirst(lc));
		}
		sg_jb_end_array(&b);
		sg_jb_key(&b, "result");
		sg_jb_jsonb(&b, sg_jb_finish(&rb));
		sg_jb_end_object(&b);
	}
	sg_jb_end_array(&ib);
	*interrupts = sg_jb_finish(&ib);
	sg_jb_end_array(&b);
	return sg_jb_finish(&b);
}

/* Columns of the snapshot queries (LGP_CP_GET / LGP_HEAD shape plus created_at). */
#define SNAP_CREATED	6

/* An sg_snapshot row of row i of a snapshot query. */
static HeapTuple
lg_snapshot_tuple(TupleDesc desc, SPITupleTable *tt, uint64 i, Datum thread, LGValueCache *cache)
{
	Datum		values[12];
	bool		nulls[12];
	Datum		ns = CStringGetTextDatum("");
	Jsonb	   *cp = lg_checkpoint_col(tt, i);
	Jsonb	   *meta = lg_jsonb_col(tt, i, CP_METADATA);
	JsonbValue *step = lg_find(meta, "step");
	char	   *source = lg_find_string(meta, "source");
	Jsonb	   *interrupts;
	List	   *sends = NIL;

	memset(nulls, 0, sizeof(nulls));
	values[0] = thread;
	values[1] = ns;
	values[2] = lg_col(tt, i, CP_ID, &nulls[2]);
	values[3] = lg_col(tt, i, CP_PARENT, &nulls[3]);
	/* a step that is no int4 (a client's 1e10) reads as none, as a step that is no number */
	nulls[4] = true;
	if (step && step->type == jbvNumeric)
	{
		bool		overflow = false;

		values[4] = Int32GetDatum(numeric_int4_opt_error(step->val.numeric, &overflow));
		nulls[4] = overflow;
	}
	values[5] = source ? CStringGetTextDatum(source) : (Datum) 0;
	nulls[5] = source == NULL;
	values[6] = JsonbPGetDatum(lg_state_values(thread, ns, lg_jsonb_col(tt, i, CP_BLOBS), cache, &sends));
	values[7] = lg_names_array(list_concat(lg_next_nodes(cp, lg_jsonb_col(tt, i, CP_BLOBS)), sends));
	values[8] = JsonbPGetDatum(lg_state_tasks(thread, ns, values[2], &interrupts));
	values[9] = JsonbPGetDatum(interrupts);
	values[10] = JsonbPGetDatum(meta);
	values[11] = lg_col(tt, i, SNAP_CREATED, &nulls[11]);
	lg_check_still_readable(thread);	/* as lg_tuple_json */
	return heap_form_tuple(desc, values, nulls);
}

/*
 * The sg_snapshot of a thread with checkpoints in subgraph namespaces only:
 * its root state is empty, as LangGraph's getState reads a thread without a
 * checkpoint (no values, nothing next, no checkpoint).
 */
static HeapTuple
lg_empty_snapshot(TupleDesc desc, Datum thread)
{
	Datum		values[12];
	bool		nulls[12];

	memset(nulls, true, sizeof(nulls));
	values[0] = thread;
	values[1] = CStringGetTextDatum("");
	values[6] = JsonbPGetDatum(sg_jsonb_empty_object());
	values[7] = lg_names_array(NIL);
	values[8] = JsonbPGetDatum(sg_jsonb_empty_array());
	values[9] = values[8];
	nulls[0] = nulls[1] = nulls[6] = nulls[7] = nulls[8] = nulls[9] = false;
	return heap_form_tuple(desc, values, nulls);
}

/* Whether a LangGraph.js thread of this id is stored (root namespace). */
bool
sg_lg_thread_exists(const char *thread_id)
{
	static SPIPlanPtr plan;

	if (sg_schema_is_010())
		return false;			/* no LangGraph.js tables before ALTER EXTENSION UPDATE */
	return lg_run_on_thread(&plan, "SELECT 1 FROM stategraph.lg_checkpoints WHERE thread_id OPERATOR(pg_catalog.=) $1 "
							"AND checkpoint_ns OPERATOR(pg_catalog.=) '' LIMIT 1", thread_id, 1) > 0;
}

/*
 * Whether the caller sees a checkpoint of this thread id in any namespace:
 * a thread of its own, though its root namespace may hold none (its
 * subgraph's written first, or its root checkpoints removed by
 * delete_for_runs). thread_ids.c asks this before telling an id is another
 * role's.
 */
bool
sg_lg_thread_visible(const char *thread_id)
{
	static SPIPlanPtr plan;

	if (sg_schema_is_010())
		return false;
	return lg_run_on_thread(&plan, "SELECT 1 FROM stategraph.lg_checkpoints WHERE thread_id OPERATOR(pg_catalog.=) $1 LIMIT 1",
							thread_id, 1) > 0;
}

/* What SQL does and does not do with a LangGraph.js thread (the 42809 refusals below). */
#define LG_LIVES_IN_JS "Its graph lives in LangGraph.js: SQL reads, exports, prunes and deletes it, but does not run or change it."

/*
 * For stategraph's writers (sg_update_state, sg_fork, ...) given an id that
 * names no stategraph thread: a LangGraph.js thread of that id is an error
 * of its own (its graph lives in JS), not "does not exist" while sg_threads
 * lists it. SPI must be connected.
 */
void
sg_refuse_lg_thread(const char *thread_id)
{
	if (sg_lg_thread_visible(thread_id))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("thread \"%s\" is a LangGraph.js thread", thread_id),
				 errdetail(LG_LIVES_IN_JS),
				 errhint("Run or update it with LangGraph.js (invoke, updateState) on StategraphSaver.")));
}

/*
 * For sg_update_state given a checkpoint id that no stategraph thread
 * holds: a checkpoint of a LangGraph.js thread the caller sees is refused
 * as that thread is, not called missing while its history lists it. Its
 * id alone has no index (the key begins with the thread), but this is
 * asked only on the way to an error. SPI must be connected.
 */
void
sg_refuse_lg_checkpoint(const pg_uuid_t *id)
{
	static SPIPlanPtr plan;
	Oid			type = UUIDOID;
	Datum		k = lg_uuid_datum(id);
	bool		isnull;

	if (sg_schema_is_010())
		return;
	if (sg_spi_execute(sg_spi_prepare(&plan, "SELECT thread_id FROM stategraph.lg_checkpoints "
									  "WHERE checkpoint_id OPERATOR(pg_catalog.=) $1 LIMIT 1", 1, &type),
					   &k, NULL, 1) == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("checkpoint %s belongs to LangGraph.js thread \"%s\"", sg_uuid_to_cstring(id),
					TextDatumGetCString(lg_col(SPI_tuptable, 0, 1, &isnull))),
			 errdetail(LG_LIVES_IN_JS),
			 errhint("Fork it with LangGraph.js (updateState with that checkpoint's config) on StategraphSaver.")));
}

/* sg_lg_get_state's read (at the end of the file, under one snapshot). */
static HeapTuple
lg_get_state_read(TupleDesc desc, const char *thread_id, const pg_uuid_t *id)
{
	static SPIPlanPtr plan;
	Oid			types[2] = {TEXTOID, UUIDOID};
	Datum		k[2] = {CStringGetTextDatum(thread_id), id ? lg_uuid_datum(id) : (Datum) 0};
	char		nulls[2] = {' ', id ? ' ' : 'n'};

	sg_spi_prepare(&plan, "SELECT checkpoint_id, parent_checkpoint_id, checkpoint, metadata, blobs, created_at "
				   "FROM stategraph.lg_checkpoints WHERE thread_id OPERATOR(pg_catalog.=) $1 "
				   "AND checkpoint_ns OPERATOR(pg_catalog.=) '' "
				   "AND ($2::pg_catalog.uuid IS NULL OR checkpoint_id OPERATOR(pg_catalog.=) $2) "
				   "ORDER BY checkpoint_id DESC LIMIT 1", 2, types);
	if (sg_spi_execute(plan, k, nulls, 1) == 0)
	{
		static SPIPlanPtr ns_plan;
		bool		isnull;

		if (id == NULL)
			return lg_empty_snapshot(desc, k[0]);

		/*
		 * A checkpoint of one of the thread's subgraph namespaces (a config
		 * of getState with subgraphs: true, an id sg_lg_list shows) is there,
		 * but SQL reads the root namespace only: said so, not "does not
		 * exist" for a checkpoint the thread's list shows.
		 */
		if (sg_spi_execute(sg_spi_prepare(&ns_plan, "SELECT checkpoint_ns FROM stategraph.lg_checkpoints "
										  "WHERE thread_id OPERATOR(pg_catalog.=) $1 "
										  "AND checkpoint_id OPERATOR(pg_catalog.=) $2 LIMIT 1", 2, types),
						   k, NULL, 1) == 1)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("checkpoint %s of thread \"%s\" is in subgraph namespace \"%s\"",
							sg_uuid_to_cstring(id), thread_id,
							TextDatumGetCString(lg_col(SPI_tuptable, 0, 1, &isnull))),
					 errdetail("sg_get_state reads the root namespace of a LangGraph.js thread only."),
					 errhint("Read it with sg_lg_get_tuple(thread_id, checkpoint_ns, checkpoint_id), or with LangGraph.js (getState with that config).")));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("checkpoint %s of thread \"%s\" does not exist", sg_uuid_to_cstring(id), thread_id)));
	}
	return lg_snapshot_tuple(desc, SPI_tuptable, 0, k[0], NULL);
}

/* What sg_get_state_history's rows of a LangGraph.js thread are built with (lg_history_row). */
typedef struct LGHistoryRead
{
	TupleDesc	desc;
	Datum		thread;
	LGValueCache cache;
} LGHistoryRead;

/* A row of sg_get_state_history of a LangGraph.js thread. */
static HeapTuple
lg_history_row(SPITupleTable *row, void *arg)
{
	LGHistoryRead *st = arg;

	return lg_snapshot_tuple(st->desc, row, 0, st->thread, &st->cache);
}

/* sg_lg_get_state_history's read (at the end of the file, under one snapshot). */
static void
lg_get_state_history_read(ReturnSetInfo *rsinfo, const char *thread_id, int limit,
						  const pg_uuid_t *before, Jsonb *filter)
{
	static SPIPlanPtr plan;
	Oid			types[4] = {TEXTOID, UUIDOID, JSONBOID, INT8OID};
	Datum		k[4] = {CStringGetTextDatum(thread_id), before ? lg_uuid_datum(before) : (Datum) 0,
	filter ? JsonbPGetDatum(filter) : (Datum) 0, Int64GetDatum(limit)};
	char		nulls[4] = {' ', before ? ' ' : 'n', filter ? ' ' : 'n', limit < 0 ? 'n' : ' '};
	LGHistoryRead st;

	sg_spi_prepare(&plan,
				   "SELECT checkpoint_id, parent_checkpoint_id, checkpoint, metadata, blobs, created_at "
				   "FROM stategraph.lg_checkpoints WHERE thread_id OPERATOR(pg_catalog.=) $1 "
				   "AND checkpoint_ns OPERATOR(pg_catalog.=) '' "
				   "AND ($2::pg_catalog.uuid IS NULL OR checkpoint_id OPERATOR(pg_catalog.<) $2) "
				   "AND ($3::pg_catalog.jsonb IS NULL OR metadata OPERATOR(pg_catalog.@>) $3) "
				   "ORDER BY checkpoint_id DESC LIMIT $4", 4, types);
	st.desc = rsinfo->setDesc;
	st.thread = k[0];
	lg_cache_init(&st.cache);
	lg_read_oldest_first(plan, k, nulls, rsinfo, lg_history_row, &st);
}

/* sg_lg_get_tuple(thread_id, checkpoint_ns, checkpoint_id) -> json */
Datum
sg_lg_get_tuple(PG_FUNCTION_ARGS)
{
	volatile Datum res = (Datum) 0;

	LG_READ_ONE_SNAPSHOT(res = lg_get_tuple_read(fcinfo));
	return res;
}

/* sg_lg_list(thread_id, checkpoint_ns, filter, before, limit, checkpoint_id) -> SETOF json */
Datum
sg_lg_list(PG_FUNCTION_ARGS)
{
	LG_READ_ONE_SNAPSHOT((void) lg_list_read(fcinfo));
	return (Datum) 0;
}

/* sg_get_state of a LangGraph.js thread (checkpoint id NULL: its newest). */
HeapTuple
sg_lg_get_state(TupleDesc desc, const char *thread_id, const pg_uuid_t *id)
{
	HeapTuple volatile res = NULL;

	LG_READ_ONE_SNAPSHOT(res = lg_get_state_read(desc, thread_id, id));
	return res;
}

/* sg_get_state_history of a LangGraph.js thread, newest first, into rsinfo's tuplestore. */
void
sg_lg_get_state_history(ReturnSetInfo *rsinfo, const char *thread_id, int limit,
						const pg_uuid_t *before, Jsonb *filter)
{
	LG_READ_ONE_SNAPSHOT(lg_get_state_history_read(rsinfo, thread_id, limit, before, filter));
}
